//! YAML 1.1 readers (PyYAML among them) turn a plain `2026-11-23T12:46:22Z`
//! into a datetime; the schema says these fields are strings. The emitter
//! writes them plain (they are strings in YAML 1.2), so the log's timestamp
//! fields are quoted after serialization.

/// Single-quotes the plain timestamp values of `*_at` and `timestamp` keys,
/// leaving block scalars (multi-line text) untouched.
pub fn quote(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len() + 64);
    // Inside a block scalar: the indentation of the line that opened it.
    let mut block: Option<usize> = None;
    for line in yaml.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let indent = body.len() - body.trim_start_matches(' ').len();
        if let Some(opened) = block {
            if body.trim().is_empty() || indent > opened {
                out.push_str(line);
                continue;
            }
            block = None;
        }
        match key_value(body) {
            Some((_, value)) if value.starts_with('|') || value.starts_with('>') => {
                block = Some(indent);
                out.push_str(line);
            }
            Some((key_end, value)) if is_timestamp_key(&body[..key_end]) && is_timestamp(value) => {
                out.push_str(&body[..body.len() - value.len()]);
                out.push('\'');
                out.push_str(value);
                out.push('\'');
                out.push_str(&line[body.len()..]);
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// `(end of the key, value)` of a `key: value` or `- key: value` line.
fn key_value(line: &str) -> Option<(usize, &str)> {
    let mut start = line.len() - line.trim_start_matches(' ').len();
    if line[start..].starts_with("- ") {
        start += 2;
    }
    let rest = &line[start..];
    let colon = rest.find(": ")?;
    let key = &rest[..colon];
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((start + colon, rest[colon + 2..].trim_end()))
}

fn is_timestamp_key(key_part: &str) -> bool {
    let key = key_part.trim_start_matches([' ', '-']).trim_start();
    key.ends_with("_at") || key == "timestamp" || key == "since"
}

/// The YAML 1.1 timestamp forms: a date, optionally with a time.
fn is_timestamp(value: &str) -> bool {
    let b = value.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && value[10..].chars().all(|c| {
            c.is_ascii_digit() || matches!(c, 'T' | 't' | ' ' | ':' | '.' | 'Z' | '+' | '-')
        })
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn timestamps_are_quoted_and_nothing_else_changes() {
        let yaml = "spec: x\nstarted_at: 2026-11-23T12:46:22Z\nsessions:\n- started_at: 2026-11-23T12:46:22Z\n  kind: start\n  ended_at: 2026-11-23T13:00:00.5Z\nbaseline:\n  timestamp: 2026-11-23T12:46:22Z\n";
        assert_eq!(
            quote(yaml),
            "spec: x\nstarted_at: '2026-11-23T12:46:22Z'\nsessions:\n- started_at: '2026-11-23T12:46:22Z'\n  kind: start\n  ended_at: '2026-11-23T13:00:00.5Z'\nbaseline:\n  timestamp: '2026-11-23T12:46:22Z'\n"
        );
    }

    #[test]
    fn block_scalars_and_other_keys_are_left_alone() {
        let yaml = "learnings: |-\n  started_at: 2026-11-23T12:46:22Z\n  more\nrun_id: 20261123T124622Z\nhypothesis: 2026-11-23 is a date\nended_at: '2026-11-23T12:46:22Z'\n";
        assert_eq!(quote(yaml), yaml);
    }
}
