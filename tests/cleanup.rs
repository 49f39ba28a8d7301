//! A cleanup never removes the files of an entry that is still in another
//! state folder (an interrupted move left it in two): the mail would be lost.

mod common;

use common::*;

#[test]
fn cleanup_refuses_an_entry_also_in_queue() {
    let q = TestQueue::new();
    let e = q.entry().create();
    // The state after a crash between linkat and unlinkat of a drop.
    std::fs::hard_link(q.path(e.link_path()), q.path("cleanup").join(&e.id)).unwrap();

    let r = q.run(["purge"]).expect(1);
    assert!(r.stderr.contains("also in queue/"), "{r:?}");
    let dest = q.path(e.dest_dir());
    assert!(
        dest.join("metadata").exists() && dest.join("schedule").exists(),
        "files must stay"
    );
    assert!(q.path("cleanup").join(&e.id).exists());

    // check --repair keeps the queued one and quarantines the cleanup link.
    q.run(["check", "--repair", "--yes"]).expect(0);
    assert!(q.path(e.link_path()).exists());
    assert!(!q.path("cleanup").join(&e.id).exists());
    assert!(dest.join("metadata").exists());
}
