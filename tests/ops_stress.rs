//! Bulk changes under fire: `kill -9` at random moments of a 20,000-entry
//! drop / reschedule / hold, two mqctl processes on the same entries, a
//! simulated writer (send_start / send_done / cleanup through the library)
//! racing a bulk drop and a recover, and SIGTERM / SIGINT in the middle of a
//! bulk change. Afterwards every entry must be in exactly one folder with
//! its exact link, nothing lost, nothing duplicated, every summary adding up.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use mqctl::queue::{EntryId, Queue, parse};
use nix::sys::signal::Signal;
use rayon::prelude::*;

/// A fixed clock far after every time in the test queues, so `--at now` is
/// the same in every run and purge sees every leftover as old.
const LATER: &str = "2030-01-01T00:00:00Z";

const CRASH_ENTRIES: usize = 20_000;

/// Starts `mqctl ARGS` at the clock LATER.
fn spawn<'q>(q: &'q TestQueue, args: &[&str]) -> Spawned<'q> {
    q.mqctl(args).now(LATER).spawn()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Bulk {
    Drop,
    Reschedule,
    Hold,
}

impl Bulk {
    fn args(self) -> Vec<&'static str> {
        match self {
            Bulk::Drop => vec!["drop", "--all", "--yes"],
            Bulk::Reschedule => vec!["reschedule", "--all", "--at", "now", "--yes"],
            Bulk::Hold => vec!["hold", "--all", "--yes"],
        }
    }
}

/// Every schedule in the queue: `<mail>/<dest>/schedule` → its text.
fn schedules(root: &Path) -> BTreeMap<String, String> {
    let data = root.join("data");
    let mails: Vec<String> = fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    mails
        .par_iter()
        .flat_map_iter(|m| {
            let mut out = Vec::new();
            for d in fs::read_dir(data.join(m)).into_iter().flatten() {
                let d = d.unwrap();
                if d.file_type().unwrap().is_dir()
                    && let Ok(b) = fs::read(d.path().join("schedule"))
                {
                    let name = d.file_name().into_string().unwrap();
                    out.push((format!("{m}/{name}/schedule"), String::from_utf8(b).unwrap()));
                }
            }
            out
        })
        .collect()
}

/// After a kill: every entry in exactly one folder (`entries` panics on a
/// duplicate) with its original link text; nothing lost except dropped
/// entries, whose dest folder is then gone too; every live entry complete
/// (unless its cleanup was interrupted); every schedule parses, with its
/// original `last_attempt` and either its original or the new `at`.
fn check_after_kill(root: &Path, bulk: Bulk, initial: &BTreeMap<String, String>, orig: &BTreeMap<String, String>) {
    let now = entries(root);
    let allowed: &[&str] = match bulk {
        Bulk::Drop => &["queue", "cleanup"],
        // Killed while it held some entries claimed for their rewrite.
        Bulk::Reschedule => &["queue", "claimed"],
        Bulk::Hold => &["queue", "hold"],
    };
    now.par_iter().for_each(|(id, (state, text))| {
        let link = initial.get(id).unwrap_or_else(|| panic!("unknown entry {state}/{id}"));
        assert_eq!(text, link.as_bytes(), "{state}/{id}: link text changed");
        assert!(allowed.contains(&state.as_str()), "{id} is in {state}/");
        let dest = root.join("queue").join(link);
        if state != "cleanup" {
            assert!(dest.join("metadata").is_file(), "{state}/{id}: metadata lost");
            assert!(dest.join("schedule").is_file(), "{state}/{id}: schedule lost");
            let contents = dest.parent().unwrap().join("contents");
            assert!(contents.is_file(), "{state}/{id}: contents lost");
        }
    });
    initial
        .par_iter()
        .filter(|(id, _)| !now.contains_key(*id))
        .for_each(|(id, link)| {
            assert_eq!(bulk, Bulk::Drop, "entry {id} was lost");
            let dest = root.join("queue").join(link);
            assert!(!dest.exists(), "{id} is gone but its dest folder {link} is left");
        });
    let target = parse::format_timestamp(LATER.parse().unwrap());
    schedules(root).par_iter().for_each(|(k, text)| {
        let s = parse::schedule(text.as_bytes()).unwrap_or_else(|e| panic!("{k}: {e}: {text:?}"));
        let o = parse::schedule(orig[k].as_bytes()).unwrap();
        assert_eq!(s.last_attempt, o.last_attempt, "{k}: last_attempt changed");
        let new = parse::format_timestamp(s.at) == target;
        assert!(
            s.at == o.at || new,
            "{k}: at is neither the old nor the new time: {text}"
        );
    });
}

