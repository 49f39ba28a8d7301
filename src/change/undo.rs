//! `undo`: takes back what logged runs changed, newest first, through the
//! change engine like every other change.
//!
//! The `--log` file of the other commands is the record: an intent line per
//! batch, then one result line per change (`crate::audit`). Of the chosen
//! runs, every change whose result is `done` is taken back:
//!
//! - a move (hold, release, recover) goes back: the entry must still be in
//!   the folder the change put it in, and is renamed back where it was
//!   (`EntryOp::MoveBack`, with the safety of every move);
//! - a rewritten schedule (reschedule, defer) gets the bytes it had back,
//!   only when it is still byte for byte the one the change wrote
//!   (`Reschedule::Restore`: claimed, temp sibling, synced, renamed over,
//!   put back, as every rewrite);
//! - a held entry's note that a hold with a reason or an end changed gets
//!   its old bytes back (or goes, if it had none), only when it is still
//!   byte for byte the one the change wrote (`EntryOp::RestoreNote`);
//! - anything else is listed as not undoable, with its reason: a drop or a
//!   cleanup (its files are gone), purge's removals, `check --repair`'s
//!   repairs, an entry a stopped mqctl had left claimed, a change whose
//!   result the log lacks, and every older change of an entry whose newer
//!   change cannot be undone.
//!
//! An entry that is no longer as the change left it was changed since by
//! someone else: it is left alone and reported. An entry changed more than
//! once is taken back one change at a time (one engine run per step), so
//! that each step sees what the one before it did.
//!
//! The log is read twice (the runs it holds, then the chosen runs' lines),
//! both times up to the length it had when first opened: the lines other
//! runs append meanwhile are not part of this undo.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::{Change, Control, Ctx, Notice, Observer, Outcome, Report, Step, Subject, Verb, Work};
use crate::error::{Error, Result};
use crate::queue::holds::HoldNote;
use crate::queue::ops::{CHANGED_SINCE, EntryOp, Item, Reschedule, Restore};
use crate::queue::{EntryId, MAX_JSON_FILE, Queue, State, parse};

/// Longer lines are not the log's (a result line holds two schedules of at
/// most 64 KiB each, escaped).
const MAX_LINE: u64 = 4 << 20;

/// How many runs an error lists when the asked-for one is not in the log.
const LISTED_RUNS: usize = 5;

/// One run in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub id: String,
    /// The time of its first line.
    pub started: Timestamp,
    /// Its operations, in the order first seen (`hold`; `cleanup`, `remove-temp` for a purge).
    pub operations: Vec<String>,
    /// How many changes it made (result lines `done`).
    pub changes: u64,
}

impl RunInfo {
    /// `hold, 12 changes, started 2026-11-22T20:40:00Z`.
    pub fn describe(&self) -> String {
        let ops = if self.operations.is_empty() {
            "nothing".to_string()
        } else {
            self.operations
                .iter()
                .map(|o| crate::escape::escape(o).into_owned())
                .collect::<Vec<_>>()
                .join("+")
        };
        format!(
            "{ops}, {} change{}, started {}",
            self.changes,
            if self.changes == 1 { "" } else { "s" },
            parse::format_timestamp(self.started)
        )
    }
}

/// What the log holds: its runs, in the order they started (their first
/// line), and how many lines are not log records.
#[derive(Debug, Clone)]
pub struct LogRuns {
    pub runs: Vec<RunInfo>,
    pub unparsed: u64,
    /// The bytes read; the second reading stops there.
    len: u64,
}

/// Which runs to take back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    /// The run that started last.
    Last,
    /// This run (its id, or a unique prefix of it).
    Run(String),
    /// Every run that started at or after this time.
    Since(Timestamp),
}

/// The fields every line has.
#[derive(Deserialize)]
struct Head {
    time: String,
    run: String,
    #[serde(default)]
    operation: String,
    result: String,
}

