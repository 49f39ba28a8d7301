//! Changing entries: moves between state folders, schedule rewrites, the
//! writer's cleanup, and purging leftovers. Every move is a rename of the
//! entry's symlink that never replaces anything; every rewrite is a temp
//! sibling renamed over the file. "Not found" means another process took the
//! entry first: it is reported as vanished, never as a failure.
//!
//! Bulk work runs in batches: the entries of a batch are handled in
//! parallel, then the folders they changed are synced once (group commit),
//! and only then are the changes reported as done.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::{SignedDuration, Timestamp};
use nix::errno::Errno;
use rayon::prelude::*;

use super::sys::{Dir, Kind, ReadError};
use super::{EntryId, Link, MAX_JSON_FILE, Queue, State, parse};

/// How many entries are handled between two group commits.
pub const BATCH: usize = 1024;

/// What happened to one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Changed (or, in a dry run, would be changed).
    Done,
    /// Gone before we could act: another process moved it.
    Vanished,
    /// Left alone on purpose (why is in the text).
    Skipped(String),
    Failed(String),
}

/// What is left to do for an entry after the first phase of a batch.
enum Second {
    None,
    Cleanup,
    Rename { link: Link, tmp: String },
}

/// One entry's change, as reported to the user and the log.
#[derive(Debug, Clone)]
pub struct Change {
    pub id: EntryId,
    pub from: State,
    pub to: State,
    /// What changed beyond the folder (e.g. the new `at`).
    pub detail: Option<String>,
    pub outcome: Outcome,
}

/// A change to make to each selected entry.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    /// Rename the entry's link into another state folder.
    Move(State),
    /// Move to `cleanup/`, then clean up the writer's way.
    Drop,
    /// Finish a pending cleanup (the entry is in `cleanup/` already).
    Cleanup,
    /// Set the next attempt to this time.
    SetAt(Timestamp),
    /// Push the next attempt later: `max(at, now) + by`.
    DeferBy(SignedDuration, Timestamp),
    /// Push the next attempt to at least this time.
    DeferUntil(Timestamp),
}

impl Op {
    /// The verb in summaries: "12 dropped".
    pub fn past(&self) -> &'static str {
        match self {
            Op::Move(State::Held) => "held",
            Op::Move(State::Queued) => "moved to queue",
            Op::Move(_) => "moved",
            Op::Drop => "dropped",
            Op::Cleanup => "cleaned up",
            Op::SetAt(_) => "rescheduled",
            Op::DeferBy(..) | Op::DeferUntil(_) => "deferred",
        }
    }

    /// The name in the log.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Move(State::Held) => "hold",
            Op::Move(State::Queued) => "release",
            Op::Move(_) => "move",
            Op::Drop => "drop",
            Op::Cleanup => "cleanup",
            Op::SetAt(_) => "reschedule",
            Op::DeferBy(..) | Op::DeferUntil(_) => "defer",
        }
    }

    fn target(&self, from: State) -> State {
        match self {
            Op::Move(to) => *to,
            Op::Drop | Op::Cleanup => State::Cleanup,
            Op::SetAt(_) | Op::DeferBy(..) | Op::DeferUntil(_) => from,
        }
    }
}

/// Options for `apply`.
pub struct Apply<'a> {
    pub dry_run: bool,
    /// Set by a signal handler: stop after the entry at hand.
    pub stop: &'a AtomicBool,
    /// Inflight entries may be dropped (`--force`), or those older than this.
    pub force_inflight: bool,
    pub inflight_stale_after: Option<SignedDuration>,
    pub now: Timestamp,
}

fn errno_text(e: Errno) -> String {
    e.desc().to_string()
}

