//! Snapshots of every TUI view and dialog, drawn with ratatui's TestBackend
//! at 80×24 (SSH), 40×12 (a phone) and 200×50 (a desk). The queue is built
//! in the test with fixed ids and a fixed "now": a dozen hand-made entries
//! (every state, the null sender, UTF-8 and wide characters, an
//! escape-sequence subject, broken entries, long addresses) before two
//! thousand ordinary ones over eighteen domains, so every screen is
//! reproducible and as full as a real one.
//!
//! Besides the snapshots (reviewed by eye), each screen is checked for what
//! must never happen: a count cut, a dialog without its keys, the key line
//! without `?:help`, a raw control character.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use mqctl::queue::address;
use mqctl::queue::{Contents, Entry, EntryId, Envelope, Headers, Problem, Queue, Schedule, State};
use mqctl::stats::{DomainRow, HoldGroup, Oldest, StateCounts, Stats};
use mqctl::tui::app::{App, Column, Detail, Effect, Event, Live, Mode, Report, View, update};
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
    /// Minutes ago (negative: in the future).
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

const DOMAINS: [&str; 18] = [
    "gmail.com",
    "broken-dns.example",
    "outlook.com",
    "yahoo.com",
    "corp.example",
    "web.de",
    "orange.fr",
    "icloud.com",
    "hotmail.co.uk",
    "libero.it",
    "proton.me",
    "münchen.example",
    "mail.a-rather-long-subsidiary-name.example.co.uk",
    "gmx.net",
    "t-online.de",
    "free.fr",
    "exämple.org",
    "[192.0.2.1]",
];

