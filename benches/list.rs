//! `cargo bench --bench list`: mqctl's read path against plain baselines on a
//! queue of 100,000 entries built for the run. BENCHMARKS.md has the method
//! and the figures. `MQCTL_BENCH_ENTRIES=N` changes the size,
//! `MQCTL_BENCH_RUNS=N` (at least 5) the timed runs per contender, and
//! `MQCTL_BENCH_BIN=PATH` measures another mqctl build than cargo's.
//!
//! `MQCTL_BENCH_KEEP=1` only builds the queue, prints where it is and
//! keeps it (to profile a command on it by hand); nothing is timed.
//!
//! `MQCTL_BENCH_WRITER_MODEL=QUEUE` only runs the model of the writer's
//! start-up scan on an existing queue and prints what it counted (to trace
//! it with strace or callgrind).
//!
//! `MQCTL_BENCH_NO_CHANGES=1` skips the drop and reschedule pairs (each of
//! their runs copies the whole queue first); `MQCTL_BENCH_ONLY_CHANGES=1`
//! runs only those (to compare two builds' changes with `MQCTL_BENCH_BIN`). `MQCTL_BENCH_COLD=1` adds two
//! pairs on a cold page cache (root only: each run starts with
//! `sync; echo 3 > /proc/sys/vm/drop_caches`).
//!
//! To add a comparison, write a function returning a `Pair` and put it in
//! `pairs()`; a destructive one gives its contenders a `prepare` step.

mod common;

use std::collections::HashMap;
use std::io::BufWriter;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

use common::fixture::Fixture;
use common::harness::{self, BenchResult, Contender, Pair, dev_null, max_rss, mqctl};
use common::{naive, writer};
use serde_json::Value;

/// Every field but the ones read from the message headers.
const FIELDS: &str = "id,state,mail,dest,from,to,at,last_attempt,size,age";

fn pairs(fx: &Fixture) -> Vec<Pair> {
    vec![list_jsonl(fx), list_vs_writer(fx), list_count(fx)]
}

/// Reads from the disk: each run starts with an empty page cache, so the
/// folders and files of every entry come from the disk. mqctl against the
/// naive reader, and against itself with one reader thread a core
/// (`RAYON_NUM_THREADS=2` on this machine: what it did before the scan got
/// its own pool of readers).
fn cold_pairs(fx: &Fixture) -> Vec<Pair> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (root, expected) = (fx.root(), fx.entries);
    let (r1, r2, r3) = (root.clone(), root.clone(), root.clone());
    let ours = |r: std::path::PathBuf| {
        Contender::command("mqctl list --format jsonl --fields (10), cold", move || {
            mqctl(&r, &["list", "--format", "jsonl", "--fields", FIELDS])
        })
        .prepare(drop_caches)
    };
    vec![
        Pair {
            title: format!("list --format jsonl, cold page cache, {} entries", fx.entries),
            ours: ours(r1),
            baseline: Contender::function("naive reader, cold", move || naive_list(&root, expected))
                .prepare(drop_caches),
            max_ratio: f64::INFINITY,
            max_cpu_ratio: f64::INFINITY,
        },
        Pair {
            title: format!("list --format jsonl, cold page cache, readers: default or one a core ({cores})"),
            ours: ours(r2),
            baseline: Contender::command(format!("mqctl ... RAYON_NUM_THREADS={cores}, cold"), move || {
                let mut c = mqctl(&r3, &["list", "--format", "jsonl", "--fields", FIELDS]);
                c.env("RAYON_NUM_THREADS", cores.to_string());
                c
            })
            .prepare(drop_caches),
            max_ratio: f64::INFINITY,
            max_cpu_ratio: f64::INFINITY,
        },
    ]
}

fn drop_caches() -> BenchResult<()> {
    nix::unistd::sync();
    std::fs::write("/proc/sys/vm/drop_caches", "3\n")
        .map_err(|e| format!("dropping the page cache (MQCTL_BENCH_COLD needs root): {e}"))
}

/// Changes destroy the queue they run on: each run gets a fresh copy of the
/// fixture (untimed), made with `cp -a`.
fn change_pairs(fx: &Fixture) -> Vec<Pair> {
    vec![drop_all(fx), reschedule_all(fx)]
}

