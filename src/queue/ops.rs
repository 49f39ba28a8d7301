//! Changing entries: moves between state folders, schedule rewrites, the
//! writer's cleanup. Every move is a rename of the entry's symlink that
//! never replaces anything; every rewrite is a temp sibling renamed over the
//! file, on an entry mqctl has claimed first. "Not found" at any step means
//! another process took the entry first: it is reported as vanished, never
//! as a failure.
//!
//! `apply_batch` changes one batch: the entries are handled in parallel,
//! then the folders they changed are synced once (group commit), and only
//! then is a change reported done. The change engine (`crate::change`)
//! drives the batches, the audit and the retries.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use nix::errno::Errno;
use rayon::prelude::*;

use super::holds::HoldNote;
use super::sys::{Dir, Kind, Meta, ReadError};
use super::{EntryId, Link, MAX_JSON_FILE, Queue, State, is_stuck, parse};

/// How many entries are handled between two group commits.
pub const BATCH: usize = 1024;

/// A link in `queue/` younger than this was very likely just moved there by
/// the writer, which rewrites its schedule right after (docs/writer.md):
/// taking it now would make that rewrite fail. Such entries wait.
pub const FRESH: SignedDuration = SignedDuration::from_secs(2);

/// Why `undo` leaves an entry alone: it is not as the change being undone
/// left it (the reason goes on to say how).
pub const CHANGED_SINCE: &str = "changed since by someone else";

/// What finally happened to one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Changed (or, in a dry run, would be changed), and durable.
    Done,
    /// Gone before we could act: another process moved it.
    Vanished,
    /// Left alone on purpose (why is in the text).
    Skipped(String),
    Failed(String),
    /// Not changed because the disk is full (reported once, not per entry).
    NoSpace,
}

impl Outcome {
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed(_) | Outcome::NoSpace)
    }

    /// The word in the log and in JSON: done, vanished, skipped, failed.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Vanished => "vanished",
            Outcome::Skipped(_) => "skipped",
            Outcome::Failed(_) | Outcome::NoSpace => "failed",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Skipped(r) | Outcome::Failed(r) => Some(r),
            Outcome::NoSpace => Some("no space left on the device: not changed"),
            Outcome::Done | Outcome::Vanished => None,
        }
    }
}

/// Why a change should be tried again later instead of ending now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// A write failed with ENOSPC: try again in a smaller batch, once the
    /// rest of this one has freed what it frees.
    NoSpace,
    /// The writer has just moved the entry (see `FRESH`).
    Fresh,
}

/// The result of one change in one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Final(Outcome),
    Retry(Retry),
}

/// What a change is about: an entry, or a path (a temp file, an orphan
/// mail, a `check` finding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Entry(EntryId),
    /// Relative to the queue root, escaped for display.
    Path(String),
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Entry(id) => id.fmt(f),
            Subject::Path(p) => f.write_str(p),
        }
    }
}

/// One change, as reported to the user and recorded in the log.
#[derive(Debug, Clone)]
pub struct Change {
    /// The operation's name in the log and in the printed line (`hold`,
    /// `recover`, `cleanup`…); the change engine sets it.
    pub op: &'static str,
    pub subject: Subject,
    /// The folder the entry was in, and the one it is in after the change
    /// (the same one for a schedule rewrite).
    pub from: Option<State>,
    pub to: Option<State>,
    /// What changed beyond the folder (e.g. `at 2026-11-23T08:00:00Z`).
    pub detail: Option<String>,
    /// The bytes a rewrite replaced (the old `schedule`), so that the log
    /// can take the change back.
    pub before: Option<String>,
    /// The bytes it wrote: what `undo` expects to find before it puts
    /// `before` back (anything else was changed since by someone else).
    pub after: Option<String>,
    /// The hold note a hold wrote, or a release or drop removed, byte for
    /// byte (`undo` of a release writes it back).
    pub note: Option<String>,
    /// The note a change of a held entry's note replaced (none: it had
    /// none), byte for byte: what `undo` writes back.
    pub note_before: Option<String>,
    pub outcome: Outcome,
}

impl Change {
    pub fn entry(id: &EntryId, from: State, to: State) -> Change {
        Change {
            op: "",
            subject: Subject::Entry(id.clone()),
            from: Some(from),
            to: Some(to),
            detail: None,
            before: None,
            after: None,
            note: None,
            note_before: None,
            outcome: Outcome::Done,
        }
    }

    pub fn path(path: String) -> Change {
        Change {
            op: "",
            subject: Subject::Path(path),
            from: None,
            to: None,
            detail: None,
            before: None,
            after: None,
            note: None,
            note_before: None,
            outcome: Outcome::Done,
        }
    }

    /// The entry's id, when the change is about an entry.
    pub fn id(&self) -> Option<&EntryId> {
        match &self.subject {
            Subject::Entry(id) => Some(id),
            Subject::Path(_) => None,
        }
    }
}

/// A change to make to each entry of a batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EntryOp {
    /// Rename the entry's link into another state folder (hold, release,
    /// recover, and putting back a claimed entry).
    Move(State),
    /// Move to `cleanup/`, then clean up the writer's way.
    Drop,
    /// Finish a pending cleanup (the entry is in `cleanup/` already).
    Cleanup,
    /// Rewrite the next attempt (on a claimed entry).
    Schedule(Reschedule),
    /// Move a stuck inflight entry back to `queue/`, or an entry a crashed
    /// mqctl left claimed back to where it was claimed from.
    Recover,
    /// `undo`'s move back into this folder: a hold or a release taken back
    /// (as `Move`), a recover taken back (`queue/` to `inflight/`), and that
    /// taken back in turn (`inflight/` to `queue/`, by recover's rule: only
    /// once stuck).
    MoveBack(State),
    /// `undo` of a change of a held entry's note: `Item::restore` holds the
    /// note to write back (`before`; empty: no note) and the one that must
    /// be there now (`after`; empty: none).
    RestoreNote,
}

