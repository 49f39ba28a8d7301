//! Holds with a reason and an end: `hold --reason TEXT --until TIME` keeps
//! a note in `hold-notes/` (mqctl's own folder); `show`, `stats` and
//! `list` show it; `release --expired` releases the holds whose end has
//! passed; release and drop take the note away; `check` finds the notes
//! of entries that are no longer held; the log keeps the note, and an undo
//! of a release puts it back.

mod common;

use std::fs;

use common::{NOW, TestQueue, now};
use serde_json::Value;

fn note(q: &TestQueue, id: &str) -> Option<Value> {
    let text = fs::read_to_string(q.path(format!("hold-notes/{id}"))).ok()?;
    Some(serde_json::from_str(&text).unwrap())
}

fn show_json(q: &TestQueue, id: &str) -> Value {
    q.run(["show", "--json", id]).success().json()[0].clone()
}

#[test]
fn a_hold_keeps_its_reason_since_and_until_and_show_and_stats_say_them() {
    let q = TestQueue::new();
    let m = q.simple(4, "2026-11-23T10:00:00Z");
    let r = q
        .run([
            "hold",
            &m[0].id,
            &m[1].id,
            "--reason",
            "DNS broken, ticket 4711",
            "--until",
            "+2h",
        ])
        .success();
    assert_eq!(r.summary(), "2 held, 0 vanished, 0 failed");
    q.run(["hold", &m[2].id]).success();

    let n = note(&q, &m[0].id).expect("a note");
    assert_eq!(n["reason"], "DNS broken, ticket 4711");
    assert_eq!(n["since"], NOW);
    assert_eq!(n["until"], "2026-11-22T22:40:00Z");
    // A hold without a reason still notes when it began.
    let plain = note(&q, &m[2].id).expect("a note");
    assert_eq!(plain["since"], NOW);
    assert!(plain.get("reason").is_none() && plain.get("until").is_none(), "{plain}");

    // show, as text and as JSON.
    let text = q.run(["show", &m[0].id]).success();
    assert!(
        text.out().contains("Hold reason    DNS broken, ticket 4711"),
        "{text:?}"
    );
    assert!(
        text.out().contains("Held until     2026-11-22 22:40:00Z (in 2h)"),
        "{text:?}"
    );
    assert!(text.out().contains("Held since     2026-11-22 20:40:00Z"), "{text:?}");
    let j = show_json(&q, &m[0].id);
    assert_eq!(j["hold"]["reason"], "DNS broken, ticket 4711");
    assert_eq!(j["hold"]["until"], "2026-11-22T22:40:00Z");
    assert!(show_json(&q, &m[3].id).get("hold").is_none(), "not held: no note");

    // list: the fields, and a HELD FOR column when a reason was given.
    let rows = q
        .run([
            "list",
            "--state",
            "hold",
            "--format",
            "jsonl",
            "--fields",
            "id,hold_reason,held_since,held_until",
        ])
        .success()
        .jsonl();
    let row = rows.iter().find(|v| v["id"] == m[0].id.as_str()).unwrap();
    assert_eq!(row["hold_reason"], "DNS broken, ticket 4711");
    assert_eq!(row["held_since"], NOW);
    assert_eq!(row["held_until"], "2026-11-22T22:40:00Z");
    let row = rows.iter().find(|v| v["id"] == m[2].id.as_str()).unwrap();
    assert_eq!((&row["hold_reason"], &row["held_until"]), (&Value::Null, &Value::Null));
    let table = q
        .mqctl(["list", "--state", "hold"])
        .env("COLUMNS", "200")
        .run()
        .success();
    assert!(table.out().lines().next().unwrap().contains("HELD FOR"), "{table:?}");
    assert!(table.out().contains("DNS broken, ticket 4711"), "{table:?}");

    // stats: the held entries by reason, the most first.
    let s = q.run(["stats", "--format", "json"]).success().json();
    let holds = s["holds"].as_array().unwrap();
    assert_eq!(holds.len(), 2, "{s}");
    assert_eq!(holds[0]["reason"], "DNS broken, ticket 4711");
    assert_eq!(holds[0]["entries"], 2);
    assert_eq!(holds[0]["expired"], 0);
    assert_eq!(holds[0]["next_end"], "2026-11-22T22:40:00Z");
    assert_eq!(holds[1]["reason"], Value::Null);
    assert_eq!(holds[1]["entries"], 1);
    let table = q.mqctl(["stats"]).env("COLUMNS", "80").run().success();
    assert!(table.out().contains("HELD FOR"), "{table:?}");
    assert!(table.out().contains("DNS broken, ticket 4711"), "{table:?}");
    assert!(table.out().contains("(no reason given)"), "{table:?}");

    // Two hours on, the hold has ended.
    let later = q
        .mqctl(["stats", "--format", "json"])
        .now("2026-11-22T23:00:00Z")
        .run()
        .success()
        .json();
    assert_eq!(later["holds"][0]["expired"], 2, "{later}");
    let prom = q
        .mqctl(["stats", "--format", "prometheus"])
        .now("2026-11-22T23:00:00Z")
        .run()
        .success();
    assert!(prom.out().contains("mqctl_expired_hold_entries 2"), "{prom:?}");
}

