//! The TUI on a million entries: time to first paint (the first frame that
//! shows rows, drawn with TestBackend), time to full load, and memory per
//! entry (RSS growth of the process while the table fills / entries).
//!
//! `cargo bench --bench tui` builds the queue once under
//! `target/tui-bench-queue` (or `$MQCTL_BENCH_QUEUE`) and reuses it.
//! `MQCTL_BENCH_ENTRIES` changes the size (default 1,000,000).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use mqctl::queue::Queue;
use mqctl::queue::address;
use mqctl::queue::write::EnqueueOptions;
use mqctl::tui::app::{App, Event, Intent, update};
use mqctl::tui::{Headless, render};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rayon::prelude::*;

/// Recipients per mail: a mailing-list-like load keeps the inode count sane.
const RCPTS: usize = 10;

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// A queue of `entries` entries: every recipient address distinct (the
/// worst case for interning), 5,000 senders, 500 domains, 2,000 subjects.
fn build(root: &Path, entries: usize) {
    let done = root.join(".complete");
    if done.exists() {
        return;
    }
    if root.exists() {
        std::fs::remove_dir_all(root).unwrap();
    }
    mqctl::demo::create_empty(root).unwrap();
    let q = Queue::open(root).unwrap();
    let now = Timestamp::now();
    let mails = entries.div_ceil(RCPTS);
    let t = Instant::now();
    (0..mails).into_par_iter().for_each(|m| {
        let from = address::parse(&format!("sender{}@corp{}.example", m % 5000, m % 7)).unwrap();
        let to: Vec<_> = (0..RCPTS.min(entries - m * RCPTS))
            .map(|r| address::parse(&format!("user{}.{r}@dest{}.example", m, (m * RCPTS + r) % 500)).unwrap())
            .collect();
        let msg = format!(
            "From: {from}\r\nSubject: Bench subject number {}\r\nMessage-ID: <{m}@bench>\r\n\r\nbody {m}\r\n",
            m % 2000
        );
        q.enqueue(
            Some(&from),
            &to,
            msg.as_bytes(),
            EnqueueOptions {
                at: now + SignedDuration::from_mins((m % 600) as i64 - 300),
                last_attempt: None,
                written: Some(now - SignedDuration::from_mins((m % 4000) as i64)),
                durable: false,
            },
        )
        .unwrap();
    });
    eprintln!("built {entries} entries in {:.1?}", t.elapsed());
    std::fs::write(done, b"").unwrap();
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // useful either way: only run the full benchmark when asked.
    let entries: usize = std::env::var("MQCTL_BENCH_ENTRIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let root: PathBuf = std::env::var_os("MQCTL_BENCH_QUEUE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/tui-bench-queue-{entries}")));
    build(&root, entries);

    let rss0 = rss_bytes();
    let start = Instant::now();
    let q = Queue::open(&root).unwrap();
    let mut app = App::new(root.display().to_string(), Timestamp::now(), true);
    update(&mut app, Event::Resize(120, 40));
    let hl = Headless::new(q, SignedDuration::from_hours(1), None);
    hl.send(app.start(""));
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    assert!(hl.pump_until(&mut app, Duration::from_secs(600), |a| !a.rows.is_empty()));
    term.draw(|f| render::render(&app, f)).unwrap();
    let first_paint = start.elapsed();
    assert!(term.backend().to_string().contains("queue "), "a frame with rows");
    eprintln!("first paint after {first_paint:.3?} with {} rows", app.rows.len());
    let mut next_report = Instant::now() + Duration::from_secs(30);
    assert!(hl.pump_until(&mut app, Duration::from_secs(3600), |a| {
        if Instant::now() > next_report {
            eprintln!(
                "{:.0?}: {} rows, RSS {} MiB",
                start.elapsed(),
                a.rows.len(),
                rss_bytes() >> 20
            );
            next_report += Duration::from_secs(30);
        }
        a.loading.is_none()
    }));
    let full_load = start.elapsed();
    let t = Instant::now();
    term.draw(|f| render::render(&app, f)).unwrap();
    let frame = t.elapsed();
    let rss1 = rss_bytes();
    let n = app.rows.len();
    assert_eq!(n, entries, "every entry is in the table");
    let per_entry = (rss1.saturating_sub(rss0)) as f64 / n as f64;
    // Steady-state cost of what the table keeps: rows plus interned strings.
    let t = Instant::now();
    update(&mut app, Intent::SortNext);
    let sort = t.elapsed();
    // A string column: compares interned text.
    while app.sort != mqctl::tui::app::Column::To {
        update(&mut app, Intent::SortNext);
    }
    let t = Instant::now();
    update(&mut app, Intent::SortReverse);
    let sort_text = t.elapsed();

    println!("TUI benchmark: {n} entries, {} threads", rayon::current_num_threads());
    println!("  time to first paint:   {:>8.3} s", first_paint.as_secs_f64());
    println!("  time to full load:     {:>8.3} s", full_load.as_secs_f64());
    println!("  one frame after load:  {:>8.3} ms", frame.as_secs_f64() * 1000.0);
    println!(
        "  re-sort by a column:   {:>8.3} ms (time), {:.3} ms (recipient)",
        sort.as_secs_f64() * 1000.0,
        sort_text.as_secs_f64() * 1000.0
    );
    println!(
        "  memory per entry:      {:>8.0} bytes (RSS {} MiB -> {} MiB; Row is {} bytes; {} interned strings)",
        per_entry,
        rss0 >> 20,
        rss1 >> 20,
        std::mem::size_of::<mqctl::tui::row::Row>(),
        app.store.strings.len()
    );
}
