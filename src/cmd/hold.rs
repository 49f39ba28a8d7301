//! `mqctl hold` / `mqctl release`: rename entries between queue/ and hold/.

use super::Context;
use super::change::{self, Plan};
use crate::cli::ChangeCmdArgs;
use crate::error::Result;
use crate::exit::ExitCode;
use crate::queue::State;
use crate::queue::ops::Op;

pub fn hold(ctx: &Context, args: &ChangeCmdArgs) -> Result<ExitCode> {
    let plan = Plan {
        op: Op::Move(State::Held),
        states: &[State::Queued],
        force_inflight: false,
        inflight_stale_after: None,
    };
    change::run(ctx, &args.select, &args.change, plan)
}

pub fn release(ctx: &Context, args: &ChangeCmdArgs) -> Result<ExitCode> {
    let plan = Plan {
        op: Op::Move(State::Queued),
        states: &[State::Held],
        force_inflight: false,
        inflight_stale_after: None,
    };
    change::run(ctx, &args.select, &args.change, plan)
}
