//! The on-disk protocol (docs/queue-format.md, docs/writer.md): opening a queue safely, reading its
//! entries in parallel, and (in `write`) changing it the writer's way.

pub mod address;
pub mod archive;
pub mod check;
pub mod events;
pub mod headers;
pub mod holds;
pub mod live;
pub mod model;
pub mod ops;
pub mod parse;
pub mod problem;
pub mod purge;
pub mod scan;
pub mod sys;
pub mod write;

use std::path::{Path, PathBuf};

use nix::errno::Errno;

pub use model::*;
pub use problem::{FileIssue, Problem};
pub use scan::{Filter, Want};
use sys::{Dir, Meta};

use crate::error::{Error, Result};

/// An entry named by where it is: the state folder and the link's name.
pub type EntryRef = (State, EntryId);

/// Bound on `metadata` and `schedule` (docs/security.md): anything larger is not
/// the writer's and is never read whole.
pub const MAX_JSON_FILE: u64 = 64 * 1024;

/// An open queue: the root and its folders, each opened once without
/// following symlinks. Everything afterwards is relative to these.
#[derive(Debug)]
pub struct Queue {
    path: PathBuf,
    root: Dir,
    root_meta: Meta,
    data: Dir,
    /// Each state folder, once opened (mqctl's own and a missing
    /// cleanup/ are made on first use, from any thread).
    states: [std::sync::OnceLock<Dir>; State::COUNT],
    /// mqctl's `hold-notes/`, once opened (see `holds`).
    notes: std::sync::OnceLock<Dir>,
}

/// The claim lock, held until dropped (see `Queue::claim_lock`).
pub struct ClaimLock<'q>(&'q Dir);

impl Drop for ClaimLock<'_> {
    fn drop(&mut self) {
        self.0.unlock();
    }
}

