//! The change engine: the one way anything changes the queue. Every
//! command that changes it (hold, release, reschedule, defer, drop,
//! recover, purge, `check --repair`, import) and the TUI hand it a piece
//! of `Work` and the items to apply it to; it gives back a `Report`. What it
//! guarantees, it guarantees for all of them:
//!
//! - nothing happens before the items are known, the stop flag is clear
//!   and the observer has confirmed (`Observer::confirm`);
//! - every batch is recorded before it changes anything, and its results
//!   after (`Audit`): when the log cannot be written the run stops before
//!   the next change and the report names what lacks its record;
//! - a change is reported done only once it is durable (the work syncs
//!   what it changed; a failed sync is a failed change);
//! - whatever another process did first is vanished, never failed;
//! - a write that fails for lack of space is retried in smaller batches,
//!   so the blocks the rest of a batch frees are used, and when nothing
//!   more fits the run ends with one notice, not one error per entry;
//! - an entry the writer has just moved waits for it to finish (see
//!   `queue::ops::FRESH`);
//! - Ctrl-C (the stop flag) finishes the entries at hand, then stops.

pub mod archive;
pub mod entries;
pub mod purge;
pub mod repair;
pub mod spread;
pub mod undo;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::audit::{Audit, LogError};
use crate::queue::Queue;
use crate::queue::live::{self, Writer};
pub use crate::queue::ops::{BATCH, Change, Outcome, Retry, Step, Subject};

/// What a run does, as the user names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Hold,
    Release,
    Reschedule,
    Defer,
    Drop,
    Recover,
    Purge,
    Repair,
    /// Entries added from an archive (`import`).
    Import,
    Undo,
}

impl Verb {
    /// The command's name.
    pub fn name(self) -> &'static str {
        match self {
            Verb::Hold => "hold",
            Verb::Release => "release",
            Verb::Reschedule => "reschedule",
            Verb::Defer => "defer",
            Verb::Drop => "drop",
            Verb::Recover => "recover",
            Verb::Purge => "purge",
            Verb::Repair => "repair",
            Verb::Import => "import",
            Verb::Undo => "undo",
        }
    }

    /// The verb in summaries: "12 dropped".
    pub fn past(self) -> &'static str {
        match self {
            Verb::Hold => "held",
            Verb::Release => "released",
            Verb::Reschedule => "rescheduled",
            Verb::Defer => "deferred",
            Verb::Drop => "dropped",
            Verb::Recover => "recovered",
            Verb::Purge => "purged",
            Verb::Repair => "repaired",
            Verb::Import => "imported",
            Verb::Undo => "undone",
        }
    }

    /// What the confirmation asks: "Drop 12 entries?".
    pub fn question(self, n: usize) -> String {
        let (verb, noun) = match self {
            Verb::Purge => ("Purge", "items"),
            Verb::Repair => ("Repair", "problems"),
            Verb::Undo => ("Undo", "changes"),
            v => (capitalised(v.name()), "entries"),
        };
        let noun = if n == 1 { singular(noun) } else { noun };
        format!("{verb} {n} {noun}?")
    }
}

