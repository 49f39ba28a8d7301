//! Hostile and broken entries (docs/security.md, "The cases"): each is
//! listed with a `problem`, every other entry still shows, nothing outside
//! the queue is read or changed, and nothing hangs.
//!
//! Each test plants, next to the queue, a complete and valid entry
//! (`outside/`) addressed to `leak@outside.example` with the subject
//! `LEAKED`: if mqctl ever followed a hostile link there, that text would
//! appear in its output, and the files' access times would move.

mod common;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Every command gets this long before it counts as hung (FIFOs, huge files).
const HANG: Duration = Duration::from_secs(60);

struct Case {
    q: TestQueue,
    good: Created,
    /// outside/<mail> and outside/<mail>/<dest>, a valid entry's folders.
    out_mail: PathBuf,
    out_dest: PathBuf,
    /// The outside files, with their access time set in the past.
    out_files: Vec<PathBuf>,
}

fn case() -> Case {
    let q = TestQueue::new();
    let good = q
        .entry()
        .id("00000000-0000-4000-8000-000000000000")
        .from("alice@example.org")
        .to("bob@example.com")
        .subject("Good one")
        .create();
    let out_mail = q.outside().join(uuid());
    let out_dest = out_mail.join(uuid());
    fs::create_dir_all(&out_dest).unwrap();
    let files = vec![
        out_mail.join("contents"),
        out_dest.join("schedule"),
        out_dest.join("metadata"),
    ];
    fs::write(&files[0], "Subject: LEAKED\r\n\r\nsecret\r\n").unwrap();
    fs::write(&files[1], schedule_json(&at_mins(-1), None)).unwrap();
    fs::write(
        &files[2],
        metadata_json(
            &address_json("leak@outside.example"),
            &address_json("leak@outside.example"),
        ),
    )
    .unwrap();
    for f in &files {
        age_atime(f);
    }
    Case {
        q,
        good,
        out_mail,
        out_dest,
        out_files: files,
    }
}

impl Case {
    fn cmd(&self) -> assert_cmd::Command {
        let mut c = self.q.cmd();
        c.timeout(HANG);
        c
    }

    /// A mail folder inside the queue's data/ that no entry links to, with a
    /// valid dest addressed to the leak address: reachable only through a
    /// non-standard spelling of a link.
    fn orphan_dest(&self) -> (String, String) {
        let (m, d) = (uuid(), uuid());
        self.q
            .plant_file(format!("data/{m}/contents"), b"Subject: LEAKED\r\n\r\nx\r\n");
        self.q.plant_file(
            format!("data/{m}/{d}/schedule"),
            schedule_json(&at_mins(-1), None).as_bytes(),
        );
        self.q.plant_file(
            format!("data/{m}/{d}/metadata"),
            metadata_json(&address_json("<>"), &address_json("leak@outside.example")).as_bytes(),
        );
        (m, d)
    }

    /// Runs every read command, asserts that the good entry is intact, the
    /// broken one carries a problem containing `want`, and nothing from
    /// outside shows. Returns the broken entry's JSON.
    fn check(&self, broken: &str, want: &str) -> Value {
        let outside_before = stat_tree(&self.q.outside());
        let queue_before = self.q.snapshot();

        let a = self.cmd().args(["list", "--format", "json"]).assert().success();
        let json = a.get_output().stdout.clone();
        let all: Value = serde_json::from_slice(&json).unwrap();
        let all = all.as_array().unwrap();
        let good = by_id(all, &self.good.id);
        assert_eq!(good["problem"], Value::Null, "{good}");
        assert_eq!(good["to"], "bob@example.com");
        assert_eq!(good["subject"], "Good one");
        let bad = by_id(all, broken).clone();
        let problem = bad["problem"].as_str().unwrap_or_else(|| panic!("no problem: {bad}"));
        assert!(problem.contains(want), "problem {problem:?} should contain {want:?}");

        let table = self.cmd().arg("list").assert().success();
        let table = stdout_of(&table);
        assert!(
            table.contains("PROBLEM") && table.contains("bob@example.com"),
            "{table}"
        );
        let broken_only = list_ids(&self.q, &["--broken"]);
        assert!(broken_only.contains(&broken.to_string()) && !broken_only.contains(&self.good.id));
        let show = self.cmd().args(["show", broken]).assert().success();
        let show = stdout_of(&show);
        assert!(show.contains("Problem"), "{show}");
        let stats = self.cmd().args(["stats", "--format", "json"]).assert().success();
        let stats: Value = serde_json::from_slice(&stats.get_output().stdout).unwrap();
        assert!(stats["broken"].as_u64().unwrap() >= 1);
        let raw = self.cmd().args(["show", "--raw", broken]).assert();

        for (what, out) in [
            ("list json", String::from_utf8_lossy(&json).into_owned()),
            ("list table", table),
            ("show", show),
            (
                "show --raw",
                String::from_utf8_lossy(&raw.get_output().stdout).into_owned(),
            ),
        ] {
            assert!(
                !out.contains("leak@outside.example") && !out.contains("LEAKED"),
                "{what} shows what lies outside the queue:\n{out}"
            );
        }
        assert_eq!(outside_before, stat_tree(&self.q.outside()), "outside changed");
        assert_eq!(queue_before, self.q.snapshot(), "reading changed the queue");
        bad
    }