/// How a schedule rewrite sets the next attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reschedule {
    /// Set it to this time.
    SetAt(Timestamp),
    /// Push it later: `max(at, now) + by`.
    DeferBy(SignedDuration, Timestamp),
    /// Push it to at least this time.
    DeferUntil(Timestamp),
    /// Set it to the time each item carries (a spread retry).
    PerEntry,
    /// Put back the schedule each item carries (`Item::restore`), only
    /// when the current one is byte for byte the one the undone change
    /// wrote (`undo`).
    Restore,
}

/// One entry to change, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub state: State,
    pub id: EntryId,
    /// The next attempt for `Reschedule::PerEntry`.
    pub at: Option<Timestamp>,
    /// The schedules for `Reschedule::Restore`.
    pub restore: Option<Arc<Restore>>,
    /// The hold note `MoveBack(Held)` writes back, byte for byte (none: no
    /// note, as before the release it takes back).
    pub note: Option<Arc<str>>,
}

impl Item {
    pub fn new(state: State, id: EntryId) -> Item {
        Item {
            state,
            id,
            at: None,
            restore: None,
            note: None,
        }
    }
}

/// A rewrite to take back: the schedule it replaced, and the one it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restore {
    /// Written back, byte for byte.
    pub before: String,
    /// What the schedule must be now, byte for byte; anything else was
    /// changed since by someone else and is left alone.
    pub after: String,
}

/// The rules a batch follows.
#[derive(Debug, Clone)]
pub struct Policy {
    pub dry_run: bool,
    /// Inflight entries may be dropped or recovered though not stuck.
    pub force_inflight: bool,
    /// An inflight entry this long in `inflight/` is stuck.
    pub stuck_after: SignedDuration,
    /// The time ages and new schedules are measured from.
    pub now: Timestamp,
    /// A writer has the queue open: entries it has just moved wait (`FRESH`).
    pub writer_live: bool,
    /// The note an entry moved into `hold/` gets (why, until when); without
    /// one it gets a note of when it was held.
    pub hold: Option<Arc<HoldNote>>,
}

/// What is left to do for an entry after the first phase of a batch.
enum Pending {
    None,
    Cleanup,
    /// Rename the new schedule over the old one, then put the entry back.
    Rewrite {
        dest: String,
        tmp: String,
        claim: State,
        home: State,
    },
    /// Put a claimed entry back without a rewrite.
    PutBack {
        claim: State,
        home: State,
        then: Step,
    },
}

fn errno_text(e: Errno) -> String {
    e.desc().to_string()
}

/// The folders changed in a phase, synced once at its end.
#[derive(Default)]
struct Dirty {
    states: Mutex<HashSet<State>>,
    data: AtomicBool,
    notes: AtomicBool,
}

impl Dirty {
    fn mark(&self, states: &[State]) {
        self.states.lock().expect("no panics while holding it").extend(states);
    }
}

impl Queue {
    /// Applies `op` to a batch of entries in two phases, each made durable
    /// by one sync of the folders it changed: first every entry's main step
    /// (the rename; for a rewrite the claim and the new schedule in a temp
    /// sibling), then the second (the cleanup of a dropped entry; the
    /// rename over the old schedule and putting the entry back). A failed
    /// sync fails the changes it was to make durable. `stop` is checked
    /// before each entry's first step.
    /// Returns one result per item, in order; `None` for an item not
    /// started because `stop` was set.
    pub fn apply_batch(
        &self,
        op: EntryOp,
        items: &[Item],
        policy: &Policy,
        stop: &AtomicBool,
    ) -> Vec<Option<(Change, Step)>> {
        let dirty = Dirty::default();
        let mut steps: Vec<Option<(Change, Step, Pending)>> = items
            .par_iter()
            .map(|item| {
                if stop.load(Ordering::SeqCst) {
                    return None;
                }
                Some(self.first_step(op, item, policy, &dirty))
            })
            .collect();
        if let Err(e) = self.commit(&dirty) {
            for (change, step, pending) in steps.iter_mut().flatten() {
                self.not_durable(change, step, pending, &e);
            }
        }
        let dirty = Dirty::default();
        if steps.iter().flatten().any(|(_, _, p)| !matches!(p, Pending::None)) {
            steps.par_iter_mut().flatten().for_each(|(change, step, pending)| {
                self.second_step(change, step, pending, &dirty);
            });
            if let Err(e) = self.commit(&dirty) {
                for (change, step, pending) in steps.iter_mut().flatten() {
                    if !matches!(pending, Pending::None) && *step == Step::Final(Outcome::Done) {
                        change.outcome = Outcome::Failed(format!("changed, but not made durable: {e}"));
                        *step = Step::Final(change.outcome.clone());
                    }
                }
            }
        }
        steps.into_iter().map(|s| s.map(|(c, s, _)| (c, s))).collect()
    }

    /// Syncs each changed state folder once, and the data filesystem once
    /// when files were written there.
    fn commit(&self, dirty: &Dirty) -> Result<(), String> {
        let states = dirty.states.lock().expect("no panics while holding it");
        for s in states.iter() {
            if let Some(d) = self.state_dir(*s) {
                d.fsync()
                    .map_err(|e| format!("syncing {}/: {}", s.dir(), errno_text(e)))?;
            }
        }
        if dirty.data.load(Ordering::SeqCst) {
            nix::unistd::syncfs(self.data()).map_err(|e| format!("syncing data/: {}", errno_text(e)))?;
        }
        // A note not made durable is a hold without its reason, not a
        // change lost: it fails nothing.
        if dirty.notes.load(Ordering::SeqCst) {
            let _ = self.sync_hold_notes();
        }
        Ok(())
    }

