//! mqctl the way it is run, not only the way it is written: the shipped
//! cron lines and systemd units run literally (as root, on a queue owned
//! by a mail user, logging into a root-only folder); the log on a full disk
//! or past its size limit; a filesystem whose syncs fail; three bulk
//! changes at once.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{BIN, TestQueue, Tmpfs, chown_r, is_root};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

const MAIL_USER: u32 = 65534;

/// The repository's own file.
fn contrib(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib").join(rel)
}

/// A folder holding `mqctl` (this build), to put first in PATH.
fn bin_dir(tmp: &Path) -> PathBuf {
    let d = tmp.join("bin");
    fs::create_dir_all(&d).unwrap();
    let link = d.join("mqctl");
    if !link.exists() {
        std::os::unix::fs::symlink(BIN, &link).unwrap();
    }
    d
}

/// A root-only folder for the log, as /var/log is.
fn root_only(tmp: &Path, name: &str) -> PathBuf {
    let d = tmp.join(name);
    fs::create_dir_all(&d).unwrap();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
    d
}

/// A queue with work for every job: stuck inflight entries, holds whose
/// end has passed, pending cleanups and a held entry without an end; then
/// handed to the mail user, as a writer running as that user leaves it.
fn queue_with_chores() -> (TestQueue, Vec<String>) {
    let q = TestQueue::new().real_clock();
    let m = q.simple(12, "2026-11-23T10:00:00Z");
    let ids: Vec<String> = m.iter().map(|e| e.id.clone()).collect();
    for id in &ids[0..4] {
        q.put(id, "queue", "inflight");
    }
    for id in &ids[4..6] {
        q.put(id, "queue", "cleanup");
    }
    q.run(["hold", &ids[6], &ids[7], &ids[8], "--reason", "quota", "--until", "+1h"])
        .success();
    q.run(["hold", &ids[9], "--reason", "no end"]).success();
    chown_r(q.root(), MAIL_USER, MAIL_USER);
    (q, ids)
}

/// Two hours on: the inflight entries are stuck, the holds have ended.
fn later() -> String {
    (Timestamp::now() + SignedDuration::from_hours(2)).to_string()
}

