//! Exit codes and messages when the queue cannot be used or the command
//! line is wrong (README.md, "Exit codes").

mod common;

use std::fs;
use std::path::PathBuf;

use common::*;

#[test]
fn missing_queue_path_exits_3_naming_the_path() {
    let q = TestQueue::unbuilt();
    let missing = q.root();
    for cmd in [&["list"][..], &["stats"], &["show", "abcd"], &["list", "--count"]] {
        let r = mqctl(["--queue"]).arg(missing).args(cmd).run().expect(3);
        assert!(r.stderr.contains(missing.to_str().unwrap()), "{r:?}");
        assert!(r.stderr.contains("does not exist"), "{r:?}");
        assert!(r.stdout.is_empty());
    }
}

#[test]
fn missing_queue_from_the_environment_exits_3() {
    let q = TestQueue::unbuilt();
    let r = mqctl(["list"]).env("MQCTL_QUEUE", q.root()).run().expect(3);
    assert!(r.stderr.contains(q.root().to_str().unwrap()));
}

#[test]
fn queue_flag_wins_over_the_environment() {
    let q = TestQueue::new();
    q.entry().create();
    let gone = TestQueue::unbuilt();
    let r = mqctl(["--queue"])
        .arg(q.root())
        .args(["list", "--count"])
        .env("MQCTL_QUEUE", gone.root())
        .run()
        .success();
    assert_eq!(r.out(), "1\n");
}

#[test]
fn folder_that_is_not_a_queue_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let list = || mqctl(["--queue"]).arg(tmp.path()).arg("list").run();
    let r = list().expect(3);
    assert!(
        r.stderr.contains("not a Kannader queue") && r.stderr.contains("data/"),
        "{r:?}"
    );

    fs::create_dir(tmp.path().join("data")).unwrap();
    let r = list().expect(3);
    assert!(r.stderr.contains("queue/"), "{r:?}");

    fs::create_dir(tmp.path().join("queue")).unwrap();
    list().success();
}

#[test]
fn queue_root_that_is_a_file_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, "not a queue").unwrap();
    let r = mqctl(["--queue"]).arg(&file).arg("stats").run().expect(3);
    assert!(r.stderr.contains("not a folder"), "{r:?}");
}

/// A queue with one entry, and a symlink to its root beside it.
fn linked_queue() -> (TestQueue, PathBuf) {
    let q = TestQueue::new();
    q.entry().create();
    let link = q.tmp().join("link-to-queue");
    std::os::unix::fs::symlink(q.root(), &link).unwrap();
    (q, link)
}

#[test]
fn queue_root_that_is_a_symlink_exits_3_and_says_so() {
    let (_q, link) = linked_queue();
    let r = mqctl(["--queue"]).arg(&link).arg("list").run().expect(3);
    assert!(r.stderr.contains(link.to_str().unwrap()), "{r:?}");
    assert!(r.stderr.contains("symlink"), "the message should say why: {r:?}");
    assert!(r.stdout.is_empty());
}

#[test]
fn queue_root_symlink_is_refused_even_with_a_trailing_slash() {
    // Shell completion adds the slash; it must not be a way around the rule.
    let (q, link) = linked_queue();
    let with_slash = format!("{}/", link.display());
    let r = mqctl(["--queue", &with_slash, "list"]).run().expect(3);
    assert!(r.stdout.is_empty(), "{r:?}");
    // The real folder with a trailing slash is fine.
    let real = format!("{}/", q.root().display());
    let r = mqctl(["--queue", &real, "list", "--count"]).run().success();
    assert_eq!(r.out(), "1\n");
}

#[test]
fn data_folder_that_is_a_symlink_exits_3() {
    let q = TestQueue::new();
    let elsewhere = q.outside().join("data");
    fs::create_dir(&elsewhere).unwrap();
    fs::remove_dir(q.path("data")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, q.path("data")).unwrap();
    let r = q.run(["list"]).expect(3);
    assert!(r.stderr.contains("data/") && r.stderr.contains("symlink"), "{r:?}");
}

#[test]
fn no_queue_given_is_a_usage_error_that_says_how_to_set_one() {
    let r = mqctl(["list"]).run().expect(2);
    assert!(
        r.stderr.contains("--queue") && r.stderr.contains("MQCTL_QUEUE"),
        "{r:?}"
    );
    // Set but empty is a mistake (a script, a unit file): say which.
    let r = mqctl(["stats"]).env("MQCTL_QUEUE", "").run().expect(2);
    assert!(
        r.stderr.contains("empty") && r.stderr.contains("MQCTL_QUEUE=DIR"),
        "{r:?}"
    );
    let r = mqctl(["--queue", "", "list"]).run().expect(2);
    assert!(r.stderr.contains("queue path is empty"), "{r:?}");
}

#[test]
fn invalid_older_than_is_a_usage_error() {
    let q = TestQueue::new();
    for bad in ["soon", "-5m", "3 fortnights", "1y"] {
        let r = q.run(["list", &format!("--older-than={bad}")]).expect(2);
        assert!(r.stderr.contains("--older-than"), "{bad}: {r:?}");
    }
    q.run(["list", "--younger-than", "later"]).expect(2);
}

#[test]
fn invalid_clock_and_stats_options_are_usage_errors() {
    let q = TestQueue::new();
    let r = q.mqctl(["list"]).now("yesterday").run().expect(2);
    assert!(r.stderr.contains("MQCTL_NOW"));
    q.run(["stats", "--stuck-after", "a while"]).expect(2);
    q.run(["stats", "--format", "xml"]).expect(2);
}

#[test]
fn unknown_flags_and_commands_are_usage_errors() {
    let q = TestQueue::new();
    q.run(["list", "--colour"]).expect(2);
    q.run(["frobnicate"]).expect(2);
    q.run(["list", "--format", "yaml"]).expect(2);
    mqctl(Vec::<&str>::new()).run().expect(2);
}

#[test]
fn show_of_an_unknown_id_exits_1_and_says_which() {
    let q = TestQueue::new();
    let e = q.entry().create();
    let r = q.run(["show", "deadbeef", &e.id[..8]]).expect(1);
    assert!(r.stderr.contains("deadbeef"));
    assert!(r.out().contains(&e.id), "the known entry is still shown");
}

#[test]
fn show_of_an_ambiguous_prefix_is_a_usage_error() {
    let q = TestQueue::new();
    q.entry().id("abcd0001-0000-4000-8000-000000000001").create();
    q.entry().id("abcd0002-0000-4000-8000-000000000002").create();
    let r = q.run(["show", "abcd"]).expect(2);
    assert!(r.stderr.contains("ambiguous"));
}

#[test]
fn help_and_version_succeed() {
    mqctl(["--help"]).run().success();
    mqctl(["list", "--help"]).run().success();
    mqctl(["--version"]).run().success();
}
