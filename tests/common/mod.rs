//! Test support for every integration test (`mod common; use common::*;`).
//!
//! - [`TestQueue`] (queue.rs): a real queue in a temporary folder. Empty
//!   ([`TestQueue::new`]), the real writer's fixture ([`TestQueue::fixture`]),
//!   a bulk copy of thousands of entries ([`TestQueue::bulk`]), or nothing yet
//!   ([`TestQueue::unbuilt`]); hostile inputs are planted with its `plant_*`
//!   methods, and [`TestQueue::hostile`] adds a sentinel tree beside it that
//!   every run checks.
//! - Entries (entry.rs): [`TestQueue::entry`] writes one entry file by file
//!   the writer's way, every byte under the test's control;
//!   [`TestQueue::mail`] / [`TestQueue::enqueue`] / [`TestQueue::simple`]
//!   enqueue a mail through the library.
//! - Runs (run.rs): [`TestQueue::run`] / [`TestQueue::mqctl`] / [`mqctl`] run
//!   the real binary and give a [`Run`]: exit code, stdout, stderr, summary;
//!   [`measure`] gives the peak memory of one run.
//! - Trees (tree.rs): [`snapshot`] records every path under a folder (kind,
//!   mode, owner, size, bytes or link text, modification time) to assert
//!   that nothing changed, or exactly what did ([`assert_tree`]).
//! - Hostile queues (hostile.rs): the sentinel, `check` / `--repair`
//!   helpers, mail inventories, a tmpfs, full disks.
//!
//! Each test crate uses only part of this, hence `dead_code` is allowed
//! (and unused re-exports).

#![allow(dead_code)]

mod entry;
mod hostile;
mod queue;
mod run;
mod tree;

#[allow(unused_imports)]
pub use {entry::*, hostile::*, queue::*, run::*, tree::*};

use jiff::{SignedDuration, Timestamp};

/// The clock most tests run `mqctl` with (`MQCTL_NOW`): five minutes after
/// the fixture queue was written.
pub const NOW: &str = "2026-11-22T20:40:00Z";

/// [`NOW`] as a time.
pub fn now() -> Timestamp {
    NOW.parse().unwrap()
}

/// A time given as RFC 3339 text.
pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap_or_else(|e| panic!("{s:?} is not a time: {e}"))
}

/// [`NOW`] moved by `minutes`, in the writer's format (whole seconds).
pub fn at_mins(minutes: i64) -> String {
    format_ts(now() + SignedDuration::from_mins(minutes))
}

/// A time the way the writer (chrono's serde) writes it: UTC, `Z`, a
/// fraction of 3, 6 or 9 digits only when it is not zero.
fn format_ts(t: Timestamp) -> String {
    let base = t.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let ns = t.subsec_nanosecond();
    if ns == 0 {
        format!("{base}Z")
    } else if ns % 1_000_000 == 0 {
        format!("{base}.{:03}Z", ns / 1_000_000)
    } else if ns % 1_000 == 0 {
        format!("{base}.{:06}Z", ns / 1_000)
    } else {
        format!("{base}.{ns:09}Z")
    }
}

/// The age buckets `mqctl stats` prints, youngest first (qshape's doubling).
pub const BUCKETS: [&str; 10] = [
    "0-5m",
    "5-10m",
    "10-20m",
    "20-40m",
    "40-80m",
    "80-160m",
    "160-320m",
    "320-640m",
    "640-1280m",
    "1280m+",
];

/// A fresh lowercase hyphenated UUID v4, as the writer names things.
pub fn uuid() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}