fn crash_test(bulk: Bulk, seed: u64) {
    let t0 = Instant::now();
    let (q, initial) = TestQueue::bulk(CRASH_ENTRIES);
    let orig = schedules(q.root());
    let mails_before = count(&q.path("data"));
    let mut rng = fastrand::Rng::with_seed(seed);
    let args = bulk.args();
    let mut hits = 0;
    for k in 0..3 {
        let mut child = spawn(&q, &args);
        // The first kill lands 20–200 ms after the start (often while it
        // reads the queue); the others 0–80 ms after the first batch of
        // changes was reported, in the middle of the work.
        let delay = if k == 0 {
            rng.u64(20..=200)
        } else {
            child.wait_started(Duration::from_secs(30));
            rng.u64(0..=80)
        };
        thread::sleep(Duration::from_millis(delay));
        if !child.exited() {
            child.signal(Signal::SIGKILL);
            hits += 1;
        }
        let st = child.wait();
        assert!(st.code().is_none_or(|c| c == 0), "{bulk:?} run {k}: {st:?}");
        check_after_kill(q.root(), bulk, &initial, &orig);
    }
    assert!(
        hits >= 2,
        "{bulk:?}: only {hits} of 3 kills hit a running mqctl: the test proved little"
    );

    // purge finishes interrupted cleanups, puts back what was left claimed
    // and removes the temp files of interrupted rewrites; a re-run finishes
    // the job.
    q.mqctl(["purge", "--min-age", "0s"]).now(LATER).run().expect(0);
    assert_eq!(count(&q.path("cleanup")), 0);
    assert_eq!(
        count(&q.path("claimed")),
        0,
        "purge puts back what a killed run left claimed"
    );
    assert!(temp_files(q.root()).is_empty(), "{:?}", temp_files(q.root()));
    let r = q.mqctl(&args).now(LATER).run().expect(0);
    assert_eq!(r.counts().failed, 0, "{r:?}");
    check_after_kill(q.root(), bulk, &initial, &orig);
    let after = entries(q.root());
    match bulk {
        Bulk::Drop => {
            assert!(after.is_empty(), "{} entries left", after.len());
            assert_eq!(count(&q.path("data")), 0, "data/ not empty after dropping everything");
        }
        Bulk::Hold => {
            assert_eq!(after.len(), initial.len());
            assert!(after.values().all(|(s, _)| s == "hold"));
            assert_eq!(count(&q.path("data")), mails_before);
        }
        Bulk::Reschedule => {
            assert_eq!(after.len(), initial.len());
            let target = parse::format_timestamp(LATER.parse().unwrap());
            for (k, text) in schedules(q.root()) {
                let s = parse::schedule(text.as_bytes()).unwrap();
                assert_eq!(parse::format_timestamp(s.at), target, "{k} not rescheduled: {text}");
            }
            assert_eq!(count(&q.path("data")), mails_before);
        }
    }
    eprintln!("crash test {bulk:?}: {hits} kills hit, {:?}", t0.elapsed());
}

#[test]
fn kill_9_during_bulk_drop_loses_nothing_and_a_rerun_finishes() {
    crash_test(Bulk::Drop, 1);
}

#[test]
fn kill_9_during_bulk_reschedule_loses_nothing_and_a_rerun_finishes() {
    crash_test(Bulk::Reschedule, 2);
}

#[test]
fn kill_9_during_bulk_hold_loses_nothing_and_a_rerun_finishes() {
    crash_test(Bulk::Hold, 3);
}

// ---------------------------------------------------------------- concurrency

const CONCURRENT_ENTRIES: usize = 4_000;

/// Runs `a` and `b` at once (clock LATER); both must exit 0 and fail no
/// entry. Returns each run with its summary's counts.
fn at_once(q: &TestQueue, a: &[&str], b: &[&str]) -> [(Run, Counts); 2] {
    let (a, b) = (spawn(q, a), spawn(q, b));
    [a.finish(), b.finish()].map(|r| {
        let r = r.expect(0);
        let c = r.counts();
        assert_eq!(c.failed, 0, "{r:?}");
        (r, c)
    })
}

