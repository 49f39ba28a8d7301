//! The only place exit numbers live (see README.md, "Exit codes").

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything asked for was done (or there was nothing to do).
    Success = 0,
    /// Some entries could not be handled; the rest were.
    SomeFailed = 1,
    /// The command line was wrong.
    Usage = 2,
    /// The queue is missing, not a queue, owned by someone else or unreadable.
    QueueUnusable = 3,
    /// `check` found problems.
    ProblemsFound = 4,
    /// Stopped by Ctrl-C or SIGTERM.
    Interrupted = 130,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c as u8)
    }
}