/// What a result line says of its change.
#[derive(Deserialize, Default)]
struct Fields {
    id: Option<String>,
    path: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
    after: Option<String>,
    hold_note: Option<String>,
    hold_note_before: Option<String>,
}

/// A whole line: a result, or an intent (`ids`, `paths`).
#[derive(Deserialize)]
struct Line {
    time: String,
    run: String,
    #[serde(default)]
    operation: String,
    #[serde(flatten)]
    fields: Fields,
    result: String,
    #[serde(default)]
    ids: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
}

/// Calls `f` with each line of the first `limit` bytes of `path` (all of
/// it when `None`); `None` for a line too long to be the log's. Returns
/// how many bytes were read.
fn for_each_line(path: &Path, limit: Option<u64>, mut f: impl FnMut(Option<&[u8]>)) -> std::io::Result<u64> {
    let file = File::open(path)?;
    let len = match limit {
        Some(l) => l,
        None => file.metadata()?.len(),
    };
    let mut r = BufReader::new(file.take(len));
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let got = (&mut r).take(MAX_LINE).read_until(b'\n', &mut buf)?;
        if got == 0 {
            return Ok(len);
        }
        if buf.last() != Some(&b'\n') && got as u64 == MAX_LINE {
            // Too long: skip to its end.
            loop {
                buf.clear();
                let more = (&mut r).take(MAX_LINE).read_until(b'\n', &mut buf)?;
                if more == 0 || buf.last() == Some(&b'\n') {
                    break;
                }
            }
            f(None);
            continue;
        }
        let line = buf.trim_ascii();
        if !line.is_empty() {
            f(Some(line));
        }
    }
}

fn log_error(path: &Path, e: std::io::Error) -> Error {
    Error::Usage(format!("--log {}: {e}", path.display()))
}

/// Reads the runs `path` holds. Lines that are not log records (not JSON,
/// or without a time, a run and a result) are counted, not fatal.
pub fn read_runs(path: &Path) -> Result<LogRuns> {
    let mut runs: Vec<RunInfo> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut unparsed = 0u64;
    let len = for_each_line(path, None, |line| {
        let head = line.and_then(|l| serde_json::from_slice::<Head>(l).ok());
        let Some((head, time)) = head.and_then(|h| h.time.parse::<Timestamp>().ok().map(|t| (h, t))) else {
            unparsed += 1;
            return;
        };
        let k = *index.entry(head.run.clone()).or_insert_with(|| {
            runs.push(RunInfo {
                id: head.run.clone(),
                started: time,
                operations: Vec::new(),
                changes: 0,
            });
            runs.len() - 1
        });
        let run = &mut runs[k];
        if !head.operation.is_empty() && !run.operations.contains(&head.operation) {
            run.operations.push(head.operation);
        }
        if head.result == "done" {
            run.changes += 1;
        }
    })
    .map_err(|e| log_error(path, e))?;
    Ok(LogRuns { runs, unparsed, len })
}

/// The runs `which` names. An id or a time that names no run is an error
/// that lists the last runs the log has.
pub fn choose(log: &LogRuns, which: &Which, name: &Path) -> Result<Vec<RunInfo>> {
    let listing = || {
        let last: Vec<String> = log
            .runs
            .iter()
            .rev()
            .take(LISTED_RUNS)
            .map(|r| format!("\n  {}  {}", crate::escape::escape(&r.id), r.describe()))
            .collect();
        format!("; its last runs (newest first):{}", last.concat())
    };
    if log.runs.is_empty() {
        return Err(Error::Usage(format!("{} holds no run to undo", name.display())));
    }
    match which {
        Which::Last => Ok(log.runs.last().cloned().into_iter().collect()),
        Which::Run(id) => {
            if let Some(r) = log.runs.iter().find(|r| r.id == *id) {
                return Ok(vec![r.clone()]);
            }
            let matching: Vec<&RunInfo> = log.runs.iter().filter(|r| r.id.starts_with(id.as_str())).collect();
            match matching.as_slice() {
                [one] if !id.is_empty() => Ok(vec![(*one).clone()]),
                [] | [_] => Err(Error::Usage(format!(
                    "no run {} in {}{}",
                    crate::escape::escape(id),
                    name.display(),
                    listing()
                ))),
                many => Err(Error::Usage(format!(
                    "run {} is ambiguous in {}: {} runs start with it",
                    crate::escape::escape(id),
                    name.display(),
                    many.len()
                ))),
            }
        }
        Which::Since(t) => {
            let runs: Vec<RunInfo> = log.runs.iter().filter(|r| r.started >= *t).cloned().collect();
            if runs.is_empty() {
                return Err(Error::Usage(format!(
                    "no run in {} started at or after {}{}",
                    name.display(),
                    parse::format_timestamp(*t),
                    listing()
                )));
            }
            Ok(runs)
        }
    }
}

