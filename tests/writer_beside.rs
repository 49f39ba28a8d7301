//! mqctl's changes beside a writer that works at full speed, modelled on
//! the real writer's order of steps (docs/writer.md, "The writer beside
//! another process"): it keeps the queued entries in memory, holds its four
//! folders open, sends (queue/ → inflight/), then either delivers
//! (inflight/ → cleanup/, then the cleanup: unlink metadata and schedule,
//! rmdir the dest folder, the mail once only contents is left, the link) or
//! gives up for now (inflight/ → queue/, then rewrites the schedule through
//! the `queue/<id>` link: a temp sibling, renamed over). Each step is one
//! fd-relative system call, as the writer's are.
//!
//! What must hold: the writer never fails a cleanup (a schedule renamed
//! into a folder it is removing) nor a schedule rewrite (its link taken
//! away in the instant after it moved the entry back); every entry ends in
//! exactly one place (a state folder, delivered by the writer, or dropped
//! by mqctl); no temp file or claimed entry is left.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsStr;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use jiff::Timestamp;
use nix::errno::Errno;
use nix::fcntl::{OFlag, open, openat, renameat};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, unlinkat};

/// Every folder an entry's link can be in: the state folders and mqctl's
/// claim folders.
const PLACES: [&str; 6] = ["queue", "inflight", "cleanup", "hold", "claimed", "claimed-held"];

/// A queue of `mails` mails, 1–3 recipients each, due now; runs on it use
/// the machine's clock and may take a while beside the busy writer.
fn build(mails: usize) -> TestQueue {
    let mut q = TestQueue::new().real_clock();
    q.timeout = Duration::from_secs(120);
    let now = Timestamp::now();
    for i in 0..mails {
        let to: Vec<String> = (0..=(i % 3)).map(|r| format!("r{r}@d{}.example", i % 7)).collect();
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        q.enqueue(&to)
            .from("sender@example.org")
            .body(b"Subject: x\r\n\r\nbody\r\n")
            .at(now)
            .create();
    }
    q
}

