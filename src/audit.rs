//! The record of every change: one syslog line each (mail facility) and,
//! with `--log FILE`, JSON lines that cannot be lost quietly.
//!
//! Before a batch changes anything, one *intent* line naming every entry of
//! the batch is written and synced; after the batch, one *result* line per
//! change. So no entry is changed without a record: when the intent cannot
//! be written, the batch is not made; when a result cannot be written, the
//! run stops and says which changes lack their result line (the intent
//! names them). Each line is written with one `write` on a file opened
//! `O_APPEND`, so runs that share a log do not interleave within a line.
//!
//! The file is opened by the command before it gives up root (see
//! `cmd::Context::open_queue`), so a root cron job can log to
//! `/var/log/mqctl.jsonl` while it acts as the queue's owner.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::queue::ops::{Change, Subject};

pub struct Audit {
    file: Option<File>,
    path: Option<PathBuf>,
    uid: u32,
    user: String,
    syslog: bool,
    /// Names this run in every line, so `undo --run` can find its changes.
    run: String,
}

/// The log could not be written; the text says which file and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogError(pub String);

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One result line. Field names are documented in the README ("The log").
#[derive(Serialize)]
pub struct Line<'a> {
    pub time: String,
    pub run: &'a str,
    pub uid: u32,
    pub user: &'a str,
    pub operation: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
    /// The schedule a rewrite replaced, byte for byte (for `undo`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<&'a str>,
    /// The schedule it wrote, byte for byte.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<&'a str>,
    /// The hold note a hold wrote or a release removed, byte for byte.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_note: Option<&'a str>,
    /// The note a change of a held entry's note replaced, byte for byte.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_note_before: Option<&'a str>,
    pub result: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
}

#[derive(Serialize)]
struct Intent<'a> {
    time: String,
    run: &'a str,
    uid: u32,
    user: &'a str,
    operation: &'a str,
    result: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    paths: Vec<&'a str>,
}

fn now_text() -> String {
    crate::queue::parse::format_timestamp(jiff::Timestamp::now())
}

impl Audit {
    /// Opens the JSON log (appending, created 0600) when asked, and syslog
    /// when `syslog`. Opening a log that cannot be written is a usage error
    /// (exit 2): nothing has been changed yet.
    pub fn open(log: Option<&Path>, syslog: bool) -> Result<Audit> {
        let file = match log {
            Some(p) => {
                use std::os::unix::fs::OpenOptionsExt;
                let f = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o600)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(p)
                    .map_err(|e| Error::Usage(format!("--log {}: {e}", p.display())))?;
                Some(f)
            }
            None => None,
        };
        if syslog {
            let _ = nix::syslog::openlog(
                Some(c"mqctl"),
                nix::syslog::LogFlags::LOG_PID,
                nix::syslog::Facility::LOG_MAIL,
            );
        }
        // Who asked: the real user, recorded before mqctl becomes the
        // queue's owner.
        let uid = nix::unistd::getuid();
        let user = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map_or_else(|| uid.to_string(), |u| u.name);
        Ok(Audit {
            file,
            path: log.map(Path::to_path_buf),
            uid: uid.as_raw(),
            user,
            syslog,
            run: uuid::Uuid::new_v4().hyphenated().to_string(),
        })
    }

    /// Records nothing (dry runs, tests of the library).
    pub fn none() -> Audit {
        Audit {
            file: None,
            path: None,
            uid: nix::unistd::getuid().as_raw(),
            user: String::new(),
            syslog: false,
            run: uuid::Uuid::new_v4().hyphenated().to_string(),
        }
    }

    /// The id every line of this run carries.
    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// The log file, when there is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), LogError> {
        let Some(f) = &mut self.file else { return Ok(()) };
        let name = self
            .path
            .as_deref()
            .map_or_else(String::new, |p| p.display().to_string());
        let fail = |e: std::io::Error| LogError(format!("the log {name} cannot be written: {e}"));
        // One write: O_APPEND puts it at the end in one piece. Cut short
        // (a full disk, a size limit), what was written is ended with a
        // newline if that still fits, so that the next line appended
        // starts a line of its own (a reader skips the cut one).
        if let Err(e) = f.write_all(bytes) {
            let _ = f.write_all(b"\n");
            return Err(fail(e));
        }
        f.sync_data().map_err(fail)
    }

    /// Writes and syncs the line that says which entries (or paths) the
    /// next batch is about to change.
    pub fn intent(&mut self, operation: &str, subjects: &[Subject]) -> Result<(), LogError> {
        if self.file.is_none() || subjects.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::new();
        let mut paths = Vec::new();
        for s in subjects {
            match s {
                Subject::Entry(id) => ids.push(id.to_string()),
                Subject::Path(p) => paths.push(p.as_str()),
            }
        }
        let line = Intent {
            time: now_text(),
            run: &self.run,
            uid: self.uid,
            user: &self.user,
            operation,
            result: "intent",
            ids,
            paths,
        };
        let mut buf = serde_json::to_vec(&line).expect("plain data");
        buf.push(b'\n');
        self.write(&buf)
    }

    /// Records the results of a batch: one syslog line per change made or
    /// failed, and one JSON line per change (written and synced at once).
    pub fn record(&mut self, changes: &[&Change]) -> Result<(), LogError> {
        if self.syslog {
            for c in changes {
                self.syslog_line(c);
            }
        }
        if self.file.is_none() || changes.is_empty() {
            return Ok(());
        }
        let time = now_text();
        let mut buf = Vec::with_capacity(changes.len() * 256);
        for c in changes {
            let (id, path) = match &c.subject {
                Subject::Entry(id) => (Some(id.to_string()), None),
                Subject::Path(p) => (None, Some(p.as_str())),
            };
            let line = Line {
                time: time.clone(),
                run: &self.run,
                uid: self.uid,
                user: &self.user,
                operation: c.op,
                id,
                path,
                from: c.from.map(|s| s.dir()),
                to: c.to.map(|s| s.dir()),
                detail: c.detail.as_deref(),
                before: c.before.as_deref(),
                after: c.after.as_deref(),
                hold_note: c.note.as_deref(),
                hold_note_before: c.note_before.as_deref(),
                result: c.outcome.word(),
                reason: c.outcome.reason(),
            };
            serde_json::to_writer(&mut buf, &line).expect("plain data");
            buf.push(b'\n');
        }
        self.write(&buf)
    }

    fn syslog_line(&self, c: &Change) {
        use crate::queue::ops::Outcome;
        if !matches!(c.outcome, Outcome::Done | Outcome::Failed(_)) {
            return;
        }
        let moved = match (c.from, c.to) {
            (Some(f), Some(t)) => format!(" {f} -> {t}"),
            _ => String::new(),
        };
        let msg = format!(
            "{} {}{moved}{}: {}{} (uid {}, run {})",
            c.op,
            c.subject,
            c.detail.as_deref().map(|d| format!(" {d}")).unwrap_or_default(),
            c.outcome.word(),
            c.outcome.reason().map(|r| format!(": {r}")).unwrap_or_default(),
            self.uid,
            self.run
        );
        let sev = if c.outcome == Outcome::Done {
            nix::syslog::Severity::LOG_INFO
        } else {
            nix::syslog::Severity::LOG_WARNING
        };
        let _ = nix::syslog::syslog(sev, &msg);
    }
}