fn capitalised(s: &'static str) -> &'static str {
    match s {
        "hold" => "Hold",
        "release" => "Release",
        "reschedule" => "Reschedule",
        "defer" => "Defer",
        "drop" => "Drop",
        "recover" => "Recover",
        "import" => "Import",
        other => other,
    }
}

fn singular(noun: &'static str) -> &'static str {
    match noun {
        "entries" => "entry",
        "items" => "item",
        "problems" => "problem",
        "changes" => "change",
        n => n,
    }
}

/// Counts of a run, for the summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// How many items the selection gave.
    pub matched: u64,
    pub done: u64,
    pub vanished: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Failed because the disk was full (also counted in `failed`).
    pub no_space: u64,
}

impl Tally {
    pub fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Done => self.done += 1,
            Outcome::Vanished => self.vanished += 1,
            Outcome::Skipped(_) => self.skipped += 1,
            Outcome::Failed(_) => self.failed += 1,
            Outcome::NoSpace => {
                self.failed += 1;
                self.no_space += 1;
            }
        }
    }

    /// Every item that got an outcome.
    pub fn handled(&self) -> u64 {
        self.done + self.vanished + self.skipped + self.failed
    }

    /// `12 dropped, 1 vanished (moved by another process), 0 failed`, or
    /// `0 entries matched`.
    pub fn summary(&self, past: &str, dry_run: bool) -> String {
        let done = if dry_run {
            format!("{} would be {past}", self.done)
        } else {
            format!("{} {past}", self.done)
        };
        self.summary_with(&done, dry_run)
    }

    /// The summary with `done` saying what was done ("12 dropped").
    fn summary_with(&self, done: &str, dry_run: bool) -> String {
        if self.matched == 0 {
            return if dry_run {
                "dry run: 0 entries matched, nothing would change".into()
            } else {
                "0 entries matched, nothing changed".into()
            };
        }
        let mut s = if dry_run {
            format!("dry run, nothing changed: {done}")
        } else {
            done.to_string()
        };
        s.push_str(&format!(", {} vanished", self.vanished));
        if self.vanished > 0 {
            s.push_str(" (moved by another process)");
        }
        if self.skipped > 0 {
            s.push_str(&format!(", {} skipped", self.skipped));
        }
        s.push_str(&format!(", {} failed", self.failed));
        if self.no_space > 0 {
            s.push_str(&format!(" ({} not changed: the disk is full)", self.no_space));
        }
        s
    }
}

/// Something the user should know once, not per entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A writer has the queue open (said before the first change).
    LiveWriter(Vec<Writer>),
    /// Entries the writer had just moved wait until it is done with them.
    Waiting(usize),
    /// A write failed with ENOSPC even one entry at a time: the rest is
    /// left as it is.
    DiskFull { left: u64 },
    /// Claimed entries a running mqctl holds: left alone.
    ClaimsBusy(usize),
}

/// Who watches a run: the CLI prints, the TUI sends messages to its screen.
pub trait Observer {
    /// Asked once, after the items are known and before anything changes.
    fn confirm(&mut self, _verb: Verb, _count: usize) -> bool {
        true
    }
    fn notice(&mut self, _notice: &Notice) {}
    /// Each change's outcome, once it is durable and recorded.
    fn change(&mut self, _change: &Change) {}
    /// After each batch: how many items have an outcome, of how many.
    fn progress(&mut self, _done: u64, _total: u64) {}
    /// While the selection is read: how many entries so far.
    fn scanned(&mut self, _entries: u64) {}
}

/// An observer that does nothing (tests of the library).
pub struct Quiet;
impl Observer for Quiet {}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Every item got an outcome.
    Finished,
    /// The stop flag was set (Ctrl-C, SIGTERM, Esc in the TUI).
    Interrupted,
    /// The observer said no: nothing changed.
    NotConfirmed,
    /// The log could not be written: the run stopped. `unrecorded` are the
    /// changes made whose result line is missing (the intent line names
    /// them).
    LogFailed { error: String, unrecorded: Vec<Subject> },
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    pub verb: Verb,
    pub dry_run: bool,
    pub tally: Tally,
    /// Ids that name no entry ("no entry deadbeef").
    pub missing: Vec<String>,
    pub end: End,
    /// The first failure's reason, for a one-line summary (the TUI's).
    pub first_problem: Option<String>,
    /// Changes done per operation (a purge mixes several), in first-seen order.
    pub done_by_op: Vec<(&'static str, u64)>,
    /// The live writers the first `run` given this report found, once it
    /// was confirmed. Items that come as a stream (`import`) are handed to
    /// `run` in parts sharing one report: they are confirmed, checked for
    /// a writer and warned about once, as one run.
    started: Option<Vec<Writer>>,
}

