//! The real binary in a real terminal (tmux): in the TUI filter, mark, hold,
//! confirm, quit, then look at the folders; on the command line, the
//! confirmation prompt of a change. Skipped, with a reason, without tmux.

mod common;

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
