//! Parsing what users type for times, durations and sizes.

use jiff::{SignedDuration, Span, SpanRelativeTo, Timestamp};

/// `2h`, `90m`, `1h30m`, `2d`, `1w`, `2 days` (a day is 24 hours).
pub fn duration(s: &str) -> Result<SignedDuration, String> {
    let t = s.trim().trim_start_matches('+');
    let span: Span = t
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (try 30m, 2h, 1h30m, 3d)"))?;
    let d = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|_| format!("{s:?}: use days, hours, minutes or seconds (not months or years)"))?;
    if d.is_negative() {
        return Err(format!("{s:?}: a duration cannot be negative"));
    }
    Ok(d)
}

/// `now`, an RFC 3339 time, or `+DUR` from now.
pub fn time(s: &str, now: Timestamp) -> Result<Timestamp, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if t.starts_with('+') {
        let d = duration(t)?;
        return now.checked_add(d).map_err(|e| format!("{s:?}: {e}"));
    }
    t.parse::<Timestamp>()
        .map_err(|_| format!("{s:?} is not a time (use now, +2h, or RFC 3339 like 2026-11-23T08:00:00Z)"))
}

/// `512`, `10k`, `1.5M`, `2GiB` (k/M/G are powers of 1024, as in `du`).
pub fn size(s: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(s.trim())
        .map_err(|_| format!("{s:?} is not a size (try 512, 10k, 1.5M, 2G)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("2h").unwrap(), SignedDuration::from_hours(2));
        assert_eq!(duration("+90m").unwrap(), SignedDuration::from_mins(90));
        assert_eq!(duration("1d").unwrap(), SignedDuration::from_hours(24));
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
    }

    #[test]
    fn sizes() {
        assert_eq!(size("512").unwrap(), 512);
        assert_eq!(size("10k").unwrap(), 10 * 1024);
        assert_eq!(size("1.5M").unwrap(), 1536 * 1024);
        assert!(size("big").is_err());
    }
}