    /// The first phase's sync failed: nothing it did may be reported done,
    /// and no second step may build on it (a rewrite is taken back and the
    /// entry put back; a dropped entry is left in cleanup/ for `purge`).
    fn not_durable(&self, change: &mut Change, step: &mut Step, pending: &mut Pending, e: &str) {
        match std::mem::replace(pending, Pending::None) {
            Pending::Rewrite { dest, tmp, claim, home } => {
                if let Ok(d) = self.data().open_dir(dest.as_str()) {
                    let _ = d.unlink(tmp.as_str());
                }
                change.detail = None;
                let failed = Step::Final(Outcome::Failed(format!(
                    "the new schedule could not be synced ({e}): not changed"
                )));
                *pending = Pending::PutBack {
                    claim,
                    home,
                    then: failed,
                };
                return;
            }
            p @ Pending::PutBack { .. } => {
                *pending = p;
                return;
            }
            Pending::Cleanup if change.from != Some(State::Cleanup) => {
                change.outcome = Outcome::Failed(format!(
                    "moved to cleanup/, but not synced ({e}): left for `mqctl purge`"
                ));
            }
            Pending::Cleanup => {
                *pending = Pending::Cleanup;
                return;
            }
            Pending::None if *step == Step::Final(Outcome::Done) && !change.from.eq(&change.to) => {
                change.outcome = Outcome::Failed(format!("moved, but not made durable: {e}"));
            }
            Pending::None => return,
        }
        *step = Step::Final(change.outcome.clone());
    }

    fn first_step(&self, op: EntryOp, item: &Item, policy: &Policy, dirty: &Dirty) -> (Change, Step, Pending) {
        let (from, id) = (item.state, &item.id);
        let to = match op {
            EntryOp::Move(to) | EntryOp::MoveBack(to) => to,
            EntryOp::Drop | EntryOp::Cleanup => State::Cleanup,
            EntryOp::Schedule(_) | EntryOp::RestoreNote => from,
            EntryOp::Recover => from.unclaimed().unwrap_or(State::Queued),
        };
        let mut change = Change::entry(id, from, to);
        // A hold with a reason or an end of an entry held already changes
        // its note (nothing else); undo puts a note back the same way.
        if let (EntryOp::Move(State::Held), State::Held) = (op, from)
            && let Some(note) = policy
                .hold
                .as_deref()
                .filter(|n| n.reason.is_some() || n.until.is_some())
        {
            return self.renote(id, note, policy, dirty, change);
        }
        if op == EntryOp::RestoreNote {
            return self.restore_note(item, policy, dirty, change);
        }
        let checked = match op {
            EntryOp::Move(to) => self.check_move(from, to, id, policy, false),
            EntryOp::MoveBack(State::Inflight) if from == State::Queued => self.check_unrecover(id, policy),
            EntryOp::MoveBack(to) => self.check_move(from, to, id, policy, from == State::Inflight),
            EntryOp::Recover if matches!(from, State::Inflight | State::Claimed | State::ClaimedHeld) => {
                self.check_move(from, to, id, policy, true)
            }
            EntryOp::Recover => Err(Step::Final(Outcome::Skipped(format!(
                "in {}/: only inflight and claimed entries are recovered",
                from.dir()
            )))),
            EntryOp::Drop => self.check_drop(from, id, policy),
            EntryOp::Cleanup if from != State::Cleanup => Err(Step::Final(Outcome::Skipped(format!(
                "not in cleanup/ but in {}/",
                from.dir()
            )))),
            EntryOp::Cleanup => Ok(()),
            EntryOp::Schedule(_) => self.check_rewrite(from, id, policy),
            EntryOp::RestoreNote => unreachable!("handled above"),
        };
        if let Err(step) = checked {
            return ended(change, step, Pending::None);
        }
        if let EntryOp::Schedule(r) = op {
            return self.rewrite_first(r, item, policy, dirty, change);
        }
        if policy.dry_run {
            return ended(change, Step::Final(Outcome::Done), Pending::None);
        }
        // A pending cleanup is finished where it is; anything else moves.
        if from == to {
            return ended(change, Step::Final(Outcome::Done), Pending::Cleanup);
        }
        // Into hold/: the note first, so a held entry never lacks the
        // reason it was held for; out of it: the note goes after.
        // (Undo writes back the note a release removed, or none.)
        let note: Option<String> = match op {
            _ if to != State::Held || from.is_held() => None,
            EntryOp::MoveBack(_) => item.note.as_deref().map(str::to_owned),
            _ => {
                let note = policy
                    .hold
                    .as_deref()
                    .cloned()
                    .unwrap_or_else(|| HoldNote::new(policy.now));
                Some(serde_json::to_string(&note).expect("plain data"))
            }
        };
        // Written aside first, put in place once the entry is in hold/: a
        // move that fails leaves no note and replaces none.
        let mut staged = None;
        if let Some(text) = note {
            match self.stage_hold_note(id, text.as_bytes()) {
                Ok(tmp) => {
                    staged = Some(tmp);
                    change.note = Some(text);
                }
                Err(e) => return ended(change, note_not_written(e), Pending::None),
            }
        }
        let step = self.move_step(from, to, id);
        if step != Step::Final(Outcome::Done) {
            if let Some(tmp) = staged {
                self.discard_hold_note(&tmp);
            }
            change.note = None;
            return ended(change, step, Pending::None);
        }
        if let Some(tmp) = staged {
            // Failing, the entry is held without its note (a hold works
            // without one); the temp file is `check`'s to remove.
            if self.place_hold_note(&tmp, id).is_ok() {
                dirty.notes.store(true, Ordering::SeqCst);
            } else {
                self.discard_hold_note(&tmp);
                change.note = None;
            }
        }
        if from.is_held() && !to.is_held() {
            change.note = self.hold_note_text(id);
            // A note left behind (this failing) is `check`'s to remove.
            let _ = self.remove_hold_note(id);
        }
        dirty.mark(&[from, to]);
        let pending = if to == State::Cleanup {
            Pending::Cleanup
        } else {
            Pending::None
        };
        ended(change, step, pending)
    }

    /// Renames an entry's link, mapping the errors to what they mean.
    fn move_step(&self, from: State, to: State, id: &EntryId) -> Step {
        if let Err(e) = self.ensure_state_dir(to) {
            return no_space_or(e);
        }
        match self.move_entry(from, to, id) {
            Ok(()) => Step::Final(Outcome::Done),
            Err(Errno::ENOENT) => Step::Final(Outcome::Vanished),
            Err(Errno::ENOSPC | Errno::EDQUOT) => Step::Retry(Retry::NoSpace),
            Err(Errno::EEXIST | Errno::ENOTEMPTY) => Step::Final(Outcome::Failed(format!(
                "{}/{id} already exists: the entry is in two folders (see `mqctl check`)",
                to.dir()
            ))),
            Err(e) => Step::Final(Outcome::Failed(format!(
                "renaming {}/{id} to {}/: {}",
                from.dir(),
                to.dir(),
                errno_text(e)
            ))),
        }
    }

