//! `mqctl watch`: one line per entry moved, as it moves, through the real
//! binary on a real queue that other processes change as the writer does.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::TestQueue;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// A running `mqctl watch`, its stdout read line by line.
struct Watching {
    child: Child,
    lines: Receiver<String>,
}

impl Watching {
    fn start(q: &TestQueue, args: &[&str]) -> Watching {
        let mut cmd = q.mqctl(["watch"]).args(args).real_clock().command();
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { return };
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        let w = Watching { child, lines };
        w.wait_watching();
        w
    }

    /// Until the process has its inotify watch (then no change is missed).
    fn wait_watching(&self) {
        let end = Instant::now() + Duration::from_secs(20);
        let fds = format!("/proc/{}/fd", self.child.id());
        while Instant::now() < end {
            let has = std::fs::read_dir(&fds)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().contains("inotify")));
            if has {
                // The folders are added right after the instance is made.
                std::thread::sleep(Duration::from_millis(100));
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("mqctl watch never started watching");
    }

    /// The next `n` lines, waiting up to 20 s for them.
    fn take(&self, n: usize) -> Vec<String> {
        let end = Instant::now() + Duration::from_secs(20);
        let mut out = Vec::new();
        while out.len() < n {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => out.push(l),
                Err(_) => panic!("only {} of {n} lines: {out:#?}", out.len()),
            }
        }
        out
    }

    /// Lines that arrive within `d` (none expected, usually).
    fn more(&self, d: Duration) -> Vec<String> {
        std::thread::sleep(d);
        self.lines.try_iter().collect()
    }

    fn stop(mut self, sig: Signal) -> std::process::ExitStatus {
        kill(Pid::from_raw(self.child.id() as i32), sig).unwrap();
        self.child.wait().unwrap()
    }
}

fn json(l: &str) -> Value {
    serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"))
}

/// (event, id, from, to) of a JSON line.
fn what(v: &Value) -> (String, String, String, String) {
    let s = |k: &str| v[k].as_str().unwrap_or("-").to_string();
    (s("event"), s("id"), s("from"), s("to"))
}

fn mv(root: &Path, id: &str, from: &str, to: &str) {
    std::fs::rename(root.join(from).join(id), root.join(to).join(id)).unwrap();
}

#[test]
fn every_move_of_the_writer_and_of_mqctl_is_one_line_with_its_recipient() {
    let q = TestQueue::new().real_clock();
    let a = q.simple(1, "2026-11-23T10:00:00Z");
    let id = a[0].id.clone();
    let w = Watching::start(&q, &["--format", "jsonl"]);
    let root = q.root();
    // The writer: send, give up, send again, deliver, clean up.
    mv(root, &id, "queue", "inflight");
    mv(root, &id, "inflight", "queue");
    let got: Vec<Value> = w.take(2).iter().map(|l| json(l)).collect();
    assert_eq!(
        what(&got[0]),
        ("sending".into(), id.clone(), "queue".into(), "inflight".into())
    );
    assert_eq!(
        what(&got[1]),
        ("requeued".into(), id.clone(), "inflight".into(), "queue".into())
    );
    assert_eq!(got[0]["recipient"], "rcpt0@example.com", "{}", got[0]);
    assert!(got[0]["time"].as_str().unwrap().parse::<jiff::Timestamp>().is_ok());
    // mqctl itself: hold, release, a reschedule (claimed and put back).
    q.run(["hold", &id]).expect(0);
    q.run(["release", &id]).expect(0);
    q.run(["reschedule", &id, "--at", "+1h"]).expect(0);
    let got: Vec<(String, String, String, String)> = w.take(4).iter().map(|l| what(&json(l))).collect();
    let e = |ev: &str, f: &str, t: &str| (ev.to_string(), id.clone(), f.to_string(), t.to_string());
    assert_eq!(
        got,
        vec![
            e("held", "queue", "hold"),
            e("released", "hold", "queue"),
            e("claimed", "queue", "claimed"),
            e("put-back", "claimed", "queue"),
        ]
    );
    // A new mail arrives; the first one is sent and cleaned up.
    let b = q.simple(1, "2026-11-23T10:00:00Z");
    mv(root, &id, "queue", "inflight");
    mv(root, &id, "inflight", "cleanup");
    std::fs::remove_file(root.join("cleanup").join(&id)).unwrap();
    let got: Vec<Value> = w.take(4).iter().map(|l| json(l)).collect();
    assert_eq!(
        what(&got[0]),
        ("arrived".into(), b[0].id.clone(), "-".into(), "queue".into())
    );
    assert_eq!(what(&got[1]).0, "sending");
    assert_eq!(
        what(&got[2]),
        ("delivered".into(), id.clone(), "inflight".into(), "cleanup".into())
    );
    assert_eq!(
        what(&got[3]),
        ("cleaned-up".into(), id.clone(), "cleanup".into(), "-".into())
    );
    // Its files are gone: the recipient is the one remembered.
    assert_eq!(got[3]["recipient"], "rcpt0@example.com", "{}", got[3]);
    // A drop: queue/ -> cleanup/, then gone.
    q.run(["drop", &b[0].id]).expect(0);
    let got: Vec<(String, String, String, String)> = w.take(2).iter().map(|l| what(&json(l))).collect();
    assert_eq!(got[0].0, "dropped");
    assert_eq!(got[1].0, "cleaned-up");
    assert!(w.more(Duration::from_millis(300)).is_empty());
    // Ctrl-C ends it, exit 0.
    let st = w.stop(Signal::SIGINT);
    assert_eq!(st.code(), Some(0), "{st:?}");
}

