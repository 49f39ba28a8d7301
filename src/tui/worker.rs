//! The only thread that touches the queue: scans, detail reads, statistics,
//! changes and watching the state folders. It gets `Effect`s as jobs and
//! sends what it finds back to the UI thread as `Report`s.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

use super::app::{Detail, Effect, Live, Msg, Report, Verb};
use super::row::RawRow;
use crate::audit::Audit;
use crate::change::entries::{Request, Target};
use crate::change::{Control, Notice, Observer};
use crate::queue::events::{Event, Flow, Mode, Rates};
use crate::queue::ops::{Change, EntryOp, Item, Outcome, Subject};
use crate::queue::{Entry, EntryId, Filter, Queue, State, Want, live, scan::All};
use crate::select::Selection;
use rayon::prelude::*;

/// A job for the worker.
pub enum Job {
    Do(Effect),
    /// What the watch saw.
    Event(Event),
    /// The watch runs, in this mode.
    Watching(Mode),
}

/// How long events for one burst are gathered before the entries they
/// name are read: one read per entry however often it moved meanwhile.
const GATHER: Duration = Duration::from_millis(50);
/// How long to let a burst settle before a rescan (an overflow comes with
/// more events right behind it).
const SETTLE: Duration = Duration::from_millis(300);
/// How often the rates are sent while nothing moves (they decay).
const RATES_EVERY: Duration = Duration::from_secs(5);
/// How many rows go to the UI in one message while streaming.
const SEND_EVERY: usize = 4096;
/// How many entries the first screen reads before the full scan.
const FIRST_SCREEN: usize = 100;

/// What the worker has done, for tests and the benchmark.
#[derive(Debug, Default)]
pub struct Activity {
    /// Entries read, by scans and after events.
    pub reads: AtomicU64,
    /// Whole reads of the queue.
    pub scans: AtomicU64,
}

pub struct Worker {
    queue: Queue,
    to_ui: Sender<Msg>,
    jobs: Receiver<Job>,
    stop: Arc<AtomicBool>,
    /// What the table shows: what moved is read with it.
    current: Option<(u64, Selection)>,
    pending: VecDeque<Effect>,
    stuck_after: SignedDuration,
    fixed_now: Option<Timestamp>,
    /// Where changes made from the TUI are recorded.
    audit: Audit,
    /// Entries that moved and are not read yet: where each is now (None:
    /// gone), and since when the oldest waits.
    moved: HashMap<EntryId, Option<State>>,
    moved_since: Option<Instant>,
    /// A rescan is due at this time.
    rescan_at: Option<Instant>,
    rates: Rates,
    live: Live,
    last_live: Instant,
    activity: Arc<Activity>,
}

impl Worker {
    pub fn new(
        queue: Queue,
        to_ui: Sender<Msg>,
        jobs: Receiver<Job>,
        stop: Arc<AtomicBool>,
        stuck_after: SignedDuration,
        fixed_now: Option<Timestamp>,
        audit: Audit,
    ) -> Worker {
        Worker {
            audit,
            queue,
            to_ui,
            jobs,
            stop,
            current: None,
            pending: VecDeque::new(),
            stuck_after,
            fixed_now,
            moved: HashMap::new(),
            moved_since: None,
            rescan_at: None,
            rates: Rates::default(),
            live: Live::default(),
            last_live: Instant::now(),
            activity: Arc::default(),
        }
    }

    /// What it has done so far (shared: read it while it runs).
    pub fn activity(&self) -> Arc<Activity> {
        Arc::clone(&self.activity)
    }

    fn now(&self) -> Timestamp {
        self.fixed_now.unwrap_or_else(Timestamp::now)
    }

    /// When the next thing to do without a job is due.
    fn next_deadline(&self) -> Option<Instant> {
        let gathered = self.moved_since.map(|t| t + GATHER);
        let rates = self.live.watching.then_some(self.last_live + RATES_EVERY);
        [gathered, self.rescan_at, rates].into_iter().flatten().min()
    }