/// What a count of one operation's changes is: "2 pending cleanups".
fn op_phrase(op: &str, n: u64) -> String {
    let one = n == 1;
    let noun = match op {
        "cleanup" => {
            if one {
                "pending cleanup"
            } else {
                "pending cleanups"
            }
        }
        "remove-temp" => {
            if one {
                "temp file"
            } else {
                "temp files"
            }
        }
        "remove-orphan" => {
            if one {
                "orphan mail"
            } else {
                "orphan mails"
            }
        }
        "recover" => {
            if one {
                "claimed entry"
            } else {
                "claimed entries"
            }
        }
        op => op,
    };
    format!("{n} {noun}")
}

impl Report {
    /// "(2 pending cleanups, 1 temp file)": what a run of several
    /// operations did, after its total.
    fn parts(&self) -> String {
        let done: Vec<String> = self
            .done_by_op
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(op, n)| op_phrase(op, *n))
            .collect();
        if done.is_empty() {
            String::new()
        } else {
            format!(" ({})", done.join(", "))
        }
    }

    pub fn new(verb: Verb, dry_run: bool) -> Report {
        Report {
            verb,
            dry_run,
            tally: Tally::default(),
            missing: Vec::new(),
            end: End::Finished,
            first_problem: None,
            done_by_op: Vec::new(),
            started: None,
        }
    }

    /// True when something the user asked for did not happen: a failed
    /// change, an id that names nothing, a log that could not be written.
    pub fn has_failures(&self) -> bool {
        self.tally.failed > 0 || !self.missing.is_empty() || matches!(self.end, End::LogFailed { .. })
    }

    pub fn summary(&self) -> String {
        let mut s = if self.verb == Verb::Import {
            // What an import skips is what the queue has already.
            let t = &self.tally;
            let done = if self.dry_run {
                format!("dry run, nothing changed: {} would be imported", t.done)
            } else {
                format!("{} imported", t.done)
            };
            format!("{done}, {} already there, {} failed", t.skipped, t.failed)
        } else if self.done_by_op.len() > 1 || self.verb == Verb::Purge {
            let past = format!("{}{}", self.verb.past(), self.parts());
            self.tally.summary(&past, self.dry_run)
        } else {
            self.tally.summary(self.verb.past(), self.dry_run)
        };
        if !self.missing.is_empty() {
            s.push_str(&format!(
                ", {} {} no entry",
                self.missing.len(),
                if self.missing.len() == 1 {
                    "id names"
                } else {
                    "ids name"
                }
            ));
        }
        match &self.end {
            End::Interrupted => s.push_str(" (interrupted)"),
            End::LogFailed { .. } => s.push_str(" (stopped: the log cannot be written)"),
            End::NotConfirmed | End::Finished => {}
        }
        s
    }
}

/// The settings of one run.
pub struct Control<'a> {
    pub dry_run: bool,
    /// Set by a signal handler (or the TUI's Esc): stop after the entries
    /// at hand.
    pub stop: &'a AtomicBool,
    pub audit: &'a mut Audit,
    pub observer: &'a mut dyn Observer,
}

/// Facts a piece of work may need about the run.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub dry_run: bool,
    /// A writer has the queue open.
    pub writer_live: bool,
}

impl Ctx {
    /// The library's rules for a batch of this run: no inflight entry
    /// taken unless stuck, no hold note given.
    pub fn policy(self, stuck_after: jiff::SignedDuration, now: jiff::Timestamp) -> crate::queue::ops::Policy {
        crate::queue::ops::Policy {
            dry_run: self.dry_run,
            force_inflight: false,
            stuck_after,
            now,
            writer_live: self.writer_live,
            hold: None,
        }
    }
}

