//! `mqctl stats`: counts per state, due/deferred/stuck/broken, sizes, the
//! oldest message and the qshape-like domain × age matrix, as a table, JSON
//! and Prometheus text.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::{Value, json};

/// Ages land in the buckets 0-5m, 5-10m, 20-40m, 160-320m and 1280m+.
struct Shape {
    q: TestQueue,
    /// The two recipients of the oldest mail not yet cleaned up.
    oldest: [Created; 2],
    mail_sizes: u64,
}

fn shape() -> Shape {
    let q = TestQueue::new();
    let mut sizes = 0;
    let mut add = |b: EntryBuilder, size: usize| {
        sizes += size as u64;
        b.size(size).create()
    };
    // example.com: 2m (due) and 7m (deferred, retried).
    add(q.entry().to("a@example.com").age_mins(2).at_in(-1), 1000);
    add(q.entry().to("b@EXAMPLE.com").age_mins(7).at_in(30).tried(1), 2000);
    // corp.example: 30m, held (not queued: neither due nor deferred).
    add(q.entry().to("c@corp.example").age_mins(30).state(State::Hold), 3000);
    // gmail.test: 3h, inflight.
    add(q.entry().to("d@gmail.test").age_mins(180).state(State::Inflight), 4000);
    // gmail.test: 2 days, queued and due, with a second recipient in the same mail.
    let e = add(q.entry().to("e@gmail.test").age_mins(2 * 24 * 60).at_in(-60), 5000);
    let f = q.entry().in_mail(&e).to("f@yahoo.test").at_in(60).create();
    // cleanup: counted in states, not in the domain matrix.
    add(
        q.entry()
            .to("g@cleanup.test")
            .age_mins(3 * 24 * 60)
            .state(State::Cleanup),
        6000,
    );
    // broken: a dangling link.
    q.plant_link(State::Queue, uuid(), format!("../data/{}/{}", uuid(), uuid()));
    Shape {
        q,
        oldest: [e, f],
        mail_sizes: sizes,
    }
}

fn stats_json(q: &TestQueue, args: &[&str]) -> Value {
    q.mqctl(["stats", "--format", "json"]).args(args).run().success().json()
}

#[test]
fn stats_json_counts_states_due_deferred_broken_and_sizes() {
    let s = shape();
    let j = stats_json(&s.q, &[]);
    assert_eq!(j["total"], 8);
    assert_eq!(
        j["states"],
        json!({"queue": 5, "inflight": 1, "cleanup": 1, "hold": 1, "claimed": 0})
    );
    // Only queued entries are due or deferred; the broken one is neither,
    // and is counted as such, so the three add up.
    assert_eq!(j["due"], 2);
    assert_eq!(j["deferred"], 2);
    assert_eq!(j["unscheduled"], 1);
}

#[test]
fn stats_json_has_every_documented_field() {
    let s = shape();
    let j = stats_json(&s.q, &[]);
    for k in [
        "total", "states", "due", "deferred", "stuck", "broken", "mails", "bytes", "oldest", "buckets", "domains",
    ] {
        assert!(j.get(k).is_some(), "missing {k} in {j:#}");
    }
    assert_eq!(j["broken"], 1);
    assert_eq!(j["mails"], 6);
    assert_eq!(j["bytes"], s.mail_sizes);
    assert_eq!(j["stuck"], 0);
    assert_eq!(j["buckets"], json!(BUCKETS));
}

#[test]
fn oldest_is_the_oldest_message_not_yet_cleaned_up() {
    let s = shape();
    let j = stats_json(&s.q, &[]);
    // The cleanup entry is older (3 days) but already sent or dropped.
    let id = j["oldest"]["id"].as_str().unwrap();
    assert!(s.oldest.iter().any(|e| e.id == id), "{}", j["oldest"]);
    assert_eq!(j["oldest"]["age"], 2 * 24 * 3600);
    assert_eq!(j["oldest"]["written"], "2026-11-20T20:40:00Z");
}

