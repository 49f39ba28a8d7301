//! `mqctl demo DIR`: a realistic sample queue that every other command can
//! read, and never a surprise in a folder that already holds something.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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

/// The number just before the first `label` in the demo's report
/// ("2261 entries": 2261).
fn number_before(report: &str, label: &str) -> u64 {
    let at = report
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in:\n{report}"));
    let digits: String = report[..at]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number before {label:?} in:\n{report}"))
}

/// The command lines of the demo's report: the lines indented by two
/// spaces, without the indent (everything else is prose).
fn commands(report: &str) -> Vec<&str> {
    report.lines().filter_map(|l| l.strip_prefix("  ")).collect()
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
    assert_eq!(number_before(&out, " entries"), total, "{out}");
    assert_eq!(number_before(&out, " inflight"), s["states"]["inflight"], "{out}");
    assert_eq!(number_before(&out, " pending cleanup"), s["states"]["cleanup"], "{out}");
    assert_eq!(number_before(&out, " held"), s["states"]["hold"], "{out}");
    assert_eq!(number_before(&out, " broken"), s["broken"], "{out}");

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

#[test]
fn demo_report_says_one_mail_not_one_mails() {
    let tmp = tempfile::tempdir().unwrap();
    let a = mqctl()
        .args(["demo", "--mails", "1"])
        .arg(tmp.path().join("q"))
        .assert()
        .success();
    let out = stdout_of(&a);
    assert!(out.contains("\n1 mail, "), "{out}");
    assert!(!out.contains(" 1 mails") && !out.contains("\n1 mails"), "{out}");
    assert!(out.contains(" entries to 18 domains"), "{out}");
}

/// A folder name with a space, a quote and a `!` (history expansion in an
/// interactive bash), inside `base`.
fn awkward_dir(base: &Path) -> PathBuf {
    let d = base.join("it's a dir!");
    fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn the_printed_rm_line_removes_the_demo_queue_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let tmpdir = awkward_dir(tmp.path());
    fs::write(tmpdir.join("keep.txt"), "mine").unwrap();
    let a = mqctl()
        .env("TMPDIR", &tmpdir)
        .args(["demo", "--mails", "10"])
        .assert()
        .success();
    let out = stdout_of(&a);
    let made: Vec<PathBuf> = fs::read_dir(&tmpdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    let rm: Vec<&str> = commands(&out).into_iter().filter(|c| c.starts_with("rm ")).collect();
    assert_eq!(rm.len(), 1, "one rm line:\n{out}");
    let st = std::process::Command::new("bash")
        .arg("-c")
        .arg(rm[0])
        .status()
        .unwrap();
    assert!(st.success(), "{}", rm[0]);
    assert!(!made[0].exists(), "{} removed {:?}", rm[0], made[0]);
    assert_eq!(fs::read_to_string(tmpdir.join("keep.txt")).unwrap(), "mine");
}

#[test]
fn without_mqctl_on_path_the_report_aliases_mqctl_to_the_binary_that_ran() {
    // The binary in a folder whose name needs quoting (a hard link: the
    // running binary's own path is what the alias must name).
    let base = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let exe = awkward_dir(base.path()).join("mqctl");
    let bin = assert_cmd::cargo::cargo_bin("mqctl");
    fs::hard_link(&bin, &exe)
        .or_else(|_| fs::copy(&bin, &exe).map(|_| ()))
        .unwrap();
    let q = base.path().join("q");
    let out = std::process::Command::new(&exe)
        .env("PATH", "/usr/bin:/bin")
        .args(["demo", "--mails", "10"])
        .arg(&q)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = String::from_utf8(out.stdout).unwrap();
    let cmds = commands(&out);
    assert!(cmds[0].starts_with("alias mqctl="), "the alias comes first:\n{out}");
    assert!(cmds[1].starts_with("export MQCTL_QUEUE="), "{out}");
    // In bash, the two lines make `mqctl` that binary on that queue.
    let script = format!(
        "shopt -s expand_aliases\n{}\n{}\nmqctl list --count\n",
        cmds[0], cmds[1]
    );
    let run = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("PATH", "/usr/bin:/bin")
        .env_remove("MQCTL_QUEUE")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        count(&q, &[]).to_string(),
        "{script}"
    );
}

#[test]
fn with_this_binary_as_mqctl_on_path_the_report_has_no_alias() {
    let tmp = tempfile::tempdir().unwrap();
    let bin_dir = tmp.path().join("bin");
    fs::create_dir(&bin_dir).unwrap();
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("mqctl"), bin_dir.join("mqctl")).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin_dir.display());
    let a = mqctl()
        .env("PATH", &path)
        .args(["demo", "--mails", "10"])
        .arg(tmp.path().join("q"))
        .assert()
        .success();
    let out = stdout_of(&a);
    let cmds = commands(&out);
    assert!(cmds[0].starts_with("export MQCTL_QUEUE="), "{out}");
    assert!(!out.contains("alias"), "{out}");
    assert!(cmds[1..cmds.len() - 1].iter().all(|c| c.starts_with("mqctl ")), "{out}");
}

#[test]
fn demo_rm_without_a_terminal_is_a_usage_error_and_builds_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let a = mqctl()
        .env("TMPDIR", tmp.path())
        .args(["demo", "--rm", "--mails", "10"])
        .assert()
        .code(2);
    assert!(stderr_of(&a).contains("needs a terminal"), "{}", stderr_of(&a));
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
}
