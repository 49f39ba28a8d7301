//! The record of every change: one syslog line each (mail facility) and,
//! with `--log FILE`, one JSON line each.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::queue::ops::{Change, Outcome};

pub struct Audit {
    file: Option<std::io::BufWriter<File>>,
    uid: u32,
    user: String,
    syslog: bool,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    uid: u32,
    user: &'a str,
    operation: &'a str,
    id: &'a str,
    from: &'a str,
    to: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    result: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

impl Audit {
    /// Opens the JSON log (appending, 0600) when asked; syslog when `syslog`.
    pub fn open(log: Option<&Path>, syslog: bool) -> Result<Audit> {
        let file = match log {
            Some(p) => {
                use std::os::unix::fs::OpenOptionsExt;
                let f = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o600)
                    .open(p)
                    .map_err(|e| Error::Usage(format!("--log {}: {e}", p.display())))?;
                Some(std::io::BufWriter::new(f))
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
        let uid = nix::unistd::getuid();
        let user = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map_or_else(|| uid.to_string(), |u| u.name);
        Ok(Audit {
            file,
            uid: uid.as_raw(),
            user,
            syslog,
        })
    }

    /// Records one change (dry runs are not recorded).
    pub fn record(&mut self, operation: &str, c: &Change) -> Result<()> {
        let id = c.id.to_string();
        let (result, reason) = match &c.outcome {
            Outcome::Done => ("done", None),
            Outcome::Vanished => ("vanished", None),
            Outcome::Skipped(r) => ("skipped", Some(r.as_str())),
            Outcome::Failed(r) => ("failed", Some(r.as_str())),
        };
        if self.syslog && matches!(c.outcome, Outcome::Done | Outcome::Failed(_)) {
            let msg = format!(
                "{operation} {id} {} -> {}{}: {result}{} (uid {})",
                c.from,
                c.to,
                c.detail.as_deref().map(|d| format!(" {d}")).unwrap_or_default(),
                reason.map(|r| format!(": {r}")).unwrap_or_default(),
                self.uid
            );
            let sev = if result == "done" {
                nix::syslog::Severity::LOG_INFO
            } else {
                nix::syslog::Severity::LOG_WARNING
            };
            let _ = nix::syslog::syslog(sev, &msg);
        }
        if let Some(f) = &mut self.file {
            let line = Line {
                time: crate::queue::parse::format_timestamp(jiff::Timestamp::now()),
                uid: self.uid,
                user: &self.user,
                operation,
                id: &id,
                from: c.from.dir(),
                to: c.to.dir(),
                detail: c.detail.as_deref(),
                result,
                reason,
            };
            serde_json::to_writer(&mut *f, &line)
                .map_err(std::io::Error::other)
                .map_err(log_err)?;
            f.write_all(b"\n").map_err(log_err)?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<()> {
        if let Some(f) = &mut self.file {
            f.flush().map_err(log_err)?;
            f.get_ref().sync_data().map_err(log_err)?;
        }
        Ok(())
    }
}

fn log_err(e: std::io::Error) -> Error {
    Error::Io {
        op: "writing",
        path: "the --log file".into(),
        source: e,
    }
}
