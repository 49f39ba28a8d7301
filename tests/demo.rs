//! `mqctl demo DIR`: a realistic sample queue that every other command can
//! read, and never a surprise in a folder that already holds something.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use serde_json::Value;

/// `stats --format json --top 1000` of the queue at `root`.
fn stats(root: &Path) -> Value {
    mqctl(["stats", "--format", "json", "--top", "1000"])
        .env("MQCTL_QUEUE", root)
        .run()
        .success()
        .json()
}

#[test]
fn demo_builds_a_realistic_queue() {
    let q = TestQueue::unbuilt();
    let root = q.root();
    let a = mqctl(["demo"]).arg(root).run().success();
    let out = a.out();
    assert!(out.contains("MQCTL_QUEUE="), "{out}");
    assert!(out.contains(root.to_str().unwrap()), "{out}");

    let s = stats(root);
    let total = s["total"].as_u64().unwrap();
    assert!(total >= 2000, "{total} entries");
    let domains: Vec<&str> = s["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert!(domains.len() >= 15, "{domains:?}");
    assert!(s["states"]["inflight"].as_u64().unwrap() > 0);
    assert!(s["states"]["cleanup"].as_u64().unwrap() > 0);
    assert!(s["states"]["hold"].as_u64().unwrap() > 0);
    assert!(s["broken"].as_u64().unwrap() > 0);
    assert!(s["due"].as_u64().unwrap() > 0);
    assert!(s["deferred"].as_u64().unwrap() > 0);
    assert_eq!(q.list_count(&[]), total);
    // The report's numbers are the queue's.
    let line = out
        .lines()
        .find(|l| l.contains(" entries to "))
        .expect("a summary line");
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(nums[1], total, "{line}");
    assert_eq!(nums[3], s["states"]["inflight"], "{line}");
    assert_eq!(nums[4], s["states"]["cleanup"], "{line}");
    assert_eq!(nums[5], s["states"]["hold"], "{line}");
    assert_eq!(nums[6], s["broken"], "{line}");

    // One listing (each command reads the whole queue: keep them few).
    let entries = q
        .run(["list", "--format", "jsonl", "--fields", "to,at,last_attempt,problem"])
        .success()
        .jsonl();
    assert_eq!(entries.len() as u64, total);
    let retried = entries.iter().filter(|e| e["last_attempt"].is_string()).count();
    let never = entries
        .iter()
        .filter(|e| e["last_attempt"].is_null() && e["at"].is_string())
        .count();
    let not_due = entries
        .iter()
        .filter(|e| {
            e["at"]
                .as_str()
                .is_some_and(|t| t.parse::<jiff::Timestamp>().unwrap() > now())
        })
        .count();
    let broken = entries.iter().filter(|e| e["problem"].is_string()).count();
    assert!(retried > 0 && never > 0 && not_due > 0, "{retried} {never} {not_due}");
    assert_eq!(broken as u64, s["broken"].as_u64().unwrap());
    let rcpt_domains: BTreeSet<String> = entries
        .iter()
        .filter_map(|e| e["to"].as_str())
        .map(|to| to.rsplit_once('@').unwrap().1.to_lowercase())
        .collect();
    assert!(rcpt_domains.len() >= 15, "{rcpt_domains:?}");

    // Its hostile subject is shown escaped.
    let a = q.run(["list"]).success();
    assert!(!a.stdout.contains(&0x1b));

    // The writer's layout and modes.
    for d in ["data", "queue", "inflight", "cleanup"] {
        let m = fs::metadata(root.join(d)).unwrap();
        assert!(m.is_dir());
        assert_eq!(m.permissions().mode() & 0o777, 0o700, "{d}");
    }
}

#[test]
fn demo_into_a_non_empty_folder_fails_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("precious.txt"), "keep me").unwrap();
    let before = snapshot(tmp.path());
    let a = mqctl(["demo"]).arg(tmp.path()).run().expect(2);
    assert!(a.stderr.contains("not empty"), "{}", a.stderr);
    assert_eq!(before, snapshot(tmp.path()));
}

#[test]
fn demo_into_an_empty_folder_works() {
    let tmp = tempfile::tempdir().unwrap();
    mqctl(["demo", "--mails", "20"]).arg(tmp.path()).run().success();
    let s = stats(tmp.path());
    assert!(s["total"].as_u64().unwrap() >= 20);
}

#[test]
fn demo_without_a_folder_makes_a_new_temporary_one() {
    let tmp = tempfile::tempdir().unwrap();
    let a = mqctl(["demo", "--mails", "10"])
        .env("TMPDIR", tmp.path())
        .run()
        .success();
    let made: Vec<_> = fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(made.len(), 1, "{made:?}");
    let out = a.out();
    assert!(out.contains(made[0].to_str().unwrap()), "{out}");
    assert!(out.contains("MQCTL_QUEUE"), "{out}");
    assert!(stats(&made[0])["total"].as_u64().unwrap() >= 10);
}

#[test]
fn demo_with_the_same_seed_has_the_same_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let shape = |name: &str| {
        let root = tmp.path().join(name);
        mqctl(["demo", "--mails", "60", "--seed", "7"])
            .arg(&root)
            .run()
            .success();
        let mut s = stats(&root);
        // Ids are fresh UUIDs every time; the shape is what must repeat.
        s["oldest"]["id"] = Value::Null;
        s
    };
    assert_eq!(shape("one"), shape("two"));
}
