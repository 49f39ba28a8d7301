//! The only thread that touches the queue: scans, detail reads, statistics,
//! changes and watching the state folders. It gets `Effect`s as jobs and
//! sends what it finds back to the UI thread as `Report`s.

use std::collections::{HashSet, VecDeque};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

use super::app::{Counts, Detail, Effect, Msg, Report, Verb};
use super::row::RawRow;
use crate::audit::Audit;
use crate::change::entries::{Request, Target};
use crate::change::{Control, Notice, Observer};
use crate::queue::ops::{Change, EntryOp, Item, Outcome, Subject};
use crate::queue::{Entry, EntryId, Filter, Queue, State, Want, is_stuck, live, scan::All};
use crate::select::Selection;

/// A job for the worker.
pub enum Job {
    Do(Effect),
    /// Something changed in a state folder.
    Changed,
}

/// How long to let a burst of folder changes settle before re-reading.
const SETTLE: Duration = Duration::from_millis(400);
/// Re-read at most this often while a writer keeps changing the queue.
const MIN_GAP: Duration = Duration::from_secs(2);
/// How many rows go to the UI in one message while streaming.
const SEND_EVERY: usize = 4096;
/// How many entries the first screen reads before the full scan.
const FIRST_SCREEN: usize = 100;

pub struct Worker {
    queue: Queue,
    to_ui: Sender<Msg>,
    jobs: Receiver<Job>,
    stop: Arc<AtomicBool>,
    /// What the table shows: re-read with it when the folders change.
    current: Option<(u64, Selection)>,
    pending: VecDeque<Effect>,
    stuck_after: SignedDuration,
    fixed_now: Option<Timestamp>,
    /// When the folders changed since the last read (a re-read is due).
    changed_at: Option<Instant>,
    /// Where changes made from the TUI are recorded.
    audit: Audit,
}