#[test]
fn the_selection_filters_what_is_shown() {
    let q = TestQueue::new().real_clock();
    let a = q.enqueue(&["x@a.example"]).create();
    let b = q.enqueue(&["y@b.example"]).create();
    let w = Watching::start(&q, &["--domain", "b.example"]);
    let root = q.root();
    mv(root, &a[0].id, "queue", "inflight");
    mv(root, &b[0].id, "queue", "inflight");
    let got = w.take(1);
    // Text: TIME ID FROM -> TO (EVENT) RECIPIENT.
    let f: Vec<&str> = got[0].split(' ').collect();
    assert!(f[0].parse::<jiff::Timestamp>().is_ok(), "{got:?}");
    assert_eq!(
        &f[1..],
        [b[0].id.as_str(), "queue", "->", "inflight", "(sending)", "y@b.example"]
    );
    assert!(w.more(Duration::from_millis(300)).is_empty(), "a.example is not shown");
    // --state: into or out of that folder.
    assert_eq!(w.stop(Signal::SIGTERM).code(), Some(0));
    let w = Watching::start(&q, &["--state", "cleanup", "--format", "jsonl"]);
    mv(root, &a[0].id, "inflight", "queue");
    mv(root, &b[0].id, "inflight", "cleanup");
    let got = w.take(1);
    assert_eq!(json(&got[0])["event"], "delivered");
    assert!(w.more(Duration::from_millis(300)).is_empty());
    assert_eq!(w.stop(Signal::SIGTERM).code(), Some(0));
}

#[test]
fn a_closed_pipe_ends_it_with_exit_0() {
    let q = TestQueue::new().real_clock();
    let a = q.simple(3, "2026-11-23T10:00:00Z");
    let mut w = Watching::start(&q, &[]);
    let root = q.root();
    mv(root, &a[0].id, "queue", "inflight");
    w.take(1);
    // The reader goes away (`| head -1`); the next line cannot be written.
    drop(std::mem::replace(&mut w.lines, channel().1));
    std::thread::sleep(Duration::from_millis(100));
    for e in &a[1..] {
        mv(root, &e.id, "queue", "inflight");
    }
    let end = Instant::now() + Duration::from_secs(20);
    let st = loop {
        if let Some(st) = w.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < end, "watch kept running after its reader left");
        mv(root, &a[1].id, "inflight", "queue");
        mv(root, &a[1].id, "queue", "inflight");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(st.code(), Some(0), "{st:?}");
}

#[test]
fn ids_are_refused_with_a_hint() {
    let q = TestQueue::new().real_clock();
    let r = q.run(["watch", "3f2a"]).expect(2);
    assert!(r.stderr.contains("watch takes filters, not ids"), "{r:?}");
}
