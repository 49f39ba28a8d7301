//! What every command that changes the queue shares on the command line:
//! the selection (refused without `--all` when it would be everything),
//! the confirmation on a terminal, the live-writer warning, one line per
//! change, progress on a terminal, the summary and the exit code. The
//! changes themselves are the library's change engine (`crate::change`).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::{Context, read_answer, selection, stdout};
use crate::change::{Change, End, Notice, Observer, Outcome, Report, Verb};
use crate::cli::{ChangeArgs, SelectArgs};
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::queue::State;
use crate::select::Selection;

/// Resolves the selection flags for a change: ids search every folder,
/// filters only `states` unless `--state` says otherwise. No ids and no
/// filter is refused unless `--all` (or `implicit`: the command's own
/// scope is narrow, as recover's and purge's are).
pub fn change_selection(
    ctx: &Context,
    a: &SelectArgs,
    change: &ChangeArgs,
    states: &[State],
    stuck_after: jiff::SignedDuration,
    implicit: bool,
) -> Result<Selection> {
    let mut sel = selection(a, ctx.now, stuck_after)?;
    if sel.is_everything() && !change.all && !implicit {
        return Err(Error::Usage(
            "no ids and no filter: this would act on every entry; give ids or filters, or --all to mean it".into(),
        ));
    }
    if sel.states.is_empty() && sel.ids.is_empty() {
        sel.states = states.to_vec();
    }
    Ok(sel)
}

/// The flag SIGINT/SIGTERM set once a change command has started: the
/// change at hand finishes, then we stop. Installed once per process, at the
/// start of the command, so a signal during the initial scan also ends in an
/// orderly "nothing changed" rather than a kill.
///
/// While `confirm` waits for an answer the signals end the process at once
/// (exit 130; nothing has been changed yet), as a prompt should.
pub fn stop_flag() -> &'static AtomicBool {
    &signals().stop
}

struct Signals {
    stop: Arc<AtomicBool>,
    prompting: Arc<AtomicBool>,
}

fn signals() -> &'static Signals {
    static SIGNALS: OnceLock<Signals> = OnceLock::new();
    SIGNALS.get_or_init(|| {
        let s = Signals {
            stop: Arc::new(AtomicBool::new(false)),
            prompting: Arc::new(AtomicBool::new(false)),
        };
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // The exit runs first when it applies (registration order).
            let _ = signal_hook::flag::register_conditional_shutdown(
                sig,
                ExitCode::Interrupted as i32,
                Arc::clone(&s.prompting),
            );
            let _ = signal_hook::flag::register(sig, Arc::clone(&s.stop));
        }
        s
    })
}

/// Asks `question [y/N]` on the terminal; true for `y` or `yes`.
pub fn ask(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let prompting = &signals().prompting;
    prompting.store(true, Ordering::SeqCst);
    let answer = read_answer();
    prompting.store(false, Ordering::SeqCst);
    matches!(
        answer.as_deref().map(|a| a.trim().to_ascii_lowercase()).as_deref(),
        Some("y" | "yes")
    )
}

/// True when a person can answer a question: stdin and stderr are a
/// terminal.
pub fn can_ask() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// What a live writer will and will not see of a change (docs/writer.md:
/// it keeps queue/ and the schedules in memory).
fn live_writer_effect(verb: Verb) -> &'static str {
    match verb {
        Verb::Hold | Verb::Drop => {
            "a held or dropped entry is forgotten by the writer when it next tries it (it logs the mail as vanished)"
        }
        Verb::Purge => "pending cleanups are finished by the writer too; running both is safe",
        Verb::Reschedule | Verb::Defer => {
            "rewritten schedules take effect at the writer's next start; an entry it tries to send in the instant mqctl holds it waits for that start too"
        }
        Verb::Undo => {
            "entries put back into queue/ and schedules put back take effect at the writer's next start; entries taken out of queue/ are forgotten when it next tries them"
        }
        _ => "entries put into queue/ take effect at the writer's next start",
    }
}

