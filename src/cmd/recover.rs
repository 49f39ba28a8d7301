//! `mqctl recover`: move inflight entries whose writer died back to
//! queue/, as the writer's own start-up does after an hour, and entries an
//! interrupted mqctl left claimed back to where they came from. Made for
//! cron: with no selection it takes every stuck entry, and it is quiet
//! (exit 0) when there is nothing to do.

use super::Context;
use super::change::{Cli, Paced, WithMove, change_selection, finish, run_paced, stop_flag};
use crate::change::entries::{self, Request, Target};
use crate::change::{Control, Report, Verb};
use crate::cli::RecoverArgs;
use crate::error::Result;
use crate::exit::ExitCode;
use crate::queue::ops::{EntryOp, Item};
use crate::queue::{Queue, State};

const STATES: &[State] = &[State::Inflight, State::Claimed, State::ClaimedHeld];

pub fn run(ctx: &Context, args: &RecoverArgs) -> Result<ExitCode> {
    let stuck_after = args.stuck.stuck_after;
    // Filters choose among the stuck entries only: young inflight entries
    // are being sent, and this runs from cron every few minutes. An id
    // names its entry: a young one is reported, not passed over.
    let by_filter = args.select.ids.is_empty() && !args.force;
    let keep = |queue: &Queue, i: &Item| {
        !by_filter
            || i.state != State::Inflight
            || queue.inflight_age(&i.id, ctx.now).is_some_and(|age| age >= stuck_after)
    };
    if args.pace.is_paced() {
        return run_paced(
            ctx,
            Paced {
                select: &args.select,
                change: &args.change,
                states: STATES,
                implicit: true,
                expired: false,
                start: ctx.now,
                pace: &args.pace,
                stuck_after,
                with: Some(WithMove {
                    verb: Verb::Recover,
                    op: EntryOp::Recover,
                    first: true,
                    force_inflight: args.force,
                }),
                keep: &keep,
            },
        );
    }
    let stop = stop_flag();
    let sel = change_selection(ctx, &args.select, &args.change, STATES, stuck_after, true)?;
    let (queue, mut audit) = ctx.open_for_change(args.change.log.as_deref(), args.change.dry_run)?;
    let mut obs = Cli::new(ctx, Verb::Recover, &args.change);
    let mut report = Report::new(Verb::Recover, args.change.dry_run);
    let mut items = entries::collect(&queue, &sel, stop, &mut obs, &mut report)?;
    items.retain(|i| keep(&queue, i));
    let req = Request {
        verb: Verb::Recover,
        op: EntryOp::Recover,
        target: Target::Items(items),
        force_inflight: args.force,
        stuck_after,
        now: ctx.now,
        hold: None,
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
