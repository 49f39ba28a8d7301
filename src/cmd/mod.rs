//! One file per subcommand: resolve the arguments, call the library, print.

pub mod change;
pub mod check;
pub mod completions;
pub mod demo;
pub mod drop;
pub mod enqueue;
pub mod export;
pub mod generate;
pub mod hold;
pub mod import;
pub mod list;
pub mod purge;
pub mod recover;
pub mod reschedule;
pub mod show;
pub mod stats;
pub mod tui;
pub mod undo;
pub mod watch;

use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;

use jiff::Timestamp;

use crate::audit::Audit;
use crate::cli::{self, Cli, ColorArg, Command, SelectArgs, TimeArgs};
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::output::{ColorChoice, TimeStyle};
use crate::queue::Queue;
use crate::select::Selection;
use crate::timespec;

/// What every command gets: the resolved global options.
#[derive(Debug, Clone)]
pub struct Context {
    pub queue: Option<PathBuf>,
    pub color: ColorChoice,
    pub quiet: bool,
    pub verbose: u8,
    /// Accept a root that is group/world writable or someone else's.
    pub insecure: bool,
    /// "Now" for due times and ages; `MQCTL_NOW` fixes it (for tests).
    pub now: Timestamp,
}

impl Context {
    pub fn from_cli(cli: &Cli) -> Result<Context> {
        let now = match std::env::var("MQCTL_NOW") {
            Ok(s) if !s.is_empty() => {
                timespec::time(&s, Timestamp::now()).map_err(|e| Error::Usage(format!("MQCTL_NOW: {e}")))?
            }
            _ => Timestamp::now(),
        };
        Ok(Context {
            queue: cli.queue.clone().filter(|p| !p.as_os_str().is_empty()),
            color: match cli.color {
                ColorArg::Auto => ColorChoice::Auto,
                ColorArg::Always => ColorChoice::Always,
                ColorArg::Never => ColorChoice::Never,
            },
            quiet: cli.quiet,
            verbose: cli.verbose,
            insecure: cli.insecure,
            now,
        })
    }

    /// Opens the queue named by `--queue` / `MQCTL_QUEUE`. There is no
    /// default: guessing could act on the wrong queue.
    pub fn open_queue(&self) -> Result<Queue> {
        let queue = self.open_unsecured()?;
        secure(&queue, self.insecure)?;
        Ok(queue)
    }

    /// Opens the queue and the audit of a change (the `--log` file and
    /// syslog; nothing for a dry run). The log is opened after the queue
    /// is known to be usable and before mqctl, started as root, becomes the
    /// queue's owner: root's cron job can write /var/log/mqctl.jsonl.
    pub fn open_for_change(&self, log: Option<&std::path::Path>, dry_run: bool) -> Result<(Queue, Audit)> {
        let queue = self.open_unsecured()?;
        let audit = if dry_run {
            Audit::none()
        } else {
            Audit::open(log, true)?
        };
        secure(&queue, self.insecure)?;
        Ok((queue, audit))
    }

    fn open_unsecured(&self) -> Result<Queue> {
        let Some(path) = &self.queue else {
            return Err(Error::Usage(
                "no queue given: pass --queue DIR or set MQCTL_QUEUE=DIR (try `mqctl demo` for a sample queue)".into(),
            ));
        };
        // --insecure follows a symlinked root (resolved once, here).
        let real;
        let path = if self.insecure {
            real = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            &real
        } else {
            path
        };
        Queue::open(path)
    }

    pub fn color_stdout(&self) -> bool {
        crate::output::use_color(self.color, io::stdout().is_terminal())
    }

    /// A warning on stderr, unless `--quiet`.
    pub fn warn(&self, msg: impl std::fmt::Display) {
        if !self.quiet {
            let color = crate::output::use_color(self.color, io::stderr().is_terminal());
            if color {
                eprintln!("\x1b[33mmqctl: warning:\x1b[0m {msg}");
            } else {
                eprintln!("mqctl: warning: {msg}");
            }
        }
    }
}

