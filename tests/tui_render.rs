//! Snapshots of the TUI drawn with ratatui's TestBackend at 80×24 and
//! 160×48. The entries are built in the test with fixed ids and a fixed
//! "now", so every screen is reproducible.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use mqctl::cmd::stats::{DomainRow, Oldest, StateCounts, Stats};
use mqctl::queue::address;
use mqctl::queue::{Contents, Entry, EntryId, Envelope, Headers, Problem, Queue, Schedule, State};
use mqctl::tui::app::{App, Counts, Detail, Effect, Event, Report, View, update};
use mqctl::tui::row::RawRow;
use mqctl::tui::{Headless, render};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Color, Modifier};

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn ago(mins: i64) -> Timestamp {
    now() - SignedDuration::from_mins(mins)
}

fn id(n: u32) -> EntryId {
    EntryId::new(format!("{:08x}-1e2d-4c3b-8a79-{:012x}", n.wrapping_mul(0x9e37_79b9), n).as_bytes())
}

struct Spec {
    state: State,
    from: &'static str,
    to: &'static str,
    subject: &'static str,
    at: i64,
    last: Option<i64>,
    age: i64,
    since: Option<i64>,
    size: u64,
}

fn entry(n: u32, s: &Spec) -> Entry {
    let mut e = Entry::new(id(n), s.state);
    e.envelope = Some(Envelope {
        from: address::parse_sender(s.from).unwrap(),
        to: address::parse(s.to).unwrap(),
    });
    e.schedule = Some(Schedule {
        at: ago(s.at),
        last_attempt: s.last.map(ago),
    });
    e.contents = Some(Contents {
        size: s.size,
        written: ago(s.age),
    });
    e.since = s.since.map(ago);
    e.headers = Some(Box::new(Headers {
        subject: Some(s.subject.to_string()),
        ..Headers::default()
    }));
    e
}

/// A dozen entries covering every state, the null sender, UTF-8, an
/// escape-sequence subject and a broken entry.
fn entries() -> Vec<Entry> {
    let q = State::Queued;
    let specs = [
        Spec {
            state: q,
            from: "alice@corp.example",
            to: "bob@gmail.com",
            subject: "Weekly report",
            at: 30,
            last: Some(30),
            age: 250,
            since: None,
            size: 2345,
        },
        Spec {
            state: q,
            from: "<>",
            to: "postmaster@broken-dns.example",
            subject: "Undelivered Mail Returned to Sender",
            at: -120,
            last: Some(5),
            age: 1500,
            since: None,
            size: 5120,
        },
        Spec {
            state: q,
            from: "josé@exämple.org",
            to: "li.wei@broken-dns.example",
            subject: "Café du jeudi",
            at: -60,
            last: Some(10),
            age: 3000,
            since: None,
            size: 1800,
        },
        Spec {
            state: q,
            from: "jira@tracker.example",
            to: "very.long.recipient.name.for.truncation@a-rather-long-domain.example.com",
            subject: "Build failed: main #4812 and a subject long enough to be cut",
            at: 5,
            last: None,
            age: 5,
            since: None,
            size: 900,
        },
        Spec {
            state: q,
            from: "mallory@evil.example",
            to: "victim@gmail.com",
            subject: "\u{1b}[31mURGENT\u{1b}[0m verify\u{7} your account",
            at: 1,
            last: None,
            age: 2,
            since: None,
            size: 700,
        },
        Spec {
            state: State::Inflight,
            from: "alice@corp.example",
            to: "ops@outlook.com",
            subject: "Password reset request",
            at: 200,
            last: None,
            age: 200,
            since: Some(180),
            size: 1200,
        },
        Spec {
            state: State::Inflight,
            from: "bob@corp.example",
            to: "carol@yahoo.com",
            subject: "Re: meeting tomorrow",
            at: 3,
            last: None,
            age: 3,
            since: Some(2),
            size: 3300,
        },
        Spec {
            state: State::Cleanup,
            from: "newsletter@shop.example",
            to: "dave@web.de",
            subject: "Your order has shipped",
            at: 10,
            last: None,
            age: 11,
            since: Some(1),
            size: 4100,
        },
        Spec {
            state: State::Held,
            from: "spam@lottery.example",
            to: "eve@gmail.com",
            subject: "You won!!!",
            at: 100,
            last: Some(90),
            age: 400,
            since: Some(20),
            size: 66000,
        },
        Spec {
            state: State::Held,
            from: "spam@lottery.example",
            to: "frank@gmail.com",
            subject: "You won!!!",
            at: 100,
            last: Some(90),
            age: 400,
            since: Some(20),
            size: 66000,
        },
        Spec {
            state: q,
            from: "\"sales team\"@corp.example",
            to: "user@[192.0.2.1]",
            subject: "Invitation: quarterly review",
            at: -240,
            last: Some(1200),
            age: 4000,
            since: None,
            size: 2222,
        },
    ];
    let mut v: Vec<Entry> = specs.iter().enumerate().map(|(i, s)| entry(i as u32 + 1, s)).collect();
    let mut broken = Entry::new(id(99), State::Queued);
    broken.problems.push(Problem::DestMissing);
    v.push(broken);
    v
}