    /// Asserts the outside files were not opened (their access time did not
    /// move; on a `noatime` filesystem this cannot tell, and passes).
    fn assert_outside_unread(&self, atimes: &[i128]) {
        for (f, before) in self.out_files.iter().zip(atimes) {
            assert_eq!(atime_ns(f), *before, "{} was read", f.display());
        }
    }

    fn atimes(&self) -> Vec<i128> {
        self.out_files.iter().map(|f| atime_ns(f)).collect()
    }
}

const BROKEN: &str = "ffffffff-0000-4000-8000-00000000000b";

#[test]
fn absolute_link_is_reported_and_not_followed() {
    let c = case();
    let t = c.atimes();
    c.q.plant_link(State::Queue, BROKEN, &c.out_dest);
    let bad = c.check(BROKEN, "is not ../data/<mail>/<dest>");
    assert_eq!(bad["to"], Value::Null);
    c.assert_outside_unread(&t);
}

#[test]
fn absolute_link_to_etc_passwd_is_reported() {
    let c = case();
    c.q.plant_link(State::Queue, BROKEN, "/etc/passwd");
    let bad = c.check(BROKEN, "/etc/passwd");
    assert_eq!(bad["mail"], Value::Null);
}

#[test]
fn traversal_through_data_dotdot_is_reported_and_not_followed() {
    let c = case();
    let t = c.atimes();
    // From queue/, ../data/../../outside/… is the valid entry outside.
    let target = format!(
        "../data/../../outside/{}/{}",
        c.out_mail.file_name().unwrap().to_str().unwrap(),
        c.out_dest.file_name().unwrap().to_str().unwrap()
    );
    assert!(
        c.q.path("queue").join(&target).join("metadata").exists(),
        "the trap is real"
    );
    c.q.plant_link(State::Queue, BROKEN, &target);
    c.check(BROKEN, "is not ../data/<mail>/<dest>");
    c.assert_outside_unread(&t);
}

#[test]
fn traversal_after_a_real_mail_folder_is_reported_and_not_followed() {
    let c = case();
    let t = c.atimes();
    let target = format!(
        "../data/{}/../../../outside/{}/{}",
        c.good.mail,
        c.out_mail.file_name().unwrap().to_str().unwrap(),
        c.out_dest.file_name().unwrap().to_str().unwrap()
    );
    assert!(
        c.q.path("queue").join(&target).join("metadata").exists(),
        "the trap is real"
    );
    c.q.plant_link(State::Inflight, BROKEN, &target);
    c.check(BROKEN, "is not ../data/<mail>/<dest>");
    c.assert_outside_unread(&t);
}

#[test]
fn non_standard_spellings_of_a_valid_target_are_reported() {
    let c = case();
    let (m, d) = c.orphan_dest();
    let spellings = [
        format!("../data//{m}/{d}"),
        format!("./../data/{m}/{d}"),
        format!("../data/{m}/{d}/"),
        format!("../data/{m}/./{d}"),
    ];
    let ids: Vec<String> = (0..spellings.len())
        .map(|i| format!("ffffffff-0000-4000-8000-00000000000{i}"))
        .collect();
    for (id, text) in ids.iter().zip(&spellings) {
        assert!(c.q.path("queue").join(text).join("metadata").exists());
        c.q.plant_link(State::Queue, id, text);
    }
    for id in &ids {
        c.check(id, "is not ../data/<mail>/<dest>");
    }
}

#[test]
fn uppercase_uuid_in_link_text_is_reported() {
    let c = case();
    let (m, d) = (uuid().to_uppercase(), uuid().to_uppercase());
    c.q.plant_file(format!("data/{m}/contents"), b"Subject: LEAKED\r\n\r\n");
    c.q.plant_file(
        format!("data/{m}/{d}/schedule"),
        schedule_json(&at_mins(0), None).as_bytes(),
    );
    c.q.plant_file(
        format!("data/{m}/{d}/metadata"),
        metadata_json("null", &address_json("leak@outside.example")).as_bytes(),
    );
    c.q.plant_link(State::Queue, BROKEN, format!("../data/{m}/{d}"));
    c.check(BROKEN, "is not ../data/<mail>/<dest>");
}

