//! Exit codes and messages when the queue cannot be used or the command
//! line is wrong (README.md, "Exit codes").

mod common;

use std::fs;

use common::*;

#[test]
fn missing_queue_path_exits_3_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-queue");
    for cmd in [&["list"][..], &["stats"], &["show", "abcd"], &["list", "--count"]] {
        let a = mqctl().arg("--queue").arg(&missing).args(cmd).assert().code(3);
        let err = stderr_of(&a);
        assert!(err.contains(missing.to_str().unwrap()), "{cmd:?}: {err}");
        assert!(err.contains("does not exist"), "{cmd:?}: {err}");
        assert!(a.get_output().stdout.is_empty());
    }
}

#[test]
fn missing_queue_from_the_environment_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("gone");
    let a = mqctl().env("MQCTL_QUEUE", &missing).arg("list").assert().code(3);
    assert!(stderr_of(&a).contains(missing.to_str().unwrap()));
}

#[test]
fn queue_flag_wins_over_the_environment() {
    let q = TestQueue::new();
    q.entry().create();
    let tmp = tempfile::tempdir().unwrap();
    let a = mqctl()
        .env("MQCTL_QUEUE", tmp.path().join("gone"))
        .arg("--queue")
        .arg(q.root())
        .args(["list", "--count"])
        .assert()
        .success();
    assert_eq!(stdout_of(&a), "1\n");
}

#[test]
fn folder_that_is_not_a_queue_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let a = mqctl().arg("--queue").arg(tmp.path()).arg("list").assert().code(3);
    let err = stderr_of(&a);
    assert!(err.contains("not a Kannader queue") && err.contains("data/"), "{err}");

    fs::create_dir(tmp.path().join("data")).unwrap();
    let a = mqctl().arg("--queue").arg(tmp.path()).arg("list").assert().code(3);
    assert!(stderr_of(&a).contains("queue/"), "{}", stderr_of(&a));

    fs::create_dir(tmp.path().join("queue")).unwrap();
    mqctl().arg("--queue").arg(tmp.path()).arg("list").assert().success();
}

#[test]
fn queue_root_that_is_a_file_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, "not a queue").unwrap();
    let a = mqctl().arg("--queue").arg(&file).arg("stats").assert().code(3);
    assert!(stderr_of(&a).contains("not a folder"), "{}", stderr_of(&a));
}

#[test]
fn queue_root_that_is_a_symlink_exits_3_and_says_so() {
    let q = TestQueue::new();
    q.entry().create();
    let link = q.tmp().join("link-to-queue");
    std::os::unix::fs::symlink(q.root(), &link).unwrap();
    let a = mqctl().arg("--queue").arg(&link).arg("list").assert().code(3);
    let err = stderr_of(&a);
    assert!(err.contains(link.to_str().unwrap()), "{err}");
    assert!(err.contains("symlink"), "the message should say why: {err}");
    assert!(a.get_output().stdout.is_empty());
}

#[test]
fn queue_root_symlink_is_refused_even_with_a_trailing_slash() {
    // Shell completion adds the slash; it must not be a way around the rule.
    let q = TestQueue::new();
    q.entry().create();
    let link = q.tmp().join("link-to-queue");
    std::os::unix::fs::symlink(q.root(), &link).unwrap();
    let with_slash = format!("{}/", link.display());
    let a = mqctl().arg("--queue").arg(&with_slash).arg("list").assert().code(3);
    assert!(a.get_output().stdout.is_empty(), "{}", stdout_of(&a));
    // The real folder with a trailing slash is fine.
    let real = format!("{}/", q.root().display());
    let a = mqctl()
        .arg("--queue")
        .arg(&real)
        .args(["list", "--count"])
        .assert()
        .success();
    assert_eq!(stdout_of(&a), "1\n");
}

#[test]
fn data_folder_that_is_a_symlink_exits_3() {
    let q = TestQueue::new();
    let elsewhere = q.outside().join("data");
    fs::create_dir(&elsewhere).unwrap();
    fs::remove_dir(q.path("data")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, q.path("data")).unwrap();
    let a = q.cmd().arg("list").assert().code(3);
    let err = stderr_of(&a);
    assert!(err.contains("data/") && err.contains("symlink"), "{err}");
}

#[test]
fn no_queue_given_is_a_usage_error_that_says_how_to_set_one() {
    let a = mqctl().arg("list").assert().code(2);
    let err = stderr_of(&a);
    assert!(err.contains("--queue") && err.contains("MQCTL_QUEUE"), "{err}");
    // Set but empty is a mistake (a script, a unit file): say which.
    let a = mqctl().env("MQCTL_QUEUE", "").arg("stats").assert().code(2);
    let err = stderr_of(&a);
    assert!(err.contains("empty") && err.contains("MQCTL_QUEUE=DIR"), "{err}");
    let a = mqctl().args(["--queue", "", "list"]).assert().code(2);
    assert!(stderr_of(&a).contains("queue path is empty"), "{}", stderr_of(&a));
}

#[test]
fn invalid_older_than_is_a_usage_error() {
    let q = TestQueue::new();
    for bad in ["soon", "-5m", "3 fortnights", "1y"] {
        let a = q.cmd().args(["list", &format!("--older-than={bad}")]).assert().code(2);
        assert!(stderr_of(&a).contains("--older-than"), "{bad}: {}", stderr_of(&a));
    }
    q.cmd().args(["list", "--younger-than", "later"]).assert().code(2);
}

#[test]
fn invalid_clock_and_stats_options_are_usage_errors() {
    let q = TestQueue::new();
    let a = q.cmd().env("MQCTL_NOW", "yesterday").arg("list").assert().code(2);
    assert!(stderr_of(&a).contains("MQCTL_NOW"));
    q.cmd().args(["stats", "--stuck-after", "a while"]).assert().code(2);
    q.cmd().args(["stats", "--format", "xml"]).assert().code(2);
}

#[test]
fn unknown_flags_and_commands_are_usage_errors() {
    let q = TestQueue::new();
    q.cmd().args(["list", "--colour"]).assert().code(2);
    q.cmd().arg("frobnicate").assert().code(2);
    q.cmd().args(["list", "--format", "yaml"]).assert().code(2);
    mqctl().assert().code(2);
}

#[test]
fn show_of_an_unknown_id_exits_1_and_says_which() {
    let q = TestQueue::new();
    let e = q.entry().create();
    let a = q.cmd().args(["show", "deadbeef", &e.id[..8]]).assert().code(1);
    assert!(stderr_of(&a).contains("deadbeef"));
    assert!(stdout_of(&a).contains(&e.id), "the known entry is still shown");
}

#[test]
fn show_of_an_ambiguous_prefix_is_a_usage_error() {
    let q = TestQueue::new();
    q.entry().id("abcd0001-0000-4000-8000-000000000001").create();
    q.entry().id("abcd0002-0000-4000-8000-000000000002").create();
    let a = q.cmd().args(["show", "abcd"]).assert().code(2);
    assert!(stderr_of(&a).contains("ambiguous"));
}

#[test]
fn help_and_version_succeed() {
    mqctl().arg("--help").assert().success();
    mqctl().args(["list", "--help"]).assert().success();
    mqctl().arg("--version").assert().success();
}
