//! The selection language as flags: one clap definition shared by every
//! command that takes a selection and by the TUI's `/` filter, and the
//! step that turns those flags into a `Selection`.

use clap::{Args, ValueEnum};
use clap_complete::engine::ArgValueCompleter;
use jiff::{SignedDuration, Timestamp};

use super::{Glob, HeaderFilter, Selection};
use crate::error::{Error, Result};
use crate::queue::State;
use crate::timespec;

/// The selection language. Filters combine with AND.
#[derive(Debug, Args, Default, Clone)]
pub struct SelectArgs {
    /// Entry ids or unique prefixes; `-` reads ids from stdin (newline or NUL separated).
    #[arg(value_name = "ID", add = ArgValueCompleter::new(super::complete::ids))]
    pub ids: Vec<String>,

    /// Only entries in this state (repeatable).
    #[arg(long, value_enum, value_name = "STATE", help_heading = "Selection")]
    pub state: Vec<StateArg>,

    /// Sender matches this glob (`<>` is the null sender), case-insensitive.
    #[arg(long, value_name = "GLOB", help_heading = "Selection")]
    pub from: Option<String>,

    /// Recipient matches this glob, case-insensitive.
    #[arg(long, value_name = "GLOB", help_heading = "Selection")]
    pub to: Option<String>,

    /// Recipient domain matches (a name or a glob like `*.example.com`).
    #[arg(long, value_name = "DOMAIN", help_heading = "Selection")]
    pub domain: Option<String>,

    /// Entries of this mail (id or prefix of data/<mail>).
    #[arg(long, value_name = "MAILID", help_heading = "Selection")]
    pub mail: Option<String>,

    /// Next attempt is now or past.
    #[arg(long, conflicts_with = "not_due", help_heading = "Selection")]
    pub due: bool,

    /// Next attempt is in the future (deferred).
    #[arg(long, help_heading = "Selection")]
    pub not_due: bool,

    /// Tried at least once (last_attempt set).
    #[arg(long, conflicts_with = "never_tried", help_heading = "Selection")]
    pub retried: bool,

    /// Never tried yet.
    #[arg(long, help_heading = "Selection")]
    pub never_tried: bool,

    /// Inflight for at least --stuck-after (its writer has likely died).
    #[arg(long, help_heading = "Selection")]
    pub stuck: bool,

    /// Message older than this (e.g. 30m, 2h, 3d).
    #[arg(long, value_name = "DUR", value_parser = timespec::duration, allow_hyphen_values = true, help_heading = "Selection")]
    pub older_than: Option<SignedDuration>,

    /// Message younger than this.
    #[arg(long, value_name = "DUR", value_parser = timespec::duration, allow_hyphen_values = true, help_heading = "Selection")]
    pub younger_than: Option<SignedDuration>,

    /// Message larger than this (e.g. 100k, 10M).
    #[arg(long, value_name = "SIZE", value_parser = timespec::size, allow_hyphen_values = true, help_heading = "Selection")]
    pub larger_than: Option<u64>,

    /// Subject matches this glob (decoded), case-insensitive.
    #[arg(long, value_name = "GLOB", help_heading = "Selection")]
    pub subject: Option<String>,

    /// A header matches: 'Name: GLOB' (repeatable).
    #[arg(long, value_name = "'NAME: GLOB'", help_heading = "Selection")]
    pub header: Vec<String>,

    /// Only entries with problems (see `mqctl check`).
    #[arg(long, help_heading = "Selection")]
    pub broken: bool,
}

/// `--stuck-after DUR`: the one name for "inflight for too long", in every
/// command that cares (stats, list, drop, recover, check, tui).
#[derive(Debug, Args, Clone, Copy)]
pub struct StuckArg {
    /// An inflight entry this long in inflight/ is stuck: its writer has
    /// likely died (the writer itself waits 1h before it takes one back).
    #[arg(long, value_name = "DUR", default_value = "1h", value_parser = timespec::duration, allow_hyphen_values = true)]
    pub stuck_after: SignedDuration,
}

impl Default for StuckArg {
    fn default() -> StuckArg {
        StuckArg {
            stuck_after: SignedDuration::from_hours(1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    Queue,
    Inflight,
    Cleanup,
    Hold,
    /// Taken from queue/ by a running (or interrupted) mqctl.
    Claimed,
    /// Taken from hold/ by a running (or interrupted) mqctl.
    ClaimedHeld,
}

impl StateArg {
    pub fn state(self) -> State {
        match self {
            StateArg::Queue => State::Queued,
            StateArg::Inflight => State::Inflight,
            StateArg::Cleanup => State::Cleanup,
            StateArg::Hold => State::Held,
            StateArg::Claimed => State::Claimed,
            StateArg::ClaimedHeld => State::ClaimedHeld,
        }
    }
}

/// Splits what `-` read from stdin into ids (newline or NUL separated,
/// blank lines ignored).
pub fn split_ids(buf: &[u8]) -> Vec<String> {
    let sep = if buf.contains(&0) { b'\0' } else { b'\n' };
    buf.split(|&b| b == sep)
        .map(|part| String::from_utf8_lossy(part).trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

impl SelectArgs {
    /// True when `-` is among the ids (they are to be read from stdin).
    pub fn reads_stdin(&self) -> bool {
        self.ids.iter().any(|i| i == "-")
    }

    /// The selection these flags describe. `stdin` gives what `-` reads;
    /// `stuck_after` is what `--stuck` means.
    pub fn selection(
        &self,
        now: Timestamp,
        stuck_after: SignedDuration,
        stdin: &mut dyn FnMut() -> std::io::Result<Vec<u8>>,
    ) -> Result<Selection> {
        let glob = |v: &Option<String>| v.as_deref().map(Glob::new).transpose();
        let tri = |yes: bool, no: bool| match (yes, no) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        let mut states: Vec<State> = self.state.iter().map(|s| s.state()).collect();
        states.sort();
        states.dedup();
        let mut ids = Vec::new();
        for id in &self.ids {
            if id != "-" {
                ids.push(id.clone());
                continue;
            }
            let buf = stdin().map_err(|e| Error::Usage(format!("reading ids from stdin: {e}")))?;
            ids.extend(split_ids(&buf));
        }
        let read_none = ids.is_empty() && self.reads_stdin();
        Ok(Selection {
            ids,
            read_no_ids: read_none,
            states,
            from: glob(&self.from)?,
            to: glob(&self.to)?,
            domain: glob(&self.domain)?,
            mail: self.mail.clone(),
            due: tri(self.due, self.not_due),
            retried: tri(self.retried, self.never_tried),
            stuck: self.stuck.then_some(true),
            stuck_after,
            older_than: self.older_than,
            younger_than: self.younger_than,
            larger_than: self.larger_than,
            subject: glob(&self.subject)?,
            headers: self
                .header
                .iter()
                .map(|h| HeaderFilter::parse(h))
                .collect::<Result<_>>()?,
            broken: self.broken.then_some(true),
            text: None,
            now: Some(now),
            expired: false,
        })
    }
}