    /// The claim, the schedule read and the new schedule in a temp sibling.
    fn rewrite_first(
        &self,
        r: Reschedule,
        item: &Item,
        policy: &Policy,
        dirty: &Dirty,
        mut change: Change,
    ) -> (Change, Step, Pending) {
        let (from, id) = (item.state, &item.id);
        let claim = from
            .claim()
            .expect("checked: only queued and held entries are rewritten");
        let end = |mut change: Change, o: Outcome| {
            change.outcome = o.clone();
            (change, Step::Final(o), Pending::None)
        };
        if !policy.dry_run {
            if let Err(e) = self.ensure_state_dir(claim) {
                return match no_space_or(e) {
                    Step::Final(o) => end(change, o),
                    retry => (change, retry, Pending::None),
                };
            }
            match self.move_entry(from, claim, id) {
                Ok(()) => dirty.mark(&[from, claim]),
                Err(Errno::ENOSPC) => return (change, Step::Retry(Retry::NoSpace), Pending::None),
                Err(Errno::ENOENT) => return end(change, Outcome::Vanished),
                Err(Errno::EEXIST | Errno::ENOTEMPTY) => {
                    return end(
                        change,
                        Outcome::Failed(format!(
                            "{}/{id} already exists: another mqctl is changing it, or a crash left it there (`mqctl recover` puts it back)",
                            claim.dir()
                        )),
                    );
                }
                Err(e) => {
                    return end(
                        change,
                        Outcome::Failed(format!(
                            "claiming it ({}/ to {}/): {}",
                            from.dir(),
                            claim.dir(),
                            errno_text(e)
                        )),
                    );
                }
            }
        }
        // From here on the entry is ours (unless a dry run): every way out
        // puts it back.
        let put_back = |mut change: Change, then: Step| {
            if let Step::Final(o) = &then {
                change.outcome = o.clone();
            }
            if policy.dry_run {
                return (change, then, Pending::None);
            }
            let home = from;
            (
                change,
                Step::Final(Outcome::Done),
                Pending::PutBack { claim, home, then },
            )
        };
        let at_state = if policy.dry_run { from } else { claim };
        let (dest_path, dest, buf, meta) = match self.read_schedule(at_state, id) {
            Ok(x) => x,
            Err(o) => return put_back(change, Step::Final(o)),
        };
        let (new_at, body) = match new_schedule(r, item, &buf) {
            Ok(x) => x,
            Err(o) => return put_back(change, Step::Final(o)),
        };
        let text = parse::format_timestamp(new_at);
        change.detail = Some(format!("at {text}"));
        change.before = Some(String::from_utf8_lossy(&buf).into_owned());
        if policy.dry_run {
            return (change, Step::Final(Outcome::Done), Pending::None);
        }
        match write_temp(&dest, "schedule", body.as_bytes(), (meta.uid, meta.gid)) {
            Ok(tmp) => {
                change.after = Some(body);
                dirty.data.store(true, Ordering::SeqCst);
                let home = from;
                (
                    change,
                    Step::Final(Outcome::Done),
                    Pending::Rewrite {
                        dest: dest_path,
                        tmp,
                        claim,
                        home,
                    },
                )
            }
            Err(Errno::ENOSPC | Errno::EDQUOT) => {
                change.detail = None;
                change.before = None;
                change.after = None;
                put_back(change, Step::Retry(Retry::NoSpace))
            }
            Err(e) => put_back(
                change,
                Step::Final(Outcome::Failed(format!(
                    "writing a new schedule in data/{dest_path}: {}",
                    errno_text(e)
                ))),
            ),
        }
    }

    /// An entry's dest folder (its path under data/, and opened) and its
    /// `schedule`, read through the entry's link in `state`.
    fn read_schedule(&self, state: State, id: &EntryId) -> Result<(String, Dir, Vec<u8>, Meta), Outcome> {
        let link = self.entry_link(state, id)?;
        let dest_path = link.dest_path();
        let dest = match self.data().open_dir(dest_path.as_str()) {
            Ok(d) => d,
            Err(Errno::ENOENT) => return Err(Outcome::Failed("its data folder is gone (see `mqctl check`)".into())),
            Err(e) => return Err(Outcome::Failed(format!("opening data/{dest_path}: {}", errno_text(e)))),
        };
        let mut buf = Vec::new();
        let meta = match dest.read_file_into("schedule", MAX_JSON_FILE, &mut buf) {
            Ok(m) => m,
            Err(ReadError::NotFound) => return Err(Outcome::Failed("schedule is missing (see `mqctl check`)".into())),
            Err(e) => return Err(Outcome::Failed(format!("schedule {e}"))),
        };
        Ok((dest_path, dest, buf, meta))
    }

    /// The bytes of an entry's `schedule`, read through its link in
    /// `state` (what `undo --dry-run` compares).
    pub fn schedule_bytes(&self, state: State, id: &EntryId) -> Result<Vec<u8>, Outcome> {
        self.read_schedule(state, id).map(|(_, _, buf, _)| buf)
    }

