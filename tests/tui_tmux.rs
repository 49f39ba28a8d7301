//! The real binary in a real terminal (tmux): in the TUI filter, mark, hold,
//! confirm, quit, then look at the folders; on the command line, the
//! confirmation prompt of a change. Skipped, with a reason, without tmux.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mqctl");

struct Tmux {
    socket: String,
}

impl Tmux {
    /// A tmux server of our own (`name` + pid) with one session running
    /// `cmd` in a terminal of `cols` × `rows`.
    fn start(name: &str, cols: u16, rows: u16, cmd: &str) -> Tmux {
        let t = Tmux {
            socket: format!("mqctl-{name}-{}", std::process::id()),
        };
        let (x, y) = (cols.to_string(), rows.to_string());
        let started = t.run(&["new-session", "-d", "-s", "t", "-x", &x, "-y", &y, cmd]);
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

    /// Waits until the screen shows `what`; returns the screen.
    fn wait_for(&self, what: &str) -> String {
        let end = Instant::now() + Duration::from_secs(30);
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

/// True (after saying why) when tmux is missing: the test is skipped.
fn no_tmux() -> bool {
    let missing = Command::new("tmux").arg("-V").output().is_err();
    if missing {
        eprintln!("skipped: tmux is not installed (apt-get install tmux)");
    }
    missing
}

/// A `mqctl demo` queue of `mails` mails, built without a terminal.
fn demo_queue(tmp: &Path, mails: u32) -> PathBuf {
    let q = tmp.join("q");
    let out = Command::new(BIN)
        .arg("demo")
        .arg(&q)
        .args(["--mails", &mails.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "demo without a terminal prints its report");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Built a sample queue"));
    q
}

fn mqctl(q: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN).arg("--queue").arg(q).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn count(q: &Path, sel: &[&str]) -> usize {
    let mut a = vec!["list", "--count"];
    a.extend_from_slice(sel);
    mqctl(q, &a).trim().parse().unwrap()
}

fn links(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

#[test]
fn filter_mark_hold_confirm_quit_moves_the_entries_to_hold() {
    if no_tmux() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let q = demo_queue(tmp.path(), 300);

    let sel = ["--domain", "broken-dns.example", "--state", "queue"];
    let to_hold = count(&q, &sel);
    assert!(to_hold > 1, "the demo has an incident to work on");
    let held_before = links(&q.join("hold"));
    let held_sel = ["--domain", "broken-dns.example", "--state", "hold"];
    let domain_held_before = count(&q, &held_sel);

    let cmd = format!(
        "env NO_COLOR=1 TERM=xterm-256color MQCTL_QUEUE='{}' '{}' tui; echo EXITED $?; sleep 60",
        q.display(),
        BIN
    );
    let t = Tmux::start("test", 120, 40, &cmd);
    let s = t.wait_for("shown");
    assert!(s.contains(&q.file_name().unwrap().to_string_lossy().to_string()), "{s}");
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

    assert_eq!(count(&q, &sel), 0);
    assert_eq!(links(&q.join("hold")), held_before + to_hold);
    assert_eq!(count(&q, &held_sel), domain_held_before + to_hold);
}

#[test]
fn sigterm_ends_the_tui_and_gives_the_terminal_back() {
    if no_tmux() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let q = tmp.path().join("q");
    mqctl::demo::create_empty(&q).unwrap();
    let pidfile = tmp.path().join("pid");
    let cmd = format!(
        "echo BEFORE; env MQCTL_QUEUE='{}' sh -c 'echo $$ > {}; exec \"$0\" tui' '{}'; echo EXITED $?; stty -a | grep -o -- '-icanon'; sleep 60",
        q.display(),
        pidfile.display(),
        BIN
    );
    let t = Tmux::start("term", 100, 30, &cmd);
    let s = t.wait_for("the queue is empty");
    assert!(!s.contains("BEFORE"), "the TUI has the alternate screen: {s}");
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert!(
        Command::new("kill")
            .args(["-TERM", pid.trim()])
            .status()
            .unwrap()
            .success()
    );
    let s = t.wait_for("EXITED 130");
    assert!(s.contains("BEFORE"), "back on the normal screen: {s}");
    assert!(!s.contains("-icanon"), "raw mode was left on: {s}");
}

#[test]
fn demo_on_a_terminal_opens_the_tui_then_prints_its_report() {
    if no_tmux() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let q = tmp.path().join("q");
    let cmd = format!("'{}' demo '{}' --mails 40; echo EXITED $?; sleep 60", BIN, q.display());
    let t = Tmux::start("demo", 80, 24, &cmd);
    let s = t.wait_for("shown");
    assert!(s.contains("no filter"), "{s}");
    t.keys(&["q"]);
    let s = t.wait_for("EXITED 0");
    assert!(s.contains("Built a sample queue"), "{s}");
    assert!(links(&q.join("queue")) > 0);
}

#[test]
fn a_change_on_a_terminal_asks_first_and_no_or_ctrl_c_changes_nothing() {
    if no_tmux() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let q = tmp.path().join("q");
    let out = Command::new(BIN)
        .arg("demo")
        .arg(&q)
        .args(["--mails", "60"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let sel = ["--state", "queue", "--never-tried"];
    let n = count(&q, &sel);
    assert!(n > 1, "the demo has never-tried entries");
    let held = links(&q.join("hold"));

    // One terminal per answer: "n", Ctrl-C, then "y".
    for (i, answer, code) in [(0, "n", 1), (1, "C-c", 130), (2, "y", 0)] {
        let cmd = format!(
            "env NO_COLOR=1 MQCTL_QUEUE='{}' '{}' hold {}; echo EXITED $?; sleep 60",
            q.display(),
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
            assert_eq!(links(&q.join("hold")), held + n);
        } else {
            assert_eq!(count(&q, &sel), n, "nothing was held after {answer}");
            assert_eq!(links(&q.join("hold")), held);
        }
    }
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
    let tmp = tempfile::tempdir().unwrap();
    let q = demo_queue(tmp.path(), 300);
    let queued = links(&q.join("queue"));
    let held = links(&q.join("hold"));
    for (w, h) in [(80u16, 24u16), (40, 12), (200, 50)] {
        let cmd = format!(
            "env NO_COLOR=1 TERM=xterm-256color MQCTL_QUEUE='{}' '{}' tui; echo EXITED $?; sleep 60",
            q.display(),
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
