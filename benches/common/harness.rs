//! Timing two contenders against each other, and peak memory of one command.
//!
//! A `Pair` is mqctl against a baseline doing the same job, with the ratio
//! mqctl must stay under. Each contender times itself (so a contender can
//! measure something other than wall time around a whole process, such as a
//! TUI's first paint) and may have an untimed `prepare` step run before every
//! timed run (so a destructive command, like a drop, can get its queue back).

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub type BenchResult<T> = Result<T, String>;

type Step = Box<dyn FnMut() -> BenchResult<()>>;
type Timed = Box<dyn FnMut() -> BenchResult<Sample>>;

/// One timed run: wall time, and the CPU time (user + system) it used when
/// known. CPU time does not depend on how busy the machine is, so it tells
/// whether a slow wall time was the code or the neighbours.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub wall: Duration,
    pub cpu: Option<Duration>,
}

/// One side of a comparison.
pub struct Contender {
    pub name: String,
    prepare: Option<Step>,
    run: Timed,
}

impl Contender {
    /// Runs the command `make` builds, stdout to /dev/null, and times it from
    /// spawn to exit; its CPU time is the child's (and its waited-for
    /// children's) rusage. A non-zero exit fails the benchmark.
    pub fn command(name: impl Into<String>, make: impl FnMut() -> Command + 'static) -> Contender {
        let mut make = make;
        Contender {
            name: name.into(),
            prepare: None,
            run: Box::new(move || {
                let (wall, usage) = run_child(make())?;
                Ok(Sample {
                    wall,
                    cpu: Some(cpu_time(&usage)),
                })
            }),
        }
    }

    /// Times a function run on this thread (CPU time: this thread's).
    pub fn function(name: impl Into<String>, f: impl FnMut() -> BenchResult<()> + 'static) -> Contender {
        let mut f = f;
        Contender {
            name: name.into(),
            prepare: None,
            run: Box::new(move || {
                let cpu = thread_cpu()?;
                let start = Instant::now();
                f()?;
                let wall = start.elapsed();
                Ok(Sample {
                    wall,
                    cpu: Some(thread_cpu()?.saturating_sub(cpu)),
                })
            }),
        }
    }

    /// A contender that measures itself (e.g. time to first paint).
    #[allow(dead_code)]
    pub fn measured(name: impl Into<String>, f: impl FnMut() -> BenchResult<Sample> + 'static) -> Contender {
        Contender {
            name: name.into(),
            prepare: None,
            run: Box::new(f),
        }
    }

    /// Something to do, untimed, before each run (warm-up included).
    #[allow(dead_code)]
    pub fn prepare(mut self, f: impl FnMut() -> BenchResult<()> + 'static) -> Contender {
        self.prepare = Some(Box::new(f));
        self
    }

    fn once(&mut self) -> BenchResult<Sample> {
        if let Some(p) = &mut self.prepare {
            p()?;
        }
        (self.run)()
    }
}

/// mqctl against a baseline: mqctl's median wall time must be at most
/// `max_ratio` times the baseline's, and its median CPU time at most
/// `max_cpu_ratio` times the baseline's (`f64::INFINITY`: not required).
pub struct Pair {
    pub title: String,
    pub ours: Contender,
    pub baseline: Contender,
    pub max_ratio: f64,
    pub max_cpu_ratio: f64,
}

/// What a pair measured.
pub struct Outcome {
    pub title: String,
    pub ours: Stats,
    pub baseline: Stats,
    pub max_ratio: f64,
    pub max_cpu_ratio: f64,
}

impl Outcome {
    pub fn ratio(&self) -> f64 {
        self.ours.median.as_secs_f64() / self.baseline.median.as_secs_f64()
    }
    /// Median CPU time against the baseline's, when both are known.
    pub fn cpu_ratio(&self) -> Option<f64> {
        Some(self.ours.cpu?.as_secs_f64() / self.baseline.cpu?.as_secs_f64())
    }
    fn wall_pass(&self) -> bool {
        self.ratio() <= self.max_ratio
    }
    fn cpu_pass(&self) -> bool {
        self.max_cpu_ratio.is_infinite() || self.cpu_ratio().is_some_and(|r| r <= self.max_cpu_ratio)
    }
    pub fn pass(&self) -> bool {
        self.wall_pass() && self.cpu_pass()
    }
    /// `≤ 0.60× PASS`, or `recorded` when no ratio is required; a CPU
    /// requirement follows as `cpu ≤ 0.90× PASS`.
    pub fn requirement(&self) -> String {
        let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
        let wall = if self.max_ratio.is_infinite() {
            "recorded".to_string()
        } else {
            format!("≤ {:.2}× {}", self.max_ratio, verdict(self.wall_pass()))
        };
        if self.max_cpu_ratio.is_infinite() {
            return wall;
        }
        format!("{wall}, cpu ≤ {:.2}× {}", self.max_cpu_ratio, verdict(self.cpu_pass()))
    }
}