    fn second_step(&self, change: &mut Change, step: &mut Step, pending: &Pending, dirty: &Dirty) {
        match pending {
            Pending::None => {}
            Pending::Cleanup => {
                // The entry is ours now; a cleanup that fails leaves it in
                // cleanup/, where `purge` or the writer's start-up finishes it.
                dirty.mark(&[State::Cleanup]);
                change.outcome = match (self.cleanup(change.id().expect("an entry")), change.from) {
                    (Ok(()), _) => Outcome::Done,
                    (Err(CleanupError::Vanished), Some(State::Cleanup)) => Outcome::Vanished,
                    (Err(CleanupError::Vanished), _) => Outcome::Done,
                    (Err(e), Some(State::Cleanup)) => Outcome::Failed(e.to_string()),
                    (Err(e), _) => Outcome::Failed(format!("moved to cleanup/ but not cleaned up: {e}")),
                };
                *step = Step::Final(change.outcome.clone());
            }
            Pending::Rewrite { dest, tmp, claim, home } => {
                let renamed = self.data().open_dir(dest.as_str()).and_then(|d| {
                    d.rename_over(tmp.as_str(), "schedule").inspect_err(|_| {
                        let _ = d.unlink(tmp.as_str());
                    })
                });
                dirty.data.store(true, Ordering::SeqCst);
                let id = change.id().expect("an entry").clone();
                let then = match renamed {
                    Ok(()) => Step::Final(Outcome::Done),
                    // Our claim keeps the writer and other mqctl runs away;
                    // only someone removing files by hand gets here.
                    Err(Errno::ENOENT) => Step::Final(Outcome::Vanished),
                    Err(e) => Step::Final(Outcome::Failed(format!(
                        "renaming data/{dest}/{tmp} over schedule: {}",
                        errno_text(e)
                    ))),
                };
                *step = self.put_back(&id, *claim, *home, then, change, dirty);
            }
            Pending::PutBack { claim, home, then } => {
                let id = change.id().expect("an entry").clone();
                *step = self.put_back(&id, *claim, *home, then.clone(), change, dirty);
            }
        }
    }

    /// Renames a claimed entry back home; `then` is what the change came to.
    fn put_back(
        &self,
        id: &EntryId,
        claim: State,
        home: State,
        then: Step,
        change: &mut Change,
        dirty: &Dirty,
    ) -> Step {
        let step = match self.move_entry(claim, home, id) {
            Ok(()) => {
                dirty.mark(&[claim, home]);
                then
            }
            // Taken from the claim folder by someone (`recover` after a
            // crash it mistook us for): the rewrite itself is done.
            Err(Errno::ENOENT) => then,
            Err(e) => Step::Final(Outcome::Failed(format!(
                "{}; but it could not be put back from {}/ to {}/ ({}): `mqctl recover` puts it back",
                match &then {
                    Step::Final(Outcome::Done) => "changed".to_string(),
                    Step::Final(o) => o.reason().unwrap_or(o.word()).to_string(),
                    Step::Retry(_) => "not changed".to_string(),
                },
                claim.dir(),
                home.dir(),
                errno_text(e)
            ))),
        };
        if let Step::Final(o) = &step {
            change.outcome = o.clone();
        }
        step
    }

    /// Whether an entry of `queue/` was moved there a moment ago: then the
    /// writer is about to rewrite its schedule (it only does that right
    /// after moving an entry back from inflight/), and must not find it gone.
    fn is_fresh(&self, state: State, id: &EntryId, policy: &Policy) -> bool {
        if !policy.writer_live || state != State::Queued {
            return false;
        }
        // Gone since it was checked: the writer is moving it (to inflight/
        // and back, most likely), so taking it now could catch it in the
        // moment between the writer's moves; it waits like a fresh one (a
        // later try finds it vanished if it is really gone).
        let Some(m) = self.stat_entry(state, id.as_bytes()) else {
            return true;
        };
        let Ok(since) = Timestamp::new(m.ctime.0, m.ctime.1 as i32) else {
            return false;
        };
        // The real clock: the link's change time is the kernel's.
        Timestamp::now().duration_since(since) < FRESH
    }

    /// A held entry gets a new note: the reason and the end given replace
    /// the old ones, what is not given is kept, and it stays held since it
    /// was held. The note is written aside and renamed over the old one; an
    /// entry released meanwhile loses the note again (vanished).
    fn renote(
        &self,
        id: &EntryId,
        given: &HoldNote,
        policy: &Policy,
        dirty: &Dirty,
        mut change: Change,
    ) -> (Change, Step, Pending) {
        if let Err(step) = self.check_is_link(State::Held, id) {
            return ended(change, step, Pending::None);
        }
        let old_text = self.hold_note_text(id);
        let old: Option<HoldNote> = old_text.as_deref().and_then(|t| serde_json::from_str(t).ok());
        let new = HoldNote {
            reason: given
                .reason
                .clone()
                .or_else(|| old.as_ref().and_then(|o| o.reason.clone())),
            until: given.until.or_else(|| old.as_ref().and_then(|o| o.until)),
            since: old.as_ref().map_or(given.since, |o| o.since),
            user: given.user.clone(),
        };
        if old
            .as_ref()
            .is_some_and(|o| o.reason == new.reason && o.until == new.until)
        {
            let same = Outcome::Skipped("already held for that reason and until then".into());
            return ended(change, Step::Final(same), Pending::None);
        }
        change.detail = Some(describe_note(&new));
        if policy.dry_run {
            return ended(change, Step::Final(Outcome::Done), Pending::None);
        }
        let text = serde_json::to_string(&new).expect("plain data");
        let step = self.replace_note(id, Some(&text), dirty);
        if step == Step::Final(Outcome::Done) {
            change.note = Some(text);
            change.note_before = old_text;
        }
        ended(change, step, Pending::None)
    }

    /// `undo` of a note change: the note that change wrote (or none) must
    /// be the entry's note now; the one it replaced (or none) goes back.
    fn restore_note(&self, item: &Item, policy: &Policy, dirty: &Dirty, mut change: Change) -> (Change, Step, Pending) {
        let id = &item.id;
        let Some(r) = &item.restore else {
            let none = Outcome::Failed("no note given to put back".into());
            return ended(change, Step::Final(none), Pending::None);
        };
        if let Err(step) = self.check_is_link(State::Held, id) {
            return ended(change, step, Pending::None);
        }
        let now = self.hold_note_text(id).unwrap_or_default();
        if now != r.after {
            let since = Outcome::Skipped(format!(
                "{CHANGED_SINCE}: its hold note is not the one that change wrote"
            ));
            return ended(change, Step::Final(since), Pending::None);
        }
        let back = (!r.before.is_empty()).then_some(r.before.as_str());
        if let Some(n) = back.and_then(|b| serde_json::from_str::<HoldNote>(b).ok()) {
            change.detail = Some(describe_note(&n));
        }
        if policy.dry_run {
            return ended(change, Step::Final(Outcome::Done), Pending::None);
        }
        let step = self.replace_note(id, back, dirty);
        if step == Step::Final(Outcome::Done) {
            change.note = back.map(str::to_owned);
            change.note_before = (!now.is_empty()).then_some(now);
        }
        ended(change, step, Pending::None)
    }

