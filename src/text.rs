//! Small text helpers shared by the loop and the reporters.

/// Numbers as people write them: no trailing zeros, at most 6 decimals.
pub fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    // Far from 1 the fixed notation is hundreds of digits, or only zeros.
    if v.is_infinite() || v.abs() >= 1e15 || v.abs() < 1e-6 {
        return format!("{v:e}");
    }
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Dollars with the digits that matter: `$1.25`, `$0.0042`, `$0.00` for none.
pub fn fmt_usd(v: f64) -> String {
    if v <= 0.0 || !v.is_finite() {
        return "$0.00".into();
    }
    if v >= 0.1 {
        return format!("${v:.2}");
    }
    // Three significant digits, trailing zeros dropped (but keep two decimals).
    let decimals = (-v.log10()).ceil() as usize + 2;
    let s = format!("{v:.decimals$}");
    let s = s.trim_end_matches('0');
    let s = if s.len() < 4 {
        format!("{s:0<4}")
    } else {
        s.to_string()
    };
    format!("${s}")
}

/// A text on one line (lines joined with " / "), cut to `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let joined: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = joined.join(" / ");
    let line = line.as_str();
    if line.chars().count() <= max {
        line.to_string()
    } else {
        format!(
            "{}…",
            line.chars().take(max.saturating_sub(1)).collect::<String>()
        )
    }
}

/// `word`, with an `s` unless `n` is one.
pub fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// `n` and the word for that many: `1 hypothesis`, `3 hypotheses`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A span of seconds as people read it: `42 s`, `3 min 10 s`, `2 h 05 min`.
pub fn fmt_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::{fmt_duration, fmt_num, fmt_usd, plural};

    #[test]
    fn numbers_read_well_at_every_scale() {
        assert_eq!(fmt_num(-0.18734499999999998), "-0.187345");
        assert_eq!(fmt_num(12.5), "12.5");
        assert_eq!(fmt_num(3.0), "3");
        assert_eq!(fmt_num(1.7e308), "1.7e308");
        assert_eq!(fmt_num(-2.5e-9), "-2.5e-9");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(crate::decide::format_delta(1.7e308), "+1.7e308");
    }

    #[test]
    fn dollars_keep_their_significant_digits() {
        assert_eq!(fmt_usd(0.0), "$0.00");
        assert_eq!(fmt_usd(12.345), "$12.35");
        assert_eq!(fmt_usd(0.25), "$0.25");
        assert_eq!(fmt_usd(0.0042), "$0.0042");
        assert_eq!(fmt_usd(0.000123456), "$0.000123");
        assert_eq!(fmt_usd(0.05), "$0.05");
    }

    #[test]
    fn durations_and_plurals_read_as_people_write_them() {
        assert_eq!(fmt_duration(-1.0), "0 s");
        assert_eq!(fmt_duration(42.4), "42 s");
        assert_eq!(fmt_duration(190.0), "3 min 10 s");
        assert_eq!(fmt_duration(7500.0), "2 h 05 min");
        assert_eq!(plural(1, "slot"), "slot");
        assert_eq!(plural(0, "slot"), "slots");
    }
}
