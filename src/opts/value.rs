//! Reading option values: durations with units, Connector/J milliseconds, booleans, lists.
//!
//! Our own duration options take a unit (`250ms`, `5s`, `2m`); a bare number is refused,
//! except `0`, because mysql_async reads bare numbers as seconds and Connector/J as
//! milliseconds, and a guess either way is a bug waiting. Connector/J's names keep
//! Connector/J's unit: a bare number of milliseconds.

use std::time::Duration;

/// A duration with a unit: `ms`, `s`, `m`, `h`; decimals allowed (`1.5s`). `0` alone is zero.
pub(crate) fn duration(value: &str) -> Result<Duration, String> {
    let v = value.trim();
    if v == "0" {
        return Ok(Duration::ZERO);
    }
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| "add a unit, for example 250ms, 5s or 2m".to_owned())?;
    let (number, unit) = v.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| "expected a number with a unit, for example 250ms, 5s or 2m".to_owned())?;
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("unknown unit `{unit}`: use ms, s, m or h")),
    };
    let secs = number * scale;
    if !secs.is_finite() || secs > MAX_SECS as f64 {
        return Err(TOO_LONG.to_owned());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The longest duration an option takes: `Instant + timeout` must not overflow.
const MAX_SECS: u64 = 365 * 24 * 3600;
const TOO_LONG: &str = "too long: at most a year";

/// A Connector/J duration: a whole number of milliseconds. A unit is accepted too.
pub(crate) fn millis(value: &str) -> Result<Duration, String> {
    let v = value.trim();
    match v.parse::<u64>() {
        Ok(ms) if ms > MAX_SECS * 1000 => Err(TOO_LONG.to_owned()),
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(_) if v.ends_with(|c: char| c.is_ascii_alphabetic()) => duration(v),
        Err(_) => Err("expected a whole number of milliseconds".to_owned()),
    }
}

/// A boolean as Connector/J and mysql_async write them.
pub(crate) fn boolean(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

/// A whole number from `min` to `max`. The message names the range.
pub(crate) fn count(value: &str, min: u64, max: u64) -> Result<u64, String> {
    let v = value.trim();
    let n = match v.parse::<u64>() {
        Ok(n) => n,
        // Digits only, but more than u64 holds: too big, whatever the range.
        Err(_) if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()) => u64::MAX,
        Err(_) => return Err(format!("expected a whole number from {min} to {max}")),
    };
    in_range(n, min, max)
}

/// `n` if it is from `min` to `max`; the message names the range (shared by the URL parser
/// and the builder, so both say the same).
pub(crate) fn in_range(n: u64, min: u64, max: u64) -> Result<u64, String> {
    if n < min {
        Err(format!(
            "must be at least {min} (a whole number from {min} to {max})"
        ))
    } else if n > max {
        Err(format!(
            "must be at most {max} (a whole number from {min} to {max})"
        ))
    } else {
        Ok(n)
    }
}

/// Refuses a duration longer than any option takes (the builder's check; parsed durations
/// are capped while they are read).
pub(crate) fn capped(d: Duration) -> Result<Duration, String> {
    if d > Duration::from_secs(MAX_SECS) {
        return Err(TOO_LONG.to_owned());
    }
    Ok(d)
}

/// A comma-separated list; empty items are dropped.
pub(crate) fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_units() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        assert!(duration("250").unwrap_err().contains("unit"));
        assert!(duration("5x").unwrap_err().contains("unknown unit"));
        assert!(duration("").is_err());
        assert!(duration("1e400s").is_err());
    }

    #[test]
    fn connector_j_durations_are_milliseconds() {
        assert_eq!(millis("1500"), Ok(Duration::from_millis(1500)));
        assert_eq!(millis("2s"), Ok(Duration::from_secs(2)));
        assert!(millis("-1").is_err());
        assert!(
            millis("18446744073709551615")
                .unwrap_err()
                .contains("too long")
        );
    }
}