/// The command line's observer: the question, the notices, one line per
/// change (done ones on stdout, what a script reads; the others on
/// stderr), and a progress bar on a terminal once a run takes a second.
pub struct Cli<'a> {
    ctx: &'a Context,
    verb: Verb,
    yes: bool,
    dry_run: bool,
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
    /// The first error writing stdout (a closed pipe is not one).
    pub error: Option<Error>,
    bar: Progress,
    /// Changes are printed as they come unless a caller collects them.
    pub print: bool,
    pub collected: Vec<Change>,
}

impl<'a> Cli<'a> {
    pub fn new(ctx: &'a Context, verb: Verb, change: &ChangeArgs) -> Cli<'a> {
        Cli {
            ctx,
            verb,
            yes: change.yes,
            dry_run: change.dry_run,
            out: stdout(),
            error: None,
            bar: Progress::new(ctx.quiet),
            print: true,
            collected: Vec::new(),
        }
    }

    fn line(&mut self, c: &Change) -> std::io::Result<()> {
        let moved = match (c.from, c.to) {
            (Some(f), Some(t)) if f == t => format!(" {f}"),
            (Some(f), Some(t)) => format!(" {f} -> {t}"),
            _ => String::new(),
        };
        let detail = c.detail.as_deref().map(|d| format!(" {d}")).unwrap_or_default();
        // What did not happen is said of where the entry was.
        let was = c.from.map(|f| format!(" {f}")).unwrap_or_default();
        let (ctx, op) = (self.ctx, c.op);
        match &c.outcome {
            Outcome::Done if !ctx.quiet => writeln!(self.out, "{op} {}{moved}{detail}", c.subject),
            Outcome::Vanished if ctx.verbose > 0 => writeln!(self.out, "{op} {}{was}: vanished", c.subject),
            Outcome::Skipped(r) if !ctx.quiet => {
                self.bar
                    .suspend(|| eprintln!("mqctl: {op} {}{was}: skipped: {r}", c.subject));
                Ok(())
            }
            Outcome::Failed(r) => {
                self.bar
                    .suspend(|| eprintln!("mqctl: {op} {}{was}: failed: {r}", c.subject));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Flushes stdout; keeps the first real error.
    fn flush(&mut self) {
        if let Err(e) = self.out.flush() {
            self.keep(e);
        }
    }

    fn keep(&mut self, e: std::io::Error) {
        let e = Error::Output(e);
        if !e.is_broken_pipe() {
            self.error.get_or_insert(e);
        }
    }
}

impl Observer for Cli<'_> {
    fn confirm(&mut self, verb: Verb, count: usize) -> bool {
        self.bar.clear();
        if self.yes || self.dry_run || count <= 1 || !can_ask() {
            return true;
        }
        ask(&verb.question(count))
    }

    fn notice(&mut self, n: &Notice) {
        let ctx = self.ctx;
        match n {
            Notice::LiveWriter(writers) if !ctx.quiet && !self.dry_run => {
                let who: Vec<String> = writers
                    .iter()
                    .take(3)
                    .map(|w| format!("{} (pid {})", crate::escape::escape(&w.name), w.pid))
                    .collect();
                let effect = live_writer_effect(self.verb);
                self.bar.suspend(|| {
                    ctx.warn(format_args!(
                        "a writer has this queue open: {}; {effect}",
                        who.join(", ")
                    ))
                });
            }
            Notice::Waiting(n) if ctx.verbose > 0 => {
                self.bar
                    .suspend(|| eprintln!("mqctl: waiting a moment for the writer to finish with {n} entries"));
            }
            Notice::DiskFull { left } => {
                self.bar.suspend(|| {
                    eprintln!("mqctl: the disk is full (No space left on device): {left} not changed; free some space and run the command again")
                });
            }
            Notice::ClaimsBusy(n) if !ctx.quiet => {
                self.bar.suspend(|| {
                    ctx.warn(format_args!(
                        "{n} claimed entries are held by a running mqctl: left alone (run again once it is done)"
                    ))
                });
            }
            _ => {}
        }
    }

    fn change(&mut self, c: &Change) {
        if !self.print {
            self.collected.push(c.clone());
            return;
        }
        if let Err(e) = self.line(c) {
            self.keep(e);
        }
    }

    fn progress(&mut self, done: u64, total: u64) {
        self.flush();
        self.bar.show(done, Some(total), self.verb.past());
    }

    fn scanned(&mut self, entries: u64) {
        self.bar.show(entries, None, "read");
    }
}

/// A progress bar on stderr, only on a terminal, only once the work has
/// taken a second (`MQCTL_PROGRESS_AFTER_MS` changes that, for tests),
/// never with `--quiet`: count, rate and time left.
pub struct Progress {
    started: Instant,
    after: Duration,
    bar: Option<indicatif::ProgressBar>,
    enabled: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let after = std::env::var("MQCTL_PROGRESS_AFTER_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(Duration::from_secs(1), Duration::from_millis);
        Progress {
            started: Instant::now(),
            after,
            bar: None,
            enabled: !quiet && std::io::stderr().is_terminal(),
        }
    }

    pub fn show(&mut self, done: u64, total: Option<u64>, what: &str) {
        if !self.enabled || self.started.elapsed() < self.after {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let b = match total {
                Some(t) => indicatif::ProgressBar::new(t).with_style(
                    indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ({per_sec}, {eta} left)")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                ),
                None => indicatif::ProgressBar::new_spinner().with_style(
                    indicatif::ProgressStyle::with_template("{spinner} {pos} entries {msg} ({per_sec})")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                ),
            };
            b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            b.set_message(what.to_string());
            b
        });
        if let Some(t) = total
            && bar.length() != Some(t)
        {
            // From reading the selection to changing it.
            bar.set_length(t);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ({per_sec}, {eta} left)")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.reset_eta();
            bar.set_message(what.to_string());
        }
        bar.set_position(done);
    }

    /// Runs `f` (which prints) with the bar out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    /// Takes the bar off the screen (before a question).
    pub fn clear(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }

    /// Leaves the bar's last state on the screen, above the summary.
    pub fn done(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish();
        }
    }
}

/// Ends a run on the command line: ids that named nothing, a log that
/// failed, the summary (stderr), and the exit code.
pub fn finish(ctx: &Context, obs: &mut Cli, report: &Report) -> Result<ExitCode> {
    finish_with(ctx, obs, report, &report.summary(), report.has_failures())
}

/// `finish` with a command's own summary, and its own idea of failure
/// (`undo`: anything not taken back).
pub fn finish_with(ctx: &Context, obs: &mut Cli, report: &Report, summary: &str, failed: bool) -> Result<ExitCode> {
    obs.flush();
    obs.bar.done();
    for id in &report.missing {
        eprintln!("mqctl: no entry {}", crate::escape::escape(id));
    }
    if let End::LogFailed { error, unrecorded } = &report.end {
        eprintln!("mqctl: {error}: stopped before the next change");
        if !unrecorded.is_empty() {
            let ids: Vec<String> = unrecorded.iter().map(|s| s.to_string()).collect();
            eprintln!(
                "mqctl: these {} changes were made, but their result is not in the log (its intent line names them): {}",
                ids.len(),
                ids.join(" ")
            );
        }
    }
    if report.end == End::NotConfirmed {
        eprintln!("mqctl: aborted; nothing changed");
        return Ok(ExitCode::SomeFailed);
    }
    if report.end == End::Interrupted && report.tally.handled() == 0 && !ctx.quiet {
        eprintln!("mqctl: interrupted before any change: nothing changed");
        return Ok(ExitCode::Interrupted);
    }
    if !ctx.quiet || failed {
        eprintln!("{summary}");
    }
    if let Some(e) = obs.error.take() {
        return Err(e);
    }
    Ok(if report.end == End::Interrupted {
        ExitCode::Interrupted
    } else if failed {
        ExitCode::SomeFailed
    } else {
        ExitCode::Success
    })
}

/// A change to entries as a command line gives it.
pub struct EntryCommand<'a> {
    pub verb: Verb,
    pub op: crate::queue::ops::EntryOp,
    pub select: &'a SelectArgs,
    pub change: &'a ChangeArgs,
    /// The folders a filter-only selection looks in (ids are looked up in
    /// every folder, so a wrong state is reported rather than ignored).
    pub states: &'static [State],
    pub force_inflight: bool,
    pub stuck_after: jiff::SignedDuration,
}

/// Runs a change to entries, start to finish.
pub fn run_entries(ctx: &Context, cmd: EntryCommand) -> Result<ExitCode> {
    let stop = stop_flag();
    let sel = change_selection(ctx, cmd.select, cmd.change, cmd.states, cmd.stuck_after, false)?;
    let (queue, mut audit) = ctx.open_for_change(cmd.change.log.as_deref(), cmd.change.dry_run)?;
    let mut obs = Cli::new(ctx, cmd.verb, cmd.change);
    let req = crate::change::entries::Request {
        verb: cmd.verb,
        op: cmd.op,
        target: crate::change::entries::Target::Selection(Box::new(sel)),
        force_inflight: cmd.force_inflight,
        stuck_after: cmd.stuck_after,
        now: ctx.now,
    };
    let mut ctl = crate::change::Control {
        dry_run: cmd.change.dry_run,
        stop,
        audit: &mut audit,
        observer: &mut obs,
    };
    let report = crate::change::entries::apply(&queue, req, &mut ctl)?;
    finish(ctx, &mut obs, &report)
}

/// Runs a paced change: the selected entries get next attempts spread from
/// `start` over `--spread` (and at most `--per-domain-rate` a minute to one
/// domain), the longest waiting first.
#[allow(clippy::too_many_arguments)]
pub fn run_paced(
    ctx: &Context,
    verb: Verb,
    op: crate::queue::ops::EntryOp,
    select: &SelectArgs,
    change: &ChangeArgs,
    states: &'static [State],
    start: jiff::Timestamp,
    pace: &crate::cli::PaceArgs,
) -> Result<ExitCode> {
    let stop = stop_flag();
    let stuck_after = crate::cli::StuckArg::default().stuck_after;
    let sel = change_selection(ctx, select, change, states, stuck_after, false)?;
    let (queue, mut audit) = ctx.open_for_change(change.log.as_deref(), change.dry_run)?;
    let mut obs = Cli::new(ctx, verb, change);
    let mut report = Report::new(verb, change.dry_run);
    let found = crate::change::entries::collect_waiting(&queue, &sel, stop, &mut obs, &mut report)?;
    let how = crate::change::spread::Spread {
        start,
        window: pace.spread.unwrap_or_default(),
        per_domain_per_minute: pace.per_domain_rate,
    };
    let window_end = start + how.window;
    let (items, end) = crate::change::entries::paced(found, how);
    if end > window_end && !ctx.quiet {
        let end = crate::queue::parse::format_timestamp(end);
        if how.window.is_zero() {
            ctx.warn(format_args!("at the per-domain rate, the last attempt is at {end}"));
        } else {
            ctx.warn(format_args!(
                "the per-domain rate needs until {end} for the busiest domain (past the {} window)",
                crate::human::human_duration(how.window.as_secs())
            ));
        }
    }
    let req = crate::change::entries::Request {
        verb,
        op,
        target: crate::change::entries::Target::Items(items),
        force_inflight: false,
        stuck_after,
        now: ctx.now,
    };
    let mut ctl = crate::change::Control {
        dry_run: change.dry_run,
        stop,
        audit: &mut audit,
        observer: &mut obs,
    };
    let mut run = crate::change::entries::apply(&queue, req, &mut ctl)?;
    run.missing = report.missing;
    finish(ctx, &mut obs, &run)
}
