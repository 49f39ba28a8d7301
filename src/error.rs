//! One error type for the library and the commands. Every variant says what
//! was being done and to what, and maps to one exit code.

use std::io;
use std::path::PathBuf;

use crate::exit::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The queue root cannot be used at all.
    #[error("queue {path}: {reason}")]
    QueueUnusable { path: PathBuf, reason: String },

    /// The command line asked for something impossible.
    #[error("{0}")]
    Usage(String),

    /// A system call on the queue failed where the command cannot go on.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        source: io::Error,
    },

    /// Writing our own output failed (a closed pipe is handled by the caller).
    #[error("writing output: {0}")]
    Output(#[from] io::Error),

    /// A request the queue cannot satisfy (e.g. an unknown id).
    #[error("{0}")]
    NotFound(String),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::QueueUnusable { .. } => ExitCode::QueueUnusable,
            Error::Usage(_) => ExitCode::Usage,
            Error::Io { .. } | Error::Output(_) | Error::NotFound(_) => ExitCode::SomeFailed,
        }
    }

    pub fn io(op: &'static str, path: impl Into<String>, e: nix::errno::Errno) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source: io::Error::from_raw_os_error(e as i32),
        }
    }

    /// True when this is our stdout being closed by the reader (`| head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