#[test]
fn uppercase_entry_name_is_reported_but_still_read() {
    let c = case();
    let upper = "ABCDEF01-0000-4000-8000-000000000001";
    c.q.entry().id(upper).to("carol@example.com").create();
    let bad = c.check(upper, "name is not a lowercase UUID");
    assert_eq!(bad["to"], "carol@example.com");
}

#[test]
fn dangling_link_to_a_missing_mail_is_reported() {
    let c = case();
    c.q.plant_link(State::Queue, BROKEN, format!("../data/{}/{}", uuid(), uuid()));
    c.check(BROKEN, "dangling");
}

#[test]
fn dangling_link_to_a_missing_dest_is_reported() {
    let c = case();
    c.q.plant_link(State::Queue, BROKEN, format!("../data/{}/{}", c.good.mail, uuid()));
    let bad = c.check(BROKEN, "dangling");
    assert_eq!(bad["mail"], c.good.mail);
}

#[test]
fn dest_folder_that_is_a_symlink_elsewhere_is_not_followed() {
    let c = case();
    let t = c.atimes();
    let e = c.q.entry().id(BROKEN).in_mail(&c.good).create();
    fs::remove_dir_all(c.q.path(e.dest_dir())).unwrap();
    std::os::unix::fs::symlink(&c.out_dest, c.q.path(e.dest_dir())).unwrap();
    c.check(BROKEN, "never followed");
    c.assert_outside_unread(&t);
}

#[test]
fn mail_folder_that_is_a_symlink_elsewhere_is_not_followed() {
    let c = case();
    let t = c.atimes();
    let m = uuid();
    std::os::unix::fs::symlink(&c.out_mail, c.q.path(format!("data/{m}"))).unwrap();
    let d = c.out_dest.file_name().unwrap().to_str().unwrap().to_string();
    c.q.plant_link(State::Queue, BROKEN, format!("../data/{m}/{d}"));
    c.check(BROKEN, "never followed");
    c.assert_outside_unread(&t);
}

#[test]
fn metadata_that_is_a_symlink_elsewhere_is_not_followed() {
    let c = case();
    let t = c.atimes();
    let e = c.q.entry().id(BROKEN).create();
    c.q.remove(format!("{}/metadata", e.dest_dir()));
    std::os::unix::fs::symlink(
        c.out_dest.join("metadata"),
        c.q.path(format!("{}/metadata", e.dest_dir())),
    )
    .unwrap();
    let bad = c.check(BROKEN, "metadata is a symlink");
    assert_eq!(bad["to"], Value::Null);
    assert!(bad["at"].is_string(), "the schedule is still read");
    c.assert_outside_unread(&t);
}

#[test]
fn metadata_hard_linked_from_outside_is_not_read() {
    let c = case();
    let t = c.atimes();
    let e = c.q.entry().id(BROKEN).create();
    c.q.remove(format!("{}/metadata", e.dest_dir()));
    fs::hard_link(
        c.out_dest.join("metadata"),
        c.q.path(format!("{}/metadata", e.dest_dir())),
    )
    .unwrap();
    c.check(BROKEN, "hard links");
    c.assert_outside_unread(&t);
}

#[test]
fn contents_that_is_a_symlink_elsewhere_is_not_followed() {
    let c = case();
    let t = c.atimes();
    let e = c.q.entry().id(BROKEN).create();
    c.q.remove(e.contents());
    std::os::unix::fs::symlink(c.out_mail.join("contents"), c.q.path(e.contents())).unwrap();
    let bad = c.check(BROKEN, "contents");
    assert_eq!(bad["subject"], Value::Null);
    assert_eq!(bad["to"], "bob@example.com", "the envelope is still read");
    c.assert_outside_unread(&t);
}

