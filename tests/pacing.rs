//! Paced retry: `reschedule --spread` gives the selected entries next
//! attempts spread evenly over the window, the longest waiting first, and
//! `--per-domain-rate` keeps any one domain under N attempts a minute.

mod common;

use std::collections::BTreeMap;

use common::{NOW, TestQueue, now, ts};
use jiff::{SignedDuration, Timestamp};
use mqctl::queue::parse;

/// Each entry's next attempt on disk, by id.
fn ats(q: &TestQueue) -> BTreeMap<String, Timestamp> {
    q.list_json(&["--state", "queue"])
        .iter()
        .map(|v| (v["id"].as_str().unwrap().to_string(), ts(v["at"].as_str().unwrap())))
        .collect()
}

/// 300 entries waiting since different times, over three domains.
fn backlog() -> (TestQueue, BTreeMap<String, Timestamp>) {
    let q = TestQueue::new();
    for i in 0..300i64 {
        let d = ["a.example", "b.example", "c.example"][(i % 3) as usize];
        q.enqueue(&[&format!("r{i}@{d}")])
            .at(now() - SignedDuration::from_mins(600 - i))
            .create();
    }
    let before = ats(&q);
    (q, before)
}

#[test]
fn spread_puts_every_attempt_in_the_window_evenly_in_the_order_they_waited() {
    let (q, before) = backlog();
    let r = q
        .run(["reschedule", "--all", "--at", "now", "--spread", "30m", "--yes"])
        .expect(0);
    assert_eq!(r.counts().done, 300, "{r:?}");
    let after = ats(&q);
    let end = now() + SignedDuration::from_mins(30);
    assert!(
        after.values().all(|&t| t >= now() && t < end),
        "every attempt inside the window"
    );
    // In the order of their former next attempt: oldest first.
    let mut by_old: Vec<(&Timestamp, &String)> = before.iter().map(|(id, t)| (t, id)).collect();
    by_old.sort();
    let new: Vec<Timestamp> = by_old.iter().map(|(_, id)| after[*id]).collect();
    assert!(
        new.windows(2).all(|w| w[0] <= w[1]),
        "the order of their waiting is kept"
    );
    // Evenly: no minute holds more than twice its share (10).
    let mut per_minute = [0u32; 30];
    for t in after.values() {
        per_minute[(t.duration_since(now()).as_secs() / 60) as usize] += 1;
    }
    assert!(per_minute.iter().all(|&n| n <= 20), "{per_minute:?}");
    assert!(per_minute.iter().all(|&n| n > 0), "{per_minute:?}");
    // The schedule is still the writer's form, last_attempt untouched.
    let text = std::fs::read_to_string(q.path(format!(
            "{}/schedule",
            q.list_json(&[])[0]["dest"]
                .as_str()
                .map(|d| format!("data/{}/{d}", q.list_json(&[])[0]["mail"].as_str().unwrap()))
                .unwrap()
        )))
    .unwrap();
    assert!(parse::schedule(text.as_bytes()).is_ok(), "{text}");
    let _ = NOW;
}

#[test]
fn a_per_domain_rate_caps_each_domain_per_minute() {
    let (q, _) = backlog();
    let r = q
        .run([
            "reschedule",
            "--domain",
            "a.example",
            "--at",
            "now",
            "--spread",
            "10m",
            "--per-domain-rate",
            "5/min",
            "--yes",
        ])
        .expect(0);
    assert_eq!(r.counts().done, 100, "{r:?}");
    // 100 to one domain at 5 a minute need 20 minutes: past the window, said once.
    assert!(r.stderr.contains("the per-domain rate needs until"), "{r:?}");
    let a: Vec<Timestamp> = q
        .list_json(&["--domain", "a.example"])
        .iter()
        .map(|v| ts(v["at"].as_str().unwrap()))
        .collect();
    let mut per_minute = BTreeMap::new();
    for t in &a {
        *per_minute.entry(t.duration_since(now()).as_secs() / 60).or_insert(0) += 1;
    }
    assert!(per_minute.values().all(|&n| n <= 5), "{per_minute:?}");
    assert!(a.iter().all(|&t| t >= now()));
    // The other domains were not touched.
    let b: Vec<Timestamp> = q
        .list_json(&["--domain", "b.example"])
        .iter()
        .map(|v| ts(v["at"].as_str().unwrap()))
        .collect();
    assert!(b.iter().all(|&t| t < now()));
}

#[test]
fn a_dry_run_of_a_spread_prints_the_times_and_changes_nothing() {
    let (q, before) = backlog();
    let snap = q.snapshot();
    let r = q
        .run(["reschedule", "--all", "--at", "+1h", "--spread", "1h", "--dry-run"])
        .expect(0);
    assert_eq!(r.lines().len(), 300);
    assert!(r.lines().iter().all(|l| l.contains(" at 2026-11-2")), "{r:?}");
    assert_eq!(q.snapshot(), snap);
    assert_eq!(ats(&q), before);
}

