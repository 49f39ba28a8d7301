//! check findings that no docs/security.md case covers: duplicate deliveries
//! after a crashed enqueue, stray files and wrong modes.

mod common;

use common::*;
use jiff::{SignedDuration, Timestamp};

/// A mail to bob@example.com and carol@example.net, due now, written
/// `age_h` hours ago.
fn enqueue(q: &TestQueue, body: &[u8], age_h: i64) -> Mail {
    let now = Timestamp::now();
    q.enqueue(&["bob@example.com", "carol@example.net"])
        .body(body)
        .at(now)
        .written(now - SignedDuration::from_hours(age_h))
        .create()
}

#[test]
fn a_retried_enqueue_is_found_and_the_younger_copy_quarantined() {
    let q = TestQueue::new().real_clock();
    let root = q.root();
    let body = b"Message-ID: <same@example.org>\r\nSubject: hi\r\n\r\nbody\r\n";
    let first = enqueue(&q, body, 3);
    let second = enqueue(&q, body, 2);
    // Same Message-ID, different bytes: two real messages, not a duplicate.
    enqueue(
        &q,
        b"Message-ID: <same@example.org>\r\nSubject: other\r\n\r\nbody\r\n",
        1,
    );

    let r = q.run(["check", "--format", "json"]).expect(4);
    let v = r.json();
    let dups: Vec<&serde_json::Value> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["code"] == "duplicate-mail")
        .collect();
    assert_eq!(dups.len(), 1, "{r:?}");
    assert_eq!(dups[0]["path"], format!("data/{}", second.mail));

    q.run(["check", "--repair", "--yes"]).expect(0);
    assert!(
        root.join("data").join(&first.mail).join("contents").exists(),
        "the older copy stays"
    );
    assert!(!root.join("data").join(&second.mail).exists());
    let quarantined: Vec<_> = std::fs::read_dir(root.join("quarantine")).unwrap().collect();
    assert_eq!(quarantined.len(), 1);
    let qdir = quarantined[0].as_ref().unwrap().path();
    assert_eq!(
        std::fs::read(qdir.join("data").join(&second.mail).join("contents")).unwrap(),
        body,
        "nothing is deleted: the copy is in quarantine"
    );
    for e in &second.entries {
        assert!(qdir.join("queue").join(&e.id).exists(), "its links follow it");
    }
    q.run(["check"]).expect(0); // a second check finds nothing
}

#[test]
fn stray_files_and_wrong_modes_are_reported_and_repaired() {
    let q = TestQueue::new().real_clock();
    let root = q.root();
    let made = enqueue(&q, b"Subject: x\r\n\r\nx\r\n", 1);
    let mail = root.join("data").join(&made.mail);
    std::fs::write(root.join("queue").join(".swp"), b"vim").unwrap();
    std::fs::write(mail.join(".nfs0001"), b"nfs").unwrap();
    chmod(&mail.join("contents"), 0o644);

    let v = q.run(["check", "--format", "json"]).expect(4).json();
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

    q.run(["check", "--repair", "--yes"]).expect(0);
    assert_eq!(mode(&mail.join("contents")), 0o600);
    assert!(!root.join("queue/.swp").exists() && !mail.join(".nfs0001").exists());
    q.run(["check"]).expect(0); // a second check finds nothing
}
