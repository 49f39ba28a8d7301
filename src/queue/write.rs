//! The write path: adding entries the writer's way. Every file is created
//! exclusively without following links, with the writer's modes.

use std::io::Write;
use std::os::fd::AsFd;

use jiff::Timestamp;
use nix::errno::Errno;
use uuid::Uuid;

use super::model::{Address, DestId, EntryId, Envelope, Link, MailId, Schedule, State};
use super::parse;
use super::sys::Dir;
use super::{MAX_JSON_FILE, Queue};
use crate::error::{Error, Result};

/// How to enqueue a message.
#[derive(Debug, Clone, Copy)]
pub struct EnqueueOptions {
    /// First attempt.
    pub at: Timestamp,
    /// Normally `None`; set for demo queues that look retried.
    pub last_attempt: Option<Timestamp>,
    /// Set the message's modification time (its age) instead of now.
    pub written: Option<Timestamp>,
    /// fsync files and folders before the entry becomes visible. The writer
    /// does not; mqctl does unless building a throwaway queue.
    pub durable: bool,
}

/// One entry `enqueue` created.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub id: EntryId,
    pub dest: DestId,
    pub to: Address,
}

#[derive(Debug, Clone)]
pub struct Enqueued {
    pub mail: MailId,
    pub entries: Vec<NewEntry>,
}

fn new_uuid() -> Uuid {
    Uuid::new_v4()
}

fn uuid_str(u: Uuid) -> String {
    u.hyphenated().to_string()
}

fn write_new(
    dir: &Dir,
    name: &str,
    bytes: &[u8],
    durable: bool,
    mtime: Option<Timestamp>,
) -> std::result::Result<(), Errno> {
    let mut f = dir.create_file(name, 0o600)?;
    f.write_all(bytes)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    if let Some(t) = mtime {
        let ts = nix::sys::time::TimeSpec::new(t.as_second(), t.subsec_nanosecond() as _);
        nix::sys::stat::futimens(f.as_fd(), &ts, &ts)?;
    }
    if durable {
        f.sync_all()
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    }
    Ok(())
}

impl Queue {
    /// Adds a message with one entry per recipient, exactly as the writer
    /// does: `data/<mail>/contents`, then per recipient `<dest>/schedule` and
    /// `<dest>/metadata` written in place, then the `queue/<id>` symlink.
    /// The link comes last, so a reader never sees a half-written entry.
    pub fn enqueue(
        &self,
        from: Option<&Address>,
        to: &[Address],
        contents: &[u8],
        opts: EnqueueOptions,
    ) -> Result<Enqueued> {
        let mail = MailId(new_uuid());
        let mail_name = uuid_str(mail.0);
        let data_path = |rel: &str| self.display(&format!("data/{rel}"));
        let io = |op: &'static str, rel: &str| {
            let p = data_path(rel);
            move |e: Errno| Error::io(op, p, e)
        };
        self.data()
            .mkdir(mail_name.as_str(), 0o700)
            .map_err(io("creating", &mail_name))?;
        let result = self.enqueue_into(mail, &mail_name, from, to, contents, opts);
        if result.is_err() {
            // Nothing links to the mail yet: take back what we made.
            remove_tree(self.data(), &mail_name);
        }
        let entries = result?;
        let queue = self.state_dir(State::Queued).expect("queue/ is required to open");
        let mut made = Vec::with_capacity(entries.len());
        for (dest, to) in entries {
            let id = EntryId::from_uuid(new_uuid());
            let link = Link { mail, dest };
            queue
                .symlink(link.text().as_str(), id.as_bytes())
                .map_err(|e| Error::io("linking", self.display(&format!("queue/{id}")), e))?;
            made.push(NewEntry { id, dest, to });
        }
        if opts.durable {
            queue.fsync().map_err(io("syncing", "../queue"))?;
        }
        Ok(Enqueued { mail, entries: made })
    }

    fn enqueue_into(
        &self,
        mail: MailId,
        mail_name: &str,
        from: Option<&Address>,
        to: &[Address],
        contents: &[u8],
        opts: EnqueueOptions,
    ) -> Result<Vec<(DestId, Address)>> {
        let err = |op: &'static str, rel: String| {
            let p = self.display(&format!("data/{rel}"));
            move |e: Errno| Error::io(op, p, e)
        };
        let mail_dir = self
            .data()
            .open_dir(mail_name)
            .map_err(err("opening", mail_name.to_string()))?;
        write_new(&mail_dir, "contents", contents, opts.durable, opts.written)
            .map_err(err("writing", format!("{mail}/contents")))?;
        let schedule = parse::schedule_json(&Schedule {
            at: opts.at,
            last_attempt: opts.last_attempt,
        });
        let mut out = Vec::with_capacity(to.len());
        for rcpt in to {
            let dest = DestId(new_uuid());
            let dest_name = uuid_str(dest.0);
            let rel = format!("{mail}/{dest_name}");
            mail_dir
                .mkdir(dest_name.as_str(), 0o700)
                .map_err(err("creating", rel.clone()))?;
            let dest_dir = mail_dir
                .open_dir(dest_name.as_str())
                .map_err(err("opening", rel.clone()))?;
            let envelope = Envelope {
                from: from.cloned(),
                to: rcpt.clone(),
            };
            write_new(&dest_dir, "schedule", schedule.as_bytes(), opts.durable, None)
                .map_err(err("writing", format!("{rel}/schedule")))?;
            write_new(
                &dest_dir,
                "metadata",
                parse::metadata_json(&envelope).as_bytes(),
                opts.durable,
                None,
            )
            .map_err(err("writing", format!("{rel}/metadata")))?;
            if opts.durable {
                dest_dir.fsync().map_err(err("syncing", rel.clone()))?;
            }
            out.push((dest, rcpt.clone()));
        }
        if opts.durable {
            mail_dir.fsync().map_err(err("syncing", mail_name.to_string()))?;
            self.data().fsync().map_err(err("syncing", String::new()))?;
        }
        Ok(out)
    }
}

