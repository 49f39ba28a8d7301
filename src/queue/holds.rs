//! Why an entry is held, since when and until when: one small JSON file per
//! held entry, `Q/hold-notes/<id>`, in mqctl's own folder (the writer never
//! opens it). `hold` writes it before it moves the entry into `hold/`,
//! `release` and `drop` remove it after the entry has left `hold/`; a note
//! whose entry is no longer held is reported (and removed) by `check`.

use std::os::fd::AsFd;

use jiff::Timestamp;
use nix::errno::Errno;
use serde::{Deserialize, Serialize};

use super::sys::{Dir, ReadError};
use super::{Entry, EntryId, MAX_JSON_FILE, Queue, State};
use crate::error::{Error, Result};

/// The folder of the notes, under the queue root.
pub const NOTES: &str = "hold-notes";

/// A reason is a line for a person, not a file: at most this many bytes.
pub const MAX_REASON: usize = 1000;

/// A held entry's note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldNote {
    /// Why it is held (`hold --reason`), if said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it was held.
    pub since: Timestamp,
    /// When the hold ends (`hold --until`): `release --expired` releases it
    /// from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// Who held it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// True for the name of a note being written (`<id>.<uuid>`, see
/// `Queue::stage_hold_note`).
pub fn is_staged_name(name: &[u8]) -> bool {
    let Some(dot) = name.iter().position(|&b| b == b'.') else {
        return false;
    };
    super::parse_uuid(&name[..dot]).is_some() && super::parse_uuid(&name[dot + 1..]).is_some()
}

impl HoldNote {
    /// A note of when an entry was held and by whom: the user behind sudo,
    /// else the login name.
    pub fn by_current_user(since: Timestamp) -> HoldNote {
        let user = ["SUDO_USER", "LOGNAME", "USER"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
            .or_else(|| {
                nix::unistd::User::from_uid(nix::unistd::getuid())
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            });
        HoldNote {
            user,
            ..HoldNote::new(since)
        }
    }

    /// A note of when an entry was held, and nothing else.
    pub fn new(since: Timestamp) -> HoldNote {
        HoldNote {
            reason: None,
            since: since.round(jiff::Unit::Second).unwrap_or(since),
            until: None,
            user: None,
        }
    }

    /// True when `text` is a note as mqctl writes one: within the bound of
    /// a queue's JSON file, and a `HoldNote`.
    pub fn is_note(text: &[u8]) -> bool {
        text.len() as u64 <= MAX_JSON_FILE && serde_json::from_slice::<HoldNote>(text).is_ok()
    }

    /// True once its end has come.
    pub fn expired(&self, now: Timestamp) -> bool {
        self.until.is_some_and(|u| u <= now)
    }
}

impl Queue {
    /// The notes folder, made (0700, like the writer's) on first use.
    fn notes_dir(&self, create: bool) -> Result<Option<&Dir>> {
        if let Some(d) = self.notes.get() {
            return Ok(Some(d));
        }
        if create {
            match self.root().mkdir(NOTES, 0o700) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(Error::io("creating", self.display(NOTES), e)),
            }
        }
        match self.root().open_dir(NOTES) {
            Ok(d) => {
                let _ = self.notes.set(d);
                Ok(self.notes.get())
            }
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(Error::io("opening", self.display(NOTES), e)),
        }
    }

    /// Writes an entry's note, the JSON of a `HoldNote` (a temp sibling
    /// renamed over any old one). Not synced: the change engine's group
    /// commit syncs the filesystem.
    pub fn write_hold_note(&self, id: &EntryId, body: &[u8]) -> std::result::Result<(), Errno> {
        let tmp = self.stage_hold_note(id, body)?;
        self.place_hold_note(&tmp, id)
            .inspect_err(|_| self.discard_hold_note(&tmp))
    }

    /// Writes a note into a temp file of the notes folder: its name.
    pub fn stage_hold_note(&self, id: &EntryId, body: &[u8]) -> std::result::Result<String, Errno> {
        let dir = self
            .notes_dir(true)
            .map_err(|e| match e {
                Error::Io { source, .. } => Errno::from_raw(source.raw_os_error().unwrap_or(libc::EIO)),
                _ => Errno::EIO,
            })?
            .ok_or(Errno::ENOENT)?;
        let name = String::from_utf8_lossy(id.as_bytes()).into_owned();
        let (uid, gid) = (self.root_meta().uid, self.root_meta().gid);
        super::ops::write_temp(dir, &name, body, (uid, gid))
    }

    /// Renames a staged note over the entry's note.
    pub fn place_hold_note(&self, tmp: &str, id: &EntryId) -> std::result::Result<(), Errno> {
        let dir = self.notes.get().ok_or(Errno::ENOENT)?;
        dir.rename_over(tmp, id.as_bytes())
    }

    /// Removes a staged note that is not wanted after all.
    pub fn discard_hold_note(&self, tmp: &str) {
        if let Some(dir) = self.notes.get() {
            let _ = dir.unlink(tmp);
        }
    }

    /// Removes an entry's note, if it has one.
    pub fn remove_hold_note(&self, id: &EntryId) -> std::result::Result<(), Errno> {
        let Ok(Some(dir)) = self.notes_dir(false) else {
            return Ok(());
        };
        match dir.unlink(id.as_bytes()) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// An entry's note, if it has one that reads (a bad one is as none).
    pub fn hold_note(&self, id: &EntryId) -> Option<HoldNote> {
        serde_json::from_str(&self.hold_note_text(id)?).ok()
    }

    /// An entry's note as its bytes are (UTF-8), if it has one.
    pub fn hold_note_text(&self, id: &EntryId) -> Option<String> {
        let dir = self.notes_dir(false).ok().flatten()?;
        let mut buf = Vec::new();
        match dir.read_file_into(id.as_bytes(), MAX_JSON_FILE, &mut buf) {
            Ok(_) => String::from_utf8(buf).ok(),
            Err(ReadError::NotFound) | Err(_) => None,
        }
    }

    /// Gives a held entry its note (nothing for other states).
    pub fn add_hold_note(&self, e: &mut Entry) {
        if matches!(e.state, State::Held | State::ClaimedHeld) && e.hold.is_none() {
            e.hold = self.hold_note(&e.id).map(Box::new);
        }
    }

    /// The names in the notes folder (for `check`).
    pub fn hold_note_names(&self) -> Result<Vec<Box<[u8]>>> {
        let Some(dir) = self.notes_dir(false)? else {
            return Ok(Vec::new());
        };
        let children = dir
            .children()
            .map_err(|e| Error::io("listing", self.display(NOTES), e))?;
        Ok(children.into_iter().map(|(n, _)| n).collect())
    }

    /// When a file of the notes folder was last written.
    pub fn hold_note_mtime(&self, name: &[u8]) -> Option<Timestamp> {
        let m = self.notes_dir(false).ok().flatten()?.stat_at(name).ok()?;
        Timestamp::new(m.mtime.0, m.mtime.1 as i32).ok()
    }

    /// Syncs the notes folder's filesystem (after notes were written).
    pub fn sync_hold_notes(&self) -> std::result::Result<(), Errno> {
        match self.notes.get() {
            Some(d) => nix::unistd::syncfs(d.as_fd()),
            None => Ok(()),
        }
    }
}