/// One kind of change, applied to items in batches.
pub trait Work: Sync {
    type Item: Clone + Send + Sync;
    /// What the log and the intent line call this item.
    fn subject(&self, item: &Self::Item) -> Subject;
    /// The operation's name for this item (a purge mixes several).
    fn operation(&self, item: &Self::Item) -> &'static str;
    /// Applies the change to a batch and makes it durable. One result per
    /// item, in order; `None` for an item not started because `stop` was set.
    fn apply(&self, queue: &Queue, batch: &[Self::Item], ctx: Ctx, stop: &AtomicBool) -> Vec<Option<(Change, Step)>>;
    /// How many items a batch holds at most.
    fn batch(&self) -> usize {
        BATCH
    }
}

/// How many times an entry the writer keeps moving is waited for.
const FRESH_TRIES: u8 = 3;

/// Runs `work` over `items`. `report` may already hold what the selection
/// found (ids that name nothing).
pub fn run<W: Work>(queue: &Queue, work: &W, items: Vec<W::Item>, ctl: &mut Control, report: &mut Report) {
    report.tally.matched += items.len() as u64;
    // A signal during the scan: what it read may be a part only.
    if ctl.stop.load(Ordering::SeqCst) {
        report.end = End::Interrupted;
        return;
    }
    if items.is_empty() {
        return;
    }
    let writers = match &report.started {
        Some(w) => w.clone(),
        None => {
            if !ctl.observer.confirm(report.verb, items.len()) {
                report.end = End::NotConfirmed;
                return;
            }
            // A signal in the moment between the scan and the answer.
            if ctl.stop.load(Ordering::SeqCst) {
                report.end = End::Interrupted;
                return;
            }
            let writers = live::writers(queue.path());
            if !writers.is_empty() {
                ctl.observer.notice(&Notice::LiveWriter(writers.clone()));
            }
            report.started = Some(writers.clone());
            writers
        }
    };
    let ctx = Ctx {
        dry_run: ctl.dry_run,
        writer_live: !writers.is_empty(),
    };
    Runner {
        queue,
        work,
        ctl,
        report,
        ctx,
        total: items.len() as u64,
    }
    .go(items);
}

struct Runner<'r, 'c, W: Work> {
    queue: &'r Queue,
    work: &'r W,
    ctl: &'r mut Control<'c>,
    report: &'r mut Report,
    ctx: Ctx,
    total: u64,
}

