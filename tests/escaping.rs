//! Text from the queue never reaches the terminal raw (docs/security.md): control
//! characters, ANSI escapes and invalid UTF-8 in subjects, headers,
//! addresses, entry names and problem reports are shown escaped, and JSON
//! output still parses.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;

use common::*;
use serde_json::Value;

const ESC: u8 = 0x1b;

struct Hostile {
    q: TestQueue,
    subject: Created,
    from: Created,
    to: Created,
    /// The non-UTF-8 entry name (with an ESC in it too).
    bad_name: Vec<u8>,
}

fn hostile() -> Hostile {
    let q = TestQueue::new();
    let subject = q
        .entry()
        .subject("\x1b[31mRED\x1b[0m \u{9b}2J \u{202e}txt.exe")
        .header("X-Evil", "\x1b]0;pwned\x07")
        .id("11111111-0000-4000-8000-000000000001")
        .at_in(-1)
        .create();
    let from = q
        .entry()
        .sender_json(&address_json("ev\x1b[2Jil@example.org"))
        .subject("from")
        .id("22222222-0000-4000-8000-000000000002")
        .at_in(-2)
        .create();
    let to = q
        .entry()
        .recipient_json(&address_json("victim@exa\x1b[8mmple.com"))
        .subject("to")
        .id("33333333-0000-4000-8000-000000000003")
        .at_in(-3)
        .create();
    let renamed = q.entry().subject("bad name").at_in(-4).create();
    let bad_name = b"bad\xff\x1b[1mname".to_vec();
    fs::rename(
        q.path(renamed.link()),
        q.path("queue").join(OsStr::from_bytes(&bad_name)),
    )
    .unwrap();
    // A metadata file whose parse error would quote an ESC back.
    q.entry()
        .raw_metadata(br#"{"from":{"localpart":{"\u001b[31mEvil":{"raw":"a"}},"hostname":null},"to":{"localpart":{"Ascii":{"raw":"b"}},"hostname":{"AsciiDomain":{"raw":"x.org"}}},"metadata":null}"#)
        .subject("bad variant")
        .id("55555555-0000-4000-8000-000000000005")
        .at_in(-5)
        .create();
    Hostile {
        q,
        subject,
        from,
        to,
        bad_name,
    }
}

fn assert_no_esc(what: &str, out: &[u8]) {
    assert!(
        !out.contains(&ESC),
        "{what}: raw ESC in output:\n{}",
        String::from_utf8_lossy(out)
    );
}

fn run(h: &Hostile, args: &[&str]) -> Vec<u8> {
    let a = h.q.cmd().args(args).assert().success();
    assert_no_esc(&format!("{args:?} stderr"), &a.get_output().stderr);
    a.get_output().stdout.clone()
}

#[test]
fn table_shows_control_characters_escaped() {
    let h = hostile();
    let out = run(&h, &["list"]);
    assert_no_esc("list", &out);
    let text = String::from_utf8(out).expect("the table is valid UTF-8");
    assert!(text.contains("\\x1b[31mRED\\x1b[0m"), "{text}");
    assert!(text.contains("\\x9b2J"), "C1 controls are escaped too: {text}");
    assert!(text.contains("\\u{202e}"), "bidi overrides are escaped: {text}");
    assert!(text.contains("ev\\x1b[2Jil@example.org"), "{text}");
    assert!(text.contains("victim@exa\\x1b[8mmple.com"), "{text}");
    assert!(text.contains("bad\\xff\\x1b"), "non-UTF-8 name: {text}");
    assert!(!text.contains('\u{9b}') && !text.contains('\u{202e}'));
    let utc = run(
        &h,
        &["list", "--utc", "--fields", "id,from,to,subject,problem,message_id"],
    );
    assert_no_esc("list --utc --fields …", &utc);
}

#[test]
fn problem_reports_are_escaped_in_table_and_show() {
    let h = hostile();
    let out = run(&h, &["list", "--broken"]);
    assert_no_esc("list --broken", &out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("unknown variant"), "{text}");
    let id = &list_ids(&h.q, &["--broken"])[0];
    let out = run(&h, &["show", id]);
    assert_no_esc("show of a broken entry", &out);
    assert!(String::from_utf8(out).unwrap().contains("\\x1b[31mEvil"));
}

#[test]
fn ids_format_escapes_non_utf8_names() {
    let h = hostile();
    for args in [&["list", "--format", "ids"][..], &["list", "--format", "ids", "-0"]] {
        let out = run(&h, args);
        assert_no_esc("ids", &out);
        let text = String::from_utf8(out).expect("ids are valid UTF-8");
        assert!(text.contains("bad\\xff\\x1b[1mname"), "{text}");
    }
}

#[test]
fn json_escapes_control_characters_and_still_parses() {
    let h = hostile();
    let out = run(&h, &["list", "--format", "json"]);
    assert_no_esc("json", &out);
    let all: Value = serde_json::from_slice(&out).expect("valid JSON");
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 5);
    // JSON keeps the real text (escaped by JSON itself), so scripts see it.
    assert_eq!(
        by_id(all, &h.subject.id)["subject"],
        "\x1b[31mRED\x1b[0m \u{9b}2J \u{202e}txt.exe"
    );
    assert_eq!(by_id(all, &h.from.id)["from"], "ev\x1b[2Jil@example.org");
    assert_eq!(by_id(all, &h.to.id)["to"], "victim@exa\x1b[8mmple.com");
    assert!(all.iter().any(|e| e["id"] == "bad\\xff\\x1b[1mname"), "{all:#?}");

    let out = run(&h, &["list", "--format", "jsonl"]);
    assert_no_esc("jsonl", &out);
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        serde_json::from_slice::<Value>(line).expect("each line parses");
    }
}

