//! The TUI follows the queue at the cost of what changed: entries moved
//! under a running TUI (as the writer moves them: renames between the state
//! folders, a link created by an enqueue, one unlinked by a cleanup) show in
//! the table, the counts and the rates, and only those entries are read
//! again; a rescan happens when events are lost or cannot be had.

mod common;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{TestQueue, count};

use jiff::{SignedDuration, Timestamp};
use mqctl::queue::events::Flow;
use mqctl::queue::{Queue, State};
use mqctl::tui::Headless;
use mqctl::tui::app::{App, Event, update};

const T: Duration = Duration::from_secs(60);

fn now() -> Timestamp {
    Timestamp::now()
}

/// The app and worker on `root`, loaded, watching the queue.
fn open(root: &Path, filter: &str) -> (App, Headless) {
    let q = Queue::open(root).unwrap();
    let mut app = App::new(root.display().to_string(), now(), false);
    update(&mut app, Event::Resize(120, 40));
    let mut hl = Headless::new(q, SignedDuration::from_hours(1), None);
    assert!(hl.watch(root), "the watch starts");
    hl.send(app.start(filter));
    assert!(hl.pump_until(&mut app, T, |a| a.loading.is_none() && a.live.watching));
    (app, hl)
}

/// Feeds the app until it shows what is on disk (the folders' link counts).
fn follows_the_disk(hl: &Headless, app: &mut App, root: &Path) -> bool {
    let on_disk = |s: State| count(&root.join(s.dir())) as u64;
    let end = Instant::now() + T;
    while Instant::now() < end {
        let want = (
            on_disk(State::Queued),
            on_disk(State::Inflight),
            on_disk(State::Cleanup),
            on_disk(State::Held),
        );
        let c = app.counts;
        if (c.queue, c.inflight, c.cleanup, c.hold) == want && app.loading.is_none() {
            return true;
        }
        hl.pump_until(app, Duration::from_millis(200), |_| false);
    }
    false
}

fn ids(root: &Path, s: State) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join(s.dir()))
        .map(|rd| rd.map(|e| e.unwrap().file_name().into_string().unwrap()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn mv(root: &Path, id: &str, from: State, to: State) {
    std::fs::rename(root.join(from.dir()).join(id), root.join(to.dir()).join(id)).unwrap();
}

#[test]
fn entries_moved_under_a_running_tui_show_in_the_table_counts_and_rates_without_a_rescan() {
    let q = TestQueue::new().real_clock();
    for _ in 0..100 {
        q.simple(3, "2026-11-23T10:00:00Z");
    }
    std::fs::create_dir(q.path("hold")).unwrap();
    let root = q.root();
    let (mut app, hl) = open(root, "");
    assert_eq!(app.counts.queue, 300);
    let scans = hl.activity().scans.load(Ordering::SeqCst);
    let reads = hl.activity().reads.load(Ordering::SeqCst);

    // As the writer does: 60 sends started, 20 of them delivered (and
    // cleaned up), 25 requeued; an operator holds 10; 5 arrive.
    let queued = ids(root, State::Queued);
    for id in &queued[..60] {
        mv(root, id, State::Queued, State::Inflight);
    }
    for id in &queued[..20] {
        mv(root, id, State::Inflight, State::Cleanup);
        std::fs::remove_file(root.join("cleanup").join(id)).unwrap();
    }
    for id in &queued[20..45] {
        mv(root, id, State::Inflight, State::Queued);
    }
    for id in &queued[100..110] {
        mv(root, id, State::Queued, State::Held);
    }
    let arrived: Vec<String> = (0..5)
        .flat_map(|_| q.simple(1, "2026-11-23T10:00:00Z").entries)
        .map(|e| e.id)
        .collect();

    assert!(follows_the_disk(&hl, &mut app, root), "{:?}", app.counts);
    // Longer than any rescan would wait to let a burst settle.
    hl.pump_until(&mut app, Duration::from_secs(1), |_| false);
    assert_eq!(
        hl.activity().scans.load(Ordering::SeqCst),
        scans,
        "no rescan: the watch said what moved"
    );
    let read = hl.activity().reads.load(Ordering::SeqCst) - reads;
    // 60 + 20 + 25 + 10 + 5 = 120 moves of 70 entries: at most one read a
    // move, and only of those entries.
    assert!((1..=120).contains(&read), "{read} entries read after 120 moves");
    // The table shows each where it is now.
    let shown = |id: &str| {
        (0..app.rows.len())
            .map(|i| app.row(i))
            .find(|r| app.store.entry_id(r.id).to_string() == id)
            .map(|r| r.state)
    };
    assert_eq!(shown(&queued[0]), None, "a delivered entry leaves the table");
    assert_eq!(shown(&queued[30]), Some(State::Queued));
    assert_eq!(shown(&queued[50]), Some(State::Inflight));
    assert_eq!(shown(&queued[105]), Some(State::Held));
    assert_eq!(shown(&arrived[0]), Some(State::Queued));
    // And how fast it moves, per minute over the last minute.
    let r = &app.live.rates;
    let per_min = |f: Flow| r.last_minute[f as usize];
    assert!(per_min(Flow::Sending) >= 60.0, "{r:?}");
    assert!(per_min(Flow::Delivered) >= 20.0, "{r:?}");
    assert!(per_min(Flow::Requeued) >= 25.0, "{r:?}");
    assert!(per_min(Flow::Arrived) >= 5.0, "{r:?}");
}

#[test]
fn a_filter_follows_the_moves_too() {
    let q = TestQueue::new().real_clock();
    for _ in 0..20 {
        q.simple(2, "2026-11-23T10:00:00Z");
    }
    let root = q.root();
    let (mut app, hl) = open(root, "--state inflight");
    assert_eq!(app.rows.len(), 0);
    let queued = ids(root, State::Queued);
    for id in &queued[..7] {
        mv(root, id, State::Queued, State::Inflight);
    }
    assert!(hl.pump_until(&mut app, T, |a| a.rows.len() == 7), "{}", app.rows.len());
    for id in &queued[..3] {
        mv(root, id, State::Inflight, State::Queued);
    }
    assert!(hl.pump_until(&mut app, T, |a| a.rows.len() == 4), "{}", app.rows.len());
    assert_eq!(app.counts.queue, 36);
}

#[test]
fn without_events_the_queue_is_read_again_every_few_seconds_and_the_header_says_so() {
    let q = TestQueue::new().real_clock();
    q.simple(3, "2026-11-23T10:00:00Z");
    let root = q.root();
    let qq = Queue::open(root).unwrap();
    let mut app = App::new(root.display().to_string(), now(), false);
    update(&mut app, Event::Resize(120, 40));
    let mut hl = Headless::new(qq, SignedDuration::from_hours(1), None);
    assert!(hl.watch_polling(root, Duration::from_millis(500)));
    hl.send(app.start(""));
    assert!(hl.pump_until(&mut app, T, |a| a.loading.is_none() && a.live.polling.is_some()));
    let scans = hl.activity().scans.load(Ordering::SeqCst);
    let id = ids(root, State::Queued)[0].clone();
    mv(root, &id, State::Queued, State::Inflight);
    assert!(follows_the_disk(&hl, &mut app, root));
    assert!(
        hl.activity().scans.load(Ordering::SeqCst) > scans,
        "a periodic rescan found it"
    );
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 30)).unwrap();
    term.draw(|f| mqctl::tui::render::render(&app, f)).unwrap();
    let screen = format!("{}", term.backend());
    assert!(screen.contains("no live events"), "{screen}");
}