fn ids_in(root: &Path, state: &str) -> BTreeSet<String> {
    match std::fs::read_dir(root.join(state)) {
        Ok(rd) => rd.map(|e| e.unwrap().file_name().into_string().unwrap()).collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// What the writer did and saw go wrong.
#[derive(Debug, Default)]
struct Seen {
    sent: usize,
    delivered: BTreeSet<String>,
    requeued: usize,
    /// Forgotten because their send_start found nothing (taken by mqctl).
    forgotten: usize,
    cleanup_failures: Vec<String>,
    reschedule_errors: Vec<String>,
}

/// The writer model. Its four folders are held open for its whole run, as
/// the real writer's are (which is also how mqctl sees a live writer).
struct Writer {
    data: OwnedFd,
    queue: OwnedFd,
    inflight: OwnedFd,
    cleanup: OwnedFd,
    known: Vec<String>,
    rng: fastrand::Rng,
    seen: Seen,
}

fn dir(root: &Path, name: &str) -> OwnedFd {
    open(&root.join(name), OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap()
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

impl Writer {
    fn start(root: &Path, seed: u64) -> Writer {
        Writer {
            data: dir(root, "data"),
            queue: dir(root, "queue"),
            inflight: dir(root, "inflight"),
            cleanup: dir(root, "cleanup"),
            // At start it lists queue/ and keeps what it found in memory.
            known: ids_in(root, "queue").into_iter().collect(),
            rng: fastrand::Rng::with_seed(seed),
            seen: Seen::default(),
        }
    }

    fn run(&mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::SeqCst) && !self.known.is_empty() {
            self.step();
        }
    }

    fn step(&mut self) {
        let k = self.rng.usize(..self.known.len());
        let id = self.known[k].clone();
        // send_start
        match renameat(self.queue.as_fd(), os(&id), self.inflight.as_fd(), os(&id)) {
            Ok(()) => self.seen.sent += 1,
            Err(Errno::ENOENT) => {
                // Held, dropped or claimed: the writer forgets it.
                self.known.swap_remove(k);
                self.seen.forgotten += 1;
                return;
            }
            Err(e) => panic!("send_start {id}: {e}"),
        }
        // The attempt itself (a real one takes at least this).
        std::thread::sleep(Duration::from_micros(200 + self.rng.u64(..800)));
        if self.rng.bool() {
            self.deliver(k, &id);
        } else {
            self.requeue(&id);
        }
    }

    fn deliver(&mut self, k: usize, id: &str) {
        match renameat(self.inflight.as_fd(), os(id), self.cleanup.as_fd(), os(id)) {
            Ok(()) => {}
            // Recovered by someone meanwhile: not ours any more.
            Err(Errno::ENOENT) => return,
            Err(e) => panic!("send_done {id}: {e}"),
        }
        self.known.swap_remove(k);
        let text = nix::fcntl::readlinkat(self.cleanup.as_fd(), os(id)).unwrap();
        let rel = text.as_bytes().strip_prefix(b"../data/").unwrap();
        let rel = std::str::from_utf8(rel).unwrap().to_string();
        let (mail, _) = rel.split_once('/').unwrap();
        for f in ["metadata", "schedule"] {
            match unlinkat(self.data.as_fd(), os(&format!("{rel}/{f}")), UnlinkatFlags::NoRemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(e) => panic!("cleanup {id} {f}: {e}"),
            }
        }
        match unlinkat(self.data.as_fd(), os(&rel), UnlinkatFlags::RemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => {
                // The real writer logs this and leaves the entry in cleanup/.
                self.seen.cleanup_failures.push(format!("{id}: rmdir data/{rel}: {e}"));
                return;
            }
        }
        let rest: Vec<String> = std::fs::read_dir(format!("/proc/self/fd/{}/{mail}", fd_num(&self.data)))
            .map(|rd| rd.map(|e| e.unwrap().file_name().into_string().unwrap()).collect())
            .unwrap_or_default();
        if rest == ["contents"] {
            let _ = unlinkat(
                self.data.as_fd(),
                os(&format!("{mail}/contents")),
                UnlinkatFlags::NoRemoveDir,
            );
            let _ = unlinkat(self.data.as_fd(), os(mail), UnlinkatFlags::RemoveDir);
        }
        unlinkat(self.cleanup.as_fd(), os(id), UnlinkatFlags::NoRemoveDir).unwrap();
        self.seen.delivered.insert(id.to_string());
    }

    fn requeue(&mut self, id: &str) {
        // send_cancel
        match renameat(self.inflight.as_fd(), os(id), self.queue.as_fd(), os(id)) {
            Ok(()) => self.seen.requeued += 1,
            Err(Errno::ENOENT) => return,
            Err(e) => panic!("send_cancel {id}: {e}"),
        }
        // Then, once it has worked out the next attempt (an await or two in
        // the real writer), the new schedule, through the queue/<id> link.
        std::thread::sleep(Duration::from_micros(self.rng.u64(..1500)));
        let at = Timestamp::now() + jiff::SignedDuration::from_secs(60);
        let body = format!("{{\"at\":\"{at}\",\"last_attempt\":\"{}\"}}", Timestamp::now());
        if let Err(e) = rewrite_schedule(&self.queue, id, &body) {
            self.seen.reschedule_errors.push(format!("{id}: {e}"));
        }
    }
}

/// The writer's schedule rewrite through the `queue/<id>` link: a temp
/// sibling `schedule.<uuid>` (0600), written, then renamed over `schedule`.
fn rewrite_schedule(queue: &OwnedFd, id: &str, body: &str) -> nix::Result<()> {
    let tmp = format!("{id}/schedule.{}", uuid::Uuid::new_v4().hyphenated());
    let fd = openat(
        queue.as_fd(),
        os(&tmp),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
        Mode::from_bits_truncate(0o600),
    )?;
    std::fs::File::from(fd).write_all(body.as_bytes()).unwrap();
    renameat(queue.as_fd(), os(&tmp), queue.as_fd(), os(&format!("{id}/schedule")))
}

fn fd_num(fd: &OwnedFd) -> i32 {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}

/// Ids whose change the output reports, by outcome word, from the
/// `--log` file (one result line per change).
fn results(log: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["result"] != "intent")
        .map(|v| {
            (
                v["run"].as_str().unwrap().to_string(),
                v["id"].as_str().unwrap_or("").to_string(),
                format!("{} {}", v["operation"].as_str().unwrap(), v["result"].as_str().unwrap()),
            )
        })
        .collect()
}

#[test]
fn changes_beside_a_busy_writer_cause_no_writer_failure_and_lose_nothing() {
    let q = build(1500);
    let root = q.root();
    let initial: BTreeSet<String> = ids_in(root, "queue");
    let log = q.tmp().join("mqctl.jsonl");
    let log_s = log.to_str().unwrap().to_string();
    let stop = AtomicBool::new(false);
    let runs = AtomicUsize::new(0);
    let outputs: Mutex<Vec<Run>> = Mutex::new(Vec::new());
    let seen = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut w = Writer::start(root, 7);
            w.run(&stop);
            w.seen
        });
        let changes = s.spawn(|| {
            let started = Instant::now();
            let rounds: [&[&str]; 6] = [
                &["reschedule", "--all", "--at", "+1h", "--yes", "--log", &log_s],
                &["hold", "--all", "--yes", "--log", &log_s],
                &["defer", "--all", "--by", "10m", "--yes", "--log", &log_s],
                &["release", "--all", "--yes", "--log", &log_s],
                &[
                    "reschedule",
                    "--state",
                    "hold",
                    "--state",
                    "queue",
                    "--at",
                    "now",
                    "--yes",
                    "--log",
                    &log_s,
                ],
                &[
                    "drop",
                    "--domain",
                    "d2.example",
                    "--to",
                    "r0@*",
                    "--yes",
                    "--log",
                    &log_s,
                ],
            ];
            let mut i = 0;
            // At least ten seconds, and every kind of change at least twice.
            while started.elapsed() < Duration::from_secs(10) || i < 2 * rounds.len() {
                let args = rounds[i % rounds.len()];
                outputs.lock().unwrap().push(q.run(args));
                runs.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
            stop.store(true, Ordering::SeqCst);
        });
        changes.join().unwrap();
        writer.join().unwrap()
    });
    eprintln!(
        "{} mqctl runs; writer sent {}, delivered {}, requeued {}, forgot {}",
        runs.load(Ordering::SeqCst),
        seen.sent,
        seen.delivered.len(),
        seen.requeued,
        seen.forgotten
    );
    // The writer really was busy, and mqctl really changed entries.
    assert!(
        seen.sent > 500 && seen.requeued > 100 && !seen.delivered.is_empty(),
        "{seen:?}"
    );
    let log_results = results(&log);
    let rescheduled = log_results.iter().filter(|(_, _, r)| r == "reschedule done").count();
    assert!(rescheduled > 1000, "{rescheduled} reschedules done");
    assert!(
        seen.cleanup_failures.is_empty(),
        "writer cleanup failures: {:?}",
        seen.cleanup_failures
    );
    assert!(
        seen.reschedule_errors.is_empty(),
        "writer reschedule errors: {:?}",
        seen.reschedule_errors
    );
    for r in outputs.lock().unwrap().iter() {
        assert_eq!(r.code, 0, "{r:?}");
    }
    // One outcome per entry per run: never "done" and "vanished" both.
    let mut per_run: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (run, id, _) in &log_results {
        *per_run.entry((run.clone(), id.clone())).or_default() += 1;
    }
    assert!(
        per_run.values().all(|&n| n == 1),
        "an entry got two outcomes in one run"
    );
    // Every entry in exactly one place.
    let dropped: HashSet<&String> = log_results
        .iter()
        .filter(|(_, _, r)| r == "drop done")
        .map(|(_, id, _)| id)
        .collect();
    let mut place: BTreeMap<&String, Vec<String>> = BTreeMap::new();
    let found: Vec<(String, BTreeSet<String>)> = PLACES.iter().map(|s| (s.to_string(), ids_in(root, s))).collect();
    for id in &initial {
        let p = place.entry(id).or_default();
        for (state, ids) in &found {
            if ids.contains(id) {
                p.push(state.clone());
            }
        }
        if seen.delivered.contains(id) {
            p.push("delivered".into());
        }
        if dropped.contains(id) {
            p.push("dropped".into());
        }
    }
    for (id, p) in &place {
        assert_eq!(p.len(), 1, "{id} is in {p:?}");
    }
    assert!(ids_in(root, "claimed").is_empty() && ids_in(root, "claimed-held").is_empty());
    assert!(
        ids_in(root, "inflight").is_empty(),
        "the writer finishes its send before it stops"
    );
    assert_eq!(temp_files(root), Vec::<String>::new());
    // And what is left is a queue with nothing wrong in it.
    let check = q.run(["check"]);
    assert!(
        check.code == 0,
        "check after the run:\n{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

/// A writer that keeps trying one entry and putting it back: its link is
/// always one it has just moved, and after each move back it takes a
/// while (`window`) before it rewrites the schedule through the link.
fn cycle_one(root: &Path, id: &str, window: Duration, stop: &AtomicBool) -> Seen {
    let mut w = Writer::start(root, 1);
    w.known = vec![id.to_string()];
    while !stop.load(Ordering::SeqCst) {
        match renameat(w.queue.as_fd(), os(id), w.inflight.as_fd(), os(id)) {
            Ok(()) => w.seen.sent += 1,
            Err(Errno::ENOENT) => {
                w.seen.forgotten += 1;
                break;
            }
            Err(e) => panic!("send_start: {e}"),
        }
        std::thread::sleep(Duration::from_micros(300));
        renameat(w.inflight.as_fd(), os(id), w.queue.as_fd(), os(id)).unwrap();
        w.seen.requeued += 1;
        std::thread::sleep(window);
        let body = format!("{{\"at\":\"{}\",\"last_attempt\":null}}", Timestamp::now());
        if let Err(e) = rewrite_schedule(&w.queue, id, &body) {
            w.seen.reschedule_errors.push(format!("{id}: {e}"));
            break;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    w.seen
}

#[test]
fn an_entry_the_writer_has_just_moved_back_is_left_until_it_is_done_with_it() {
    for args in [&["hold"][..], &["reschedule", "--at", "+1h"], &["drop"]] {
        let q = build(1);
        let root = q.root();
        let id = ids_in(root, "queue").into_iter().next().unwrap();
        let stop = AtomicBool::new(false);
        let (seen, out) = std::thread::scope(|s| {
            let writer = s.spawn(|| cycle_one(root, &id, Duration::from_millis(20), &stop));
            std::thread::sleep(Duration::from_millis(50));
            let mut a: Vec<&str> = args.to_vec();
            a.extend([id.as_str(), "--yes"]);
            let out = q.run(&a);
            stop.store(true, Ordering::SeqCst);
            (writer.join().unwrap(), out)
        });
        let err = &out.stderr;
        assert!(
            seen.reschedule_errors.is_empty(),
            "{args:?}: writer errors {:?}\n{err}",
            seen.reschedule_errors
        );
        assert!(
            seen.requeued >= 2,
            "{args:?}: the writer kept cycling the entry while mqctl ran: {seen:?}"
        );
        // mqctl waited for it, then gave up saying why (or found it inflight).
        assert!(
            err.contains("the writer keeps moving it") || err.contains("vanished") || err.contains("inflight"),
            "{args:?}: {err}"
        );
        assert_eq!(seen.forgotten, 0, "{args:?}: mqctl took the entry away from the writer");
    }
}