impl Queue {
    /// Applies `op` to each `(state, id)`, in batches. Each batch runs in two
    /// phases with a group commit after each: first every entry's main step
    /// (the rename, or writing the new schedule to a temp sibling), then the
    /// folders are synced once, then the second step (the cleanup of a
    /// dropped entry, or renaming the temp schedule over the old one), and a
    /// sync again. `report` sees each change once it is durable. Returns
    /// true when it stopped early because `stop` was set.
    pub fn apply(
        &mut self,
        op: Op,
        entries: &[(State, EntryId)],
        opts: &Apply,
        report: &mut dyn FnMut(&Change),
    ) -> crate::Result<bool> {
        if !opts.dry_run {
            match op {
                Op::Move(to) => {
                    self.ensure_state_dir(to)?;
                }
                Op::Drop => {
                    self.ensure_state_dir(State::Cleanup)?;
                }
                _ => {}
            }
        }
        let this: &Queue = self;
        for batch in entries.chunks(BATCH) {
            if opts.stop.load(Ordering::SeqCst) {
                return Ok(true);
            }
            let dirty = Mutex::new(HashSet::new());
            let mut steps: Vec<(Change, Second)> = batch
                .par_iter()
                .filter_map(|(state, id)| {
                    if opts.stop.load(Ordering::SeqCst) {
                        return None;
                    }
                    Some(this.first_step(op, *state, id, opts, &dirty))
                })
                .collect();
            let dirty = dirty.into_inner().expect("no panics while holding it");
            this.commit(&dirty, steps.iter().any(|(_, s)| matches!(s, Second::Rename { .. })));
            if steps.iter().any(|(_, s)| !matches!(s, Second::None)) {
                steps
                    .par_iter_mut()
                    .for_each(|(change, second)| this.second_step(change, second));
                let cleaned = steps.iter().any(|(_, s)| matches!(s, Second::Cleanup));
                let renamed = steps.iter().any(|(_, s)| matches!(s, Second::Rename { .. }));
                this.commit(
                    &if cleaned {
                        HashSet::from([State::Cleanup])
                    } else {
                        HashSet::new()
                    },
                    renamed,
                );
            }
            for (c, _) in &steps {
                report(c);
            }
        }
        Ok(opts.stop.load(Ordering::SeqCst))
    }

    /// Makes a phase durable: each changed state folder is synced once, and
    /// the data filesystem once when schedules were written.
    fn commit(&self, dirty: &HashSet<State>, data: bool) {
        for s in dirty {
            if let Some(d) = self.state_dir(*s) {
                let _ = d.fsync();
            }
        }
        if data {
            let _ = nix::unistd::syncfs(self.data());
        }
    }

    fn first_step(
        &self,
        op: Op,
        from: State,
        id: &EntryId,
        opts: &Apply,
        dirty: &Mutex<HashSet<State>>,
    ) -> (Change, Second) {
        let to = op.target(from);
        let mut change = Change {
            id: id.clone(),
            from,
            to,
            detail: None,
            outcome: Outcome::Done,
        };
        let mark = |a: State, b: State| {
            let mut d = dirty.lock().expect("no panics while holding it");
            d.insert(a);
            d.insert(b);
        };
        let mut second = Second::None;
        change.outcome = match op {
            Op::Move(to) => self.check_move(from, to, id, opts).unwrap_or_else(|| {
                if opts.dry_run {
                    return Outcome::Done;
                }
                let o = self.move_entry(from, to, id);
                if o == Outcome::Done {
                    mark(from, to);
                }
                o
            }),
            Op::Drop => self.check_drop(from, id, opts).unwrap_or_else(|| {
                if opts.dry_run {
                    return Outcome::Done;
                }
                let moved = if from == State::Cleanup {
                    Outcome::Done
                } else {
                    self.move_entry(from, State::Cleanup, id)
                };
                if moved == Outcome::Done {
                    mark(from, State::Cleanup);
                    second = Second::Cleanup;
                }
                moved
            }),
            Op::Cleanup => {
                if !opts.dry_run {
                    second = Second::Cleanup;
                }
                Outcome::Done
            }
            Op::SetAt(_) | Op::DeferBy(..) | Op::DeferUntil(_) => match self.prepare_schedule(from, id, op, opts) {
                Ok(Some((detail, pending))) => {
                    change.detail = Some(detail);
                    if let Some((link, tmp)) = pending {
                        second = Second::Rename { link, tmp };
                    }
                    Outcome::Done
                }
                Ok(None) => Outcome::Skipped("already later than that".into()),
                Err(o) => o,
            },
        };
        (change, second)
    }

    fn second_step(&self, change: &mut Change, second: &Second) {
        match second {
            Second::None => {}
            Second::Cleanup => {
                // The entry is ours now; a cleanup that fails leaves it in
                // cleanup/, where `purge` or the writer's start-up finishes it.
                change.outcome = match (self.cleanup(&change.id), change.from) {
                    (Ok(()), _) => Outcome::Done,
                    (Err(CleanupError::Vanished), State::Cleanup) => Outcome::Vanished,
                    (Err(CleanupError::Vanished), _) => Outcome::Done,
                    (Err(e), State::Cleanup) => Outcome::Failed(e.to_string()),
                    (Err(e), _) => Outcome::Failed(format!("moved to cleanup/ but not cleaned up: {e}")),
                }
            }
            Second::Rename { link, tmp } => {
                let path = link.dest_path();
                let result = self.data().open_dir(path.as_str()).and_then(|d| {
                    d.rename_over(tmp.as_str(), "schedule").inspect_err(|_| {
                        let _ = d.unlink(tmp.as_str());
                    })
                });
                if let Err(e) = result {
                    change.outcome =
                        Outcome::Failed(format!("renaming data/{path}/{tmp} over schedule: {}", errno_text(e)));
                }
            }
        }
    }

