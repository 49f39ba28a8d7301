//! Changes to entries: hold, release, reschedule, defer, drop, recover and
//! the cleanups `purge` finishes. A `Request` names the entries (a
//! selection, or entries already known, as the TUI's marks are); `apply`
//! reads them, then runs the engine over them.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::{SignedDuration, Timestamp};

use super::{Change, Control, Ctx, Report, Step, Subject, Verb, Work};
use crate::error::Result;
use crate::queue::holds::HoldNote;
use crate::queue::ops::{EntryOp, Item, Policy};
use crate::queue::{EntryId, Queue, State};
use crate::select::{self, Selection};

/// Which entries a request is about.
#[derive(Debug, Clone)]
pub enum Target {
    /// Read from the queue: ids (every id must name an entry) and filters.
    Selection(Box<Selection>),
    /// Already known (the TUI's marked rows).
    Items(Vec<Item>),
}

/// A change to entries, as a command or the TUI asks for it.
#[derive(Debug, Clone)]
pub struct Request {
    pub verb: Verb,
    pub op: EntryOp,
    pub target: Target,
    /// Inflight entries may be dropped or recovered though not stuck.
    pub force_inflight: bool,
    pub stuck_after: SignedDuration,
    pub now: Timestamp,
    /// What a hold records (`hold --reason --until`); `None`: when only.
    pub hold: Option<HoldNote>,
}

/// `op` on entries, in batches.
pub struct EntryWork {
    pub verb: Verb,
    pub op: EntryOp,
    pub force_inflight: bool,
    pub stuck_after: SignedDuration,
    pub now: Timestamp,
    pub hold: Option<Arc<HoldNote>>,
}

impl Work for EntryWork {
    type Item = Item;

    fn subject(&self, item: &Item) -> Subject {
        Subject::Entry(item.id.clone())
    }

    fn operation(&self, item: &Item) -> &'static str {
        match (self.verb, item.state) {
            // A drop of an entry already in cleanup/ is its cleanup.
            (Verb::Purge, _) | (Verb::Drop, State::Cleanup) => "cleanup",
            (v, _) => v.name(),
        }
    }

    fn apply(&self, queue: &Queue, batch: &[Item], ctx: Ctx, stop: &AtomicBool) -> Vec<Option<(Change, Step)>> {
        let policy = Policy {
            force_inflight: self.force_inflight,
            hold: self.hold.clone(),
            ..ctx.policy(self.stuck_after, self.now)
        };
        queue.apply_batch(self.op, batch, &policy, stop)
    }
}

/// Reads the entries a selection names, checking `stop` as it goes. Ids
/// that name nothing go to `report.missing`.
pub fn collect(
    queue: &Queue,
    sel: &Selection,
    stop: &AtomicBool,
    ctl_observer: &mut dyn super::Observer,
    report: &mut Report,
) -> Result<Vec<Item>> {
    let mut out: Vec<Item> = Vec::new();
    // The folders are read one after the other, so an entry another
    // process moves meanwhile can be seen twice: it is one item, in the
    // folder it was seen in first (where it is gone from, the change finds
    // it vanished; an id really in two folders is the move that fails).
    let mut seen: HashSet<EntryId> = HashSet::new();
    let missing = select::for_each(queue, sel, sel.want(), &mut |e| {
        if stop.load(Ordering::Relaxed) {
            return Ok(ControlFlow::Break(()));
        }
        // (Ids are looked up in every folder at once: an id in two is a
        // problem to report, not a race, and both are kept.)
        if sel.ids.is_empty() && !seen.insert(e.id.clone()) {
            return Ok(ControlFlow::Continue(()));
        }
        out.push(Item::new(e.state, e.id));
        if out.len().is_multiple_of(4096) {
            ctl_observer.scanned(out.len() as u64);
        }
        Ok(ControlFlow::Continue(()))
    })?;
    report.missing.extend(missing);
    Ok(out)
}