    /// Writes (or, with `None`, removes) a held entry's note; the entry
    /// must still be in `hold/` afterwards, else the note goes again.
    fn replace_note(&self, id: &EntryId, text: Option<&str>, dirty: &Dirty) -> Step {
        let written = match text {
            Some(t) => self.write_hold_note(id, t.as_bytes()),
            None => self.remove_hold_note(id),
        };
        if let Err(e) = written {
            return note_not_written(e);
        }
        dirty.notes.store(true, Ordering::SeqCst);
        if self.stat_entry(State::Held, id.as_bytes()).is_none() {
            // Released or dropped meanwhile: that change removed the note
            // it found; this one is not left behind.
            let _ = self.remove_hold_note(id);
            return Step::Final(Outcome::Vanished);
        }
        Step::Final(Outcome::Done)
    }

    /// Only symlinks are entries: a file or folder there is for `check`.
    fn check_is_link(&self, state: State, id: &EntryId) -> Result<(), Step> {
        match self.stat_entry(state, id.as_bytes()) {
            None => Err(Step::Final(Outcome::Vanished)),
            Some(m) if m.kind != Kind::Symlink => Err(Step::Final(Outcome::Skipped(format!(
                "a {}, not an entry: left for `mqctl check`",
                m.kind.describe()
            )))),
            Some(_) => Ok(()),
        }
    }

    /// `recover`: the move is the recover verb's (which alone takes
    /// inflight and claimed entries).
    fn check_move(&self, from: State, to: State, id: &EntryId, policy: &Policy, recover: bool) -> Result<(), Step> {
        if from == to {
            return Err(Step::Final(Outcome::Skipped(format!("already in {}/", to.dir()))));
        }
        // What is never allowed is refused first; then the entry must be
        // there, and be an entry.
        let allowed = match (from, to) {
            (State::Queued, State::Held) | (State::Held, State::Queued) => true,
            (State::Inflight, State::Queued) | (State::Claimed, State::Queued) | (State::ClaimedHeld, State::Held) => {
                recover
            }
            _ => false,
        };
        if allowed {
            self.check_is_link(from, id)?;
        }
        match (from, to) {
            (State::Queued, State::Held) => {
                self.check_target(from, id)?;
                if self.is_fresh(from, id, policy) {
                    return Err(Step::Retry(Retry::Fresh));
                }
                Ok(())
            }
            (State::Held, State::Queued) => self.check_target(from, id),
            (State::Inflight, State::Queued) if recover => {
                self.check_stuck(
                    id,
                    policy,
                    "a writer may be sending it: use --force if its writer is gone",
                )?;
                self.check_target(from, id)
            }
            (State::Inflight, State::Queued) => Err(Step::Final(Outcome::Skipped(
                "inflight: a writer is sending it (use `recover` if its writer died)".into(),
            ))),
            (State::Claimed, State::Queued) | (State::ClaimedHeld, State::Held) if recover => {
                self.check_target(from, id)
            }
            (State::Inflight, _) => Err(Step::Final(Outcome::Skipped("inflight: a writer is sending it".into()))),
            (State::Cleanup, _) => Err(Step::Final(Outcome::Skipped(
                "in cleanup/: already sent or dropped".into(),
            ))),
            (State::Claimed | State::ClaimedHeld, _) => Err(Step::Final(Outcome::Skipped(format!(
                "in {}/: a running mqctl is changing it",
                from.dir()
            )))),
            _ => Err(Step::Final(Outcome::Skipped(format!(
                "cannot move from {}/ to {}/",
                from.dir(),
                to.dir()
            )))),
        }
    }

    /// An inflight entry is taken only once it is stuck, or with --force.
    fn check_stuck(&self, id: &EntryId, policy: &Policy, hint: &str) -> Result<(), Step> {
        if policy.force_inflight {
            return Ok(());
        }
        let m = self
            .stat_entry(State::Inflight, id.as_bytes())
            .ok_or(Step::Final(Outcome::Vanished))?;
        let since = Timestamp::new(m.ctime.0, m.ctime.1 as i32).unwrap_or(policy.now);
        if is_stuck(since, policy.now, policy.stuck_after) {
            return Ok(());
        }
        Err(Step::Final(Outcome::Skipped(format!(
            "inflight for only {} ({hint})",
            crate::human::human_duration(policy.now.duration_since(since).as_secs().max(0))
        ))))
    }

    /// Refuses to hand anyone an entry they would follow out of the queue:
    /// the writer's cleanup (and its sending) trust any link starting with
    /// `../data` and follow symlinked folders, so every move needs the
    /// exact link form and plain folders (a dangling entry is fine).
    fn check_target(&self, from: State, id: &EntryId) -> Result<(), Step> {
        let link = self.entry_link(from, id).map_err(Step::Final)?;
        match self.data().open_dir_path(link.dest_path().as_str()) {
            Ok(_) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(Step::Final(Outcome::Failed(format!(
                "data/{} is not a plain folder ({}): not followed (see `mqctl check`)",
                link.dest_path(),
                errno_text(e)
            )))),
        }
    }

    fn check_drop(&self, from: State, id: &EntryId, policy: &Policy) -> Result<(), Step> {
        match from {
            State::Queued | State::Held | State::Cleanup => {}
            State::Inflight => self.check_stuck(
                id,
                policy,
                "a writer may be sending it: use --force, or `recover` first",
            )?,
            State::Claimed | State::ClaimedHeld => return Err(claimed_by_another(from)),
        }
        self.check_is_link(from, id)?;
        // A link that is not exactly ../data/<mail>/<dest> must never reach
        // cleanup/: the writer's cleanup would follow it.
        self.check_target(from, id)?;
        if self.is_fresh(from, id, policy) {
            return Err(Step::Retry(Retry::Fresh));
        }
        Ok(())
    }

