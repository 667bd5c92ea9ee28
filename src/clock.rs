//! UTC timestamps in ISO 8601, without a calendar crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// `2026-11-22T03:13:43Z`
pub fn now_iso() -> String {
    iso_from_unix(unix_now())
}

/// `2026-11-22T03:13:43.123Z`, for events that follow each other closely.
pub fn now_iso_millis() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = iso_from_unix(now.as_secs() as i64);
    format!("{}.{:03}Z", &secs[..secs.len() - 1], now.subsec_millis())
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `20261122T031343Z`, safe in ref names and paths.
pub fn compact_now() -> String {
    now_iso().replace(['-', ':'], "")
}

pub fn iso_from_unix(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The seconds since the epoch of `2026-11-22T03:13:43Z` (a fraction of a
/// second, if any, dropped); `None` when it is not such a timestamp.
pub fn unix_from_iso(text: &str) -> Option<i64> {
    let t = text.trim().trim_matches('"');
    let number = |range: std::ops::Range<usize>| t.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hh, mm, ss) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators
        .iter()
        .any(|(i, c)| t.as_bytes().get(*i) != Some(c))
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
    {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_formats() {
        for secs in [0, 1_764_800_000, 1_795_000_123, 951_782_400] {
            assert_eq!(unix_from_iso(&iso_from_unix(secs)), Some(secs));
        }
        assert_eq!(
            unix_from_iso("2026-12-04T02:33:00.123Z"),
            Some(1_796_351_580)
        );
        assert_eq!(unix_from_iso("yesterday"), None);
    }

    #[test]
    fn formats_utc() {
        assert_eq!(iso_from_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_from_unix(1_795_230_823), "2026-11-21T03:13:43Z");
    }
}
