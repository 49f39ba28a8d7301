//! `mqctl` on a queue written by the real Kannader writer
//! (tests/fixtures/kannader-written-queue.tar.gz, see docs/queue-format.md, "Fixture").

mod common;

use std::fs;

use common::*;
use serde_json::Value;

/// The fixture's entries: id, state, from, to.
const ENTRIES: [(&str, &str, &str, &str); 10] = [
    (
        "3453c267-5639-4536-a657-aa8c71da73bc",
        "queue",
        "alerts@monitoring.example",
        "oncall@corp.example",
    ),
    (
        "cae9f3ed-b349-48f3-ad65-a12ff37f88f5",
        "queue",
        "sender@origin.example",
        "rcpt1@example.com",
    ),
    (
        "5566b6f5-19f2-4e01-bafe-291723d1932a",
        "queue",
        "sender@origin.example",
        "rcpt3@yahoo.test",
    ),
    (
        "b0b27933-3da0-4531-b46f-7d3dc09a624c",
        "queue",
        "sender@origin.example",
        "rcpt2@gmail.test",
    ),
    (
        "516a74e9-7021-4fc7-9c6c-1cd3e21fac70",
        "queue",
        "news@lists.example.net",
        "b@corp.example",
    ),
    (
        "4d1e6c40-edfd-477a-94f2-92d0777e332d",
        "queue",
        "news@lists.example.net",
        "a@corp.example",
    ),
    (
        "61fa4b17-c083-4410-bc95-290f079bb2e4",
        "queue",
        "alice@example.org",
        "bob@example.com",
    ),
    (
        "1114b5c9-4659-47c4-a29e-8e8f4908ad11",
        "queue",
        "user@[IPv6:2001:db8::1]",
        "josé@exämple.org",
    ),
    (
        "b9daf055-4478-4bd9-b8bf-a65e80fedd28",
        "inflight",
        "<>",
        "postmaster@example.net",
    ),
    (
        "1975c4df-3c81-4ef5-9df7-3ba545d643ba",
        "cleanup",
        "\"john doe\"@example.org",
        "user@[192.0.2.1]",
    ),
];

const RESCHEDULED: &str = "cae9f3ed-b349-48f3-ad65-a12ff37f88f5";
const NULL_SENDER: &str = "b9daf055-4478-4bd9-b8bf-a65e80fedd28";
const ENCODED_SUBJECT: &str = "1114b5c9-4659-47c4-a29e-8e8f4908ad11";

fn count(q: &TestQueue, args: &[&str]) -> u64 {
    let a = q.cmd().arg("list").arg("--count").args(args).assert().success();
    stdout_of(&a).trim().parse().expect("--count prints a number")
}

#[test]
fn fixture_lists_ten_entries_eight_queued_one_inflight_one_cleanup() {
    let q = TestQueue::fixture();
    let all = list_json(&q, &[]);
    assert_eq!(all.len(), 10);
    let in_state = |s: &str| all.iter().filter(|e| e["state"] == s).count();
    assert_eq!(
        (in_state("queue"), in_state("inflight"), in_state("cleanup")),
        (8, 1, 1)
    );
    for (id, state, _, _) in ENTRIES {
        assert_eq!(by_id(&all, id)["state"], state, "{id}");
        assert_eq!(by_id(&all, id)["problem"], Value::Null, "{id} has no problem");
    }
    let mails: std::collections::BTreeSet<&str> = all.iter().map(|e| e["mail"].as_str().unwrap()).collect();
    assert_eq!(mails.len(), 7);
}

