//! `mqctl tui`: resolve the options, open the queue, hand over to `crate::tui`.

use std::io::IsTerminal;

use super::Context;
use crate::cli::TuiArgs;
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::queue::Queue;
use crate::tui;

pub fn run(ctx: &Context, args: &TuiArgs) -> Result<ExitCode> {
    // The log is opened before mqctl gives up root, as for every change.
    let (queue, audit) = ctx.open_for_change(args.log.as_deref(), false)?;
    Ok(match run_on(ctx, queue, audit, &args.filter, args.stuck.stuck_after)? {
        tui::Ended::Quit => ExitCode::Success,
        tui::Ended::Signalled => ExitCode::Interrupted,
    })
}

/// Opens the TUI on `queue` (also used by `mqctl demo`).
pub fn run_on(
    ctx: &Context,
    queue: Queue,
    audit: crate::audit::Audit,
    filter: &str,
    stuck_after: jiff::SignedDuration,
) -> Result<tui::Ended> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(Error::Usage(
            "the TUI needs a terminal; for scripts use `mqctl list` and `mqctl stats`".into(),
        ));
    }
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
            audit,
        },
    )
}