/// Removes a folder we just created (two levels: `<mail>/<dest>/<file>`),
/// best effort. Only used on a mail no link points to yet.
fn remove_tree(parent: &Dir, name: &str) {
    let Ok(dir) = parent.open_dir(name) else { return };
    if let Ok(children) = dir.children() {
        for (child, kind) in children {
            if kind == Some(super::sys::Kind::Dir) {
                if let Ok(sub) = dir.open_dir(&*child)
                    && let Ok(files) = sub.children()
                {
                    for (f, _) in files {
                        let _ = sub.unlink(&*f);
                    }
                }
                let _ = dir.rmdir(&*child);
            } else {
                let _ = dir.unlink(&*child);
            }
        }
    }
    let _ = parent.rmdir(name);
}

/// What the queue already has of a recipient an archive brings
/// (`Queue::find_import`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Nothing: it is imported.
    New,
    /// The same entry (its id, linked to the same folder, with the same
    /// envelope), in this state: nothing to do. Its schedule may differ:
    /// the writer here may have tried it since.
    Already(State),
    /// Its folder with exactly the archive's files and no link: an import
    /// stopped just before the link. Only the link is made.
    Unlinked,
    /// Its folder with only a part of the archive's files (each a prefix of
    /// the archive's bytes) and no link: an import stopped while writing
    /// them. They are written anew.
    Partial,
    /// The id or the folder holds something else: never overwritten.
    Conflict(String),
}

/// Why a step of an import did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportError {
    /// The queue holds other bytes under the same name.
    Conflict(String),
    Io(&'static str, Errno),
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportError::Conflict(s) => f.write_str(s),
            ImportError::Io(what, e) => write!(f, "{what}: {}", e.desc()),
        }
    }
}

/// A file of ours interrupted while it was written: missing, or a prefix
/// of the bytes it should hold.
fn is_prefix(have: &[u8], want: &[u8]) -> bool {
    have.len() < want.len() && want.starts_with(have)
}

