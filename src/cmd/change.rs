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
    /// Where each entry changed went, when a caller wants to know (the
    /// second run of a paced release or recover).
    pub done: Option<Vec<(crate::queue::EntryId, State)>>,
    /// The confirmation asks about this verb, not the run's.
    pub question: Option<Verb>,
    /// And says this after the question's count.
    pub question_suffix: Option<String>,
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
            done: None,
            question: None,
            question_suffix: None,
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
        let mut q = self.question.unwrap_or(verb).question(count);
        if let Some(suffix) = &self.question_suffix {
            q.insert_str(q.len() - 1, suffix);
        }
        ask(&q)
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
        if let (Some(done), Outcome::Done, Some(id), Some(to)) = (&mut self.done, &c.outcome, c.id(), c.to) {
            done.push((id.clone(), to));
        }
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
                Some(t) => indicatif::ProgressBar::new(t).with_style(bar_style()),
                None => indicatif::ProgressBar::new_spinner().with_style(
                    indicatif::ProgressStyle::with_template("{spinner} {pos} entries {msg} ({rate})")
                        .map(with_rate)
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
            bar.set_style(bar_style());
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
    /// Takes the bar off the screen: the summary says the rest.
    pub fn done(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// `███░░ 1200/3000 held (41657/s, 0s left)`.
fn bar_style() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ({rate}, {eta} left)")
        .map(with_rate)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
}

/// Entries a second, whole (indicatif's own rate has four decimals).
fn with_rate(style: indicatif::ProgressStyle) -> indicatif::ProgressStyle {
    style.with_key("rate", |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
        let _ = write!(w, "{:.0}/s", s.per_sec());
    })
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
    /// What a hold records.
    pub hold: Option<crate::queue::holds::HoldNote>,
    /// Only holds that have ended (`release --expired`), which is a
    /// selection by itself.
    pub expired: bool,
}

impl<'a> EntryCommand<'a> {
    /// A change to the entries the flags select in `states`, with the
    /// defaults: no inflight entry taken unless stuck (`--stuck-after`'s
    /// default), no hold note of its own, not only expired holds.
    pub fn new(
        verb: Verb,
        op: crate::queue::ops::EntryOp,
        select: &'a SelectArgs,
        change: &'a ChangeArgs,
        states: &'static [State],
    ) -> EntryCommand<'a> {
        EntryCommand {
            verb,
            op,
            select,
            change,
            states,
            force_inflight: false,
            stuck_after: crate::cli::StuckArg::default().stuck_after,
            hold: None,
            expired: false,
        }
    }
}