    fn check_move(&self, from: State, to: State, id: &EntryId, opts: &Apply) -> Option<Outcome> {
        if from == to {
            return Some(Outcome::Skipped(format!("already in {}/", to.dir())));
        }
        // Only symlinks are entries: a file or folder there is for `check`.
        if let Some(m) = self.stat_entry(from, id.as_bytes())
            && m.kind != Kind::Symlink
        {
            return Some(Outcome::Skipped(format!(
                "a {}, not an entry: left for `mqctl check`",
                m.kind.describe()
            )));
        }
        match (from, to) {
            (State::Queued, State::Held) => None,
            (State::Held, State::Queued) => self.check_target(from, id),
            (State::Inflight, State::Queued) => {
                // recover: only entries whose writer is gone (or --force).
                if opts.force_inflight {
                    return self.check_target(from, id);
                }
                let age = self.inflight_age(id, opts.now)?;
                match opts.inflight_stale_after {
                    Some(limit) if age < limit => Some(Outcome::Skipped(format!(
                        "inflight for only {} (a writer may be sending it)",
                        crate::output::human_duration(age.as_secs())
                    ))),
                    Some(_) => self.check_target(from, id),
                    // `release` (no stale age) never takes an entry being sent.
                    None => Some(Outcome::Skipped(
                        "inflight: a writer is sending it (use `recover` if its writer died)".into(),
                    )),
                }
            }
            (State::Inflight, _) => Some(Outcome::Skipped("inflight: a writer is sending it".into())),
            (State::Cleanup, _) => Some(Outcome::Skipped("in cleanup/: already sent or dropped".into())),
            _ => Some(Outcome::Skipped(format!(
                "cannot move from {}/ to {}/",
                from.dir(),
                to.dir()
            ))),
        }
    }

    /// Refuses to hand the writer an entry it would follow out of the queue:
    /// its cleanup (and its sending) trust any link starting with `../data`
    /// and follow symlinked folders, so a drop or a move into queue/ needs
    /// the exact link form and plain folders (a dangling entry is fine).
    fn check_target(&self, from: State, id: &EntryId) -> Option<Outcome> {
        let link = match self.entry_link(from, id) {
            Ok(l) => l,
            Err(o) => return Some(o),
        };
        match self.data().open_dir_path(link.dest_path().as_str()) {
            Ok(_) | Err(Errno::ENOENT) => None,
            Err(e) => Some(Outcome::Failed(format!(
                "data/{} is not a plain folder ({}): not followed (see `mqctl check`)",
                link.dest_path(),
                errno_text(e)
            ))),
        }
    }

    fn check_drop(&self, from: State, id: &EntryId, opts: &Apply) -> Option<Outcome> {
        // A link that is not exactly ../data/<mail>/<dest> must never reach
        // cleanup/: the writer's cleanup would follow it.
        if let Err(o) = self.entry_link(from, id) {
            return Some(o);
        }
        if from != State::Inflight || opts.force_inflight {
            return self.check_target(from, id);
        }
        let age = self.inflight_age(id, opts.now)?;
        match opts.inflight_stale_after {
            Some(limit) if age >= limit => self.check_target(from, id),
            _ => Some(Outcome::Skipped(format!(
                "inflight for {} (a writer may be sending it): use --force, or `recover` first",
                crate::output::human_duration(age.as_secs())
            ))),
        }
    }

    /// How long an inflight entry has been there: the change time of its
    /// link, which the rename into inflight/ set.
    pub fn inflight_age(&self, id: &EntryId, now: Timestamp) -> Option<SignedDuration> {
        let m = self.stat_entry(State::Inflight, id.as_bytes())?;
        let since = Timestamp::new(m.ctime.0, m.ctime.1 as i32).ok()?;
        Some(now.duration_since(since))
    }