/// Reads the entries a selection names with what pacing needs: each one's
/// current next attempt and destination domain.
pub fn collect_waiting(
    queue: &Queue,
    sel: &Selection,
    stop: &AtomicBool,
    observer: &mut dyn super::Observer,
    report: &mut Report,
) -> Result<Vec<(Item, super::spread::Waiting)>> {
    let mut out: Vec<(Item, super::spread::Waiting)> = Vec::new();
    let mut seen: HashSet<EntryId> = HashSet::new();
    let mut want = sel.want();
    want.link = true;
    want.files = true;
    let missing = select::for_each(queue, sel, want, &mut |e| {
        if stop.load(Ordering::Relaxed) {
            return Ok(ControlFlow::Break(()));
        }
        if sel.ids.is_empty() && !seen.insert(e.id.clone()) {
            return Ok(ControlFlow::Continue(()));
        }
        let waiting = super::spread::Waiting::of(&e);
        out.push((Item::new(e.state, e.id), waiting));
        if out.len().is_multiple_of(4096) {
            observer.scanned(out.len() as u64);
        }
        Ok(ControlFlow::Continue(()))
    })?;
    report.missing.extend(missing);
    Ok(out)
}

/// What entries already known (the TUI's marks) wait for, read again now;
/// one gone since waits for nothing (the change finds it vanished).
pub fn waiting_of(queue: &Queue, items: Vec<Item>) -> Vec<(Item, super::spread::Waiting)> {
    use rayon::prelude::*;
    items
        .into_par_iter()
        .map(|item| {
            let waiting = queue
                .read_one(item.state, item.id.as_bytes(), crate::queue::Want::FILES)
                .map_or(
                    super::spread::Waiting {
                        at: None,
                        domain: String::new(),
                    },
                    |e| super::spread::Waiting::of(&e),
                );
            (item, waiting)
        })
        .collect()
}

/// Gives each item its next attempt from `how` (paced retry).
pub fn paced(found: Vec<(Item, super::spread::Waiting)>, how: super::spread::Spread) -> (Vec<Item>, jiff::Timestamp) {
    let waiting: Vec<super::spread::Waiting> = found.iter().map(|(_, w)| w.clone()).collect();
    let placed = super::spread::spread(&waiting, how);
    let items = found
        .into_iter()
        .zip(placed.at)
        .map(|((mut item, _), at)| {
            item.at = Some(at);
            item
        })
        .collect();
    (items, placed.end)
}

/// Reads the request's entries, then changes them: a rewrite holds the
/// claim lock (shared) for the run, and
/// recovering claimed entries takes it exclusive (claimed entries of a run
/// that is still going are left alone).
pub fn apply(queue: &Queue, req: Request, ctl: &mut Control) -> Result<Report> {
    let mut report = Report::new(req.verb, ctl.dry_run);
    let mut items = match &req.target {
        Target::Selection(sel) => collect(queue, sel, ctl.stop, ctl.observer, &mut report)?,
        Target::Items(items) => items.clone(),
    };
    let queue: &Queue = queue;
    let _lock = match req.op {
        EntryOp::Schedule(_) if !ctl.dry_run && !items.is_empty() => queue.claim_lock(false)?,
        EntryOp::Recover if items.iter().any(|i| i.state.unclaimed().is_some()) => {
            let lock = queue.claim_lock(true)?;
            if lock.is_none() {
                let before = items.len();
                items.retain(|i| i.state.unclaimed().is_none());
                ctl.observer.notice(&super::Notice::ClaimsBusy(before - items.len()));
            }
            lock
        }
        _ => None,
    };
    let work = EntryWork {
        verb: req.verb,
        op: req.op,
        force_inflight: req.force_inflight,
        stuck_after: req.stuck_after,
        now: req.now,
        hold: req.hold.map(Arc::new),
    };
    super::run(queue, &work, items, ctl, &mut report);
    Ok(report)
}
