//! `mqctl check [--repair]`: report every problem with what `--repair`
//! would do; exit 4 when there are problems, so cron and monitoring can act.
//! The repairs go through the change engine like every other change.

use std::io::Write;

use super::change::{Cli, finish, stop_flag};
use super::{Context, flush, stdout};
use crate::change::{Control, End, Outcome, Verb};
use crate::cli::{ChangeArgs, CheckArgs, CheckFormat};
use crate::error::Result;
use crate::exit::ExitCode;
use crate::output::{Column, Layout, Table, Tone};
use crate::queue::check::{CheckOptions, Finding};

pub fn run(ctx: &Context, args: &CheckArgs) -> Result<ExitCode> {
    let stop = stop_flag();
    let change = ChangeArgs {
        all: true,
        dry_run: args.dry_run,
        yes: args.yes,
        log: args.log.clone(),
    };
    let (queue, mut audit) = if args.repair {
        ctx.open_for_change(args.log.as_deref(), args.dry_run)?
    } else {
        (ctx.open_queue()?, crate::audit::Audit::none())
    };
    let opts = CheckOptions {
        now: ctx.now,
        min_age: args.min_age,
        stuck_after: args.stuck.stuck_after,
        claims_busy: queue.claim_lock(true)?.is_none(),
    };
    let findings = queue.check(&opts)?;
    let mut out = stdout();
    if !args.repair || args.dry_run {
        // The report names each problem and what --repair would do about it.
        report(ctx, &mut out, &findings, args.format)?;
        flush(&mut out)?;
        return Ok(if findings.is_empty() {
            ExitCode::Success
        } else {
            ExitCode::ProblemsFound
        });
    }
    if findings.is_empty() {
        if args.format == CheckFormat::Json {
            // Still one JSON document, for scripts.
            writeln!(out, "{}", serde_json::json!({ "repairs": [] }))?;
            flush(&mut out)?;
        }
        if !ctx.quiet {
            eprintln!("no problems found");
        }
        return Ok(ExitCode::Success);
    }
    if super::change::can_ask() && !args.yes && findings.len() > 1 && args.format != CheckFormat::Json {
        // What the question is about.
        report(ctx, &mut out, &findings, args.format)?;
        flush(&mut out)?;
    }
    let mut obs = Cli::new(ctx, Verb::Repair, &change);
    obs.print = false;
    let manual = crate::queue::check::manual(&findings);
    // What each repair's change was about, for the JSON report.
    let about: std::collections::HashMap<(String, String), Finding> = findings
        .iter()
        .map(|f| ((f.path.to_string(), crate::change::repair::detail(f)), f.clone()))
        .collect();
    let mut ctl = Control {
        dry_run: false,
        stop,
        audit: &mut audit,
        observer: &mut obs,
    };
    let (report, quarantine) = crate::change::repair::apply(&queue, findings, ctx.now, &mut ctl)?;
    let results = std::mem::take(&mut obs.collected);
    match args.format {
        CheckFormat::Json => {
            let docs: Vec<serde_json::Value> = results
                .iter()
                .map(|c| {
                    let key = (c.subject.to_string(), c.detail.clone().unwrap_or_default());
                    let mut v = match about.get(&key) {
                        Some(f) => serde_json::to_value(f.to_json()).expect("plain data"),
                        None => serde_json::json!({ "path": c.subject.to_string() }),
                    };
                    v["result"] = outcome_word(&c.outcome).into();
                    if let Some(r) = c.outcome.reason() {
                        v["reason"] = r.into();
                    }
                    v
                })
                .collect();
            crate::output::write_json_pretty(&mut out, &serde_json::json!({ "repairs": docs }))?;
        }
        CheckFormat::Table | CheckFormat::Records if !ctx.quiet => {
            for c in &results {
                let key = (c.subject.to_string(), c.detail.clone().unwrap_or_default());
                let what = about.get(&key).map_or_else(String::new, |f| f.repair.describe());
                writeln!(out, "{} {}: {what}", outcome_word(&c.outcome), c.subject)?;
            }
        }
        _ => {}
    }
    for c in &results {
        if let Outcome::Failed(why) = &c.outcome {
            eprintln!("mqctl: {}: repair failed: {why}", c.subject);
        }
    }
    flush(&mut out)?;
    let t = &report.tally;
    let code = finish_quietly(ctx, &mut obs, &report)?;
    if !ctx.quiet && report.end != End::NotConfirmed && t.matched > 0 {
        eprintln!(
            "{} repaired, {} vanished, {} need a person, {} failed{}",
            t.done,
            t.vanished,
            manual.min(t.skipped as usize),
            t.failed,
            if quarantine.used() {
                format!(" (what was quarantined is in {}/)", quarantine.name())
            } else {
                String::new()
            }
        );
    }
    Ok(match code {
        ExitCode::Success if t.skipped > 0 => ExitCode::ProblemsFound,
        c => c,
    })
}

/// `finish` without its own summary line (check prints its own).
fn finish_quietly(ctx: &Context, obs: &mut Cli, report: &crate::change::Report) -> Result<ExitCode> {
    let quiet = Context {
        quiet: true,
        ..ctx.clone()
    };
    finish(&quiet, obs, report)
}

fn outcome_word(o: &Outcome) -> &'static str {
    match o {
        Outcome::Done => "repaired",
        Outcome::Vanished => "vanished",
        Outcome::Skipped(_) => "manual",
        Outcome::Failed(_) | Outcome::NoSpace => "failed",
    }
}

fn report(ctx: &Context, out: &mut dyn Write, findings: &[Finding], format: CheckFormat) -> Result<()> {
    match format {
        CheckFormat::Json => {
            let docs: Vec<_> = findings.iter().map(Finding::to_json).collect();
            crate::output::write_json_pretty(out, &serde_json::json!({ "count": docs.len(), "problems": docs }))?;
        }
        CheckFormat::Table | CheckFormat::Records => {
            if findings.is_empty() {
                if !ctx.quiet {
                    writeln!(out, "no problems found")?;
                }
                return Ok(());
            }
            // Each is what the user asked to see: never cut, records
            // when the table cannot hold them.
            let mut t = Table::new(vec![
                Column::whole("PATH"),
                Column::whole("PROBLEM"),
                Column::whole("REPAIR"),
            ]);
            for f in findings {
                t.push(
                    vec![
                        f.path.to_string(),
                        format!("{} [{}]", f.problem, f.code),
                        f.repair.describe(),
                    ],
                    Tone::Plain,
                );
            }
            let layout = match format {
                CheckFormat::Records => Layout::Records,
                _ => Layout::Fit,
            };
            t.write(out, crate::output::terminal_width(), ctx.color_stdout(), layout)?;
            if !ctx.quiet {
                let plural = if findings.len() == 1 { "problem" } else { "problems" };
                writeln!(out, "-- {} {plural}", findings.len())?;
            }
        }
    }
    Ok(())
}
