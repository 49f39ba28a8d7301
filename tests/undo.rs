//! `mqctl undo --log FILE [--run ID | --since TIME]`, run as a user would
//! on real queues: the changes of logged runs are taken back newest first
//! and the folders compared byte for byte with what they were; what cannot
//! be undone, and what someone else changed since, is reported and left
//! alone.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// The log every test's runs write to, beside the queue.
fn log_of(q: &TestQueue) -> PathBuf {
    q.tmp().join("mqctl.jsonl")
}

/// `mqctl ARGS --log LOG`, which must succeed.
fn logged(q: &TestQueue, args: &[&str]) -> Run {
    let log = log_of(q);
    q.mqctl(args).arg("--log").arg(&log).run().success()
}

/// `mqctl undo --log LOG EXTRA`.
fn undo(q: &TestQueue, extra: &[&str]) -> Run {
    let log = log_of(q);
    q.mqctl(["undo", "--log"]).arg(&log).args(extra).run()
}

/// The log's lines as JSON.
fn lines(log: &Path) -> Vec<Value> {
    fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// The runs of the log in the order they started: (id, time of the first line).
fn runs(log: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for v in lines(log) {
        let run = v["run"].as_str().unwrap().to_string();
        if !out.iter().any(|(r, _)| *r == run) {
            out.push((run, v["time"].as_str().unwrap().to_string()));
        }
    }
    out
}

/// The last line of stderr: an undo's summary.
fn summary(r: &Run) -> &str {
    r.stderr.lines().last().unwrap_or_else(|| panic!("no summary: {r:?}"))
}

// ---------------------------------------------------------------- moves

#[test]
fn undo_of_a_hold_puts_the_entries_back_in_queue_byte_for_byte() {
    let q = TestQueue::new();
    let m = q.simple(3, "2026-11-23T10:00:00Z");
    let before = q.snapshot();
    logged(&q, &["hold", &m[0].id, &m[1].id]);
    assert_ne!(before, q.snapshot());

    let r = undo(&q, &[]).success();
    let mut want = vec![
        format!("undo {} hold -> queue", m[0].id),
        format!("undo {} hold -> queue", m[1].id),
    ];
    want.sort();
    assert_eq!(r.sorted_lines(), want, "{r:?}");
    assert_eq!(summary(&r), "2 undone, 0 not undoable, 0 changed since, 0 failed");
    let (run, _) = &runs(&log_of(&q))[0];
    assert!(
        r.stderr.contains(&format!(
            "undoing the last run in {}: {run} (hold, 2 changes, started ",
            log_of(&q).display()
        )),
        "{r:?}"
    );
    // The only trace: hold/ and hold-notes/ exist, empty.
    let mut expected = before;
    expected.set("hold", Node::dir(0o700));
    expected.set("hold-notes", Node::dir(0o700));
    assert_tree(&expected, &q.snapshot());
}

#[test]
fn undo_of_a_release_puts_the_entries_back_in_hold_byte_for_byte() {
    let q = TestQueue::new();
    let m = q.simple(3, "2026-11-23T10:00:00Z");
    for e in m.iter() {
        q.put(&e.id, "queue", "hold");
    }
    let before = q.snapshot();
    logged(&q, &["release", "--all", "--yes"]);
    assert_eq!(q.list_count(&["--state", "hold"]), 0);

    let r = undo(&q, &["--yes"]).success();
    assert_eq!(r.lines().len(), 3, "{r:?}");
    assert!(r.lines().iter().all(|l| l.ends_with(" queue -> hold")), "{r:?}");
    assert_eq!(summary(&r), "3 undone, 0 not undoable, 0 changed since, 0 failed");
    assert_tree(&before, &q.snapshot());
}

#[test]
fn undo_of_a_recover_puts_the_entry_back_in_inflight_and_undoing_that_waits_until_it_is_stuck() {
    let q = TestQueue::new().real_clock();
    let m = q.simple(2, "2026-11-23T10:00:00Z");
    q.put(&m[0].id, "queue", "inflight");
    let before = q.snapshot();
    logged(&q, &["recover", "--stuck-after", "0s"]);
    let after_recover = q.snapshot();

    let r = undo(&q, &[]).success();
    assert_eq!(r.lines(), vec![format!("undo {} queue -> inflight", m[0].id)]);
    assert_tree(&before, &q.snapshot());

    // Taking that back is a recover again, by recover's rule: an entry
    // just put into inflight/ may be being sent, so it is left alone…
    let r = undo(&q, &[]).expect(1);
    assert!(
        r.stderr
            .contains(&format!("mqctl: undo {} inflight: skipped: inflight for only", m[0].id)),
        "{r:?}"
    );
    assert_eq!(
        summary(&r),
        "0 undone, 0 not undoable, 0 changed since, 1 skipped, 0 failed"
    );
    assert_tree(&before, &q.snapshot());
    // …until it has been there for the hour a writer waits.
    let undo_run = runs(&log_of(&q))[1].0.clone();
    let r = q
        .mqctl(["undo", "--run", &undo_run, "--log"])
        .arg(log_of(&q))
        .now("+2h")
        .run()
        .success();
    assert_eq!(r.lines(), vec![format!("undo {} inflight -> queue", m[0].id)]);
    assert_tree(&after_recover, &q.snapshot());
}

// ---------------------------------------------------------------- schedules

/// Runs `args` (a rewrite of the two entries of `m`, one queued and one
/// held, with a schedule holding a field mqctl does not know), then undo:
/// the schedules get their bytes back.
fn rewrite_then_undo(args: &[&str]) {
    let q = TestQueue::new();
    let m = q.simple(3, "2026-11-23T10:00:00Z");
    q.put(&m[1].id, "queue", "hold");
    let sched: Vec<String> = m.iter().map(|e| format!("{}/schedule", e.dest_dir())).collect();
    fs::write(
        q.path(&sched[0]),
        br#"{"at":"2026-11-22T21:35:25.426680706Z","x-extra":{"b":[1,"two",null],"a":true},"last_attempt":"2026-11-22T17:35:25.4Z"}"#,
    )
    .unwrap();
    let before = q.snapshot();
    let mut cmd: Vec<&str> = args.to_vec();
    cmd.extend([m[0].id.as_str(), m[1].id.as_str()]);
    logged(&q, &cmd);
    for s in &sched[..2] {
        assert_ne!(
            fs::read(q.path(s)).unwrap(),
            before[s.as_str()].bytes.clone().unwrap(),
            "{args:?}"
        );
    }

    let r = undo(&q, &[]).success();
    let mut want = vec![
        format!("undo {} queue at 2026-11-22T21:35:25.426680706Z", m[0].id),
        format!("undo {} hold at 2026-11-23T10:00:00Z", m[1].id),
    ];
    want.sort();
    assert_eq!(r.sorted_lines(), want, "{args:?}: {r:?}");
    assert_eq!(summary(&r), "2 undone, 0 not undoable, 0 changed since, 0 failed");
    // Byte for byte, with their mode and owner: new files (renamed over
    // the rewritten ones), so only their times differ.
    let mut expected = before;
    expected.set("claimed", Node::dir(0o700));
    expected.set("claimed-held", Node::dir(0o700));
    for s in &sched[..2] {
        expected.any_mtime(s);
    }
    assert_tree(&expected, &q.snapshot());
    assert!(temp_files(q.root()).is_empty());
}

#[test]
fn undo_of_a_reschedule_gives_the_schedules_their_bytes_back() {
    rewrite_then_undo(&["reschedule", "--at", "2026-11-24T06:00:00Z"]);
}

#[test]
fn undo_of_a_defer_gives_the_schedules_their_bytes_back() {
    rewrite_then_undo(&["defer", "--by", "3h"]);
}

// ---------------------------------------------------------------- what is not undone

#[test]
fn a_drop_is_listed_as_not_undoable_and_so_are_the_older_changes_of_its_entry() {
    let q = TestQueue::new();
    let m = q.simple(3, "2026-11-23T10:00:00Z");
    logged(&q, &["hold", &m[0].id, &m[1].id]);
    logged(&q, &["drop", &m[0].id]);
    let before = q.snapshot();

    let r = undo(&q, &[]).expect(1);
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "mqctl: undo {} (drop): not undoable: it went to cleanup/, whose cleanup removed its files",
            m[0].id
        )),
        "{r:?}"
    );
    assert_eq!(summary(&r), "0 undone, 1 not undoable, 0 changed since, 0 failed");
    assert_tree(&before, &q.snapshot());

    // Both runs: the hold of the dropped entry cannot be undone either;
    // the other held entry is released.
    let since = runs(&log_of(&q))[0].1.clone();
    let r = undo(&q, &["--since", &since]).expect(1);
    assert!(r.stderr.contains("undoing 2 runs started at or after "), "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "mqctl: undo {} (hold): not undoable: a later change to it (drop) cannot be undone",
            m[0].id
        )),
        "{r:?}"
    );
    assert_eq!(r.lines(), vec![format!("undo {} hold -> queue", m[1].id)]);
    assert_eq!(summary(&r), "1 undone, 2 not undoable, 0 changed since, 0 failed");
    let mut expected = before;
    expected.move_entry(&m[1].id, "hold", "queue");
    assert_tree(&expected, &q.snapshot());
}

