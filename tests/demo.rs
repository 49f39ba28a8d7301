//! `mqctl demo DIR`: a realistic sample queue that every other command can
//! read, and never a surprise in a folder that already holds something.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::*;
use serde_json::Value;

fn stats(root: &std::path::Path) -> Value {
    let a = mqctl()
        .env("MQCTL_QUEUE", root)
        .args(["stats", "--format", "json", "--top", "1000"])
        .assert()
        .success();
    serde_json::from_slice(&a.get_output().stdout).unwrap()
}

fn count(root: &std::path::Path, args: &[&str]) -> u64 {
    let a = mqctl()
        .env("MQCTL_QUEUE", root)
        .args(["list", "--count"])
        .args(args)
        .assert()
        .success();
    stdout_of(&a).trim().parse().unwrap()
}

#[test]
fn demo_builds_a_realistic_queue() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("sample");
    let a = mqctl().arg("demo").arg(&root).assert().success();
    let out = stdout_of(&a);
    assert!(out.contains("MQCTL_QUEUE="), "{out}");
    assert!(out.contains(root.to_str().unwrap()), "{out}");

    let s = stats(&root);
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
    assert_eq!(count(&root, &[]), total);
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
    let a = mqctl()
        .env("MQCTL_QUEUE", &root)
        .args(["list", "--format", "jsonl", "--fields", "to,at,last_attempt,problem"])
        .assert()
        .success();
    let entries: Vec<Value> = stdout_of(&a)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
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
    let a = mqctl().env("MQCTL_QUEUE", &root).arg("list").assert().success();
    assert!(!a.get_output().stdout.contains(&0x1b));

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
    let before = snapshot_tree(tmp.path());
    let a = mqctl().arg("demo").arg(tmp.path()).assert().code(2);
    assert!(stderr_of(&a).contains("not empty"), "{}", stderr_of(&a));
    assert_eq!(before, snapshot_tree(tmp.path()));
}

#[test]
fn demo_into_an_empty_folder_works() {
    let tmp = tempfile::tempdir().unwrap();
    mqctl()
        .args(["demo", "--mails", "20"])
        .arg(tmp.path())
        .assert()
        .success();
    let s = stats(tmp.path());
    assert!(s["total"].as_u64().unwrap() >= 20);
}

#[test]
fn demo_without_a_folder_makes_a_new_temporary_one() {
    let tmp = tempfile::tempdir().unwrap();
    let a = mqctl()
        .env("TMPDIR", tmp.path())
        .args(["demo", "--mails", "10"])
        .assert()
        .success();
    let made: Vec<_> = fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(made.len(), 1, "{made:?}");
    let out = stdout_of(&a);
    assert!(out.contains(made[0].to_str().unwrap()), "{out}");
    assert!(out.contains("MQCTL_QUEUE"), "{out}");
    assert!(stats(&made[0])["total"].as_u64().unwrap() >= 10);
}

#[test]
fn demo_with_the_same_seed_has_the_same_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let shape = |name: &str| {
        let root = tmp.path().join(name);
        mqctl()
            .args(["demo", "--mails", "60", "--seed", "7"])
            .arg(&root)
            .assert()
            .success();
        let mut s = stats(&root);
        // Ids are fresh UUIDs every time; the shape is what must repeat.
        s["oldest"]["id"] = Value::Null;
        s
    };
    assert_eq!(shape("one"), shape("two"));
}
