//! `mqctl tui`: browse, filter, mark and act on the queue.
//!
//! The shape is the one gitui and the ratatui templates use: `app` holds
//! the state and `update`, `render` draws it without side effects, `keys`
//! is the one table of bindings, and `worker` is the only thread that
//! touches the queue. This module runs the event loop between them.

pub mod app;
pub mod filter;
pub mod fit;
pub mod keys;
pub mod render;
pub mod row;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use ratatui::crossterm::event::{self, Event, KeyEventKind};

use crate::error::{Error, Result};
use crate::queue::Queue;
use app::{App, Effect, Event as AppEvent, Msg, update};
use worker::{Job, Worker};

/// What `mqctl tui` was asked for, resolved.
pub struct Options {
    pub color: bool,
    /// A fixed "now" (`MQCTL_NOW`), for tests; otherwise the clock.
    pub fixed_now: Option<Timestamp>,
    pub stuck_after: SignedDuration,
    /// The filter to start with.
    pub filter: String,
    /// Where changes made from the TUI are recorded (opened by the caller
    /// before it gave up root).
    pub audit: crate::audit::Audit,
}

/// How the TUI ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Quit,
    /// SIGTERM or SIGHUP.
    Signalled,
}

/// Runs the TUI on an open queue until the user quits (or SIGTERM/SIGHUP).
pub fn run(queue: Queue, opts: Options) -> Result<Ended> {
    let path: PathBuf = std::fs::canonicalize(queue.path()).unwrap_or_else(|_| queue.path().to_path_buf());
    let now = opts.fixed_now.unwrap_or_else(Timestamp::now);
    let mut app = App::new(path.display().to_string(), now, opts.color);
    app.stuck_after = opts.stuck_after;
    // Check the filter before the screen changes, so a typo is a plain error.
    filter::parse(&opts.filter, now, opts.stuck_after).map_err(|e| Error::Usage(format!("--filter: {e}")))?;

    let (to_ui, from_worker) = mpsc::channel::<Msg>();
    let (to_worker, jobs) = mpsc::channel::<Job>();
    let stop = Arc::new(AtomicBool::new(false));
    // The live view: the worker reads what the watch says moved.
    let quit_watch = Arc::new(AtomicBool::new(false));
    worker::watch(&path, to_worker.clone(), Arc::clone(&quit_watch), None);
    let worker = Worker::new(
        queue,
        to_ui.clone(),
        jobs,
        Arc::clone(&stop),
        opts.stuck_after,
        opts.fixed_now,
        opts.audit,
    );
    let worker = std::thread::Builder::new()
        .name("mqctl-worker".into())
        .spawn(move || worker.run())
        .map_err(|e| Error::Usage(format!("cannot start the worker thread: {e}")))?;

    // SIGTERM and SIGHUP (the SSH link went away) end the loop like `q`.
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        let _ = signal_hook::flag::register(sig, Arc::clone(&term));
    }

    // ratatui::init also installs a panic hook that restores the terminal.
    let mut terminal = ratatui::try_init().map_err(Error::Output)?;
    if let Ok(s) = terminal.size() {
        update(&mut app, AppEvent::Resize(s.width, s.height));
    }
    let input_tx = to_ui.clone();
    std::thread::Builder::new()
        .name("mqctl-input".into())
        .spawn(move || input_loop(input_tx))
        .map_err(|e| Error::Usage(format!("cannot start the input thread: {e}")))?;

    let send = |fx: Vec<Effect>| {
        for e in fx {
            if matches!(e, Effect::Cancel) {
                stop.store(true, Ordering::SeqCst);
            }
            let _ = to_worker.send(Job::Do(e));
        }
    };
    send(app.start(&opts.filter));
    let result = (|| -> std::io::Result<Ended> {
        loop {
            terminal.draw(|f| render::render(&app, f))?;
            let first = match from_worker.recv_timeout(Duration::from_millis(500)) {
                Ok(a) => Some(a),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return Ok(Ended::Quit),
            };
            // Everything that arrived at once is drawn once: cheap on a slow link.
            for m in first.into_iter().chain(from_worker.try_iter()) {
                send(update(&mut app, m));
            }
            if opts.fixed_now.is_none() {
                update(&mut app, AppEvent::Tick(Timestamp::now()));
            }
            if term.load(Ordering::SeqCst) {
                return Ok(Ended::Signalled);
            }
            if app.quit {
                return Ok(Ended::Quit);
            }
        }
    })();
    ratatui::restore();
    stop.store(true, Ordering::SeqCst);
    quit_watch.store(true, Ordering::SeqCst);
    let _ = to_worker.send(Job::Do(Effect::Quit));
    drop(to_worker);
    // Not joined: a scan checks for Quit between entries, but one read on a
    // hung disk must not keep the user from getting the shell back.
    drop(worker);
    result.map_err(Error::Output)
}

