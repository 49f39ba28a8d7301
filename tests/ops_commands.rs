//! Each queue-changing command, run as a user would, with the queue folder
//! snapshotted byte for byte (paths, kinds, modes, link texts, file bytes)
//! before and after: the difference must be exactly what the command is for.
//! Also the behaviour every mutating command shares (refusal without a
//! selection, `--all`, `--dry-run`, inflight refusals, summary counts, exit
//! codes, `--log`), on built queues and on the real writer's fixture.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use common::*;

/// The clock of the tests that give one to built queues.
const CLOCK: &str = "2026-11-23T12:00:00Z";

// ---------------------------------------------------------------- hold / release

#[test]
fn hold_moves_only_the_link_into_a_new_hold_folder() {
    let q = TestQueue::new().real_clock();
    let a = q.simple(2, "2026-11-23T10:00:00Z");
    let _other = q.simple(1, "2026-11-23T11:00:00Z"); // must stay as it is
    let before = q.snapshot();
    assert!(!q.path("hold").exists());

    let r = q.run(["hold", &a[0].id]).expect(0);
    assert_eq!(r.lines(), vec![format!("hold {} queue -> hold", a[0].id)]);
    assert_eq!(r.summary(), "1 held, 0 vanished, 0 failed");

    let mut expected = before.clone();
    expected.move_entry(&a[0].id, "queue", "hold");
    expected.set("hold", Node::dir(0o700));
    let after = q.snapshot();
    expected.hold_note(&after, &a[0].id);
    assert_tree(&expected, &after);
    assert_node(&Node::link(a[0].link().as_bytes()), &after[format!("hold/{}", a[0].id)]);
    assert_eq!(owner(&q.path("hold")), owner(q.root()));

    // release puts it back: the tree is the original plus the (now empty)
    // hold/ and hold-notes/.
    let r = q.run(["release", &a[0].id[..8]]).expect(0);
    assert_eq!(r.lines(), vec![format!("release {} hold -> queue", a[0].id)]);
    let mut expected = before.clone();
    expected.set("hold", Node::dir(0o700));
    expected.set("hold-notes", Node::dir(0o700));
    assert_tree(&expected, &q.snapshot());
}

#[test]
fn hold_and_release_round_trip_on_the_real_writer_fixture() {
    let q = TestQueue::fixture();
    let before = q.snapshot();
    let r = q.run(["hold", "--all", "--yes"]).expect(0);
    assert_eq!(r.summary(), "8 held, 0 vanished, 0 failed");
    let mut expected = before.clone();
    expected.set("hold", Node::dir(0o700));
    let after = q.snapshot();
    for k in before.keys().filter(|k| k.parent() == Some(Path::new("queue"))) {
        expected.rename(k, Path::new("hold").join(k.file_name().unwrap()));
        expected.hold_note(&after, k.file_name().unwrap().to_str().unwrap());
    }
    assert_tree(&expected, &after);

    let r = q.run(["release", "--all", "--yes"]).expect(0);
    assert_eq!(r.summary(), "8 released, 0 vanished, 0 failed");
    let mut expected = before;
    // The only trace of the round trip: hold/ and hold-notes/ exist,
    // empty, 0700.
    expected.set("hold", Node::dir(0o700));
    expected.set("hold-notes", Node::dir(0o700));
    assert_tree(&expected, &q.snapshot());
}

#[test]
fn release_of_a_queued_entry_and_hold_of_a_held_one_are_skipped() {
    let q = TestQueue::new().real_clock();
    let a = q.simple(2, "2026-11-23T10:00:00Z");
    q.put(&a[1].id, "queue", "hold");
    let before = q.snapshot();
    let r = q.run(["release", &a[0].id]).expect(0);
    assert!(r.stderr.contains("skipped: already in queue/"), "{r:?}");
    assert_eq!(r.summary(), "0 released, 0 vanished, 1 skipped, 0 failed");
    let r = q.run(["hold", &a[1].id]);
    assert!(r.stderr.contains("skipped: already in hold/"), "{r:?}");
    assert_eq!(r.summary(), "0 held, 0 vanished, 1 skipped, 0 failed");
    assert_tree(&before, &q.snapshot());
}

// ---------------------------------------------------------------- reschedule / defer