#[test]
fn purges_removals_are_listed_as_not_undoable() {
    let q = TestQueue::new().real_clock();
    let m = q.simple(1, "2026-11-23T10:00:00Z");
    let tmp = format!("{}/schedule.0b5c1c83-9c43-4b8e-9f4e-0d1d9f7a3e21", m[0].dest_dir());
    fs::write(q.path(&tmp), b"{\"at\":").unwrap();
    q.age(&tmp, 3 * 3600);
    logged(&q, &["purge"]);
    let before = q.snapshot();

    let r = undo(&q, &[]).expect(1);
    assert!(
        r.stderr.contains(&format!(
            "mqctl: undo {tmp} (remove-temp): not undoable: purge removed this temp file"
        )),
        "{r:?}"
    );
    assert_eq!(summary(&r), "0 undone, 1 not undoable, 0 changed since, 0 failed");
    assert_tree(&before, &q.snapshot());
}

#[test]
fn an_entry_changed_since_by_someone_else_is_left_alone_and_reported() {
    let q = TestQueue::new();
    let m = q.simple(3, "2026-11-23T10:00:00Z");
    logged(&q, &["hold", &m[0].id, &m[1].id]);
    logged(&q, &["reschedule", &m[2].id, "--at", "2026-11-24T06:00:00Z"]);
    // Someone else, without the log: m[1] released, m[2] rescheduled again.
    q.run(["release", &m[1].id]).success();
    q.run(["reschedule", &m[2].id, "--at", "2026-11-25T06:00:00Z"])
        .success();
    let before = q.snapshot();

    let since = runs(&log_of(&q))[0].1.clone();
    let r = undo(&q, &["--since", &since]).expect(1);
    assert_eq!(r.lines(), vec![format!("undo {} hold -> queue", m[0].id)], "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "mqctl: undo {} hold: skipped: changed since by someone else: now in queue/",
            m[1].id
        )),
        "{r:?}"
    );
    assert!(
        r.stderr.contains(&format!(
            "mqctl: undo {} queue: skipped: changed since by someone else: its schedule is not the one that change wrote",
            m[2].id
        )),
        "{r:?}"
    );
    assert_eq!(summary(&r), "1 undone, 0 not undoable, 2 changed since, 0 failed");
    let mut expected = before;
    expected.move_entry(&m[0].id, "hold", "queue");
    assert_tree(&expected, &q.snapshot());
    assert_eq!(
        fs::read_to_string(q.path(format!("{}/schedule", m[2].dest_dir()))).unwrap(),
        r#"{"at":"2026-11-25T06:00:00Z","last_attempt":null}"#
    );
}

