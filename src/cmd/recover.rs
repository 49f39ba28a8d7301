//! `mqctl recover`: move inflight entries whose writer died back to
//! queue/, as the writer's own start-up does after an hour, and entries an
//! interrupted mqctl left claimed back to where they came from. Made for
//! cron: with no selection it takes every stuck entry, and it is quiet
//! (exit 0) when there is nothing to do.

use super::Context;
use super::change::{Cli, change_selection, finish, stop_flag};
use crate::change::entries::{self, Request, Target};
use crate::change::{Control, Report, Verb};
use crate::cli::RecoverArgs;
use crate::error::Result;
use crate::exit::ExitCode;
use crate::queue::State;
use crate::queue::ops::EntryOp;

const STATES: &[State] = &[State::Inflight, State::Claimed, State::ClaimedHeld];

pub fn run(ctx: &Context, args: &RecoverArgs) -> Result<ExitCode> {
    let stop = stop_flag();
    let stuck_after = args.stuck.stuck_after;
    let sel = change_selection(ctx, &args.select, &args.change, STATES, stuck_after, true)?;
    let (queue, mut audit) = ctx.open_for_change(args.change.log.as_deref(), args.change.dry_run)?;
    let mut obs = Cli::new(ctx, Verb::Recover, &args.change);
    let mut report = Report::new(Verb::Recover, args.change.dry_run);
    let mut items = entries::collect(&queue, &sel, stop, &mut obs, &mut report)?;
    // Filters choose among the stuck entries only: young inflight entries
    // are being sent, and this runs from cron every few minutes. An id
    // names its entry: a young one is reported, not passed over.
    if sel.ids.is_empty() && !args.force {
        items.retain(|i| {
            i.state != State::Inflight || queue.inflight_age(&i.id, ctx.now).is_some_and(|age| age >= stuck_after)
        });
    }
    let req = Request {
        verb: Verb::Recover,
        op: EntryOp::Recover,
        target: Target::Items(items),
        force_inflight: args.force,
        stuck_after,
        now: ctx.now,
    };
    let mut ctl = Control {
        dry_run: args.change.dry_run,
        stop,
        audit: &mut audit,
        observer: &mut obs,
    };
    let mut run = entries::apply(&queue, req, &mut ctl)?;
    run.missing = report.missing;
    finish(ctx, &mut obs, &run)
}
