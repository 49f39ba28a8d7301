//! Running the real `mqctl`: [`Mqctl`] is a command line (arguments,
//! environment, stdin, time limit), [`Run`] what a finished run gave (exit
//! code, stdout, stderr, the summary's counts), [`Spawned`] one still
//! running.

use std::ffi::OsStr;
use std::fmt;
use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{NOW, TestQueue};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_mqctl");

/// How long a run may take, by default, before it counts as hung.
pub const TIMEOUT: Duration = Duration::from_secs(20);

impl TestQueue {
    /// `mqctl ARGS` on this queue, to add to and then run: `MQCTL_QUEUE`
    /// is the root, `MQCTL_NOW` / `COLUMNS` / the time limit are the
    /// queue's ([`TestQueue::now`], [`TestQueue::columns`],
    /// [`TestQueue::timeout`]). A hostile queue's sentinel is checked after
    /// the run.
    pub fn mqctl<I, S>(&self, args: I) -> Mqctl<'_>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut m = Mqctl::new(Some(self), BIN, args);
        m.cmd.env("MQCTL_QUEUE", self.root());
        m.clock(self.now.clone());
        if let Some(c) = self.columns {
            m.cmd.env("COLUMNS", c.to_string());
        }
        m.timeout = self.timeout;
        m
    }

    /// Runs `mqctl ARGS` on this queue to the end (see [`TestQueue::mqctl`]).
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.mqctl(args).run()
    }

    /// `bash -c SCRIPT` with the environment of [`TestQueue::mqctl`] and the
    /// binary in `$MQCTL_BIN`: for pipes and umasks.
    pub fn shell(&self, script: &str) -> Mqctl<'_> {
        let mut m = self.mqctl(["-c", script]).binary("bash").env("MQCTL_BIN", BIN);
        m.args = vec![format!("bash -c {script:?}")];
        m
    }
}

/// `mqctl ARGS` on no queue (`MQCTL_QUEUE` unset), `MQCTL_NOW=`[`NOW`].
pub fn mqctl<I, S>(args: I) -> Mqctl<'static>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut m = Mqctl::new(None, BIN, args);
    m.cmd.env_remove("MQCTL_QUEUE");
    m.clock(Some(NOW.to_string()));
    m
}

/// A command line for the binary, not yet run. Whatever the setup, there
/// is no colour (`NO_COLOR=1`), no inherited `MQCTL_*`, no terminal, and
/// stdin is empty unless given.
pub struct Mqctl<'q> {
    cmd: Command,
    args: Vec<String>,
    stdin: Vec<u8>,
    timeout: Duration,
    queue: Option<&'q TestQueue>,
    close_stdout: bool,
}