#[test]
fn release_expired_releases_only_the_holds_whose_end_has_passed() {
    let q = TestQueue::new();
    let m = q.simple(4, "2026-11-23T10:00:00Z");
    q.run(["hold", &m[0].id, "--reason", "short", "--until", "+1h"])
        .success();
    q.run(["hold", &m[1].id, "--reason", "long", "--until", "2026-11-23T20:40:00Z"])
        .success();
    q.run(["hold", &m[2].id, "--reason", "until released"]).success();

    // Before any end: nothing, and no --all needed (cron runs it as is).
    let r = q.run(["release", "--expired", "--yes"]).success();
    assert!(r.stderr.contains("0 entries matched, nothing changed"), "{r:?}");

    // An hour and a minute on: the first only.
    let r = q
        .mqctl(["release", "--expired", "--yes"])
        .now("2026-11-22T21:41:00Z")
        .run()
        .success();
    assert_eq!(r.lines(), vec![format!("release {} hold -> queue", m[0].id)], "{r:?}");
    assert!(note(&q, &m[0].id).is_none(), "the note goes with the hold");
    assert!(note(&q, &m[1].id).is_some());

    // A day on, with a filter that keeps the second out: nothing more.
    let r = q
        .mqctl(["release", "--expired", "--to", "rcpt9@*", "--yes"])
        .now("2026-11-24T00:00:00Z")
        .run()
        .success();
    assert!(r.stderr.contains("0 entries matched, nothing changed"), "{r:?}");
    let r = q
        .mqctl(["release", "--expired", "--yes"])
        .now("2026-11-24T00:00:00Z")
        .run()
        .success();
    assert_eq!(r.lines(), vec![format!("release {} hold -> queue", m[1].id)], "{r:?}");
    // The hold with no end stays.
    assert_eq!(q.list_ids(&["--state", "hold"]), vec![m[2].id.clone()]);
}

#[test]
fn an_until_that_has_passed_or_a_reason_too_long_is_refused_and_nothing_moves() {
    let q = TestQueue::new();
    let m = q.simple(1, "2026-11-23T10:00:00Z");
    let before = q.snapshot();
    let r = q.run(["hold", &m[0].id, "--until", "2026-11-22T20:00:00Z"]).expect(2);
    assert!(r.stderr.contains("has passed already"), "{r:?}");
    let long = "x".repeat(1001);
    let r = q.run(["hold", &m[0].id, "--reason", &long]).expect(2);
    assert!(r.stderr.contains("at most 1000 bytes"), "{r:?}");
    common::assert_tree(&before, &q.snapshot());
}