#[test]
fn two_bulk_drops_at_once_handle_each_entry_once() {
    let (q, initial) = TestQueue::bulk(CONCURRENT_ENTRIES);
    let drop = ["drop", "--all", "--yes"];
    let [(a, ca), (b, cb)] = at_once(&q, &drop, &drop);
    eprintln!("two drops: {ca:?} {cb:?}");
    assert_eq!(ca.done + cb.done, initial.len() as u64, "{ca:?} {cb:?}");
    assert!(ca.done + ca.vanished + ca.skipped <= initial.len() as u64);
    // Each entry was reported dropped by exactly one of them.
    let ids = |r: &Run| -> BTreeSet<String> {
        r.lines()
            .iter()
            .map(|l| l.split(' ').nth(1).unwrap().to_string())
            .collect()
    };
    let (ia, ib) = (ids(&a), ids(&b));
    assert!(ia.is_disjoint(&ib), "an entry was dropped twice");
    assert_eq!(ia.len() + ib.len(), initial.len());
    assert!(entries(q.root()).is_empty());
    assert_eq!(count(&q.path("data")), 0);
}

#[test]
fn hold_and_drop_at_once_leave_every_entry_held_or_dropped() {
    let (q, initial) = TestQueue::bulk(CONCURRENT_ENTRIES);
    let [(_, ch), (_, cd)] = at_once(&q, &["hold", "--all", "--yes"], &["drop", "--all", "--yes"]);
    eprintln!("hold {ch:?} drop {cd:?}");
    let after = entries(q.root());
    assert!(after.values().all(|(s, _)| s == "hold"), "entries left outside hold/");
    assert_eq!(after.len() as u64 + cd.done, initial.len() as u64, "{ch:?} {cd:?}");
    for (id, (_, text)) in &after {
        assert_eq!(text, initial[id].as_bytes());
        assert!(q.root().join("hold").join(&initial[id]).join("schedule").is_file());
    }
}

#[test]
fn two_purges_at_once_clean_each_pending_entry_once() {
    let (q, initial) = TestQueue::bulk(CONCURRENT_ENTRIES);
    for id in initial.keys() {
        q.put(id, "queue", "cleanup");
    }
    let purge = ["purge", "--min-age", "0s"];
    let [(_, ca), (_, cb)] = at_once(&q, &purge, &purge);
    eprintln!("two purges: {ca:?} {cb:?}");
    assert_eq!(
        ca.done + cb.done,
        initial.len() as u64,
        "an entry was counted cleaned up twice: {ca:?} {cb:?}"
    );
    assert!(entries(q.root()).is_empty());
    assert_eq!(count(&q.path("data")), 0);
}

/// purge decides a mail is an orphan when no state folder links to it. An
/// entry moved once between folders while purge lists them (release: hold/
/// → queue/, as an operator does; or the writer's send_cancel: inflight/ →
/// queue/) must not make its mail look orphaned and get deleted.
#[test]
fn purge_never_deletes_the_mail_of_an_entry_released_meanwhile() {
    let (q, initial) = TestQueue::bulk(CONCURRENT_ENTRIES);
    let ids: Vec<&String> = initial.keys().collect();
    let mut rng = fastrand::Rng::with_seed(7);
    fs::create_dir(q.path("hold")).unwrap();
    for run in 0..6 {
        for id in &ids {
            let _ = fs::rename(q.root().join("queue").join(id), q.root().join("hold").join(id));
        }
        let r = thread::scope(|s| {
            let pace = Duration::from_micros(rng.u64(5..40));
            let (ids, root) = (&ids, q.root());
            s.spawn(move || {
                // One release sweep, spread over the purge's run.
                for id in ids {
                    fs::rename(root.join("hold").join(id), root.join("queue").join(id)).unwrap();
                    thread::sleep(pace);
                }
            });
            q.run(["purge", "--min-age", "0s"])
        });
        assert_eq!(r.code, 0, "{r:?}");
        let lost: Vec<&String> = initial
            .iter()
            .filter(|(_, link)| !q.root().join("queue").join(link).join("schedule").is_file())
            .map(|(id, _)| id)
            .collect();
        assert!(
            lost.is_empty(),
            "run {run}: purge deleted the data of {} live entries:\n{}",
            lost.len(),
            r.out()
        );
        assert!(r.stdout.is_empty(), "run {run}: {r:?}");
    }
    assert_eq!(entries(q.root()).len(), initial.len());
}

/// A writer built from the library: send_start (queue → inflight),
/// send_done (inflight → cleanup), cleanup, entry after entry in the
/// reverse of the folder's order (so it meets mqctl in the middle). It
/// starts once `folder` has lost an entry (mqctl is at work).
struct Writer {
    sent: usize,
    lost_races: usize,
    errors: Vec<String>,
}

