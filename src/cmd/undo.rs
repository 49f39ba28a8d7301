//! `mqctl undo --log FILE [--run ID | --since TIME]`: take back what a
//! logged run changed, through the change engine (`crate::change::undo`).

use super::Context;
use super::change::{Cli, finish_with, stop_flag};
use crate::change::Verb;
use crate::change::undo::{self, UndoRequest, Which};
use crate::cli::{ChangeArgs, UndoArgs};
use crate::error::Result;
use crate::exit::ExitCode;

pub fn run(ctx: &Context, args: &UndoArgs) -> Result<ExitCode> {
    let stop = stop_flag();
    let which = match (&args.run, args.since) {
        (Some(id), _) => Which::Run(id.clone()),
        (None, Some(t)) => Which::Since(t.at(ctx.now)),
        (None, None) => Which::Last,
    };
    // Read before the queue is opened: started as root, mqctl gives up
    // root there, and the log may be root's.
    let log = undo::read_runs(&args.log)?;
    if log.unparsed > 0 {
        let (n, log_name) = (log.unparsed, args.log.display());
        ctx.warn(format_args!(
            "{n} {} of {log_name} {}: skipped",
            if n == 1 { "line" } else { "lines" },
            if n == 1 {
                "is not a log record"
            } else {
                "are not log records"
            }
        ));
    }
    let runs = undo::choose(&log, &which, &args.log)?;
    if !ctx.quiet {
        match &which {
            Which::Last => eprintln!(
                "mqctl: undoing the last run in {}: {} ({})",
                args.log.display(),
                crate::escape::escape(&runs[0].id),
                runs[0].describe()
            ),
            Which::Run(_) => eprintln!(
                "mqctl: undoing run {} ({})",
                crate::escape::escape(&runs[0].id),
                runs[0].describe()
            ),
            Which::Since(t) => {
                eprintln!(
                    "mqctl: undoing {} run{} started at or after {}:",
                    runs.len(),
                    if runs.len() == 1 { "" } else { "s" },
                    crate::queue::parse::format_timestamp(*t)
                );
                for r in &runs {
                    eprintln!("mqctl:   {} ({})", crate::escape::escape(&r.id), r.describe());
                }
            }
        }
    }
    let plan = undo::plan(&args.log, &log, &runs)?;
    let record = args.record.as_deref().unwrap_or(&args.log);
    let (queue, mut audit) = ctx.open_for_change(Some(record), args.dry_run)?;
    // What will not be taken back is said before the question.
    for n in &plan.not_undoable {
        eprintln!(
            "mqctl: undo {} ({}): not undoable: {}",
            n.subject,
            crate::escape::escape(&n.operation),
            n.reason
        );
    }
    let change = ChangeArgs {
        all: false,
        dry_run: args.dry_run,
        yes: args.yes,
        log: None,
    };
    let mut obs = Cli::new(ctx, Verb::Undo, &change);
    let mut ctl = crate::change::Control {
        dry_run: args.dry_run,
        stop,
        audit: &mut audit,
        observer: &mut obs,
    };
    let req = UndoRequest {
        stuck_after: crate::cli::StuckArg::default().stuck_after,
        now: ctx.now,
    };
    let undone = undo::apply(&queue, plan, req, &mut ctl)?;
    finish_with(ctx, &mut obs, &undone.report, &undone.summary(), undone.has_failures())
}
