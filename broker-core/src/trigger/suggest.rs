//! Near-miss helpers for validation messages (suggestions by edit
//! distance, operator aliases, id fixes) and the duration syntax.

/// The longest window or cooldown accepted: a year.
const MAX_DURATION_MS: u64 = 365 * DAY;
const DAY: u64 = 86_400_000;

/// `[a-z0-9-]{1,64}`.
pub(crate) fn valid_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The id a near-miss probably meant: lower case, runs of other characters as `-`.
pub(crate) fn fix_id(s: &str) -> String {
    let mut out = String::new();
    for c in s.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

pub(crate) fn op_alias(s: &str) -> Option<&'static str> {
    Some(match s.trim() {
        "=" | "==" | "===" | "equals" | "is" => "eq",
        "!=" | "!==" | "<>" | "not" => "ne",
        ">" => "gt",
        ">=" | "=>" => "gte",
        "<" => "lt",
        "<=" | "=<" => "lte",
        _ => return None,
    })
}

/// The candidate a near-miss probably meant: equal once case, spaces, `-` and
/// `_` are ignored, or within a small edit distance.
pub(crate) fn suggest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .flat_map(char::to_lowercase)
            .collect()
    };
    let w = norm(word);
    if let Some(c) = candidates.iter().find(|c| norm(c) == w) {
        return Some(c);
    }
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (levenshtein(&w, &norm(c)), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// A duration as trigger files write it (`"90s"`, `"10m"`, `"24h"`, `"7d"`;
/// more than zero, at most 365 days) in ms; the error is the whole message.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let unit_ms = |u: &str| -> Option<u64> {
        Some(match u {
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => DAY,
            _ => return None,
        })
    };
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = s.split_at(digits);
    if digits > 0 && digits <= 12 {
        if let (Ok(n), Some(u)) = (num.parse::<u64>(), unit_ms(unit)) {
            let ms = n.saturating_mul(u);
            if ms == 0 {
                return Err(format!("bad duration {s:?}: must be more than zero"));
            }
            if ms > MAX_DURATION_MS {
                return Err(format!("bad duration {s:?}: at most 365d"));
            }
            return Ok(ms);
        }
    }
    let generic = format!(
        "bad duration {s:?}: expected a whole number and a unit s, m, h or d, like \"90s\", \"10m\", \"24h\", \"7d\""
    );
    // Near-misses: "10 min", "30mins", "1.5h", "2 Hours".
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (n, u) = t.split_at(split);
    let u = u.trim().to_ascii_lowercase();
    let per = match u.as_str() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000.0,
        "d" | "day" | "days" => DAY as f64,
        "" if !n.is_empty() => {
            return Err(format!(
                "bad duration {s:?}: a unit is missing (s, m, h or d, like \"{n}m\")"
            ))
        }
        _ => return Err(generic),
    };
    let ms = match n.parse::<f64>() {
        Ok(x) if x > 0.0 && x * per <= MAX_DURATION_MS as f64 => x * per,
        _ => return Err(generic),
    };
    if ms.fract() != 0.0 || ms % 1000.0 != 0.0 {
        return Err(generic);
    }
    Err(format!(
        "{generic} (did you mean {:?}?)",
        format_duration(ms as u64)
    ))
}

/// The shortest spelling of a whole number of seconds: `90m` -> `"90m"`, 86400000 -> `"1d"`.
pub(crate) fn format_duration(ms: u64) -> String {
    for (unit, per) in [("d", DAY), ("h", 3_600_000), ("m", 60_000)] {
        if ms % per == 0 {
            return format!("{}{unit}", ms / per);
        }
    }
    format!("{}s", ms / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_to_ms() {
        assert_eq!(parse_duration("90s"), Ok(90_000));
        assert_eq!(parse_duration("10m"), Ok(600_000));
        assert_eq!(parse_duration("24h"), Ok(86_400_000));
        assert_eq!(parse_duration("7d"), Ok(7 * DAY));
        assert_eq!(parse_duration("365d"), Ok(MAX_DURATION_MS));
        for bad in [
            "",
            "m",
            "10",
            "10M",
            " 10m",
            "10m ",
            "-1m",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn shortest_spelling() {
        assert_eq!(format_duration(90 * 60_000), "90m");
        assert_eq!(format_duration(DAY), "1d");
        assert_eq!(format_duration(90_000), "90s");
    }

    #[test]
    fn suggestions() {
        let keys = ["cooldown", "max_per_user", "within"];
        assert_eq!(suggest("cooldwn", &keys), Some("cooldown"));
        assert_eq!(suggest("maxPerUser", &keys), Some("max_per_user"));
        assert_eq!(suggest("Within", &keys), Some("within"));
        assert_eq!(suggest("colour", &keys), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(fix_id("Cart Rescue!"), "cart-rescue");
        assert_eq!(op_alias(">="), Some("gte"));
        assert!(valid_id("a-1") && !valid_id("A") && !valid_id("") && !valid_id(&"a".repeat(65)));
    }
}