/// A change that is not taken back, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotUndoable {
    /// The change's operation (`drop`, `remove-temp`…).
    pub operation: String,
    /// The entry id or path, as the log names it (escaped for display).
    pub subject: String,
    pub run: String,
    pub reason: String,
}

/// One change to take back: an entry where the change left it, and where
/// it goes back to (the same folder for a schedule put back).
#[derive(Debug, Clone)]
pub struct UndoItem {
    /// Where the entry is now; `restore` holds the schedules of a rewrite.
    pub item: Item,
    pub back_to: State,
    /// `item.restore` holds hold notes (a change of a held entry's note
    /// taken back), not schedules.
    pub note_change: bool,
    /// The outcome known without looking (an older change of an entry whose
    /// newer one was not taken back; a step of a dry run that depends on
    /// the step before it): the engine reports it as it is.
    decided: Option<Outcome>,
}

/// What an undo will do: the changes to take back in steps (each entry at
/// most once per step, newest change first), and what it will not.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub steps: Vec<Vec<UndoItem>>,
    pub not_undoable: Vec<NotUndoable>,
}

impl Plan {
    /// How many changes are taken back.
    pub fn len(&self) -> usize {
        self.steps.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A line of the log that says a change happened (or may have).
struct Record {
    run: String,
    operation: String,
    fields: Fields,
    /// An intent without a result: the change may have been made.
    unrecorded: bool,
}

/// Reads the chosen runs' lines and decides what to do with each change.
pub fn plan(path: &Path, log: &LogRuns, runs: &[RunInfo]) -> Result<Plan> {
    let chosen: HashSet<&str> = runs.iter().map(|r| r.id.as_str()).collect();
    let mut records: Vec<Record> = Vec::new();
    // Per run: the subjects that have a result line, and the newest intent
    // line that named each subject (as an index into `records` to fill in).
    let mut resulted: HashSet<(String, String)> = HashSet::new();
    let mut intents: HashMap<(String, String), usize> = HashMap::new();
    for_each_line(path, Some(log.len), |line| {
        let Some(l) = line.and_then(|l| serde_json::from_slice::<Line>(l).ok()) else {
            return;
        };
        if !chosen.contains(l.run.as_str()) || l.time.parse::<Timestamp>().is_err() {
            return;
        }
        if l.result == "intent" {
            // A placeholder at the intent's place for each subject it names;
            // kept only when no result line follows.
            let named = l
                .ids
                .iter()
                .map(|i| (Some(i), None))
                .chain(l.paths.iter().map(|p| (None, Some(p))));
            for (id, path) in named {
                let subject = id.or(path).expect("one of them").clone();
                records.push(Record {
                    run: l.run.clone(),
                    operation: l.operation.clone(),
                    fields: Fields {
                        id: id.cloned(),
                        path: path.cloned(),
                        ..Fields::default()
                    },
                    unrecorded: true,
                });
                intents.insert((l.run.clone(), subject), records.len() - 1);
            }
            return;
        }
        let Some(subject) = l.fields.id.clone().or_else(|| l.fields.path.clone()) else {
            return;
        };
        resulted.insert((l.run.clone(), subject));
        if l.result != "done" {
            return;
        }
        records.push(Record {
            run: l.run,
            operation: l.operation,
            fields: l.fields,
            unrecorded: false,
        });
    })
    .map_err(|e| log_error(path, e))?;
    let keep_intents: HashSet<usize> = intents
        .into_iter()
        .filter(|(key, _)| !resulted.contains(key))
        .map(|(_, k)| k)
        .collect();

    let mut plan = Plan::default();
    // Per entry: how many of its changes are taken back so far (its next
    // step), or why its older changes cannot be.
    let mut step_of: HashMap<String, usize> = HashMap::new();
    let mut blocked: HashMap<String, String> = HashMap::new();
    for (k, r) in records.iter().enumerate().rev() {
        if r.unrecorded && !keep_intents.contains(&k) {
            continue;
        }
        let f = &r.fields;
        let subject = f.id.as_deref().or(f.path.as_deref()).unwrap_or_default();
        let mut verdict = classify(r);
        if let Some(op) = f.id.as_ref().and_then(|id| blocked.get(id)) {
            verdict = Err(format!("a later change to it ({op}) cannot be undone"));
        }
        match verdict {
            Ok(item) => {
                let id = f.id.clone().unwrap_or_default();
                let step = step_of.entry(id).or_insert(0);
                if plan.steps.len() <= *step {
                    plan.steps.push(Vec::new());
                }
                plan.steps[*step].push(item);
                *step += 1;
            }
            Err(reason) => {
                if let Some(id) = &f.id {
                    blocked
                        .entry(id.clone())
                        .or_insert_with(|| crate::escape::escape(&r.operation).into_owned());
                }
                plan.not_undoable.push(NotUndoable {
                    operation: r.operation.clone(),
                    subject: crate::escape::escape(subject).into_owned(),
                    run: r.run.clone(),
                    reason,
                });
            }
        }
    }
    Ok(plan)
}

/// How one logged change is taken back, or why it cannot be.
fn classify(r: &Record) -> Result<UndoItem, String> {
    if r.unrecorded {
        return Err(
            "its run recorded no result for it (stopped before recording it, or the disk was full): whether it was changed is not known"
                .into(),
        );
    }
    let f = &r.fields;
    let Some(id) = &f.id else {
        return Err(match r.operation.as_str() {
            "remove-temp" => "purge removed this temp file".into(),
            "remove-orphan" => "purge removed this orphan mail (no entry pointed to it)".into(),
            "repair" => "`check --repair` repairs are not undone (what it quarantined is in quarantine/)".into(),
            _ => "not a change to an entry".into(),
        });
    };
    let id = EntryId::new(id.as_bytes());
    if !id.is_well_formed() {
        return Err("the log does not name it exactly (not an entry id the writer makes)".into());
    }
    let state = |s: &Option<String>| {
        s.as_deref()
            .and_then(|s| State::ALL.into_iter().find(|st| st.dir() == s))
    };
    let (Some(from), Some(to)) = (state(&f.from), state(&f.to)) else {
        return Err("the log does not say which folders it moved between".into());
    };
    let item = |state: State, back_to: State, restore: Option<Arc<Restore>>| UndoItem {
        item: Item {
            restore,
            // A release's note goes back with the entry into hold/.
            note: (back_to == State::Held)
                .then(|| f.hold_note.as_deref().filter(|n| HoldNote::is_note(n.as_bytes())))
                .flatten()
                .map(Arc::from),
            ..Item::new(state, id.clone())
        },
        back_to,
        note_change: false,
        decided: None,
    };
    if to == State::Cleanup {
        return Err("it went to cleanup/, whose cleanup removed its files".into());
    }
    if from == to {
        return match (&f.before, &f.after) {
            (Some(before), Some(after)) if matches!(to, State::Queued | State::Held) => {
                if before.len() as u64 > MAX_JSON_FILE || parse::schedule(before.as_bytes()).is_err() {
                    return Err("the schedule the log recorded is not a valid schedule".into());
                }
                let restore = Restore {
                    before: before.clone(),
                    after: after.clone(),
                };
                Ok(item(to, to, Some(Arc::new(restore))))
            }
            (Some(_), None) => {
                Err("the log does not record the schedule that change wrote (an older mqctl wrote it)".into())
            }
            // A change of a held entry's note (a hold with a reason or an
            // end of an entry held already).
            (None, None) if to == State::Held && (f.hold_note.is_some() || f.hold_note_before.is_some()) => {
                let valid = |n: &Option<String>| n.as_deref().is_none_or(|n| HoldNote::is_note(n.as_bytes()));
                if !valid(&f.hold_note_before) || !valid(&f.hold_note) {
                    return Err("the hold note the log recorded is not a valid note".into());
                }
                let restore = Restore {
                    before: f.hold_note_before.clone().unwrap_or_default(),
                    after: f.hold_note.clone().unwrap_or_default(),
                };
                Ok(UndoItem {
                    note_change: true,
                    ..item(to, to, Some(Arc::new(restore)))
                })
            }
            _ => Err(format!("nothing the log recorded can take it back (in {}/)", to.dir())),
        };
    }
    match (from, to) {
        (State::Held, State::Queued)
        | (State::Queued, State::Held)
        | (State::Inflight, State::Queued)
        | (State::Queued, State::Inflight) => Ok(item(to, from, None)),
        (State::Claimed | State::ClaimedHeld, _) => Err(format!(
            "it was put back from {}/, where a stopped mqctl had left it: there is nothing to go back to",
            from.dir()
        )),
        _ => Err(format!("a move from {}/ to {}/ is not undone", from.dir(), to.dir())),
    }
}

/// The settings of an undo.
#[derive(Debug, Clone, Copy)]
pub struct UndoRequest {
    /// An inflight entry goes back to `queue/` only once stuck this long.
    pub stuck_after: SignedDuration,
    pub now: Timestamp,
}

/// Takes back one step of changes.
pub struct UndoWork {
    pub stuck_after: SignedDuration,
    pub now: Timestamp,
}

impl UndoWork {
    /// Where an entry that is not where the change left it is now.
    fn changed_since(queue: &Queue, id: &EntryId) -> Outcome {
        let now = match queue.locate(id.as_bytes()).first() {
            Some(s) => format!("now in {}/", s.dir()),
            None => "gone from the queue".into(),
        };
        Outcome::Skipped(format!("{CHANGED_SINCE}: {now}"))
    }
}

impl Work for UndoWork {
    type Item = UndoItem;

    fn subject(&self, item: &UndoItem) -> Subject {
        Subject::Entry(item.item.id.clone())
    }

    fn operation(&self, _: &UndoItem) -> &'static str {
        "undo"
    }

    fn apply(&self, queue: &Queue, batch: &[UndoItem], ctx: Ctx, stop: &AtomicBool) -> Vec<Option<(Change, Step)>> {
        let policy = ctx.policy(self.stuck_after, self.now);
        let mut out: Vec<Option<(Change, Step)>> = vec![None; batch.len()];
        for (k, u) in batch.iter().enumerate() {
            if let Some(o) = &u.decided {
                if stop.load(Ordering::SeqCst) {
                    continue;
                }
                let mut change = Change::entry(&u.item.id, u.item.state, u.back_to);
                if *o == Outcome::Done
                    && let Some(r) = &u.item.restore
                {
                    change.detail = parse::schedule(r.before.as_bytes())
                        .ok()
                        .map(|s| format!("at {}", parse::format_timestamp(s.at)));
                }
                change.outcome = o.clone();
                out[k] = Some((change, Step::Final(o.clone())));
            }
        }
        // The rest by the operation each needs: schedules put back, then
        // moves by where they go.
        let mut ops: Vec<EntryOp> = Vec::new();
        for u in batch.iter().filter(|u| u.decided.is_none()) {
            let op = if u.note_change {
                EntryOp::RestoreNote
            } else if u.item.restore.is_some() {
                EntryOp::Schedule(Reschedule::Restore)
            } else {
                EntryOp::MoveBack(u.back_to)
            };
            if !ops.contains(&op) {
                ops.push(op);
            }
        }
        for op in ops {
            let (idx, items): (Vec<usize>, Vec<Item>) = batch
                .iter()
                .enumerate()
                .filter(|(_, u)| u.decided.is_none())
                .filter(|(_, u)| match op {
                    EntryOp::RestoreNote => u.note_change,
                    EntryOp::Schedule(_) => u.item.restore.is_some() && !u.note_change,
                    EntryOp::MoveBack(to) => u.item.restore.is_none() && u.back_to == to,
                    _ => false,
                })
                .map(|(k, u)| (k, u.item.clone()))
                .unzip();
            for (k, r) in idx.into_iter().zip(queue.apply_batch(op, &items, &policy, stop)) {
                out[k] = r.map(|(mut change, mut step)| {
                    if step == Step::Final(Outcome::Vanished) {
                        change.outcome = Self::changed_since(queue, &batch[k].item.id);
                        step = Step::Final(change.outcome.clone());
                    }
                    (change, step)
                });
            }
        }
        out
    }
}

/// What an undo did.
#[derive(Debug, Clone)]
pub struct UndoReport {
    pub report: Report,
    /// The changes not taken back (from the plan).
    pub not_undoable: usize,
    /// Entries left alone because they were changed since.
    pub changed_since: u64,
}

impl UndoReport {
    /// True when something was not taken back: not undoable, changed since,
    /// skipped or failed, an unwritable log.
    pub fn has_failures(&self) -> bool {
        let t = &self.report.tally;
        self.report.has_failures() || self.not_undoable > 0 || t.done < t.handled()
    }

