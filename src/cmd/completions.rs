//! `mqctl completions SHELL`: the shell's registration script. Completion
//! itself runs in mqctl (clap_complete's dynamic engine), so flags, values
//! and entry ids (unique prefixes from the current queue) all complete.

use std::io::Write;

use clap_complete::env::Shells;

use super::{Context, flush, stdout};
use crate::cli::CompletionsArgs;
use crate::error::{Error, Result};
use crate::exit::ExitCode;

/// The environment variable the registration scripts call mqctl with.
pub const VAR: &str = "COMPLETE";

pub fn run(_ctx: &Context, args: &CompletionsArgs) -> Result<ExitCode> {
    let mut out = stdout();
    write(&mut out, args.shell.name())?;
    flush(&mut out)?;
    Ok(ExitCode::Success)
}

/// Writes the registration script for `shell` (bash, zsh, fish, elvish,
/// powershell).
pub fn write(out: &mut dyn Write, shell: &str) -> Result<()> {
    let shells = Shells::builtins();
    let completer = shells
        .completer(shell)
        .ok_or_else(|| Error::Usage(format!("unknown shell {shell}")))?;
    completer.write_registration(VAR, "mqctl", "mqctl", "mqctl", out)?;
    Ok(())
}