    /// Renames `from/<id>` to `to/<id>`, never replacing.
    pub fn move_entry(&self, from: State, to: State, id: &EntryId) -> Outcome {
        let (Some(src), Some(dst)) = (self.state_dir(from), self.state_dir(to)) else {
            return Outcome::Failed(format!("{}/ does not exist", to.dir()));
        };
        match src.move_noreplace(id.as_bytes(), dst, id.as_bytes()) {
            Ok(()) => Outcome::Done,
            Err(Errno::ENOENT) => Outcome::Vanished,
            Err(Errno::EEXIST) | Err(Errno::ENOTEMPTY) => Outcome::Failed(format!(
                "{}/{} already exists: the entry is in two folders (see `mqctl check`)",
                to.dir(),
                id
            )),
            Err(e) => Outcome::Failed(format!(
                "renaming {}/{id} to {}/: {}",
                from.dir(),
                to.dir(),
                errno_text(e)
            )),
        }
    }

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
                crate::output::escape_bytes(&buf)
            ))
        })
    }

    /// Computes the new schedule and writes it to a temp sibling (not yet
    /// renamed over). Returns the detail for the report and, unless dry-run,
    /// the pending rename; `None` when there is nothing to change.
    #[allow(clippy::type_complexity)]
    fn prepare_schedule(
        &self,
        state: State,
        id: &EntryId,
        op: Op,
        opts: &Apply,
    ) -> Result<Option<(String, Option<(Link, String)>)>, Outcome> {
        match state {
            State::Queued | State::Held => {}
            State::Inflight => {
                return Err(Outcome::Skipped(
                    "inflight: a writer is sending it right now (recover it first if its writer died)".into(),
                ));
            }
            State::Cleanup => return Err(Outcome::Skipped("in cleanup/: already sent or dropped".into())),
        }
        let link = self.entry_link(state, id)?;
        let dest = self
            .data()
            .open_dir(link.dest_path().as_str())
            .map_err(|e| Outcome::Failed(format!("opening data/{}: {}", link.dest_path(), errno_text(e))))?;
        let mut buf = Vec::new();
        let meta = dest
            .read_file_into("schedule", MAX_JSON_FILE, &mut buf)
            .map_err(|e| match e {
                ReadError::NotFound => Outcome::Failed("schedule is missing (see `mqctl check`)".into()),
                e => Outcome::Failed(format!("schedule {e}")),
            })?;
        let mut doc: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&buf)
            .map_err(|e| Outcome::Failed(format!("schedule is not valid JSON ({e}); not rewritten")))?;
        let current = parse::schedule(&buf).map_err(|e| Outcome::Failed(format!("schedule invalid: {e}")))?;
        let new_at = match op {
            Op::SetAt(t) => t,
            Op::DeferBy(d, now) => current.at.max(now) + d,
            Op::DeferUntil(t) if t <= current.at => return Ok(None),
            Op::DeferUntil(t) => t,
            _ => unreachable!("only schedule ops reach here"),
        };
        let text = parse::format_timestamp(new_at);
        let detail = format!("at {text}");
        if opts.dry_run {
            return Ok(Some((detail, None)));
        }
        // Unknown fields and last_attempt stay as they were; only `at` changes.
        doc.insert("at".into(), serde_json::Value::String(text));
        let body = serde_json::to_string(&doc).expect("a JSON map always serialises");
        let tmp = write_temp(&dest, "schedule", body.as_bytes(), (meta.uid, meta.gid)).map_err(|e| {
            Outcome::Failed(format!(
                "writing a new schedule in data/{}: {}",
                link.dest_path(),
                errno_text(e)
            ))
        })?;
        Ok(Some((detail, Some((link, tmp)))))
    }

    /// The writer's cleanup of `cleanup/<id>`, each step tolerant of "not
    /// found" so it can be re-run or run by two processes at once. Leftover
    /// temp files are removed first (the writer's rmdir would fail on them).
    pub fn cleanup(&self, id: &EntryId) -> Result<(), CleanupError> {
        let link = self.entry_link(State::Cleanup, id).map_err(|o| match o {
            Outcome::Vanished => CleanupError::Vanished,
            Outcome::Failed(s) | Outcome::Skipped(s) => CleanupError::Refused(s),
            Outcome::Done => unreachable!(),
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
                                    crate::output::escape_bytes(name)
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
                if rest.len() == 1 && &*rest[0].0 == b"contents" {
                    gone(mail.unlink("contents")).map_err(|e| CleanupError::io("removing contents", e))?;
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