#[test]
fn release_and_drop_take_the_note_away_and_a_dry_run_writes_none() {
    let q = TestQueue::new();
    let m = q.simple(3, "2026-11-23T10:00:00Z");
    q.run(["hold", &m[0].id, "--reason", "r", "--dry-run"]).success();
    assert!(!q.path("hold-notes").exists(), "a dry run writes nothing");
    q.run(["hold", "--all", "--yes", "--reason", "spam run"]).success();
    assert!(m.iter().all(|e| note(&q, &e.id).is_some()));
    q.run(["release", &m[0].id]).success();
    q.run(["drop", &m[1].id]).success();
    assert!(note(&q, &m[0].id).is_none());
    assert!(note(&q, &m[1].id).is_none());
    assert_eq!(note(&q, &m[2].id).unwrap()["reason"], "spam run");
    // Nothing for check to say: one note, for the one held entry.
    q.run(["check"]).success();
}

#[test]
fn check_finds_the_note_of_an_entry_no_longer_held_and_repair_removes_it() {
    // Temp files' ages are measured against the real clock.
    let q = TestQueue::new().real_clock();
    let m = q.simple(2, "2026-11-23T10:00:00Z");
    q.run(["hold", &m[0].id, &m[1].id, "--reason", "r"]).success();
    // Released by something other than mqctl; another note made unreadable.
    q.put(&m[0].id, "hold", "queue");
    fs::write(q.path(format!("hold-notes/{}", m[1].id)), b"{not json").unwrap();
    // A note a killed hold was writing (old), and one being written now.
    let (old, fresh) = (
        format!("hold-notes/{}.{}", m[0].id, common::uuid()),
        format!("hold-notes/{}.{}", m[1].id, common::uuid()),
    );
    q.plant_file(&old, b"{}");
    q.age(&old, 7200);
    q.plant_file(&fresh, b"{}");
    q.age(&fresh, 10);
    let r = q.run(["check", "--format", "json"]).expect(4);
    let problems = r.json()["problems"].clone();
    let temps: Vec<&Value> = problems
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["code"] == "temp-file")
        .collect();
    assert_eq!(temps.len(), 1, "{problems}");
    assert_eq!(temps[0]["path"], old.as_str());
    let notes: Vec<&Value> = problems
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["code"] == "hold-note")
        .collect();
    assert_eq!(notes.len(), 2, "{problems}");
    assert!(
        notes.iter().any(|p| p["path"] == format!("hold-notes/{}", m[0].id)
            && p["problem"].as_str().unwrap().contains("no longer held")),
        "{problems}"
    );
    q.run(["check", "--repair", "--yes"]).success();
    assert!(note(&q, &m[0].id).is_none() && note(&q, &m[1].id).is_none());
    assert!(!q.path(&old).exists() && q.path(&fresh).exists());
    fs::remove_file(q.path(&fresh)).unwrap();
    // The entry stays held, without its reason.
    assert_eq!(q.list_ids(&["--state", "hold"]), vec![m[1].id.clone()]);
    q.run(["check"]).success();
}

#[test]
fn the_log_keeps_the_note_and_undo_of_a_release_puts_it_back_byte_for_byte() {
    let q = TestQueue::new();
    let m = q.simple(2, "2026-11-23T10:00:00Z");
    let log = q.tmp().join("log.jsonl");
    let log_s = log.to_str().unwrap();
    q.run([
        "hold", "--all", "--yes", "--reason", "quota", "--until", "+3h", "--log", log_s,
    ])
    .success();
    let held = q.snapshot();
    let notes: Vec<String> = m
        .iter()
        .map(|e| fs::read_to_string(q.path(format!("hold-notes/{}", e.id))).unwrap())
        .collect();
    q.run(["release", "--all", "--yes", "--log", log_s]).success();
    let logged: Vec<Value> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["result"] == "done")
        .collect();
    assert_eq!(logged.len(), 4);
    assert!(
        logged
            .iter()
            .all(|v| v["hold_note"].as_str().unwrap().contains("\"reason\":\"quota\""))
    );

    q.run(["undo", "--log", log_s, "--yes"]).success();
    for (e, n) in m.iter().zip(&notes) {
        assert_eq!(&fs::read_to_string(q.path(format!("hold-notes/{}", e.id))).unwrap(), n);
    }
    let mut expected = held;
    for e in m.iter() {
        expected.any_mtime(format!("hold-notes/{}", e.id));
    }
    common::assert_tree(&expected, &q.snapshot());
    let _ = now();
}

