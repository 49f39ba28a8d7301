//! Paced retry: instead of giving every selected entry the same next
//! attempt (a recovering server then gets all of them at once and throttles
//! most), give them attempts spread evenly over a window, in the order of
//! their current next attempt (the longest waiting first), and, when asked,
//! never more than N attempts a minute to one destination domain.

use jiff::{SignedDuration, Timestamp};

/// One entry to place: its current next attempt (`None` when unknown: it
/// goes last) and its destination domain (lowercase).
#[derive(Debug, Clone)]
pub struct Waiting {
    pub at: Option<Timestamp>,
    pub domain: String,
}

impl Waiting {
    /// What an entry read with its files waits for.
    pub fn of(e: &crate::queue::Entry) -> Waiting {
        Waiting {
            at: e.schedule.map(|s| s.at),
            domain: e
                .envelope
                .as_ref()
                .map(|en| en.to.domain().to_lowercase())
                .unwrap_or_default(),
        }
    }
}

/// How to spread.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    /// The first attempt.
    pub start: Timestamp,
    /// The attempts are spread over `[start, start + window)`.
    pub window: SignedDuration,
    /// At most this many attempts a minute to one domain.
    pub per_domain_per_minute: Option<u32>,
}

/// The new next attempt of each entry, in the order given. With a
/// per-domain cap, a domain with more entries than the cap allows in the
/// window gets attempts beyond its end: the cap wins (`end` says until when).
pub fn spread(items: &[Waiting], how: Spread) -> Placed {
    let n = items.len();
    let mut order: Vec<usize> = (0..n).collect();
    // Oldest next attempt first; unknown ones last; ties in the order given.
    order.sort_by_key(|&i| (items[i].at.is_none(), items[i].at));
    let window = how.window.as_nanos().max(0);
    let gap = how
        .per_domain_per_minute
        .filter(|&r| r > 0)
        .map(|r| SignedDuration::from_nanos((60_000_000_000 / i64::from(r)).max(1)));
    let mut next_free: std::collections::HashMap<&str, Timestamp> = std::collections::HashMap::new();
    let mut at = vec![how.start; n];
    let mut end = how.start;
    for (k, &i) in order.iter().enumerate() {
        // Evenly: the k-th of n at start + k·window/n.
        let offset = if n == 0 {
            0
        } else {
            (window * k as i128 / n as i128) as i64
        };
        let mut t = how.start + SignedDuration::from_nanos(offset);
        if let Some(gap) = gap {
            let d = items[i].domain.as_str();
            if let Some(&free) = next_free.get(d) {
                t = t.max(free);
            }
            next_free.insert(d, t + gap);
        }
        at[i] = t;
        end = end.max(t);
    }
    Placed { at, end }
}

/// Where `spread` put each entry.
#[derive(Debug, Clone)]
pub struct Placed {
    /// One next attempt per entry, in the order they were given.
    pub at: Vec<Timestamp>,
    /// The last attempt placed.
    pub end: Timestamp,
}

/// `N/min` (or `N/m`, `N/minute`, `N per minute`, `N/h` for per hour): the
/// value of `--per-domain-rate`, as attempts a minute (at least 1 an hour).
pub fn rate(s: &str) -> Result<u32, String> {
    let t = s.trim().to_ascii_lowercase();
    let (n, unit) = t
        .split_once('/')
        .or_else(|| t.split_once(" per "))
        .ok_or_else(|| format!("{s:?} is not a rate (try 10/min or 300/h)"))?;
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: the count is not a whole number"))?;
    if n == 0 {
        return Err("a rate of 0 would never send anything".into());
    }
    match unit.trim() {
        "min" | "m" | "minute" => Ok(n),
        "h" | "hour" => Ok(n.div_ceil(60)),
        u => Err(format!("{s:?}: per {u:?}? use /min or /h")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Timestamp {
        "2026-11-23T12:00:00Z".parse().unwrap()
    }

    fn w(at_min: i64, d: &str) -> Waiting {
        Waiting {
            at: Some(t0() - SignedDuration::from_mins(at_min)),
            domain: d.into(),
        }
    }

    #[test]
    fn even_over_the_window_oldest_first() {
        let items: Vec<Waiting> = (0..60).map(|i| w(i, "a")).collect();
        let p = spread(
            &items,
            Spread {
                start: t0(),
                window: SignedDuration::from_mins(30),
                per_domain_per_minute: None,
            },
        );
        // items[59] waited longest: it goes first.
        assert_eq!(p.at[59], t0());
        assert!(
            p.at.windows(2).all(|x| x[0] > x[1]),
            "older first, strictly later after"
        );
        assert!(
            p.at.iter()
                .all(|&t| t >= t0() && t < t0() + SignedDuration::from_mins(30))
        );
        let mut per_min = [0; 30];
        for t in &p.at {
            per_min[(t.duration_since(t0()).as_secs() / 60) as usize] += 1;
        }
        assert!(per_min.iter().all(|&n| n == 2), "{per_min:?}");
    }

    #[test]
    fn a_per_domain_cap_holds_even_past_the_window() {
        let items: Vec<Waiting> = (0..40).map(|i| w(i, if i % 4 == 0 { "b" } else { "a" })).collect();
        let p = spread(
            &items,
            Spread {
                start: t0(),
                window: SignedDuration::from_mins(10),
                per_domain_per_minute: Some(2),
            },
        );
        for d in ["a", "b"] {
            let mut ts: Vec<Timestamp> = (0..40).filter(|i| items[*i].domain == d).map(|i| p.at[i]).collect();
            ts.sort();
            for pair in ts.windows(2) {
                assert!(pair[1].duration_since(pair[0]) >= SignedDuration::from_secs(30), "{d}");
            }
        }
        // 30 to a at 2/min need 15 minutes: past the 10-minute window.
        assert!(p.end >= t0() + SignedDuration::from_mins(14));
    }

    #[test]
    fn rates_read_as_people_write_them() {
        assert_eq!(rate("10/min").unwrap(), 10);
        assert_eq!(rate("5 per minute").unwrap(), 5);
        assert_eq!(rate("120/h").unwrap(), 2);
        assert!(rate("0/min").is_err());
        assert!(rate("ten/min").is_err());
        assert!(rate("10").is_err());
    }
}