/// Refuses a root anyone could plant entries in, and, started as root on a
/// queue owned by another user, becomes that user for good (like postfix's
/// postsuper) so everything created keeps the writer's owner.
fn secure(queue: &Queue, insecure: bool) -> Result<()> {
    use nix::unistd::{Gid, Uid, geteuid, setgid, setgroups, setuid};
    let m = queue.root_meta();
    let unusable = |reason: String| Error::QueueUnusable {
        path: queue.path().to_path_buf(),
        reason,
    };
    if m.mode & 0o022 != 0 && !insecure {
        return Err(unusable(format!(
            "is group or world writable (mode {:o}): anyone could plant entries in it; chmod 700 it, or pass --insecure",
            m.mode
        )));
    }
    let euid = geteuid();
    if euid.is_root() && m.uid != 0 {
        let (uid, gid) = (Uid::from_raw(m.uid), Gid::from_raw(m.gid));
        setgroups(&[gid])
            .and_then(|()| setgid(gid))
            .and_then(|()| setuid(uid))
            .map_err(|e| unusable(format!("cannot switch to its owner uid {}: {}", m.uid, e.desc())))?;
    } else if !euid.is_root() && euid.as_raw() != m.uid && !insecure {
        return Err(unusable(format!(
            "is owned by uid {}, not you (uid {}): run as that user or as root, or pass --insecure",
            m.uid,
            euid.as_raw()
        )));
    }
    Ok(())
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let ctx = Context::from_cli(&cli)?;
    match &cli.command {
        Command::List(a) => list::run(&ctx, a),
        Command::Show(a) => show::run(&ctx, a),
        Command::Stats(a) => stats::run(&ctx, a),
        Command::Enqueue(a) => enqueue::run(&ctx, a),
        Command::Export(a) => export::run(&ctx, a),
        Command::Import(a) => import::run(&ctx, a),
        Command::Demo(a) => demo::run(&ctx, a),
        Command::Tui(a) => tui::run(&ctx, a),
        Command::Watch(a) => watch::run(&ctx, a),
        Command::Reschedule(a) => reschedule::reschedule(&ctx, a),
        Command::Defer(a) => reschedule::defer(&ctx, a),
        Command::Hold(a) => hold::hold(&ctx, a),
        Command::Release(a) => hold::release(&ctx, a),
        Command::Drop(a) => drop::run(&ctx, a),
        Command::Recover(a) => recover::run(&ctx, a),
        Command::Purge(a) => purge::run(&ctx, a),
        Command::Check(a) => check::run(&ctx, a),
        Command::Undo(a) => undo::run(&ctx, a),
        Command::Completions(a) => completions::run(&ctx, a),
        Command::Generate(a) => generate::run(&ctx, a),
    }
}

pub fn time_style(t: &TimeArgs) -> TimeStyle {
    if t.utc {
        TimeStyle::Utc
    } else if t.local {
        TimeStyle::Local
    } else {
        TimeStyle::Relative
    }
}

/// Reads all of stdin (what `-` in an id list means).
pub fn read_stdin() -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io::stdin().lock().read_to_end(&mut buf)?;
    Ok(buf)
}

/// Expands `-` in an id list into the ids read from stdin (newline or NUL
/// separated, blank lines ignored).
pub fn expand_ids(ids: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for id in ids {
        if id != "-" {
            out.push(id.clone());
            continue;
        }
        let buf = read_stdin().map_err(|e| Error::Usage(format!("reading ids from stdin: {e}")))?;
        out.extend(crate::select::args::split_ids(&buf));
    }
    Ok(out)
}

/// Turns the selection flags into a `Selection` (`-` reads stdin).
pub fn selection(a: &SelectArgs, now: Timestamp, stuck_after: jiff::SignedDuration) -> Result<Selection> {
    a.selection(now, stuck_after, &mut read_stdin)
}

/// Buffered stdout. A reader that goes away (`| head`) ends the command
/// quietly: main maps the broken pipe to success.
pub fn stdout() -> io::BufWriter<io::StdoutLock<'static>> {
    io::BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}

/// Reads a whole line from stdin for a confirmation prompt.
pub fn read_answer() -> Option<String> {
    let mut s = String::new();
    io::stdin().lock().read_line(&mut s).ok()?;
    Some(s)
}

pub fn flush(out: &mut dyn Write) -> Result<()> {
    out.flush().map_err(Error::Output)
}

pub use cli::SortKey;
