//! `mqctl recover`: move inflight entries whose writer died back to queue/,
//! as the writer's own start-up does after an hour. Made for cron: quiet and
//! exit 0 when there is nothing to do.

use super::change::{self, Plan, Tally};
use super::{Context, expand_ids};
use crate::cli::RecoverArgs;
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::queue::ops::Op;
use crate::queue::{EntryId, State};
use crate::select::resolve_ids;
use crate::timespec;

pub fn run(ctx: &Context, args: &RecoverArgs) -> Result<ExitCode> {
    let older = timespec::duration(&args.older_than).map_err(|e| Error::Usage(format!("--older-than: {e}")))?;
    change::stop_flag();
    let mut queue = ctx.open_queue()?;
    let ids = expand_ids(&args.ids)?;
    let mut tally = Tally::default();
    let candidates: Vec<EntryId> = if ids.is_empty() {
        queue.names(&[State::Inflight])?.into_iter().map(|(_, id)| id).collect()
    } else {
        let r = resolve_ids(&queue, &ids, &[State::Inflight])?;
        tally.vanished += r.missing.len() as u64;
        r.found.into_iter().map(|(_, id)| id).collect()
    };
    // Young entries are being sent: leave them out quietly (this runs
    // from cron every few minutes).
    let entries: Vec<(State, EntryId)> = candidates
        .into_iter()
        .filter(|id| queue.inflight_age(id, ctx.now).is_some_and(|age| age >= older))
        .map(|id| (State::Inflight, id))
        .collect();
    let plan = Plan {
        op: Op::Move(State::Queued),
        states: &[State::Inflight],
        force_inflight: false,
        inflight_stale_after: Some(older),
    };
    let code = change::apply(
        ctx,
        &mut queue,
        args.dry_run,
        true,
        args.log.as_deref(),
        &plan,
        &entries,
        tally,
    )?;
    Ok(code)
}