    /// `12 undone, 1 not undoable, 1 changed since, 0 failed`.
    pub fn summary(&self) -> String {
        let r = &self.report;
        let t = &r.tally;
        if t.matched == 0 && self.not_undoable == 0 {
            return if r.dry_run {
                "dry run: nothing to undo, nothing would change".into()
            } else {
                "nothing to undo, nothing changed".into()
            };
        }
        let mut s = if r.dry_run {
            format!("dry run, nothing changed: {} would be undone", t.done)
        } else {
            format!("{} undone", t.done)
        };
        s.push_str(&format!(
            ", {} not undoable, {} changed since",
            self.not_undoable,
            self.changed_since + t.vanished
        ));
        let skipped = t.skipped.saturating_sub(self.changed_since);
        if skipped > 0 {
            s.push_str(&format!(", {skipped} skipped"));
        }
        s.push_str(&format!(", {} failed", t.failed));
        if t.no_space > 0 {
            s.push_str(&format!(" ({} not changed: the disk is full)", t.no_space));
        }
        match &r.end {
            super::End::Interrupted => s.push_str(" (interrupted)"),
            super::End::LogFailed { .. } => s.push_str(" (stopped: the log cannot be written)"),
            super::End::NotConfirmed | super::End::Finished => {}
        }
        s
    }
}

/// The observer of each step: asks nothing (the undo asked once), says
/// that a writer is live once, and keeps each entry's outcome for the next
/// step.
struct StepObserver<'a> {
    inner: &'a mut dyn Observer,
    told_writer: &'a mut bool,
    outcomes: HashMap<EntryId, Outcome>,
    changed_since: u64,
}