fn input_loop(tx: mpsc::Sender<Msg>) {
    loop {
        let ev = match event::read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => AppEvent::Key(k),
            Ok(Event::Resize(w, h)) => AppEvent::Resize(w, h),
            Ok(_) => continue,
            Err(_) => return,
        };
        if tx.send(ev.into()).is_err() {
            return;
        }
    }
}

/// The worker without a terminal: tests and the benchmark drive `App` with
/// the real worker thread through this.
pub struct Headless {
    to_worker: mpsc::Sender<Job>,
    from_worker: mpsc::Receiver<Msg>,
    stop: Arc<AtomicBool>,
    quit_watch: Arc<AtomicBool>,
    activity: Arc<worker::Activity>,
}

impl Headless {
    pub fn new(queue: Queue, stuck_after: SignedDuration, fixed_now: Option<Timestamp>) -> Headless {
        let (to_ui, from_worker) = mpsc::channel::<Msg>();
        let (to_worker, jobs) = mpsc::channel::<Job>();
        let stop = Arc::new(AtomicBool::new(false));
        let w = Worker::new(
            queue,
            to_ui,
            jobs,
            Arc::clone(&stop),
            stuck_after,
            fixed_now,
            crate::audit::Audit::none(),
        );
        let activity = w.activity();
        std::thread::spawn(move || w.run());
        Headless {
            to_worker,
            from_worker,
            stop,
            quit_watch: Arc::new(AtomicBool::new(false)),
            activity,
        }
    }

    /// Watches the queue's folders as the TUI does; false when it cannot.
    pub fn watch(&mut self, root: &std::path::Path) -> bool {
        worker::watch(root, self.to_worker.clone(), Arc::clone(&self.quit_watch), None)
    }

    /// Watches as the TUI does on a filesystem without events: the queue is
    /// read every `every`.
    pub fn watch_polling(&mut self, root: &std::path::Path, every: Duration) -> bool {
        worker::watch(root, self.to_worker.clone(), Arc::clone(&self.quit_watch), Some(every))
    }

    /// What the worker has read so far.
    pub fn activity(&self) -> &worker::Activity {
        &self.activity
    }

    pub fn send(&self, fx: Vec<Effect>) {
        for e in fx {
            if matches!(e, Effect::Cancel) {
                self.stop.store(true, Ordering::SeqCst);
            }
            let _ = self.to_worker.send(Job::Do(e));
        }
    }

    /// Feeds what the worker reports into `app` (and the effects that
    /// causes back to the worker) until `done(app)` or `timeout`.
    pub fn pump_until(&self, app: &mut App, timeout: Duration, mut done: impl FnMut(&App) -> bool) -> bool {
        let end = std::time::Instant::now() + timeout;
        while !done(app) {
            let left = end.saturating_duration_since(std::time::Instant::now());
            match self.from_worker.recv_timeout(left) {
                Ok(m) => self.send(update(app, m)),
                Err(_) => return false,
            }
        }
        true
    }
}

impl Drop for Headless {
    fn drop(&mut self) {
        self.quit_watch.store(true, Ordering::SeqCst);
        let _ = self.to_worker.send(Job::Do(Effect::Quit));
    }
}