#[test]
fn a_change_whose_result_the_log_lacks_is_listed_as_not_undoable() {
    let q = TestQueue::new();
    let m = q.simple(1, "2026-11-23T10:00:00Z");
    // A run stopped between its intent and its results.
    let run = uuid();
    let intent = format!(
        r#"{{"time":"2026-11-22T20:41:00Z","run":"{run}","uid":0,"user":"root","operation":"hold","result":"intent","ids":["{}"]}}"#,
        m[0].id
    );
    fs::write(log_of(&q), format!("{intent}\n")).unwrap();
    let before = q.snapshot();
    let r = undo(&q, &[]).expect(1);
    assert!(
        r.stderr.contains(&format!(
            "mqctl: undo {} (hold): not undoable: its run recorded no result for it",
            m[0].id
        )),
        "{r:?}"
    );
    assert_tree(&before, &q.snapshot());
}

// ---------------------------------------------------------------- choosing runs

#[test]
fn run_picks_one_run_among_several_and_an_unknown_run_lists_the_last_ones() {
    let q = TestQueue::new();
    let m = q.simple(3, "2026-11-23T10:00:00Z");
    for e in m.iter() {
        logged(&q, &["hold", &e.id]);
    }
    let before = q.snapshot();
    let ids: Vec<String> = runs(&log_of(&q)).into_iter().map(|(r, _)| r).collect();
    assert_eq!(ids.len(), 3);

    // A unique prefix is enough, as for entry ids.
    let r = undo(&q, &["--run", &ids[1][..8]]).success();
    assert_eq!(r.lines(), vec![format!("undo {} hold -> queue", m[1].id)]);
    assert!(
        r.stderr
            .contains(&format!("undoing run {} (hold, 1 change, started ", ids[1])),
        "{r:?}"
    );
    let mut expected = before.clone();
    expected.move_entry(&m[1].id, "hold", "queue");
    assert_tree(&expected, &q.snapshot());

    let r = undo(&q, &["--run", "deadbeef"]).expect(2);
    assert!(
        r.stderr.contains(&format!(
            "no run deadbeef in {}; its last runs (newest first):",
            log_of(&q).display()
        )),
        "{r:?}"
    );
    // The undo just made is a run too, the newest.
    let listed: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(listed.len(), 4, "{r:?}");
    assert!(listed[0].contains("undo, 1 change, started "), "{r:?}");
    for (line, id) in listed[1..].iter().zip(ids.iter().rev()) {
        assert!(line.starts_with(&format!("  {id}  hold, 1 change, started ")), "{r:?}");
    }
    assert_tree(&expected, &q.snapshot());
}

