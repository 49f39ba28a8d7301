//! Leftovers: writer temp files and orphan mail folders (a crash during
//! enqueue). Only what is old enough (a writer may be mid-write) and shaped
//! exactly as the writer makes it is removed; anything else is left for
//! `check`. Finding and removing are separate steps, so that the change
//! engine can record what it is about to remove before it does.

use std::collections::HashSet;
use std::ops::ControlFlow;

use jiff::{SignedDuration, Timestamp};
use nix::errno::Errno;
use rayon::prelude::*;

use super::ops::{Outcome, is_temp_name};
use super::sys::{Dir, Kind, Meta};
use super::{MailId, Queue, State, parse_uuid};
use crate::error::{Error, Result};
use crate::escape::escape_bytes;

/// A leftover `purge` may remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftover {
    /// `data/<mail>/<dest>/<name>`: a writer temp file old enough to be
    /// left behind by a crash.
    Temp {
        mail: Box<[u8]>,
        dest: Box<[u8]>,
        name: Box<[u8]>,
    },
    /// `data/<mail>`: a mail no entry links to, shaped as the writer makes
    /// them, old enough not to be an enqueue in progress.
    Orphan { mail: Box<[u8]> },
    /// Something in `data/` that looks like an orphan but is not shaped
    /// as the writer's: reported, left for `mqctl check`.
    Odd { path: String, why: String },
}

impl Leftover {
    /// Relative to the queue root, escaped.
    pub fn path(&self) -> String {
        match self {
            Leftover::Temp { mail, dest, name } => format!(
                "data/{}/{}/{}",
                escape_bytes(mail),
                escape_bytes(dest),
                escape_bytes(name)
            ),
            Leftover::Orphan { mail } => format!("data/{}", escape_bytes(mail)),
            Leftover::Odd { path, .. } => path.clone(),
        }
    }

    /// The operation's name in the log.
    pub fn operation(&self) -> &'static str {
        match self {
            Leftover::Temp { .. } => "remove-temp",
            Leftover::Orphan { .. } | Leftover::Odd { .. } => "remove-orphan",
        }
    }
}

