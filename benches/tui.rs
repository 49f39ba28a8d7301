//! The TUI on a million entries: time to first paint (the first frame that
//! shows rows, drawn with TestBackend), time to full load (beside `mqctl
//! list` reading the same entries), memory per entry (RSS growth of the
//! process while the table fills / entries), and the live view: how soon a
//! move shows, how many entries 1,000 moves make it read, its idle CPU.
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

/// CPU time (user + system) this process has used so far.
fn cpu_self() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we pass.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The mqctl binary to compare with (`MQCTL_BENCH_BIN`, else the release build).
fn mqctl_bin() -> PathBuf {
    std::env::var_os("MQCTL_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/mqctl"))
}

/// Runs `mqctl ARGS` on `root` with stdout to /dev/null; wall and CPU time.
fn timed_list(root: &Path, args: &[&str]) -> (Duration, Duration) {
    use std::os::unix::process::ExitStatusExt;
    let t = Instant::now();
    let mut child = std::process::Command::new(mqctl_bin())
        .env("MQCTL_QUEUE", root)
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the release build (cargo build --release) or MQCTL_BENCH_BIN");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    // wait4 for this child's own rusage.
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid.as_raw(), &mut status, 0, &mut ru) };
    assert_eq!(r, pid.as_raw());
    let _ = child.try_wait();
    assert!(
        std::process::ExitStatus::from_raw(status).success(),
        "mqctl {args:?} failed"
    );
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (t.elapsed(), tv(ru.ru_utime) + tv(ru.ru_stime))
}

/// One more full load by a fresh worker and `App` (wall, CPU), dropped after.
fn load_again(root: &Path) -> (Duration, Duration) {
    let start = Instant::now();
    let cpu0 = cpu_self();
    let q = Queue::open(root).unwrap();
    let mut app = App::new(root.display().to_string(), Timestamp::now(), true);
    update(&mut app, Event::Resize(120, 40));
    let hl = Headless::new(q, SignedDuration::from_hours(1), None);
    hl.send(app.start(""));
    assert!(hl.pump_until(&mut app, Duration::from_secs(3600), |a| a.loading.is_none()));
    (start.elapsed(), cpu_self().saturating_sub(cpu0))
}

/// The fields the TUI's table reads for each entry.
const TUI_FIELDS: &str = "id,state,from,to,at,last_attempt,size,age,since,subject";