    /// Runs until told to quit or the UI goes away.
    pub fn run(mut self) {
        loop {
            let job = if let Some(e) = self.pending.pop_front() {
                Job::Do(e)
            } else {
                let got = match self.next_deadline() {
                    Some(t) => self.jobs.recv_timeout(t.saturating_duration_since(Instant::now())),
                    None => self.jobs.recv().map_err(|_| RecvTimeoutError::Disconnected),
                };
                match got {
                    Ok(j) => j,
                    Err(RecvTimeoutError::Timeout) => {
                        self.on_time();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            };
            match job {
                Job::Event(e) => self.on_event(e),
                Job::Watching(mode) => {
                    self.watching(mode);
                    self.send_live();
                }
                Job::Do(Effect::Quit) => return,
                Job::Do(Effect::Scan {
                    generation,
                    selection,
                    stream,
                }) => {
                    self.rescan_at = None;
                    self.moved.clear();
                    self.moved_since = None;
                    self.scan(generation, *selection, stream);
                }
                Job::Do(e) => self.handle(e),
            }
        }
    }

    /// What is due by the clock: reading what moved, a rescan, the rates.
    fn on_time(&mut self) {
        let now = Instant::now();
        if self.rescan_at.is_some_and(|t| t <= now) {
            self.rescan_at = None;
            self.moved.clear();
            self.moved_since = None;
            if let Some((generation, sel)) = self.current.clone() {
                self.scan(generation, sel, false);
            }
        }
        if self.moved_since.is_some_and(|t| t + GATHER <= now) {
            self.read_moved();
        }
        if self.live.watching && self.last_live + RATES_EVERY <= now {
            self.send_live();
        }
    }

    fn on_event(&mut self, e: Event) {
        if let Some(f) = Flow::of(&e) {
            self.rates.note(f);
        }
        match e {
            // Whatever was gathered is part of what the rescan reads.
            Event::Rescan(_) => {
                self.rescan_at.get_or_insert_with(|| Instant::now() + SETTLE);
            }
            Event::Moved { id, to, .. } | Event::Added { id, to } => {
                self.moved.insert(id, Some(to));
                self.moved_since.get_or_insert_with(Instant::now);
            }
            Event::Removed { id, .. } => {
                self.moved.insert(id, None);
                self.moved_since.get_or_insert_with(Instant::now);
            }
        }
    }

    fn watching(&mut self, mode: Mode) {
        self.live.watching = mode == Mode::Events;
        self.live.polling = match mode {
            Mode::Events => None,
            Mode::Polling { why, .. } => Some(why),
        };
    }

    fn send_live(&mut self) {
        self.last_live = Instant::now();
        self.live.rates = self.rates.now();
        self.send(Report::Live(self.live.clone()));
    }

    /// Reads the entries that moved, and only those, and sends their rows.
    fn read_moved(&mut self) {
        self.moved_since = None;
        let Some((generation, sel)) = self.current.clone() else {
            self.moved.clear();
            return;
        };
        let moved: Vec<(EntryId, Option<State>)> = self.moved.drain().collect();
        let queue = &self.queue;
        let read: Vec<(EntryId, Option<RawRow>)> = moved
            .into_par_iter()
            .map(|(id, state)| {
                let row = state.and_then(|s| {
                    queue.read_one(s, id.as_bytes(), Want::ALL).map(|e| {
                        let shown = keeps(&sel, &e);
                        RawRow::from_entry(&e, shown)
                    })
                });
                (id, row)
            })
            .collect();
        let reads = read.iter().filter(|(_, r)| r.is_some()).count();
        self.activity.reads.fetch_add(reads as u64, Ordering::Relaxed);
        let mut rows = Vec::new();
        let mut gone = Vec::new();
        for (id, row) in read {
            match row {
                Some(r) => rows.push(r),
                // Gone by the time it was read: gone.
                None => gone.push(id),
            }
        }
        self.send(Report::Changed { generation, rows, gone });
        self.send_live();
    }

    /// Jobs that are quick, or that may run between two chunks of a scan.
    fn handle(&mut self, e: Effect) {
        match e {
            Effect::LoadDetail(state, id) => self.detail(state, &id),
            Effect::LoadStats => self.stats(),
            Effect::Apply {
                verb,
                op,
                targets,
                reason,
            } => self.apply(verb, op, &targets, reason),
            Effect::Cancel => self.stop.store(true, Ordering::SeqCst),
            Effect::Scan { .. } | Effect::Quit => self.pending.push_back(e),
        }
    }

    fn send(&self, r: Report) -> bool {
        self.to_ui.send(r.into()).is_ok()
    }

    /// Reads every entry and sends all of them, each marked with whether
    /// the selection keeps it (the header counts the whole queue). The read
    /// is the library's parallel scan, as `list`'s. Streaming sends rows as
    /// they come so the first screen paints at once; a refresh sends the
    /// whole picture at the end so the table never flickers to empty.
    fn scan(&mut self, generation: u64, sel: Selection, stream: bool) {
        self.current = Some((generation, sel.clone()));
        self.activity.scans.fetch_add(1, Ordering::Relaxed);
        let now = self.now();
        let mut rows: Vec<RawRow> = Vec::new();
        let mut first = true;
        let mut interrupted = false;
        let to_ui = self.to_ui.clone();
        let mut later: Vec<Effect> = Vec::new();
        let mut events: Vec<Event> = Vec::new();
        let mut mode: Option<Mode> = None;
        let early = if stream {
            self.first_screen(generation, &sel, now)
        } else {
            HashSet::new()
        };
        if !early.is_empty() {
            first = false;
        }
        let this = &*self;
        let mut read = 0u64;
        let result = this.queue.scan(&State::ALL, Want::ALL, &All, &mut |e| {
            read += 1;
            if early.contains(&e.id) {
                return Ok(ControlFlow::Continue(()));
            }
            rows.push(RawRow::from_entry(&e, keeps(&sel, &e)));
            if stream && rows.len() >= SEND_EVERY {
                let batch = std::mem::take(&mut rows);
                if to_ui
                    .send(
                        Report::Loaded {
                            generation,
                            rows: batch,
                            first,
                            done: false,
                        }
                        .into(),
                    )
                    .is_err()
                {
                    return Ok(ControlFlow::Break(()));
                }
                first = false;
            }
            // Stay responsive during a long scan: a newer scan replaces this
            // one; a detail is read at once; the rest waits for the end.
            while let Ok(j) = this.jobs.try_recv() {
                match j {
                    // Maybe about an entry already read: read it after.
                    Job::Event(ev) => events.push(ev),
                    Job::Watching(m) => mode = Some(m),
                    Job::Do(e @ (Effect::Scan { .. } | Effect::Quit)) => {
                        later.push(e);
                        interrupted = true;
                    }
                    Job::Do(Effect::LoadDetail(state, id)) => this.detail(state, &id),
                    Job::Do(Effect::Cancel) => this.stop.store(true, Ordering::SeqCst),
                    Job::Do(e) => later.push(e),
                }
            }
            if interrupted {
                return Ok(ControlFlow::Break(()));
            }
            Ok(ControlFlow::Continue(()))
        });
        self.activity
            .reads
            .fetch_add(read + early.len() as u64, Ordering::Relaxed);
        if let Some(m) = mode {
            self.watching(m);
        }
        self.pending.extend(later);
        for ev in events {
            self.on_event(ev);
        }
        if interrupted {
            return;
        }
        match result {
            Ok(()) => {
                self.send(Report::Loaded {
                    generation,
                    rows,
                    first,
                    done: true,
                });
            }
            Err(e) => {
                self.send(Report::Error(format!("reading the queue: {e}")));
            }
        }
        self.send(Report::Writer(writer_text(self.queue.path())));
        self.send_live();
    }

    /// Reads a screenful of entries straight away, many at a time, and sends
    /// them as the start of a new picture: on a cold cache the parallel scan
    /// needs seconds for its first chunk, a screen needs a fraction of one.
    /// Returns their ids, for the full scan to pass over.
    fn first_screen(&self, generation: u64, sel: &Selection, now: Timestamp) -> HashSet<EntryId> {
        let mut names: Vec<(State, EntryId)> = Vec::new();
        for st in State::ALL {
            let _ = self.queue.scan(&[st], Want::NAMES, &All, &mut |e| {
                names.push((e.state, e.id));
                Ok(if names.len() >= FIRST_SCREEN {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            });
            if names.len() >= FIRST_SCREEN {
                break;
            }
        }
        // Reading is waiting on the disk: more threads than cores helps.
        let per = names.len().div_ceil(16).max(1);
        let queue = &self.queue;
        let entries: Vec<Entry> = std::thread::scope(|sc| {
            let hs: Vec<_> = names
                .chunks(per)
                .map(|part| {
                    sc.spawn(move || {
                        part.iter()
                            .filter_map(|(st, id)| queue.read_one(*st, id.as_bytes(), Want::ALL))
                            .collect::<Vec<Entry>>()
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        });
        let _ = now;
        let mut rows = Vec::new();
        let mut ids = HashSet::new();
        for e in entries {
            rows.push(RawRow::from_entry(&e, keeps(sel, &e)));
            ids.insert(e.id);
        }
        if !ids.is_empty() {
            self.send(Report::Loaded {
                generation,
                rows,
                first: true,
                done: false,
            });
        }
        ids
    }

    fn detail(&self, state: State, id: &EntryId) {
        let d = match self.queue.read_one(state, id.as_bytes(), Want::ALL) {
            Some(e) => detail_of(&self.queue, &e, self.now()),
            None => Detail {
                id: id.clone(),
                lines: vec![(
                    "Entry".into(),
                    format!("{id} is no longer in {}/ (moved by another process)", state.dir()),
                )],
                headers: Vec::new(),
                body: Vec::new(),
            },
        };
        self.send(Report::Detail(Arc::new(d)));
    }

    fn stats(&self) {
        match crate::stats::gather(&self.queue, self.now(), self.stuck_after, 12) {
            Ok(s) => self.send(Report::Stats(Arc::new(s))),
            Err(e) => self.send(Report::Error(format!("statistics: {e}"))),
        };
    }

    fn apply(&mut self, verb: Verb, op: EntryOp, targets: &[(State, EntryId)], reason: Option<String>) {
        self.stop.store(false, Ordering::SeqCst);
        let mut items: Vec<Item> = targets.iter().map(|(s, id)| Item::new(*s, id.clone())).collect();
        if let Verb::RetrySpread(window) = verb {
            // The CLI's `reschedule --at now --spread`: evenly from now,
            // the longest waiting first.
            let how = crate::change::spread::Spread {
                start: self.now(),
                window,
                per_domain_per_minute: None,
            };
            items = crate::change::entries::paced(crate::change::entries::waiting_of(&self.queue, items), how).0;
        }
        let req = Request {
            verb: verb.change_verb(),
            op,
            target: Target::Items(items),
            force_inflight: false,
            // Drop and recover take inflight entries only once they are stuck.
            stuck_after: self.stuck_after,
            now: self.now(),
            hold: Some(crate::queue::holds::HoldNote {
                reason,
                ..crate::queue::holds::HoldNote::by_current_user(self.now())
            }),
        };
        let mut obs = Screen {
            to_ui: &self.to_ui,
            last_sent: Instant::now(),
            live: false,
            failure: None,
        };
        let mut ctl = Control {
            dry_run: false,
            stop: &self.stop,
            audit: &mut self.audit,
            observer: &mut obs,
        };
        let result = crate::change::entries::apply(&self.queue, req, &mut ctl);
        let (live, failure) = (obs.live, obs.failure);
        let mut summary = match result {
            Ok(report) => {
                let mut s = format!("{}: {}", verb.name(), report.summary());
                if let crate::change::End::LogFailed { error, .. } = &report.end {
                    s.push_str(&format!("; {error}"));
                }
                if report.tally.done > 0
                    && live
                    && matches!(
                        verb,
                        Verb::Release | Verb::Recover | Verb::RetryNow | Verb::RetrySpread(_) | Verb::Defer(_)
                    )
                {
                    s.push_str(" (a running writer sees this at its next start)");
                }
                s
            }
            Err(e) => format!("{}: {e}", verb.name()),
        };
        if summary.is_empty() {
            summary.push_str(verb.name());
        }
        self.stop.store(false, Ordering::SeqCst);
        self.send(Report::Finished { summary, failure });
    }
}

/// The change engine's observer in the TUI: the confirmation was the
/// dialog, progress goes to the screen at most every 50 ms, and the first
/// entry left unchanged is kept with its reason for the result line.
struct Screen<'a> {
    to_ui: &'a Sender<Msg>,
    last_sent: Instant,
    live: bool,
    failure: Option<(EntryId, String)>,
}

impl Observer for Screen<'_> {
    fn notice(&mut self, n: &Notice) {
        if let Notice::LiveWriter(_) = n {
            self.live = true;
        }
    }

    fn change(&mut self, c: &Change) {
        if self.failure.is_none()
            && let (Subject::Entry(id), Outcome::Failed(r) | Outcome::Skipped(r)) = (&c.subject, &c.outcome)
        {
            self.failure = Some((id.clone(), r.clone()));
        }
    }

    fn progress(&mut self, done: u64, _total: u64) {
        if self.last_sent.elapsed() > Duration::from_millis(50) {
            self.last_sent = Instant::now();
            let _ = self.to_ui.send(Report::Progress { done }.into());
        }
    }
}

fn writer_text(root: &Path) -> Option<String> {
    let w = live::writers(root);
    let first = w.first()?;
    Some(if w.len() == 1 {
        format!("{} (pid {})", first.name, first.pid)
    } else {
        format!("{} (pid {}) and {} more", first.name, first.pid, w.len() - 1)
    })
}

/// How much of the message body the detail pane shows.
const BODY_BYTES: usize = 8 * 1024;

/// Everything the detail pane shows about one entry, escaped.
pub fn detail_of(queue: &Queue, e: &Entry, now: Timestamp) -> Detail {
    use crate::output::{escape, human_size, relative};
    let t = |ts: Timestamp| format!("{} ({})", relative(ts, now), ts.strftime("%Y-%m-%d %H:%M:%SZ"));
    let mut lines = vec![("Entry".to_string(), format!("{} in {}/", e.id, e.state.dir()))];
    let note = match &e.hold {
        Some(n) => Some((**n).clone()),
        None if e.state.is_held() => queue.hold_note(&e.id),
        None => None,
    };
    if let Some(n) = note {
        let reason = n.reason.as_deref().map_or("(no reason given)".into(), escape);
        lines.push(("Held for".into(), reason.into_owned()));
        let by = n
            .user
            .as_deref()
            .map(|u| format!(" by {}", escape(u)))
            .unwrap_or_default();
        lines.push(("Held since".into(), format!("{}{by}", t(n.since))));
        let until = match n.until {
            Some(u) if u <= now => format!("{}: ended, `release --expired` releases it", t(u)),
            Some(u) => t(u),
            None => "until released".into(),
        };
        lines.push(("Held until".into(), until));
    }
    if let Some(l) = e.link {
        lines.push(("Files".into(), format!("data/{}", l.dest_path())));
    }
    if let Some(en) = &e.envelope {
        lines.push(("From".into(), escape(&en.from_display()).into_owned()));
        lines.push(("To".into(), escape(&en.to.to_string()).into_owned()));
    }
    if let Some(s) = e.schedule {
        lines.push(("Next attempt".into(), t(s.at)));
        lines.push((
            "Last attempt".into(),
            s.last_attempt.map_or("never tried".to_string(), t),
        ));
    }
    if let Some(since) = e.since {
        lines.push((format!("In {}/ since", e.state.dir()), t(since)));
    }
    if let Some(c) = e.contents {
        lines.push(("Written".into(), t(c.written)));
        lines.push(("Size".into(), human_size(c.size)));
    }
    if let Some(p) = crate::output::problem_text(e) {
        lines.push(("Problems".into(), escape(&p).into_owned()));
    }
    let headers = e
        .headers
        .as_ref()
        .map(|h| {
            h.all
                .iter()
                .map(|(n, v)| (escape(n).into_owned(), escape(v).into_owned()))
                .collect()
        })
        .unwrap_or_default();
    Detail {
        id: e.id.clone(),
        lines,
        headers,
        body: body_of(queue, e),
    }
}

/// The start of the message body, one escaped string per line.
fn body_of(queue: &Queue, e: &Entry) -> Vec<String> {
    let Some(link) = e.link else { return Vec::new() };
    let mut buf = Vec::new();
    let path = format!("{}/contents", link.mail);
    let want = crate::queue::headers::HEADER_READ_LIMIT + BODY_BYTES;
    if queue.data().read_prefix_into(path.as_str(), want, &mut buf).is_err() {
        return vec!["(the message could not be read)".into()];
    }
    let start = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2));
    let Some(start) = start else { return Vec::new() };
    let body = &buf[start..buf.len().min(start + BODY_BYTES)];
    body.split(|&b| b == b'\n')
        .map(|l| crate::output::escape_bytes(l.strip_suffix(b"\r").unwrap_or(l)).into_owned())
        .collect()
}

/// Watches the queue's state folders on a thread of its own (with its own
/// handle on the queue) and hands the worker each change; says first in
/// which mode it watches (`poll` forces reading the queue that often
/// instead, for tests of that mode). It ends within a second of `quit`
/// being set.
/// Returns false when the watch cannot start.
pub fn watch(root: &Path, jobs: Sender<Job>, quit: Arc<AtomicBool>, poll: Option<Duration>) -> bool {
    let Ok(queue) = Queue::open(root) else { return false };
    let w = match poll {
        Some(every) => crate::queue::events::Watch::start_with(&queue, Some(every)),
        None => crate::queue::events::Watch::start(&queue),
    };
    let Ok(mut w) = w else {
        return false;
    };
    if jobs.send(Job::Watching(w.mode().clone())).is_err() {
        return false;
    }
    std::thread::Builder::new()
        .name("mqctl-watch".into())
        .spawn(move || {
            loop {
                if quit.load(Ordering::SeqCst) {
                    return;
                }
                let Some(e) = w.next(Duration::from_secs(1)) else {
                    continue;
                };
                if matches!(e, Event::Rescan(_)) {
                    let _ = w.refresh(&queue);
                }
                if jobs.send(Job::Event(e)).is_err() {
                    return;
                }
            }
        })
        .is_ok()
}

/// Whether the table shows `e` under `sel`: the CLI's selection, both
/// before-headers and after-headers tests.
pub fn keeps(sel: &Selection, e: &Entry) -> bool {
    sel.pre(e) && sel.post(e)
}
