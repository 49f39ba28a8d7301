//! A cleanup never removes the files of an entry that is still in another
//! state folder (an interrupted move left it in two): the mail would be lost.

mod common;

use common::*;

#[test]
fn cleanup_refuses_an_entry_also_in_queue() {
    let q = TestQueue::new();
    let e = q.entry().create();
    // The state after a crash between linkat and unlinkat of a drop.
    std::fs::hard_link(q.path(e.link()), q.path("cleanup").join(&e.id)).unwrap();

    let a = q.cmd().arg("purge").assert().code(1);
    assert!(stderr_of(&a).contains("also in queue/"), "{}", stderr_of(&a));
    let dest = q.path(e.dest_dir());
    assert!(
        dest.join("metadata").exists() && dest.join("schedule").exists(),
        "files must stay"
    );
    assert!(q.path("cleanup").join(&e.id).exists());

    // check --repair keeps the queued one and quarantines the cleanup link.
    q.cmd().args(["check", "--repair", "--yes"]).assert().code(0);
    assert!(q.path(e.link()).exists());
    assert!(!q.path("cleanup").join(&e.id).exists());
    assert!(dest.join("metadata").exists());
}
