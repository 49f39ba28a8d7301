//! `mqctl enqueue` writes exactly what the Kannader writer writes: the same
//! layout, modes, link text and the same bytes in `schedule` and `metadata`
//! as the real-writer fixture has for the same addresses.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::*;
use serde_json::Value;

const MESSAGE: &[u8] = b"From: alice@example.org\r\nTo: bob@example.com\r\nSubject: Hello there\r\n\
Message-ID: <enqueue-1@test.example>\r\n\r\nBody.\r\n";

/// Metadata files of the real-writer fixture, by (from, to) as typed.
const FIXTURE_METADATA: [(&str, &str, &str); 4] = [
    (
        "alice@example.org",
        "bob@example.com",
        "data/dba94b46-1d38-405f-a321-01da71d44c2a/6ca6ef11-062c-4608-b3b9-8f955fb6be8d/metadata",
    ),
    (
        "\"john doe\"@example.org",
        "user@[192.0.2.1]",
        "data/c4d70b9f-4706-4b7b-a463-3663dcf6c079/32e8248a-cd7b-4192-bd5a-3c2e6a627294/metadata",
    ),
    (
        "user@[IPv6:2001:db8::1]",
        "josé@exämple.org",
        "data/f9de7b5d-f4c8-44c2-9714-26d50d515cc1/67c8de9d-109d-480f-8279-095d3dcb71d3/metadata",
    ),
    (
        "<>",
        "postmaster@example.net",
        "data/79277d12-9936-49a9-ba22-5d19ca314442/13625c21-b781-4e0f-b8b9-9e1c9a320aad/metadata",
    ),
];

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// What one `enqueue` made: the mail folder and (entry id, dest) pairs.
struct Made {
    mail: String,
    entries: Vec<(String, String)>,
}

/// Reads back the single mail in a queue that had none before.
fn made(q: &TestQueue) -> Made {
    let mails = names(&q.path("data"));
    assert_eq!(mails.len(), 1, "one data/<mail>: {mails:?}");
    let mail = mails[0].clone();
    let mut entries = Vec::new();
    for id in names(&q.path("queue")) {
        let text = fs::read_link(q.path("queue").join(&id)).unwrap();
        let text = text.to_str().unwrap().to_string();
        let dest = text
            .strip_prefix(&format!("../data/{mail}/"))
            .unwrap_or_else(|| panic!("link text {text}"))
            .to_string();
        entries.push((id, dest));
    }
    Made { mail, entries }
}

/// `mqctl enqueue --from FROM --to TO… EXTRA… -` with MESSAGE on stdin.
fn enqueue(q: &TestQueue, from: &str, to: &[&str], extra: &[&str]) -> Run {
    let mut c = q.mqctl(["enqueue", "--from", from]);
    for t in to {
        c = c.args(["--to", t]);
    }
    c.args(extra).arg("-").stdin(MESSAGE).run()
}

#[test]
fn enqueue_writes_the_writers_layout_modes_and_bytes() {
    let q = TestQueue::new();
    let msg = q.tmp().join("message.eml");
    fs::write(&msg, MESSAGE).unwrap();
    let a = q
        .mqctl(["enqueue", "--from", "alice@example.org", "--to", "bob@example.com"])
        .args(["--at", "2026-11-22T21:35:25.426680706Z"])
        .arg(&msg)
        .run()
        .success();
    let m = made(&q);
    assert_eq!(m.entries.len(), 1);
    let (id, dest) = &m.entries[0];
    assert!(
        is_uuid(&m.mail) && is_uuid(dest) && is_uuid(id),
        "{m:?}",
        m = (&m.mail, dest, id)
    );
    assert_ne!(id, dest, "the entry id is not the dest name");
    assert!(a.out().contains(id.as_str()), "the new id is printed");

    let mail_dir = q.path(format!("data/{}", m.mail));
    let dest_dir = mail_dir.join(dest);
    assert_eq!(names(&mail_dir), {
        let mut v = vec!["contents".to_string(), dest.clone()];
        v.sort();
        v
    });
    assert_eq!(names(&dest_dir), ["metadata", "schedule"]);
    assert_eq!(fs::read(mail_dir.join("contents")).unwrap(), MESSAGE);
    assert_eq!(
        fs::read_to_string(dest_dir.join("schedule")).unwrap(),
        r#"{"at":"2026-11-22T21:35:25.426680706Z","last_attempt":null}"#
    );
    let fixture = TestQueue::fixture();
    assert_eq!(
        fs::read(dest_dir.join("metadata")).unwrap(),
        fs::read(fixture.path(FIXTURE_METADATA[0].2)).unwrap()
    );
    assert_eq!(mode(&mail_dir), 0o700);
    assert_eq!(mode(&dest_dir), 0o700);
    for f in [
        mail_dir.join("contents"),
        dest_dir.join("schedule"),
        dest_dir.join("metadata"),
    ] {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
        assert_eq!(fs::metadata(&f).unwrap().nlink(), 1);
    }
    assert_eq!(
        fs::read_link(q.path(format!("queue/{id}"))).unwrap().to_str().unwrap(),
        format!("../data/{}/{dest}", m.mail)
    );
    assert_eq!(names(&q.path("inflight")), Vec::<String>::new());
}