fn mtime(m: &Meta) -> Timestamp {
    Timestamp::new(m.mtime.0, m.mtime.1 as i32).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn gone(r: std::result::Result<(), Errno>) -> std::result::Result<(), Errno> {
    match r {
        Err(Errno::ENOENT) => Ok(()),
        r => r,
    }
}

fn outcome(r: std::result::Result<(), Errno>) -> Outcome {
    match r {
        Ok(()) => Outcome::Done,
        Err(Errno::ENOENT) => Outcome::Vanished,
        Err(e) => Outcome::Failed(e.desc().to_string()),
    }
}

impl Queue {
    /// The mails some entry's link points to, in every state folder.
    pub fn linked_mails(&self) -> Result<HashSet<MailId>> {
        let mut out = HashSet::new();
        for s in State::ALL {
            let Some(dir) = self.state_dir(s) else { continue };
            let mut names = Vec::new();
            dir.for_each_child(|n, _| {
                names.push(Box::<[u8]>::from(n));
                ControlFlow::Continue(())
            })
            .map_err(|e| Error::io("listing", self.display(s.dir()), e))?;
            let mails: Vec<MailId> = names
                .par_iter()
                .map_init(Vec::new, |buf, n| {
                    dir.read_link_into(&**n, buf).ok()?;
                    // A mis-spelt link still names its mail: never an orphan.
                    super::Link::parse(buf)
                        .or_else(|| super::check::lenient_link(buf))
                        .map(|l| l.mail)
                })
                .flatten()
                .collect();
            out.extend(mails);
        }
        Ok(out)
    }

    /// The `data/<mail>` folder names (uuid-named or not).
    fn mail_names(&self) -> Result<Vec<super::sys::Child>> {
        self.data()
            .children()
            .map_err(|e| Error::io("listing", self.display("data"), e))
    }

    /// Writer temp files (`schedule.<uuid>`, `metadata.<uuid>`) older than
    /// `min_age`, in every dest folder.
    pub fn find_temp_files(&self, min_age: SignedDuration, now: Timestamp) -> Result<Vec<Leftover>> {
        let mails = self.mail_names()?;
        Ok(mails
            .par_iter()
            .filter(|(_, k)| matches!(k, Some(Kind::Dir) | None))
            .flat_map_iter(|(mail, _)| self.temp_files_in(mail, min_age, now))
            .collect())
    }

    fn temp_files_in(&self, mail: &[u8], min_age: SignedDuration, now: Timestamp) -> Vec<Leftover> {
        let mut out = Vec::new();
        let Ok(mail_dir) = self.data().open_dir(mail) else {
            return out;
        };
        let Ok(dests) = mail_dir.children() else { return out };
        for (dest, kind) in dests {
            if kind != Some(Kind::Dir) {
                continue;
            }
            let Ok(dest_dir) = mail_dir.open_dir(&*dest) else {
                continue;
            };
            let Ok(files) = dest_dir.children() else { continue };
            for (name, _) in files {
                if !is_temp_name(&name) {
                    continue;
                }
                let Ok(meta) = dest_dir.stat_at(&*name) else { continue };
                if meta.kind != Kind::File || now.duration_since(mtime(&meta)) < min_age {
                    continue;
                }
                out.push(Leftover::Temp {
                    mail: mail.into(),
                    dest: dest.clone(),
                    name,
                });
            }
        }
        out
    }

    /// `data/<mail>` folders no entry links to, older than `min_age`. Those
    /// whose shape is exactly the writer's (`contents` and dest folders
    /// holding only `schedule`/`metadata`) may be removed; the others are
    /// `Leftover::Odd`, for `check`.
    pub fn find_orphans(&self, min_age: SignedDuration, now: Timestamp) -> Result<Vec<Leftover>> {
        let linked = self.linked_mails()?;
        let mails = self.mail_names()?;
        // The folders are listed one after the other: an entry moved from a
        // folder not yet listed into one already listed (release, recover,
        // send_cancel) is missed. A second listing, after the first, finds
        // it; only a mail neither listing links to is an orphan.
        let linked_again = self.linked_mails()?;
        Ok(mails
            .par_iter()
            .filter_map(|(name, _)| {
                let id = parse_uuid(name).map(MailId);
                if id.is_some_and(|m| linked.contains(&m) || linked_again.contains(&m)) {
                    return None;
                }
                let path = format!("data/{}", escape_bytes(name));
                if id.is_none() {
                    return Some(Leftover::Odd {
                        path,
                        why: "name is not a mail id: left for `mqctl check`".into(),
                    });
                }
                match self.orphan_shape(name) {
                    Err(why) => Some(Leftover::Odd {
                        path,
                        why: format!("{why}: left for `mqctl check`"),
                    }),
                    Ok(newest) if now.duration_since(newest) < min_age => None,
                    Ok(_) => Some(Leftover::Orphan { mail: name.clone() }),
                }
            })
            .collect())
    }

    /// Removes one leftover found by `find_temp_files` or `find_orphans`.
    pub fn remove_leftover(&self, l: &Leftover) -> Outcome {
        match l {
            Leftover::Temp { mail, dest, name } => {
                let dir = self.data().open_dir(mail).and_then(|m| m.open_dir(&**dest));
                outcome(dir.and_then(|d| d.unlink(&**name)))
            }
            Leftover::Orphan { mail } => outcome(self.remove_orphan(mail)),
            Leftover::Odd { why, .. } => Outcome::Skipped(why.clone()),
        }
    }

    /// Checks an orphan has exactly the writer's shape; returns the newest
    /// modification time in it.
    fn orphan_shape(&self, mail: &[u8]) -> std::result::Result<Timestamp, String> {
        let dir = self
            .data()
            .open_dir(mail)
            .map_err(|e| format!("not a plain folder ({})", e.desc()))?;
        let mut newest = mtime(&dir.stat().map_err(|e| e.desc().to_string())?);
        for (name, _) in dir.children().map_err(|e| e.desc().to_string())? {
            let meta = dir.stat_at(&*name).map_err(|e| e.desc().to_string())?;
            newest = newest.max(mtime(&meta));
            if &*name == b"contents" {
                if meta.kind != Kind::File {
                    return Err("contents is not a regular file".into());
                }
                continue;
            }
            if parse_uuid(&name).is_none() || meta.kind != Kind::Dir {
                return Err(format!("holds \"{}\", which is not the writer's", escape_bytes(&name)));
            }
            let dest = dir.open_dir(&*name).map_err(|e| e.desc().to_string())?;
            for (f, _) in dest.children().map_err(|e| e.desc().to_string())? {
                let m = dest.stat_at(&*f).map_err(|e| e.desc().to_string())?;
                newest = newest.max(mtime(&m));
                let known = &*f == b"schedule" || &*f == b"metadata" || is_temp_name(&f);
                if !known || m.kind != Kind::File {
                    return Err(format!(
                        "holds \"{}/{}\", which is not the writer's",
                        escape_bytes(&name),
                        escape_bytes(&f)
                    ));
                }
            }
        }
        Ok(newest)
    }

    fn remove_orphan(&self, mail: &[u8]) -> std::result::Result<(), Errno> {
        let dir: Dir = self.data().open_dir(mail)?;
        for (name, kind) in dir.children()? {
            if kind == Some(Kind::Dir) {
                let dest = dir.open_dir(&*name)?;
                for (f, _) in dest.children()? {
                    gone(dest.unlink(&*f))?;
                }
                gone(dir.rmdir(&*name))?;
            } else {
                gone(dir.unlink(&*name))?;
            }
        }
        gone(self.data().rmdir(mail))
    }
}