fn writer(root: &Path, from: &str, n: usize, stop: &AtomicBool) -> Writer {
    let queue = Queue::open(root).unwrap();
    let dir = root.join(from);
    let t = Instant::now();
    while count(&dir) >= n && t.elapsed() < Duration::from_secs(30) && !stop.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_micros(200));
    }
    let mut ids: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    ids.reverse();
    let mut w = Writer {
        sent: 0,
        lost_races: 0,
        errors: Vec::new(),
    };
    for (i, id) in ids.iter().enumerate() {
        if i % 8 == 0 {
            thread::sleep(Duration::from_micros(300));
        }
        if from == "queue" {
            match fs::rename(root.join("queue").join(id), root.join("inflight").join(id)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    w.lost_races += 1;
                    continue;
                }
                Err(e) => {
                    w.errors.push(format!("send_start {id}: {e}"));
                    continue;
                }
            }
        }
        match fs::rename(root.join("inflight").join(id), root.join("cleanup").join(id)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && from == "inflight" => {
                w.lost_races += 1;
                continue;
            }
            Err(e) => {
                w.errors.push(format!("send_done {id}: {e}"));
                continue;
            }
        }
        match queue.cleanup(&EntryId::new(id.as_bytes())) {
            Ok(()) => w.sent += 1,
            Err(e) => w.errors.push(format!("cleanup {id}: {e}")),
        }
    }
    w
}

/// Runs `run` (an mqctl command) while a simulated writer sends entries
/// from `from`; the writer stops when the command has finished.
fn with_writer(root: &Path, from: &str, n: usize, run: impl FnOnce() -> Run) -> (Writer, Run) {
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let w = s.spawn(|| writer(root, from, n, &stop));
        let r = run();
        stop.store(true, Ordering::SeqCst);
        (w.join().unwrap(), r)
    })
}

/// Neither side failed, each of the `total` entries was handled once (by
/// mqctl, `verb`, or sent by the writer), and the two really overlapped.
fn assert_each_entry_once(r: &Run, w: &Writer, total: usize, verb: &str) -> Counts {
    assert!(w.errors.is_empty(), "writer errors: {:?}", w.errors);
    assert_eq!(r.code, 0, "{r:?}");
    let c = r.counts();
    assert_eq!(c.failed, 0, "{r:?}");
    assert_eq!(c.done as usize + w.sent, total, "{verb} {c:?} + sent {}", w.sent);
    eprintln!("{verb} {c:?}, writer sent {} lost {}", w.sent, w.lost_races);
    assert!(c.done > 0 && w.sent > 0, "no overlap: {verb} {c:?}, sent {}", w.sent);
    c
}

#[test]
fn a_live_writer_sending_during_a_bulk_drop_loses_and_duplicates_nothing() {
    let (q, initial) = TestQueue::bulk(CONCURRENT_ENTRIES);
    let (w, r) = with_writer(q.root(), "queue", initial.len(), || {
        spawn(&q, &["drop", "--all", "--yes"]).finish()
    });
    let c = assert_each_entry_once(&r, &w, initial.len(), "dropped");
    assert_eq!(r.lines().len() as u64, c.done);
    assert!(entries(q.root()).is_empty());
    assert_eq!(count(&q.path("data")), 0, "leftover mail folders");
}

#[test]
fn a_live_writer_finishing_sends_during_recover_loses_and_duplicates_nothing() {
    let (q, initial) = TestQueue::bulk(CONCURRENT_ENTRIES);
    for id in initial.keys() {
        q.put(id, "queue", "inflight");
    }
    let (w, r) = with_writer(q.root(), "inflight", initial.len(), || {
        q.run(["recover", "--stuck-after", "0s"])
    });
    let c = assert_each_entry_once(&r, &w, initial.len(), "recovered");
    let after = entries(q.root());
    assert_eq!(after.len() as u64, c.done);
    for (id, (state, text)) in &after {
        assert_eq!(state, "queue");
        assert_eq!(text, initial[id].as_bytes());
        assert!(q.root().join("queue").join(&initial[id]).join("schedule").is_file());
    }
}

// ---------------------------------------------------------------- signals

