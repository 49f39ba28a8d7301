//! A cleanup never removes the files of an entry that is still in another
//! state folder (an interrupted move left it in two): the mail would be lost.

use std::process::Command;

#[test]
fn cleanup_refuses_an_entry_also_in_queue() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("q");
    mqctl::demo::create_empty(&root).unwrap();
    let queue = mqctl::queue::Queue::open(&root).unwrap();
    let a = mqctl::queue::address::parse("a@example.org").unwrap();
    let made = queue
        .enqueue(
            Some(&a),
            std::slice::from_ref(&a),
            b"Subject: x\r\n\r\nx\r\n",
            mqctl::queue::write::EnqueueOptions {
                at: jiff::Timestamp::now(),
                last_attempt: None,
                written: None,
                durable: false,
            },
        )
        .unwrap();
    let id = made.entries[0].id.to_string();
    // The state after a crash between linkat and unlinkat of a drop.
    std::fs::hard_link(root.join("queue").join(&id), root.join("cleanup").join(&id)).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_mqctl"))
        .args(["--queue", root.to_str().unwrap(), "purge"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("also in queue/"));
    let dest = root
        .join("data")
        .join(made.mail.to_string())
        .join(made.entries[0].dest.to_string());
    assert!(
        dest.join("metadata").exists() && dest.join("schedule").exists(),
        "files must stay"
    );
    assert!(root.join("cleanup").join(&id).exists());

    // check --repair keeps the queued one and quarantines the cleanup link.
    let st = Command::new(env!("CARGO_BIN_EXE_mqctl"))
        .args(["--queue", root.to_str().unwrap(), "check", "--repair", "--yes"])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    assert!(root.join("queue").join(&id).exists());
    assert!(!root.join("cleanup").join(&id).exists());
    assert!(dest.join("metadata").exists());
}