#[test]
fn show_escapes_subject_headers_and_addresses() {
    let h = hostile();
    let out = run(&h, &["show", &h.subject.id, &h.from.id, &h.to.id]);
    assert_no_esc("show", &out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("X-Evil: \\x1b]0;pwned\\x07"), "{text}");
    assert!(text.contains("Subject: \\x1b[31mRED"), "{text}");
    assert!(text.contains("ev\\x1b[2Jil@example.org"), "{text}");

    let out = run(&h, &["show", "--json", &h.subject.id, &h.from.id]);
    assert_no_esc("show --json", &out);
    let docs: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(docs.as_array().unwrap().len(), 2);
}

#[test]
fn show_escapes_a_non_utf8_entry_name() {
    let h = hostile();
    let out = run(&h, &["show", "bad"]);
    assert_no_esc("show bad…", &out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("bad\\xff\\x1b[1mname"), "{text}");
    assert!(h.bad_name.contains(&0xff));
}

#[test]
fn stats_escape_domains_in_every_format() {
    let h = hostile();
    let table = run(&h, &["stats"]);
    assert_no_esc("stats", &table);
    assert!(String::from_utf8(table).unwrap().contains("exa\\x1b[8mmple.com"));
    let json = run(&h, &["stats", "--format", "json"]);
    assert_no_esc("stats json", &json);
    serde_json::from_slice::<Value>(&json).unwrap();
    let prom = run(&h, &["stats", "--format", "prometheus"]);
    assert_no_esc("stats prometheus", &prom);
}

#[test]
fn an_id_argument_with_escapes_is_echoed_escaped() {
    let h = hostile();
    let a = h.q.cmd().args(["list", "\x1b[31mzz"]).assert().success();
    assert_no_esc("warning", &a.get_output().stderr);
    assert!(stderr_of(&a).contains("\\x1b[31mzz"));
    let a = h.q.cmd().args(["show", "\x1b[31mzz"]).assert().code(1);
    assert_no_esc("show warning", &a.get_output().stderr);
}