impl Queue {
    /// Reads `rel` under `data/` (bounded, never following a link):
    /// `Ok(None)` when it does not exist.
    fn read_data_file(&self, rel: &str, max: u64) -> std::result::Result<Option<Vec<u8>>, String> {
        let mut buf = Vec::new();
        match self.data().read_file_into(rel, max, &mut buf) {
            Ok(_) => Ok(Some(buf)),
            Err(super::sys::ReadError::NotFound) => Ok(None),
            Err(e) => Err(format!("data/{rel} {e}")),
        }
    }

    /// What the queue has of the recipient `id` -> `link` with these files.
    pub fn find_import(&self, id: &EntryId, link: Link, metadata: &[u8], schedule: &[u8]) -> Found {
        for state in self.locate(id.as_bytes()) {
            let here = match self.entry_link(state, id) {
                Ok(l) => l,
                // Moved meanwhile: it is wherever it went.
                Err(super::ops::Outcome::Vanished) => continue,
                Err(o) => {
                    return Found::Conflict(format!(
                        "entry {id} is already in {}/ ({}): not overwritten",
                        state.dir(),
                        o.reason().unwrap_or("unreadable")
                    ));
                }
            };
            if here != link {
                return Found::Conflict(format!(
                    "entry {id} is already in {}/, for another recipient (data/{}): not overwritten",
                    state.dir(),
                    here.dest_path()
                ));
            }
            return match self.read_data_file(&format!("{}/metadata", link.dest_path()), MAX_JSON_FILE) {
                Ok(Some(m)) if m != metadata => Found::Conflict(format!(
                    "entry {id} is already in {}/ with another envelope: not overwritten",
                    state.dir()
                )),
                // The same, or being cleaned up (sent or dropped here).
                Ok(_) => Found::Already(state),
                Err(e) => Found::Conflict(format!("entry {id} is already in {}/, but {e}", state.dir())),
            };
        }
        let dest = link.dest_path();
        let children = match self.data().open_dir(dest.as_str()) {
            Ok(d) => match d.children() {
                Ok(c) => c,
                Err(e) => return Found::Conflict(format!("data/{dest} cannot be listed: {}", e.desc())),
            },
            Err(Errno::ENOENT) => return Found::New,
            Err(e) => {
                return Found::Conflict(format!(
                    "data/{dest} is already there and is not a plain folder ({}): not overwritten",
                    e.desc()
                ));
            }
        };
        if let Some((odd, _)) = children
            .iter()
            .find(|(n, _)| &**n != b"metadata" && &**n != b"schedule")
        {
            return Found::Conflict(format!(
                "data/{dest} is already there and holds \"{}\": not overwritten",
                crate::escape::escape_bytes(odd)
            ));
        }
        let mut whole = true;
        for (name, want) in [("metadata", metadata), ("schedule", schedule)] {
            match self.read_data_file(&format!("{dest}/{name}"), MAX_JSON_FILE) {
                Ok(Some(have)) if have == want => {}
                Ok(Some(have)) if is_prefix(&have, want) => whole = false,
                Ok(None) => whole = false,
                Ok(Some(_)) => {
                    return Found::Conflict(format!(
                        "data/{dest}/{name} is already there with other bytes: not overwritten"
                    ));
                }
                Err(e) => return Found::Conflict(format!("{e}: not overwritten")),
            }
        }
        if whole { Found::Unlinked } else { Found::Partial }
    }

