//! `mqctl reschedule` / `mqctl defer`: rewrite `schedule` the writer's way,
//! on entries claimed for the moment of the rewrite.

use super::Context;
use super::change::{EntryCommand, run_entries};
use crate::change::Verb;
use crate::cli::{DeferArgs, RescheduleArgs};
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::queue::State;
use crate::queue::ops::{EntryOp, Reschedule};

const STATES: &[State] = &[State::Queued, State::Held];

pub fn reschedule(ctx: &Context, args: &RescheduleArgs) -> Result<ExitCode> {
    if args.pace.is_paced() {
        return super::change::run_paced(
            ctx,
            super::change::Paced {
                select: &args.select,
                change: &args.change,
                states: STATES,
                implicit: false,
                expired: false,
                start: args.at.at(ctx.now),
                pace: &args.pace,
                stuck_after: crate::cli::StuckArg::default().stuck_after,
                with: None,
                keep: &|_, _| true,
            },
        );
    }
    let r = Reschedule::SetAt(args.at.at(ctx.now));
    run_entries(
        ctx,
        EntryCommand::new(
            Verb::Reschedule,
            EntryOp::Schedule(r),
            &args.select,
            &args.change,
            STATES,
        ),
    )
}

pub fn defer(ctx: &Context, args: &DeferArgs) -> Result<ExitCode> {
    let r = match (args.by, args.until) {
        (Some(by), _) => Reschedule::DeferBy(by, ctx.now),
        (None, Some(until)) => Reschedule::DeferUntil(until.at(ctx.now)),
        (None, None) => return Err(Error::Usage("defer needs --by DUR or --until TIME".into())),
    };
    run_entries(
        ctx,
        EntryCommand::new(Verb::Defer, EntryOp::Schedule(r), &args.select, &args.change, STATES),
    )
}
