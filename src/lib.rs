//! mqctl: inspect and repair a Kannader on-disk mail queue.
//!
//! The library reads and changes the queue (`queue`), selects entries
//! (`select`) and renders them (`output`); `cmd` holds the subcommands the
//! binary runs. The library below `cmd` never prints and never exits.

pub mod audit;
pub mod change;
pub mod cli;
pub mod cmd;
pub mod demo;
pub mod error;
pub mod escape;
pub mod exit;
pub mod human;
pub mod output;
pub mod queue;
pub mod select;
pub mod stats;
pub mod timespec;
pub mod tui;

pub use error::{Error, Result};
pub use exit::ExitCode;
