//! check findings that no docs/security.md case covers: duplicate deliveries
//! after a crashed enqueue, stray files and wrong modes.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use jiff::{SignedDuration, Timestamp};
use mqctl::queue::write::EnqueueOptions;
use mqctl::queue::{Queue, address};

fn mqctl(root: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mqctl"))
        .arg("--queue")
        .arg(root)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn enqueue(q: &Queue, body: &[u8], age_h: i64) -> mqctl::queue::write::Enqueued {
    let from = address::parse("alice@example.org").unwrap();
    let to = [
        address::parse("bob@example.com").unwrap(),
        address::parse("carol@example.net").unwrap(),
    ];
    let now = Timestamp::now();
    q.enqueue(
        Some(&from),
        &to,
        body,
        EnqueueOptions {
            at: now,
            last_attempt: None,
            written: Some(now - SignedDuration::from_hours(age_h)),
            durable: false,
        },
    )
    .unwrap()
}

#[test]
fn a_retried_enqueue_is_found_and_the_younger_copy_quarantined() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("q");
    mqctl::demo::create_empty(&root).unwrap();
    let q = Queue::open(&root).unwrap();
    let body = b"Message-ID: <same@example.org>\r\nSubject: hi\r\n\r\nbody\r\n";
    let first = enqueue(&q, body, 3);
    let second = enqueue(&q, body, 2);
    // Same Message-ID, different bytes: two real messages, not a duplicate.
    enqueue(
        &q,
        b"Message-ID: <same@example.org>\r\nSubject: other\r\n\r\nbody\r\n",
        1,
    );

    let (code, json) = mqctl(&root, &["check", "--format", "json"]);
    assert_eq!(code, 4, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let dups: Vec<&serde_json::Value> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["code"] == "duplicate-mail")
        .collect();
    assert_eq!(dups.len(), 1, "{json}");
    assert_eq!(dups[0]["path"], format!("data/{}", second.mail));

    let (code, _) = mqctl(&root, &["check", "--repair", "--yes"]);
    assert_eq!(code, 0);
    assert!(
        root.join("data").join(first.mail.to_string()).join("contents").exists(),
        "the older copy stays"
    );
    assert!(!root.join("data").join(second.mail.to_string()).exists());
    let quarantined: Vec<_> = std::fs::read_dir(root.join("quarantine")).unwrap().collect();
    assert_eq!(quarantined.len(), 1);
    let qdir = quarantined[0].as_ref().unwrap().path();
    assert_eq!(
        std::fs::read(qdir.join("data").join(second.mail.to_string()).join("contents")).unwrap(),
        body,
        "nothing is deleted: the copy is in quarantine"
    );
    for e in &second.entries {
        assert!(
            qdir.join("queue").join(e.id.to_string()).exists(),
            "its links follow it"
        );
    }
    assert_eq!(mqctl(&root, &["check"]).0, 0, "a second check finds nothing");
}

#[test]
fn stray_files_and_wrong_modes_are_reported_and_repaired() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("q");
    mqctl::demo::create_empty(&root).unwrap();
    let q = Queue::open(&root).unwrap();
    let made = enqueue(&q, b"Subject: x\r\n\r\nx\r\n", 1);
    let mail = root.join("data").join(made.mail.to_string());
    std::fs::write(root.join("queue").join(".swp"), b"vim").unwrap();
    std::fs::write(mail.join(".nfs0001"), b"nfs").unwrap();
    std::fs::set_permissions(mail.join("contents"), std::fs::Permissions::from_mode(0o644)).unwrap();

    let (code, json) = mqctl(&root, &["check", "--format", "json"]);
    assert_eq!(code, 4);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let codes: Vec<(String, String)> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["code"].as_str().unwrap().to_string(),
                p["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(codes.contains(&("not-a-link".into(), "queue/.swp".into())), "{codes:?}");
    assert!(
        codes.contains(&("foreign".into(), format!("data/{}/.nfs0001", made.mail))),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("mode".into(), format!("data/{}/contents", made.mail))),
        "{codes:?}"
    );

    assert_eq!(mqctl(&root, &["check", "--repair", "--yes"]).0, 0);
    assert_eq!(
        std::fs::metadata(mail.join("contents")).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!root.join("queue/.swp").exists() && !mail.join(".nfs0001").exists());
    assert_eq!(mqctl(&root, &["check"]).0, 0, "a second check finds nothing");
}