/// The hand-made entries, then 2,000 ordinary ones due later (so the
/// hand-made ones come first in the default sort), then two broken ones.
fn entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        let q = State::Queued;
        let spec = |state, from, to, subject, at, last, age, since, size| Spec {
            state,
            from,
            to,
            subject,
            at,
            last,
            age,
            since,
            size,
        };
        #[rustfmt::skip]
        let specs = [
            spec(q, "alice@corp.example", "bob@gmail.com", "Weekly report", 30, Some(30), 250, None, 2345),
            spec(q, "<>", "postmaster@broken-dns.example", "Undelivered Mail Returned to Sender", -120, Some(5), 1500, None, 5120),
            spec(q, "josé@exämple.org", "li.wei@broken-dns.example", "Café du jeudi", -60, Some(10), 3000, None, 1800),
            spec(q, "jira@tracker.example", "very.long.recipient.name.for.truncation@a-rather-long-domain.example.com",
                "Build failed: main #4812 and a subject long enough to be cut", 5, None, 5, None, 900),
            spec(q, "mallory@evil.example", "victim@gmail.com", "\u{1b}[31mURGENT\u{1b}[0m verify\u{7} your account", 1, None, 2, None, 700),
            spec(State::Inflight, "alice@corp.example", "ops@outlook.com", "Password reset request", 200, None, 200, Some(180), 1200),
            spec(State::Inflight, "bob@corp.example", "carol@yahoo.com", "Re: meeting tomorrow", 3, None, 3, Some(2), 3300),
            spec(State::Cleanup, "newsletter@shop.example", "dave@web.de", "Your order has shipped", 10, None, 11, Some(1), 4100),
            spec(State::Held, "spam@lottery.example", "eve@gmail.com", "You won!!!", 100, Some(90), 400, Some(20), 66000),
            spec(State::Held, "spam@lottery.example", "frank@gmail.com", "You won!!!", 100, Some(90), 400, Some(20), 66000),
            spec(q, "\"sales team\"@corp.example", "user@[192.0.2.1]", "Invitation: quarterly review", -240, Some(1200), 4000, None, 2222),
            spec(q, "kaito@example.jp", "ops@münchen.example", "会議の議事録 (minutes of the meeting)", 1276, Some(1276), 5000, None, 18_500),
            spec(q, "archive@corp.example", "legal-hold@corp.example", "Records from last year", -3000, Some(60), 400 * 1440, None, 3_500_000),
        ];
        let mut v: Vec<Entry> = specs.iter().enumerate().map(|(i, s)| entry(i as u32 + 1, s)).collect();
        const SENDERS: [&str; 8] = [
            "alice@corp.example",
            "<>",
            "noreply@billing.example",
            "jira@tracker.example",
            "\"sales team\"@corp.example",
            "josé@exämple.org",
            "mailer-daemon@mx1.corp.example",
            "newsletter@shop.example",
        ];
        const USERS: [&str; 9] = [
            "anna",
            "john",
            "li.wei",
            "p.dupont",
            "k.schmidt",
            "m.rossi",
            "jane.doe",
            "ops",
            "sam+lists",
        ];
        const SUBJECTS: [&str; 10] = [
            "Your order has shipped",
            "Security notice for your account",
            "Re: meeting tomorrow",
            "Invitation: quarterly review",
            "[ALERT] disk usage above 90% on db-03",
            "Build failed: main #4812",
            "Élégant sujet",
            "Weekly report",
            "Re: Re: Fwd: budget 2027",
            "Undelivered Mail Returned to Sender",
        ];
        for i in 0..2000u32 {
            let n = i as i64;
            let state = match () {
                _ if i % 97 == 5 => State::Held,
                _ if i % 131 == 7 => State::Inflight,
                _ => State::Queued,
            };
            let to = format!("{}@{}", USERS[i as usize % 9], DOMAINS[(i as usize * 7) % 18]);
            let s = Spec {
                state,
                from: SENDERS[i as usize % 8],
                to: Box::leak(to.into_boxed_str()),
                subject: SUBJECTS[i as usize % 10],
                at: -(300 + (n * 37) % 5000),
                last: (i % 3 != 0).then_some(600 + n % 300),
                age: 600 + (n * 53) % 8000,
                since: (state == State::Inflight).then_some(n % 90),
                size: 500 + (i as u64 * 7919) % 200_000,
            };
            v.push(entry(100 + i, &s));
        }
        let mut broken = Entry::new(id(99), State::Queued);
        broken.problems.push(Problem::DestMissing);
        v.push(broken);
        let mut broken = Entry::new(id(98), State::Inflight);
        broken.problems.push(Problem::DestMissing);
        broken.since = Some(ago(30));
        v.push(broken);
        v
    })
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
    // Every entry, each marked with whether the filter keeps it (the
    // header counts them all).
    let rows: Vec<RawRow> = es
        .iter()
        .map(|e| RawRow::from_entry(e, mqctl::tui::worker::keeps(selection, e)))
        .collect();
    let generation = a.generation;
    update(
        &mut a,
        Report::Loaded {
            generation,
            rows,
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
        let mut x = 0;
        while x < b.area.width {
            let sym = b[(x, y)].symbol();
            line.push_str(sym);
            // A wide character covers the next cell too.
            x += unicode_width::UnicodeWidthStr::width(sym).max(1) as u16;
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

/// What no screen may do, whatever its size.
fn assert_fits(a: &App, t: &str) {
    let lines: Vec<&str> = t.lines().collect();
    if !matches!(a.mode, Mode::Help { .. }) {
        // Every count of the header, whole.
        let c = &a.counts;
        let mut want = vec![
            ("queue", c.queue),
            ("due", c.due),
            ("deferred", c.deferred),
            ("inflight", c.inflight),
            ("cleanup", c.cleanup),
            ("hold", c.hold),
        ];
        if c.stuck > 0 {
            want.push(("stuck", c.stuck));
        }
        if c.broken > 0 {
            want.push(("broken", c.broken));
        }
        let header: String = lines.iter().take(5).map(|l| format!("{l}\n")).collect();
        for (label, n) in want {
            let pat = format!("{label} {n}");
            let whole = header
                .match_indices(&pat)
                .any(|(i, _)| !header[i + pat.len()..].starts_with(|ch: char| ch.is_ascii_digit()));
            assert!(whole, "header lacks {pat:?}:\n{t}");
        }
        let shown = format!("{} shown", a.rows.len());
        assert!(header.contains(&shown), "header lacks {shown:?}:\n{t}");
    }
    match &a.mode {
        Mode::Confirm { .. } => {
            assert!(
                t.contains("[y] yes") && t.contains("[n] no"),
                "dialog without its keys:\n{t}"
            );
        }
        Mode::Normal if a.message.is_none() => {
            let last = lines.last().unwrap();
            assert!(last.starts_with("?:help"), "key line without ?:help:\n{t}");
        }
        _ => {}
    }
}

fn key(c: KeyCode) -> Event {
    Event::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn press(a: &mut App, keys: &str) {
    for c in keys.chars() {
        update(a, key(KeyCode::Char(c)));
    }
}

const SIZES: [(u16, u16); 3] = [(80, 24), (40, 12), (200, 50)];

fn snap(name: &str, a: &App) {
    let (w, h) = a.size;
    let b = buffer(a, w, h);
    assert_no_control_chars(&b);
    let t = text(&b);
    assert_fits(a, &t);
    insta::assert_snapshot!(format!("{name}_{w}x{h}"), t);
}

#[test]
fn table_view() {
    for (w, h) in SIZES {
        let mut a = app(w, h, true, "");
        update(&mut a, Report::Writer(Some("kannader (pid 4242)".into())));
        press(&mut a, "j ");
        snap("table", &a);
    }
}

#[test]
fn header_with_live_rates_and_without_events() {
    for (w, h) in SIZES {
        let mut a = app(w, h, true, "");
        let rates = mqctl::queue::events::RatesNow {
            last_minute: [12.0, 340.0, 296.0, 38.0],
            last_ten: [9.5, 310.0, 280.0, 25.0],
            full_minute: true,
        };
        update(
            &mut a,
            Report::Live(Live {
                watching: true,
                polling: None,
                rates,
            }),
        );
        snap("header_rates", &a);
        let t = text(&buffer(&a, w, h));
        for n in ["12", "340", "296", "38"] {
            assert!(t.contains(n), "{n} shown whole at {w}x{h}:\n{t}");
        }
        update(
            &mut a,
            Report::Live(Live {
                watching: false,
                polling: Some("NFS: changes are not announced, the queue is read every 10s".into()),
                rates: Default::default(),
            }),
        );
        snap("header_polling", &a);
    }
}

#[test]
fn table_sorted_by_size_shows_the_size_column_from_the_top() {
    for (w, h) in SIZES {
        let mut a = app(w, h, true, "");
        press(&mut a, "jjj");
        while a.sort != Column::Size {
            press(&mut a, "s");
        }
        press(&mut a, "o");
        assert_eq!((a.selected, a.offset), (0, 0), "a re-sort shows the top");
        let t = text(&buffer(&a, w, h));
        assert!(titles(&t).contains("SIZE▼"), "{t}");
        snap("table_by_size", &a);
    }
}

#[test]
fn table_view_escapes_what_the_queue_holds() {
    let a = app(200, 50, true, "");
    let t = text(&buffer(&a, 200, 50));
    assert!(t.contains("\\x1b[31mURGENT\\x1b[0m verify\\x07"), "{t}");
}

/// The line of column titles, below the header.
fn titles(t: &str) -> &str {
    t.lines().find(|l| l.trim_start().starts_with("ID")).unwrap()
}

#[test]
fn columns_drop_on_narrow_terminals_but_id_to_state_and_the_sort_stay() {
    let t = text(&buffer(&app(40, 12, true, ""), 40, 12));
    for c in ["ID", "STATE", "TO", "NEXT"] {
        assert!(titles(&t).contains(c), "{t}");
    }
    let t = text(&buffer(&app(80, 24, true, ""), 80, 24));
    for c in ["ID", "STATE", "FROM", "TO", "NEXT", "AGE", "SUBJECT"] {
        assert!(titles(&t).contains(c), "{t}");
    }
    assert!(!titles(&t).contains("LAST"), "{t}");
    let t = text(&buffer(&app(200, 50, true, ""), 200, 50));
    for c in ["ID", "STATE", "FROM", "TO", "NEXT", "LAST", "AGE", "SIZE", "SUBJECT"] {
        assert!(titles(&t).contains(c), "{t}");
    }
}

#[test]
fn addresses_grow_on_a_wide_terminal_and_numbers_are_right_aligned() {
    let t = text(&buffer(&app(200, 50, true, ""), 200, 50));
    // The longest sender and the usual recipients are shown whole; the
    // recipient column is wide (it holds very long addresses too).
    assert!(t.contains("mailer-daemon@mx1.corp.example "), "{t}");
    assert!(t.contains("postmaster@broken-dns.example "), "{t}");
    let head = titles(&t);
    assert!(head.find("NEXT").unwrap() - head.find("TO").unwrap() > 40, "{head}");
    // Columns, not bytes: the screen has wide and accented characters.
    let col = |l: &str, pat: &str| l[..l.find(pat).unwrap()].chars().count();
    let size_end = col(head, "SIZE") + 4;
    for line in t
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("ID"))
        .skip(1)
        .take(10)
    {
        let cell: String = line.chars().take(size_end).collect();
        assert!(cell.ends_with(['B', 'K', 'M', '-']), "{line}");
    }
}

#[test]
fn every_sort_column_is_visible_at_every_width() {
    for (w, h) in SIZES {
        let mut a = app(w, h, true, "");
        for _ in 0..Column::ALL.len() {
            press(&mut a, "s");
            let t = text(&buffer(&a, w, h));
            let title = format!("{}▲", a.sort.title());
            assert!(titles(&t).contains(&title), "{title} at {w}x{h}:\n{t}");
        }
    }
}

fn detail() -> Detail {
    let e = &entries()[4];
    Detail {
        id: e.id.clone(),
        lines: vec![
            ("Entry".into(), format!("{} in queue/", e.id)),
            (
                "Files".into(),
                "data/6b1c2f0e-88a1-4c3b-9d0e-51a2b3c4d5e6/7f3a9c1d-2e4b-4a5c-8d6e-0f1a2b3c4d5e".into(),
            ),
            ("From".into(), "mallory@evil.example".into()),
            ("To".into(), "victim@gmail.com".into()),
            ("Next attempt".into(), "1m ago (2026-11-23 11:59:00Z)".into()),
            ("Last attempt".into(), "never tried".into()),
            ("Written".into(), "2m ago (2026-11-23 11:58:00Z)".into()),
            ("Size".into(), "700B".into()),
        ],
        headers: vec![
            (
                "Received".into(),
                "from mx.evil.example (mx.evil.example [198.51.100.7]) by mx1.corp.example with ESMTPS id 4Zx9 for <victim@gmail.com>; Mon, 23 Nov 2026 11:58:00 +0000".into(),
            ),
            ("From".into(), "mallory@evil.example".into()),
            (
                "Subject".into(),
                "\\x1b[31mURGENT\\x1b[0m verify\\x07 your account".into(),
            ),
        ],
        body: vec![
            "Click here \\x1b]8;;http://evil.example\\x07now".into(),
            String::new(),
            "We noticed unusual activity on your account and need you to confirm your identity within 24 hours or it will be closed.".into(),
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
            press(&mut a, "j");
        }
        let fx = update(&mut a, key(KeyCode::Enter));
        assert!(
            matches!(&fx[..], [Effect::LoadDetail(State::Queued, i)] if *i == entries()[4].id),
            "{fx:?}"
        );
        update(&mut a, Report::Detail(Arc::new(detail())));
        assert_eq!(a.view, View::Detail);
        snap("detail", &a);
    }
}

/// qshape's buckets, and eighteen domains whose numbers run to four digits.
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
    let ages: [[u64; 10]; 18] = [
        [12, 30, 41, 77, 102, 95, 88, 60, 51, 36],
        [0, 0, 0, 0, 3, 9, 27, 81, 243, 1187],
        [4, 9, 17, 22, 30, 41, 20, 11, 5, 2],
        [3, 5, 8, 13, 21, 34, 21, 13, 8, 5],
        [10, 12, 9, 4, 2, 1, 0, 0, 0, 0],
        [1, 2, 4, 8, 16, 32, 16, 8, 4, 2],
        [0, 1, 1, 2, 3, 5, 8, 13, 21, 34],
        [5, 4, 3, 2, 1, 0, 0, 0, 0, 1],
        [2, 2, 2, 2, 2, 2, 2, 2, 2, 2],
        [0, 0, 1, 0, 0, 1, 0, 0, 1, 0],
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 3, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 7, 0],
        [6, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 2, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 4, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 9],
    ];
    let mut domains: Vec<DomainRow> = DOMAINS.iter().zip(ages).map(|(d, a)| row(d, a)).collect();
    domains.sort_by_key(|d| std::cmp::Reverse(d.total));
    assert_eq!(domains[1].total, 592, "gmail.com");
    Stats {
        total: 2015,
        states: StateCounts {
            queue: 1963,
            inflight: 18,
            cleanup: 1,
            hold: 23,
            claimed: 0,
        },
        due: 9,
        deferred: 1953,
        // The broken entry in queue/ has no schedule.
        unscheduled: 1,
        stuck: 1,
        broken: 2,
        mails: 2013,
        bytes: 205_587_001,
        oldest: Some(Oldest {
            id: "x".into(),
            age: 400 * 86_400,
            written: String::new(),
        }),
        buckets,
        writers: Vec::new(),
        domains,
        // 23 held: most for a reason that ends in two hours, some whose
        // hold has ended, a few without a reason.
        holds: vec![
            HoldGroup {
                reason: Some(
                    "Mailbox full at corp.example: the customer is moving to a bigger plan (ticket 4711)".into(),
                ),
                entries: 15,
                expired: 0,
                since: Some(now() - jiff::SignedDuration::from_hours(3)),
                next_end: Some(now() + jiff::SignedDuration::from_hours(2)),
            },
            HoldGroup {
                reason: Some("Waiting for the DNS fix".into()),
                entries: 5,
                expired: 5,
                since: Some(now() - jiff::SignedDuration::from_hours(9)),
                next_end: None,
            },
            HoldGroup {
                reason: None,
                entries: 3,
                expired: 0,
                since: None,
                next_end: None,
            },
        ],
    }
}

fn summary_app(w: u16, h: u16) -> App {
    let mut a = app(w, h, true, "");
    let fx = update(&mut a, key(KeyCode::BackTab));
    assert!(matches!(&fx[..], [Effect::LoadStats]));
    update(&mut a, Report::Stats(Arc::new(stats())));
    // The queue grew then shrank while the TUI was open.
    a.history = vec![1900, 1950, 2400, 2380, 2100, 2015];
    a
}

#[test]
fn summary_view() {
    for (w, h) in SIZES {
        let a = summary_app(w, h);
        let t = text(&buffer(&a, w, h));
        assert!(t.contains(" 592 "), "gmail.com's total, whole:\n{t}");
        snap("summary", &a);
    }
}

#[test]
fn summary_domains_scroll_with_j_and_k() {
    for (w, h) in SIZES {
        let mut a = summary_app(w, h);
        press(&mut a, "jjj");
        let t = text(&buffer(&a, w, h));
        if h < 50 {
            assert!(
                !t.contains("broken-dns.example"),
                "the first domains scrolled away:\n{t}"
            );
            assert_eq!(a.selected, 0, "j scrolls the summary, not the table");
        }
        snap("summary_scrolled", &a);
        press(&mut a, "kkk");
        assert_eq!(a.summary_scroll, 0);
    }
}

#[test]
fn summary_domain_column_is_as_wide_as_the_longest_domain_not_the_screen() {
    let a = summary_app(200, 50);
    let t = text(&buffer(&a, 200, 50));
    let head = t.lines().find(|l| l.contains("DOMAIN")).unwrap();
    let total_at = head.find("TOTAL").unwrap() - head.find("DOMAIN").unwrap();
    let longest = "mail.a-rather-long-subsidiary-name.example.co.uk".len();
    assert!(total_at <= longest + 6, "{head}");
}

#[test]
fn filter_typing_applied_and_refused() {
    for (w, h) in SIZES {
        let mut a = app(w, h, true, "");
        update(&mut a, key(KeyCode::Char('/')));
        press(&mut a, "--to *@gmail.com won");
        snap("filter_typing", &a);
        let applied = app(w, h, true, "--to *@gmail.com won");
        assert_eq!(applied.rows.len(), 2);
        snap("filter_applied", &applied);
        let mut bad = app(w, h, true, "");
        update(&mut bad, key(KeyCode::Char('/')));
        press(&mut bad, "--older-than soon");
        update(&mut bad, key(KeyCode::Enter));
        assert!(bad.message.is_some());
        snap("filter_refused", &bad);
        let none = app(w, h, true, "--to nobody@nowhere.example");
        snap("filter_matches_nothing", &none);
    }
}

#[test]
fn confirm_dialog_for_each_verb() {
    for (w, h) in SIZES {
        for (name, filter, keys) in [
            ("hold", "--state queue", "*h"),
            ("release", "--state hold", "*u"),
            ("retry", "--state queue", "*t"),
            ("drop", "--state hold", "*d"),
            ("recover", "--state inflight", "*R"),
        ] {
            let mut a = app(w, h, true, filter);
            press(&mut a, keys);
            assert!(matches!(a.mode, Mode::Confirm { .. }), "{name}: {:?}", a.mode);
            snap(&format!("confirm_{name}"), &a);
        }
        let mut a = app(w, h, true, "");
        press(&mut a, " f");
        press(&mut a, "4h");
        snap("defer_input", &a);
        update(&mut a, key(KeyCode::Enter));
        assert!(matches!(a.mode, Mode::Confirm { .. }), "{:?}", a.mode);
        snap("confirm_defer", &a);
        // Retry, spread: how long (30m offered), then the question.
        let mut a = app(w, h, true, "--state queue");
        press(&mut a, "*ts");
        snap("spread_input", &a);
        update(&mut a, key(KeyCode::Enter));
        assert!(matches!(a.mode, Mode::Confirm { .. }), "{:?}", a.mode);
        snap("confirm_spread", &a);
        // Hold, with a reason: why, then the question that says it.
        let mut a = app(w, h, true, "--state queue");
        press(&mut a, "*hr");
        press(&mut a, "DNS broken at example.net, ticket 4711");
        snap("reason_input", &a);
        update(&mut a, key(KeyCode::Enter));
        assert!(matches!(a.mode, Mode::Confirm { reason: Some(_), .. }), "{:?}", a.mode);
        snap("confirm_hold_reason", &a);
        let mut a = app(w, h, true, "");
        press(&mut a, "fsoon");
        update(&mut a, key(KeyCode::Enter));
        snap("defer_refused", &a);
    }
}

#[test]
fn progress_and_result() {
    for (w, h) in SIZES {
        let mut a = app(w, h, true, "");
        press(&mut a, "*hy");
        update(&mut a, Report::Progress { done: 612 });
        snap("progress", &a);
        update(&mut a, key(KeyCode::Esc));
        snap("progress_stopping", &a);
        update(
            &mut a,
            Report::Finished {
                summary: "Hold: 612 held, 3 vanished, 1 failed — stopped before the end".into(),
                failure: Some((
                    id(7),
                    "renaming queue/…/ into hold/: Permission denied (os error 13)".into(),
                )),
            },
        );
        let t = text(&buffer(&a, w, h));
        for word in ["renaming", "Permission", "denied", "(os error 13)"] {
            assert!(t.contains(word), "the reason is kept:\n{t}");
        }
        assert!(t.contains("612 held, 3 vanished, 1 failed"), "{t}");
        snap("result", &a);
    }
}

#[test]
fn help_overlay() {
    for (w, h) in SIZES {
        let mut a = app(w, h, true, "");
        press(&mut a, "?");
        snap("help", &a);
        for _ in 0..20 {
            update(&mut a, key(KeyCode::PageDown));
        }
        snap("help_end", &a);
    }
}

#[test]
fn help_lists_every_binding_whole_at_every_size() {
    for (w, h) in SIZES {
        let mut a = app(w, h, true, "");
        press(&mut a, "?");
        let mut seen = String::new();
        // Scroll through the whole overlay, a line at a time.
        for _ in 0..120 {
            seen.push_str(&text(&buffer(&a, w, h)));
            update(&mut a, key(KeyCode::Down));
        }
        let words: std::collections::HashSet<&str> = seen
            .split(|c: char| c.is_whitespace() || c == '│')
            .filter(|s| !s.is_empty())
            .collect();
        for b in mqctl::tui::keys::BINDINGS {
            // The keys stand apart from what they do.
            let apart = seen
                .lines()
                .any(|l| l.contains(&format!(" {}  ", b.label)) || l.trim_end_matches([' ', '│']).ends_with(b.label));
            assert!(apart, "{:?} at {w}x{h}:\n{seen}", b.label);
            for word in b.help.split(' ') {
                assert!(words.contains(word), "help misses {word:?} of {:?} at {w}x{h}", b.help);
            }
        }
        for word in ["--not-due", "--older-than", "free", "text"] {
            assert!(
                words.contains(word),
                "the filter note misses {word} at {w}x{h}:\n{seen}"
            );
        }
    }
}

#[test]
fn monochrome() {
    for (w, h) in SIZES {
        let mut a = app(w, h, false, "");
        press(&mut a, "j ");
        let b = buffer(&a, w, h);
        for c in b.content() {
            assert!(
                matches!(c.fg, Color::Reset) && matches!(c.bg, Color::Reset),
                "a color in monochrome: {c:?}"
            );
        }
        // The selection is still visible: reverse video.
        let titles_y = (0..h).find(|&y| b[(2, y)].symbol() == "I").unwrap();
        let sel_y = (0..h)
            .find(|&y| b[(2, y)].modifier.contains(Modifier::REVERSED))
            .unwrap();
        assert_eq!(sel_y, titles_y + 3, "the third row is selected");
        snap("monochrome", &a);
    }
    // With color, there is some.
    let b = buffer(&app(80, 24, true, ""), 80, 24);
    assert!(b.content().iter().any(|c| c.fg != Color::Reset));
}

#[test]
fn while_reading_the_first_rows_show_and_the_header_says_how_far() {
    for (w, h) in SIZES {
        let mut a = App::new("/var/spool/kannader".into(), now(), true);
        update(&mut a, Event::Resize(w, h));
        a.start("");
        let es = &entries()[..40];
        let generation = a.generation;
        update(
            &mut a,
            Report::Loaded {
                generation,
                rows: es.iter().map(|e| RawRow::from_entry(e, true)).collect(),
                first: true,
                done: false,
            },
        );
        let t = text(&buffer(&a, w, h));
        assert!(t.contains("reading… 40"), "{t}");
        assert!(t.contains("bob@gmail"), "{t}");
        snap("reading", &a);
    }
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
            a.mode = Mode::Normal;
        }
    }
}

#[test]
fn the_queue_path_and_the_writer_name_are_escaped_too() {
    let mut a = app(200, 50, true, "");
    a.queue_path = "/srv/q\x1b]0;pwned\x07".into();
    update(&mut a, Report::Writer(Some("evil\x1b[2J (pid 1)".into())));
    let b = buffer(&a, 200, 50);
    assert_no_control_chars(&b);
    let t = text(&b);
    assert!(t.contains("/srv/q\\x1b]0;pwned\\x07"), "{t}");
    assert!(t.contains("writer live: evil\\x1b[2J (pid 1)"), "{t}");
}