    fn check_rewrite(&self, from: State, id: &EntryId, policy: &Policy) -> Result<(), Step> {
        match from {
            State::Queued | State::Held => {}
            State::Inflight => {
                return Err(Step::Final(Outcome::Skipped(
                    "inflight: a writer is sending it right now (recover it first if its writer died)".into(),
                )));
            }
            State::Cleanup => {
                return Err(Step::Final(Outcome::Skipped(
                    "in cleanup/: already sent or dropped".into(),
                )));
            }
            State::Claimed | State::ClaimedHeld => return Err(claimed_by_another(from)),
        }
        self.check_is_link(from, id)?;
        self.check_target(from, id)?;
        if self.is_fresh(from, id, policy) {
            return Err(Step::Retry(Retry::Fresh));
        }
        Ok(())
    }

    /// `undo` of a recover: the entry goes back into `inflight/`, where
    /// the writer's start-up (or `recover`) takes it back as before; so its
    /// link must be exactly the writer's, and an entry the writer has just
    /// moved waits.
    fn check_unrecover(&self, id: &EntryId, policy: &Policy) -> Result<(), Step> {
        self.check_is_link(State::Queued, id)?;
        self.check_target(State::Queued, id)?;
        if self.is_fresh(State::Queued, id, policy) {
            return Err(Step::Retry(Retry::Fresh));
        }
        Ok(())
    }

    /// How long an inflight entry has been there: the change time of its
    /// link, which the rename into inflight/ set.
    pub fn inflight_age(&self, id: &EntryId, now: Timestamp) -> Option<SignedDuration> {
        let m = self.stat_entry(State::Inflight, id.as_bytes())?;
        let since = Timestamp::new(m.ctime.0, m.ctime.1 as i32).ok()?;
        Some(now.duration_since(since))
    }

    /// Renames `from/<id>` to `to/<id>`, never replacing.
    pub fn move_entry(&self, from: State, to: State, id: &EntryId) -> Result<(), Errno> {
        let (Some(src), Some(dst)) = (self.state_dir(from), self.state_dir(to)) else {
            return Err(Errno::ENOENT);
        };
        src.move_noreplace(id.as_bytes(), dst, id.as_bytes())
    }
}

/// The next attempt and the bytes a rewrite writes over `current` (the
/// schedule as read). Unknown fields and last_attempt stay as they were;
/// only `at` changes, except for a restore, which writes the bytes it was
/// given once `current` is byte for byte what the undone change wrote.
fn new_schedule(r: Reschedule, item: &Item, current: &[u8]) -> Result<(Timestamp, String), Outcome> {
    if r == Reschedule::Restore {
        let Some(restore) = &item.restore else {
            return Err(Outcome::Failed("no schedule given to put back".into()));
        };
        if current != restore.after.as_bytes() {
            return Err(Outcome::Skipped(format!(
                "{CHANGED_SINCE}: its schedule is not the one that change wrote"
            )));
        }
        let s = parse::schedule(restore.before.as_bytes())
            .map_err(|e| Outcome::Failed(format!("the schedule to put back is invalid: {e}")))?;
        return Ok((s.at, restore.before.clone()));
    }
    let mut doc: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(current)
        .map_err(|e| Outcome::Failed(format!("schedule is not valid JSON ({e}); not rewritten")))?;
    let parsed = parse::schedule(current).map_err(|e| Outcome::Failed(format!("schedule invalid: {e}")))?;
    let new_at = match (r, item.at) {
        (Reschedule::SetAt(t), _) | (Reschedule::PerEntry, Some(t)) => t,
        (Reschedule::DeferBy(d, now), _) => parsed.at.max(now) + d,
        (Reschedule::DeferUntil(t), _) if t <= parsed.at => {
            return Err(Outcome::Skipped("already later than that".into()));
        }
        (Reschedule::DeferUntil(t), _) => t,
        (Reschedule::PerEntry, None) => return Err(Outcome::Failed("no time given for this entry".into())),
        (Reschedule::Restore, _) => unreachable!("handled above"),
    };
    doc.insert("at".into(), serde_json::Value::String(parse::format_timestamp(new_at)));
    Ok((
        new_at,
        serde_json::to_string(&doc).expect("a JSON map always serialises"),
    ))
}

/// A note that could not be written: for lack of space, a retry (the
/// batch shrinks); else the change fails, saying why.
fn note_not_written(e: Errno) -> Step {
    match e {
        Errno::ENOSPC | Errno::EDQUOT => Step::Retry(Retry::NoSpace),
        e => Step::Final(Outcome::Failed(format!(
            "writing its note in {}/: {}",
            super::holds::NOTES,
            errno_text(e)
        ))),
    }
}

/// What a note says, for the change's line: `reason "quota", until …`.
fn describe_note(n: &HoldNote) -> String {
    let mut parts = Vec::new();
    if let Some(r) = &n.reason {
        parts.push(format!("reason \"{}\"", crate::escape::escape(r)));
    }
    if let Some(u) = n.until {
        parts.push(format!("until {}", parse::format_timestamp(u)));
    }
    if parts.is_empty() {
        parts.push("no reason, no end".into());
    }
    parts.join(", ")
}

/// A folder that cannot be made: for lack of space, a retry; else a failure.
/// An entry in a claim folder is another mqctl's, changing it now.
fn claimed_by_another(from: State) -> Step {
    Step::Final(Outcome::Skipped(format!(
        "in {}/: a running mqctl is changing it",
        from.dir()
    )))
}

fn no_space_or(e: crate::Error) -> Step {
    match &e {
        crate::Error::Io { source, .. } if matches!(source.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)) => {
            Step::Retry(Retry::NoSpace)
        }
        _ => Step::Final(Outcome::Failed(e.to_string())),
    }
}

/// A first step's result, with the change's outcome set from it.
fn ended(mut change: Change, step: Step, pending: Pending) -> (Change, Step, Pending) {
    if let Step::Final(o) = &step {
        change.outcome = o.clone();
    }
    (change, step, pending)
}

