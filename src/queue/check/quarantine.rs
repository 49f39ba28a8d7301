//! Where `--repair` puts what it cannot make right: `quarantine/<time>/`,
//! the same relative paths, and `notes.jsonl` saying why each is there.
//! The note is written (and synced) before the move, so nothing sits in
//! quarantine without its reason; when either fails, what this attempt
//! created (folders, an empty notes file) is taken away again, so a full
//! disk leaves no empty quarantine behind.

use std::io::{Seek, Write};

use jiff::Timestamp;
use nix::errno::Errno;
use serde::Serialize;

use super::{Finding, Rel};
use crate::queue::sys::{Dir, Kind};
use crate::queue::{Queue, parse};

/// Where `--repair` puts what it cannot make right.
pub struct Quarantine {
    dir_name: String,
    notes: Option<std::fs::File>,
    moved: usize,
}

#[derive(Serialize)]
struct Note<'a> {
    time: String,
    path: String,
    moved_to: String,
    code: &'a str,
    problem: &'a str,
}

impl Quarantine {
    pub fn new(now: Timestamp) -> Quarantine {
        Quarantine {
            dir_name: now.strftime("%Y%m%dT%H%M%S%.fZ").to_string(),
            notes: None,
            moved: 0,
        }
    }

    pub fn name(&self) -> String {
        format!("quarantine/{}", self.dir_name)
    }

    /// True once something was moved into it.
    pub fn used(&self) -> bool {
        self.moved > 0
    }
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

impl Queue {
    /// The folder holding `rel`, and `rel`'s last component.
    pub(super) fn open_parent(&self, rel: &Rel) -> Result<(Dir, Vec<u8>), Errno> {
        let (parent, name) = rel.parent_and_name();
        let dir = if parent.0.is_empty() {
            self.root().open_dir(".")?
        } else {
            self.root().open_dir(&parent.joined())?
        };
        Ok((dir, name.to_vec()))
    }

    /// Creates the folders of `parts` under the root that do not exist yet
    /// (0700); returns the last one and the paths it created, deepest last.
    fn make_dirs_noting(&self, parts: &[&[u8]]) -> Result<(Dir, Vec<Vec<u8>>), Errno> {
        let mut made = Vec::new();
        let mut cur = self.root().open_dir(".")?;
        let mut path: Vec<u8> = Vec::new();
        for part in parts {
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(part);
            match cur.mkdir(*part, 0o700) {
                Ok(()) => made.push(path.clone()),
                Err(Errno::EEXIST) => {}
                Err(e) => {
                    self.remove_made(&made);
                    return Err(e);
                }
            }
            cur = match cur.open_dir(*part) {
                Ok(d) => d,
                Err(e) => {
                    self.remove_made(&made);
                    return Err(e);
                }
            };
        }
        Ok((cur, made))
    }

    /// Removes folders this attempt created (if still empty), deepest first.
    fn remove_made(&self, made: &[Vec<u8>]) {
        for p in made.iter().rev() {
            let _ = self.root().rmdir(p.as_slice()).or_else(|_| {
                // A nested path: rmdir relative to its parent.
                let (parent, name) = match p.iter().rposition(|&b| b == b'/') {
                    Some(i) => (&p[..i], &p[i + 1..]),
                    None => return Err(Errno::ENOENT),
                };
                self.root().open_dir(parent).and_then(|d| d.rmdir(name))
            });
        }
    }

    /// Renames `rel` to `quarantine/<time>/<rel>` (never replacing), and
    /// appends a note of why to `quarantine/<time>/notes.jsonl`.
    pub(super) fn quarantine_path(&self, rel: &Rel, q: &mut Quarantine, finding: &Finding) -> Result<(), Errno> {
        let (src, name) = self.open_parent(rel)?;
        src.stat_at(&name)?;
        let (parent, _) = rel.parent_and_name();
        let mut parts: Vec<&[u8]> = vec![b"quarantine", q.dir_name.as_bytes()];
        parts.extend(parent.0.iter().map(|p| &**p));
        let (dst, made) = self.make_dirs_noting(&parts)?;
        let undo = |q: &mut Quarantine, made_notes: bool| {
            if made_notes {
                q.notes = None;
                if let Ok(d) = self.root().open_dir(q.name().as_str()) {
                    let _ = d.unlink("notes.jsonl");
                }
            }
            self.remove_made(&made);
        };
        let mut made_notes = false;
        if q.notes.is_none() {
            let qdir = self.root().open_dir(q.name().as_str())?;
            let f = match qdir.create_file("notes.jsonl", 0o600) {
                Ok(f) => {
                    made_notes = true;
                    f
                }
                Err(Errno::EEXIST) => {
                    let fd = nix::fcntl::openat(
                        &qdir,
                        "notes.jsonl",
                        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_APPEND | nix::fcntl::OFlag::O_NOFOLLOW,
                        nix::sys::stat::Mode::empty(),
                    )?;
                    std::fs::File::from(fd)
                }
                Err(e) => {
                    undo(q, false);
                    return Err(e);
                }
            };
            q.notes = Some(f);
        }
        let moved_to = format!("{}/{}", q.name(), rel);
        let notes = q.notes.as_mut().expect("opened above");
        let old_len = match notes.metadata() {
            Ok(m) => m.len(),
            Err(e) => {
                undo(q, made_notes);
                return Err(io_errno(e));
            }
        };
        let take_back = |notes: &mut std::fs::File| {
            let _ = notes.set_len(old_len);
            let _ = notes.seek(std::io::SeekFrom::Start(old_len));
        };
        let note = Note {
            time: parse::format_timestamp(Timestamp::now()),
            path: rel.to_string(),
            moved_to,
            code: finding.code,
            problem: &finding.problem,
        };
        let mut line = serde_json::to_vec(&note).expect("plain data");
        line.push(b'\n');
        if let Err(e) = notes.write_all(&line).and_then(|()| notes.sync_data()) {
            take_back(notes);
            undo(q, made_notes && old_len == 0);
            return Err(io_errno(e));
        }
        let moved = match src.move_noreplace(&name, &dst, &name) {
            // A mail following its dest folder: this run already made
            // quarantine/<time>/data/<mail> for the dest; move the rest in.
            Err(Errno::EEXIST) if src.stat_at(&name).is_ok_and(|m| m.kind == Kind::Dir) => (|| {
                let (from, to) = (src.open_dir(&name)?, dst.open_dir(&name)?);
                for (child, _) in from.children()? {
                    from.move_noreplace(&*child, &to, &*child)?;
                }
                to.fsync()?;
                src.rmdir(&name)
            })(),
            r => r,
        };
        if let Err(e) = moved {
            let notes = q.notes.as_mut().expect("opened above");
            take_back(notes);
            undo(q, made_notes && old_len == 0);
            return Err(e);
        }
        q.moved += 1;
        dst.fsync()?;
        src.fsync()?;
        Ok(())
    }
}