#[test]
fn reschedule_rewrites_only_at_keeping_unknown_fields_and_key_order() {
    let q = TestQueue::new().real_clock();
    let a = q.simple(2, "2026-11-23T10:00:00Z");
    let sched = q.path(format!("{}/schedule", a[0].dest_dir()));
    // The writer's bytes plus a field mqctl does not know, in the middle.
    fs::write(
        &sched,
        br#"{"at":"2026-11-22T21:35:25.426680706Z","x-extra":{"b":[1,"two",null],"a":true},"last_attempt":"2026-11-22T17:35:25.4Z"}"#,
    )
    .unwrap();
    let before = q.snapshot();

    let r = q
        .run(["reschedule", &a[0].id, "--at", "2026-11-24T06:00:00Z"])
        .expect(0);
    assert_eq!(
        r.lines(),
        vec![format!("reschedule {} queue at 2026-11-24T06:00:00Z", a[0].id)]
    );
    assert_eq!(r.summary(), "1 rescheduled, 0 vanished, 0 failed");

    let mut expected = before;
    expected.set(
        format!("{}/schedule", a[0].dest_dir()),
        Node::file(br#"{"at":"2026-11-24T06:00:00Z","x-extra":{"b":[1,"two",null],"a":true},"last_attempt":"2026-11-22T17:35:25.4Z"}"#),
    );
    // Exactly that: mode 0600, no trailing newline, no temp file left, the
    // sibling recipient untouched; the entry was claimed for the rewrite and
    // is back (claimed/ stays, empty, like hold/).
    expected.set("claimed", Node::dir(0o700));
    assert_tree(&expected, &q.snapshot());
    assert!(temp_files(q.root()).is_empty());
}

#[test]
fn reschedule_of_a_held_entry_keeps_it_held_and_relative_times_use_the_clock() {
    let q = TestQueue::new().real_clock();
    let a = q.simple(1, "2026-11-23T10:00:00Z");
    q.put(&a[0].id, "queue", "hold");
    let before = q.snapshot();
    let r = q
        .mqctl(["reschedule", &a[0].id, "--at", "+2h30m"])
        .now(CLOCK)
        .run()
        .expect(0);
    assert_eq!(
        r.lines(),
        vec![format!("reschedule {} hold at 2026-11-23T14:30:00Z", a[0].id)]
    );
    let mut expected = before;
    expected.set(
        format!("{}/schedule", a[0].dest_dir()),
        Node::file(br#"{"at":"2026-11-23T14:30:00Z","last_attempt":null}"#),
    );
    // Claimed from hold/ for the rewrite, and back in hold/.
    expected.set("claimed-held", Node::dir(0o700));
    assert_tree(&expected, &q.snapshot());
}

#[test]
fn reschedule_on_the_fixture_keeps_last_attempt_byte_identical() {
    let q = TestQueue::fixture();
    let before = q.snapshot();
    let id = "1114b5c9-4659-47c4-a29e-8e8f4908ad11";
    let key = "data/f9de7b5d-f4c8-44c2-9714-26d50d515cc1/67c8de9d-109d-480f-8279-095d3dcb71d3/schedule";
    assert_node(
        &Node::file(br#"{"at":"2026-11-22T21:35:25.426680706Z","last_attempt":"2026-11-22T17:35:25.426680706Z"}"#),
        &before[key],
    );
    let r = q.run(["reschedule", "1114", "--at", "+1h"]).expect(0);
    assert_eq!(
        r.lines(),
        vec![format!("reschedule {id} queue at 2026-11-22T21:40:00Z")]
    );
    let mut expected = before;
    expected.set(
        key,
        Node::file(br#"{"at":"2026-11-22T21:40:00Z","last_attempt":"2026-11-22T17:35:25.426680706Z"}"#),
    );
    expected.set("claimed", Node::dir(0o700));
    assert_tree(&expected, &q.snapshot());
}

#[test]
fn defer_by_pushes_from_the_later_of_at_and_now() {
    let q = TestQueue::new().real_clock();
    let past = q.simple(1, "2026-11-23T08:00:00Z"); // due: from now
    let future = q
        .enqueue(&["x@example.net"])
        .at(ts("2026-11-23T15:00:00.5Z"))
        .last_attempt(ts("2026-11-23T11:00:00Z"))
        .create(); // not due: from its at
    let before = q.snapshot();
    let r = q
        .mqctl(["defer", "--all", "--by", "2h", "--yes"])
        .now(CLOCK)
        .run()
        .expect(0);
    assert_eq!(r.summary(), "2 deferred, 0 vanished, 0 failed");
    let lines = r.sorted_lines();
    let mut want = vec![
        format!("defer {} queue at 2026-11-23T14:00:00Z", past[0].id),
        format!("defer {} queue at 2026-11-23T17:00:00.500Z", future[0].id),
    ];
    want.sort();
    assert_eq!(lines, want);
    let mut expected = before;
    expected.set(
        format!("{}/schedule", past[0].dest_dir()),
        Node::file(br#"{"at":"2026-11-23T14:00:00Z","last_attempt":null}"#),
    );
    expected.set(
        format!("{}/schedule", future[0].dest_dir()),
        Node::file(br#"{"at":"2026-11-23T17:00:00.500Z","last_attempt":"2026-11-23T11:00:00Z"}"#),
    );
    expected.set("claimed", Node::dir(0o700));
    assert_tree(&expected, &q.snapshot());
}

#[test]
fn defer_until_earlier_than_the_current_at_skips_and_changes_nothing() {
    let q = TestQueue::new().real_clock();
    let early = q.simple(1, "2026-11-23T08:00:00Z");
    let late = q.simple(1, "2026-11-24T08:00:00Z");
    let before = q.snapshot();
    let r = q
        .mqctl(["defer", "--all", "--until", "2026-11-23T20:00:00Z", "--yes"])
        .now(CLOCK)
        .run()
        .expect(0);
    assert_eq!(
        r.lines(),
        vec![format!("defer {} queue at 2026-11-23T20:00:00Z", early[0].id)]
    );
    assert!(
        r.stderr
            .contains(&format!("defer {} queue: skipped: already later than that", late[0].id)),
        "{r:?}"
    );
    assert_eq!(r.summary(), "1 deferred, 0 vanished, 1 skipped, 0 failed");
    let mut expected = before;
    expected.set(
        format!("{}/schedule", early[0].dest_dir()),
        Node::file(br#"{"at":"2026-11-23T20:00:00Z","last_attempt":null}"#),
    );
    expected.set("claimed", Node::dir(0o700));
    assert_tree(&expected, &q.snapshot());
}

// ---------------------------------------------------------------- drop

#[test]
fn drop_removes_link_and_dest_and_the_mail_only_with_its_last_recipient() {
    let q = TestQueue::new().real_clock();
    let m = q.simple(3, "2026-11-23T10:00:00Z");
    let other = q.simple(1, "2026-11-23T10:00:00Z");
    q.put(&m[2].id, "queue", "hold");
    let before = q.snapshot();

    let r = q.run(["drop", &m[0].id]).expect(0);
    assert_eq!(r.lines(), vec![format!("drop {} queue -> cleanup", m[0].id)]);
    assert_eq!(r.summary(), "1 dropped, 0 vanished, 0 failed");
    let mut expected = before.clone();
    expected.remove(format!("queue/{}", m[0].id));
    expected.remove_tree(m[0].dest_dir());
    // Siblings, their data and the shared contents stay byte-identical.
    assert_tree(&expected, &q.snapshot());

    // The last two recipients (one of them held): the whole mail goes.
    let r = q.run(["drop", &m[1].id, &m[2].id]).expect(0);
    assert_eq!(r.summary(), "2 dropped, 0 vanished, 0 failed");
    expected.remove(format!("queue/{}", m[1].id));
    expected.remove(format!("hold/{}", m[2].id));
    expected.remove_tree(m[0].mail_dir());
    assert_tree(&expected, &q.snapshot());
    assert!(q.path(other[0].dest_dir()).join("schedule").exists());
}

#[test]
fn drop_inflight_needs_force_or_a_stuck_entry() {
    let q = TestQueue::new().real_clock();
    let a = q.simple(2, "2026-11-23T10:00:00Z");
    q.put(&a[0].id, "queue", "inflight");
    let before = q.snapshot();

    let r = q.run(["drop", &a[0].id]).expect(0);
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(r.stderr.contains("skipped: inflight for"), "{r:?}");
    assert!(r.stderr.contains("use --force"), "{r:?}");
    assert_eq!(r.summary(), "0 dropped, 0 vanished, 1 skipped, 0 failed");
    assert_tree(&before, &q.snapshot());

    // Two hours later by the clock, it is stuck: dropped without --force.
    let r = q.mqctl(["drop", &a[0].id]).now("+2h").run();
    assert_eq!(r.summary(), "1 dropped, 0 vanished, 0 failed", "{r:?}");
    assert_eq!(r.lines(), vec![format!("drop {} inflight -> cleanup", a[0].id)]);
    let mut expected = before;
    expected.remove(format!("inflight/{}", a[0].id));
    expected.remove_tree(a[0].dest_dir());
    assert_tree(&expected, &q.snapshot());

    // --stuck-after sets what counts as stuck.
    q.put(&a[1].id, "queue", "inflight");
    let r = q.run(["drop", &a[1].id, "--stuck-after", "0s"]);
    assert_eq!(r.summary(), "1 dropped, 0 vanished, 0 failed", "{r:?}");
    assert_eq!(count(&q.path("data")), 0);
}

#[test]
fn drop_force_takes_the_fixture_inflight_entry() {
    let q = TestQueue::fixture();
    let before = q.snapshot();
    let id = "b9daf055-4478-4bd9-b8bf-a65e80fedd28";
    let r = q.run(["drop", "b9daf055"]);
    assert_eq!(r.summary(), "0 dropped, 0 vanished, 1 skipped, 0 failed", "{r:?}");
    assert_tree(&before, &q.snapshot());
    let r = q.run(["drop", "b9daf055", "--force"]).expect(0);
    assert_eq!(r.lines(), vec![format!("drop {id} inflight -> cleanup")]);
    let mut expected = before;
    expected.remove(format!("inflight/{id}"));
    expected.remove_tree("data/79277d12-9936-49a9-ba22-5d19ca314442");
    assert_tree(&expected, &q.snapshot());
}

// ---------------------------------------------------------------- recover

#[test]
fn recover_moves_only_stale_inflight_entries_back() {
    let q = TestQueue::new().real_clock();
    let a = q.simple(2, "2026-11-23T10:00:00Z");
    q.put(&a[0].id, "queue", "inflight");
    let before = q.snapshot();

    // Young: nothing to do. The summary says so; with --quiet (as the cron
    // job runs it) nothing at all is printed.
    let r = q.run(["recover"]);
    assert_eq!(
        (r.code, r.out(), r.stderr.as_str()),
        (0, "", "0 entries matched, nothing changed\n")
    );
    let r = q.run(["--quiet", "recover"]);
    assert_eq!((r.code, r.out(), r.stderr.as_str()), (0, "", ""));
    assert_tree(&before, &q.snapshot());

    let r = q.mqctl(["recover"]).now("+2h").run().expect(0);
    assert_eq!(r.lines(), vec![format!("recover {} inflight -> queue", a[0].id)]);
    assert_eq!(r.summary(), "1 recovered, 0 vanished, 0 failed");
    let mut expected = before;
    expected.move_entry(&a[0].id, "inflight", "queue");
    assert_tree(&expected, &q.snapshot());

    // And again: nothing left, silent with --quiet.
    let r = q.mqctl(["--quiet", "recover"]).now("+2h").run();
    assert_eq!((r.code, r.out(), r.stderr.as_str()), (0, "", ""));
}

#[test]
fn recover_stuck_after_zero_takes_a_fresh_inflight_entry() {
    let q = TestQueue::new().real_clock();
    let a = q.simple(1, "2026-11-23T10:00:00Z");
    q.put(&a[0].id, "queue", "inflight");
    let before = q.snapshot();
    q.run(["recover", "--stuck-after", "0s"]).expect(0);
    let mut expected = before;
    expected.move_entry(&a[0].id, "inflight", "queue");
    assert_tree(&expected, &q.snapshot());
}

// ---------------------------------------------------------------- purge

#[test]
fn purge_finishes_cleanups_and_removes_old_leftovers_only() {
    let q = TestQueue::new().real_clock();
    let live = q.simple(2, "2026-11-23T10:00:00Z");
    let pending = q.simple(2, "2026-11-23T10:00:00Z");
    let orphan = q.simple(2, "2026-11-23T10:00:00Z");
    let odd = q.simple(1, "2026-11-23T10:00:00Z");
    let young = q.simple(1, "2026-11-23T10:00:00Z");
    // Both recipients of `pending` were sent; the writer died before cleanup.
    q.put(&pending[0].id, "queue", "cleanup");
    q.put(&pending[1].id, "queue", "cleanup");
    // Orphans: a crash during enqueue left data no link points to.
    for e in orphan.iter().chain(odd.iter()).chain(young.iter()) {
        fs::remove_file(q.path(format!("queue/{}", e.id))).unwrap();
    }
    fs::write(q.path(odd[0].mail_dir()).join("notes.txt"), b"not the writer's").unwrap();
    // Temp files of interrupted rewrites: an old one and a young one.
    let old_tmp = format!("{}/schedule.0b5c1c83-9c43-4b8e-9f4e-0d1d9f7a3e21", live[0].dest_dir());
    let young_tmp = format!("{}/schedule.5d0c1c83-9c43-4b8e-9f4e-0d1d9f7a3e22", live[1].dest_dir());
    fs::write(q.path(&old_tmp), b"{\"at\":").unwrap();
    fs::write(q.path(&young_tmp), b"{\"at\":").unwrap();
    let old = SystemTime::now() - Duration::from_secs(3 * 3600);
    set_mtime(&q.path(&old_tmp), old);
    set_mtime_tree(&q.path(orphan[0].mail_dir()), old);
    set_mtime_tree(&q.path(odd[0].mail_dir()), old);
    let before = q.snapshot();

    let d = q.run(["purge", "--dry-run"]).expect(0);
    assert_tree(&before, &q.snapshot());
    let r = q.run(["purge"]).expect(0);
    assert_eq!(d.stdout, r.stdout, "the dry run printed other lines than the real run");
    assert_eq!(
        d.summary(),
        "dry run, nothing changed: 4 would be purged (2 pending cleanups, 1 temp file, 1 orphan mail), \
0 vanished, 1 skipped, 0 failed",
        "{d:?}"
    );
    let lines = r.sorted_lines();
    let mut want = vec![
        format!("cleanup {} cleanup", pending[0].id),
        format!("cleanup {} cleanup", pending[1].id),
        format!("remove-temp {old_tmp}"),
        format!("remove-orphan {}", orphan[0].mail_dir()),
    ];
    want.sort();
    assert_eq!(lines, want, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "remove-orphan {}: skipped: holds \"notes.txt\"",
            odd[0].mail_dir()
        )),
        "{r:?}"
    );
    assert_eq!(
        r.summary(),
        "4 purged (2 pending cleanups, 1 temp file, 1 orphan mail), 0 vanished, 1 skipped, 0 failed",
        "{r:?}"
    );

    let mut expected = before;
    expected.remove(format!("cleanup/{}", pending[0].id));
    expected.remove(format!("cleanup/{}", pending[1].id));
    expected.remove_tree(pending[0].mail_dir());
    expected.remove(&old_tmp);
    expected.remove_tree(orphan[0].mail_dir());
    // Kept: the young temp file, the young orphan, the odd-shaped orphan.
    assert_tree(&expected, &q.snapshot());
    assert!(q.path(&young_tmp).exists() && q.path(young[0].mail_dir()).exists());

    // Idempotent: a second purge finds nothing more it may remove.
    let again = q.snapshot();
    let r = q.run(["purge"]).expect(0);
    assert!(r.stdout.is_empty(), "{r:?}");
    assert_tree(&again, &q.snapshot());
}

#[test]
fn purge_finishes_the_fixture_cleanup_entry() {
    let q = TestQueue::fixture();
    let before = q.snapshot();
    let r = q.run(["purge"]).expect(0);
    assert_eq!(r.lines(), vec!["cleanup 1975c4df-3c81-4ef5-9df7-3ba545d643ba cleanup"]);
    let mut expected = before;
    expected.remove("cleanup/1975c4df-3c81-4ef5-9df7-3ba545d643ba");
    expected.remove_tree("data/c4d70b9f-4706-4b7b-a463-3663dcf6c079");
    assert_tree(&expected, &q.snapshot());
}

#[test]
fn purge_removes_a_leftover_temp_file_that_blocks_a_cleanup() {
    // docs/writer.md: a schedule.<uuid> left in the dest folder makes the
    // writer's rmdir fail forever; mqctl's cleanup removes it first.
    let q = TestQueue::new().real_clock();
    let a = q.simple(1, "2026-11-23T10:00:00Z");
    fs::write(
        q.path(a[0].dest_dir())
            .join("schedule.0b5c1c83-9c43-4b8e-9f4e-0d1d9f7a3e21"),
        b"{",
    )
    .unwrap();
    q.put(&a[0].id, "queue", "cleanup");
    q.run(["purge"]).expect(0);
    assert_eq!(count(&q.path("data")), 0);
    assert_eq!(count(&q.path("cleanup")), 0);
}

// ---------------------------------------------------------------- shared behaviour

#[test]
fn no_ids_and_no_filter_is_refused_with_exit_2() {
    let q = TestQueue::new().real_clock();
    let a = q.simple(2, "2026-11-23T10:00:00Z");
    q.put(&a[1].id, "queue", "hold");
    let before = q.snapshot();
    for args in [
        vec!["hold"],
        vec!["release"],
        vec!["drop"],
        vec!["drop", "--force"],
        vec!["reschedule", "--at", "now"],
        vec!["defer", "--by", "1h"],
        vec!["hold", "--yes"],
    ] {
        let r = q.run(&args).expect(2);
        assert!(r.stdout.is_empty(), "{args:?}: {r:?}");
        assert!(r.stderr.contains("--all"), "{args:?}: {r:?}");
        assert_tree(&before, &q.snapshot());
    }
}

#[test]
fn all_acts_on_every_entry_of_the_default_states() {
    let q = TestQueue::new().real_clock();
    let a = q.simple(3, "2026-11-23T10:00:00Z");
    q.put(&a[2].id, "queue", "inflight");
    let r = q.run(["hold", "--all", "--yes"]).expect(0);
    assert_eq!(r.summary(), "2 held, 0 vanished, 0 failed");
    assert_eq!(count(&q.path("hold")), 2);
    assert_eq!(count(&q.path("inflight")), 1);
    // A filter alone is a selection too.
    let r = q.run(["release", "--to", "rcpt0@*"]).expect(0);
    assert_eq!(r.lines(), vec![format!("release {} hold -> queue", a[0].id)]);
}

/// The dry run prints exactly the lines the real run prints, and changes
/// nothing; checked on twin queues (the fixture, twice).
#[test]
fn dry_run_prints_the_real_runs_lines_and_changes_nothing() {
    let cases: Vec<Vec<&str>> = vec![
        vec!["hold", "--all"],
        vec!["reschedule", "--all", "--at", "2026-11-23T06:00:00Z"],
        vec!["defer", "--all", "--by", "3h"],
        vec!["defer", "--all", "--until", "2026-11-22T22:00:00Z"],
        vec!["drop", "--all"],
        vec!["drop", "--all", "--force"],
        vec!["drop", "--from", "sender@origin.example"],
        vec!["purge"],
        vec!["recover", "--stuck-after", "0s"],
    ];
    for args in cases {
        let q = TestQueue::fixture();
        let before = q.snapshot();
        let mut dry = args.clone();
        dry.push("--dry-run");
        // recover measures age from the link's ctime (now, after unpacking).
        let now = if args[0] == "recover" { "+1m" } else { NOW };
        let d = q.mqctl(&dry).now(now).run().expect(0);
        assert_tree(&before, &q.snapshot());
        assert!(d.summary().starts_with("dry run, nothing changed: "), "{d:?}");
        let mut real_args = args.clone();
        if !matches!(args[0], "purge" | "recover") {
            real_args.push("--yes");
        }
        let r = q.mqctl(&real_args).now(now).run().expect(0);
        assert_eq!(
            d.stdout, r.stdout,
            "{args:?}: dry run and real run print different lines"
        );
        assert!(
            !r.stdout.is_empty(),
            "{args:?} did nothing: the comparison would prove nothing"
        );
        assert_eq!(d.counts(), r.counts(), "{args:?}");
        assert_ne!(before, q.snapshot(), "{args:?}: the real run changed nothing");
    }
}

#[test]
fn inflight_entries_are_refused_by_reschedule_hold_and_defer() {
    let q = TestQueue::fixture();
    let before = q.snapshot();
    let id = "b9daf055-4478-4bd9-b8bf-a65e80fedd28";
    for args in [
        vec!["hold", id],
        vec!["reschedule", id, "--at", "now"],
        vec!["defer", id, "--by", "1h"],
        vec!["release", id],
    ] {
        let r = q.run(&args).expect(0);
        assert!(r.stdout.is_empty(), "{args:?}: {r:?}");
        assert!(
            r.stderr.contains(&format!("{id} inflight: skipped: inflight")),
            "{args:?}: {r:?}"
        );
        assert_eq!(r.counts().skipped, 1, "{args:?}: {r:?}");
        assert_eq!(r.counts().done, 0, "{args:?}: {r:?}");
        assert_tree(&before, &q.snapshot());
    }
}

#[test]
fn summary_counts_done_and_skipped_and_an_id_that_names_nothing_is_no_entry_and_exit_1() {
    let q = TestQueue::fixture();
    let gone = "00000000-0000-4000-8000-000000000000";
    let r = q
        .run(["hold", "61fa4b17", "b0b27933", "b9daf055", gone, "--yes"])
        .expect(1);
    assert!(r.stderr.contains(&format!("mqctl: no entry {gone}\n")), "{r:?}");
    assert_eq!(
        r.summary(),
        "2 held, 0 vanished, 1 skipped, 0 failed, 1 id names no entry"
    );
    assert_eq!(r.lines().len(), 2);
}

#[test]
fn a_bad_link_text_fails_the_entry_and_exits_1_without_moving_it() {
    let q = TestQueue::new().real_clock();
    let good = q.simple(1, "2026-11-23T10:00:00Z");
    let bad = "0d0d0d0d-0000-4000-8000-000000000001";
    // A link a hostile user planted: the writer's prefix check would pass it.
    std::os::unix::fs::symlink(
        format!("../data/../../{}", good[0].dest_dir()),
        q.path(format!("queue/{bad}")),
    )
    .unwrap();
    let before = q.snapshot();
    let r = q.run(["reschedule", "--all", "--at", "now", "--yes"]).expect(1);
    assert!(
        r.stderr.contains(&format!("reschedule {bad} queue: failed: link text")),
        "{r:?}"
    );
    assert_eq!(
        r.counts(),
        Counts {
            done: 1,
            vanished: 0,
            skipped: 0,
            failed: 1
        }
    );
    // Only the good entry's schedule changed; the bad link was not followed.
    let key = format!("{}/schedule", good[0].dest_dir());
    let now = q.snapshot();
    assert_ne!(before[&key], now[&key], "the good entry was not rescheduled");
    let mut expected = before;
    expected.set(&key, now[&key].clone());
    expected.set("claimed", Node::dir(0o700));
    assert_tree(&expected, &now);

    // drop must not hand it to cleanup/ (the writer's cleanup would follow it).
    let before_drop = q.snapshot();
    let r = q.run(["drop", bad]).expect(1);
    assert!(r.stderr.contains("failed"), "{r:?}");
    assert_eq!(r.counts().failed, 1, "{r:?}");
    assert_tree(&before_drop, &q.snapshot());
    assert!(q.path(format!("queue/{bad}")).symlink_metadata().is_ok());
}

#[test]
fn log_file_records_each_change_as_json() {
    let q = TestQueue::fixture();
    let log = q.tmp().join("audit.jsonl");
    let log_s = log.to_str().unwrap();
    q.run(["hold", "61fa4b17", "b9daf055", "--log", log_s]).expect(0);
    q.run(["drop", "61fa4b17", "--log", log_s]).expect(0);
    q.run(["reschedule", "5566b6f5", "--at", "2026-11-23T00:00:00Z", "--log", log_s])
        .expect(0);
    let text = fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let pick = |v: &serde_json::Value| {
        ["operation", "id", "from", "to", "result"].map(|k| v[k].as_str().unwrap_or("?").to_string())
    };
    // Before each run's changes, one intent line names the entries it is
    // about to change; then one line per change.
    let (intents, results): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) =
        lines.iter().partition(|v| v["result"] == "intent");
    let intent_ids: Vec<Vec<&str>> = intents
        .iter()
        .map(|v| {
            v["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_str().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        intent_ids,
        vec![
            vec![
                "61fa4b17-c083-4410-bc95-290f079bb2e4",
                "b9daf055-4478-4bd9-b8bf-a65e80fedd28"
            ],
            vec!["61fa4b17-c083-4410-bc95-290f079bb2e4"],
            vec!["5566b6f5-19f2-4e01-bafe-291723d1932a"],
        ]
    );
    let got: Vec<[String; 5]> = results.iter().map(|v| pick(v)).collect();
    let s = |a: [&str; 5]| a.map(String::from);
    assert_eq!(
        got,
        vec![
            s(["hold", "61fa4b17-c083-4410-bc95-290f079bb2e4", "queue", "hold", "done"]),
            s([
                "hold",
                "b9daf055-4478-4bd9-b8bf-a65e80fedd28",
                "inflight",
                "hold",
                "skipped"
            ]),
            s([
                "drop",
                "61fa4b17-c083-4410-bc95-290f079bb2e4",
                "hold",
                "cleanup",
                "done"
            ]),
            s([
                "reschedule",
                "5566b6f5-19f2-4e01-bafe-291723d1932a",
                "queue",
                "queue",
                "done"
            ]),
        ]
    );
    for v in &lines {
        assert!(
            v["time"].as_str().is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()),
            "{v}"
        );
        assert!(v["uid"].is_u64() && v["user"].is_string(), "{v}");
    }
    assert_eq!(
        results[1]["reason"].as_str().map(|r| r.contains("inflight")),
        Some(true)
    );
    assert_eq!(results[3]["detail"], "at 2026-11-23T00:00:00Z");
    // Every line of one run carries that run's id, and a rewrite records
    // the schedule it replaced, byte for byte.
    assert_eq!(results[0]["run"], intents[0]["run"]);
    assert_ne!(results[3]["run"], results[0]["run"]);
    assert_eq!(
        results[3]["before"],
        r#"{"at":"2026-11-22T19:35:27.426680706Z","last_attempt":"2026-11-22T15:35:27.426680706Z"}"#
    );
    assert_eq!(mode(&log), 0o600);
}

#[test]
fn ids_from_stdin_select_entries() {
    let q = TestQueue::fixture();
    let r = q
        .mqctl(["hold", "-", "--yes"])
        .stdin(b"61fa4b17\n3453c267-5639-4536-a657-aa8c71da73bc\n".to_vec())
        .run()
        .expect(0);
    assert_eq!(r.summary(), "2 held, 0 vanished, 0 failed");
    assert_eq!(count(&q.path("hold")), 2);
}

#[test]
fn purge_refuses_a_cleanup_link_that_leaves_the_queue() {
    let q = TestQueue::new().real_clock();
    let a = q.simple(1, "2026-11-23T10:00:00Z");
    // Something outside the queue shaped like a dest folder.
    let outside = q.tmp().join("outside");
    fs::create_dir_all(outside.join("m/d")).unwrap();
    fs::write(outside.join("m/d/schedule"), b"keep").unwrap();
    fs::write(outside.join("m/d/metadata"), b"keep").unwrap();
    fs::write(outside.join("m/contents"), b"keep").unwrap();
    let outside_before = snapshot(&outside);
    let bad = "0d0d0d0d-0000-4000-8000-000000000002";
    std::os::unix::fs::symlink("../data/../../outside/m/d", q.path(format!("cleanup/{bad}"))).unwrap();
    let before = q.snapshot();
    let r = q.run(["purge", "--min-age", "0s"]).expect(1);
    assert!(
        r.stderr.contains(&format!("cleanup {bad} cleanup: failed: link text")),
        "{r:?}"
    );
    assert_tree(&before, &q.snapshot());
    assert_tree(&outside_before, &snapshot(&outside));
    assert!(q.path(a[0].dest_dir()).join("schedule").exists());
}

#[test]
fn purge_removes_old_metadata_temp_files_too() {
    let q = TestQueue::new().real_clock();
    let a = q.simple(1, "2026-11-23T10:00:00Z");
    let tmp = format!("{}/metadata.7e0c1c83-9c43-4b8e-9f4e-0d1d9f7a3e23", a[0].dest_dir());
    // Not the writer's temp name (no uuid): left alone.
    let odd = format!("{}/metadata.backup", a[0].dest_dir());
    fs::write(q.path(&tmp), b"{").unwrap();
    fs::write(q.path(&odd), b"{").unwrap();
    let before = q.snapshot();
    let r = q.mqctl(["purge"]).now("+2h").run().expect(0);
    assert_eq!(r.lines(), vec![format!("remove-temp {tmp}")]);
    let mut expected = before;
    expected.remove(&tmp);
    assert_tree(&expected, &q.snapshot());
}

/// docs/security.md case 17: run as root on a queue owned by the mail user,
/// what mqctl creates or rewrites keeps that owner (and 0600 / 0700).
#[test]
fn rewrites_and_new_folders_keep_the_queue_owners_ids_when_run_as_root() {
    if skipped_unless_root("to chown the test queue") {
        return;
    }
    let q = TestQueue::new().real_clock();
    let a = q.simple(2, "2026-11-23T10:00:00Z");
    chown_r(q.root(), 4242, 4343);
    q.run(["reschedule", &a[0].id, "--at", "2026-11-24T00:00:00Z"])
        .expect(0);
    let sched = q.path(a[0].dest_dir()).join("schedule");
    assert_eq!(owner(&sched), (4242, 4343));
    assert_eq!(mode(&sched), 0o600);
    q.run(["hold", &a[1].id]).expect(0);
    assert_eq!(owner(&q.path("hold")), (4242, 4343));
    assert_eq!(owner(&q.path(format!("hold/{}", a[1].id))), (4242, 4343));
}

#[test]
fn drop_of_an_entry_with_a_stranger_in_its_dest_folder_fails_and_keeps_the_files() {
    let q = TestQueue::new().real_clock();
    let a = q.simple(2, "2026-11-23T10:00:00Z");
    fs::write(q.path(a[0].dest_dir()).join("notes.txt"), b"not the writer's").unwrap();
    let before = q.snapshot();
    let r = q.run(["drop", &a[0].id]).expect(1);
    assert!(r.stderr.contains("notes.txt"), "{r:?}");
    assert_eq!(r.counts().failed, 1);
    // Nothing of its data was removed; the entry waits in cleanup/ for `check`.
    let mut expected = before;
    expected.move_entry(&a[0].id, "queue", "cleanup");
    assert_tree(&expected, &q.snapshot());
}

#[test]
fn a_move_onto_an_existing_name_fails_and_replaces_nothing() {
    let q = TestQueue::new().real_clock();
    let a = q.simple(2, "2026-11-23T10:00:00Z");
    // The same id in queue/ and hold/, pointing at different recipients.
    fs::create_dir(q.path("hold")).unwrap();
    std::os::unix::fs::symlink(a[1].link(), q.path(format!("hold/{}", a[0].id))).unwrap();
    let before = q.snapshot();
    let r = q.run(["hold", &a[0].id]).expect(1);
    assert!(r.stderr.contains("already exists"), "{r:?}");
    assert_eq!(r.counts().failed, 1, "{r:?}");
    q.run(["release", &a[0].id]).expect(1);
    // No note either: the one the hold wrote aside went with its failure.
    let mut expected = before;
    expected.set("hold-notes", Node::dir(0o700));
    assert_tree(&expected, &q.snapshot());
}

#[test]
fn a_closed_stdout_does_not_stop_or_fail_a_bulk_change() {
    let q = TestQueue::new().real_clock();
    let mut ids = Vec::new();
    for _ in 0..400 {
        ids.extend(q.simple(3, "2026-11-23T10:00:00Z").entries);
    }
    let log = q.tmp().join("log.jsonl");
    // Like `| head -0`: the reader is gone at once.
    q.mqctl(["hold", "--all", "--yes", "--log", log.to_str().unwrap()])
        .close_stdout()
        .run()
        .expect(0);
    assert_eq!(count(&q.path("hold")), ids.len(), "every entry is held");
    assert_eq!(count(&q.path("queue")), 0);
    let text = fs::read_to_string(&log).unwrap();
    let results = text.lines().filter(|l| !l.contains(r#""result":"intent""#)).count();
    assert_eq!(results, ids.len(), "one result line per change");
}

#[test]
fn hold_and_recover_move_only_symlinks() {
    // docs/writer.md: the writer skips regular files and cannot move a link in
    // a subfolder; such things are reported by `check`, never moved around
    // as if they were entries.
    let q = TestQueue::new().real_clock();
    let a = q.simple(2, "2026-11-23T10:00:00Z");
    q.put(&a[1].id, "queue", "inflight");
    fs::write(q.path("queue/notalink"), b"x").unwrap();
    fs::write(q.path("inflight/regular"), b"x").unwrap();
    fs::create_dir(q.path("inflight/sub")).unwrap();
    std::os::unix::fs::symlink(a[0].link(), q.path("inflight/sub/e")).unwrap();
    let before = q.snapshot();

    let r = q.run(["hold", "--all", "--yes"]).expect(0);
    assert_eq!(r.lines(), vec![format!("hold {} queue -> hold", a[0].id)]);
    assert!(
        r.stderr
            .contains("hold notalink queue: skipped: a regular file, not an entry"),
        "{r:?}"
    );
    let r = q.run(["recover", "--stuck-after", "0s"]).expect(0);
    assert_eq!(r.lines(), vec![format!("recover {} inflight -> queue", a[1].id)]);

    let mut expected = before;
    expected.set("hold", Node::dir(0o700));
    expected.move_entry(&a[0].id, "queue", "hold");
    expected.move_entry(&a[1].id, "inflight", "queue");
    let after = q.snapshot();
    expected.hold_note(&after, &a[0].id);
    assert_tree(&expected, &after);
}

#[test]
fn drop_and_reschedule_never_follow_a_dest_folder_that_is_a_symlink() {
    let q = TestQueue::new().real_clock();
    let a = q.simple(2, "2026-11-23T10:00:00Z");
    let outside = q.tmp().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("metadata"), b"keep").unwrap();
    fs::write(
        outside.join("schedule"),
        br#"{"at":"2026-11-23T10:00:00Z","last_attempt":null}"#,
    )
    .unwrap();
    let dest = q.path(a[0].dest_dir());
    fs::remove_dir_all(&dest).unwrap();
    std::os::unix::fs::symlink(&outside, &dest).unwrap();
    let outside_before = snapshot(&outside);
    let before = q.snapshot();

    q.run(["reschedule", &a[0].id, "--at", "2026-11-24T00:00:00Z"])
        .expect(1);
    assert_tree(&before, &q.snapshot());
    let r = q.run(["drop", &a[0].id]).expect(1);
    assert_eq!(r.counts().failed, 1, "{r:?}");
    assert_tree(&outside_before, &snapshot(&outside));
    // The sibling recipient and the contents are untouched.
    assert!(q.path(a[1].dest_dir()).join("schedule").is_file());
    assert!(q.path(a[0].mail_dir()).join("contents").is_file());
}

#[test]
fn recover_on_the_fixture_moves_the_stale_inflight_entry_back_unchanged() {
    let q = TestQueue::fixture();
    let before = q.snapshot();
    let id = "b9daf055-4478-4bd9-b8bf-a65e80fedd28";
    // Unpacked just now: not stale yet by the real clock; two hours later it is.
    let r = q.mqctl(["--quiet", "recover"]).real_clock().run();
    assert_eq!((r.code, r.out(), r.stderr.as_str()), (0, "", ""));
    let r = q.mqctl(["recover"]).now("+2h").run().expect(0);
    assert_eq!(r.lines(), vec![format!("recover {id} inflight -> queue")]);
    let mut expected = before;
    expected.move_entry(id, "inflight", "queue");
    assert_tree(&expected, &q.snapshot());
}