/// Counts one entry into the header's counts.
pub fn count(c: &mut Counts, e: &Entry, now: Timestamp, stuck_after: SignedDuration) {
    match e.state {
        State::Queued => {
            c.queue += 1;
            match e.is_due(now) {
                Some(true) => c.due += 1,
                Some(false) => c.deferred += 1,
                None => {}
            }
        }
        State::Inflight => {
            c.inflight += 1;
            if e.since.is_some_and(|t| is_stuck(t, now, stuck_after)) {
                c.stuck += 1;
            }
        }
        State::Cleanup => c.cleanup += 1,
        State::Held => c.hold += 1,
        State::Claimed | State::ClaimedHeld => c.claimed += 1,
    }
    if e.is_broken() {
        c.broken += 1;
    }
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
            changed_at: None,
        }
    }

    fn now(&self) -> Timestamp {
        self.fixed_now.unwrap_or_else(Timestamp::now)
    }

    /// Runs until told to quit or the UI goes away.
    pub fn run(mut self) {
        let mut last_scan = Instant::now();
        loop {
            let job = if let Some(e) = self.pending.pop_front() {
                Job::Do(e)
            } else {
                let wait = self.changed_at.map(|t| {
                    let due = (t + SETTLE).max(last_scan + MIN_GAP);
                    due.saturating_duration_since(Instant::now())
                });
                let got = match wait {
                    Some(w) => self.jobs.recv_timeout(w),
                    None => self.jobs.recv().map_err(|_| RecvTimeoutError::Disconnected),
                };
                match got {
                    Ok(j) => j,
                    Err(RecvTimeoutError::Timeout) => {
                        self.changed_at = None;
                        last_scan = Instant::now();
                        if let Some((generation, sel)) = self.current.clone() {
                            self.scan(generation, sel, false);
                        }
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            };
            match job {
                Job::Changed => {
                    self.changed_at.get_or_insert_with(Instant::now);
                }
                Job::Do(Effect::Quit) => return,
                Job::Do(Effect::Scan {
                    generation,
                    selection,
                    stream,
                }) => {
                    last_scan = Instant::now();
                    self.changed_at = None;
                    self.scan(generation, *selection, stream);
                }
                Job::Do(e) => self.handle(e),
            }
        }
    }

    /// Jobs that are quick, or that may run between two chunks of a scan.
    fn handle(&mut self, e: Effect) {
        match e {
            Effect::LoadDetail(state, id) => self.detail(state, &id),
            Effect::LoadStats => self.stats(),
            Effect::Apply { verb, op, targets } => self.apply(verb, op, &targets),
            Effect::Cancel => self.stop.store(true, Ordering::SeqCst),
            Effect::Scan { .. } | Effect::Quit => self.pending.push_back(e),
        }
    }

    fn send(&self, r: Report) -> bool {
        self.to_ui.send(r.into()).is_ok()
    }

    /// Reads every entry; counts all of them for the header and sends those
    /// the selection keeps. Streaming sends rows as they come so the first
    /// screen paints at once; a refresh sends the whole picture at the end so
    /// the table never flickers to empty.
    fn scan(&mut self, generation: u64, sel: Selection, stream: bool) {
        self.current = Some((generation, sel.clone()));
        let now = self.now();
        let stuck_after = self.stuck_after;
        let mut rows: Vec<RawRow> = Vec::new();
        let mut counts = Counts::default();
        let mut first = true;
        let mut interrupted = false;
        let to_ui = self.to_ui.clone();
        let mut later: Vec<Effect> = Vec::new();
        let mut changed = false;
        let early = if stream {
            self.first_screen(generation, &sel, now)
        } else {
            HashSet::new()
        };
        if !early.is_empty() {
            first = false;
        }
        let this = &*self;
        let result = this.queue.scan(&State::ALL, Want::ALL, &All, &mut |e| {
            if early.contains(&e.id) {
                return Ok(ControlFlow::Continue(()));
            }
            count(&mut counts, &e, now, stuck_after);
            if keeps(&sel, &e) {
                rows.push(RawRow::from_entry(&e));
            }
            if stream && rows.len() >= SEND_EVERY {
                let batch = std::mem::take(&mut rows);
                let c = std::mem::take(&mut counts);
                if to_ui
                    .send(
                        Report::Loaded {
                            generation,
                            rows: batch,
                            counts: c,
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
                    // Maybe in a folder already read: read again afterwards.
                    Job::Changed => changed = true,
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
        if changed {
            self.changed_at.get_or_insert_with(Instant::now);
        }
        self.pending.extend(later);
        if interrupted {
            return;
        }
        match result {
            Ok(()) => {
                self.send(Report::Loaded {
                    generation,
                    rows,
                    counts,
                    first,
                    done: true,
                });
            }
            Err(e) => {
                self.send(Report::Error(format!("reading the queue: {e}")));
            }
        }
        self.send(Report::Writer(writer_text(self.queue.path())));
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
        let mut counts = Counts::default();
        let mut rows = Vec::new();
        let mut ids = HashSet::new();
        for e in entries {
            count(&mut counts, &e, now, self.stuck_after);
            if keeps(sel, &e) {
                rows.push(RawRow::from_entry(&e));
            }
            ids.insert(e.id);
        }
        if !ids.is_empty() {
            self.send(Report::Loaded {
                generation,
                rows,
                counts,
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

    fn apply(&mut self, verb: Verb, op: EntryOp, targets: &[(State, EntryId)]) {
        self.stop.store(false, Ordering::SeqCst);
        let req = Request {
            verb: verb.change_verb(),
            op,
            target: Target::Items(targets.iter().map(|(s, id)| Item::new(*s, id.clone())).collect()),
            force_inflight: false,
            // Drop and recover take inflight entries only once they are stuck.
            stuck_after: self.stuck_after,
            now: self.now(),
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
                    && matches!(verb, Verb::Release | Verb::Recover | Verb::RetryNow | Verb::Defer(_))
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

/// Watches the state folders and the root (where `hold/` may appear) and
/// tells the worker when something changed. Inotify where it works,
/// polling every two seconds where it does not (NFS, exhausted watches).
pub fn watch(root: &Path, jobs: Sender<Job>) -> Option<Box<dyn notify::Watcher + Send>> {
    use notify::{RecursiveMode, Watcher};
    let handler = move |res: notify::Result<notify::Event>| {
        if res.is_ok_and(|e| !e.kind.is_access()) {
            let _ = jobs.send(Job::Changed);
        }
    };
    let add = |w: &mut dyn Watcher| {
        let mut any = false;
        for s in State::ALL {
            any |= w.watch(&root.join(s.dir()), RecursiveMode::NonRecursive).is_ok();
        }
        // The root too: hold/ may appear there later.
        w.watch(root, RecursiveMode::NonRecursive).is_ok() && any
    };
    if let Ok(mut w) = notify::recommended_watcher(handler.clone())
        && add(&mut w)
    {
        return Some(Box::new(w));
    }
    // No inotify (or no watches left): look every few seconds instead.
    let cfg = notify::Config::default().with_poll_interval(Duration::from_secs(5));
    let mut w = notify::PollWatcher::new(handler, cfg).ok()?;
    add(&mut w).then(|| Box::new(w) as Box<dyn Watcher + Send>)
}

/// Whether the table shows `e` under `sel`: the CLI's selection, both
/// before-headers and after-headers tests.
pub fn keeps(sel: &Selection, e: &Entry) -> bool {
    sel.pre(e) && sel.post(e)
}
