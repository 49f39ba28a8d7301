//! Sizes, durations and times for people: `1.2K`, `3h5m`, `in 3h`.

use jiff::Timestamp;

/// `1.2K`, `34M`: sizes for people (powers of 1024).
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut v = n as f64;
    let mut unit = "";
    for u in UNITS {
        v /= 1024.0;
        unit = u;
        if v < 1024.0 {
            break;
        }
    }
    if v < 10.0 {
        format!("{v:.1}{unit}")
    } else {
        format!("{v:.0}{unit}")
    }
}

/// A duration for people: `45s`, `12m`, `3h`, `3h5m`, `2d`, `2d4h`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.unsigned_abs();
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    match () {
        _ if s < 60 => format!("{s}s"),
        _ if s < 3600 => format!("{m}m"),
        _ if d == 0 && m == 0 => format!("{h}h"),
        _ if d == 0 => format!("{h}h{m}m"),
        _ if h == 0 => format!("{d}d"),
        _ => format!("{d}d{h}h"),
    }
}

/// `in 3h`, `2d ago`, `now`.
pub fn relative(t: Timestamp, now: Timestamp) -> String {
    let secs = t.as_second() - now.as_second();
    if secs.abs() < 1 {
        "now".to_string()
    } else if secs > 0 {
        format!("in {}", human_duration(secs))
    } else {
        format!("{} ago", human_duration(secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_read_well() {
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(3 * 3600), "3h");
        assert_eq!(human_duration(3 * 3600 + 300), "3h5m");
        assert_eq!(human_duration(2 * 86400), "2d");
        assert_eq!(human_duration(-(2 * 86400 + 4 * 3600)), "2d4h");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1536), "1.5K");
        assert_eq!(human_size(34 * 1024 * 1024), "34M");
    }
}
