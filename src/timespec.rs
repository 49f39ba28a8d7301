//! Parsing what users type for times, durations, sizes and counts. The
//! `*_arg` functions are clap value parsers: clap puts the flag's name in
//! front of the message, so the messages here do not repeat the value.

use jiff::{SignedDuration, Span, SpanRelativeTo, Timestamp};

/// `2h`, `90m`, `1h30m`, `2d`, `1w`, `2 days` (a day is 24 hours); `0` is zero.
pub fn duration(s: &str) -> Result<SignedDuration, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err("a duration cannot be negative".into());
    }
    let t = t.trim_start_matches('+');
    if !t.is_empty() && t.bytes().all(|b| b == b'0') {
        return Ok(SignedDuration::ZERO);
    }
    let span: Span = t
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (try 30m, 2h, 1h30m, 3d)"))?;
    let d = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|_| format!("{s:?}: use days, hours, minutes or seconds (not months or years)"))?;
    if d.is_negative() {
        return Err("a duration cannot be negative".into());
    }
    Ok(d)
}

/// A point in time as typed: `now`, `+DUR` from now, or an RFC 3339 time.
/// Parsed when the command line is read; resolved against the command's
/// "now" (which `MQCTL_NOW` may fix) with `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Now,
    In(SignedDuration),
    At(Timestamp),
}

impl When {
    pub fn at(self, now: Timestamp) -> Timestamp {
        match self {
            When::Now => now,
            When::In(d) => now.saturating_add(d).unwrap_or(now),
            When::At(t) => t,
        }
    }
}

/// `now`, an RFC 3339 time, or `+DUR` from now.
pub fn when(s: &str) -> Result<When, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(When::Now);
    }
    if t.starts_with('+') {
        return duration(t).map(When::In);
    }
    if t.starts_with('-') {
        return Err("a time in the past is written in RFC 3339 (like 2026-11-23T08:00:00Z), not as -DUR".into());
    }
    t.parse::<Timestamp>()
        .map(When::At)
        .map_err(|_| format!("{s:?} is not a time (use now, +2h, or RFC 3339 like 2026-11-23T08:00:00Z)"))
}

/// `now`, an RFC 3339 time, or `+DUR` from now, resolved at once.
pub fn time(s: &str, now: Timestamp) -> Result<Timestamp, String> {
    when(s).map(|w| w.at(now))
}

/// `512`, `10k`, `1.5M`, `2GiB` (k/M/G are powers of 1024, as in `du`).
pub fn size(s: &str) -> Result<u64, String> {
    if s.trim().starts_with('-') {
        return Err("a size cannot be negative".into());
    }
    parse_size::Config::new()
        .with_binary()
        .parse_size(s.trim())
        .map_err(|_| format!("{s:?} is not a size (try 512, 10k, 1.5M, 2G)"))
}

/// A count of things (`--limit`, `--top`): a whole number, 0 or more.
pub fn count(s: &str) -> Result<usize, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err("a count cannot be negative".into());
    }
    t.parse::<usize>().map_err(|_| format!("{s:?} is not a whole number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("2h").unwrap(), SignedDuration::from_hours(2));
        assert_eq!(duration("+90m").unwrap(), SignedDuration::from_mins(90));
        assert_eq!(duration("1d").unwrap(), SignedDuration::from_hours(24));
        assert_eq!(duration("0").unwrap(), SignedDuration::ZERO);
        assert_eq!(duration("0s").unwrap(), SignedDuration::ZERO);
        assert_eq!(duration("-1h").unwrap_err(), "a duration cannot be negative");
        assert!(duration("soon").is_err());
        assert!(duration("1y").is_err());
    }

    #[test]
    fn times() {
        let now: Timestamp = "2026-11-23T00:00:00Z".parse().unwrap();
        assert_eq!(time("now", now).unwrap(), now);
        assert_eq!(time("+2h", now).unwrap(), "2026-11-23T02:00:00Z".parse().unwrap());
        assert_eq!(
            time("2026-11-23T03:00:00+01:00", now).unwrap(),
            "2026-11-23T02:00:00Z".parse().unwrap()
        );
        assert!(time("tomorrow", now).is_err());
        assert!(time("-1h", now).is_err());
    }

    #[test]
    fn sizes_and_counts() {
        assert_eq!(size("512").unwrap(), 512);
        assert_eq!(size("10k").unwrap(), 10 * 1024);
        assert_eq!(size("1.5M").unwrap(), 1536 * 1024);
        assert!(size("big").is_err());
        assert_eq!(count("0").unwrap(), 0);
        assert_eq!(count("-1").unwrap_err(), "a count cannot be negative");
    }
}