fn fresh_copy(from: &Path, to: &Path) -> BenchResult<()> {
    if to.exists() {
        std::fs::remove_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    }
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .map_err(|e| format!("cp: {e}"))?;
    if !st.success() {
        return Err(format!("cp -a {} {} failed", from.display(), to.display()));
    }
    Ok(())
}

/// A change contender pair: mqctl (with fsyncs, checks and the syslog
/// record) against the naive single-threaded code, each on a fresh copy.
fn change_pair(
    fx: &Fixture,
    title: &str,
    args: &'static [&'static str],
    naive_name: &str,
    naive: fn(&Path) -> BenchResult<usize>,
    max_ratio: f64,
) -> Pair {
    let pristine = fx.root();
    let work = pristine.with_file_name("work");
    let (p1, w1, p2, w2, w3) = (pristine.clone(), work.clone(), pristine, work.clone(), work.clone());
    Pair {
        title: format!("{title}, {} entries", fx.entries),
        ours: Contender::command(format!("mqctl {}", args.join(" ")), move || mqctl(&w3, args))
            .prepare(move || fresh_copy(&p1, &w1)),
        baseline: Contender::function(naive_name.to_string(), move || naive(&work).map(|_| ()))
            .prepare(move || fresh_copy(&p2, &w2)),
        max_ratio,
        max_cpu_ratio: f64::INFINITY,
    }
}

fn drop_all(fx: &Fixture) -> Pair {
    change_pair(
        fx,
        "drop --all",
        &["--quiet", "drop", "--all", "--yes"],
        "naive drop (rename + cleanup, 1 thread, no fsync)",
        naive::drop_all,
        3.0,
    )
}

/// No ratio is required for reschedule: the figure is recorded.
fn reschedule_all(fx: &Fixture) -> Pair {
    change_pair(
        fx,
        "reschedule --all --at now",
        &["--quiet", "reschedule", "--all", "--at", "now", "--yes"],
        "naive reschedule (Value, temp + rename, no fsync)",
        |root| naive::reschedule_all(root, "2026-11-23T00:00:00Z"),
        f64::INFINITY,
    )
}

fn list_jsonl(fx: &Fixture) -> Pair {
    let (root, expected) = (fx.root(), fx.entries);
    let r = root.clone();
    Pair {
        title: format!("list --format jsonl, {} entries", fx.entries),
        ours: Contender::command("mqctl list --format jsonl --fields (10)", move || {
            mqctl(&r, &["list", "--format", "jsonl", "--fields", FIELDS])
        }),
        baseline: Contender::function("naive reader (1 thread, serde_json::Value)", move || {
            naive_list(&root, expected)
        }),
        // Issue 13: wall time ≤ 0.5× with both cores free, CPU time ≤ 0.9×.
        max_ratio: 0.5,
        max_cpu_ratio: 0.9,
    }
}

/// Every field (the message headers too) against the model of the
/// writer's start-up scan (`common::writer`): at least 5× faster.
fn list_vs_writer(fx: &Fixture) -> Pair {
    let (root, expected) = (fx.root(), fx.entries);
    let r = root.clone();
    Pair {
        title: format!(
            "list --format jsonl (every field) vs the writer's start-up scan, {} entries",
            fx.entries
        ),
        ours: Contender::command("mqctl list --format jsonl", move || {
            mqctl(&r, &["list", "--format", "jsonl"])
        }),
        baseline: Contender::function("writer's list_queue (model: walkdir, from_reader)", move || {
            let n = writer::list_queue(&root, |_| {})?;
            if n != expected {
                return Err(format!("the writer model saw {n} entries, expected {expected}"));
            }
            Ok(())
        }),
        max_ratio: 0.2,
        max_cpu_ratio: f64::INFINITY,
    }
}

/// The naive reader, output to /dev/null; it must see `expected` entries.
fn naive_list(root: &Path, expected: usize) -> BenchResult<()> {
    let mut out = BufWriter::new(dev_null()?);
    let n = naive::list(root, &mut out)?;
    if n != expected {
        return Err(format!("the naive reader saw {n} entries, expected {expected}"));
    }
    Ok(())
}