#[test]
fn domains_have_counts_per_age_bucket() {
    let s = shape();
    let j = stats_json(&s.q, &[]);
    let rows: BTreeMap<String, (u64, Vec<u64>)> = j["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let ages: Vec<u64> = d["ages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap())
                .collect();
            assert_eq!(ages.len(), 10);
            assert_eq!(ages.iter().sum::<u64>(), d["total"].as_u64().unwrap(), "{d}");
            (
                d["domain"].as_str().unwrap().to_string(),
                (d["total"].as_u64().unwrap(), ages),
            )
        })
        .collect();
    let at = |bucket: usize, n: u64| {
        let mut v = vec![0; 10];
        v[bucket] = n;
        v
    };
    // Domains are compared case-insensitively (b@EXAMPLE.com joins example.com).
    let mut example = at(0, 1);
    example[1] = 1;
    assert_eq!(rows["example.com"], (2, example));
    assert_eq!(rows["corp.example"], (1, at(3, 1)));
    let mut gmail = at(6, 1);
    gmail[9] = 1;
    assert_eq!(rows["gmail.test"], (2, gmail));
    assert_eq!(rows["yahoo.test"], (1, at(9, 1)));
    assert!(
        !rows.contains_key("cleanup.test"),
        "cleanup entries are not in the matrix"
    );
    // Largest first.
    let order: Vec<&str> = j["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert_eq!(&order[..2], ["example.com", "gmail.test"]);
}

#[test]
fn top_sums_the_remaining_domains_as_other() {
    let s = shape();
    let j = stats_json(&s.q, &["--top", "2"]);
    let d = j["domains"].as_array().unwrap();
    assert_eq!(d.len(), 3);
    assert_eq!(d[2]["domain"], "(other 2 domains)");
    assert_eq!(d[2]["total"], 2);
}

#[test]
fn inflight_entries_older_than_stuck_after_are_stuck() {
    // An inflight entry's time there is its link's change time, which is
    // the real clock: move MQCTL_NOW relative to it.
    let q = TestQueue::new();
    q.entry().state(State::Inflight).create();
    q.entry().state(State::Queue).create();
    let later = |mins: i64| {
        let t = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(mins);
        t.to_string()
    };
    let stuck = |now: String, after: &str| {
        let r = q
            .mqctl(["stats", "--format", "json", "--stuck-after", after])
            .now(now)
            .run()
            .success();
        r.json()["stuck"].clone()
    };
    assert_eq!(stuck(later(120), "1h"), 1);
    assert_eq!(stuck(later(120), "3h"), 0);
    assert_eq!(stuck(later(30), "1h"), 0);
}

#[test]
fn empty_queue_has_zero_counts_and_no_oldest() {
    let q = TestQueue::new();
    let j = stats_json(&q, &[]);
    assert_eq!(j["total"], 0);
    assert_eq!(j["oldest"], Value::Null);
    assert_eq!(j["domains"], json!([]));
    q.run(["stats"]).success();
    let a = q.run(["stats", "--format", "prometheus"]).success();
    parse_prometheus(a.out());
}

/// Parses the Prometheus text format strictly: every sample follows a
/// `# HELP` and a `# TYPE` line for its metric. Returns "name{labels}" → value.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    fn valid_name(n: &str) -> bool {
        let mut cs = n.chars();
        cs.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    let mut samples = BTreeMap::new();
    let mut helped = BTreeMap::new();
    let mut typed = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(valid_name(name) && !help.is_empty(), "{line}");
            helped.insert(name.to_string(), help.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').expect("TYPE name type");
            assert!(valid_name(name), "{line}");
            assert!(
                ["gauge", "counter", "untyped", "histogram", "summary"].contains(&ty),
                "{line}"
            );
            typed.insert(name.to_string(), ty.to_string());
        } else {
            assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line {line:?}");
            let name_end = line.find(['{', ' ']).expect("a sample");
            let name = &line[..name_end];
            assert!(valid_name(name), "{line}");
            assert!(
                helped.contains_key(name) && typed.contains_key(name),
                "{name} before its HELP/TYPE"
            );
            let (labels, value) = if line[name_end..].starts_with('{') {
                // Label values are quoted, with \\, \" and \n escapes.
                let mut i = name_end + 1;
                let b = line.as_bytes();
                loop {
                    let eq = line[i..].find("=\"").expect("label=\"value\"") + i;
                    assert!(valid_name(&line[i..eq]), "label name in {line}");
                    i = eq + 2;
                    while b[i] != b'"' {
                        if b[i] == b'\\' {
                            assert!(matches!(b[i + 1], b'\\' | b'"' | b'n'), "bad escape in {line}");
                            i += 1;
                        }
                        assert!(b[i] != b'\n');
                        i += 1;
                    }
                    i += 1;
                    match b[i] {
                        b',' => i += 1,
                        b'}' => break,
                        _ => panic!("bad label list in {line}"),
                    }
                }
                (&line[name_end..=i], &line[i + 1..])
            } else {
                ("", &line[name_end..])
            };
            let value = value.strip_prefix(' ').expect("one space before the value");
            let v: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
            samples.insert(format!("{name}{labels}"), v);
        }
    }
    samples
}