/// Where each entry is, by id.
fn states(q: &TestQueue) -> BTreeMap<String, String> {
    q.list_json(&[])
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_string(),
                v["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// After the jobs: nothing left to do, nothing owned by root in the queue,
/// the log written and root's.
fn assert_chores_done(q: &TestQueue, ids: &[String], log: &Path) {
    let s = states(q);
    for id in &ids[0..4] {
        assert_eq!(s[id], "queue", "recovered: {s:?}");
    }
    for id in &ids[4..6] {
        assert!(!s.contains_key(id), "cleaned up: {s:?}");
    }
    for id in &ids[6..9] {
        assert_eq!(s[id], "queue", "released at the end of its hold: {s:?}");
    }
    assert_eq!(s[&ids[9]], "hold", "a hold without an end stays");
    for entry in walkdir::WalkDir::new(q.root()) {
        let entry = entry.unwrap();
        let md = entry.path().symlink_metadata().unwrap();
        assert_eq!(
            (md.uid(), md.gid()),
            (MAIL_USER, MAIL_USER),
            "{} is not the mail user's",
            entry.path().display()
        );
    }
    let md = fs::metadata(log).unwrap();
    assert_eq!((md.uid(), md.mode() & 0o777), (0, 0o600), "the log is root's");
    let lines: Vec<Value> = fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let done = |op: &str| {
        lines
            .iter()
            .filter(|v| v["operation"] == op && v["result"] == "done")
            .count()
    };
    assert_eq!(
        (done("recover"), done("release"), done("cleanup")),
        (4, 3, 2),
        "{lines:?}"
    );
    assert!(lines.iter().any(|v| v["result"] == "intent"));
}

#[test]
fn the_shipped_cron_lines_run_literally_as_root_on_a_mail_users_queue() {
    if !is_root() {
        eprintln!("skipped: needs root (the cron jobs run as root)");
        return;
    }
    let (q, ids) = queue_with_chores();
    let bin = bin_dir(q.tmp());
    let logs = root_only(q.tmp(), "log");
    let textfiles = root_only(q.tmp(), "textfile");
    let cron = fs::read_to_string(contrib("cron/mqctl")).unwrap();
    let mut env: Vec<(String, String)> = Vec::new();
    let mut jobs = Vec::new();
    for line in cron
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if let Some((k, v)) = line.split_once('=')
            && !k.contains(' ')
        {
            env.push((k.into(), v.into()));
            continue;
        }
        // minute hour day month weekday user command
        let fields: Vec<&str> = line.splitn(7, char::is_whitespace).filter(|f| !f.is_empty()).collect();
        let mut parts = line.split_whitespace();
        for _ in 0..5 {
            parts.next();
        }
        assert_eq!(parts.next(), Some("root"), "{line}");
        let user_at = line.find(" root ").expect("the user field") + " root ".len();
        assert!(fields.len() >= 6, "{line}");
        jobs.push(line[user_at..].trim().to_string());
    }
    assert!(env.iter().any(|(k, _)| k == "MQCTL_QUEUE"), "{env:?}");
    assert!(jobs.iter().any(|j| j.contains("release --expired")), "{jobs:?}");
    assert_eq!(jobs.len(), 5, "{jobs:?}");
    let log = logs.join("mqctl.jsonl");
    for job in &jobs {
        // The paths the jobs write are this test's; the rest is as shipped.
        let job = job
            .replace("/var/log/mqctl.jsonl", log.to_str().unwrap())
            .replace("/var/lib/prometheus/node-exporter", textfiles.to_str().unwrap());
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(&job).env_clear();
        for (k, v) in &env {
            let v = match k.as_str() {
                "MQCTL_QUEUE" => q.root().to_str().unwrap().to_string(),
                "PATH" => format!("{}:{v}", bin.display()),
                _ => v.clone(),
            };
            c.env(k, v);
        }
        c.env("MQCTL_NOW", later());
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{job}: {:?}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // --quiet: cron mails nothing when all is well.
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{job}: {out:?}");
    }
    assert_chores_done(&q, &ids, &log);
    let prom = fs::read_to_string(textfiles.join("mqctl.prom")).unwrap();
    // 12 entries: 2 cleaned up, 1 still held.
    assert!(prom.contains("mqctl_entries{state=\"queue\"} 9"), "{prom}");
}

/// A unit's ExecStart split as systemd splits it (words, '…' and "…").
fn exec_words(s: &str) -> Vec<String> {
    let (mut words, mut cur, mut quote, mut any) = (Vec::new(), String::new(), None, false);
    for c in s.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (_, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[test]
fn the_shipped_systemd_units_run_literally_as_root_on_a_mail_users_queue() {
    if !is_root() {
        eprintln!("skipped: needs root (the units run as root)");
        return;
    }
    let (q, ids) = queue_with_chores();
    let bin = bin_dir(q.tmp());
    let logs = root_only(q.tmp(), "log");
    let textfiles = root_only(q.tmp(), "textfile");
    let log = logs.join("mqctl.jsonl");
    let defaults = fs::read_to_string(contrib("mqctl.default")).unwrap();
    let mut env: BTreeMap<String, String> = defaults
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.insert("MQCTL_QUEUE".into(), q.root().to_str().unwrap().into());
    env.insert("MQCTL_TEXTFILE_DIR".into(), textfiles.to_str().unwrap().into());
    // systemd's own PATH, with this build's mqctl first.
    env.insert("PATH".into(), format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()));
    env.insert("MQCTL_NOW".into(), later());
    let mut units: Vec<PathBuf> = fs::read_dir(contrib("systemd"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .collect();
    // check last: it reports (exit 4) what the others have not done yet,
    // as it is meant to.
    units.sort_by_key(|u| (u.ends_with("mqctl-check.service"), u.clone()));
    assert_eq!(units.len(), 5, "{units:?}");
    for unit in &units {
        let text = fs::read_to_string(unit).unwrap();
        let name = unit.file_name().unwrap().to_str().unwrap();
        let timer = unit.with_extension("timer");
        assert!(timer.exists(), "{name} has its timer");
        assert!(
            fs::read_to_string(&timer).unwrap().contains("WantedBy=timers.target"),
            "{name}"
        );
        assert!(text.contains("EnvironmentFile=/etc/default/mqctl"), "{name}");
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap_or_else(|| panic!("{name} has no ExecStart"));
        let exec = exec.replace("/var/log/mqctl.jsonl", log.to_str().unwrap());
        let mut words = exec_words(&exec);
        if words[0] == "/usr/bin/mqctl" {
            words[0] = BIN.into();
        }
        let out = Command::new(&words[0])
            .args(&words[1..])
            .env_clear()
            .envs(&env)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {exec}: {:?}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if name == "mqctl-check.service" {
            // The report is JSON (for the journal), and the queue is sound
            // once the other jobs have run.
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(v["problems"].is_array(), "{v}");
        }
    }
    assert_chores_done(&q, &ids, &log);
    let r = q.run(["check"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(textfiles.join("mqctl.prom").exists());
}

// ---------------------------------------------------------------- the log

/// A hold of one entry logged to `log`, the process limited to files of
/// `limit` bytes (SIGXFSZ ignored: writes past it fail with EFBIG).
fn hold_with_file_limit(q: &TestQueue, id: &str, log: &Path, limit: u64) -> common::Run {
    let mut cmd = q.mqctl(["hold", id, "--log"]).arg(log).command();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    common::Run::from_output(vec!["hold".into()], cmd.output().unwrap())
}

#[test]
fn a_log_that_cannot_take_the_intent_stops_before_any_change() {
    let q = TestQueue::new();
    let m = q.simple(2, "2026-11-23T10:00:00Z");
    let log = q.tmp().join("log.jsonl");
    fs::write(&log, [vec![b'#'; 4095], vec![b'\n']].concat()).unwrap();
    let before = q.snapshot();
    let r = hold_with_file_limit(&q, &m[0].id, &log, 4096 + 10);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("stopped before the next change"), "{r:?}");
    assert!(!r.stderr.contains("were made"), "nothing was made: {r:?}");
    common::assert_tree(&before, &q.snapshot());
}

#[test]
fn a_log_that_takes_the_intent_but_not_the_result_names_the_change_made() {
    let q = TestQueue::new();
    let m = q.simple(2, "2026-11-23T10:00:00Z");
    // The size of an intent line for one entry, from a log that takes it.
    let probe = q.tmp().join("probe.jsonl");
    q.mqctl(["hold", &m[1].id, "--log"]).arg(&probe).run().success();
    let intent = fs::read_to_string(&probe).unwrap().lines().next().unwrap().len() as u64 + 1;
    q.run(["release", &m[1].id]).success();

    let log = q.tmp().join("log.jsonl");
    fs::write(&log, [vec![b'#'; 4095], vec![b'\n']].concat()).unwrap();
    let r = hold_with_file_limit(&q, &m[0].id, &log, 4096 + intent + 40);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "these 1 changes were made, but their result is not in the log (its intent line names them): {}",
            m[0].id
        )),
        "{r:?}"
    );
    let text = fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("\"result\":\"intent\"") && text.contains(&m[0].id),
        "{text}"
    );
    // The change it names was made, and undo says it cannot know more.
    assert_eq!(q.list_ids(&["--state", "hold"]), vec![m[0].id.clone()]);
    let u = q.mqctl(["undo", "--log"]).arg(&log).args(["--yes"]).run();
    assert!(u.stderr.contains("its run recorded no result for it"), "{u:?}");
}

#[test]
fn a_log_on_a_full_disk_stops_the_run_before_any_change() {
    let mnt_dir = tempfile::Builder::new().prefix("mqctl-log-mnt-").tempdir().unwrap();
    let mnt = match Tmpfs::mount(mnt_dir.path(), "64k") {
        Ok(m) => m,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let q = TestQueue::new();
    let m = q.simple(3, "2026-11-23T10:00:00Z");
    let log = mnt.path.join("mqctl.jsonl");
    fs::write(&log, b"").unwrap();
    let filler = common::fill_disk(&mnt.path);
    let before = q.snapshot();
    let r = q.mqctl(["drop", "--all", "--yes", "--log"]).arg(&log).run();
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("No space left on device"), "{r:?}");
    assert!(r.stderr.contains("stopped before the next change"), "{r:?}");
    common::assert_tree(&before, &q.snapshot());
    // Room again: the same command does it all.
    fs::remove_file(filler).unwrap();
    let r = q.mqctl(["drop", "--all", "--yes", "--log"]).arg(&log).run();
    assert_eq!(r.summary(), "3 dropped, 0 vanished, 0 failed", "{r:?}");
    let _ = m;
}

// ---------------------------------------------------------------- syncs

/// A shared object that makes fsync and syncfs fail with EIO (the syncs of
/// folders and of the data filesystem; the log's fdatasync still works),
/// built with the system's C compiler; `None` (the test is skipped) when
/// there is none.
fn failing_sync_shim(dir: &Path) -> Option<PathBuf> {
    let src = dir.join("failsync.c");
    fs::write(
        &src,
        "#include <errno.h>\n\
         int fsync(int fd) { (void)fd; errno = EIO; return -1; }\n\
         int syncfs(int fd) { (void)fd; errno = EIO; return -1; }\n",
    )
    .unwrap();
    let so = dir.join("failsync.so");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .status();
    match built {
        Ok(s) if s.success() => Some(so),
        _ => {
            eprintln!("skipped: no C compiler to build the failing-sync shim");
            None
        }
    }
}

#[test]
fn a_change_whose_sync_fails_is_failed_not_done() {
    let q = TestQueue::new();
    let m = q.simple(3, "2026-11-23T10:00:00Z");
    let Some(shim) = failing_sync_shim(q.tmp()) else { return };
    let log = q.tmp().join("log.jsonl");
    for args in [
        &["hold", "--all", "--yes"][..],
        &["reschedule", "--all", "--yes", "--at", "+1h"],
        &["drop", "--all", "--yes"],
    ] {
        let r = q.mqctl(args).args(["--log"]).arg(&log).env("LD_PRELOAD", &shim).run();
        assert_eq!(r.code, 1, "{args:?}: {r:?}");
        let c = r.counts();
        assert_eq!((c.done, c.failed), (0, 3), "{args:?}: {r:?}");
        assert!(r.stderr.contains("I/O error"), "{args:?}: {r:?}");
    }
    // What the log says matches: nothing done.
    let text = fs::read_to_string(&log).unwrap();
    let done = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["result"] == "done")
        .count();
    assert_eq!(done, 0, "{text}");
    // The rewrite was taken back: every schedule is as it was.
    for e in m.iter() {
        let s = fs::read_to_string(q.path(format!("{}/schedule", e.dest_dir()))).unwrap();
        assert!(s.contains("2026-11-23T10:00:00Z"), "{s}");
    }
    // Nothing is lost: the drop's entries wait in cleanup/, whole, for
    // `purge` (with working syncs), which finishes them.
    let s = states(&q);
    assert_eq!(s.len(), 3, "{s:?}");
    assert!(s.values().all(|st| st == "cleanup"), "{s:?}");
    for e in m.iter() {
        assert!(q.path(format!("{}/metadata", e.dest_dir())).exists());
    }
    let r = q.run(["purge", "--yes"]).success();
    assert!(r.stderr.contains("3 purged"), "{r:?}");
    assert!(states(&q).is_empty());
}

