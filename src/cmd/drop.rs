//! `mqctl drop`: move entries to cleanup/, then remove their files the
//! writer's way. Inflight entries only when stuck, or with `--force`.

use super::Context;
use super::change::{EntryCommand, run_entries};
use crate::change::Verb;
use crate::cli::DropArgs;
use crate::error::Result;
use crate::exit::ExitCode;
use crate::queue::State;
use crate::queue::ops::EntryOp;

pub fn run(ctx: &Context, args: &DropArgs) -> Result<ExitCode> {
    run_entries(
        ctx,
        EntryCommand {
            force_inflight: args.force,
            stuck_after: args.stuck.stuck_after,
            ..EntryCommand::new(
                Verb::Drop,
                EntryOp::Drop,
                &args.select,
                &args.change,
                &[State::Queued, State::Held, State::Inflight],
            )
        },
    )
}
