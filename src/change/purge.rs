//! `purge`: finish pending cleanups, put back what a crashed mqctl left
//! claimed, and remove old writer temp files and orphan mails. One run of
//! the engine over all of them, so it asks once and records everything.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::{SignedDuration, Timestamp};
use rayon::prelude::*;

use super::entries::collect;
use super::{Change, Control, Ctx, Notice, Outcome, Report, Step, Subject, Verb, Work};
use crate::error::Result;
use crate::queue::ops::{EntryOp, Item};
use crate::queue::purge::Leftover;
use crate::queue::{Queue, State};
use crate::select::Selection;

/// One thing `purge` acts on.
#[derive(Debug, Clone)]
pub enum PurgeItem {
    /// An entry in cleanup/ (its cleanup is finished) or in a claim folder
    /// (it is put back).
    Entry(Item),
    Leftover(Leftover),
}

/// What `purge` is asked to do.
#[derive(Debug, Clone)]
pub struct PurgeRequest {
    /// The pending cleanups and claimed entries to act on; `None` for all
    /// of them and every old enough leftover too.
    pub selection: Option<Box<Selection>>,
    /// Temp files and orphans younger than this are left alone.
    pub min_age: SignedDuration,
    pub stuck_after: SignedDuration,
    pub now: Timestamp,
}

/// The folders `purge` finds entries in.
pub const STATES: [State; 3] = [State::Cleanup, State::Claimed, State::ClaimedHeld];

pub struct PurgeWork {
    pub stuck_after: SignedDuration,
    pub now: Timestamp,
}

impl Work for PurgeWork {
    type Item = PurgeItem;

    fn subject(&self, item: &PurgeItem) -> Subject {
        match item {
            PurgeItem::Entry(i) => Subject::Entry(i.id.clone()),
            PurgeItem::Leftover(l) => Subject::Path(l.path()),
        }
    }

    fn operation(&self, item: &PurgeItem) -> &'static str {
        match item {
            PurgeItem::Entry(i) if i.state == State::Cleanup => "cleanup",
            PurgeItem::Entry(_) => "recover",
            PurgeItem::Leftover(l) => l.operation(),
        }
    }

    fn apply(&self, queue: &Queue, batch: &[PurgeItem], ctx: Ctx, stop: &AtomicBool) -> Vec<Option<(Change, Step)>> {
        let policy = ctx.policy(self.stuck_after, self.now);
        let mut out: Vec<Option<(Change, Step)>> = vec![None; batch.len()];
        // Entries, by the operation each needs.
        for (op, wanted) in [(EntryOp::Cleanup, true), (EntryOp::Recover, false)] {
            let (idx, items): (Vec<usize>, Vec<Item>) = batch
                .iter()
                .enumerate()
                .filter_map(|(k, i)| match i {
                    PurgeItem::Entry(e) if (e.state == State::Cleanup) == wanted => Some((k, e.clone())),
                    _ => None,
                })
                .unzip();
            if items.is_empty() {
                continue;
            }
            for (k, r) in idx.into_iter().zip(queue.apply_batch(op, &items, &policy, stop)) {
                out[k] = r;
            }
        }
        let removed: Vec<(usize, Option<(Change, Step)>)> = batch
            .par_iter()
            .enumerate()
            .filter_map(|(k, i)| match i {
                PurgeItem::Leftover(l) => Some((k, l)),
                PurgeItem::Entry(_) => None,
            })
            .map(|(k, l)| {
                if stop.load(Ordering::SeqCst) {
                    return (k, None);
                }
                let outcome = match l {
                    Leftover::Odd { why, .. } => Outcome::Skipped(why.clone()),
                    _ if ctx.dry_run => Outcome::Done,
                    _ => queue.remove_leftover(l),
                };
                let change = Change {
                    outcome: outcome.clone(),
                    ..Change::path(l.path())
                };
                (k, Some((change, Step::Final(outcome))))
            })
            .collect();
        let any_removed = removed
            .iter()
            .any(|(_, r)| matches!(r, Some((c, _)) if c.outcome == Outcome::Done));
        let synced = if any_removed && !ctx.dry_run {
            nix::unistd::syncfs(queue.data()).map_err(|e| format!("removed, but not synced: {}", e.desc()))
        } else {
            Ok(())
        };
        for (k, mut r) in removed {
            if let (Err(e), Some((c, step))) = (&synced, &mut r)
                && c.outcome == Outcome::Done
            {
                c.outcome = Outcome::Failed(e.clone());
                *step = Step::Final(c.outcome.clone());
            }
            out[k] = r;
        }
        out
    }
}

/// Finds what to purge, then purges it.
pub fn apply(queue: &Queue, req: PurgeRequest, ctl: &mut Control) -> Result<Report> {
    let mut report = Report::new(Verb::Purge, ctl.dry_run);
    let all = req.selection.is_none();
    let sel = req.selection.map_or_else(
        || Selection {
            now: Some(req.now),
            ..Selection::default()
        },
        |s| *s,
    );
    let mut sel = sel;
    if sel.states.is_empty() && sel.ids.is_empty() {
        sel.states = STATES.to_vec();
    }
    let entries = collect(queue, &sel, ctl.stop, ctl.observer, &mut report)?;
    let queue: &Queue = queue;
    // Putting claimed entries back needs every claimer gone.
    let lock = if entries.iter().any(|i| i.state.unclaimed().is_some()) {
        queue.claim_lock(true)?
    } else {
        None
    };
    let mut items: Vec<PurgeItem> = Vec::new();
    let mut busy = 0;
    for e in entries {
        if e.state.unclaimed().is_some() && lock.is_none() {
            busy += 1;
        } else {
            items.push(PurgeItem::Entry(e));
        }
    }
    if busy > 0 {
        ctl.observer.notice(&Notice::ClaimsBusy(busy));
    }
    if all && !ctl.stop.load(Ordering::SeqCst) {
        // Temp files in the folders of pending cleanups go with them.
        let pending: HashSet<(String, String)> = items
            .iter()
            .filter_map(|i| match i {
                PurgeItem::Entry(e) if e.state == State::Cleanup => queue.entry_link(e.state, &e.id).ok(),
                _ => None,
            })
            .map(|l| (l.mail.to_string(), l.dest.to_string()))
            .collect();
        for t in queue.find_temp_files(req.min_age, req.now)? {
            if let Leftover::Temp { mail, dest, .. } = &t {
                let key = (
                    String::from_utf8_lossy(mail).into_owned(),
                    String::from_utf8_lossy(dest).into_owned(),
                );
                if pending.contains(&key) {
                    continue;
                }
            }
            items.push(PurgeItem::Leftover(t));
        }
        items.extend(
            queue
                .find_orphans(req.min_age, req.now)?
                .into_iter()
                .map(PurgeItem::Leftover),
        );
    }
    let work = PurgeWork {
        stuck_after: req.stuck_after,
        now: req.now,
    };
    super::run(queue, &work, items, ctl, &mut report);
    drop(lock);
    Ok(report)
}
