//! `mqctl check [--repair]`: report every problem with what `--repair`
//! would do; exit 4 when there are problems, so cron and monitoring can act.

use std::io::{IsTerminal, Write};

use super::{Context, flush, read_answer, stdout};
use crate::cli::{CheckArgs, CheckFormat};
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::output::Table;
use crate::queue::check::{CheckOptions, Finding, Quarantine};
use crate::queue::ops::Outcome;
use crate::timespec;

pub fn run(ctx: &Context, args: &CheckArgs) -> Result<ExitCode> {
    let dur = |flag: &str, v: &str| timespec::duration(v).map_err(|e| Error::Usage(format!("--{flag}: {e}")));
    let opts = CheckOptions {
        now: ctx.now,
        min_age: dur("min-age", &args.min_age)?,
        stale_inflight: dur("stale-after", &args.stale_after)?,
    };
    let queue = ctx.open_queue()?;
    let findings = queue.check(&opts)?;
    let mut out = stdout();
    if !args.repair || args.dry_run {
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
    super::change::warn_live_writer(ctx, &queue, &crate::queue::ops::Op::Cleanup);
    if !args.yes && findings.len() > 1 && std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        report(ctx, &mut out, &findings, CheckFormat::Table)?;
        flush(&mut out)?;
        eprint!("Repair {} problems? [y/N] ", findings.len());
        let _ = std::io::stderr().flush();
        if !matches!(read_answer().as_deref().map(str::trim), Some("y" | "Y" | "yes")) {
            eprintln!("mqctl: aborted; nothing changed");
            return Ok(ExitCode::SomeFailed);
        }
    }
    let mut q = Quarantine::new(ctx.now);
    let (mut done, mut vanished, mut manual, mut failed) = (0, 0, 0, 0);
    let mut results = Vec::new();
    for f in &findings {
        let outcome = queue.repair(f, &mut q, ctx.now);
        match &outcome {
            Outcome::Done => done += 1,
            Outcome::Vanished => vanished += 1,
            Outcome::Skipped(_) => manual += 1,
            Outcome::Failed(why) => {
                failed += 1;
                eprintln!("mqctl: {}: repair failed: {why}", f.path);
            }
        }
        results.push((f, outcome));
    }
    match args.format {
        CheckFormat::Json => {
            let docs: Vec<serde_json::Value> = results
                .iter()
                .map(|(f, o)| {
                    let mut v = serde_json::to_value(f.to_json()).expect("plain data");
                    v["result"] = serde_json::Value::String(outcome_word(o).into());
                    v
                })
                .collect();
            crate::output::write_json_pretty(&mut out, &serde_json::json!({ "repairs": docs }))?;
        }
        CheckFormat::Table if !ctx.quiet => {
            for (f, o) in &results {
                writeln!(out, "{} {}: {}", outcome_word(o), f.path, f.repair.describe())?;
            }
        }
        CheckFormat::Table => {}
    }
    flush(&mut out)?;
    if !ctx.quiet {
        eprintln!(
            "{done} repaired, {vanished} vanished, {manual} need a person, {failed} failed{}",
            if q.used() {
                format!(" (what was quarantined is in {}/)", q.name())
            } else {
                String::new()
            }
        );
    }
    Ok(if failed > 0 {
        ExitCode::SomeFailed
    } else if manual > 0 {
        ExitCode::ProblemsFound
    } else {
        ExitCode::Success
    })
}

fn outcome_word(o: &Outcome) -> &'static str {
    match o {
        Outcome::Done => "repaired",
        Outcome::Vanished => "vanished",
        Outcome::Skipped(_) => "manual",
        Outcome::Failed(_) => "failed",
    }
}

fn report(ctx: &Context, out: &mut dyn Write, findings: &[Finding], format: CheckFormat) -> Result<()> {
    match format {
        CheckFormat::Json => {
            let docs: Vec<_> = findings.iter().map(Finding::to_json).collect();
            crate::output::write_json_pretty(out, &serde_json::json!({ "count": docs.len(), "problems": docs }))?;
        }
        CheckFormat::Table => {
            if findings.is_empty() {
                if !ctx.quiet {
                    writeln!(out, "no problems found")?;
                }
                return Ok(());
            }
            let mut t = Table::new(&[("PATH", true, false), ("PROBLEM", true, false), ("REPAIR", true, false)]);
            for f in findings {
                t.push(
                    vec![
                        f.path.to_string(),
                        format!("{} [{}]", f.problem, f.code),
                        f.repair.describe(),
                    ],
                    None,
                );
            }
            t.write(out, crate::output::terminal_width(), ctx.color_stdout())?;
            if !ctx.quiet {
                writeln!(out, "-- {} problems", findings.len())?;
            }
        }
    }
    Ok(())
}