#[test]
fn truncated_schedule_json_is_reported() {
    let c = case();
    let e = c.q.entry().id(BROKEN).to("carol@example.com").create();
    c.q.overwrite(format!("{}/schedule", e.dest_dir()), br#"{"at":"2026-11-2"#);
    let bad = c.check(BROKEN, "schedule invalid");
    assert_eq!(bad["at"], Value::Null);
    assert_eq!(bad["to"], "carol@example.com", "the metadata is still read");
}

#[test]
fn wrong_types_and_missing_fields_are_reported() {
    let c = case();
    let e = c.q.entry().id(BROKEN).create();
    c.q.overwrite(format!("{}/schedule", e.dest_dir()), br#"{"at":5,"last_attempt":null}"#);
    c.q.overwrite(format!("{}/metadata", e.dest_dir()), br#"{"from":null}"#);
    let bad = c.check(BROKEN, "schedule invalid");
    let p = bad["problem"].as_str().unwrap();
    assert!(p.contains("metadata invalid"), "{p}");
}

#[test]
fn unknown_fields_are_tolerated() {
    let c = case();
    let e =
        c.q.entry()
            .id(BROKEN)
            .raw_schedule(br#"{"at":"2026-11-22T20:00:00Z","last_attempt":null,"retries":3}"#)
            .create();
    let all = list_json(&c.q, &[]);
    let v = by_id(&all, &e.id);
    assert_eq!(v["problem"], Value::Null);
    assert_eq!(v["at"], "2026-11-22T20:00:00Z");
}

#[test]
fn other_offsets_and_fraction_lengths_are_accepted() {
    let c = case();
    let e =
        c.q.entry()
            .id(BROKEN)
            .raw_schedule(br#"{"at":"2026-11-22T22:35:25.5+02:00","last_attempt":"2026-11-22T20:00:00.123456Z"}"#)
            .create();
    let all = list_json(&c.q, &[]);
    let v = by_id(&all, &e.id);
    assert_eq!(v["problem"], Value::Null);
    assert_eq!(v["at"], "2026-11-22T20:35:25.500Z");
    assert_eq!(v["last_attempt"], "2026-11-22T20:00:00.123456Z");
}

#[test]
fn metadata_fifo_does_not_hang() {
    let c = case();
    let e = c.q.entry().id(BROKEN).create();
    c.q.replace_with_fifo(format!("{}/metadata", e.dest_dir()));
    let bad = c.check(BROKEN, "FIFO");
    assert!(bad["at"].is_string());
}

#[test]
fn schedule_fifo_does_not_hang() {
    let c = case();
    let e = c.q.entry().id(BROKEN).create();
    c.q.replace_with_fifo(format!("{}/schedule", e.dest_dir()));
    c.check(BROKEN, "FIFO");
}

#[test]
fn contents_fifo_does_not_hang() {
    let c = case();
    let e = c.q.entry().id(BROKEN).create();
    c.q.replace_with_fifo(e.contents());
    c.check(BROKEN, "FIFO");
}

#[test]
fn huge_sparse_metadata_is_not_read() {
    let c = case();
    let e = c.q.entry().id(BROKEN).create();
    let rel = format!("{}/metadata", e.dest_dir());
    c.q.replace_with_sparse(&rel, 1 << 30);
    age_atime(&c.q.path(&rel));
    let before = atime_ns(&c.q.path(&rel));
    let bad = c.check(BROKEN, "1073741824 bytes, over the size bound");
    assert_eq!(bad["to"], Value::Null);
    assert_eq!(atime_ns(&c.q.path(&rel)), before, "the 1 GiB file was read");
}

#[test]
fn missing_schedule_is_reported() {
    let c = case();
    let e = c.q.entry().id(BROKEN).to("carol@example.com").create();
    c.q.remove(format!("{}/schedule", e.dest_dir()));
    let bad = c.check(BROKEN, "schedule missing");
    assert_eq!(bad["to"], "carol@example.com");
}

#[test]
fn regular_file_in_a_state_folder_is_reported() {
    let c = case();
    c.q.plant_file(format!("queue/{BROKEN}"), b"../data/x/y");
    c.check(BROKEN, "regular file where a symlink belongs");
}

#[test]
fn folder_in_a_state_folder_is_reported() {
    let c = case();
    fs::create_dir(c.q.path(format!("queue/{BROKEN}"))).unwrap();
    c.q.plant_link(
        State::Queue,
        format!("{BROKEN}/{}", uuid()),
        c.good.dest_dir().replace("data/", "../data/"),
    );
    c.check(BROKEN, "folder inside a state folder");
}

#[test]
fn broken_entries_in_every_state_are_listed() {
    let c = case();
    let ids: Vec<String> = (1..=4)
        .map(|i| format!("ffffffff-0000-4000-8000-00000000000{i}"))
        .collect();
    for (id, state) in ids
        .iter()
        .zip([State::Queue, State::Inflight, State::Cleanup, State::Hold])
    {
        c.q.plant_link(state, id, "/etc");
    }
    for id in &ids {
        c.check(id, "/etc");
    }
    let a = c.cmd().args(["list", "--count", "--broken"]).assert().success();
    assert_eq!(stdout_of(&a), "4\n");
}