impl Observer for StepObserver<'_> {
    fn notice(&mut self, n: &Notice) {
        if let Notice::LiveWriter(_) = n {
            if *self.told_writer {
                return;
            }
            *self.told_writer = true;
        }
        self.inner.notice(n);
    }

    fn change(&mut self, c: &Change) {
        if let Outcome::Skipped(r) = &c.outcome
            && r.starts_with(CHANGED_SINCE)
        {
            self.changed_since += 1;
        }
        if let Some(id) = c.id() {
            self.outcomes.insert(id.clone(), c.outcome.clone());
        }
        self.inner.change(c);
    }

    fn progress(&mut self, done: u64, total: u64) {
        self.inner.progress(done, total);
    }
}

/// Where a dry run's entry would be after the steps before, and its
/// schedule when one was put back.
struct Simulated {
    /// Where it is on disk (a dry run moves nothing).
    really_in: State,
    would_be_in: State,
    schedule: Option<String>,
}

/// What a step of a dry run would do to an entry whose earlier step would
/// be done: decided from what that step would have left, as the real run
/// would find it.
fn simulate(queue: &Queue, u: &UndoItem, sim: &mut Simulated) -> Outcome {
    if sim.would_be_in != u.item.state {
        return Outcome::Skipped(format!("{CHANGED_SINCE}: now in {}/", sim.would_be_in.dir()));
    }
    let Some(r) = &u.item.restore else {
        sim.would_be_in = u.back_to;
        return Outcome::Done;
    };
    let current = match &sim.schedule {
        Some(s) => s.as_bytes().to_vec(),
        None => match queue.schedule_bytes(sim.really_in, &u.item.id) {
            Ok(b) => b,
            Err(o) => return o,
        },
    };
    if current != r.after.as_bytes() {
        return Outcome::Skipped(format!(
            "{CHANGED_SINCE}: its schedule is not the one that change wrote"
        ));
    }
    sim.schedule = Some(r.before.clone());
    Outcome::Done
}

