//! What every command that changes entries shares: refuse to act on
//! everything without `--all`, collect the selection, warn about a live
//! writer, confirm on a terminal, apply in batches, record, summarise.

use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use jiff::SignedDuration;

use super::{Context, flush, read_answer, selection, stdout};
use crate::audit::Audit;
use crate::cli::{ChangeArgs, SelectArgs};
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::queue::ops::{Apply, Change, Op, Outcome};
use crate::queue::{EntryId, EntryRef, Queue, State, live};
use crate::select::{self, Selection};

/// How a command wants its selection applied.
pub struct Plan {
    pub op: Op,
    /// The folders a filter-only selection looks in (ids are looked up in
    /// every folder, so a wrong state is reported rather than ignored).
    pub states: &'static [State],
    pub force_inflight: bool,
    pub inflight_stale_after: Option<SignedDuration>,
}

/// Tallies of a run, for the summary line.
#[derive(Debug, Default)]
pub struct Tally {
    pub done: u64,
    pub vanished: u64,
    pub skipped: u64,
    pub failed: u64,
}

impl Tally {
    pub fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Done => self.done += 1,
            Outcome::Vanished => self.vanished += 1,
            Outcome::Skipped(_) => self.skipped += 1,
            Outcome::Failed(_) => self.failed += 1,
        }
    }

    /// `12 dropped, 1 vanished (moved by another process), 0 failed`.
    pub fn summary(&self, past: &str, dry_run: bool) -> String {
        let mut s = if dry_run {
            format!("dry run, nothing changed: {} would be {past}", self.done)
        } else {
            format!("{} {past}", self.done)
        };
        s.push_str(&format!(", {} vanished", self.vanished));
        if self.vanished > 0 {
            s.push_str(" (moved by another process)");
        }
        if self.skipped > 0 {
            s.push_str(&format!(", {} skipped", self.skipped));
        }
        s.push_str(&format!(", {} failed", self.failed));
        s
    }
}

/// Collects the entries a selection names: (state, id) pairs. Stops early
/// (with what it has) once `stop` is set.
pub fn collect(queue: &Queue, sel: &Selection, stop: &AtomicBool) -> Result<(Vec<EntryRef>, Vec<String>)> {
    let mut out = Vec::new();
    let missing = select::for_each(queue, sel, sel.want(), &mut |e| {
        if stop.load(Ordering::Relaxed) {
            return Ok(ControlFlow::Break(()));
        }
        out.push((e.state, e.id));
        Ok(ControlFlow::Continue(()))
    })?;
    Ok((out, missing))
}

