//! `mqctl demo`: build a realistic sample queue and show what to try on it.

use std::io::{IsTerminal, Write};

use super::{Context, flush, stdout};
use crate::cli::DemoArgs;
use crate::demo;
use crate::error::Result;
use crate::exit::ExitCode;

pub fn run(ctx: &Context, args: &DemoArgs) -> Result<ExitCode> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("mqctl-demo-{}", uuid::Uuid::new_v4().simple())),
    };
    let report = demo::build(&dir, args.mails, args.seed, ctx.now)?;
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    // On a terminal, show it in the TUI; then (or otherwise) say what was made.
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        let queue = crate::queue::Queue::open(&dir)?;
        let audit = crate::audit::Audit::open(None, false)?;
        let stuck = crate::cli::StuckArg::default().stuck_after;
        if super::tui::run_on(ctx, queue, audit, "", stuck)? == crate::tui::Ended::Signalled {
            return Ok(ExitCode::Interrupted);
        }
    }
    let mut out = stdout();
    print_report(&mut out, &dir, &report)?;
    flush(&mut out)?;
    Ok(ExitCode::Success)
}

fn print_report(out: &mut dyn Write, dir: &std::path::Path, r: &demo::Report) -> std::io::Result<()> {
    let q = shell_quote(&dir.display().to_string());
    writeln!(out, "Built a sample queue in {}", dir.display())?;
    writeln!(
        out,
        "  {} mails, {} entries to {} domains: {} inflight (left by a \"crashed\" writer), {} pending cleanup, {} held, {} broken",
        r.mails, r.entries, r.domains, r.inflight, r.cleanup, r.held, r.broken
    )?;
    writeln!(
        out,
        "  (inflight entries count as stuck once they are older than 1h: their link's change time is now)"
    )?;
    writeln!(out)?;
    writeln!(out, "Try:")?;
    writeln!(out, "  export MQCTL_QUEUE={q}")?;
    writeln!(
        out,
        "  mqctl stats                                   # the shape of the queue"
    )?;
    writeln!(out, "  mqctl list --domain broken-dns.example       # the incident")?;
    writeln!(
        out,
        "  mqctl list --state inflight                   # what is being sent"
    )?;
    writeln!(out, "  mqctl list --broken                           # what is wrong")?;
    writeln!(out, "  mqctl list --format jsonl --to '*@gmail.com' | head -3")?;
    writeln!(out, "  mqctl show $(mqctl list --format ids --limit 1)")?;
    writeln!(out, "  mqctl stats --format prometheus")?;
    Ok(())
}

/// Quotes a path for a POSIX shell when it needs it.
fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
