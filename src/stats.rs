//! Where the queue stands: counts per state, due and deferred, stuck
//! inflight entries, and a destination domain × message age table (like
//! postfix's qshape). Shared by `mqctl stats` and the TUI's summary view.

use std::collections::HashMap;
use std::ops::ControlFlow;

use jiff::Timestamp;
use serde::Serialize;

use crate::error::Result;
use crate::queue::{MailId, State, Want};
use crate::select::{self, Selection};

/// Age buckets in minutes, as qshape draws them (each twice the last).
const BUCKETS: [i64; 10] = [5, 10, 20, 40, 80, 160, 320, 640, 1280, i64::MAX];

fn bucket_label(i: usize) -> String {
    match i {
        0 => "0-5m".to_string(),
        i if i + 1 == BUCKETS.len() => format!("{}m+", BUCKETS[i - 1]),
        i => format!("{}-{}m", BUCKETS[i - 1], BUCKETS[i]),
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub total: u64,
    pub states: StateCounts,
    /// Queued entries whose next attempt has come.
    pub due: u64,
    /// Queued entries waiting for a later attempt.
    pub deferred: u64,
    /// Queued entries whose schedule cannot be read (broken): with `due`
    /// and `deferred` they add up to the queued entries.
    pub unscheduled: u64,
    /// Inflight entries older than the stuck age (their writer likely died).
    pub stuck: u64,
    pub broken: u64,
    pub mails: u64,
    pub bytes: u64,
    pub oldest: Option<Oldest>,
    pub buckets: Vec<String>,
    pub domains: Vec<DomainRow>,
    /// Held entries by the reason of their hold, the most first.
    pub holds: Vec<HoldGroup>,
    /// Processes that have the queue open (a live writer), best effort.
    pub writers: Vec<WriterInfo>,
}

/// The held entries held for one reason.
#[derive(Debug, Serialize, PartialEq)]
pub struct HoldGroup {
    /// `None`: held without a reason (or before mqctl kept notes).
    pub reason: Option<String>,
    pub entries: u64,
    /// Whose end has passed: `release --expired` releases them.
    pub expired: u64,
    /// When the first of them was held.
    pub since: Option<Timestamp>,
    /// The next end to come among them (not yet passed).
    pub next_end: Option<Timestamp>,
}

/// At most this many reasons are shown; the rest are summed in one row.
const TOP_REASONS: usize = 10;

#[derive(Debug, Serialize)]
pub struct WriterInfo {
    pub pid: u32,
    pub name: String,
}

#[derive(Debug, Default, Serialize)]
pub struct StateCounts {
    pub queue: u64,
    pub inflight: u64,
    pub cleanup: u64,
    pub hold: u64,
    /// In a claim folder: a running mqctl is rewriting their schedule (or
    /// an interrupted one left them; `mqctl recover` puts them back).
    pub claimed: u64,
}

#[derive(Debug, Serialize)]
pub struct Oldest {
    pub id: String,
    pub age: i64,
    pub written: String,
}

#[derive(Debug, Serialize, Clone)]
pub struct DomainRow {
    pub domain: String,
    pub total: u64,
    /// Entries per age bucket (same order as `buckets`).
    pub ages: Vec<u64>,
}

impl Stats {
    /// The header of age column `i` when only the first `cols` are shown:
    /// the last one shown holds the rest too (`40m+`).
    pub fn bucket_label(&self, i: usize, cols: usize) -> String {
        if i + 1 == cols && cols < self.buckets.len() {
            let lo = self.buckets[i].split('-').next().unwrap_or("").trim_end_matches('m');
            format!("{lo}m+")
        } else {
            self.buckets[i].clone()
        }
    }
}

/// Entries in age column `i` of `ages` when only the first `cols` are
/// shown: the last one shown sums the rest.
pub fn merged_age(ages: &[u64], i: usize, cols: usize) -> u64 {
    if i + 1 == cols {
        ages.get(i..).map_or(0, |rest| rest.iter().sum())
    } else {
        ages.get(i).copied().unwrap_or(0)
    }
}

/// What the held entries of one reason add up to, as the scan goes.
#[derive(Default)]
struct Holds {
    entries: u64,
    expired: u64,
    since: Option<Timestamp>,
    next_end: Option<Timestamp>,
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn hold_groups(holds: HashMap<Option<String>, Holds>) -> Vec<HoldGroup> {
    let mut groups: Vec<(Option<String>, Holds)> = holds.into_iter().collect();
    groups.sort_by(|a, b| b.1.entries.cmp(&a.1.entries).then_with(|| a.0.cmp(&b.0)));
    if groups.len() > TOP_REASONS {
        let rest = groups.split_off(TOP_REASONS - 1);
        let mut other = Holds::default();
        for (_, h) in &rest {
            other.entries += h.entries;
            other.expired += h.expired;
            other.since = earliest(other.since, h.since);
            other.next_end = earliest(other.next_end, h.next_end);
        }
        groups.push((Some(format!("(other {} reasons)", rest.len())), other));
    }
    groups
        .into_iter()
        .map(|(reason, h)| HoldGroup {
            reason,
            entries: h.entries,
            expired: h.expired,
            since: h.since,
            next_end: h.next_end,
        })
        .collect()
}

/// Gathers the statistics in one parallel scan.
pub fn gather(
    queue: &crate::queue::Queue,
    now: Timestamp,
    stuck_after: jiff::SignedDuration,
    top: usize,
) -> Result<Stats> {
    let mut s = Stats {
        buckets: (0..BUCKETS.len()).map(bucket_label).collect(),
        ..Stats::default()
    };
    let mut domains: HashMap<String, Vec<u64>> = HashMap::new();
    let mut mails: HashMap<MailId, u64> = HashMap::new();
    let mut oldest: Option<(Timestamp, String)> = None;
    let mut holds: HashMap<Option<String>, Holds> = HashMap::new();
    let sel = Selection {
        now: Some(now),
        ..Selection::default()
    };
    select::for_each(queue, &sel, Want::FILES, &mut |e| {
        s.total += 1;
        match e.state {
            State::Queued => s.states.queue += 1,
            State::Inflight => s.states.inflight += 1,
            State::Cleanup => s.states.cleanup += 1,
            State::Held => s.states.hold += 1,
            State::Claimed | State::ClaimedHeld => s.states.claimed += 1,
        }
        if e.is_broken() {
            s.broken += 1;
        }
        if e.state.is_held() {
            let note = e.hold.as_deref();
            let g = holds.entry(note.and_then(|n| n.reason.clone())).or_default();
            g.entries += 1;
            if let Some(n) = note {
                g.expired += u64::from(n.expired(now));
                g.since = earliest(g.since, Some(n.since));
                g.next_end = earliest(g.next_end, n.until.filter(|&u| u > now));
            }
        }
        if e.state == State::Queued {
            match e.is_due(now) {
                Some(true) => s.due += 1,
                Some(false) => s.deferred += 1,
                // No readable schedule: neither due nor deferred.
                None => s.unscheduled += 1,
            }
        }
        if e.state == State::Inflight && e.since.is_some_and(|t| crate::queue::is_stuck(t, now, stuck_after)) {
            s.stuck += 1;
        }
        if let (Some(l), Some(c)) = (e.link, e.contents) {
            mails.insert(l.mail, c.size);
        }
        // Cleanup entries are already sent or dropped: they are not part of
        // the queue's shape.
        if e.state != State::Cleanup
            && let Some(c) = e.contents
        {
            if oldest.as_ref().is_none_or(|(t, _)| c.written < *t) {
                oldest = Some((c.written, e.id.to_string()));
            }
            let minutes = now.duration_since(c.written).as_secs() / 60;
            let b = BUCKETS.iter().position(|&m| minutes < m).unwrap_or(BUCKETS.len() - 1);
            let domain = e
                .envelope
                .as_ref()
                .map_or("(unknown)".to_string(), |en| en.to.domain().to_lowercase());
            domains.entry(domain).or_insert_with(|| vec![0; BUCKETS.len()])[b] += 1;
        }
        Ok(ControlFlow::Continue(()))
    })?;
    s.mails = mails.len() as u64;
    s.bytes = mails.values().sum();
    s.oldest = oldest.map(|(t, id)| Oldest {
        id,
        age: now.duration_since(t).as_secs(),
        written: crate::queue::parse::format_timestamp(t),
    });
    let mut rows: Vec<DomainRow> = domains
        .into_iter()
        .map(|(domain, ages)| DomainRow {
            domain,
            total: ages.iter().sum(),
            ages,
        })
        .collect();
    rows.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.domain.cmp(&b.domain)));
    if rows.len() > top {
        let rest = rows.split_off(top);
        let mut other = DomainRow {
            domain: format!("(other {} domains)", rest.len()),
            total: 0,
            ages: vec![0; BUCKETS.len()],
        };
        for r in rest {
            other.total += r.total;
            for (o, a) in other.ages.iter_mut().zip(r.ages) {
                *o += a;
            }
        }
        rows.push(other);
    }
    s.domains = rows;
    s.holds = hold_groups(holds);
    s.writers = crate::queue::live::writers(queue.path())
        .into_iter()
        .map(|w| WriterInfo {
            pid: w.pid,
            name: w.name,
        })
        .collect();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_columns_that_are_not_shown_are_summed_into_the_last_one() {
        let s = Stats {
            buckets: (0..BUCKETS.len()).map(bucket_label).collect(),
            ..Stats::default()
        };
        let ages = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(s.bucket_label(4, 5), "40m+");
        assert_eq!(s.bucket_label(3, 5), "20-40m");
        assert_eq!(s.bucket_label(9, 10), "1280m+");
        assert_eq!(merged_age(&ages, 4, 5), 5 + 6 + 7 + 8 + 9 + 10);
        assert_eq!(merged_age(&ages, 3, 5), 4);
        let shown: u64 = (0..5).map(|i| merged_age(&ages, i, 5)).sum();
        assert_eq!(shown, ages.iter().sum::<u64>());
    }
}