/// Resolves the selection flags for a change: ids search every folder,
/// filters only `states` unless `--state` says otherwise.
pub fn change_selection(ctx: &Context, a: &SelectArgs, change: &ChangeArgs, states: &[State]) -> Result<Selection> {
    let mut sel = selection(a, ctx.now)?;
    if sel.is_everything() && !change.all {
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

/// Says so and gives the exit code when a signal came before any change.
fn interrupted_before_changes(ctx: &Context) -> ExitCode {
    if !ctx.quiet {
        eprintln!("mqctl: interrupted before any change: nothing changed");
    }
    ExitCode::Interrupted
}

/// Warns once that a live writer will not see some changes until it
/// restarts (PROTOCOL.md: it keeps queue/ and schedules in memory).
pub fn warn_live_writer(ctx: &Context, queue: &Queue, op: &Op) {
    if ctx.quiet {
        return;
    }
    let writers = live::writers(queue.path());
    if writers.is_empty() {
        return;
    }
    let who: Vec<String> = writers
        .iter()
        .take(3)
        .map(|w| format!("{} (pid {})", w.name, w.pid))
        .collect();
    let effect = match op {
        Op::Move(State::Held) | Op::Drop => {
            "a held or dropped entry is forgotten by the writer when it next tries it (it logs the mail as vanished)"
        }
        Op::Cleanup => "pending cleanups are finished by the writer too; running both is safe",
        _ => "entries put into queue/ and rewritten schedules take effect at the writer's next start",
    };
    ctx.warn(format_args!(
        "a writer has this queue open: {}; {effect}",
        who.join(", ")
    ));
}

/// Asks "Drop 1234 entries? [y/N]" when a person is there to answer.
pub fn confirm(ctx: &Context, change: &ChangeArgs, verb: &str, n: usize) -> bool {
    if change.yes || change.dry_run || n <= 1 {
        return true;
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return true;
    }
    let _ = ctx;
    eprint!("{verb} {n} entries? [y/N] ");
    let _ = std::io::stderr().flush();
    let prompting = &signals().prompting;
    prompting.store(true, Ordering::SeqCst);
    let answer = read_answer();
    prompting.store(false, Ordering::SeqCst);
    matches!(answer.as_deref().map(str::trim), Some("y" | "Y" | "yes" | "YES"))
}

/// One line per change: done ones on stdout (what a script reads), skipped
/// and failed ones on stderr.
pub fn print_change(ctx: &Context, out: &mut dyn Write, op: &Op, c: &Change) -> Result<()> {
    let detail = c.detail.as_deref().map(|d| format!(" {d}")).unwrap_or_default();
    let moved = if c.from == c.to {
        c.from.dir().to_string()
    } else {
        format!("{} -> {}", c.from, c.to)
    };
    match &c.outcome {
        Outcome::Done if !ctx.quiet => writeln!(out, "{} {} {moved}{detail}", op.name(), c.id)?,
        Outcome::Vanished if ctx.verbose > 0 => writeln!(out, "{} {} {}: vanished", op.name(), c.id, c.from)?,
        Outcome::Skipped(r) if !ctx.quiet => eprintln!("mqctl: {} {} {}: skipped: {r}", op.name(), c.id, c.from),
        Outcome::Failed(r) => eprintln!("mqctl: {} {} {}: failed: {r}", op.name(), c.id, c.from),
        _ => {}
    }
    Ok(())
}

/// Runs a change over a selection, start to finish.
pub fn run(ctx: &Context, a: &SelectArgs, change: &ChangeArgs, plan: Plan) -> Result<ExitCode> {
    let sel = change_selection(ctx, a, change, plan.states)?;
    let stop = stop_flag();
    let mut queue = ctx.open_queue()?;
    // A signal during the scan is seen by `apply` before it changes anything.
    let (entries, missing) = collect(&queue, &sel, stop)?;
    let mut tally = Tally::default();
    for id in &missing {
        // Gone since it was listed: another process took it.
        if ctx.verbose > 0 {
            eprintln!("mqctl: {} {}: vanished", plan.op.name(), crate::output::escape(id));
        }
        tally.vanished += 1;
    }
    apply(
        ctx,
        &mut queue,
        change.dry_run,
        change.yes,
        change.log.as_deref(),
        &plan,
        &entries,
        tally,
    )
}

/// Applies a plan to collected entries (shared by `recover`, which selects
/// its own way).
#[allow(clippy::too_many_arguments)]
pub fn apply(
    ctx: &Context,
    queue: &mut Queue,
    dry_run: bool,
    yes: bool,
    log: Option<&std::path::Path>,
    plan: &Plan,
    entries: &[(State, EntryId)],
    mut tally: Tally,
) -> Result<ExitCode> {
    let past = plan.op.past();
    let stop = stop_flag();
    if stop.load(Ordering::SeqCst) {
        return Ok(interrupted_before_changes(ctx));
    }
    if entries.is_empty() {
        if !ctx.quiet && ctx.verbose > 0 {
            eprintln!("nothing to do");
        }
        return Ok(if tally.failed > 0 {
            ExitCode::SomeFailed
        } else {
            ExitCode::Success
        });
    }
    warn_live_writer(ctx, queue, &plan.op);
    let change = ChangeArgs {
        all: true,
        dry_run,
        yes,
        log: None,
    };
    let verb = capitalise(plan.op.name());
    if !confirm(ctx, &change, &verb, entries.len()) {
        eprintln!("mqctl: aborted; nothing changed");
        return Ok(ExitCode::SomeFailed);
    }
    // A signal in the moment between the warning and the prompt.
    if stop.load(Ordering::SeqCst) {
        return Ok(interrupted_before_changes(ctx));
    }
    let mut audit = if dry_run { None } else { Some(Audit::open(log, true)?) };
    let opts = Apply {
        dry_run,
        stop,
        force_inflight: plan.force_inflight,
        inflight_stale_after: plan.inflight_stale_after,
        now: ctx.now,
    };
    let mut out = stdout();
    let mut err: Option<Error> = None;
    let stopped = queue.apply(plan.op, entries, &opts, &mut |c| {
        tally.add(&c.outcome);
        if let Some(a) = &mut audit
            && let Err(e) = a.record(plan.op.name(), c)
        {
            err.get_or_insert(e);
        }
        if let Err(e) = print_change(ctx, &mut out, &plan.op, c) {
            err.get_or_insert(e);
        }
    })?;
    if let Some(a) = &mut audit {
        a.flush()?;
    }
    let flushed = flush(&mut out);
    if let Some(e) = err {
        // A closed stdout must not hide that the changes were made.
        if !e.is_broken_pipe() {
            return Err(e);
        }
    }
    if !ctx.quiet {
        let mut line = tally.summary(past, dry_run);
        if stopped {
            line.push_str(" (interrupted)");
        }
        eprintln!("{line}");
    }
    if let Err(e) = flushed
        && !e.is_broken_pipe()
    {
        return Err(e);
    }
    Ok(if stopped {
        ExitCode::Interrupted
    } else if tally.failed > 0 {
        ExitCode::SomeFailed
    } else {
        ExitCode::Success
    })
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
