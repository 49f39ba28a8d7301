//! `mqctl drop`: move entries to cleanup/, then remove their files the
//! writer's way. Inflight entries only when stuck, or with `--force`.

use super::Context;
use super::change::{self, Plan};
use crate::cli::DropArgs;
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::queue::State;
use crate::queue::ops::Op;
use crate::timespec;

pub fn run(ctx: &Context, args: &DropArgs) -> Result<ExitCode> {
    let stuck = timespec::duration(&args.stuck_after).map_err(|e| Error::Usage(format!("--stuck-after: {e}")))?;
    let plan = Plan {
        op: Op::Drop,
        states: &[State::Queued, State::Held, State::Inflight],
        force_inflight: args.force,
        inflight_stale_after: Some(stuck),
    };
    change::run(ctx, &args.select, &args.change, plan)
}