#[test]
fn a_rate_is_checked_by_its_flag() {
    let (q, _) = backlog();
    let r = q
        .run(["reschedule", "--all", "--at", "now", "--per-domain-rate", "0/min"])
        .expect(2);
    assert!(r.stderr.contains("--per-domain-rate"), "{r:?}");
}

/// Each held entry's next attempt on disk, by id.
fn held_ats(q: &TestQueue) -> BTreeMap<String, Timestamp> {
    q.list_json(&["--state", "hold"])
        .iter()
        .map(|v| (v["id"].as_str().unwrap().to_string(), ts(v["at"].as_str().unwrap())))
        .collect()
}

#[test]
fn release_spread_rewrites_while_held_then_releases_and_undo_takes_back_both() {
    let (q, before) = backlog();
    q.run(["hold", "--all", "--yes"]).success();
    let held = q.snapshot();
    assert_eq!(held_ats(&q), before);
    let log = q.tmp().join("log.jsonl");
    let r = q
        .run([
            "release",
            "--domain",
            "a.example",
            "--spread",
            "30m",
            "--yes",
            "--log",
            log.to_str().unwrap(),
        ])
        .expect(0);
    // Two runs, two summaries: the rewrite, then the release.
    assert!(r.stderr.contains("100 rescheduled, 0 vanished, 0 failed"), "{r:?}");
    assert_eq!(r.summary(), "100 released, 0 vanished, 0 failed");
    let after = ats(&q);
    assert_eq!(after.len(), 100, "only a.example was released");
    let end = now() + SignedDuration::from_mins(30);
    assert!(after.values().all(|&t| t >= now() && t < end), "{after:?}");
    let mut by_old: Vec<(&Timestamp, &String)> = before
        .iter()
        .filter(|(id, _)| after.contains_key(*id))
        .map(|(id, t)| (t, id))
        .collect();
    by_old.sort();
    let new: Vec<Timestamp> = by_old.iter().map(|(_, id)| after[*id]).collect();
    assert!(new.windows(2).all(|w| w[0] <= w[1]), "the longest waiting first");
    // One run id for both: undo --run takes back the release and the rewrite.
    let text = std::fs::read_to_string(&log).unwrap();
    let runs: std::collections::BTreeSet<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["run"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(runs.len(), 1, "{text}");
    let run = runs.into_iter().next().unwrap();
    let r = q
        .run(["undo", "--log", log.to_str().unwrap(), "--run", &run, "--yes"])
        .expect(0);
    assert!(r.stderr.contains("200 undone"), "{r:?}");
    assert_eq!(held_ats(&q), before);
    let now_tree = q.snapshot();
    let mut expected = held;
    expected.set("claimed-held", common::Node::dir(0o700));
    for k in expected
        .keys()
        .filter(|k| k.starts_with("data") || k.starts_with("hold-notes"))
        .cloned()
        .collect::<Vec<_>>()
    {
        if expected[&k].kind == common::Kind::File {
            let mut n = expected[&k].clone();
            n.mtime = None;
            expected.set(&k, n);
        }
    }
    common::assert_tree(&expected, &now_tree);
}

#[test]
fn recover_spread_recovers_then_spreads_what_it_recovered() {
    let (q, _) = backlog();
    let ids: Vec<String> = q.list_ids(&["--domain", "b.example"]);
    for id in &ids {
        q.put(id, "queue", "inflight");
    }
    // A day later, every one of them is stuck.
    let later = "2026-12-31T00:00:00Z";
    let snap = q.snapshot();
    let dry = q
        .mqctl(["recover", "--spread", "20m", "--dry-run"])
        .now(later)
        .run()
        .expect(0);
    assert_eq!(q.snapshot(), snap, "a dry run changes nothing");
    assert_eq!(dry.lines().len(), 200, "a recover and a rewrite line each: {dry:?}");
    let r = q
        .mqctl(["recover", "--spread", "20m", "--yes"])
        .now(later)
        .run()
        .expect(0);
    assert!(r.stderr.contains("100 recovered, 0 vanished, 0 failed"), "{r:?}");
    assert_eq!(r.summary(), "100 rescheduled, 0 vanished, 0 failed");
    assert_eq!(
        dry.sorted_lines(),
        r.sorted_lines(),
        "the dry run said what the run did"
    );
    let start = ts(later);
    let end = start + SignedDuration::from_mins(20);
    let recovered: Vec<Timestamp> = q
        .list_json(&["--domain", "b.example"])
        .iter()
        .map(|v| {
            assert_eq!(v["state"], "queue");
            ts(v["at"].as_str().unwrap())
        })
        .collect();
    assert_eq!(recovered.len(), 100);
    assert!(recovered.iter().all(|&t| t >= start && t < end), "{recovered:?}");
    let mut per_minute = [0u32; 20];
    for t in &recovered {
        per_minute[(t.duration_since(start).as_secs() / 60) as usize] += 1;
    }
    assert!(per_minute.iter().all(|&n| n <= 10), "{per_minute:?}");
}
