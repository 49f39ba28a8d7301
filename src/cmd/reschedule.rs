//! `mqctl reschedule` / `mqctl defer`: rewrite `schedule` the writer's way.

use super::Context;
use super::change::{self, Plan};
use crate::cli::{DeferArgs, RescheduleArgs};
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::queue::State;
use crate::queue::ops::Op;
use crate::timespec;

const STATES: &[State] = &[State::Queued, State::Held];

pub fn reschedule(ctx: &Context, args: &RescheduleArgs) -> Result<ExitCode> {
    let at = timespec::time(&args.at, ctx.now).map_err(|e| Error::Usage(format!("--at: {e}")))?;
    let plan = Plan {
        op: Op::SetAt(at),
        states: STATES,
        force_inflight: false,
        inflight_stale_after: None,
    };
    change::run(ctx, &args.select, &args.change, plan)
}

pub fn defer(ctx: &Context, args: &DeferArgs) -> Result<ExitCode> {
    let op = match (&args.by, &args.until) {
        (Some(by), _) => Op::DeferBy(
            timespec::duration(by).map_err(|e| Error::Usage(format!("--by: {e}")))?,
            ctx.now,
        ),
        (None, Some(until)) => {
            Op::DeferUntil(timespec::time(until, ctx.now).map_err(|e| Error::Usage(format!("--until: {e}")))?)
        }
        (None, None) => return Err(Error::Usage("defer needs --by DUR or --until TIME".into())),
    };
    let plan = Plan {
        op,
        states: STATES,
        force_inflight: false,
        inflight_stale_after: None,
    };
    change::run(ctx, &args.select, &args.change, plan)
}