#[test]
fn fixture_counts_agree_between_list_count_and_stats() {
    let q = TestQueue::fixture();
    assert_eq!(count(&q, &[]), 10);
    assert_eq!(count(&q, &["--state", "queue"]), 8);
    assert_eq!(count(&q, &["--state", "inflight"]), 1);
    assert_eq!(count(&q, &["--state", "cleanup"]), 1);
    assert_eq!(count(&q, &["--state", "inflight", "--state", "cleanup"]), 2);
    let a = q.cmd().args(["stats", "--format", "json"]).assert().success();
    let s: Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(s["total"], 10);
    assert_eq!(s["states"]["queue"], 8);
    assert_eq!(s["states"]["inflight"], 1);
    assert_eq!(s["states"]["cleanup"], 1);
    assert_eq!(s["states"]["hold"], 0);
    assert_eq!(s["mails"], 7);
    assert_eq!(s["broken"], 0);
}

#[test]
fn six_queued_entries_were_tried_once() {
    let q = TestQueue::fixture();
    assert_eq!(count(&q, &["--state", "queue", "--retried"]), 6);
    assert_eq!(count(&q, &["--state", "queue", "--never-tried"]), 2);
}

#[test]
fn every_address_variant_displays_in_json() {
    let q = TestQueue::fixture();
    let all = list_json(&q, &[]);
    for (id, _, from, to) in ENTRIES {
        let e = by_id(&all, id);
        assert_eq!(e["from"], from, "from of {id}");
        assert_eq!(e["to"], to, "to of {id}");
    }
}

#[test]
fn every_address_variant_displays_in_the_table() {
    let q = TestQueue::fixture();
    let a = q.cmd().arg("list").assert().success();
    let out = stdout_of(&a);
    for (id, _, from, to) in ENTRIES {
        let row = out
            .lines()
            .find(|l| l.starts_with(&id[..8]))
            .unwrap_or_else(|| panic!("no row for {id} in\n{out}"));
        let cells: Vec<&str> = row.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
        assert!(cells.contains(&from), "sender {from} in row {row:?}");
        assert!(cells.contains(&to), "recipient {to} in row {row:?}");
    }
}

#[test]
fn null_sender_shows_as_angle_brackets() {
    let q = TestQueue::fixture();
    let all = list_json(&q, &[]);
    assert_eq!(by_id(&all, NULL_SENDER)["from"], "<>");
    let a = q.cmd().args(["show", NULL_SENDER]).assert().success();
    let out = stdout_of(&a);
    let from = out.lines().find(|l| l.starts_with("From ")).expect("a From line");
    assert_eq!(from.split_whitespace().collect::<Vec<_>>(), ["From", "<>"]);
    // `--from '<>'` selects exactly the null sender.
    assert_eq!(list_ids(&q, &["--from", "<>"]), [NULL_SENDER]);
}

#[test]
fn rescheduled_entry_shows_its_last_attempt() {
    let q = TestQueue::fixture();
    let all = list_json(&q, &[]);
    let e = by_id(&all, RESCHEDULED);
    assert_eq!(e["at"], "2026-11-22T22:35:25.426680706Z");
    assert_eq!(e["last_attempt"], "2026-11-22T20:35:25.426680706Z");
    let never = by_id(&all, "4d1e6c40-edfd-477a-94f2-92d0777e332d");
    assert_eq!(never["last_attempt"], Value::Null);

    let a = q.cmd().args(["show", RESCHEDULED]).assert().success();
    let out = stdout_of(&a);
    assert!(
        out.lines()
            .any(|l| l.starts_with("Last attempt") && l.contains("2026-11-22 20:35:25Z") && l.contains("4m ago")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("Next attempt") && l.contains("2026-11-22 22:35:25Z") && l.contains("in 1h55m")),
        "{out}"
    );
    let a = q.cmd().args(["show", "4d1e6c40"]).assert().success();
    assert!(
        stdout_of(&a)
            .lines()
            .any(|l| l.starts_with("Last attempt") && l.ends_with("never"))
    );
}