#[test]
fn enqueue_schedules_the_first_attempt_now_by_default() {
    let q = TestQueue::new();
    enqueue(&q, "alice@example.org", &["bob@example.com"], &[]).success();
    let m = made(&q);
    let sched = q.path(format!("data/{}/{}/schedule", m.mail, m.entries[0].1));
    assert_eq!(
        fs::read_to_string(sched).unwrap(),
        format!(r#"{{"at":"{NOW}","last_attempt":null}}"#)
    );
}

#[test]
fn enqueue_accepts_relative_at() {
    let q = TestQueue::new();
    enqueue(&q, "alice@example.org", &["bob@example.com"], &["--at", "+2h"]).success();
    let all = q.list_json(&[]);
    assert_eq!(all[0]["at"], "2026-11-22T22:40:00Z");
    assert_eq!(q.list_ids(&["--not-due"]).len(), 1);
}

#[test]
fn every_address_variant_is_written_as_the_fixture_has_it() {
    let fixture = TestQueue::fixture();
    for (from, to, fixture_file) in FIXTURE_METADATA {
        let q = TestQueue::new();
        enqueue(&q, from, &[to], &[]).success();
        let m = made(&q);
        let written = fs::read(q.path(format!("data/{}/{}/metadata", m.mail, m.entries[0].1))).unwrap();
        assert_eq!(
            String::from_utf8(written).unwrap(),
            fs::read_to_string(fixture.path(fixture_file)).unwrap(),
            "metadata for {from} -> {to}"
        );
        let all = q.list_json(&[]);
        assert_eq!(all[0]["from"], from);
        assert_eq!(all[0]["to"], to);
    }
}

#[test]
fn utf8_domain_is_written_with_its_punycode() {
    let q = TestQueue::new();
    enqueue(&q, "alice@example.org", &["josé@exämple.org"], &[]).success();
    let m = made(&q);
    let meta: Value =
        serde_json::from_slice(&fs::read(q.path(format!("data/{}/{}/metadata", m.mail, m.entries[0].1))).unwrap())
            .unwrap();
    assert_eq!(
        meta["to"]["hostname"]["Utf8Domain"],
        serde_json::json!({"raw": "exämple.org", "punycode": "xn--exmple-cua.org"})
    );
    assert_eq!(meta["to"]["localpart"]["Utf8"]["raw"], "josé");
}

#[test]
fn null_sender_is_written_as_null_and_listed_as_angle_brackets() {
    let q = TestQueue::new();
    enqueue(&q, "<>", &["postmaster@example.net"], &[]).success();
    let m = made(&q);
    let text = fs::read_to_string(q.path(format!("data/{}/{}/metadata", m.mail, m.entries[0].1))).unwrap();
    assert!(text.starts_with(r#"{"from":null,"to":"#), "{text}");
    let all = q.list_json(&[]);
    assert_eq!(all[0]["from"], "<>");
    assert_eq!(q.list_ids(&["--from", "<>"]).len(), 1);
}

#[test]
fn several_recipients_share_one_mail_with_one_entry_each() {
    let q = TestQueue::new();
    enqueue(
        &q,
        "alice@example.org",
        &["a@example.com", "b@example.net", "user@[192.0.2.1]"],
        &[],
    )
    .success();
    let m = made(&q);
    assert_eq!(m.entries.len(), 3);
    let dests: std::collections::BTreeSet<&String> = m.entries.iter().map(|(_, d)| d).collect();
    assert_eq!(dests.len(), 3, "one dest folder per recipient");
    let all = q.list_json(&[]);
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|e| e["mail"] == m.mail.as_str()));
    let mut tos: Vec<&str> = all.iter().map(|e| e["to"].as_str().unwrap()).collect();
    tos.sort();
    assert_eq!(tos, ["a@example.com", "b@example.net", "user@[192.0.2.1]"]);
    assert!(all.iter().all(|e| e["subject"] == "Hello there"));
}

#[test]
fn enqueue_reads_the_message_from_stdin_without_a_file() {
    let q = TestQueue::new();
    q.mqctl(["enqueue", "--from", "alice@example.org", "--to", "bob@example.com"])
        .stdin(MESSAGE)
        .run()
        .success();
    let m = made(&q);
    assert_eq!(fs::read(q.path(format!("data/{}/contents", m.mail))).unwrap(), MESSAGE);
}

#[test]
fn quiet_enqueue_prints_only_the_new_ids() {
    let q = TestQueue::new();
    let a = enqueue(&q, "alice@example.org", &["a@example.com", "b@example.com"], &["-q"]).success();
    assert_eq!(a.sorted_lines(), names(&q.path("queue")));
}

#[test]
fn modes_are_the_writers_whatever_the_umask() {
    let q = TestQueue::new();
    let msg = q.tmp().join("m.eml");
    fs::write(&msg, MESSAGE).unwrap();
    q.shell("umask 000; exec \"$MQCTL_BIN\" enqueue --from alice@example.org --to bob@example.com \"$0\"")
        .arg(&msg)
        .run()
        .success();
    let m = made(&q);
    let mail_dir = q.path(format!("data/{}", m.mail));
    let dest_dir = mail_dir.join(&m.entries[0].1);
    assert_eq!(mode(&mail_dir), 0o700);
    assert_eq!(mode(&dest_dir), 0o700);
    assert_eq!(mode(&mail_dir.join("contents")), 0o600);
    assert_eq!(mode(&dest_dir.join("schedule")), 0o600);
    assert_eq!(mode(&dest_dir.join("metadata")), 0o600);
}

#[test]
fn invalid_addresses_exit_2_and_write_nothing() {
    let q = TestQueue::fixture();
    let before = q.snapshot();
    for bad in [
        "a b@x",
        "x@",
        "a@[300.1.1.1]",
        "@example.org",
        "nodomain",
        "a@-x.org",
        "a..b@x.org",
    ] {
        let a = enqueue(&q, "alice@example.org", &[bad], &[]).expect(2);
        assert!(a.stderr.contains("--to"), "{bad}: {}", a.stderr);
        // A bad address among good ones refuses the whole message.
        enqueue(&q, "alice@example.org", &["ok@example.com", bad], &[]).expect(2);
        let a = enqueue(&q, bad, &["ok@example.com"], &[]).expect(2);
        assert!(a.stderr.contains("--from"), "{bad}: {}", a.stderr);
    }
    assert_eq!(before, q.snapshot(), "the queue changed");
}

#[test]
fn empty_or_missing_message_exits_2_and_writes_nothing() {
    let q = TestQueue::new();
    let before = q.snapshot();
    q.mqctl(["enqueue", "--from", "a@example.org", "--to", "b@example.com", "-"])
        .stdin("")
        .run()
        .expect(2);
    let a = q
        .mqctl(["enqueue", "--from", "a@example.org", "--to", "b@example.com"])
        .arg(q.tmp().join("no-such-file.eml"))
        .run()
        .expect(2);
    assert!(a.stderr.contains("no-such-file.eml"));
    q.mqctl(["enqueue", "--from", "a@example.org", "-"])
        .stdin(MESSAGE)
        .run()
        .expect(2);
    assert_eq!(before, q.snapshot());
}

#[test]
fn enqueue_into_a_missing_queue_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    mqctl(["--queue"])
        .arg(tmp.path().join("nope"))
        .args(["enqueue", "--from", "a@example.org", "--to", "b@example.com", "-"])
        .stdin(MESSAGE)
        .run()
        .expect(3);
    assert!(!tmp.path().join("nope").exists());
}

#[test]
fn enqueued_entries_read_back_like_the_fixtures() {
    let q = TestQueue::new();
    enqueue(&q, "user@[IPv6:2001:db8::1]", &["josé@exämple.org"], &[]).success();
    let all = q.list_json(&[]);
    let e = &all[0];
    assert_eq!(e["state"], "queue");
    assert_eq!(e["from"], "user@[IPv6:2001:db8::1]");
    assert_eq!(e["to"], "josé@exämple.org");
    assert_eq!(e["at"], NOW);
    assert_eq!(e["last_attempt"], Value::Null);
    assert_eq!(e["size"], MESSAGE.len());
    assert_eq!(e["problem"], Value::Null);
    assert_eq!(e["message_id"], "<enqueue-1@test.example>");
}
