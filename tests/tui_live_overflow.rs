//! When the kernel's event queue overflows (IN_Q_OVERFLOW), events were
//! lost: the TUI reads the whole queue again, once, and shows what is on
//! disk. Alone in its test binary: it lowers the system's
//! `fs.inotify.max_queued_events` for the watches made meanwhile (root only;
//! skipped with a printed reason otherwise).

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{TestQueue, count};

use jiff::{SignedDuration, Timestamp};
use mqctl::queue::{Queue, State};
use mqctl::tui::Headless;
use mqctl::tui::app::{App, Event, update};

const LIMIT: &str = "/proc/sys/fs/inotify/max_queued_events";

/// Puts the old limit back, whatever happens to the test.
struct Restore(String);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = std::fs::write(LIMIT, &self.0);
    }
}

#[test]
fn an_overflowing_watch_makes_the_tui_read_the_queue_again() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: lowering {LIMIT} needs root");
        return;
    }
    let Ok(old) = std::fs::read_to_string(LIMIT) else {
        eprintln!("skipped: no {LIMIT} here");
        return;
    };
    let q = TestQueue::new().real_clock();
    for _ in 0..200 {
        q.simple(5, "2026-11-23T10:00:00Z");
    }
    let root = q.root();
    let mut app = App::new(root.display().to_string(), Timestamp::now(), false);
    update(&mut app, Event::Resize(120, 40));
    let mut hl = Headless::new(Queue::open(root).unwrap(), SignedDuration::from_hours(1), None);
    let restore = Restore(old);
    std::fs::write(LIMIT, "16").unwrap();
    assert!(hl.watch(root));
    // The watch has made its inotify instance: the limit can go back.
    std::thread::sleep(Duration::from_millis(200));
    drop(restore);
    hl.send(app.start(""));
    let t = Duration::from_secs(60);
    assert!(hl.pump_until(&mut app, t, |a| a.loading.is_none() && a.live.watching));
    let scans = hl.activity().scans.load(Ordering::SeqCst);
    // A thousand moves at once: far more than 16 events.
    for e in std::fs::read_dir(root.join("queue")).unwrap() {
        let name = e.unwrap().file_name();
        std::fs::rename(root.join("queue").join(&name), root.join("inflight").join(&name)).unwrap();
    }
    let end = Instant::now() + t;
    while Instant::now() < end && (app.counts.inflight != 1000 || app.loading.is_some()) {
        hl.pump_until(&mut app, Duration::from_millis(200), |_| false);
    }
    assert_eq!((app.counts.queue, app.counts.inflight), (0, 1000));
    assert_eq!(count(&root.join(State::Inflight.dir())), 1000);
    assert!(
        hl.activity().scans.load(Ordering::SeqCst) > scans,
        "the overflow made it read the queue again"
    );
}
