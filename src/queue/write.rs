//! The write path: adding entries the writer's way. Every file is created
//! exclusively without following links, with the writer's modes.

use std::io::Write;
use std::os::fd::AsFd;

use jiff::Timestamp;
use nix::errno::Errno;
use uuid::Uuid;

use super::Queue;
use super::model::{Address, DestId, EntryId, Envelope, Link, MailId, Schedule, State};
use super::parse;
use super::sys::Dir;
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
