//! `mqctl export`: the selected entries as one tar archive on stdout (or
//! `-o FILE`), optionally holding them first; see `change::archive`.

use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

use super::Context;
use super::change::{Cli, change_selection, finish, stop_flag};
use crate::change::archive::{self, ExportEnd, ExportRequest, Exported};
use crate::change::{Change, Control, Notice, Observer, Outcome, Verb};
use crate::cli::ExportArgs;
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::queue::State;

/// The hold's observer: its lines go to stderr, since stdout is the archive.
struct HoldLines<'a> {
    cli: Cli<'a>,
    verbose: bool,
}

impl Observer for HoldLines<'_> {
    fn confirm(&mut self, verb: Verb, count: usize) -> bool {
        self.cli.confirm(verb, count)
    }
    fn notice(&mut self, n: &Notice) {
        self.cli.notice(n)
    }
    fn change(&mut self, c: &Change) {
        match &c.outcome {
            Outcome::Done | Outcome::Vanished if self.verbose => {
                eprintln!("mqctl: {} {}: {}", c.op, c.subject, c.outcome.word())
            }
            Outcome::Done | Outcome::Vanished => {}
            _ => self.cli.change(c),
        }
    }
    fn progress(&mut self, done: u64, total: u64) {
        self.cli.progress(done, total)
    }
    fn scanned(&mut self, entries: u64) {
        self.cli.scanned(entries)
    }
}

pub fn run(ctx: &Context, args: &ExportArgs) -> Result<ExitCode> {
    let stop = stop_flag();
    let stuck_after = crate::cli::StuckArg::default().stuck_after;
    let sel = change_selection(
        ctx,
        &args.select,
        &args.change,
        &[State::Queued, State::Held],
        stuck_after,
        false,
    )?;
    let dry_run = args.change.dry_run;
    // Where the archive goes, opened before mqctl gives up root.
    let file = match (&args.output, dry_run) {
        (_, true) => None,
        (Some(p), false) => Some(
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC)
                .open(p)
                .map_err(|e| Error::Usage(format!("-o {}: {e}", p.display())))?,
        ),
        (None, false) => {
            if std::io::stdout().is_terminal() {
                return Err(Error::Usage(
                    "refusing to write a tar archive to a terminal: redirect it (> FILE, | ssh HOST mqctl import -) or use -o FILE"
                        .into(),
                ));
            }
            let fd = std::io::stdout().as_fd().try_clone_to_owned().map_err(Error::Output)?;
            Some(std::fs::File::from(fd))
        }
    };
    let mut out = file.map(|f| std::io::BufWriter::with_capacity(1 << 20, f));
    // Only the hold changes anything: the log is opened for it alone.
    let (queue, mut audit) = ctx.open_for_change(args.change.log.as_deref(), dry_run || !args.hold)?;
    let mut obs = HoldLines {
        cli: Cli::new(ctx, Verb::Hold, &args.change),
        verbose: ctx.verbose > 0,
    };
    let mut ctl = Control {
        dry_run,
        stop,
        audit: &mut audit,
        observer: &mut obs,
    };
    let req = ExportRequest {
        selection: sel,
        hold: args.hold,
        now: ctx.now,
    };
    let ex = archive::export(&queue, req, &mut ctl, out.as_mut().map(|w| w as &mut dyn Write))?;
    let mut code = ExitCode::Success;
    if let Some(hold) = &ex.hold {
        code = finish(ctx, &mut obs.cli, hold)?;
    }
    for id in &ex.missing {
        eprintln!("mqctl: no entry {}", crate::escape::escape(id));
    }
    let written = match ex.end {
        ExportEnd::HoldStopped => {
            // Nothing was written: no empty archive is left behind.
            if let Some(p) = &args.output {
                let _ = std::fs::remove_file(p);
            }
            code = worst(code, put_back(ctx, &mut obs.cli, &ex)?);
            return Ok(worst(code, ExitCode::SomeFailed));
        }
        _ => out.map_or(Ok(()), |w| {
            w.into_inner()
                .map_err(|e| e.into_error())
                .and_then(|f| if args.output.is_some() { f.sync_all() } else { Ok(()) })
        }),
    };
    report(ctx, &ex, dry_run);
    code = worst(code, put_back(ctx, &mut obs.cli, &ex)?);
    let held_note = || {
        if ex.held > 0 {
            eprintln!(
                "mqctl: the {} entries this run held stay in hold/: `mqctl release` with the same selection puts them back",
                ex.held
            );
        }
    };
    match (&ex.end, written.as_ref()) {
        (ExportEnd::WriteFailed(e), _) | (_, Err(e)) => {
            eprintln!("mqctl: the archive could not be written: {e}: it is incomplete");
            held_note();
            Ok(ExitCode::SomeFailed)
        }
        (ExportEnd::Interrupted, _) => {
            eprintln!(
                "mqctl: interrupted: the archive is incomplete (it has no trailer); an import takes what is whole in it"
            );
            held_note();
            Ok(ExitCode::Interrupted)
        }
        _ if ex.tally.failed > 0 || !ex.missing.is_empty() => Ok(worst(code, ExitCode::SomeFailed)),
        _ => Ok(code),
    }
}

/// Says what the run put back into queue/ (held for the archive, not in it).
fn put_back(ctx: &Context, cli: &mut Cli, ex: &Exported) -> Result<ExitCode> {
    let Some(rel) = &ex.released else {
        return Ok(ExitCode::Success);
    };
    let n = rel.tally.matched;
    eprintln!(
        "mqctl: {n} {} held for the archive but not in it: put back into queue/",
        if n == 1 { "entry was" } else { "entries were" }
    );
    finish(ctx, cli, rel)
}

/// The more serious of two exit codes (an interruption above a failure).
fn worst(a: ExitCode, b: ExitCode) -> ExitCode {
    let rank = |c: ExitCode| match c {
        ExitCode::Success => 0,
        ExitCode::Interrupted => 3,
        ExitCode::SomeFailed => 1,
        _ => 2,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// One line per entry left out, then the summary (stderr: stdout is the archive).
fn report(ctx: &Context, ex: &Exported, dry_run: bool) {
    for (id, o) in &ex.not_exported {
        match o {
            Outcome::Failed(r) => eprintln!("mqctl: export {id}: failed: {r}"),
            Outcome::Skipped(r) if !ctx.quiet => eprintln!("mqctl: export {id}: skipped: {r}"),
            Outcome::Vanished if ctx.verbose > 0 => eprintln!("mqctl: export {id}: vanished"),
            _ => {}
        }
    }
    if ctx.quiet && ex.tally.failed == 0 {
        return;
    }
    eprintln!("{}", summary(ex, dry_run));
}

/// `12 exported (5 mails), 0 vanished, 0 failed`.
pub fn summary(ex: &Exported, dry_run: bool) -> String {
    let mails = if ex.mails == 1 { "mail" } else { "mails" };
    ex.tally.summary(&format!("exported ({} {mails})", ex.mails), dry_run)
}
