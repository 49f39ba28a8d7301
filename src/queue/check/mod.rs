//! `check`: find everything wrong in a queue (`find`), and `--repair`: fix
//! what is safe (finish cleanups, remove old temp files, recover stale
//! inflight entries and claimed leftovers, rewrite a mis-spelt link,
//! recreate a lost schedule, fix modes; `repair`) and move everything else
//! into `quarantine/<time>/` with a note of why (`quarantine`). Nothing is
//! ever deleted but writer temp files; message contents never.

mod find;
mod quarantine;
mod repair;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::{EntryId, Link, MailId, State};
use crate::escape::escape_bytes;

pub(crate) use find::lenient_link;
pub use quarantine::Quarantine;

/// The folders a queue root may hold.
pub const KNOWN_ROOT: [&str; 9] = [
    "data",
    "queue",
    "inflight",
    "cleanup",
    "hold",
    "claimed",
    "claimed-held",
    "quarantine",
    crate::queue::holds::NOTES,
];

/// A path relative to the queue root, as raw name components.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rel(pub Vec<Box<[u8]>>);

impl Rel {
    pub fn new(parts: &[&[u8]]) -> Rel {
        Rel(parts.iter().map(|p| Box::<[u8]>::from(*p)).collect())
    }
    pub fn child(&self, name: &[u8]) -> Rel {
        let mut v = self.0.clone();
        v.push(name.into());
        Rel(v)
    }
    pub(crate) fn parent_and_name(&self) -> (Rel, &[u8]) {
        let (last, rest) = self.0.split_last().expect("never empty");
        (Rel(rest.to_vec()), last)
    }
    pub(crate) fn joined(&self) -> Vec<u8> {
        self.0.join(&b'/')
    }
    /// True when `self` is `other` or lies inside it.
    pub(crate) fn within(&self, other: &Rel) -> bool {
        self.0.starts_with(&other.0)
    }
}

impl std::fmt::Display for Rel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&escape_bytes(&self.joined()))
    }
}

/// What `--repair` does about a finding.
#[derive(Debug, Clone)]
pub enum Repair {
    /// Nothing mqctl can safely do; the text says what a person can.
    Manual(String),
    FinishCleanup(EntryId),
    RemoveTemp(Rel),
    /// Remove a hold note: of an entry not held (`held` false: unless it
    /// has been held again since), or one that does not read.
    RemoveHoldNote {
        id: EntryId,
        held: bool,
    },
    /// Move an entry back to where the writer (or mqctl) expects it: a
    /// stale inflight entry to queue/, a claimed one to where it came from.
    Recover {
        state: State,
        id: EntryId,
    },
    /// Rewrite a mis-spelt link to its canonical text.
    RewriteLink {
        state: State,
        id: EntryId,
        link: Link,
    },
    /// Give an entry whose schedule is lost a new one: due now, never tried.
    RecreateSchedule {
        link: Link,
    },
    Chmod {
        path: Rel,
        mode: u32,
    },
    /// Create one of the writer's folders (0700).
    CreateDir(Rel),
    /// Give an entry with a bad name a fresh id (a rename in its folder).
    RenameEntry {
        state: State,
        id: EntryId,
    },
    /// Move these paths (in order) into the quarantine folder. When `mail`
    /// is set, its folder follows once nothing else in it is linked.
    Quarantine {
        paths: Vec<Rel>,
        mail: Option<MailId>,
    },
}

impl Repair {
    pub fn describe(&self) -> String {
        match self {
            Repair::Manual(s) => s.clone(),
            Repair::FinishCleanup(_) => "finish the cleanup".into(),
            Repair::RemoveTemp(_) => "remove the temp file".into(),
            Repair::RemoveHoldNote { .. } => "remove the note".into(),
            Repair::Recover { state, .. } => format!(
                "move it back to {}/ (recover)",
                state.unclaimed().unwrap_or(State::Queued).dir()
            ),
            Repair::RewriteLink { link, .. } => format!("rewrite the link as {}", link.text()),
            Repair::RecreateSchedule { .. } => "write a new schedule: due now, never tried".into(),
            Repair::Chmod { mode, .. } => format!("chmod {mode:o}"),
            Repair::CreateDir(p) => format!("create {p}/ (0700)"),
            Repair::RenameEntry { .. } => "rename the entry to a new id".into(),
            Repair::Quarantine { paths, mail } => {
                let mut names: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
                if let Some(m) = mail {
                    names.push(format!("data/{m} if no other entry uses it"));
                }
                format!("move to quarantine: {}", names.join(", "))
            }
        }
    }

    fn is_manual(&self) -> bool {
        matches!(self, Repair::Manual(_))
    }
}

/// One problem `check` found.
#[derive(Debug, Clone)]
pub struct Finding {
    pub path: Rel,
    pub code: &'static str,
    pub problem: String,
    pub repair: Repair,
}

#[derive(Debug, Serialize)]
pub struct FindingJson {
    pub path: String,
    pub code: &'static str,
    pub problem: String,
    pub repair: String,
}

impl Finding {
    pub fn to_json(&self) -> FindingJson {
        FindingJson {
            path: self.path.to_string(),
            code: self.code,
            problem: self.problem.clone(),
            repair: self.repair.describe(),
        }
    }
}

/// Settings for a check.
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    pub now: Timestamp,
    /// Temp files, orphans and cleanups younger than this are left alone
    /// (a writer may be in the middle of them).
    pub min_age: SignedDuration,
    /// Inflight entries this long in inflight/ are stuck: their writer
    /// has likely died.
    pub stuck_after: SignedDuration,
    /// A running mqctl holds claimed entries: they are not leftovers.
    pub claims_busy: bool,
}

/// True when no finding needs `--repair` or a person.
pub fn is_clean(findings: &[Finding]) -> bool {
    findings.is_empty()
}

/// Findings `--repair` cannot fix.
pub fn manual(findings: &[Finding]) -> usize {
    findings.iter().filter(|f| f.repair.is_manual()).count()
}