/// hold, reschedule (of a held entry), release: three runs, each changing
/// the same entries. `--since` the second takes back the release and the
/// reschedule, newest first; `--since` the first takes everything back; a
/// dry run prints exactly the lines of the real run each time.
#[test]
fn since_takes_back_every_run_started_at_or_after_the_time_newest_change_first() {
    let q = TestQueue::new();
    let m = q.simple(3, "2026-11-23T10:00:00Z");
    let original = q.snapshot();
    logged(&q, &["hold", &m[0].id, &m[1].id]);
    let held = q.snapshot();
    logged(&q, &["reschedule", &m[0].id, "--at", "2026-11-24T06:00:00Z"]);
    logged(&q, &["release", &m[0].id, &m[1].id]);
    let starts: Vec<String> = runs(&log_of(&q)).into_iter().map(|(_, t)| t).collect();

    let dry = undo(&q, &["--since", &starts[1], "--dry-run"]).success();
    assert!(
        summary(&dry).starts_with("dry run, nothing changed: 3 would be undone"),
        "{dry:?}"
    );
    let r = undo(&q, &["--since", &starts[1]]).success();
    // The release first (its two changes in either order), then the
    // reschedule it undid.
    let out = r.lines();
    assert_eq!(out.len(), 3, "{r:?}");
    let mut released = out[..2].to_vec();
    released.sort();
    let mut want = vec![
        format!("undo {} queue -> hold", m[0].id),
        format!("undo {} queue -> hold", m[1].id),
    ];
    want.sort();
    assert_eq!(released, want, "{r:?}");
    assert_eq!(out[2], format!("undo {} hold at 2026-11-23T10:00:00Z", m[0].id));
    assert_eq!(dry.stdout, r.stdout);
    assert_eq!(summary(&r), "3 undone, 0 not undoable, 0 changed since, 0 failed");
    let mut expected = held.clone();
    expected.set("claimed-held", Node::dir(0o700));
    expected.any_mtime(format!("{}/schedule", m[0].dest_dir()));
    // The notes the release removed are back, byte for byte.
    for e in &m[..2] {
        expected.any_mtime(format!("hold-notes/{}", e.id));
    }
    assert_tree(&expected, &q.snapshot());

    // Everything since the first run: its undo (the newest run) is taken
    // back first, then the runs before it (what it took back finds the
    // entries already as those runs left them).
    let dry = undo(&q, &["--since", &starts[0], "--dry-run"]).success();
    let r = undo(&q, &["--since", &starts[0]]).success();
    assert_eq!(dry.stdout, r.stdout, "{dry:?}\n{r:?}");
    assert!(r.stderr.contains("undoing 4 runs started at or after "), "{r:?}");
    let mut expected = original;
    expected.set("hold", Node::dir(0o700));
    expected.set("hold-notes", Node::dir(0o700));
    expected.set("claimed-held", Node::dir(0o700));
    expected.any_mtime(format!("{}/schedule", m[0].dest_dir()));
    assert_tree(&expected, &q.snapshot());
}