impl<'q> Mqctl<'q> {
    fn new<I, S>(queue: Option<&'q TestQueue>, program: &str, args: I) -> Mqctl<'q>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(program);
        cmd.env("NO_COLOR", "1").env_remove("COLUMNS");
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("MQCTL_") {
                cmd.env_remove(k);
            }
        }
        Mqctl {
            cmd,
            args: Vec::new(),
            stdin: Vec::new(),
            timeout: TIMEOUT,
            queue,
            close_stdout: false,
        }
        .args(args)
    }

    fn clock(&mut self, now: Option<String>) {
        match now {
            Some(t) => self.cmd.env("MQCTL_NOW", t),
            None => self.cmd.env_remove("MQCTL_NOW"),
        };
    }

    /// One more argument.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_string_lossy().into_owned());
        self.cmd.arg(a);
        self
    }

    /// More arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// Runs `exe` instead of the binary under test, with the same
    /// arguments and environment (a copy of mqctl elsewhere, a shell).
    pub fn binary(mut self, exe: impl AsRef<OsStr>) -> Self {
        let mut c = Command::new(exe);
        c.args(self.cmd.get_args());
        for (k, v) in self.cmd.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        self.cmd = c;
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    /// `MQCTL_NOW` for this run (`+2h` and the like are from the machine's clock).
    pub fn now(mut self, t: impl Into<String>) -> Self {
        self.clock(Some(t.into()));
        self
    }

    /// This run uses the machine's clock (no `MQCTL_NOW`).
    pub fn real_clock(mut self) -> Self {
        self.clock(None);
        self
    }

    /// What the run reads on stdin (then end of file).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = bytes.into();
        self
    }

    /// How long the run may take before it counts as hung and is killed.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Runs as this user and group (we must be root).
    pub fn user(mut self, uid: u32, gid: u32) -> Self {
        use std::os::unix::process::CommandExt;
        self.cmd.uid(uid).gid(gid);
        self
    }

    /// Closes stdout at once, as `| head -0` does: mqctl writes into a pipe
    /// nobody reads.
    pub fn close_stdout(mut self) -> Self {
        self.close_stdout = true;
        self
    }

    /// Runs to the end. Panics when it hangs past the time limit (it is
    /// killed) or dies by a signal, and, on a hostile queue, when the
    /// sentinel changed.
    pub fn run(self) -> Run {
        let Mqctl {
            mut cmd,
            args,
            stdin,
            timeout,
            queue,
            close_stdout,
        } = self;
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting mqctl {args:?}: {e}"));
        let mut input = child.stdin.take().unwrap();
        // It may exit without reading everything: a closed pipe is fine.
        let writer = thread::spawn(move || drop(input.write_all(&stdin)));
        let stdout = child.stdout.take().unwrap();
        let stdout = if close_stdout {
            drop(stdout);
            None
        } else {
            Some(read_all(stdout, None))
        };
        let stderr = read_all(child.stderr.take().unwrap(), None);
        let start = Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                break child.wait().unwrap();
            }
            thread::sleep(Duration::from_millis(2));
        };
        let _ = writer.join();
        let out = Output {
            status,
            stdout: stdout.map(|h| h.join().unwrap()).unwrap_or_default(),
            stderr: stderr.join().unwrap(),
        };
        check_sentinel(queue, &args);
        Run::from_output(args, out)
    }

    /// Starts it with stdout and stderr read in the background; stdin is
    /// closed. No time limit: the test decides when to stop it.
    pub fn spawn(self) -> Spawned<'q> {
        let Mqctl {
            mut cmd, args, queue, ..
        } = self;
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let started = Arc::new(AtomicBool::new(false));
        let stdout = read_all(child.stdout.take().unwrap(), Some(Arc::clone(&started)));
        let stderr = read_all(child.stderr.take().unwrap(), None);
        Spawned {
            child,
            args,
            queue,
            started,
            stdout,
            stderr,
        }
    }

    /// The `std` command, to wire up by hand (no time limit, no check).
    pub fn command(self) -> Command {
        self.cmd
    }
}

/// On a hostile queue, asserts the sentinel is intact after a run.
fn check_sentinel(queue: Option<&TestQueue>, args: &[String]) {
    if let Some(q) = queue {
        q.assert_sentinel_intact(&format!("after mqctl {args:?}"));
    }
}

fn read_all(mut r: impl Read + Send + 'static, first: Option<Arc<AtomicBool>>) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Some(f) = &first {
                        f.store(true, Ordering::SeqCst);
                    }
                    all.extend_from_slice(&buf[..n]);
                }
            }
        }
        all
    })
}

/// A running `mqctl` (see [`Mqctl::spawn`]). Once it has ended, a hostile
/// queue's sentinel is checked as after [`Mqctl::run`].
pub struct Spawned<'q> {
    child: Child,
    args: Vec<String>,
    queue: Option<&'q TestQueue>,
    started: Arc<AtomicBool>,
    stdout: JoinHandle<Vec<u8>>,
    stderr: JoinHandle<Vec<u8>>,
}

impl Spawned<'_> {
    /// Its process id (the process stays ours until waited for).
    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    /// True once it has exited (not reaped: the pid stays ours).
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Waits up to `limit` for its first bytes on stdout (its first batch
    /// of changes is done: it is in the middle of its work); false when it
    /// exited or the time ran out first.
    pub fn wait_started(&mut self, limit: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < limit {
            if self.started.load(Ordering::SeqCst) {
                return true;
            }
            if self.exited() {
                return false;
            }
            thread::sleep(Duration::from_millis(1));
        }
        false
    }

    /// Sends `signal`.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(self.pid(), signal).unwrap();
    }

    /// Waits for the end; panics when it died by a signal.
    pub fn finish(mut self) -> Run {
        let status = self.child.wait().unwrap();
        let out = Output {
            status,
            stdout: self.stdout.join().unwrap(),
            stderr: self.stderr.join().unwrap(),
        };
        check_sentinel(self.queue, &self.args);
        Run::from_output(self.args, out)
    }

    /// Waits for the end, whatever it was (after a kill).
    pub fn wait(mut self) -> ExitStatus {
        let status = self.child.wait().unwrap();
        let _ = self.stdout.join();
        let _ = self.stderr.join();
        check_sentinel(self.queue, &self.args);
        status
    }
}