/// Takes back the plan's changes, newest first: asks once for all of them,
/// then runs the engine once per step. An entry whose change was not taken
/// back keeps its older changes (they are reported, not made).
pub fn apply(queue: &Queue, plan: Plan, req: UndoRequest, ctl: &mut Control) -> Result<UndoReport> {
    let mut undo = UndoReport {
        report: Report::new(Verb::Undo, ctl.dry_run),
        not_undoable: plan.not_undoable.len(),
        changed_since: 0,
    };
    let total = plan.len();
    if ctl.stop.load(Ordering::SeqCst) {
        undo.report.end = super::End::Interrupted;
        return Ok(undo);
    }
    if total == 0 {
        return Ok(undo);
    }
    if !ctl.observer.confirm(Verb::Undo, total) {
        undo.report.end = super::End::NotConfirmed;
        return Ok(undo);
    }
    // Schedules are put back on claimed entries: hold the claim lock
    // (shared) so that `recover` does not take them for a crash's leftovers.
    let restores = plan.steps.iter().flatten().any(|u| u.item.restore.is_some());
    let _lock = if restores && !ctl.dry_run {
        queue.claim_lock(false)?
    } else {
        None
    };
    let work = UndoWork {
        stuck_after: req.stuck_after,
        now: req.now,
    };
    let mut told_writer = false;
    let mut last: HashMap<EntryId, Outcome> = HashMap::new();
    let mut sims: HashMap<EntryId, Simulated> = HashMap::new();
    for (k, mut items) in plan.steps.into_iter().enumerate() {
        if k > 0 {
            for u in &mut items {
                let before = last.get(&u.item.id);
                u.decided = match before {
                    Some(Outcome::Done) if ctl.dry_run => sims.get_mut(&u.item.id).map(|s| simulate(queue, u, s)),
                    Some(Outcome::Done) => None,
                    Some(Outcome::Skipped(r)) if r.starts_with(CHANGED_SINCE) => Some(Outcome::Skipped(format!(
                        "{CHANGED_SINCE}: a later change to it was left alone"
                    ))),
                    _ => Some(Outcome::Skipped(
                        "left alone: a later change to it was not undone".into(),
                    )),
                };
            }
        }
        let mut obs = StepObserver {
            inner: &mut *ctl.observer,
            told_writer: &mut told_writer,
            outcomes: HashMap::new(),
            changed_since: 0,
        };
        let mut step_ctl = Control {
            dry_run: ctl.dry_run,
            stop: ctl.stop,
            audit: &mut *ctl.audit,
            observer: &mut obs,
        };
        if ctl.dry_run {
            for u in items.iter().filter(|u| u.decided.is_none()) {
                sims.entry(u.item.id.clone()).or_insert(Simulated {
                    really_in: u.item.state,
                    would_be_in: u.back_to,
                    schedule: u.item.restore.as_ref().map(|r| r.before.clone()),
                });
            }
        }
        super::run(queue, &work, items, &mut step_ctl, &mut undo.report);
        undo.changed_since += obs.changed_since;
        last.extend(obs.outcomes);
        if undo.report.end != super::End::Finished {
            break;
        }
    }
    Ok(undo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(op: &str, from: &str, to: &str, before: Option<&str>, after: Option<&str>) -> Record {
        Record {
            run: "r".into(),
            operation: op.into(),
            fields: Fields {
                id: Some("5566b6f5-19f2-4e01-bafe-291723d1932a".into()),
                path: None,
                from: Some(from.into()),
                to: Some(to.into()),
                before: before.map(String::from),
                after: after.map(String::from),
                hold_note: None,
                hold_note_before: None,
            },
            unrecorded: false,
        }
    }

    const SCHEDULE: &str = r#"{"at":"2026-11-23T10:00:00Z","last_attempt":null}"#;

    #[test]
    fn moves_go_back_where_they_came_from() {
        for (from, to) in [
            ("queue", "hold"),
            ("hold", "queue"),
            ("inflight", "queue"),
            ("queue", "inflight"),
        ] {
            let u = classify(&record("x", from, to, None, None)).unwrap();
            assert_eq!((u.item.state.dir(), u.back_to.dir()), (to, from));
            assert!(u.item.restore.is_none());
        }
    }

    #[test]
    fn what_cannot_be_undone_says_why() {
        let reason = |r: Record| classify(&r).map(|_| ()).unwrap_err();
        assert!(reason(record("recover", "claimed", "queue", None, None)).contains("a stopped mqctl had left it"));
        assert!(reason(record("drop", "queue", "cleanup", None, None)).contains("cleanup removed its files"));
        assert!(reason(record("reschedule", "queue", "queue", Some(SCHEDULE), None)).contains("an older mqctl"));
        assert!(
            reason(record(
                "reschedule",
                "queue",
                "queue",
                Some("{\"at\":1}"),
                Some(SCHEDULE)
            ))
            .contains("not a valid schedule")
        );
        assert!(
            reason(record(
                "reschedule",
                "inflight",
                "inflight",
                Some(SCHEDULE),
                Some(SCHEDULE)
            ))
            .contains("nothing the log recorded")
        );
        let mut bad_id = record("hold", "queue", "hold", None, None);
        bad_id.fields.id = Some("../x".into());
        assert!(reason(bad_id).contains("not an entry id"));
        let mut path = record("remove-orphan", "queue", "hold", None, None);
        path.fields.id = None;
        path.fields.path = Some("data/x".into());
        assert!(reason(path).contains("orphan mail"));
    }

    #[test]
    fn a_run_prefix_must_be_unique() {
        let run = |id: &str| RunInfo {
            id: id.into(),
            started: Timestamp::UNIX_EPOCH,
            operations: vec!["hold".into()],
            changes: 1,
        };
        let log = LogRuns {
            runs: vec![run("abc1"), run("abc2"), run("b")],
            unparsed: 0,
            len: 0,
        };
        let name = Path::new("log");
        let err = choose(&log, &Which::Run("abc".into()), name).unwrap_err().to_string();
        assert!(err.contains("ambiguous"), "{err}");
        assert_eq!(choose(&log, &Which::Run("abc2".into()), name).unwrap()[0].id, "abc2");
        assert_eq!(choose(&log, &Which::Last, name).unwrap()[0].id, "b");
        assert_eq!(Verb::Undo.question(12), "Undo 12 changes?");
        assert_eq!(Verb::Undo.question(1), "Undo 1 change?");
    }
}
