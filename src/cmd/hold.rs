//! `mqctl hold` / `mqctl release`: rename entries between queue/ and hold/.

use super::Context;
use super::change::{EntryCommand, run_entries};
use crate::change::Verb;
use crate::cli::ChangeCmdArgs;
use crate::error::Result;
use crate::exit::ExitCode;
use crate::queue::State;
use crate::queue::ops::EntryOp;

pub fn hold(ctx: &Context, args: &ChangeCmdArgs) -> Result<ExitCode> {
    run_entries(
        ctx,
        command(Verb::Hold, EntryOp::Move(State::Held), &[State::Queued], args),
    )
}

pub fn release(ctx: &Context, args: &ChangeCmdArgs) -> Result<ExitCode> {
    run_entries(
        ctx,
        command(Verb::Release, EntryOp::Move(State::Queued), &[State::Held], args),
    )
}

fn command<'a>(verb: Verb, op: EntryOp, states: &'static [State], args: &'a ChangeCmdArgs) -> EntryCommand<'a> {
    EntryCommand {
        verb,
        op,
        select: &args.select,
        change: &args.change,
        states,
        force_inflight: false,
        stuck_after: crate::cli::StuckArg::default().stuck_after,
    }
}
