//! `mqctl hold` / `mqctl release`: rename entries between queue/ and hold/,
//! with a note of why and until when (`crate::queue::holds`).

use super::Context;
use super::change::{EntryCommand, Paced, WithMove, run_entries, run_paced};
use crate::change::Verb;
use crate::cli::{HoldArgs, ReleaseArgs};
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::queue::State;
use crate::queue::holds::{HoldNote, MAX_REASON};
use crate::queue::ops::EntryOp;

pub fn hold(ctx: &Context, args: &HoldArgs) -> Result<ExitCode> {
    let until = args
        .until
        .map(|w| w.at(ctx.now))
        .map(|u| u.round(jiff::Unit::Second).unwrap_or(u));
    if let Some(u) = until
        && u <= ctx.now
    {
        return Err(Error::Usage(format!(
            "--until {}: that has passed already",
            crate::queue::parse::format_timestamp(u)
        )));
    }
    let reason = args.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.len() > MAX_REASON) {
        return Err(Error::Usage(format!("--reason: at most {MAX_REASON} bytes")));
    }
    let note = HoldNote {
        reason: reason.map(str::to_owned),
        until,
        ..HoldNote::by_current_user(ctx.now)
    };
    // With a reason or an end, entries held already get them too (their
    // note changes; they stay held since they were held).
    let states: &[State] = if note.reason.is_some() || note.until.is_some() {
        &[State::Queued, State::Held]
    } else {
        &[State::Queued]
    };
    run_entries(
        ctx,
        EntryCommand {
            hold: Some(note),
            ..EntryCommand::new(
                Verb::Hold,
                EntryOp::Move(State::Held),
                &args.select,
                &args.change,
                states,
            )
        },
    )
}

pub fn release(ctx: &Context, args: &ReleaseArgs) -> Result<ExitCode> {
    let op = EntryOp::Move(State::Queued);
    if args.pace.is_paced() {
        return run_paced(
            ctx,
            Paced {
                select: &args.select,
                change: &args.change,
                states: &[State::Held],
                implicit: false,
                expired: args.expired,
                start: ctx.now,
                pace: &args.pace,
                stuck_after: crate::cli::StuckArg::default().stuck_after,
                with: Some(WithMove {
                    verb: Verb::Release,
                    op,
                    first: false,
                    force_inflight: false,
                }),
                keep: &|_, _| true,
            },
        );
    }
    run_entries(
        ctx,
        EntryCommand {
            expired: args.expired,
            ..EntryCommand::new(Verb::Release, op, &args.select, &args.change, &[State::Held])
        },
    )
}