/// Runs a change to entries, start to finish.
pub fn run_entries(ctx: &Context, cmd: EntryCommand) -> Result<ExitCode> {
    let stop = stop_flag();
    let mut sel = change_selection(ctx, cmd.select, cmd.change, cmd.states, cmd.stuck_after, cmd.expired)?;
    sel.expired = cmd.expired;
    let (queue, mut audit) = ctx.open_for_change(cmd.change.log.as_deref(), cmd.change.dry_run)?;
    let mut obs = Cli::new(ctx, cmd.verb, cmd.change);
    let req = crate::change::entries::Request {
        verb: cmd.verb,
        op: cmd.op,
        target: crate::change::entries::Target::Selection(Box::new(sel)),
        force_inflight: cmd.force_inflight,
        stuck_after: cmd.stuck_after,
        now: ctx.now,
        hold: cmd.hold,
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

/// A paced retry, as `reschedule --spread`, `release --spread` and
/// `recover --spread` ask for it.
pub struct Paced<'a> {
    pub select: &'a SelectArgs,
    pub change: &'a ChangeArgs,
    /// The folders a filter-only selection looks in.
    pub states: &'static [State],
    /// The selection may be empty (recover's scope is narrow already).
    pub implicit: bool,
    /// Only holds that have ended.
    pub expired: bool,
    pub start: jiff::Timestamp,
    pub pace: &'a crate::cli::PaceArgs,
    pub stuck_after: jiff::SignedDuration,
    /// A move made with the rewrite, on the entries the other step changed.
    pub with: Option<WithMove>,
    /// Which of the entries read to take (recover: only stuck ones).
    pub keep: &'a dyn Fn(&crate::queue::Queue, &crate::queue::ops::Item) -> bool,
}

/// The move of a paced `release` or `recover`.
#[derive(Debug, Clone, Copy)]
pub struct WithMove {
    pub verb: Verb,
    pub op: crate::queue::ops::EntryOp,
    /// Made before the rewrite (a recovered entry is rewritten in queue/),
    /// or after it (a held entry is rewritten while still held, then
    /// released: never all due at once).
    pub first: bool,
    pub force_inflight: bool,
}

/// Runs a paced change: the selected entries get next attempts spread from
/// `start` over `--spread` (and at most `--per-domain-rate` a minute to one
/// domain), the longest waiting first; with a move, as two runs of the
/// engine under one run id (so `undo --run` takes back both), asked for
/// once.
pub fn run_paced(ctx: &Context, p: Paced) -> Result<ExitCode> {
    use crate::change::entries::{self, Request, Target};
    use crate::queue::ops::{EntryOp, Reschedule};
    let stop = stop_flag();
    let dry_run = p.change.dry_run;
    let mut sel = change_selection(
        ctx,
        p.select,
        p.change,
        p.states,
        p.stuck_after,
        p.implicit || p.expired,
    )?;
    sel.expired = p.expired;
    let (queue, mut audit) = ctx.open_for_change(p.change.log.as_deref(), dry_run)?;
    let verb = p.with.map_or(Verb::Reschedule, |w| w.verb);
    let mut obs = Cli::new(ctx, verb, p.change);
    let mut read = Report::new(verb, dry_run);
    let mut found = entries::collect_waiting(&queue, &sel, stop, &mut obs, &mut read)?;
    found.retain(|(i, _)| (p.keep)(&queue, i));
    let how = crate::change::spread::Spread {
        start: p.start,
        window: p.pace.spread.unwrap_or_default(),
        per_domain_per_minute: p.pace.per_domain_rate,
    };
    let request = |verb: Verb, op: EntryOp, items: Vec<crate::queue::ops::Item>, force: bool| Request {
        verb,
        op,
        target: Target::Items(items),
        force_inflight: force,
        stuck_after: p.stuck_after,
        now: ctx.now,
        hold: None,
    };
    let rewrite = |items| request(Verb::Reschedule, EntryOp::Schedule(Reschedule::PerEntry), items, false);
    let spread = crate::human::human_duration(how.window.as_secs());
    let mut run = |obs: &mut Cli, req: Request| {
        let mut ctl = crate::change::Control {
            dry_run,
            stop,
            audit: &mut audit,
            observer: obs,
        };
        entries::apply(&queue, req, &mut ctl)
    };
    let Some(with) = p.with else {
        let items = paced(ctx, found, how);
        let mut report = run(&mut obs, rewrite(items))?;
        report.missing = read.missing;
        return finish(ctx, &mut obs, &report);
    };
    obs.done = Some(Vec::new());
    let (mut first, second) = if with.first {
        // Recover, then spread what was recovered (the writer reads queue/
        // only when it starts: none is tried in between).
        let items = found.iter().map(|(i, _)| i.clone()).collect();
        obs.question_suffix = Some(format!(" (their next attempts then spread over {spread})"));
        let first = run(&mut obs, request(with.verb, with.op, items, with.force_inflight))?;
        let moved = done_states(&mut obs);
        let rest: Vec<_> = found
            .into_iter()
            .filter_map(|(mut i, w)| {
                i.state = *moved.get(&i.id)?;
                Some((i, w))
            })
            .collect();
        obs.yes = true;
        let second = if first.end != End::Finished || rest.is_empty() {
            None
        } else if dry_run {
            // The entries are not in queue/ yet: say what the rewrite would do.
            Some(preview_rewrite(&mut obs, paced(ctx, rest, how)))
        } else {
            Some(run(&mut obs, rewrite(paced(ctx, rest, how)))?)
        };
        (first, second)
    } else {
        // Rewrite while held, then release what was rewritten.
        let items = paced(ctx, found, how);
        obs.question = Some(with.verb);
        obs.question_suffix = Some(format!(" (their next attempts spread over {spread})"));
        let first = run(&mut obs, rewrite(items))?;
        let moved = done_states(&mut obs);
        let mut rest: Vec<crate::queue::ops::Item> = moved
            .into_iter()
            .map(|(id, state)| crate::queue::ops::Item::new(state, id))
            .collect();
        rest.sort_by(|a, b| a.id.cmp(&b.id));
        obs.yes = true;
        let second = if first.end != End::Finished || rest.is_empty() {
            None
        } else {
            Some(run(&mut obs, request(with.verb, with.op, rest, with.force_inflight))?)
        };
        (first, second)
    };
    first.missing = read.missing;
    let Some(second) = second else {
        return finish(ctx, &mut obs, &first);
    };
    obs.flush();
    let failed = first.has_failures();
    if !ctx.quiet || failed {
        let summary = first.summary();
        obs.bar.suspend(|| eprintln!("{summary}"));
    }
    for id in std::mem::take(&mut first.missing) {
        eprintln!("mqctl: no entry {}", crate::escape::escape(&id));
    }
    let code = finish(ctx, &mut obs, &second)?;
    Ok(if failed && code == ExitCode::Success {
        ExitCode::SomeFailed
    } else {
        code
    })
}

/// Each item's next attempt, with a warning when the per-domain rate needs
/// longer than the window.
fn paced(
    ctx: &Context,
    found: Vec<(crate::queue::ops::Item, crate::change::spread::Waiting)>,
    how: crate::change::spread::Spread,
) -> Vec<crate::queue::ops::Item> {
    let window_end = how.start + how.window;
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
    items
}

/// Where the entries the last run changed are now.
fn done_states(obs: &mut Cli) -> std::collections::HashMap<crate::queue::EntryId, State> {
    obs.done.replace(Vec::new()).unwrap_or_default().into_iter().collect()
}

/// A dry run's rewrite of entries a dry run did not move: the lines and
/// the count the rewrite would give.
fn preview_rewrite(obs: &mut Cli, items: Vec<crate::queue::ops::Item>) -> Report {
    let mut report = Report::new(Verb::Reschedule, true);
    report.tally.matched = items.len() as u64;
    for i in items {
        let mut c = Change::entry(&i.id, i.state, i.state);
        c.op = Verb::Reschedule.name();
        c.detail =
            i.at.map(|at| format!("at {}", crate::queue::parse::format_timestamp(at)));
        report.tally.add(&c.outcome);
        obs.change(&c);
    }
    report
}