impl Queue {
    /// Opens the queue at `path`. Fails with `QueueUnusable` (exit 3) when
    /// the root is missing, a symlink, not a folder, unreadable, or has no
    /// `data/` and `queue/` folders.
    pub fn open(path: &Path) -> Result<Queue> {
        let unusable = |reason: String| Error::QueueUnusable {
            path: path.to_path_buf(),
            reason,
        };
        // A trailing slash makes the kernel follow a final symlink despite
        // O_NOFOLLOW, so open the path without it.
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        let end = bytes
            .iter()
            .rposition(|&b| b != b'/')
            .map_or(bytes.len().min(1), |i| i + 1);
        let bare = Path::new(std::ffi::OsStr::from_bytes(&bytes[..end]));
        // O_NOFOLLOW|O_DIRECTORY on a symlink fails with ENOTDIR, not ELOOP.
        let is_symlink = || std::fs::symlink_metadata(bare).is_ok_and(|m| m.file_type().is_symlink());
        let root = Dir::open_root(bare).map_err(|e| {
            unusable(match e {
                Errno::ENOENT => "does not exist".into(),
                Errno::ELOOP => "is a symlink; give the real path of the queue (or --insecure to follow it)".into(),
                Errno::ENOTDIR if is_symlink() => {
                    "is a symlink; give the real path of the queue (or --insecure to follow it)".into()
                }
                Errno::ENOTDIR => "is not a folder".into(),
                Errno::EACCES => "permission denied (run as the queue's owner or root)".into(),
                e => format!("cannot be opened: {}", e.desc()),
            })
        })?;
        let root_meta = root
            .stat()
            .map_err(|e| unusable(format!("cannot be examined: {}", e.desc())))?;
        let open_sub = |name: &str, required: bool| -> Result<Option<Dir>> {
            match root.open_dir(name) {
                Ok(d) => Ok(Some(d)),
                Err(Errno::ENOENT) if !required => Ok(None),
                Err(Errno::ENOENT) => Err(unusable(format!(
                    "is not a Kannader queue: it has no {name}/ folder (expected data/, queue/, inflight/, cleanup/)"
                ))),
                Err(Errno::ELOOP | Errno::EXDEV | Errno::ENOTDIR)
                    if root.stat_at(name).is_ok_and(|m| m.kind == sys::Kind::Symlink) =>
                {
                    Err(unusable(format!("{name}/ is a symlink, which mqctl never follows")))
                }
                Err(Errno::ENOTDIR) => Err(unusable(format!("{name} is not a folder"))),
                Err(Errno::EACCES) => Err(unusable(format!(
                    "{name}/: permission denied (run as the queue's owner or root)"
                ))),
                Err(e) => Err(unusable(format!("{name}/ cannot be opened: {}", e.desc()))),
            }
        };
        let data = open_sub("data", true)?.expect("required");
        let states: [std::sync::OnceLock<Dir>; State::COUNT] = Default::default();
        for s in State::ALL {
            if let Some(d) = open_sub(s.dir(), s == State::Queued)? {
                let _ = states[s as usize].set(d);
            }
        }
        // Listing is what every command does first: fail early and clearly.
        if let Some(q) = states[State::Queued as usize].get() {
            q.for_each_child(|_, _| std::ops::ControlFlow::Break(()))
                .map_err(|e| unusable(format!("queue/ cannot be listed: {}", e.desc())))?;
        }
        Ok(Queue {
            path: path.to_path_buf(),
            root,
            root_meta,
            data,
            states,
            notes: std::sync::OnceLock::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn root(&self) -> &Dir {
        &self.root
    }

    pub fn root_meta(&self) -> &Meta {
        &self.root_meta
    }

    pub fn data(&self) -> &Dir {
        &self.data
    }

    /// The folder of a state, when it exists (`hold/` is created on demand).
    pub fn state_dir(&self, state: State) -> Option<&Dir> {
        self.states[state as usize].get()
    }

    /// Creates a state folder of mqctl's (`hold/`, the claim folders) or a
    /// missing `cleanup/` (0700) when it does not exist yet, and opens it.
    pub fn ensure_state_dir(&self, state: State) -> Result<&Dir> {
        if self.states[state as usize].get().is_none() {
            match self.root.mkdir(state.dir(), 0o700) {
                Ok(()) => {
                    // Owned like the writer's folders, even when we run as root.
                    if nix::unistd::geteuid().is_root() {
                        let (uid, gid) = (self.root_meta.uid, self.root_meta.gid);
                        let _ = self.root.chown_at(state.dir(), uid, gid);
                    }
                }
                Err(Errno::EEXIST) => {}
                Err(e) => return Err(Error::io("creating", self.display(state.dir()), e)),
            }
            let d = self
                .root
                .open_dir(state.dir())
                .map_err(|e| Error::io("opening", self.display(state.dir()), e))?;
            // Another thread may have opened it meanwhile: either is fine.
            let _ = self.states[state as usize].set(d);
        }
        Ok(self.states[state as usize].get().expect("just opened"))
    }

    /// Opens a state folder that appeared since the queue was opened (made
    /// by another process); `None` while it does not exist.
    pub fn open_state_dir(&self, state: State) -> Result<Option<&Dir>> {
        if let Some(d) = self.state_dir(state) {
            return Ok(Some(d));
        }
        match self.root.open_dir(state.dir()) {
            Ok(d) => {
                let _ = self.states[state as usize].set(d);
                Ok(self.state_dir(state))
            }
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(Error::io("opening", self.display(state.dir()), e)),
        }
    }

    /// Takes the claim lock: shared by every run that claims entries (a
    /// schedule rewrite) for as long as it runs, exclusive (and only if it
    /// is free) for putting back what a crashed run left claimed. `None`
    /// when the exclusive lock is taken: a live run holds claims.
    pub fn claim_lock(&self, exclusive: bool) -> Result<Option<ClaimLock<'_>>> {
        match self.root.flock(exclusive, !exclusive) {
            Ok(()) => Ok(Some(ClaimLock(&self.root))),
            Err(Errno::EWOULDBLOCK) => Ok(None),
            Err(e) => Err(Error::io("locking", self.display(""), e)),
        }
    }

    /// A path under the root, for messages (never used to open anything).
    pub fn display(&self, rel: &str) -> String {
        format!("{}/{}", self.path.display(), rel)
    }

    /// The states whose folder holds `id` (normally one; two is a problem).
    pub fn locate(&self, id: &[u8]) -> Vec<State> {
        State::ALL
            .into_iter()
            .filter(|&s| self.state_dir(s).is_some_and(|d| d.stat_at(id).is_ok()))
            .collect()
    }

    /// Counts the names in the given state folders without opening any
    /// file (`list --count` with no filter).
    pub fn count_links(&self, states: &[State]) -> Result<u64> {
        let mut n = 0u64;
        for &s in states {
            let Some(dir) = self.state_dir(s) else { continue };
            let mut err = None;
            // Every child, as the scan lists every child (a stray file or
            // folder is an entry with a problem): the count must agree.
            dir.for_each_child(|_, _| {
                n += 1;
                std::ops::ControlFlow::Continue(())
            })
            .map_err(|e| err = Some(e))
            .ok();
            if let Some(e) = err {
                return Err(Error::io("listing", self.display(s.dir()), e));
            }
        }
        Ok(n)
    }
}
