//! The CLI's tables fit the terminal: `list`, `list --broken`, `stats`,
//! `check` and `show` at 40, 80 and 200 columns, on a queue with long
//! addresses, wide characters, many domains and broken entries. No line is
//! wider than the terminal (no row wraps), no count is cut, and where a
//! table would have to cut a problem or its repair, it becomes records.
//! The snapshots are reviewed by eye.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;
use unicode_width::UnicodeWidthStr;

const WIDTHS: [usize; 3] = [40, 80, 200];

/// Entry `n`'s id, its mail's and its recipient folder's names: fixed, so
/// that the snapshots are stable.
fn id(n: u32) -> String {
    format!("{:08x}-0000-4000-8000-{n:012}", 0x9e37_79b9u32.wrapping_mul(n))
}
fn mail(n: u32) -> String {
    format!("{:08x}-1111-4000-8000-{n:012}", 0x85eb_ca6bu32.wrapping_mul(n))
}
fn dest(n: u32) -> String {
    format!("{:08x}-2222-4000-8000-{n:012}", 0xc2b2_ae35u32.wrapping_mul(n))
}

/// The entry shown by `show`: long addresses, long headers.
const SHOWN: u32 = 3;

/// A queue as a busy server has one: 17 destination domains of ages from
/// a minute to days, long and non-ASCII addresses, wide characters, held,
/// inflight and cleanup entries, and three broken ones.
fn queue() -> TestQueue {
    let q = TestQueue::new();
    let entry = |n: u32| q.entry().id(&id(n)).mail_name(&mail(n)).dest_name(&dest(n));
    entry(1)
        .from("alice@corp.example")
        .to("bob@gmail.com")
        .subject("Weekly report")
        .at_in(-30)
        .age_mins(250)
        .size(4000)
        .create();
    entry(2)
        .from("<>")
        .to("postmaster@broken-dns.example")
        .subject("Undelivered Mail Returned to Sender")
        .at_in(60)
        .tried(30)
        .age_mins(2000)
        .size(2500)
        .create();
    entry(SHOWN)
        .from("a.very.long.sender.name.that.goes.on@mailing-lists.some-long-domain.example")
        .to("another.extremely.long.recipient.address@deeply.nested.subdomain.example.com")
        .subject("A subject line that is much longer than any terminal is wide, on purpose")
        .header(
            "List-Unsubscribe",
            "<https://mailing-lists.some-long-domain.example/unsubscribe?u=0123456789abcdef&list=weekly-digest>",
        )
        .header("X-Mailer", "Thunderbird 128.4.2esr")
        .at_in(120)
        .age_mins(45)
        .size(48_000)
        .create();
    entry(4)
        .from("josé@example.org")
        .to("受取人@[192.0.2.7]")
        .subject("会議の議事録と来週の予定について")
        .state(State::Hold)
        .at_in(600)
        .age_mins(700)
        .create();
    entry(5)
        .from("jira@tracker.example")
        .to("li.wei@t-online.de")
        .subject("Build failed: main #4242")
        .state(State::Inflight)
        .at_in(-5)
        .age_mins(3)
        .create();
    entry(6)
        .from("newsletter@shop.example")
        .to("dave@web.de")
        .subject("Your order has shipped")
        .state(State::Cleanup)
        .age_mins(15)
        .create();
    entry(7)
        .from("spam@lottery.example")
        .to("frank@gmail.com")
        .subject("You won!!!")
        .state(State::Hold)
        .at_in(90)
        .age_mins(400)
        .create();
    entry(8)
        .from("noreply@billing.example")
        .to("john@outlook.com")
        .subject("Élégant sujet — facture n° 2026-118")
        .at_in(300)
        .tried(60)
        .age_mins(3000)
        .size(1_200_000)
        .create();
    let more = [
        "yahoo.com",
        "orange.fr",
        "icloud.com",
        "gmx.net",
        "proton.me",
        "libero.it",
        "hotmail.co.uk",
        "mail.a-rather-long-subsidiary-name.example",
        "free.fr",
        "seznam.cz",
        "naver.com",
        "mail.ru",
        "gmail.com",
        "outlook.com",
    ];
    let ages = [1, 7, 15, 30, 60, 120, 240, 480, 960, 2000, 5000, 9, 25, 70];
    for (i, (domain, age)) in more.iter().zip(ages).enumerate() {
        let n = 10 + i as u32;
        entry(n)
            .from("alerts@monitoring.example")
            .to(&format!("user{n}@{domain}"))
            .subject(&format!("[ALERT] disk usage above 90% on db-{n:02}"))
            .at_in(i as i64 * 7 - 20)
            .age_mins(age)
            .size(700 + 37 * n as usize)
            .create();
    }
    // Broken: a schedule cut short, a link to a mail that is gone, a link
    // out of the queue.
    entry(30)
        .from("cron@corp.example")
        .to("ops@corp.example")
        .subject("nightly backup report")
        .raw_schedule(br#"{"at":"2026-11-22T20:3"#)
        .age_mins(12)
        .create();
    q.plant_link(State::Queue, id(31), format!("../data/{}/{}", mail(31), dest(31)));
    q.plant_link(State::Queue, id(32), "/etc/passwd");
    q
}

/// `mqctl ARGS` at `width` columns, with the exit code `code`.
fn at(q: &TestQueue, width: usize, args: &[&str], code: i32) -> String {
    let r = q.mqctl(args).env("COLUMNS", width.to_string()).run().expect(code);
    let out = r.out().to_string();
    fits(&out, width);
    out
}

/// Every line fits: no row wraps on the terminal.
fn fits(out: &str, width: usize) {
    for line in out.lines() {
        assert!(
            line.width() <= width,
            "{} columns > {width}: {line:?}\n{out}",
            line.width()
        );
    }
}

/// No number, size or duration ends in `…`.
fn no_cut_number(out: &str) {
    for token in out.split_whitespace() {
        if let Some(cut) = token.strip_suffix('…') {
            let numeric = !cut.is_empty()
                && cut.chars().next().unwrap().is_ascii_digit()
                && cut.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
            assert!(!numeric, "a cut number {token:?} in\n{out}");
        }
    }
}

/// The records of `out` (`-[ RECORD n ]---`, `key | value`, `    | more`),
/// each value with its lines joined without spaces (a wrapped value may
/// have been broken at a space or inside a word).
fn records(out: &str) -> Vec<BTreeMap<String, String>> {
    let mut all: Vec<BTreeMap<String, String>> = Vec::new();
    let mut key = String::new();
    for line in out.lines() {
        if line.starts_with("-[ RECORD ") {
            all.push(BTreeMap::new());
            continue;
        }
        let (Some(rec), Some((k, v))) = (all.last_mut(), line.split_once(" |")) else {
            continue;
        };
        if !k.trim().is_empty() {
            key = k.trim().to_string();
        }
        rec.entry(key.clone()).or_default().push_str(&squeeze(v));
    }
    all
}

/// `s` without whitespace.
fn squeeze(s: &str) -> String {
    s.split_whitespace().collect()
}

#[test]
fn list_fits_every_width_and_cuts_only_text() {
    let q = queue();
    for w in WIDTHS {
        let out = at(&q, w, &["list"], 0);
        no_cut_number(&out);
        // A table: the header, a row per entry, the summary (two lines
        // at 40 columns); nothing wraps.
        assert!(out.starts_with("ID  "), "{out}");
        let rows = out.lines().filter(|l| l.len() > 8 && l.as_bytes()[8] == b' ').count();
        assert_eq!(rows, 26, "{out}");
        insta::assert_snapshot!(format!("list_{w}"), out);
    }
    // Addresses of a usual length are whole from 80 columns on, the
    // longest ones too at 200 columns unless they are absurd.
    let wide = at(&q, 200, &["list"], 0);
    for a in [
        "postmaster@broken-dns.example",
        "alerts@monitoring.example",
        "noreply@billing.example",
    ] {
        assert!(wide.contains(&format!("{a} ")), "{a} cut in\n{wide}");
    }
    let normal = at(&q, 80, &["list"], 0);
    for a in ["bob@gmail.com", "user22@gmail.com", "frank@gmail.com"] {
        assert!(normal.contains(&format!("{a} ")), "{a} cut in\n{normal}");
    }
}

#[test]
fn list_broken_shows_each_problem_whole_in_records_when_narrow() {
    let q = queue();
    let json = q.run(["list", "--broken", "--format", "json"]).success().json();
    let problems: Vec<String> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["problem"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(problems.len(), 3);
    for w in WIDTHS {
        let out = at(&q, w, &["list", "--broken"], 0);
        no_cut_number(&out);
        if w == 200 {
            // Wide enough for a table with every problem on its line.
            assert!(out.starts_with("ID "), "{out}");
            for p in &problems {
                assert!(out.lines().any(|l| l.contains(p.as_str())), "{p:?} not whole in\n{out}");
            }
        } else {
            let recs = records(&out);
            assert_eq!(recs.len(), 3, "{out}");
            for p in &problems {
                assert!(recs.iter().any(|r| r["problem"] == squeeze(p)), "{p:?} not in\n{out}");
            }
        }
        insta::assert_snapshot!(format!("list_broken_{w}"), out);
    }
}

#[test]
fn check_shows_paths_problems_and_repairs_whole() {
    let q = queue();
    let json = q.run(["check", "--format", "json"]).expect(4).json();
    let findings = json["problems"].as_array().unwrap().clone();
    assert!(findings.len() >= 3, "{json:#}");
    for w in WIDTHS {
        let out = at(&q, w, &["check"], 4);
        assert!(!out.contains('…'), "check cuts nothing:\n{out}");
        let recs = records(&out);
        let whole_in_table = |f: &Value| {
            out.lines().any(|l| {
                l.contains(f["path"].as_str().unwrap())
                    && l.contains(f["problem"].as_str().unwrap())
                    && l.contains(f["repair"].as_str().unwrap())
            })
        };
        let whole_in_records = |f: &Value| {
            recs.iter().any(|r| {
                r["path"] == squeeze(f["path"].as_str().unwrap())
                    && r["problem"]
                        == squeeze(&format!(
                            "{} [{}]",
                            f["problem"].as_str().unwrap(),
                            f["code"].as_str().unwrap()
                        ))
                    && r["repair"] == squeeze(f["repair"].as_str().unwrap())
            })
        };
        for f in &findings {
            assert!(
                whole_in_table(f) || whole_in_records(f),
                "{f} is not whole at {w} columns:\n{out}"
            );
        }
        if w < 200 {
            assert_eq!(recs.len(), findings.len(), "records at {w} columns:\n{out}");
        }
        insta::assert_snapshot!(format!("check_{w}"), out);
    }
}

#[test]
fn stats_counts_are_whole_and_add_up_at_every_width() {
    let q = queue();
    // Inflight entries are stuck by their links' ctime, the machine's
    // clock: a stuck age of centuries keeps the output the same anywhere.
    let args = ["stats", "--stuck-after", "100000d"];
    let j = q
        .run(["stats", "--format", "json", "--stuck-after", "100000d"])
        .success()
        .json();
    let n = |k: &str| j[k].as_u64().unwrap();
    assert_eq!(
        n("due") + n("deferred") + n("unscheduled"),
        j["states"]["queue"].as_u64().unwrap()
    );
    assert!(n("unscheduled") > 0);
    let domains = j["domains"].as_array().unwrap();
    let grand: u64 = domains.iter().map(|d| d["total"].as_u64().unwrap()).sum();
    for w in WIDTHS {
        let out = at(&q, w, &args, 0);
        no_cut_number(&out);
        let row = |label: &str| -> Vec<String> {
            out.lines()
                .find(|l| l.starts_with(label) && l[label.len()..].starts_with(' '))
                .unwrap_or_else(|| panic!("no {label:?} row at {w} columns:\n{out}"))[label.len()..]
                .split_whitespace()
                .map(str::to_string)
                .collect()
        };
        assert_eq!(row("queue")[0], j["states"]["queue"].to_string());
        assert_eq!(row("  due")[0], j["due"].to_string());
        assert_eq!(row("  deferred")[0], j["deferred"].to_string());
        assert_eq!(row("  broken")[0], j["unscheduled"].to_string());
        assert_eq!(row("total")[0], j["total"].to_string());
        // Every domain row sums up, the merged age column too, and the
        // TOTAL row holds the grand total.
        let table: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("DOMAIN")).collect();
        assert!(table.len() == domains.len() + 2, "{out}");
        for line in &table[1..] {
            let nums: Vec<u64> = line
                .split_whitespace()
                .rev()
                .map_while(|t| t.parse().ok())
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let (total, ages) = nums.split_first().unwrap();
            assert_eq!(*total, ages.iter().sum::<u64>(), "{line}");
        }
        assert!(table.last().unwrap().starts_with("TOTAL"));
        assert_eq!(row("TOTAL")[0], grand.to_string());
        // The domains stay readable: whole up to 20 columns.
        assert!(out.contains("\nhotmail.co.uk "), "{out}");
        insta::assert_snapshot!(format!("stats_{w}"), out);
    }
}

#[test]
fn show_keeps_every_value_whole() {
    let q = queue();
    let wide = q.run(["show", &id(SHOWN)]).success().out().to_string();
    for w in WIDTHS {
        let out = at(&q, w, &["show", &id(SHOWN)], 0);
        assert!(!out.contains('…'), "{out}");
        assert_eq!(squeeze(&out), squeeze(&wide), "nothing lost at {w} columns:\n{out}");
        insta::assert_snapshot!(format!("show_{w}"), out);
    }
}

#[test]
fn records_are_there_when_asked_for() {
    let q = queue();
    let out = at(&q, 80, &["list", "--format", "records", "--to", "*@gmail.com"], 0);
    assert!(out.starts_with("-[ RECORD 1 ]"), "{out}");
    insta::assert_snapshot!("list_records_80", out);
    let out = at(&q, 200, &["check", "--format", "records"], 4);
    assert!(out.starts_with("-[ RECORD 1 ]"), "{out}");
}

#[test]
fn a_sort_key_picked_is_a_visible_column() {
    let q = queue();
    // In the table's header, or in each record when the table cannot
    // have it beside the id, state, next attempt and recipient.
    let shown = |out: &str, header: &str| {
        let first = out.lines().next().unwrap();
        first.split_whitespace().any(|h| h == header)
            || records(out).iter().all(|r| r.contains_key(&header.to_lowercase()))
    };
    for w in WIDTHS {
        let out = at(&q, w, &["list", "--sort", "last-attempt"], 0);
        assert!(shown(&out, "LAST"), "{out}");
        let out = at(&q, w, &["list", "--sort", "size"], 0);
        assert!(out.starts_with("ID "), "{out}");
        assert!(shown(&out, "SIZE"), "{out}");
    }
}

#[test]
fn colours_only_on_request_and_the_header_in_bold() {
    let q = queue();
    let plain = at(&q, 80, &["list"], 0);
    assert!(!plain.contains('\x1b'), "{plain}");
    let r = q
        .mqctl(["--color", "always", "list"])
        .env("COLUMNS", "80")
        .run()
        .success();
    let first = r.out().lines().next().unwrap();
    assert!(first.starts_with("\x1b[1mID"), "{first:?}");
    // Broken rows are red; without the codes the lines are the same.
    assert!(r.out().contains("\x1b[31m"), "{}", r.out());
    let stripped = r
        .out()
        .replace("\x1b[1m", "")
        .replace("\x1b[31m", "")
        .replace("\x1b[0m", "");
    assert_eq!(stripped, plain);
}