impl Queue {
    /// Reads and validates an entry's link.
    pub fn entry_link(&self, state: State, id: &EntryId) -> Result<Link, Outcome> {
        let dir = self.state_dir(state).ok_or(Outcome::Vanished)?;
        let mut buf = Vec::new();
        match dir.read_link_into(id.as_bytes(), &mut buf) {
            Ok(()) => {}
            Err(Errno::ENOENT) => return Err(Outcome::Vanished),
            Err(e) => return Err(Outcome::Failed(format!("reading the link: {}", errno_text(e)))),
        }
        Link::parse(&buf).ok_or_else(|| {
            Outcome::Failed(format!(
                "link text \"{}\" is not ../data/<mail>/<dest>: not followed (see `mqctl check`)",
                crate::escape::escape_bytes(&buf)
            ))
        })
    }

    /// The writer's cleanup of `cleanup/<id>`, each step tolerant of "not
    /// found" so it can be re-run or run by two processes at once. Leftover
    /// temp files are removed first (the writer's rmdir would fail on them).
    pub fn cleanup(&self, id: &EntryId) -> Result<(), CleanupError> {
        let link = self.entry_link(State::Cleanup, id).map_err(|o| match o {
            Outcome::Vanished => CleanupError::Vanished,
            Outcome::Failed(s) | Outcome::Skipped(s) => CleanupError::Refused(s),
            o @ (Outcome::Done | Outcome::NoSpace) => CleanupError::Refused(o.word().into()),
        })?;
        // The same entry still in another folder (an interrupted move):
        // removing the files would leave that link dangling and lose the
        // mail. `check --repair` keeps the other one.
        if let Some(other) = self.locate(id.as_bytes()).into_iter().find(|s| *s != State::Cleanup) {
            return Err(CleanupError::Refused(format!(
                "the entry is also in {}/: left for `mqctl check --repair`",
                other.dir()
            )));
        }
        let cleanup_dir = self.state_dir(State::Cleanup).ok_or(CleanupError::Vanished)?;
        let mail_name = link.mail.to_string();
        let dest_name = link.dest.to_string();
        let gone = |r: Result<(), Errno>| match r {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e),
        };
        match self.data().open_dir(mail_name.as_str()) {
            Ok(mail) => {
                match mail.open_dir(dest_name.as_str()) {
                    Ok(dest) => {
                        let children = dest
                            .children()
                            .map_err(|e| CleanupError::io("listing the dest folder", e))?;
                        // Look at every name before removing any: a folder
                        // left for `check` keeps its envelope and schedule.
                        for (name, kind) in &children {
                            let known = &**name == b"schedule" || &**name == b"metadata" || is_temp_name(name);
                            if !known || *kind == Some(Kind::Dir) {
                                return Err(CleanupError::Refused(format!(
                                    "data/{}/{} holds \"{}\", which is not the writer's: left for `mqctl check`",
                                    mail_name,
                                    dest_name,
                                    crate::escape::escape_bytes(name)
                                )));
                            }
                        }
                        for (name, _) in &children {
                            gone(dest.unlink(&**name)).map_err(|e| CleanupError::io("removing a file", e))?;
                        }
                        gone(mail.rmdir(dest_name.as_str()))
                            .map_err(|e| CleanupError::io("removing the dest folder", e))?;
                    }
                    Err(Errno::ENOENT) => {}
                    Err(e) => return Err(CleanupError::io("opening the dest folder", e)),
                }
                let rest = mail
                    .children()
                    .map_err(|e| CleanupError::io("listing the mail folder", e))?;
                let only_contents = rest.len() == 1 && &*rest[0].0 == b"contents";
                // Empty: an earlier cleanup was stopped between removing
                // contents and the folder; finish it.
                if only_contents || rest.is_empty() {
                    if only_contents {
                        gone(mail.unlink("contents")).map_err(|e| CleanupError::io("removing contents", e))?;
                    }
                    match self.data().rmdir(mail_name.as_str()) {
                        // Not empty: a concurrent process made something
                        // there; `check` will see it.
                        Ok(()) | Err(Errno::ENOENT) | Err(Errno::ENOTEMPTY) => {}
                        Err(e) => return Err(CleanupError::io("removing the mail folder", e)),
                    }
                }
            }
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(CleanupError::io("opening the mail folder", e)),
        }
        match cleanup_dir.unlink(id.as_bytes()) {
            Ok(()) => Ok(()),
            // Another process finished this cleanup first: it counts it.
            Err(Errno::ENOENT) => Err(CleanupError::Vanished),
            Err(e) => Err(CleanupError::io("removing the link", e)),
        }
    }
}

/// Why a cleanup did not finish.
#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error("another process finished it")]
    Vanished,
    #[error("{0}")]
    Refused(String),
    #[error("{what}: {}", errno.desc())]
    Io { what: &'static str, errno: Errno },
}

impl CleanupError {
    fn io(what: &'static str, errno: Errno) -> CleanupError {
        CleanupError::Io { what, errno }
    }
}

/// `schedule.<uuid>` / `metadata.<uuid>`: the writer's temp files.
pub fn is_temp_name(name: &[u8]) -> bool {
    let rest = name
        .strip_prefix(b"schedule.")
        .or_else(|| name.strip_prefix(b"metadata."));
    rest.is_some_and(|u| super::parse_uuid(u).is_some())
}

/// Writes `body` to a new temp sibling `NAME.<uuid>` (0600, with the old
/// file's owner when we run as root) and returns its name. The caller syncs
/// it and renames it over `NAME`: the writer's rewrite, made durable.
pub fn write_temp(dir: &Dir, name: &str, body: &[u8], owner: (u32, u32)) -> Result<String, Errno> {
    use std::io::Write;
    let tmp = format!("{name}.{}", uuid::Uuid::new_v4().hyphenated());
    let result = (|| {
        let mut f = dir.create_file(tmp.as_str(), 0o600)?;
        if nix::unistd::geteuid().is_root() {
            nix::unistd::fchown(
                &f,
                Some(nix::unistd::Uid::from_raw(owner.0)),
                Some(nix::unistd::Gid::from_raw(owner.1)),
            )?;
        }
        f.write_all(body).map_err(io_errno)
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = dir.unlink(tmp.as_str());
            Err(e)
        }
    }
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}