#[test]
fn a_hold_with_a_reason_or_an_end_of_a_held_entry_changes_its_note_and_undo_puts_the_old_one_back() {
    let q = TestQueue::new();
    let m = q.simple(3, "2026-11-23T10:00:00Z");
    let log = q.tmp().join("log.jsonl");
    let log_s = log.to_str().unwrap();
    q.run(["hold", &m[0].id, "--reason", "quota", "--until", "+2h", "--log", log_s])
        .success();
    q.run(["hold", &m[1].id, "--log", log_s]).success();
    let before = q.snapshot();
    let old0 = fs::read_to_string(q.path(format!("hold-notes/{}", m[0].id))).unwrap();

    // An hour later: the end moves for every entry, held or not; a held
    // entry keeps its reason and stays held since it was held.
    let r = q
        .mqctl([
            "hold",
            "--all",
            "--yes",
            "--until",
            "2026-11-23T06:00:00Z",
            "--log",
            log_s,
        ])
        .now("2026-11-22T21:40:00Z")
        .run()
        .success();
    assert_eq!(r.summary(), "3 held, 0 vanished, 0 failed", "{r:?}");
    let n0 = note(&q, &m[0].id).unwrap();
    assert_eq!(
        (&n0["reason"], &n0["since"], &n0["until"]),
        (&"quota".into(), &NOW.into(), &"2026-11-23T06:00:00Z".into())
    );
    let n1 = note(&q, &m[1].id).unwrap();
    assert_eq!(
        (&n1["since"], &n1["until"]),
        (&NOW.into(), &"2026-11-23T06:00:00Z".into())
    );
    assert!(n1.get("reason").is_none(), "{n1}");
    let n2 = note(&q, &m[2].id).unwrap();
    assert_eq!(n2["since"], "2026-11-22T21:40:00Z");
    assert!(
        r.out()
            .contains(&format!("hold {} hold until 2026-11-23T06:00:00Z", m[1].id)),
        "{r:?}"
    );
    // The log has the note that was replaced, byte for byte.
    let line: Value = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["id"] == m[0].id.as_str() && v["from"] == "hold" && v["result"] == "done")
        .unwrap();
    assert_eq!(line["hold_note_before"], old0.as_str(), "{line}");

    // The same again changes nothing; a hold without a reason or an end
    // leaves a held entry alone, as before.
    let again = q.run(["hold", &m[0].id, "--until", "2026-11-23T06:00:00Z"]).success();
    assert!(
        again.stderr.contains("already held for that reason and until then"),
        "{again:?}"
    );
    let plain = q.run(["hold", &m[0].id]).success();
    assert!(plain.stderr.contains("already in hold/"), "{plain:?}");
    // A dry run says what it would write and writes nothing.
    let after = q.snapshot();
    q.run(["hold", &m[0].id, "--reason", "other", "--dry-run"]).success();
    common::assert_tree(&after, &q.snapshot());

    // Undo of that run: the old notes back byte for byte, the new hold
    // taken back; the tree is as it was before it.
    q.run(["undo", "--log", log_s, "--yes"]).success();
    assert_eq!(
        fs::read_to_string(q.path(format!("hold-notes/{}", m[0].id))).unwrap(),
        old0
    );
    let mut expected = before;
    for e in &m[..2] {
        expected.any_mtime(format!("hold-notes/{}", e.id));
    }
    common::assert_tree(&expected, &q.snapshot());
}