/// How the live view costs what changed: the time until a move shows, the
/// entries read after many moves, the CPU used while nothing moves.
fn live(root: &Path, app: &mut App, hl: &Headless, term: &mut Terminal<TestBackend>) {
    use mqctl::queue::State;
    use std::sync::atomic::Ordering;
    let queued = |app: &App| -> Vec<(String, usize)> {
        (0..app.rows.len())
            .filter(|&i| app.row(i).state == State::Queued)
            .take(1000)
            .map(|i| (app.store.entry_id(app.row(i).id).to_string(), i))
            .collect()
    };
    let mv = |id: &str, from: State, to: State| {
        std::fs::rename(root.join(from.dir()).join(id), root.join(to.dir()).join(id)).unwrap();
    };
    let state_of = |app: &App, id: &str| {
        let rid = app.store.row_id(&mqctl::queue::EntryId::new(id.as_bytes()))?;
        app.store.table.slot(&rid).map(|s| app.store.table.get(s).state)
    };
    // One move at a time, as a writer makes them: until the table shows it.
    let ids = queued(app);
    let mut latencies = Vec::new();
    for (id, _) in ids.iter().take(9) {
        let t = Instant::now();
        mv(id, State::Queued, State::Inflight);
        assert!(hl.pump_until(app, Duration::from_secs(60), |a| state_of(a, id)
            == Some(State::Inflight)));
        latencies.push(t.elapsed());
    }
    latencies.sort();
    for (id, _) in ids.iter().take(9) {
        mv(id, State::Inflight, State::Queued);
    }
    assert!(hl.pump_until(app, Duration::from_secs(60), |a| {
        ids.iter().take(9).all(|(id, _)| state_of(a, id) == Some(State::Queued))
    }));
    // A thousand moves at once.
    let reads0 = hl.activity().reads.load(Ordering::SeqCst);
    let scans0 = hl.activity().scans.load(Ordering::SeqCst);
    let inflight0 = app.counts.inflight;
    let t = Instant::now();
    for (id, _) in &ids {
        mv(id, State::Queued, State::Inflight);
    }
    let n = ids.len() as u64;
    assert!(hl.pump_until(app, Duration::from_secs(600), |a| a.counts.inflight == inflight0 + n));
    let shown_all = t.elapsed();
    let reads = hl.activity().reads.load(Ordering::SeqCst) - reads0;
    let rescans = hl.activity().scans.load(Ordering::SeqCst) - scans0;
    for (id, _) in &ids {
        mv(id, State::Inflight, State::Queued);
    }
    assert!(hl.pump_until(app, Duration::from_secs(600), |a| a.counts.inflight == inflight0));
    // Idle: the event loop's work with nothing moving (a frame and a tick
    // every 500 ms, as the real loop does).
    let idle = Duration::from_secs(20);
    let cpu0 = cpu_self();
    let t = Instant::now();
    while t.elapsed() < idle {
        term.draw(|f| render::render(app, f)).unwrap();
        update(app, Event::Tick(Timestamp::now()));
        hl.pump_until(app, Duration::from_millis(500), |_| false);
    }
    let idle_cpu = cpu_self().saturating_sub(cpu0);
    println!(
        "  a move shows after:    {:>8.1} ms (median of 9; min {:.1}, max {:.1})",
        latencies[4].as_secs_f64() * 1000.0,
        latencies[0].as_secs_f64() * 1000.0,
        latencies[8].as_secs_f64() * 1000.0
    );
    println!(
        "  {n} moves at once:     {reads:>8} entries read, {rescans} rescans, all shown after {:.3} s",
        shown_all.as_secs_f64()
    );
    println!(
        "  idle CPU:              {:>8.3} % of a core ({:.1} ms in {} s, a frame every 500 ms)",
        idle_cpu.as_secs_f64() / idle.as_secs_f64() * 100.0,
        idle_cpu.as_secs_f64() * 1000.0,
        idle.as_secs()
    );
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
    // "Warm cache": one untimed read of every file first, so that neither
    // side of the comparison below pays for the disk and the other not.
    let (warm_wall, _) = timed_list(&root, &["list", "--format", "jsonl", "--fields", TUI_FIELDS]);
    eprintln!("warmed the page cache (a list: {warm_wall:.1?})");

    let rss0 = rss_bytes();
    let start = Instant::now();
    let q = Queue::open(&root).unwrap();
    let mut app = App::new(root.display().to_string(), Timestamp::now(), true);
    update(&mut app, Event::Resize(120, 40));
    let mut hl = Headless::new(q, SignedDuration::from_hours(1), None);
    assert!(hl.watch(&root), "the watch starts");
    let cpu_load0 = cpu_self();
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
    let load_cpu = cpu_self().saturating_sub(cpu_load0);
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
    // A string column, from another order: ranks the interned texts.
    while app.sort != mqctl::tui::app::Column::From {
        update(&mut app, Intent::SortNext);
    }
    let t = Instant::now();
    update(&mut app, Intent::SortNext);
    let sort_text = t.elapsed();
    assert_eq!(app.sort, mqctl::tui::app::Column::To);

    // The same entries read by `list`, with what the table shows, on the
    // same warm page cache.
    let (count_wall, count_cpu) = timed_list(&root, &["list", "--count"]);
    let (list_wall, list_cpu) = timed_list(&root, &["list", "--format", "jsonl", "--fields", TUI_FIELDS]);
    // The two cores and the disk are shared: more loads and lists, one
    // after the other, and the median of the pairs' ratios. The queue
    // (17 GB at 1 M) does not all stay in the page cache, so whichever
    // reads first in a round pays for what was evicted: the list goes
    // first in every second round.
    let rounds: usize = std::env::var("MQCTL_BENCH_LOAD_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    let ratio = |tui: (Duration, Duration), list: (Duration, Duration)| {
        (
            tui.0.as_secs_f64() / list.0.as_secs_f64(),
            tui.1.as_secs_f64() / list.1.as_secs_f64(),
        )
    };
    let mut ratios = vec![ratio(
        (full_load, load_cpu),
        (count_wall + list_wall, count_cpu + list_cpu),
    )];
    for k in 1..rounds {
        let list_first = k % 2 == 1;
        let lists = || {
            let (cw, cc) = timed_list(&root, &["list", "--count"]);
            let (lw, lc) = timed_list(&root, &["list", "--format", "jsonl", "--fields", TUI_FIELDS]);
            (cw, cc, lw, lc)
        };
        let (tui, (cw, cc, lw, lc)) = if list_first {
            let l = lists();
            (load_again(&root), l)
        } else {
            let t = load_again(&root);
            (t, lists())
        };
        eprintln!(
            "round {}{}: TUI load {:.1?} ({:.1?} CPU), list {:.1?} ({:.1?} CPU)",
            k + 1,
            if list_first { " (list first)" } else { "" },
            tui.0,
            tui.1,
            cw + lw,
            cc + lc
        );
        ratios.push(ratio(tui, (cw + lw, cc + lc)));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let wall_ratios: Vec<f64> = ratios.iter().map(|r| r.0).collect();
    let cpu_ratios: Vec<f64> = ratios.iter().map(|r| r.1).collect();

    println!("TUI benchmark: {n} entries, {} threads", rayon::current_num_threads());
    println!("  time to first paint:   {:>8.3} s", first_paint.as_secs_f64());
    println!(
        "  time to full load:     {:>8.3} s wall, {:.3} s CPU",
        full_load.as_secs_f64(),
        load_cpu.as_secs_f64()
    );
    println!(
        "  list --count:          {:>8.3} s wall, {:.3} s CPU",
        count_wall.as_secs_f64(),
        count_cpu.as_secs_f64()
    );
    println!(
        "  list --format jsonl --fields {TUI_FIELDS}: {:.3} s wall, {:.3} s CPU",
        list_wall.as_secs_f64(),
        list_cpu.as_secs_f64()
    );
    println!(
        "  TUI load / (list --count + list): {:.2}x wall (target <= 1.2x), {:.2}x CPU (median of {} rounds; wall {:?}, CPU {:?})",
        median(wall_ratios.clone()),
        median(cpu_ratios.clone()),
        ratios.len(),
        wall_ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>(),
        cpu_ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>(),
    );
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
    live(&root, &mut app, &hl, &mut term);
}