impl<W: Work> Runner<'_, '_, W> {
    fn go(mut self, items: Vec<W::Item>) {
        let max = self.work.batch().max(1);
        let mut size = max;
        let mut todo: VecDeque<(W::Item, u8)> = items.into_iter().map(|i| (i, 0)).collect();
        let mut waiting: Vec<(W::Item, u8)> = Vec::new();
        let mut waited_since: Option<Instant> = None;
        loop {
            if todo.is_empty() {
                if waiting.is_empty() {
                    return;
                }
                // Entries the writer had just moved: give it the moment it
                // needs, then try them again.
                self.ctl.observer.notice(&Notice::Waiting(waiting.len()));
                let fresh = Duration::from_millis(crate::queue::ops::FRESH.as_millis() as u64);
                let since = waited_since.take().unwrap_or_else(Instant::now);
                std::thread::sleep(fresh.saturating_sub(since.elapsed()));
                todo.extend(waiting.drain(..));
            }
            if self.ctl.stop.load(Ordering::SeqCst) {
                self.report.end = End::Interrupted;
                return;
            }
            let n = size.min(todo.len());
            let batch: Vec<(W::Item, u8)> = todo.drain(..n).collect();
            let items: Vec<W::Item> = batch.iter().map(|(i, _)| i.clone()).collect();
            if !self.ctx.dry_run {
                let subjects: Vec<Subject> = items.iter().map(|i| self.work.subject(i)).collect();
                let op = self.work.operation(&items[0]);
                if let Err(e) = self.ctl.audit.intent(op, &subjects) {
                    self.log_failed(e, Vec::new());
                    return;
                }
            }
            let results = self.work.apply(self.queue, &items, self.ctx, self.ctl.stop);
            let mut finals: Vec<Change> = Vec::new();
            let mut no_space: Vec<(W::Item, u8)> = Vec::new();
            let mut stopped = false;
            for ((item, tries), result) in batch.into_iter().zip(results) {
                let Some((mut change, step)) = result else {
                    stopped = true;
                    continue;
                };
                change.op = self.work.operation(&item);
                match step {
                    Step::Final(o) => {
                        change.outcome = o;
                        finals.push(change);
                    }
                    Step::Retry(Retry::NoSpace) => no_space.push((item, tries)),
                    Step::Retry(Retry::Fresh) if tries + 1 >= FRESH_TRIES => {
                        change.outcome = Outcome::Skipped(
                            "the writer keeps moving it (it is being sent or retried right now): try again".into(),
                        );
                        finals.push(change);
                    }
                    Step::Retry(Retry::Fresh) => {
                        waited_since.get_or_insert_with(Instant::now);
                        waiting.push((item, tries + 1));
                    }
                }
            }
            let progressed = finals.iter().any(|c| c.outcome == Outcome::Done);
            if !self.finish(finals) {
                return;
            }
            if stopped {
                self.report.end = End::Interrupted;
                return;
            }
            if !no_space.is_empty() {
                if n == 1 && !progressed {
                    // Not even one more fits: the disk is full.
                    let rest: Vec<W::Item> = no_space
                        .into_iter()
                        .chain(todo.drain(..))
                        .chain(waiting.drain(..))
                        .map(|(i, _)| i)
                        .collect();
                    self.give_up(rest);
                    return;
                }
                // Retry them first, in a smaller batch, once the rest of
                // this one has freed what it frees.
                size = (n / 2).max(1);
                for x in no_space.into_iter().rev() {
                    todo.push_front(x);
                }
            } else if size < max {
                size = (size * 2).min(max);
            }
        }
    }

    /// Records a batch's outcomes, tells the observer. False when the run
    /// must stop because the log could not be written.
    fn finish(&mut self, finals: Vec<Change>) -> bool {
        if finals.is_empty() {
            return true;
        }
        let recorded = if self.ctx.dry_run {
            Ok(())
        } else {
            let refs: Vec<&Change> = finals.iter().filter(|c| c.outcome != Outcome::NoSpace).collect();
            self.ctl.audit.record(&refs)
        };
        for c in &finals {
            self.report.tally.add(&c.outcome);
            if c.outcome == Outcome::Done {
                match self.report.done_by_op.iter_mut().find(|(op, _)| *op == c.op) {
                    Some((_, n)) => *n += 1,
                    None => self.report.done_by_op.push((c.op, 1)),
                }
            }
            if self.report.first_problem.is_none()
                && let Outcome::Failed(r) = &c.outcome
            {
                self.report.first_problem = Some(format!("{}: {r}", c.subject));
            }
            self.ctl.observer.change(c);
        }
        self.ctl.observer.progress(self.report.tally.handled(), self.total);
        match recorded {
            Ok(()) => true,
            Err(e) => {
                let unrecorded = finals
                    .iter()
                    .filter(|c| c.outcome == Outcome::Done)
                    .map(|c| c.subject.clone())
                    .collect();
                self.log_failed(e, unrecorded);
                false
            }
        }
    }

    fn give_up(&mut self, rest: Vec<W::Item>) {
        self.ctl.observer.notice(&Notice::DiskFull {
            left: rest.len() as u64,
        });
        let changes: Vec<Change> = rest
            .iter()
            .map(|i| Change {
                op: self.work.operation(i),
                subject: self.work.subject(i),
                outcome: Outcome::NoSpace,
                ..Change::path(String::new())
            })
            .collect();
        self.finish(changes);
    }

    fn log_failed(&mut self, e: LogError, unrecorded: Vec<Subject>) {
        self.report.end = End::LogFailed { error: e.0, unrecorded };
    }
}