/// What a finished run gave.
pub struct Run {
    /// The command line, for messages.
    pub args: Vec<String>,
    /// The exit code (a run killed by a signal panics instead).
    pub code: i32,
    pub stdout: Vec<u8>,
    /// stderr as text (invalid UTF-8 replaced).
    pub stderr: String,
}

impl Run {
    pub fn from_output(args: Vec<String>, out: Output) -> Run {
        let code = out.status.code().unwrap_or_else(|| {
            panic!(
                "mqctl {args:?} did not exit (hung past its time limit and was killed, or died by a signal: {:?})\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
        Run {
            args,
            code,
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing everything when it is another.
    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(self.code, code, "mqctl exited {} (wanted {code}): {self:?}", self.code);
        self
    }

    /// `expect(0)`.
    #[track_caller]
    pub fn success(self) -> Run {
        self.expect(0)
    }

    /// stdout as text; panics when it is not UTF-8.
    #[track_caller]
    pub fn out(&self) -> &str {
        std::str::from_utf8(&self.stdout).unwrap_or_else(|e| panic!("{:?}: stdout is not UTF-8: {e}", self.args))
    }

    /// The lines of stdout.
    pub fn lines(&self) -> Vec<&str> {
        self.out().lines().collect()
    }

    /// The lines of stdout, sorted (for output in no particular order).
    pub fn sorted_lines(&self) -> Vec<String> {
        let mut v: Vec<String> = self.out().lines().map(str::to_string).collect();
        v.sort();
        v
    }

    /// stdout as one JSON document.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("{:?}: stdout is not JSON ({e}):\n{}", self.args, self.out()))
    }

    /// stdout as JSON lines.
    #[track_caller]
    pub fn jsonl(&self) -> Vec<Value> {
        self.lines()
            .into_iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{:?}: bad JSON line {l:?}: {e}", self.args)))
            .collect()
    }

    /// The summary line on stderr (the last one with ` vanished`).
    #[track_caller]
    pub fn summary(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| l.contains(" vanished"))
            .unwrap_or_else(|| panic!("no summary line in stderr: {self:?}"))
    }

    /// The summary's counts, see [`parse_summary`].
    #[track_caller]
    pub fn counts(&self) -> Counts {
        parse_summary(self.summary())
    }
}

impl fmt::Debug for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mqctl {:?}: exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.args,
            self.code,
            String::from_utf8_lossy(&self.stdout),
            self.stderr
        )
    }
}

/// The counts of a change's summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub done: u64,
    pub vanished: u64,
    pub skipped: u64,
    pub failed: u64,
}

/// Parses `[dry run, nothing changed: ]N <verb>, N vanished[ (…)][, N
/// skipped], N failed[ (interrupted)]`.
fn parse_summary(line: &str) -> Counts {
    let line = line.strip_prefix("dry run, nothing changed: ").unwrap_or(line);
    let num = |part: &str| -> u64 {
        part.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("summary part {part:?} of {line:?} has no count"))
    };
    let mut c = Counts::default();
    for (i, part) in line.split(", ").enumerate() {
        let part = part.trim();
        if i == 0 {
            c.done = num(part);
        } else if part.contains("vanished") {
            c.vanished = num(part);
        } else if part.contains("skipped") {
            c.skipped = num(part);
        } else if part.contains("failed") {
            c.failed = num(part);
        }
    }
    c
}

/// Runs `m` with stdout to the file `out` and returns (exit code, peak RSS
/// of that child in KiB). The peak comes from `wait4`'s rusage of that one
/// child, so other tests' children do not count. A run past two minutes is
/// killed and fails the test.
pub fn measure(m: Mqctl<'_>, out: &std::path::Path) -> (i32, i64) {
    let child = m
        .command()
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    // A watchdog: a hang fails the test instead of blocking it.
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    thread::spawn(move || {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(120) {
            if flag.load(Ordering::SeqCst) {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: plain kill(2) of our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, with valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    done.store(true, Ordering::SeqCst);
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    std::mem::forget(child);
    assert!(libc::WIFEXITED(status), "mqctl was killed (hung?)");
    (libc::WEXITSTATUS(status), ru.ru_maxrss)
}