/// Starts a bulk change, signals it once its first batch is reported, and
/// checks it stopped after the entry at hand with exit 130, a summary
/// marked "(interrupted)", and a consistent queue. Retries with a larger
/// queue if the command finished before the signal could arrive.
fn interrupt_test(args: &[&str], signal: Signal, verb: &str) {
    let mut n = CRASH_ENTRIES;
    for _ in 0..3 {
        let (q, initial) = TestQueue::bulk(n);
        let mut child = spawn(&q, args);
        if child.wait_started(Duration::from_secs(60)) {
            // Not reaped yet (wait_started only sees that it exited): the pid is ours.
            child.signal(signal);
        }
        let r = child.finish();
        if r.code == 0 && !r.stderr.contains("(interrupted)") {
            n *= 2;
            continue; // finished first: try again, bigger
        }
        assert_eq!(r.code, 130, "{r:?}");
        let summary = r.summary();
        assert!(summary.ends_with("(interrupted)"), "{summary}");
        assert!(summary.contains(verb), "{summary}");
        let c = r.counts();
        assert!(c.done > 0 && (c.done as usize) < initial.len(), "{summary}");
        assert_eq!(c.failed, 0);
        assert_eq!(r.lines().len() as u64, c.done, "one line per entry reported done");
        let after = entries(q.root());
        assert!(temp_files(q.root()).is_empty(), "the entry at hand was not finished");
        assert_eq!(count(&q.path("cleanup")), 0, "the entry at hand was not finished");
        match args[0] {
            "drop" => {
                // Each reported entry is gone completely; the rest are queued.
                assert_eq!(after.len() + c.done as usize, initial.len());
                assert!(after.values().all(|(s, _)| s == "queue"));
            }
            "hold" => {
                let held = after.values().filter(|(s, _)| s == "hold").count();
                assert_eq!(held as u64, c.done);
                assert_eq!(after.len(), initial.len());
            }
            "reschedule" => {
                assert_eq!(after.len(), initial.len());
                let target = parse::format_timestamp(LATER.parse().unwrap());
                let new = schedules(q.root())
                    .values()
                    .filter(|t| parse::format_timestamp(parse::schedule(t.as_bytes()).unwrap().at) == target)
                    .count();
                // No schedule was at LATER before: every match is a rewrite.
                assert_eq!(new as u64, c.done, "rewritten schedules differ from the reported count");
            }
            _ => unreachable!(),
        }
        return;
    }
    panic!("the command always finished before the signal arrived");
}

#[test]
fn sigterm_stops_a_bulk_drop_after_the_entry_at_hand_with_exit_130() {
    interrupt_test(&["drop", "--all", "--yes"], Signal::SIGTERM, "dropped");
}

#[test]
fn sigint_stops_a_bulk_hold_with_exit_130() {
    interrupt_test(&["hold", "--all", "--yes"], Signal::SIGINT, "held");
}

#[test]
fn sigterm_stops_a_bulk_reschedule_with_no_temp_file_left() {
    interrupt_test(
        &["reschedule", "--all", "--at", "now", "--yes"],
        Signal::SIGTERM,
        "rescheduled",
    );
}

/// Waits until the child has the queue root open (it opens the queue right
/// after installing its signal handlers, before scanning).
fn wait_until_queue_open(child: &mut Spawned<'_>, root: &Path, limit: Duration) -> bool {
    let fds = PathBuf::from(format!("/proc/{}/fd", child.pid()));
    let t = Instant::now();
    while t.elapsed() < limit {
        if child.exited() {
            return false;
        }
        let open = fs::read_dir(&fds)
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|p| p.starts_with(root)));
        if open {
            return true;
        }
        thread::sleep(Duration::from_millis(1));
    }
    false
}

#[test]
fn sigterm_during_the_initial_scan_changes_nothing_and_exits_130() {
    // A filter on the envelope makes the scan read every entry's files, so
    // it lasts long enough to be interrupted; a larger queue if it did not.
    let mut n = CRASH_ENTRIES;
    for _ in 0..3 {
        let (q, _) = TestQueue::bulk(n);
        let before = entries(q.root());
        let mut child = spawn(&q, &["drop", "--to", "*", "--yes"]);
        if wait_until_queue_open(&mut child, q.root(), Duration::from_secs(60)) {
            child.signal(Signal::SIGTERM);
        }
        let r = child.finish();
        if !r.stderr.contains("before any change") && (r.code == 0 || r.stderr.contains("(interrupted)")) {
            n *= 2;
            continue; // the scan was over before the signal: try a bigger queue
        }
        assert_eq!(r.code, 130, "{r:?}");
        assert!(
            r.stderr.contains("interrupted before any change: nothing changed"),
            "{r:?}"
        );
        assert!(r.stdout.is_empty(), "{r:?}");
        assert_eq!(entries(q.root()), before, "the queue changed");
        return;
    }
    panic!("the scan always finished before the signal arrived");
}
