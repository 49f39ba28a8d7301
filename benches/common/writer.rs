//! A model of the real writer's start-up scan (`list_queue` in Kannader's
//! `smtp-queue-fs`), for comparing with mqctl on the same queue. It is not
//! the writer: it reproduces the writer's reading pattern as PROTOCOL.md
//! describes it (docs/ in the product), on one thread:
//!
//! - each state folder is walked recursively (`walkdir`, links not
//!   followed) and only symlinks count as entries;
//! - for each entry of `queue/` and `inflight/`, `schedule` is opened
//!   THROUGH the entry's link (`std::fs::File::open` of `<link>/schedule`,
//!   which lets the kernel resolve the link) and parsed with an unbuffered
//!   `serde_json::from_reader` on the `File`: serde_json then reads the
//!   file one byte per `read` call (about 60 calls for the writer's
//!   `schedule`), and the two times are parsed as RFC 3339;
//! - `cleanup/` entries are listed and counted only (the writer would
//!   finish their cleanup, which a read-only model cannot do: 0.05% of the
//!   bench queue).

use std::fs::File;
use std::path::Path;

use jiff::Timestamp;
use serde::Deserialize;

use super::harness::BenchResult;

/// What the writer keeps of each queued entry: its id and its schedule.
pub struct Seen {
    pub id: String,
    pub at: Timestamp,
}

#[derive(Deserialize)]
struct Schedule {
    at: String,
    last_attempt: Option<String>,
}

/// Walks `queue/`, `inflight/` and `cleanup/` of `root` as the writer's
/// start-up does. Calls `seen` for each entry whose schedule was read;
/// returns the number of entries (symlinks) found in all three folders.
pub fn list_queue(root: &Path, mut seen: impl FnMut(Seen)) -> BenchResult<usize> {
    let mut n = 0;
    for (state, read_schedule) in [("queue", true), ("inflight", true), ("cleanup", false)] {
        let dir = root.join(state);
        if !dir.exists() {
            continue;
        }
        for ent in walkdir::WalkDir::new(&dir).min_depth(1) {
            let ent = ent.map_err(|e| format!("{}: {e}", dir.display()))?;
            if !ent.file_type().is_symlink() {
                continue;
            }
            n += 1;
            if !read_schedule {
                continue;
            }
            let path = ent.path().join("schedule");
            let file = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let s: Schedule = serde_json::from_reader(file).map_err(|e| format!("{}: {e}", path.display()))?;
            let time = |t: &str| {
                t.parse::<Timestamp>()
                    .map_err(|e| format!("{}: {t:?}: {e}", path.display()))
            };
            let at = time(&s.at)?;
            if let Some(t) = &s.last_attempt {
                time(t)?;
            }
            seen(Seen {
                id: ent.file_name().to_string_lossy().into_owned(),
                at,
            });
        }
    }
    Ok(n)
}
