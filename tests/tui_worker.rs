//! The worker thread on real folders, driven through `Headless` exactly as
//! the event loop drives it: streamed scans, filters, actions, live refresh.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use common::{TestQueue, count};

use jiff::{SignedDuration, Timestamp};
use mqctl::queue::{Queue, State};
use mqctl::tui::Headless;
use mqctl::tui::app::{App, Event, Intent, Mode, update};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const T: Duration = Duration::from_secs(30);

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn links(q: &Path, s: State) -> usize {
    count(&q.join(s.dir()))
}

fn key(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn open(root: &Path, filter: &str) -> (App, Headless) {
    let q = Queue::open(root).unwrap();
    let mut app = App::new(root.display().to_string(), now(), false);
    update(&mut app, Event::Resize(120, 40));
    let hl = Headless::new(q, SignedDuration::from_hours(1), Some(now()));
    hl.send(app.start(filter));
    assert!(hl.pump_until(&mut app, T, |a| a.loading.is_none()));
    (app, hl)
}

/// A demo queue of `mails` mails (seed 3) built at `now()`.
fn demo(mails: usize) -> TestQueue {
    let q = TestQueue::unbuilt();
    mqctl::demo::build(q.root(), mails, 3, now()).unwrap();
    q
}

#[test]
fn a_streamed_scan_shows_every_entry_once_and_counts_them_all() {
    let q = demo(300);
    let root = q.root();
    let (app, _hl) = open(root, "");
    let on_disk: usize = State::ALL.iter().map(|&s| links(root, s)).sum();
    assert!(on_disk > 300, "{on_disk}");
    assert_eq!(app.rows.len(), on_disk);
    let ids: HashSet<_> = (0..app.rows.len()).map(|i| app.row(i).id).collect();
    assert_eq!(ids.len(), on_disk, "no entry twice (first screen + scan)");
    assert_eq!(app.counts.total() as usize, on_disk);
    assert_eq!(app.counts.queue as usize, links(root, State::Queued));
    assert_eq!(app.counts.hold as usize, links(root, State::Held));
    assert_eq!(app.counts.inflight as usize, links(root, State::Inflight));
    assert_eq!(app.history.len(), 1);
}

#[test]
fn a_filter_keeps_what_the_cli_selection_keeps_and_counts_stay_whole() {
    let q = demo(300);
    let root = q.root();
    let (app, _hl) = open(root, "--domain broken-dns.example --state queue");
    let queue = q.open();
    let sel = mqctl::tui::filter::parse(
        "--domain broken-dns.example --state queue",
        now(),
        SignedDuration::from_hours(1),
    )
    .unwrap();
    let mut expect = 0;
    mqctl::select::for_each(&queue, &sel, sel.want(), &mut |_| {
        expect += 1;
        Ok(std::ops::ControlFlow::Continue(()))
    })
    .unwrap();
    assert!(expect > 0);
    assert_eq!(app.rows.len(), expect);
    for r in (0..app.rows.len()).map(|i| app.row(i)) {
        assert!(app.store.strings.get(r.to).ends_with("@broken-dns.example"));
        assert_eq!(r.state, State::Queued);
    }
    let on_disk: usize = State::ALL.iter().map(|&s| links(root, s)).sum();
    assert_eq!(
        app.counts.total() as usize,
        on_disk,
        "the header counts the whole queue"
    );
}

#[test]
fn hold_then_release_through_the_worker_moves_the_links_and_reports() {
    let q = demo(60);
    let root = q.root();
    // Entries that can be read (the demo's broken ones have no envelope):
    // release refuses a link the writer would follow out of the queue.
    let (mut app, hl) = open(root, "--state queue --from *");
    let held = links(root, State::Held);
    for _ in 0..3 {
        update(&mut app, key(' '));
    }
    update(&mut app, key('h'));
    hl.send(update(&mut app, key('y')));
    assert!(hl.pump_until(&mut app, T, |a| a.mode == Mode::Normal && a.loading.is_none()));
    assert_eq!(app.message.as_deref(), Some("Hold: 3 held, 0 vanished, 0 failed"));
    assert_eq!(links(root, State::Held), held + 3);
    assert!(app.marks.is_empty());

    // Release them again from a view of hold/.
    hl.send(update(&mut app, key('/')));
    update(&mut app, Intent::ClearInput);
    for c in "--state hold".chars() {
        update(&mut app, key(c));
    }
    hl.send(update(&mut app, Intent::Submit));
    assert!(hl.pump_until(&mut app, T, |a| a.loading.is_none() && a.rows.len() == held + 3));
    update(&mut app, key('*'));
    update(&mut app, key('u'));
    hl.send(update(&mut app, key('y')));
    assert!(hl.pump_until(&mut app, T, |a| a.mode == Mode::Normal && a.loading.is_none()));
    let msg = app.message.clone().unwrap();
    assert!(
        msg.starts_with(&format!("Release: {} released, 0 vanished", held + 3)),
        "{msg}"
    );
    assert_eq!(links(root, State::Held), 0);
}

#[test]
fn a_hold_with_a_reason_from_the_dialog_writes_the_note_the_cli_shows() {
    let q = demo(60);
    let root = q.root();
    let (mut app, hl) = open(root, "--state queue --from *");
    let ids: Vec<mqctl::queue::EntryId> = (0..2).map(|i| app.store.entry_id(app.row(i).id)).collect();
    for _ in 0..2 {
        update(&mut app, key(' '));
    }
    update(&mut app, key('h'));
    update(&mut app, key('r'));
    for c in "quota at example.net".chars() {
        update(&mut app, key(c));
    }
    update(&mut app, Intent::Submit);
    hl.send(update(&mut app, key('y')));
    assert!(hl.pump_until(&mut app, T, |a| a.mode == Mode::Normal && a.loading.is_none()));
    assert_eq!(app.message.as_deref(), Some("Hold: 2 held, 0 vanished, 0 failed"));
    let queue = q.open();
    for id in &ids {
        let note = queue.hold_note(id).expect("a note");
        assert_eq!(note.reason.as_deref(), Some("quota at example.net"), "{id}");
        assert_eq!(note.since, now());
    }
}

#[test]
fn another_process_changing_the_queue_refreshes_the_table_keeping_selection_and_marks() {
    let q = demo(40);
    let root = q.root();
    let (mut app, mut hl) = open(root, "--state queue");
    assert!(hl.watch(root));
    update(&mut app, key(' '));
    update(&mut app, key(' '));
    update(&mut app, key('j'));
    let selected = app.selected_row().unwrap().id;
    let before = app.rows.len();
    // "mqctl hold" in another terminal: the last row leaves queue/.
    let last = app.store.entry_id(app.row(before - 1).id);
    q.put(&last.to_string(), "queue", "hold");
    assert!(hl.pump_until(&mut app, T, |a| a.rows.len() == before - 1));
    assert_eq!(
        app.selected_row().unwrap().id,
        selected,
        "the selection stays on its entry"
    );
    assert_eq!(app.marks.len(), 2, "the marks survive the refresh");
    assert_eq!(app.counts.hold as usize, links(root, State::Held));
}

#[test]
fn the_retry_dialog_spreads_the_attempts_when_asked_the_longest_waiting_first() {
    let q = TestQueue::new();
    for i in 0..90i64 {
        let d = ["a.example", "b.example", "c.example"][(i % 3) as usize];
        q.enqueue(&[&format!("r{i}@{d}")])
            .at(now() - SignedDuration::from_mins(300 - i))
            .create();
    }
    let root = q.root();
    let (mut app, hl) = open(root, "");
    update(&mut app, key('*'));
    let marked = app.marks.len();
    assert!(marked > 50, "{marked}");
    let queue = q.open();
    let before: std::collections::HashMap<String, Timestamp> = read_ats(&queue);
    drop(queue);
    update(&mut app, key('t'));
    assert!(matches!(app.mode, Mode::Confirm { .. }), "{:?}", app.mode);
    // s: how long, prefilled with 30m; 20m instead.
    update(&mut app, key('s'));
    update(&mut app, Intent::ClearInput);
    for c in "20m".chars() {
        update(&mut app, key(c));
    }
    update(&mut app, Intent::Submit);
    assert!(
        matches!(app.mode, Mode::Confirm { verb: mqctl::tui::app::Verb::RetrySpread(d), .. } if d == SignedDuration::from_mins(20)),
        "{:?}",
        app.mode
    );
    hl.send(update(&mut app, key('y')));
    assert!(hl.pump_until(&mut app, T, |a| a.mode == Mode::Normal && a.loading.is_none()));
    let msg = app.message.clone().unwrap();
    assert!(
        msg.starts_with(&format!("Retry: {marked} rescheduled, 0 vanished")),
        "{msg}"
    );
    let queue = q.open();
    let after = read_ats(&queue);
    let end = now() + SignedDuration::from_mins(20);
    let mut moved: Vec<(Timestamp, Timestamp)> = Vec::new();
    for (id, at) in &after {
        if before[id] != *at {
            assert!(*at >= now() && *at < end, "{id}: {at}");
            moved.push((before[id], *at));
        }
    }
    assert_eq!(moved.len(), marked, "every marked entry, and only those");
    moved.sort();
    assert!(moved.windows(2).all(|w| w[0].1 <= w[1].1), "the longest waiting first");
    let per_minute = moved.iter().fold([0u32; 20], |mut m, (_, t)| {
        m[(t.duration_since(now()).as_secs() / 60) as usize] += 1;
        m
    });
    let share = marked as u32 / 20 + 1;
    assert!(per_minute.iter().all(|&n| n <= 2 * share), "{per_minute:?}");
}

/// Each queued entry's next attempt, by id.
fn read_ats(queue: &Queue) -> std::collections::HashMap<String, Timestamp> {
    let mut out = std::collections::HashMap::new();
    let sel = mqctl::select::Selection {
        states: vec![State::Queued],
        ..Default::default()
    };
    mqctl::select::for_each(queue, &sel, mqctl::queue::Want::FILES, &mut |e| {
        if let Some(s) = e.schedule {
            out.insert(e.id.to_string(), s.at);
        }
        Ok(std::ops::ControlFlow::Continue(()))
    })
    .unwrap();
    out
}