fn list_count(fx: &Fixture) -> Pair {
    let (r, root) = (fx.root(), fx.root());
    Pair {
        title: format!("list --count, {} entries", fx.entries),
        ours: Contender::command("mqctl list --count", move || mqctl(&r, &["list", "--count"])),
        baseline: Contender::command("find queue inflight -type l | wc -l", move || find_count(&root)),
        max_ratio: 4.0,
        max_cpu_ratio: f64::INFINITY,
    }
}

fn find_count(root: &Path) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg("find queue inflight -type l | wc -l").current_dir(root);
    c
}

fn main() -> ExitCode {
    if let Some(code) = harness::rss_helper() {
        return code;
    }
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            println!("\nFAIL: at least one requirement is not met");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("bench list: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> BenchResult<bool> {
    if let Some(q) = std::env::var_os("MQCTL_BENCH_WRITER_MODEL") {
        let mut read = 0;
        let n = writer::list_queue(Path::new(&q), |_| read += 1)?;
        println!("{n} entries, {read} schedules read");
        return Ok(true);
    }
    let entries = env_number("MQCTL_BENCH_ENTRIES", 100_000)?;
    let runs = env_number("MQCTL_BENCH_RUNS", 9)?;
    if entries == 0 || runs < 5 {
        return Err("MQCTL_BENCH_ENTRIES must be at least 1 and MQCTL_BENCH_RUNS at least 5".into());
    }
    eprintln!("mqctl binary: {}", harness::mqctl_bin().to_string_lossy());
    let load_before = load();
    let start = Instant::now();
    let fx = Fixture::build(entries, 0x6d71_6374)?;
    eprintln!(
        "built {} entries ({} mails, {} retried, {} inflight, {} in cleanup, {:.0} MB of messages) in {:.1} s under {}",
        fx.entries,
        fx.mails,
        fx.retried,
        fx.inflight,
        fx.cleanup,
        fx.bytes as f64 / 1e6,
        start.elapsed().as_secs_f64(),
        fx.root().display()
    );

    if std::env::var_os("MQCTL_BENCH_KEEP").is_some() {
        let root = fx.root();
        fx.keep();
        println!("{}", root.display());
        return Ok(true);
    }

    // Peak memory, through a fresh helper process (see harness::Rss).
    let root = fx.root();
    let rss = [
        (
            "mqctl list --format jsonl",
            max_rss(mqctl(&root, &["list", "--format", "jsonl"]))?,
        ),
        (
            "mqctl list --format jsonl --fields (as timed)",
            max_rss(mqctl(&root, &["list", "--format", "jsonl", "--fields", FIELDS]))?,
        ),
    ];

    check_outputs(&fx)?;

    let mut outcomes = Vec::new();
    let only_changes = std::env::var_os("MQCTL_BENCH_ONLY_CHANGES").is_some();
    for pair in pairs(&fx).into_iter().filter(|_| !only_changes) {
        outcomes.push(pair.run(runs)?);
    }
    // A cold read takes the disk's time: 3 runs each after the warm-up.
    if std::env::var_os("MQCTL_BENCH_COLD").is_some() {
        for pair in cold_pairs(&fx) {
            outcomes.push(pair.run(3)?);
        }
    }
    // Each change run copies the whole queue first: 5 runs are enough.
    if std::env::var_os("MQCTL_BENCH_NO_CHANGES").is_none() {
        for pair in change_pairs(&fx) {
            outcomes.push(pair.run(5)?);
        }
    }

    println!(
        "\n{} entries, median of {runs} interleaved runs after one warm-up run each\n",
        fx.entries
    );
    let pass = harness::print_table(&outcomes);
    println!("\npeak memory (max RSS: wait4 on the command in a helper process; see harness::Rss)");
    for (what, r) in &rss {
        println!(
            "  {what}: {}  [RUSAGE_CHILDREN {}; helper's own peak {}, the floor]",
            mib(r.own_kib),
            mib(r.children_kib),
            mib(r.floor_kib)
        );
        if r.own_kib != r.children_kib {
            eprintln!("note: wait4 and RUSAGE_CHILDREN disagree for {what}; trust wait4");
        }
    }
    println!("\nmachine load before: {load_before}\nmachine load after:  {}", load());
    fx.remove()?;
    println!();
    for o in &outcomes {
        println!("{}: {:.2}× ({})", o.title, o.ratio(), o.requirement());
    }
    Ok(pass)
}

/// Both sides of each pair must do the same job: the same entries with the
/// same values (age may differ by the seconds between the two runs), and
/// the same counts. A fast wrong answer is not a result.
fn check_outputs(fx: &Fixture) -> BenchResult<()> {
    let root = fx.root();
    let mut mine = Vec::new();
    let n = naive::list(&root, &mut mine)?;
    let ours = output(mqctl(&root, &["list", "--format", "jsonl", "--fields", FIELDS]))?;
    let (a, b) = (by_id(&ours)?, by_id(&mine)?);
    if n != fx.entries || a.len() != fx.entries || b.len() != fx.entries {
        return Err(format!(
            "expected {} entries: mqctl printed {}, the naive reader {n}",
            fx.entries,
            a.len()
        ));
    }
    for (id, x) in &a {
        let y = b.get(id).ok_or_else(|| format!("{id}: printed by mqctl only"))?;
        for f in FIELDS.split(',') {
            let same = match f {
                "age" => matches!((x[f].as_i64(), y[f].as_i64()), (Some(p), Some(q)) if (p - q).abs() <= 120),
                _ => x[f] == y[f],
            };
            if !same {
                return Err(format!(
                    "{id}: {f} is {} for mqctl, {} for the naive reader",
                    x[f], y[f]
                ));
            }
        }
    }
    // The writer model reads the schedule of every entry but cleanup/'s.
    let mut at = HashMap::new();
    let n = writer::list_queue(&root, |s| {
        at.insert(s.id, s.at);
    })?;
    if n != fx.entries || at.len() != fx.entries - fx.cleanup {
        return Err(format!(
            "the writer model found {n} entries (expected {}) and read {} schedules (expected {})",
            fx.entries,
            at.len(),
            fx.entries - fx.cleanup
        ));
    }
    for (id, t) in &at {
        let x = &a
            .get(id)
            .ok_or_else(|| format!("{id}: seen by the writer model only"))?["at"];
        if x.as_str() != Some(mqctl::queue::parse::format_timestamp(*t).as_str()) {
            return Err(format!("{id}: at is {x} for mqctl, {t} for the writer model"));
        }
    }
    let count = output(mqctl(&root, &["list", "--count"]))?;
    let found = output(find_count(&root))?;
    let (count, found) = (count.trim(), found.trim());
    if count != fx.entries.to_string() || found != (fx.entries - fx.cleanup).to_string() {
        return Err(format!(
            "counts: mqctl {count} (expected {}), find {found} (expected {}, no cleanup/)",
            fx.entries,
            fx.entries - fx.cleanup
        ));
    }
    eprintln!(
        "outputs agree: {} entries, same fields and values (the writer model: same ids and times)",
        fx.entries
    );
    Ok(())
}

fn output(mut cmd: Command) -> BenchResult<String> {
    let out = cmd.output().map_err(|e| format!("running {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("{cmd:?}: output is not UTF-8: {e}"))
}

fn by_id(jsonl: &(impl AsRef<[u8]> + ?Sized)) -> BenchResult<HashMap<String, Value>> {
    let mut map = HashMap::new();
    for line in jsonl.as_ref().split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_slice(line).map_err(|e| format!("bad JSON line: {e}"))?;
        let id = v["id"].as_str().ok_or("a line without an id")?.to_string();
        if map.insert(id.clone(), v).is_some() {
            return Err(format!("{id} printed twice"));
        }
    }
    Ok(map)
}

/// The load average and CPU pressure (the share of time some runnable task
/// waited for a CPU), to tell a noisy run from a slow one.
fn load() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let loadavg: Vec<String> = read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .map(String::from)
        .collect();
    let pressure = read("/proc/pressure/cpu")
        .lines()
        .next()
        .and_then(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("avg60="))
                .map(|w| w[6..].to_string())
        })
        .map_or_else(String::new, |p| format!(", CPU pressure (some, 60 s) {p}%"));
    format!("load average {}{pressure}", loadavg.join(" "))
}

fn mib(kib: i64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn env_number(name: &str, default: usize) -> BenchResult<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .replace('_', "")
            .parse()
            .map_err(|_| format!("{name}={v:?} is not a number")),
        Err(_) => Ok(default),
    }
}