// ---------------------------------------------------------------- at once

#[test]
fn three_bulk_changes_at_once_fail_nothing_and_lose_nothing() {
    let (q, _) = TestQueue::bulk(4000);
    let before = q.list_ids(&[]);
    let runs: Vec<common::Spawned> = [
        &["hold", "--all", "--yes"][..],
        &["reschedule", "--all", "--yes", "--at", "+1h"],
        &["drop", "--all", "--yes"],
    ]
    .iter()
    .map(|a| q.mqctl(*a).spawn())
    .collect();
    let done: Vec<common::Run> = runs.into_iter().map(|s| s.finish()).collect();
    let mut handled = 0;
    for r in &done {
        assert_eq!(r.code, 0, "{r:?}");
        let c = r.counts();
        assert_eq!(c.failed, 0, "only vanished, never failed: {r:?}");
        handled += c.done;
    }
    // Every entry was dropped once (the drop sees them all: it takes held
    // and queued entries, and waits out claims), or is still there.
    let left = q.list_ids(&[]);
    let dropped = done[2].counts().done;
    assert_eq!(left.len() as u64 + dropped, before.len() as u64, "{done:?}");
    assert!(handled >= dropped);
    // Nothing half-done: check finds nothing to repair, no claim is left.
    let r = q.run(["check"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        q.list_count(&["--state", "claimed"]) + q.list_count(&["--state", "claimed-held"]),
        0
    );
}
