//! Carrying out one finding's repair.

use jiff::Timestamp;
use nix::errno::Errno;

use super::{Finding, Quarantine, Rel, Repair};
use crate::queue::ops::{CleanupError, Outcome, Retry, Step};
use crate::queue::sys::Kind;
use crate::queue::{EntryId, Queue, State, parse};

impl Queue {
    /// Carries out one finding's repair. A write that fails for lack of
    /// space asks to be tried again (the change engine decides when it
    /// gives up).
    pub fn repair(&self, finding: &Finding, q: &mut Quarantine, now: Timestamp) -> Step {
        match self.repair_outcome(finding, q, now) {
            Outcome::NoSpace => Step::Retry(Retry::NoSpace),
            o => Step::Final(o),
        }
    }

    fn repair_outcome(&self, finding: &Finding, q: &mut Quarantine, now: Timestamp) -> Outcome {
        let errno = |what: &str, e: Errno| match e {
            Errno::ENOSPC | Errno::EDQUOT => Outcome::NoSpace,
            e => Outcome::Failed(format!("{what}: {}", e.desc())),
        };
        match &finding.repair {
            Repair::Manual(_) => Outcome::Skipped("needs a person".into()),
            Repair::FinishCleanup(id) => match self.cleanup(id) {
                Ok(()) => Outcome::Done,
                Err(CleanupError::Vanished) => Outcome::Vanished,
                Err(e) => Outcome::Failed(e.to_string()),
            },
            Repair::Recover { state, id } => {
                let to = state.unclaimed().unwrap_or(State::Queued);
                match self
                    .move_entry(*state, to, id)
                    .and_then(|()| self.sync_states(&[*state, to]))
                {
                    Ok(()) => Outcome::Done,
                    Err(Errno::ENOENT) => Outcome::Vanished,
                    Err(e) => errno(&format!("moving it to {}/", to.dir()), e),
                }
            }
            Repair::RemoveHoldNote { id, held } => {
                // Held again since it was found: the note is its new one.
                let now_held = [State::Held, State::ClaimedHeld]
                    .iter()
                    .any(|s| self.state_dir(*s).is_some_and(|d| d.stat_at(id.as_bytes()).is_ok()));
                if now_held && !held {
                    return Outcome::Vanished;
                }
                if *held && self.hold_note(id).is_some() {
                    return Outcome::Vanished;
                }
                match self.remove_hold_note(id).and_then(|()| self.sync_hold_notes()) {
                    Ok(()) => Outcome::Done,
                    Err(e) => errno("removing", e),
                }
            }
            Repair::RemoveTemp(rel) => match self
                .open_parent(rel)
                .and_then(|(d, n)| d.unlink(&n).and_then(|()| d.fsync()))
            {
                Ok(()) => Outcome::Done,
                Err(Errno::ENOENT) => Outcome::Vanished,
                Err(e) => errno("removing", e),
            },
            Repair::Chmod { path, mode } => match self
                .open_parent(path)
                .and_then(|(d, n)| d.chmod_child(&n, *mode).and_then(|()| nix::unistd::syncfs(&d)))
            {
                Ok(()) => Outcome::Done,
                Err(Errno::ENOENT) => Outcome::Vanished,
                Err(e) => errno("chmod", e),
            },
            Repair::CreateDir(rel) => {
                let (parent, name) = rel.parent_and_name();
                let dir = if parent.0.is_empty() {
                    self.root().open_dir(".")
                } else {
                    self.root().open_dir(&parent.joined())
                };
                match dir.and_then(|d| d.mkdir(name, 0o700).and_then(|()| d.fsync())) {
                    Ok(()) => Outcome::Done,
                    Err(Errno::EEXIST) => Outcome::Vanished,
                    Err(e) => errno("creating", e),
                }
            }
            Repair::RenameEntry { state, id } => {
                let Some(dir) = self.state_dir(*state) else {
                    return Outcome::Vanished;
                };
                let new = EntryId::from_uuid(uuid::Uuid::new_v4());
                match dir
                    .move_noreplace(id.as_bytes(), dir, new.as_bytes())
                    .and_then(|()| dir.fsync())
                {
                    Ok(()) => Outcome::Done,
                    Err(Errno::ENOENT) => Outcome::Vanished,
                    Err(e) => errno("renaming", e),
                }
            }
            Repair::RewriteLink { state, id, link } => {
                let Some(dir) = self.state_dir(*state) else {
                    return Outcome::Vanished;
                };
                let tmp = format!(".mqctl-link-{}", uuid::Uuid::new_v4().hyphenated());
                let r = dir.symlink(link.text().as_str(), tmp.as_str()).and_then(|()| {
                    dir.rename_over(tmp.as_str(), id.as_bytes()).inspect_err(|_| {
                        let _ = dir.unlink(tmp.as_str());
                    })
                });
                match r.and_then(|()| dir.fsync()) {
                    Ok(()) => Outcome::Done,
                    Err(e) => errno("rewriting the link", e),
                }
            }
            Repair::RecreateSchedule { link } => {
                let body = parse::schedule_json(&crate::queue::Schedule {
                    at: now,
                    last_attempt: None,
                });
                let r = self.data().open_dir(link.dest_path().as_str()).and_then(|d| {
                    let (uid, gid) = (self.root_meta().uid, self.root_meta().gid);
                    let tmp = crate::queue::ops::write_temp(&d, "schedule", body.as_bytes(), (uid, gid))?;
                    if let Err(e) = nix::unistd::syncfs(&d) {
                        let _ = d.unlink(tmp.as_str());
                        return Err(e);
                    }
                    d.rename_over(tmp.as_str(), "schedule")?;
                    d.fsync()
                });
                match r {
                    Ok(()) => Outcome::Done,
                    Err(e) => errno("writing the schedule", e),
                }
            }
            Repair::Quarantine { paths, mail } => {
                let mut moved = 0;
                for p in paths {
                    match self.quarantine_path(p, q, finding) {
                        Ok(()) => moved += 1,
                        Err(Errno::ENOENT) => {}
                        Err(e) => return errno(&format!("moving {p} to quarantine"), e),
                    }
                }
                if let Some(m) = mail {
                    // The mail follows its last recipient folder: a mail
                    // holding only `contents` would be an orphan.
                    let rel = Rel::new(&[b"data", m.to_string().as_bytes()]);
                    let only_contents = self
                        .data()
                        .open_dir(m.to_string().as_str())
                        .and_then(|d| d.children())
                        .is_ok_and(|c| c.iter().all(|(n, k)| &**n == b"contents" || *k != Some(Kind::Dir)));
                    if only_contents {
                        match self.quarantine_path(&rel, q, finding) {
                            Ok(()) => moved += 1,
                            Err(Errno::ENOENT) => {}
                            Err(e) => return errno(&format!("moving {rel} to quarantine"), e),
                        }
                    }
                }
                if moved == 0 { Outcome::Vanished } else { Outcome::Done }
            }
        }
    }

    /// Syncs state folders after a repair moved an entry between them.
    fn sync_states(&self, states: &[State]) -> Result<(), Errno> {
        for s in states {
            if let Some(d) = self.state_dir(*s) {
                d.fsync()?;
            }
        }
        Ok(())
    }
}
