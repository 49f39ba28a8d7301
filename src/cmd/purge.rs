//! `mqctl purge`: finish every pending cleanup, put back what an
//! interrupted mqctl left claimed, then remove writer temp files and orphan
//! mails older than a safe age. Anything not shaped the writer's way is
//! left for `check`. A selection narrows it to those cleanups and claims.

use super::Context;
use super::change::{Cli, change_selection, finish, stop_flag};
use crate::change::Control;
use crate::change::Verb;
use crate::change::purge::{self, PurgeRequest, STATES};
use crate::cli::PurgeArgs;
use crate::error::Result;
use crate::exit::ExitCode;

pub fn run(ctx: &Context, args: &PurgeArgs) -> Result<ExitCode> {
    let stop = stop_flag();
    let stuck_after = crate::cli::StuckArg::default().stuck_after;
    let sel = change_selection(ctx, &args.select, &args.change, &STATES, stuck_after, true)?;
    // Ids, --state or a filter: only those cleanups and claims.
    let narrowed = !sel.ids.is_empty() || sel.read_no_ids || !args.select.state.is_empty() || sel.needs_files();
    let (queue, mut audit) = ctx.open_for_change(args.change.log.as_deref(), args.change.dry_run)?;
    let mut obs = Cli::new(ctx, Verb::Purge, &args.change);
    let req = PurgeRequest {
        selection: narrowed.then(|| Box::new(sel)),
        min_age: args.min_age,
        stuck_after,
        now: ctx.now,
    };
    let mut ctl = Control {
        dry_run: args.change.dry_run,
        stop,
        audit: &mut audit,
        observer: &mut obs,
    };
    let report = purge::apply(&queue, req, &mut ctl)?;
    finish(ctx, &mut obs, &report)
}