#[test]
fn encoded_subject_is_decoded() {
    let q = TestQueue::fixture();
    let all = list_json(&q, &[]);
    assert_eq!(by_id(&all, ENCODED_SUBJECT)["subject"], "Élègant sujet");
    assert_eq!(by_id(&all, RESCHEDULED)["subject"], "Fixture message 2");
    assert_eq!(by_id(&all, RESCHEDULED)["message_id"], "<fixture-2@origin.example>");
    let a = q.cmd().arg("list").assert().success();
    let out = stdout_of(&a);
    let row = out.lines().find(|l| l.starts_with("1114b5c9")).unwrap();
    assert!(row.ends_with("Élègant sujet"), "{row}");
    assert!(!out.contains("=?UTF-8?"), "{out}");
    assert_eq!(list_ids(&q, &["--subject", "Élègant*"]), [ENCODED_SUBJECT]);
}

#[test]
fn show_accepts_a_unique_prefix_and_shows_headers() {
    let q = TestQueue::fixture();
    let a = q.cmd().args(["show", "cae9"]).assert().success();
    let out = stdout_of(&a);
    let field = |k: &str| {
        out.lines()
            .find(|l| l.starts_with(k))
            .map(|l| l[k.len()..].trim().to_string())
            .unwrap_or_else(|| panic!("no {k} line in\n{out}"))
    };
    assert_eq!(field("Entry"), RESCHEDULED);
    assert_eq!(field("State"), "queue");
    assert_eq!(field("Mail"), "0fc96f25-ed4a-45fd-b293-ffe8eb6786c8");
    assert_eq!(field("Dest"), "7ea53b0d-02f4-41a3-a15d-fd1675d52501");
    assert_eq!(field("From"), "sender@origin.example");
    assert_eq!(field("To"), "rcpt1@example.com");
    assert_eq!(field("Size"), "249B (249 bytes)");
    let headers: Vec<&str> = out.lines().skip_while(|l| *l != "Headers:").skip(1).collect();
    assert_eq!(
        headers,
        [
            "  From: sender@origin.example",
            "  To: rcpt1@example.com",
            "  Subject: Fixture message 2",
            "  Message-ID: <fixture-2@origin.example>",
            "  Date: Sun, 22 Nov 2026 10:00:00 +0000",
            "  MIME-Version: 1.0",
            "  Content-Type: text/plain; charset=utf-8",
        ]
    );
}

#[test]
fn show_separates_every_label_from_its_value() {
    let q = TestQueue::fixture();
    // The inflight and cleanup entries have the longest label, "In state since".
    let a = q.cmd().args(["show", NULL_SENDER, "1975c4df"]).assert().success();
    let out = stdout_of(&a);
    let labels = [
        "Entry",
        "State",
        "In state since",
        "Mail",
        "Dest",
        "From",
        "To",
        "Next attempt",
        "Last attempt",
        "Size",
        "Age",
    ];
    let mut seen = 0;
    for line in out
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("  ") && *l != "Headers:")
    {
        let label = labels
            .iter()
            .filter(|l| line.starts_with(*l))
            .max_by_key(|l| l.len())
            .unwrap_or_else(|| panic!("unknown line {line:?}"));
        assert!(
            line[label.len()..].starts_with(' '),
            "no space after {label:?} in {line:?}"
        );
        if *label == "In state since" {
            seen += 1;
        }
    }
    assert_eq!(seen, 2, "{out}");
}

