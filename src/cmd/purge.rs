//! `mqctl purge`: finish every pending cleanup, then remove writer temp
//! files and orphan mails older than a safe age. Anything not shaped the
//! writer's way is left for `check`.

use std::io::Write;
use std::sync::atomic::Ordering;

use super::change::{self, Plan, Tally};
use super::{Context, flush, stdout};
use crate::cli::PurgeArgs;
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::queue::State;
use crate::queue::ops::{Op, Outcome};
use crate::queue::purge::Removal;
use crate::timespec;

pub fn run(ctx: &Context, args: &PurgeArgs) -> Result<ExitCode> {
    let min_age = timespec::duration(&args.min_age).map_err(|e| Error::Usage(format!("--min-age: {e}")))?;
    let stop = change::stop_flag();
    let mut queue = ctx.open_queue()?;
    let pending: Vec<_> = queue.names(&[State::Cleanup])?;
    let plan = Plan {
        op: Op::Cleanup,
        states: &[State::Cleanup],
        force_inflight: false,
        inflight_stale_after: None,
    };
    let mut code = change::apply(
        ctx,
        &mut queue,
        args.dry_run,
        true,
        args.log.as_deref(),
        &plan,
        &pending,
        Tally::default(),
    )?;
    // Ctrl-C / SIGTERM: the cleanups done so far are reported; stop here.
    if code == ExitCode::Interrupted {
        return Ok(code);
    }
    let temps = queue.purge_temp_files(min_age, ctx.now, args.dry_run)?;
    let orphans = if stop.load(Ordering::SeqCst) {
        Vec::new()
    } else {
        queue.purge_orphans(min_age, ctx.now, args.dry_run)?
    };
    let mut out = stdout();
    let mut tally = Tally::default();
    for r in temps.iter().chain(&orphans) {
        tally.add(&r.outcome);
        report(ctx, &mut out, r)?;
    }
    flush(&mut out)?;
    if !ctx.quiet && (!temps.is_empty() || !orphans.is_empty()) {
        let done = |v: &[Removal]| v.iter().filter(|r| r.outcome == Outcome::Done).count();
        let verb = if args.dry_run { "would be removed" } else { "removed" };
        eprintln!(
            "{} temp files and {} orphan mails {verb}, {} left for `mqctl check`, {} failed",
            done(&temps),
            done(&orphans),
            tally.skipped,
            tally.failed
        );
    }
    if stop.load(Ordering::SeqCst) {
        if !ctx.quiet {
            eprintln!("mqctl: interrupted");
        }
        code = ExitCode::Interrupted;
    } else if tally.failed > 0 && code == ExitCode::Success {
        code = ExitCode::SomeFailed;
    }
    Ok(code)
}

fn report(ctx: &Context, out: &mut dyn Write, r: &Removal) -> Result<()> {
    match &r.outcome {
        Outcome::Done if !ctx.quiet => writeln!(out, "remove {} ({})", r.path, r.what)?,
        Outcome::Skipped(why) if !ctx.quiet => eprintln!("mqctl: purge {}: skipped: {why}", r.path),
        Outcome::Failed(why) => eprintln!("mqctl: purge {}: failed: {why}", r.path),
        _ => {}
    }
    Ok(())
}
