//! What can be wrong with one entry. The scan records these instead of
//! stopping; `list` shows them, `check` reports and repairs them.

use std::fmt;

use nix::errno::Errno;

use super::sys::{Kind, ReadError};
use crate::escape::escape_bytes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The entry's name is not a lowercase hyphenated UUID.
    BadName,
    /// Something other than a symlink sits in a state folder.
    NotALink(Kind),
    /// The symlink could not be read.
    LinkUnreadable(Errno),
    /// The link text is not exactly `../data/<mail>/<dest>`.
    BadLinkText(Box<[u8]>),
    /// `data/<mail>` is missing.
    MailMissing,
    /// `data/<mail>` is not a plain folder (a symlink, a file…).
    MailNotFolder(Kind),
    /// `data/<mail>/<dest>` is missing.
    DestMissing,
    /// `data/<mail>/<dest>` is not a plain folder.
    DestNotFolder(Kind),
    /// A folder of the entry cannot be opened (permissions, I/O error).
    FolderUnreadable(&'static str, Errno),
    Schedule(FileIssue),
    Metadata(FileIssue),
    Contents(ReadError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileIssue {
    Read(ReadError),
    Parse(String),
}

impl fmt::Display for FileIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileIssue::Read(e) => write!(f, "{e}"),
            // A parse error can quote the file's text (an unknown variant name).
            FileIssue::Parse(e) => write!(f, "invalid: {}", crate::escape::escape(e)),
        }
    }
}

impl Problem {
    /// A stable short name, for JSON and for scripts.
    pub fn code(&self) -> &'static str {
        match self {
            Problem::BadName => "bad-name",
            Problem::NotALink(_) => "not-a-link",
            Problem::LinkUnreadable(_) => "link-unreadable",
            Problem::BadLinkText(_) => "bad-link",
            Problem::MailMissing | Problem::DestMissing => "dangling",
            Problem::MailNotFolder(_) | Problem::DestNotFolder(_) => "not-a-folder",
            Problem::FolderUnreadable(..) => "folder-unreadable",
            Problem::Schedule(FileIssue::Read(_)) => "schedule-unreadable",
            Problem::Schedule(FileIssue::Parse(_)) => "schedule-invalid",
            Problem::Metadata(FileIssue::Read(_)) => "metadata-unreadable",
            Problem::Metadata(FileIssue::Parse(_)) => "metadata-invalid",
            Problem::Contents(_) => "contents-unreadable",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::BadName => write!(f, "name is not a lowercase UUID"),
            Problem::NotALink(Kind::Dir) => {
                write!(
                    f,
                    "a folder inside a state folder (the writer lists its links but can never move them)"
                )
            }
            Problem::NotALink(k) => write!(f, "a {} where a symlink belongs (the writer skips it)", k.describe()),
            Problem::LinkUnreadable(e) => write!(f, "symlink cannot be read: {}", e.desc()),
            Problem::BadLinkText(t) => {
                write!(
                    f,
                    "link text \"{}\" is not ../data/<mail>/<dest> (not followed)",
                    escape_bytes(t)
                )
            }
            Problem::MailMissing => write!(f, "dangling: its data/<mail> folder is gone"),
            Problem::MailNotFolder(k) => write!(f, "data/<mail> is a {}, not a folder (never followed)", k.describe()),
            Problem::DestMissing => write!(f, "dangling: its data/<mail>/<dest> folder is gone"),
            Problem::DestNotFolder(k) => {
                write!(
                    f,
                    "data/<mail>/<dest> is a {}, not a folder (never followed)",
                    k.describe()
                )
            }
            Problem::FolderUnreadable(what, e) => write!(f, "{what} cannot be opened: {}", e.desc()),
            Problem::Schedule(e) => write!(f, "schedule {e}"),
            Problem::Metadata(e) => write!(f, "metadata {e}"),
            Problem::Contents(e) => write!(f, "contents {e}"),
        }
    }
}