pub struct Stats {
    pub name: String,
    pub median: Duration,
    pub min: Duration,
    pub max: Duration,
    /// Median CPU time, when every run knew it.
    pub cpu: Option<Duration>,
}

impl Stats {
    fn new(name: String, runs: &[Sample]) -> Stats {
        let walls: Vec<Duration> = runs.iter().map(|s| s.wall).collect();
        let cpus: Option<Vec<Duration>> = runs.iter().map(|s| s.cpu).collect();
        Stats {
            name,
            median: median(walls.clone()),
            min: walls.iter().copied().min().unwrap_or_default(),
            max: walls.iter().copied().max().unwrap_or_default(),
            cpu: cpus.map(median),
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    let n = v.len();
    match n {
        0 => Duration::ZERO,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

impl Pair {
    /// One untimed warm-up run of each (fills the page cache, loads the
    /// binary), then `runs` timed runs interleaved A B A B … so that machine
    /// noise falls on both sides alike.
    pub fn run(mut self, runs: usize) -> BenchResult<Outcome> {
        eprintln!("== {}", self.title);
        let warm_a = self.ours.once()?;
        let warm_b = self.baseline.once()?;
        eprintln!(
            "   warm-up: {} {}, {} {}",
            self.ours.name,
            ms(warm_a.wall),
            self.baseline.name,
            ms(warm_b.wall)
        );
        let (mut a, mut b) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
        for i in 0..runs {
            a.push(self.ours.once()?);
            b.push(self.baseline.once()?);
            eprintln!(
                "   run {}/{runs}: {} {}, {} {}",
                i + 1,
                self.ours.name,
                ms(a[i].wall),
                self.baseline.name,
                ms(b[i].wall)
            );
        }
        Ok(Outcome {
            title: self.title,
            ours: Stats::new(self.ours.name, &a),
            baseline: Stats::new(self.baseline.name, &b),
            max_ratio: self.max_ratio,
            max_cpu_ratio: self.max_cpu_ratio,
        })
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

pub fn dev_null() -> BenchResult<File> {
    File::create("/dev/null").map_err(|e| format!("opening /dev/null: {e}"))
}

/// Prints the figures table; returns true when every pair passed.
pub fn print_table(outcomes: &[Outcome]) -> bool {
    let cpu = |s: &Stats| s.cpu.map_or_else(|| "-".into(), ms);
    let mut rows: Vec<[String; 8]> = Vec::new();
    for o in outcomes {
        rows.push([
            o.ours.name.clone(),
            ms(o.ours.median),
            ms(o.ours.min),
            ms(o.ours.max),
            format!("{:.2}×", o.ratio()),
            o.requirement(),
            cpu(&o.ours),
            o.cpu_ratio().map_or_else(|| "-".into(), |r| format!("{r:.2}×")),
        ]);
        rows.push([
            o.baseline.name.clone(),
            ms(o.baseline.median),
            ms(o.baseline.min),
            ms(o.baseline.max),
            "1.00×".into(),
            "baseline".into(),
            cpu(&o.baseline),
            "1.00×".into(),
        ]);
    }
    let head = [
        "contender",
        "median",
        "min",
        "max",
        "ratio",
        "required",
        "cpu (median)",
        "cpu ratio",
    ];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([head[i].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..head.len()).map(width).collect();
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i == 0 || i == 5 {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
            s.push_str("  ");
        }
        s.trim_end().to_string()
    };
    println!("{}", line(&head.map(String::from)));
    for (i, r) in rows.iter().enumerate() {
        if i % 2 == 0 && i > 0 {
            println!();
        }
        println!("{}", line(r));
    }
    outcomes.iter().all(Outcome::pass)
}

/// Peak memory of one command, measured by a small helper process.
///
/// Why a helper: a child's `ru_maxrss` is not only its own. Linux copies the
/// parent's peak RSS into the child when the child execs (`exec_mmap` keeps
/// the larger of the old image's peak and the new one's, and with
/// `posix_spawn`/`vfork` the old image is the parent's), so spawning mqctl
/// straight from this process, which holds the generated queue's ids, reported
/// this process's 12 MiB instead of mqctl's 6 MiB. So this process re-runs
/// its own binary as a helper (`MQCTL_BENCH_RSS_HELPER`), small and fresh,
/// which spawns the command, reaps it with `wait4` and prints the rusage.
/// The helper's own peak is then the floor of what can be measured.
pub struct Rss {
    /// `wait4(pid)`'s rusage in the helper: the command's peak (threads
    /// included), or the helper's peak if that was larger.
    pub own_kib: i64,
    /// `getrusage(RUSAGE_CHILDREN)` in the helper afterwards: the largest
    /// peak among the children it waited for, and it had only this one, so
    /// it must equal `own_kib` (a cross-check).
    pub children_kib: i64,
    /// The helper's own peak: figures at or below it mean "at most this".
    pub floor_kib: i64,
}

const RSS_HELPER: &str = "MQCTL_BENCH_RSS_HELPER";

/// Runs `cmd` (stdout to /dev/null) through the helper and reports its max
/// RSS. `cmd`'s program, arguments and environment changes are passed on.
pub fn max_rss(cmd: Command) -> BenchResult<Rss> {
    let exe = std::env::current_exe().map_err(|e| format!("finding the bench binary: {e}"))?;
    let mut helper = Command::new(exe);
    helper
        .env(RSS_HELPER, "1")
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => helper.env(k, v),
            None => helper.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        helper.current_dir(dir);
    }
    let out = helper.output().map_err(|e| format!("running {helper:?}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let nums: Vec<i64> = text.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    match (out.status.success(), nums.as_slice()) {
        (true, &[own_kib, children_kib, floor_kib]) => Ok(Rss {
            own_kib,
            children_kib,
            floor_kib,
        }),
        _ => Err(format!(
            "measuring the memory of {cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// When this process is the memory helper (see `Rss`), runs the command
/// after `--`, prints `own children floor` in KiB and returns the exit code.
/// `main` calls this first.
pub fn rss_helper() -> Option<std::process::ExitCode> {
    std::env::var_os(RSS_HELPER)?;
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip_while(|a| a != "--").skip(1).collect();
    let Some((program, rest)) = args.split_first() else {
        eprintln!("{RSS_HELPER}: no command after --");
        return Some(std::process::ExitCode::FAILURE);
    };
    let mut cmd = Command::new(program);
    cmd.args(rest).env_remove(RSS_HELPER);
    let result =
        run_child(cmd).and_then(|(_, own)| Ok((own, rusage(libc::RUSAGE_CHILDREN)?, rusage(libc::RUSAGE_SELF)?)));
    match result {
        Ok((own, all, me)) => {
            // On Linux ru_maxrss is in KiB.
            println!("{} {} {}", own.ru_maxrss, all.ru_maxrss, me.ru_maxrss);
            Some(std::process::ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Some(std::process::ExitCode::FAILURE)
        }
    }
}

fn rusage(who: libc::c_int) -> BenchResult<libc::rusage> {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut u) } != 0 {
        return Err(format!("getrusage: {}", std::io::Error::last_os_error()));
    }
    Ok(u)
}

/// Runs `cmd` with stdout to /dev/null and returns its wall time (spawn to
/// exit) and its rusage. We reap the child with `wait4` ourselves, because
/// `Child::wait` discards the rusage. A non-zero exit is an error.
fn run_child(mut cmd: Command) -> BenchResult<(Duration, libc::rusage)> {
    cmd.stdout(dev_null()?).stdin(Stdio::null());
    let start = Instant::now();
    let child = cmd.spawn().map_err(|e| format!("running {cmd:?}: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 writes into the zeroed struct we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("wait4({pid}): {err}"));
        }
    }
    let wall = start.elapsed();
    // The child is reaped: dropping `child` only closes our ends of its pipes.
    drop(child);
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!("{cmd:?} failed (wait status {status:#x})"));
    }
    Ok((wall, usage))
}

fn cpu_time(u: &libc::rusage) -> Duration {
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// CPU time of the calling thread so far.
fn thread_cpu() -> BenchResult<Duration> {
    rusage(libc::RUSAGE_THREAD).map(|u| cpu_time(&u))
}

/// The mqctl binary to measure: the one cargo built for this bench, or
/// `MQCTL_BENCH_BIN` (to compare two builds on the same queue).
pub fn mqctl_bin() -> std::ffi::OsString {
    std::env::var_os("MQCTL_BENCH_BIN")
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_mqctl").into())
}

/// `mqctl --queue Q --color=never ARGS…`.
pub fn mqctl(queue: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(mqctl_bin());
    c.arg("--queue").arg(queue).arg("--color=never").args(args);
    c.env_remove("MQCTL_NOW");
    c
}