fn counts(es: &[Entry]) -> Counts {
    let mut c = Counts::default();
    for e in es {
        mqctl::tui::worker::count(&mut c, e, now(), SignedDuration::from_hours(1));
    }
    c
}

/// The app after a complete first scan of `entries()`, with `filter` kept
/// by the selection the filter means.
fn app(w: u16, h: u16, color: bool, filter: &str) -> App {
    let mut a = App::new("/var/spool/kannader".into(), now(), color);
    update(&mut a, Event::Resize(w, h));
    let fx = a.start(filter);
    let Some(Effect::Scan { selection, .. }) = fx.first() else {
        panic!("{fx:?}")
    };
    let es = entries();
    let rows: Vec<RawRow> = es
        .iter()
        .filter(|e| mqctl::tui::worker::keeps(selection, e))
        .map(RawRow::from_entry)
        .collect();
    let c = counts(&es);
    let generation = a.generation;
    update(
        &mut a,
        Report::Loaded {
            generation,
            rows,
            counts: c,
            first: true,
            done: true,
        },
    );
    a
}

fn buffer(app: &App, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render::render(app, f)).unwrap();
    t.backend().buffer().clone()
}

fn text(b: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..b.area.height {
        let mut line = String::new();
        for x in 0..b.area.width {
            line.push_str(b[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Nothing a queue holds may reach the terminal as a control character.
fn assert_no_control_chars(b: &Buffer) {
    for c in b.content() {
        assert!(
            !c.symbol().chars().any(|ch| ch.is_control()),
            "raw control char in {:?}",
            c.symbol()
        );
    }
}

fn key(c: KeyCode) -> Event {
    Event::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn snap(name: &str, w: u16, h: u16, a: &App) {
    let b = buffer(a, w, h);
    assert_no_control_chars(&b);
    insta::assert_snapshot!(format!("{name}_{w}x{h}"), text(&b));
}

#[test]
fn main_view() {
    for (w, h) in SIZES {
        let mut a = app(w, h, true, "");
        update(&mut a, key(KeyCode::Char('j')));
        update(&mut a, key(KeyCode::Char(' ')));
        snap("main", w, h, &a);
    }
}

#[test]
fn main_view_escapes_what_the_queue_holds() {
    let a = app(160, 48, true, "");
    let t = text(&buffer(&a, 160, 48));
    assert!(t.contains("\\x1b[31mURGENT\\x1b[0m verify\\x07"), "{t}");
}

#[test]
fn columns_drop_on_narrow_terminals_but_id_to_and_state_stay() {
    let a = app(80, 24, true, "");
    let t = text(&buffer(&a, 80, 24));
    let head = t.lines().nth(3).unwrap();
    for c in ["ID", "STATE", "TO", "NEXT", "SUBJECT"] {
        assert!(head.contains(c), "{head}");
    }
    assert!(!head.contains("LAST"), "{head}");
    let wide = text(&buffer(&app(160, 48, true, ""), 160, 48));
    let head = wide.lines().nth(3).unwrap();
    for c in ["ID", "STATE", "FROM", "TO", "NEXT", "LAST", "AGE", "SIZE", "SUBJECT"] {
        assert!(head.contains(c), "{head}");
    }
}

fn detail() -> Detail {
    let e = &entries()[4];
    Detail {
        id: e.id.clone(),
        lines: vec![
            ("Entry".into(), format!("{} in queue/", e.id)),
            ("From".into(), "mallory@evil.example".into()),
            ("To".into(), "victim@gmail.com".into()),
            ("Next attempt".into(), "1m ago (2026-11-23 11:59:00Z)".into()),
            ("Last attempt".into(), "never tried".into()),
            ("Size".into(), "700B".into()),
        ],
        headers: vec![
            ("From".into(), "mallory@evil.example".into()),
            (
                "Subject".into(),
                "\\x1b[31mURGENT\\x1b[0m verify\\x07 your account".into(),
            ),
        ],
        body: vec![
            "Click here \\x1b]8;;http://evil.example\\x07now".into(),
            String::new(),
            "-- ".into(),
        ],
    }
}

#[test]
fn detail_view() {
    for (w, h) in SIZES {
        let mut a = app(w, h, true, "");
        let target = entries()[4].id.clone();
        while a.store.entry_id(a.selected_row().unwrap().id) != target {
            update(&mut a, key(KeyCode::Char('j')));
        }
        let fx = update(&mut a, key(KeyCode::Enter));
        assert!(
            matches!(&fx[..], [Effect::LoadDetail(State::Queued, i)] if *i == entries()[4].id),
            "{fx:?}"
        );
        update(&mut a, Report::Detail(Arc::new(detail())));
        assert_eq!(a.view, View::Detail);
        snap("detail", w, h, &a);
    }
}

fn stats() -> Stats {
    let buckets: Vec<String> = [
        "0-5m",
        "5-10m",
        "10-20m",
        "20-40m",
        "40-80m",
        "80-160m",
        "160-320m",
        "320-640m",
        "640-1280m",
        "1280m+",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let row = |d: &str, ages: [u64; 10]| DomainRow {
        domain: d.into(),
        total: ages.iter().sum(),
        ages: ages.to_vec(),
    };
    Stats {
        total: 12,
        states: StateCounts {
            queue: 7,
            inflight: 2,
            cleanup: 1,
            hold: 2,
        },
        due: 3,
        deferred: 3,
        stuck: 1,
        broken: 1,
        mails: 11,
        bytes: 153_587,
        oldest: Some(Oldest {
            id: "x".into(),
            age: 240_000,
            written: String::new(),
        }),
        buckets,
        writers: Vec::new(),
        domains: vec![
            row("gmail.com", [1, 0, 0, 0, 0, 0, 1, 2, 0, 0]),
            row("broken-dns.example", [0, 0, 0, 0, 0, 0, 0, 0, 0, 2]),
            row("outlook.com", [0, 0, 0, 0, 0, 0, 1, 0, 0, 0]),
            row("yahoo.com", [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ],
    }
}

#[test]
fn summary_view() {
    for (w, h) in SIZES {
        let mut a = app(w, h, true, "");
        let fx = update(&mut a, key(KeyCode::BackTab));
        assert!(matches!(&fx[..], [Effect::LoadStats]));
        update(&mut a, Report::Stats(Arc::new(stats())));
        // The queue grew then shrank while the TUI was open.
        a.history = vec![12, 15, 40, 38, 20, 12];
        snap("summary", w, h, &a);
    }
}

#[test]
fn filter_typing_and_applied() {
    for (w, h) in SIZES {
        let mut a = app(w, h, true, "");
        update(&mut a, key(KeyCode::Char('/')));
        for c in "--to *@gmail.com won".chars() {
            update(&mut a, key(KeyCode::Char(c)));
        }
        snap("filter_typing", w, h, &a);
        let applied = app(w, h, true, "--to *@gmail.com won");
        assert_eq!(applied.rows.len(), 2);
        snap("filter_applied", w, h, &applied);
    }
}

#[test]
fn confirm_dialog() {
    for (w, h) in SIZES {
        let mut a = app(w, h, true, "--state hold");
        update(&mut a, key(KeyCode::Char('*')));
        update(&mut a, key(KeyCode::Char('d')));
        snap("confirm_drop", w, h, &a);
    }
}

#[test]
fn progress_gauge() {
    let mut a = app(80, 24, true, "");
    update(&mut a, key(KeyCode::Char('*')));
    update(&mut a, key(KeyCode::Char('h')));
    update(&mut a, key(KeyCode::Char('y')));
    update(&mut a, Report::Progress { done: 6 });
    snap("progress", 80, 24, &a);
}

#[test]
fn help_overlay() {
    for (w, h) in SIZES {
        let mut a = app(w, h, true, "");
        update(&mut a, key(KeyCode::Char('?')));
        snap("help", w, h, &a);
    }
}

#[test]
fn help_lists_every_binding() {
    let mut a = app(160, 48, true, "");
    update(&mut a, key(KeyCode::Char('?')));
    let mut seen = String::new();
    // Scroll through the whole overlay.
    for _ in 0..10 {
        seen.push_str(&text(&buffer(&a, 160, 48)));
        update(&mut a, key(KeyCode::PageDown));
    }
    for b in mqctl::tui::keys::BINDINGS {
        assert!(seen.contains(b.help), "help misses {:?}", b.help);
    }
}

#[test]
fn monochrome() {
    for (w, h) in SIZES {
        let mut a = app(w, h, false, "");
        update(&mut a, key(KeyCode::Char('j')));
        update(&mut a, key(KeyCode::Char(' ')));
        let b = buffer(&a, w, h);
        for c in b.content() {
            assert!(
                matches!(c.fg, Color::Reset) && matches!(c.bg, Color::Reset),
                "a color in monochrome: {c:?}"
            );
        }
        // The selection is still visible: reverse video.
        let sel_y = (0..h)
            .find(|&y| b[(2, y)].modifier.contains(Modifier::REVERSED))
            .unwrap();
        assert_eq!(sel_y, 6, "row 2 of the table (after 3 header lines and the titles)");
        snap("monochrome", w, h, &a);
    }
    // With color, there is some.
    let b = buffer(&app(80, 24, true, ""), 80, 24);
    assert!(b.content().iter().any(|c| c.fg != Color::Reset));
}

#[test]
fn detail_from_the_worker_escapes_headers_and_body() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("q");
    mqctl::demo::create_empty(&root).unwrap();
    let q = Queue::open(&root).unwrap();
    let msg = b"Subject: \x1b[2Jgotcha\x07\r\nX-Evil: a\x1b]0;title\x07b\r\n\r\nbody \x1b[31mred\x1b[0m\r\nline2\r\n";
    q.enqueue(
        address::parse_sender("a@b.example").unwrap().as_ref(),
        &[address::parse("c@d.example").unwrap()],
        msg,
        mqctl::queue::write::EnqueueOptions {
            at: now(),
            last_attempt: None,
            written: None,
            durable: false,
        },
    )
    .unwrap();
    let mut a = App::new("/q".into(), now(), true);
    update(&mut a, Event::Resize(100, 30));
    let hl = Headless::new(q, SignedDuration::from_hours(1), Some(now()));
    hl.send(a.start(""));
    assert!(hl.pump_until(&mut a, Duration::from_secs(20), |a| a.loading.is_none()
        && !a.rows.is_empty()));
    hl.send(update(&mut a, key(KeyCode::Enter)));
    assert!(hl.pump_until(&mut a, Duration::from_secs(20), |a| a.detail.is_some()));
    let b = buffer(&a, 100, 30);
    assert_no_control_chars(&b);
    let t = text(&b);
    assert!(t.contains("Subject: \\x1b[2Jgotcha\\x07"), "{t}");
    assert!(t.contains("body \\x1b[31mred\\x1b[0m"), "{t}");
    assert!(t.contains("line2"), "{t}");
}

#[test]
fn while_reading_the_first_rows_show_and_the_header_says_how_far() {
    let mut a = App::new("/q".into(), now(), true);
    update(&mut a, Event::Resize(80, 24));
    a.start("");
    let es = entries();
    let generation = a.generation;
    update(
        &mut a,
        Report::Loaded {
            generation,
            rows: es[..3].iter().map(RawRow::from_entry).collect(),
            counts: counts(&es[..3]),
            first: true,
            done: false,
        },
    );
    let t = text(&buffer(&a, 80, 24));
    assert!(t.contains("reading… 3 entries so far"), "{t}");
    assert!(t.contains("bob@gmail.com"), "{t}");
}

#[test]
fn the_chart_shows_the_latest_sizes() {
    let mut a = app(80, 24, true, "");
    update(&mut a, key(KeyCode::Tab));
    update(&mut a, key(KeyCode::Tab));
    update(&mut a, Report::Stats(Arc::new(stats())));
    // Long ago the queue was empty; lately it is full: the chart shows full bars.
    a.history = vec![0; 500];
    a.history.extend(std::iter::repeat_n(100, 100));
    let t = text(&buffer(&a, 80, 24));
    let last = t.lines().rev().nth(1).unwrap();
    assert!(last.starts_with("████"), "{t}");
}

#[test]
fn tiny_terminals_do_not_panic_in_any_view_or_dialog() {
    for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 10), (80, 6)] {
        let mut a = app(w, h, true, "");
        for keys in [
            &[][..],
            &[KeyCode::Enter][..],
            &[KeyCode::BackTab][..],
            &[KeyCode::Char('?')][..],
            &[KeyCode::Char('d')][..],
            &[KeyCode::Char('/')][..],
            &[KeyCode::Char('f')][..],
            &[KeyCode::Char('*'), KeyCode::Char('h'), KeyCode::Char('y')][..],
        ] {
            for k in keys {
                update(&mut a, key(*k));
            }
            update(&mut a, Report::Detail(Arc::new(detail())));
            update(&mut a, Report::Stats(Arc::new(stats())));
            a.history = vec![1, 5, 3];
            let _ = buffer(&a, w, h);
            update(&mut a, key(KeyCode::Esc));
            update(&mut a, key(KeyCode::Esc));
            a.mode = mqctl::tui::app::Mode::Normal;
        }
    }
}

#[test]
fn the_queue_path_and_the_writer_name_are_escaped_too() {
    let mut a = app(160, 48, true, "");
    a.queue_path = "/srv/q\x1b]0;pwned\x07".into();
    update(&mut a, Report::Writer(Some("evil\x1b[2J (pid 1)".into())));
    let b = buffer(&a, 160, 48);
    assert_no_control_chars(&b);
    let t = text(&b);
    assert!(t.contains("/srv/q\\x1b]0;pwned\\x07"), "{t}");
    assert!(t.contains("writer live: evil\\x1b[2J (pid 1)"), "{t}");
}
