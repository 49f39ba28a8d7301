//! `mqctl import [FILE|-]`: add the entries of an archive `mqctl export`
//! wrote, the writer's way, through the change engine; see
//! `change::archive`.

use std::io::{IsTerminal, Read};

use super::Context;
use super::change::{Cli, can_ask, finish, stop_flag};
use crate::change::archive::{self, ALREADY};
use crate::change::{Change, Control, Notice, Observer, Outcome, Verb};
use crate::cli::{ChangeArgs, ImportArgs};
use crate::error::{Error, Result};
use crate::exit::ExitCode;

/// The command line's observer for a run given in parts: asked once, with
/// the archive's count when it is known (a file), never for a stream
/// (stdin is the archive); "already there" only with -v.
struct ImportLines<'a> {
    cli: Cli<'a>,
    total: Option<usize>,
    verbose: bool,
}

impl Observer for ImportLines<'_> {
    fn confirm(&mut self, verb: Verb, count: usize) -> bool {
        match self.total {
            Some(total) => self.cli.confirm(verb, total.max(count)),
            None => true,
        }
    }
    fn notice(&mut self, n: &Notice) {
        self.cli.notice(n)
    }
    fn change(&mut self, c: &Change) {
        match &c.outcome {
            Outcome::Skipped(r) if r.starts_with(ALREADY) && !self.verbose => {}
            _ => self.cli.change(c),
        }
    }
    fn progress(&mut self, done: u64, _part: u64) {
        match self.total {
            Some(total) => self.cli.progress(done, (total as u64).max(done)),
            None => self.cli.scanned(done),
        }
    }
}

pub fn run(ctx: &Context, args: &ImportArgs) -> Result<ExitCode> {
    let stop = stop_flag();
    let change = ChangeArgs {
        all: false,
        dry_run: args.dry_run,
        yes: args.yes,
        log: args.log.clone(),
    };
    // The archive is opened before mqctl gives up root.
    let file = match &args.file {
        Some(p) if p.as_os_str() != "-" => {
            Some(std::fs::File::open(p).map_err(|e| Error::Usage(format!("{}: {e}", p.display())))?)
        }
        _ => {
            if std::io::stdin().is_terminal() {
                return Err(Error::Usage(
                    "refusing to read a tar archive from a terminal: give FILE, or pipe one in (… | mqctl import -)"
                        .into(),
                ));
            }
            None
        }
    };
    let (queue, mut audit) = ctx.open_for_change(args.log.as_deref(), args.dry_run)?;
    // Asked only where a person can answer and the count is known first.
    let total = match &file {
        Some(f) if !args.yes && !args.dry_run && can_ask() && f.metadata().is_ok_and(|m| m.is_file()) => {
            crate::queue::archive::count_entries(f)
        }
        _ => None,
    };
    let input: Box<dyn Read> = match file {
        Some(f) => Box::new(f),
        None => Box::new(std::io::stdin().lock()),
    };
    let input = std::io::BufReader::with_capacity(1 << 20, input);
    let mut obs = ImportLines {
        cli: Cli::new(ctx, Verb::Import, &change),
        total,
        verbose: ctx.verbose > 0,
    };
    let mut ctl = Control {
        dry_run: args.dry_run,
        stop,
        audit: &mut audit,
        observer: &mut obs,
    };
    let (report, ending) = archive::import(&queue, input, &mut ctl);
    // What the archive did not give whole (meaningless once the run stopped).
    if !ending.stopped {
        for p in &ending.problems {
            eprintln!("mqctl: {p}");
        }
        if let Some(cut) = &ending.cut {
            eprintln!("mqctl: {cut}");
        }
    }
    let code = finish(ctx, &mut obs.cli, &report)?;
    Ok(if code == ExitCode::Success && ending.incomplete() && !ending.stopped {
        ExitCode::SomeFailed
    } else {
        code
    })
}