    /// Makes `data/<mail>` and writes its `contents` (0600, modification
    /// time `written`), not synced: the caller syncs before any link.
    /// `Ok(true)` when the folder was made now; `Ok(false)` when it was
    /// there with the same contents (another recipient of the mail is
    /// here). Contents that an import was interrupted writing (a prefix,
    /// in a folder with no recipient yet) is written anew.
    pub fn import_contents(
        &self,
        mail: MailId,
        contents: &[u8],
        written: Option<Timestamp>,
    ) -> std::result::Result<bool, ImportError> {
        let name = mail.to_string();
        match self.data().mkdir(name.as_str(), 0o700) {
            Ok(()) => {
                let dir = self
                    .data()
                    .open_dir(name.as_str())
                    .map_err(|e| ImportError::Io("opening the new mail folder", e))?;
                if let Err(e) = write_new(&dir, "contents", contents, false, written) {
                    remove_tree(self.data(), &name);
                    return Err(ImportError::Io("writing contents", e));
                }
                return Ok(true);
            }
            Err(Errno::EEXIST) => {}
            Err(e) => return Err(ImportError::Io("creating the mail folder", e)),
        }
        let rel = format!("{name}/contents");
        let have = self
            .read_data_file(&rel, super::archive::MAX_CONTENTS + 1)
            .map_err(|e| ImportError::Conflict(format!("{e}: not overwritten")))?;
        match have {
            Some(h) if h == contents => Ok(false),
            h if h.as_deref().is_none_or(|h| is_prefix(h, contents)) => {
                let dir = self
                    .data()
                    .open_dir(name.as_str())
                    .map_err(|e| ImportError::Io("opening the mail folder", e))?;
                let children = dir
                    .children()
                    .map_err(|e| ImportError::Io("listing the mail folder", e))?;
                if children.iter().any(|(n, _)| &**n != b"contents") {
                    return Err(ImportError::Conflict(format!(
                        "data/{rel} is already there with other bytes, beside recipients: not overwritten"
                    )));
                }
                match dir.unlink("contents") {
                    Ok(()) | Err(Errno::ENOENT) => {}
                    Err(e) => return Err(ImportError::Io("removing a partial contents", e)),
                }
                write_new(&dir, "contents", contents, false, written)
                    .map_err(|e| ImportError::Io("writing contents", e))?;
                Ok(false)
            }
            _ => Err(ImportError::Conflict(format!(
                "data/{rel} is already there with other bytes: not overwritten"
            ))),
        }
    }

    /// Writes a recipient's folder the writer's way (mkdir, then
    /// `schedule` and `metadata` in place, 0600), not synced. `partial`:
    /// what an interrupted import left of it is removed first. On failure
    /// what was written is taken back.
    pub fn import_dest(
        &self,
        link: Link,
        metadata: &[u8],
        schedule: &[u8],
        partial: bool,
    ) -> std::result::Result<(), ImportError> {
        let mail = self
            .data()
            .open_dir(link.mail.to_string().as_str())
            .map_err(|e| ImportError::Io("opening the mail folder", e))?;
        let dest = link.dest.to_string();
        if partial {
            remove_tree(&mail, &dest);
        }
        mail.mkdir(dest.as_str(), 0o700)
            .map_err(|e| ImportError::Io("creating the recipient's folder", e))?;
        let written = (|| {
            let dir = mail.open_dir(dest.as_str())?;
            write_new(&dir, "schedule", schedule, false, None)?;
            write_new(&dir, "metadata", metadata, false, None)
        })();
        written.map_err(|e| {
            remove_tree(&mail, &dest);
            ImportError::Io("writing the recipient's files", e)
        })
    }

    /// Links `<state>/<id>` -> `../data/<mail>/<dest>`: the last step, once
    /// the files are durable. Not synced: the caller syncs the folder.
    pub fn import_link(&self, state: State, id: &EntryId, link: Link) -> std::result::Result<(), Errno> {
        let dir = match self.ensure_state_dir(state) {
            Ok(d) => d,
            Err(Error::Io { source, .. }) => {
                return Err(Errno::from_raw(source.raw_os_error().unwrap_or(libc::EIO)));
            }
            Err(_) => return Err(Errno::EIO),
        };
        dir.symlink(link.text().as_str(), id.as_bytes())
    }

    /// Takes back a recipient's folder an import wrote for nothing (no link
    /// points to it).
    pub fn remove_import_dest(&self, link: Link) {
        if let Ok(mail) = self.data().open_dir(link.mail.to_string().as_str()) {
            remove_tree(&mail, &link.dest.to_string());
        }
    }

    /// Takes back a mail folder an import made for nothing: only while it
    /// holds nothing but `contents`.
    pub fn remove_import_mail(&self, mail: MailId) {
        let name = mail.to_string();
        let Ok(dir) = self.data().open_dir(name.as_str()) else {
            return;
        };
        let Ok(children) = dir.children() else { return };
        if children.iter().all(|(n, _)| &**n == b"contents") {
            let _ = dir.unlink("contents");
            let _ = self.data().rmdir(name.as_str());
        }
    }
}