#[test]
fn runs_of_several_processes_interleaved_in_one_log_are_told_apart() {
    let q = TestQueue::new();
    let m = q.simple(2, "2026-11-23T10:00:00Z");
    let before = q.snapshot();
    let (one, two) = (q.tmp().join("one.jsonl"), q.tmp().join("two.jsonl"));
    q.mqctl(["hold", &m[0].id, "--log"]).arg(&one).run().success();
    q.mqctl(["hold", &m[1].id, "--log"]).arg(&two).run().success();
    let (a, b) = (fs::read_to_string(&one).unwrap(), fs::read_to_string(&two).unwrap());
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    assert_eq!((a.len(), b.len()), (2, 2), "an intent and a result each");
    // Both intents, then both results, and lines that are no log records.
    let mixed = [a[0], b[0], "not json", a[1], r#"{"partial":"#, b[1]].join("\n") + "\n";
    fs::write(log_of(&q), mixed).unwrap();
    let run_one = lines(&one)[0]["run"].as_str().unwrap().to_string();

    let r = undo(&q, &["--run", &run_one]).success();
    assert_eq!(r.lines(), vec![format!("undo {} hold -> queue", m[0].id)]);
    assert!(
        r.stderr.contains(&format!(
            "mqctl: warning: 2 lines of {} are not log records: skipped",
            log_of(&q).display()
        )),
        "{r:?}"
    );
    // The last run to start is the second process's.
    let r = undo(&q, &["--run", lines(&two)[0]["run"].as_str().unwrap()]).success();
    assert_eq!(r.lines(), vec![format!("undo {} hold -> queue", m[1].id)]);
    let mut expected = before;
    expected.set("hold", Node::dir(0o700));
    expected.set("hold-notes", Node::dir(0o700));
    assert_tree(&expected, &q.snapshot());
}

// ---------------------------------------------------------------- dry run, undo of an undo

#[test]
fn dry_run_changes_nothing_and_prints_the_lines_of_the_real_run() {
    let q = TestQueue::new();
    let m = q.simple(4, "2026-11-23T10:00:00Z");
    logged(&q, &["hold", &m[0].id, &m[1].id, &m[2].id]);
    logged(&q, &["defer", &m[0].id, &m[3].id, "--by", "2h"]);
    logged(&q, &["drop", &m[2].id]);
    q.run(["release", &m[1].id]).success();
    let log_bytes = fs::read(log_of(&q)).unwrap();
    let before = q.snapshot();
    let since = runs(&log_of(&q))[0].1.clone();

    let d = undo(&q, &["--since", &since, "--dry-run"]).expect(1);
    assert_tree(&before, &q.snapshot());
    assert_eq!(fs::read(log_of(&q)).unwrap(), log_bytes, "a dry run records nothing");
    let r = undo(&q, &["--since", &since]).expect(1);
    assert_eq!(d.stdout, r.stdout, "{d:?}\n{r:?}");
    let all_but_summary = |r: &Run| {
        let mut l: Vec<String> = r.stderr.lines().map(String::from).collect();
        l.pop();
        l
    };
    assert_eq!(all_but_summary(&d), all_but_summary(&r));
    assert_eq!(
        summary(&d),
        "dry run, nothing changed: 3 would be undone, 2 not undoable, 1 changed since, 0 failed"
    );
    assert_eq!(summary(&r), "3 undone, 2 not undoable, 1 changed since, 0 failed");
    assert_eq!(r.lines().len(), 3, "{r:?}");
    assert_ne!(before, q.snapshot());
}

#[test]
fn undo_of_an_undo_makes_the_change_again() {
    let q = TestQueue::new();
    let m = q.simple(2, "2026-11-23T10:00:00Z");
    logged(&q, &["hold", &m[0].id]);
    logged(&q, &["reschedule", &m[1].id, "--at", "2026-11-24T06:00:00Z"]);
    let changed = q.snapshot();

    // The undo's own changes go to the log it read, as an ordinary run.
    let since = runs(&log_of(&q))[0].1.clone();
    undo(&q, &["--since", &since]).success();
    let undo_lines: Vec<Value> = lines(&log_of(&q))
        .into_iter()
        .filter(|v| v["operation"] == "undo" && v["result"] == "done")
        .collect();
    assert_eq!(undo_lines.len(), 2);
    assert_eq!(
        undo_lines[0]["after"],
        r#"{"at":"2026-11-23T10:00:00Z","last_attempt":null}"#
    );
    assert_eq!(
        undo_lines[0]["before"],
        r#"{"at":"2026-11-24T06:00:00Z","last_attempt":null}"#
    );
    assert_eq!(
        (&undo_lines[1]["from"], &undo_lines[1]["to"]),
        (&"hold".into(), &"queue".into())
    );

    // The last run is the undo: undoing it makes both changes again.
    let r = undo(&q, &[]).success();
    assert_eq!(
        r.lines(),
        vec![
            format!("undo {} queue -> hold", m[0].id),
            format!("undo {} queue at 2026-11-24T06:00:00Z", m[1].id),
        ]
    );
    let mut expected = changed;
    expected.any_mtime(format!("{}/schedule", m[1].dest_dir()));
    expected.any_mtime(format!("hold-notes/{}", m[0].id));
    assert_tree(&expected, &q.snapshot());
}

#[test]
fn record_puts_the_undos_own_lines_in_another_file() {
    let q = TestQueue::new();
    let m = q.simple(1, "2026-11-23T10:00:00Z");
    logged(&q, &["hold", &m[0].id]);
    let log_bytes = fs::read(log_of(&q)).unwrap();
    let other = q.tmp().join("undo.jsonl");
    q.mqctl(["undo", "--log"])
        .arg(log_of(&q))
        .arg("--record")
        .arg(&other)
        .run()
        .success();
    assert_eq!(fs::read(log_of(&q)).unwrap(), log_bytes);
    let rec = lines(&other);
    assert_eq!(rec.len(), 2, "an intent and a result: {rec:?}");
    assert_eq!(rec[1]["operation"], "undo");
    assert_eq!(rec[1]["id"], m[0].id.as_str());
    assert_eq!(mode(&other), 0o600);
}

#[test]
fn an_empty_or_missing_log_is_a_usage_error() {
    let q = TestQueue::new();
    let r = undo(&q, &[]).expect(2);
    assert!(r.stderr.contains("--log "), "{r:?}");
    fs::write(log_of(&q), "").unwrap();
    let r = undo(&q, &[]).expect(2);
    assert!(r.stderr.contains("holds no run to undo"), "{r:?}");
    let r = undo(&q, &["--since", "now", "--run", "x"]).expect(2);
    assert!(r.stderr.contains("cannot be used with"), "{r:?}");
}