#[test]
fn show_json_has_every_field_and_the_headers() {
    let q = TestQueue::fixture();
    let a = q.cmd().args(["show", "--json", "1114b5", "1975c4"]).assert().success();
    let docs: Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let docs = docs.as_array().unwrap();
    assert_eq!(docs.len(), 2);
    let e = docs.iter().find(|d| d["id"] == ENCODED_SUBJECT).unwrap();
    assert_eq!(e["subject"], "Élègant sujet");
    assert_eq!(e["to"], "josé@exämple.org");
    let subject = e["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "Subject")
        .unwrap();
    assert_eq!(subject["value"], "Élègant sujet");
    assert_eq!(e["problems"], serde_json::json!([]));
}

#[test]
fn show_raw_gives_the_exact_bytes_of_contents() {
    let q = TestQueue::fixture();
    for (id, mail) in [
        (ENCODED_SUBJECT, "f9de7b5d-f4c8-44c2-9714-26d50d515cc1"),
        (NULL_SENDER, "79277d12-9936-49a9-ba22-5d19ca314442"),
    ] {
        let a = q.cmd().args(["show", "--raw", &id[..6]]).assert().success();
        let want = fs::read(q.path(format!("data/{mail}/contents"))).unwrap();
        assert!(want.windows(2).any(|w| w == b"\r\n"), "the fixture has CRLF line ends");
        assert_eq!(a.get_output().stdout, want, "show --raw {id}");
    }
}

#[test]
fn json_times_round_trip_the_schedule_files_exactly() {
    let q = TestQueue::fixture();
    let all = list_json(&q, &[]);
    for e in &all {
        let dir = q.path(format!(
            "data/{}/{}",
            e["mail"].as_str().unwrap(),
            e["dest"].as_str().unwrap()
        ));
        let schedule: Value = serde_json::from_slice(&fs::read(dir.join("schedule")).unwrap()).unwrap();
        assert_eq!(e["at"], schedule["at"], "at of {}", e["id"]);
        assert_eq!(
            e["last_attempt"], schedule["last_attempt"],
            "last_attempt of {}",
            e["id"]
        );
        let contents = fs::metadata(q.path(format!("data/{}/contents", e["mail"].as_str().unwrap()))).unwrap();
        assert_eq!(e["size"], contents.len(), "size of {}", e["id"]);
        // Written 2026-11-22T20:35:25Z, four minutes and 35 seconds before NOW.
        assert_eq!(e["age"], 275, "age of {}", e["id"]);
    }
}

#[test]
fn mail_and_dest_fields_name_the_link_target() {
    let q = TestQueue::fixture();
    for e in list_json(&q, &[]) {
        let link = q.path(format!(
            "{}/{}",
            e["state"].as_str().unwrap(),
            e["id"].as_str().unwrap()
        ));
        let text = fs::read_link(link).unwrap();
        assert_eq!(
            text.to_str().unwrap(),
            format!(
                "../data/{}/{}",
                e["mail"].as_str().unwrap(),
                e["dest"].as_str().unwrap()
            )
        );
    }
}

#[test]
fn reading_the_fixture_changes_nothing() {
    let q = TestQueue::fixture();
    let before = q.snapshot();
    q.cmd().arg("list").assert().success();
    q.cmd().args(["list", "--format", "json"]).assert().success();
    q.cmd().args(["show", "cae9", "b9da"]).assert().success();
    q.cmd().args(["show", "--raw", "cae9"]).assert().success();
    q.cmd().arg("stats").assert().success();
    assert_eq!(before, q.snapshot());
}

#[test]
fn table_of_the_fixture_snapshot() {
    let q = TestQueue::fixture();
    let a = q.cmd().env("COLUMNS", "100").arg("list").assert().success();
    insta::assert_snapshot!("fixture_list_table_100_columns", stdout_of(&a));
}

#[test]
fn stats_table_of_the_fixture_snapshot() {
    let q = TestQueue::fixture();
    let a = q.cmd().env("COLUMNS", "120").arg("stats").assert().success();
    // Every fixture mail was written in the same second, so which entry is
    // "oldest" depends on the folder's listing order: keep only its age.
    let out: String = stdout_of(&a)
        .lines()
        .map(|l| match l.strip_prefix("oldest: ") {
            Some(rest) => format!("oldest: [id]{}\n", &rest[rest.find(' ').unwrap()..]),
            None => format!("{l}\n"),
        })
        .collect();
    insta::assert_snapshot!("fixture_stats_table", out);
}
