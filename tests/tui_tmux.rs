//! The real binary in a real terminal (tmux): in the TUI filter, mark, hold,
//! confirm, quit, then look at the folders; on the command line, the
//! confirmation prompt of a change. Skipped, with a reason, without tmux.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

struct Tmux {
    socket: String,
}

impl Tmux {
    /// A tmux server of our own (`name` + pid) with one session running
    /// `cmd` in a terminal of `cols` × `rows`.
    fn start(name: &str, cols: u16, rows: u16, cmd: &str) -> Tmux {
        Tmux::start_in(name, cols, rows, None, cmd)
    }

    /// `start`, with `cmd` started in the folder `dir` when one is given.
    fn start_in(name: &str, cols: u16, rows: u16, dir: Option<&Path>, cmd: &str) -> Tmux {
        let t = Tmux {
            socket: format!("mqctl-{name}-{}", std::process::id()),
        };
        let (x, y) = (cols.to_string(), rows.to_string());
        let mut args = vec!["new-session", "-d", "-s", "t", "-x", &x, "-y", &y];
        if let Some(d) = dir {
            args.extend(["-c", d.to_str().expect("a UTF-8 folder")]);
        }
        args.push(cmd);
        let started = t.run(&args);
        assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
        t
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "t"];
        a.extend_from_slice(keys);
        assert!(self.run(&a).status.success());
    }

    fn text(&self, s: &str) {
        assert!(self.run(&["send-keys", "-t", "t", "-l", "--", s]).status.success());
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    /// The whole pane, scrolled-off lines included, wrapped lines joined.
    fn history(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-J", "-S", "-", "-t", "t"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `what`; returns the screen.
    fn wait_for(&self, what: &str) -> String {
        self.wait_for_within(what, Duration::from_secs(30))
    }

    fn wait_for_within(&self, what: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            let s = self.screen();
            if s.contains(what) {
                return s;
            }
            assert!(Instant::now() < end, "timed out waiting for {what:?}; screen:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// Sends SIGTERM to the process whose pid is in the file `pidfile`.
fn sigterm_pid_in(pidfile: &Path) {
    let pid = std::fs::read_to_string(pidfile).unwrap();
    assert!(
        Command::new("kill")
            .args(["-TERM", pid.trim()])
            .status()
            .unwrap()
            .success()
    );
}

/// True (after saying why) when tmux is missing: the test is skipped.
fn no_tmux() -> bool {
    let missing = Command::new("tmux").arg("-V").output().is_err();
    if missing {
        eprintln!("skipped: tmux is not installed (apt-get install tmux)");
    }
    missing
}

/// A `mqctl demo` queue of `mails` mails, built without a terminal; runs
/// on it use the machine's clock, as the TUI in tmux does.
fn demo_queue(mails: u32) -> TestQueue {
    let q = TestQueue::unbuilt().real_clock();
    let r = mqctl(["demo"])
        .arg(q.root())
        .args(["--mails", &mails.to_string()])
        .real_clock()
        .run();
    assert_eq!(r.code, 0, "demo without a terminal prints its report: {r:?}");
    assert!(r.out().contains("Built a sample queue"), "{r:?}");
    q
}

#[test]
fn filter_mark_hold_confirm_quit_moves_the_entries_to_hold() {
    if no_tmux() {
        return;
    }
    let q = demo_queue(300);

    let sel = ["--domain", "broken-dns.example", "--state", "queue"];
    let to_hold = q.list_count(&sel);
    assert!(to_hold > 1, "the demo has an incident to work on");
    let held_before = count(&q.path("hold"));
    let held_sel = ["--domain", "broken-dns.example", "--state", "hold"];
    let domain_held_before = q.list_count(&held_sel);

    let cmd = format!(
        "env NO_COLOR=1 TERM=xterm-256color MQCTL_QUEUE='{}' '{}' tui; echo EXITED $?; sleep 60",
        q.root().display(),
        BIN
    );
    let t = Tmux::start("test", 120, 40, &cmd);
    let s = t.wait_for("shown");
    assert!(
        s.contains(&q.root().file_name().unwrap().to_string_lossy().to_string()),
        "{s}"
    );
    t.wait_for("read ");

    t.keys(&["/"]);
    t.text("--domain broken-dns.example --state queue");
    t.keys(&["Enter"]);
    let s = t.wait_for(&format!(
        "filter: --domain broken-dns.example --state queue  {to_hold} shown"
    ));
    assert!(s.contains("broken-dns.example"), "{s}");

    t.keys(&["*"]);
    t.wait_for(&format!("{to_hold} marked"));
    t.keys(&["h"]);
    t.wait_for(&format!("Hold {to_hold} entries?"));
    t.keys(&["y"]);
    let s = t.wait_for(&format!("Hold: {to_hold} held, 0 vanished, 0 failed"));
    // It re-read the queue: nothing of the incident is left in queue/.
    let s = if s.contains("0 shown") {
        s
    } else {
        t.wait_for("0 shown")
    };
    assert!(s.contains("nothing matches the filter"), "{s}");

    t.keys(&["q"]);
    t.wait_for("EXITED 0");

    assert_eq!(q.list_count(&sel), 0);
    assert_eq!(count(&q.path("hold")), held_before + to_hold as usize);
    assert_eq!(q.list_count(&held_sel), domain_held_before + to_hold);
}

#[test]
fn sigterm_ends_the_tui_and_gives_the_terminal_back() {
    if no_tmux() {
        return;
    }
    let q = TestQueue::new();
    let pidfile = q.tmp().join("pid");
    let cmd = format!(
        "echo BEFORE; env MQCTL_QUEUE='{}' sh -c 'echo $$ > {}; exec \"$0\" tui' '{}'; echo EXITED $?; stty -a | grep -o -- '-icanon'; sleep 60",
        q.root().display(),
        pidfile.display(),
        BIN
    );
    let t = Tmux::start("term", 100, 30, &cmd);
    let s = t.wait_for("the queue is empty");
    assert!(!s.contains("BEFORE"), "the TUI has the alternate screen: {s}");
    sigterm_pid_in(&pidfile);
    let s = t.wait_for("EXITED 130");
    assert!(s.contains("BEFORE"), "back on the normal screen: {s}");
    assert!(!s.contains("-icanon"), "raw mode was left on: {s}");
}

#[test]
fn demo_on_a_terminal_opens_the_tui_then_prints_its_report() {
    if no_tmux() {
        return;
    }
    let q = TestQueue::unbuilt();
    let cmd = format!(
        "'{}' demo '{}' --mails 40; echo EXITED $?; sleep 60",
        BIN,
        q.root().display()
    );
    let t = Tmux::start("demo", 80, 24, &cmd);
    let s = t.wait_for("shown");
    assert!(s.contains("no filter"), "{s}");
    t.keys(&["q"]);
    let s = t.wait_for("EXITED 0");
    assert!(s.contains("Built a sample queue"), "{s}");
    assert!(count(&q.path("queue")) > 0);
}

#[test]
fn a_change_on_a_terminal_asks_first_and_no_or_ctrl_c_changes_nothing() {
    if no_tmux() {
        return;
    }
    let q = demo_queue(60);
    let sel = ["--state", "queue", "--never-tried"];
    let n = q.list_count(&sel);
    assert!(n > 1, "the demo has never-tried entries");
    let held = count(&q.path("hold"));

    // One terminal per answer: "n", Ctrl-C, then "y".
    for (i, answer, code) in [(0, "n", 1), (1, "C-c", 130), (2, "y", 0)] {
        let cmd = format!(
            "env NO_COLOR=1 MQCTL_QUEUE='{}' '{}' hold {}; echo EXITED $?; sleep 60",
            q.root().display(),
            BIN,
            sel.join(" ")
        );
        let t = Tmux::start(&format!("ask{i}"), 100, 30, &cmd);
        t.wait_for(&format!("Hold {n} entries? [y/N]"));
        match answer {
            "C-c" => t.keys(&["C-c"]),
            a => {
                t.text(a);
                t.keys(&["Enter"]);
            }
        }
        let s = t.wait_for(&format!("EXITED {code}"));
        if answer == "n" {
            assert!(s.contains("aborted; nothing changed"), "{s}");
        }
        if answer == "y" {
            assert!(s.contains(&format!("{n} held, 0 vanished, 0 failed")), "{s}");
            assert_eq!(count(&q.path("hold")), held + n as usize);
        } else {
            assert_eq!(q.list_count(&sel), n, "nothing was held after {answer}");
            assert_eq!(count(&q.path("hold")), held);
        }
    }
}

#[test]
fn undo_on_a_terminal_asks_undo_n_changes_and_no_changes_nothing() {
    if no_tmux() {
        return;
    }
    let q = TestQueue::new();
    let m = q.simple(3, "2026-11-23T10:00:00Z");
    let log = q.tmp().join("mqctl.jsonl");
    q.mqctl(["hold", "--all", "--yes", "--log"]).arg(&log).run().success();
    for (i, answer, code) in [(0, "n", 1), (1, "y", 0)] {
        let cmd = format!(
            "env NO_COLOR=1 MQCTL_QUEUE='{}' '{}' undo --log '{}'; echo EXITED $?; sleep 60",
            q.root().display(),
            BIN,
            log.display()
        );
        let t = Tmux::start(&format!("undo{i}"), 120, 30, &cmd);
        t.wait_for("Undo 3 changes? [y/N]");
        t.text(answer);
        t.keys(&["Enter"]);
        let s = t.wait_for(&format!("EXITED {code}"));
        let held = count(&q.path("hold"));
        if answer == "n" {
            assert!(s.contains("aborted; nothing changed"), "{s}");
            assert_eq!(held, m.len(), "nothing was undone after n");
        } else {
            assert!(s.contains("3 undone, 0 not undoable, 0 changed since, 0 failed"), "{s}");
            assert_eq!(held, 0);
        }
    }
}

/// `s` quoted for sh (tmux runs a session's command with `sh -c`).
fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// An interactive bash as on a fresh machine: no rc files, and a PATH with
/// the system's folders only (plus `extra`), so no `mqctl` from an earlier
/// `cargo install`. HOME and the toolchain's variables are kept for cargo.
fn fresh_bash(tmpdir: &Path, extra: Option<&Path>) -> String {
    let mut path = String::from("/usr/bin:/bin");
    if let Some(d) = extra {
        path = format!("{}:{path}", d.display());
    }
    let mut vars = vec![
        format!("PATH={}", sh(&path)),
        format!("TMPDIR={}", sh(tmpdir.to_str().unwrap())),
        "TERM=xterm-256color".into(),
        "LANG=C.UTF-8".into(),
        "PS1='$ '".into(),
    ];
    for keep in [
        "HOME",
        "CARGO_HOME",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
        "CARGO_TARGET_DIR",
    ] {
        if let Ok(v) = std::env::var(keep) {
            vars.push(format!("{keep}={}", sh(&v)));
        }
    }
    format!("env -i {} bash --norc --noprofile", vars.join(" "))
}

/// A bash in tmux, driven the way a person pastes lines into it.
impl Tmux {
    /// Waits until bash shows its prompt again: the command has ended.
    fn wait_for_prompt(&self) {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.screen();
            if s.lines().rev().find(|l| !l.trim().is_empty()).map(str::trim_end) == Some("$") {
                return;
            }
            assert!(Instant::now() < end, "no prompt; screen:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `line` at the prompt and runs it; a line that opens the TUI is
    /// quit with `q` once it has read the queue.
    fn paste(&self, line: &str) {
        self.text(line);
        self.wait_for(&format!("$ {line}"));
        self.keys(&["Enter"]);
        if line.ends_with(" tui") {
            self.wait_for("shown");
            self.wait_for("read ");
            self.keys(&["q"]);
        }
        self.wait_for_prompt();
    }

    /// The exit status of the last command (`$?`), asked of the shell.
    fn last_status(&self, tag: &str) -> i32 {
        self.paste(&format!("echo \"@@{tag}\" \"rc=$?\""));
        let want = format!("@@{tag} rc=");
        let h = self.history();
        let line = h
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(&want))
            .unwrap_or_else(|| panic!("no {want:?} in:\n{h}"));
        line.trim().parse().unwrap()
    }
}

/// After `cargo run --release -- demo` a newcomer pastes what the demo
/// printed into the same shell. Here every command line it printed (the
/// lines indented by two spaces) is typed, as printed, into that
/// interactive bash, whose PATH has no `mqctl`, and each must exit 0.
///
/// The demo runs the way `cargo run --release -- demo` runs it: the freshly
/// built binary, by its path under target/, from the crate's folder, on
/// the terminal, with PATH, HOME and TMPDIR as the shell has them. Those are
/// all the printed lines depend on (the alias names the running binary,
/// whatever profile built it). Typing the cargo command itself works too:
/// cargo 1.95 holds no build-directory lock while the tests run, so the
/// inner `cargo run --release` does not wait for the outer `cargo test`.
/// But on a fresh CI clone it is a second, release build of every
/// dependency, about 75 s of both cores on an idle machine (220 s measured
/// while other builds shared them), inside a CI run that must stay under
/// 15 minutes, and it would test cargo rather than mqctl.
/// `MQCTL_TEST_CARGO_RUN=1` makes this test type the literal
/// `cargo run --release -- demo` instead.
#[test]
fn every_command_the_demo_prints_runs_in_bash_as_printed_and_exits_0() {
    if no_tmux() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Where the sample goes: a name that needs quoting in the printed lines.
    let tmpdir = tmp.path().join("it's tmp");
    std::fs::create_dir(&tmpdir).unwrap();
    let literal = std::env::var_os("MQCTL_TEST_CARGO_RUN").is_some_and(|v| !v.is_empty());
    let (demo, extra_path, build_time) = if literal {
        let cargo_dir = Path::new(env!("CARGO")).parent().unwrap().to_path_buf();
        ("cargo run --release -- demo".to_string(), Some(cargo_dir), 900)
    } else {
        (format!("{} demo", sh(BIN)), None, 60)
    };
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let t = Tmux::start_in(
        "paste",
        200,
        50,
        Some(crate_dir),
        &fresh_bash(&tmpdir, extra_path.as_deref()),
    );
    t.wait_for_prompt();

    t.text(&demo);
    t.keys(&["Enter"]);
    t.wait_for_within("shown", Duration::from_secs(build_time));
    t.wait_for("read ");
    t.keys(&["q"]);
    t.wait_for_prompt();
    let printed = t.history();
    assert_eq!(t.last_status("demo"), 0, "{printed}");
    let made: Vec<PathBuf> = std::fs::read_dir(&tmpdir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(made.len(), 1, "one sample queue in TMPDIR: {made:?}");

    // The report: from the line that ran the demo to the next prompt.
    let report: Vec<&str> = printed
        .lines()
        .skip_while(|l| *l != format!("$ {demo}"))
        .skip(1)
        .skip_while(|l| literal && !l.starts_with("Built"))
        .take_while(|l| !l.starts_with('$'))
        .map(str::trim_end)
        .collect();
    let commands: Vec<&str> = report.iter().filter_map(|l| l.strip_prefix("  ")).collect();
    let prose = report.iter().filter(|l| !l.starts_with("  "));
    for l in prose {
        assert!(
            !l.starts_with(char::is_whitespace),
            "neither prose nor a command: {l:?}"
        );
    }
    assert!(commands.len() >= 10, "{report:#?}");
    assert!(
        commands[0].starts_with("alias mqctl="),
        "mqctl is not on PATH: {report:#?}"
    );
    assert!(commands[1].starts_with("export MQCTL_QUEUE="), "{report:#?}");
    assert!(commands.last().unwrap().starts_with("rm -rf "), "{report:#?}");

    let mut failed = Vec::new();
    for (i, cmd) in commands.iter().enumerate() {
        t.keys(&["C-l"]);
        t.wait_for_prompt();
        assert!(t.run(&["clear-history", "-t", "t"]).status.success());
        t.paste(cmd);
        let output = t.history();
        let rc = t.last_status(&i.to_string());
        if rc != 0 {
            failed.push(format!("{cmd}: rc={rc}\n{output}"));
        }
        if *cmd == "mqctl stats" {
            assert!(
                output.contains("broken-dns.example"),
                "the alias and the export made `mqctl stats` read the sample:\n{output}"
            );
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    assert!(!made[0].exists(), "the printed rm line removed {:?}", made[0]);
    assert_eq!(std::fs::read_dir(&tmpdir).unwrap().count(), 0);
}

#[test]
fn demo_rm_removes_its_queue_when_the_tui_is_closed() {
    if no_tmux() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cmd = format!(
        "env TMPDIR={} {} demo --rm --mails 40; echo EXITED $?; sleep 60",
        sh(tmp.path().to_str().unwrap()),
        sh(BIN)
    );
    let t = Tmux::start("demo-rm", 80, 24, &cmd);
    t.wait_for("shown");
    let made: Vec<PathBuf> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(made.len(), 1, "the sample exists while the TUI shows it: {made:?}");
    t.keys(&["q"]);
    let s = t.wait_for("EXITED 0");
    assert!(s.contains("Removed the sample queue in"), "{s}");
    assert!(!s.contains("rm -rf"), "nothing left to remove: {s}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn demo_ended_by_sigterm_says_where_its_queue_stays_and_how_to_remove_it() {
    if no_tmux() {
        return;
    }
    let q = TestQueue::unbuilt();
    let pidfile = q.tmp().join("pid");
    let cmd = format!(
        "sh -c 'echo $$ > {}; exec \"$0\" demo --mails 40 \"$1\"' {} {}; echo EXITED $?; sleep 60",
        sh(pidfile.to_str().unwrap()),
        sh(BIN),
        sh(q.root().to_str().unwrap())
    );
    let t = Tmux::start("demo-term", 100, 30, &cmd);
    t.wait_for("shown");
    sigterm_pid_in(&pidfile);
    let s = t.wait_for("EXITED 130");
    assert!(
        s.contains(&format!("the sample queue stays in {}", q.root().display())) && s.contains("rm -rf "),
        "{s}"
    );
    assert!(count(&q.path("queue")) > 0, "the queue is still there");
}

/// `label N` on the screen, N not cut (no digit follows it).
fn shows_count(screen: &str, label: &str, n: usize) -> bool {
    let pat = format!("{label} {n}");
    screen
        .match_indices(&pat)
        .any(|(i, _)| !screen[i + pat.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

#[test]
fn the_real_tui_fits_80x24_40x12_and_200x50() {
    if no_tmux() {
        return;
    }
    let q = demo_queue(300);
    let queued = count(&q.path("queue"));
    let held = count(&q.path("hold"));
    for (w, h) in [(80u16, 24u16), (40, 12), (200, 50)] {
        let cmd = format!(
            "env NO_COLOR=1 TERM=xterm-256color MQCTL_QUEUE='{}' '{}' tui; echo EXITED $?; sleep 60",
            q.root().display(),
            BIN
        );
        let t = Tmux::start(&format!("fit{w}"), w, h, &cmd);
        t.wait_for("shown");
        let end = Instant::now() + Duration::from_secs(30);
        let s = loop {
            let s = t.screen();
            if !s.contains("reading") && s.contains("shown") {
                break s;
            }
            assert!(Instant::now() < end, "still reading:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        };
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines.len() <= h as usize, "{w}x{h}:\n{s}");
        assert!(shows_count(&s, "queue", queued), "queue {queued} at {w}x{h}:\n{s}");
        assert!(shows_count(&s, "hold", held), "hold {held} at {w}x{h}:\n{s}");
        assert!(
            lines.iter().any(|l| l.starts_with("?:help")),
            "the key line keeps ?:help at {w}x{h}:\n{s}"
        );
        assert!(
            lines.iter().any(|l| l.contains("NEXT▲")),
            "the sort column shows at {w}x{h}:\n{s}"
        );

        // Each verb's question keeps its keys in sight.
        for (k, ask) in [
            ("h", "Hold 1 entry?"),
            ("d", "Drop 1 entry?"),
            ("t", "Reschedule now 1 entry?"),
        ] {
            t.keys(&[k]);
            let s = t.wait_for(ask);
            assert!(s.contains("[y] yes") && s.contains("[n] no"), "{k} at {w}x{h}:\n{s}");
            t.keys(&["n"]);
        }
        t.keys(&["?"]);
        let s = t.wait_for("Keys (");
        assert!(s.contains("PgDn ^f "), "the keys stand apart at {w}x{h}:\n{s}");
        t.keys(&["Escape"]);
        t.wait_for("?:help");
        t.keys(&["BTab"]);
        let s = t.wait_for("DOMAIN");
        assert!(s.contains("TOTAL"), "{w}x{h}:\n{s}");
        t.keys(&["q"]);
        t.wait_for("EXITED 0");
    }
}

#[test]
fn recover_and_purge_on_a_terminal_ask_first_and_no_changes_nothing() {
    if no_tmux() {
        return;
    }
    let q = TestQueue::new().real_clock();
    let m = q.simple(4, "2026-11-23T10:00:00Z");
    q.put(&m[0].id, "queue", "inflight");
    q.put(&m[1].id, "queue", "inflight");
    q.put(&m[2].id, "queue", "cleanup");
    q.put(&m[3].id, "queue", "cleanup");
    for (cmd, question, done) in [
        (
            "recover --stuck-after 0s",
            "Recover 2 entries? [y/N]",
            "2 recovered, 0 vanished, 0 failed",
        ),
        ("purge", "Purge 2 items? [y/N]", "2 purged"),
    ] {
        for (i, answer, code) in [(0, "n", 1), (1, "y", 0)] {
            let before = q.snapshot();
            let line = format!(
                "env NO_COLOR=1 MQCTL_QUEUE='{}' '{}' {cmd}; echo EXITED $?; sleep 60",
                q.root().display(),
                BIN
            );
            let t = Tmux::start(&format!("{}{i}", &cmd[..5]), 100, 30, &line);
            t.wait_for(question);
            t.text(answer);
            t.keys(&["Enter"]);
            let s = t.wait_for(&format!("EXITED {code}"));
            if answer == "n" {
                assert!(s.contains("aborted; nothing changed"), "{s}");
                assert_eq!(q.snapshot(), before, "{cmd}: n changed nothing");
            } else {
                assert!(s.contains(done), "{s}");
            }
        }
    }
    assert_eq!(q.list_count(&["--state", "inflight"]), 0);
    assert_eq!(q.list_count(&["--state", "cleanup"]), 0);
}

#[test]
fn a_bulk_change_on_a_terminal_shows_its_progress_and_leaves_no_bar_behind() {
    if no_tmux() {
        return;
    }
    let (q, _) = TestQueue::bulk(3000);
    let raw = q.tmp().join("pane.raw");
    let line = format!(
        "env NO_COLOR=1 MQCTL_PROGRESS_AFTER_MS=0 MQCTL_QUEUE='{}' '{}' hold --all --yes; echo EXITED $?; sleep 60",
        q.root().display(),
        BIN
    );
    // Everything the terminal is sent, bar redraws included (the command
    // waits a second for pipe-pane to be in place).
    let t = Tmux::start("progress", 120, 30, &format!("sleep 1; {line}"));
    assert!(
        t.run(&["pipe-pane", "-t", "t", "-o", &format!("cat >> '{}'", raw.display())])
            .status
            .success()
    );
    let s = t.wait_for_within("EXITED 0", Duration::from_secs(60));
    assert!(s.contains("3000 held, 0 vanished, 0 failed"), "{s}");
    let sent = String::from_utf8_lossy(&std::fs::read(&raw).unwrap()).into_owned();
    assert!(
        sent.contains("/3000 held ("),
        "a bar with the count and the rate: {sent:?}"
    );
    // The bar is gone from the screen once done: only the summary stays.
    assert!(!s.contains("/3000 held ("), "{s}");
}

#[test]
fn the_tui_logs_its_changes_with_log() {
    if no_tmux() {
        return;
    }
    let q = demo_queue(40);
    let log = q.tmp().join("tui.jsonl");
    let n = q.list_count(&["--state", "queue", "--never-tried"]);
    assert!(n > 1);
    let cmd = format!(
        "env NO_COLOR=1 MQCTL_QUEUE='{}' '{}' tui --log '{}'; echo EXITED $?; sleep 60",
        q.root().display(),
        BIN,
        log.display()
    );
    let t = Tmux::start("tuilog", 120, 40, &cmd);
    t.wait_for("read ");
    t.keys(&["/"]);
    t.text("--state queue --never-tried");
    t.keys(&["Enter"]);
    t.wait_for(&format!("{n} shown"));
    t.keys(&["*"]);
    t.keys(&["h"]);
    t.wait_for(&format!("Hold {n} entries?"));
    t.keys(&["y"]);
    t.wait_for(&format!("Hold: {n} held, 0 vanished, 0 failed"));
    t.keys(&["q"]);
    t.wait_for("EXITED 0");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let intent: usize = lines
        .iter()
        .filter(|v| v["result"] == "intent")
        .map(|v| v["ids"].as_array().unwrap().len())
        .sum();
    let done: Vec<&serde_json::Value> = lines.iter().filter(|v| v["result"] == "done").collect();
    assert_eq!((intent, done.len()), (n as usize, n as usize), "{lines:?}");
    assert!(
        done.iter()
            .all(|v| v["operation"] == "hold" && v["from"] == "queue" && v["to"] == "hold")
    );
    // The TUI's holds carry a note too (when, by whom), and undo takes
    // them back from the same log.
    assert!(
        done.iter()
            .all(|v| v["hold_note"].as_str().unwrap().contains("\"since\""))
    );
    let r = q.mqctl(["undo", "--log"]).arg(&log).args(["--yes"]).run();
    assert!(r.stderr.contains(&format!("{n} undone")), "{r:?}");
}