#[test]
fn prometheus_lines_parse_and_carry_the_figures() {
    let s = shape();
    let a = s.q.run(["stats", "--format", "prometheus"]).success();
    let m = parse_prometheus(a.out());
    assert_eq!(m["mqctl_entries{state=\"queue\"}"], 5.0);
    assert_eq!(m["mqctl_entries{state=\"inflight\"}"], 1.0);
    assert_eq!(m["mqctl_entries{state=\"cleanup\"}"], 1.0);
    assert_eq!(m["mqctl_entries{state=\"hold\"}"], 1.0);
    assert_eq!(m["mqctl_due_entries"], 2.0);
    assert_eq!(m["mqctl_broken_entries"], 1.0);
    assert_eq!(m["mqctl_mails"], 6.0);
    assert_eq!(m["mqctl_bytes"], s.mail_sizes as f64);
    assert_eq!(m["mqctl_oldest_entry_age_seconds"], (2 * 24 * 3600) as f64);
    assert_eq!(m["mqctl_domain_entries{domain=\"gmail.test\"}"], 2.0);
    assert_eq!(m["mqctl_scan_timestamp_seconds"], now().as_second() as f64);
    assert_eq!(m["mqctl_expired_hold_entries"], 0.0);
    assert_eq!(m["mqctl_writer_live"], 0.0);
    // A process working in the queue: a live writer.
    let mut writer = std::process::Command::new("sleep")
        .arg("30")
        .current_dir(s.q.root())
        .spawn()
        .unwrap();
    let a = s.q.run(["stats", "--format", "prometheus"]).success();
    writer.kill().unwrap();
    writer.wait().unwrap();
    assert_eq!(parse_prometheus(a.out())["mqctl_writer_live"], 1.0, "{a:?}");
}

#[test]
fn prometheus_escapes_label_values() {
    let q = TestQueue::new();
    q.entry().recipient_json(&address_json("x@we\"ird\\dom")).create();
    let a = q.run(["stats", "--format", "prometheus"]).success();
    let out = a.out();
    let m = parse_prometheus(out);
    assert_eq!(m["mqctl_domain_entries{domain=\"we\\\"ird\\\\dom\"}"], 1.0, "{out}");
}

#[test]
fn table_shows_states_and_the_domain_by_age_matrix() {
    let s = shape();
    let a = s.q.run(["stats"]).success();
    let out = a.out();
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    let row = |first: &str| {
        rows.iter()
            .find(|r| r.first() == Some(&first))
            .unwrap_or_else(|| panic!("no {first} row in\n{out}"))
            .clone()
    };
    assert_eq!(&row("queue")[..2], ["queue", "5"]);
    assert_eq!(&row("inflight")[..2], ["inflight", "1"]);
    assert_eq!(&row("total")[..2], ["total", "8"]);
    assert!(out.contains("mqctl list --broken"), "{out}");
    assert_eq!(row("DOMAIN"), [["DOMAIN", "TOTAL"].as_slice(), &BUCKETS].concat());
    assert_eq!(
        row("example.com"),
        ["example.com", "2", "1", "1", "0", "0", "0", "0", "0", "0", "0", "0"]
    );
    assert_eq!(
        row("gmail.test"),
        ["gmail.test", "2", "0", "0", "0", "0", "0", "0", "1", "0", "0", "1"]
    );
    assert_eq!(
        row("TOTAL"),
        ["TOTAL", "6", "1", "1", "0", "1", "0", "0", "1", "0", "0", "2"]
    );
}
