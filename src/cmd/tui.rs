//! `mqctl tui`: resolve the options, open the queue, hand over to `crate::tui`.

use std::io::IsTerminal;

use super::Context;
use crate::cli::TuiArgs;
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::queue::Queue;
use crate::tui;

pub fn run(ctx: &Context, args: &TuiArgs) -> Result<ExitCode> {
    let queue = ctx.open_queue()?;
    Ok(match run_on(ctx, queue, &args.filter, &args.stuck_after)? {
        tui::Ended::Quit => ExitCode::Success,
        tui::Ended::Signalled => ExitCode::Interrupted,
    })
}

/// Opens the TUI on `queue` (also used by `mqctl demo`).
pub fn run_on(ctx: &Context, queue: Queue, filter: &str, stuck_after: &str) -> Result<tui::Ended> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(Error::Usage(
            "the TUI needs a terminal; for scripts use `mqctl list` and `mqctl stats`".into(),
        ));
    }
    let stuck_after =
        crate::timespec::duration(stuck_after).map_err(|e| Error::Usage(format!("--stuck-after: {e}")))?;
    let fixed_now = std::env::var("MQCTL_NOW")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|_| ctx.now);
    tui::run(
        queue,
        tui::Options {
            color: crate::output::use_color(ctx.color, true),
            fixed_now,
            stuck_after,
            filter: filter.to_string(),
        },
    )
}
