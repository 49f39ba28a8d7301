//! The parallel scan's sharing between the entries of one mail: each reader
//! keeps the `data/<mail>` folder it opened last (and that mail's `contents`
//! and headers) for the next entries if they are of the same mail. Whatever
//! is shared must be exactly what each entry would show alone, a mail's
//! problem must show on its entries and no other's, and a mail folder
//! swapped for a symlink while a scan runs must never be followed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// `list --format jsonl` with `fields`, one JSON object per entry, by id.
fn list(q: &TestQueue, fields: &str, extra: &[&str]) -> BTreeMap<String, Value> {
    let a = q
        .mqctl(["list", "--format", "jsonl", "--fields", fields])
        .args(extra)
        .run()
        .success();
    a.out()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            (v["id"].as_str().unwrap().to_string(), v)
        })
        .collect()
}

/// Adds `n` more recipients (`user<i>@<domain>`) to the mail of `first`.
fn recipients(q: &TestQueue, first: &Created, n: usize, domain: &str) -> Vec<Created> {
    (0..n)
        .map(|i| q.entry().in_mail(first).to(&format!("user{i}@{domain}")).create())
        .collect()
}

/// A mail of `size` bytes with the subject `subject` to `first@<domain>`
/// and `n` more recipients: all its entries.
fn mail(q: &TestQueue, domain: &str, subject: &str, size: usize, n: usize) -> Vec<Created> {
    let first = q
        .entry()
        .to(&format!("first@{domain}"))
        .subject(subject)
        .size(size)
        .create();
    let mut all = recipients(q, &first, n, domain);
    all.push(first);
    all
}

#[test]
fn recipients_of_one_mail_in_more_than_one_chunk_each_show_their_own_files() {
    // A chunk is 2,048 entries: this mail's entries fill more than one.
    let q = TestQueue::new();
    let big_all = mail(&q, "big.example", "Big mailing", 3000, 2100);
    let small_all = mail(&q, "small.example", "Small one", 500, 3);

    let seen = list(&q, "id,mail,dest,to,size,subject,problem", &[]);
    assert_eq!(seen.len(), big_all.len() + small_all.len());
    let mut tos = BTreeSet::new();
    for (all, size, subject) in [(&big_all, 3000, "Big mailing"), (&small_all, 500, "Small one")] {
        for c in all {
            let v = &seen[&c.id];
            assert_eq!(v["mail"], c.mail.as_str(), "{v}");
            assert_eq!(v["dest"], c.dest.as_str(), "{v}");
            assert_eq!(v["size"], size, "{v}");
            assert_eq!(v["subject"], subject, "{v}");
            assert_eq!(v["problem"], Value::Null, "{v}");
            assert!(
                tos.insert(v["to"].as_str().unwrap().to_string()),
                "{v}: a recipient shown twice"
            );
        }
    }
    // Each entry shows its own recipient, not a neighbour's.
    for i in 0..2100 {
        assert!(
            tos.contains(&format!("user{i}@big.example")),
            "user{i}@big.example missing"
        );
    }
    // A header filter sees every entry of the mail it matches, and only those.
    let picked = list(&q, "id", &["--subject", "Big*"]);
    assert_eq!(
        picked.keys().collect::<BTreeSet<_>>(),
        big_all.iter().map(|c| &c.id).collect::<BTreeSet<_>>()
    );
}

#[test]
fn a_mail_folders_problem_shows_on_each_of_its_entries_and_a_dest_problem_on_its_own() {
    let q = TestQueue::new();
    // Mail A: contents has a second name outside the queue.
    let a = q.entry().subject("A").create();
    let mut a_all = recipients(&q, &a, 30, "a.example");
    a_all.push(a.clone());
    fs::hard_link(q.path(a.contents()), q.outside().join("a-contents")).unwrap();
    // Mail B: fine, but one recipient's metadata is missing.
    let b = q.entry().subject("B").create();
    let mut b_all = recipients(&q, &b, 30, "b.example");
    b_all.push(b.clone());
    let broken = b_all[7].clone();
    q.remove(format!("{}/metadata", broken.dest_dir()));
    // Mail C: its folder is gone.
    let c = q.entry().subject("C").create();
    let mut c_all = recipients(&q, &c, 30, "c.example");
    c_all.push(c.clone());
    fs::remove_dir_all(q.path(format!("data/{}", c.mail))).unwrap();

    let seen = list(&q, "id,size,to,subject,problem", &[]);
    assert_eq!(seen.len(), a_all.len() + b_all.len() + c_all.len());
    for e in &a_all {
        let v = &seen[&e.id];
        let p = v["problem"].as_str().unwrap_or_default();
        assert!(p.contains("contents has 2 hard links"), "{v}");
        assert_eq!(v["size"], Value::Null, "{v}");
        assert_eq!(v["subject"], Value::Null, "{v}: a hard-linked message is never read");
        assert!(v["to"].is_string(), "{v}: its own files are still read");
    }
    for e in &b_all {
        let v = &seen[&e.id];
        assert_eq!(v["subject"], "B", "{v}");
        if e.id == broken.id {
            assert!(v["problem"].as_str().unwrap().contains("metadata missing"), "{v}");
            assert_eq!(v["to"], Value::Null, "{v}");
        } else {
            assert_eq!(v["problem"], Value::Null, "{v}: a sibling's problem leaked");
            assert!(v["to"].as_str().unwrap().ends_with("@b.example") || e.id == b.id, "{v}");
        }
    }
    for e in &c_all {
        let v = &seen[&e.id];
        assert!(
            v["problem"].as_str().unwrap().contains("data/<mail> folder is gone"),
            "{v}"
        );
    }
}

/// Everything an outside look-alike of a mail folder would show if it were
/// followed: its sender, its subject and its message's size.
const LEAK_FROM: &str = "leak@outside.example";
const LEAK_SIZE: usize = 7777;

#[test]
fn a_mail_folder_swapped_for_a_symlink_while_scans_run_is_never_followed() {
    let q = TestQueue::new();
    let first = q.entry().from("alice@example.org").subject("Inside").create();
    let mut all = recipients(&q, &first, 400, "example.com");
    all.push(first.clone());
    // outside/<mail>: the same dest folders, with files that would be read
    // if data/<mail> were followed as a symlink.
    let look_alike = q.outside().join(&first.mail);
    fs::create_dir(&look_alike).unwrap();
    let mut msg = format!("From: {LEAK_FROM}\r\nSubject: LEAKED\r\n\r\n").into_bytes();
    msg.resize(LEAK_SIZE, b'x');
    write_private(&look_alike.join("contents"), &msg);
    for c in &all {
        let d = look_alike.join(&c.dest);
        fs::create_dir(&d).unwrap();
        write_private(&d.join("schedule"), schedule_json(&at_mins(-5), None).as_bytes());
        let meta = metadata_json(&address_json(LEAK_FROM), &address_json("bob@outside.example"));
        write_private(&d.join("metadata"), meta.as_bytes());
    }

    // The swapper: data/<mail> moves aside (inside data/) and a symlink to
    // the look-alike takes its name, then back, over and over.
    let mail = q.path(format!("data/{}", first.mail));
    let aside = q.path(format!("data/{}.aside", first.mail));
    let stop = AtomicBool::new(false);
    let (mut swapped_seen, mut runs) = (0usize, 0usize);
    std::thread::scope(|s| {
        let swaps = s.spawn(|| {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                fs::rename(&mail, &aside).unwrap();
                std::os::unix::fs::symlink(&look_alike, &mail).unwrap();
                std::thread::sleep(Duration::from_micros(300));
                fs::remove_file(&mail).unwrap();
                fs::rename(&aside, &mail).unwrap();
                std::thread::sleep(Duration::from_micros(300));
                n += 1;
            }
            n
        });
        // Stops the swapper however this thread leaves the scope (a failed
        // assertion included), or the scope would wait for it for ever.
        let _stop = StopOnDrop(&stop);
        let start = Instant::now();
        // Until some scan met the symlink (and at least 5 scans), 60 s at most.
        while runs < 5 || (swapped_seen == 0 && start.elapsed() < Duration::from_secs(60)) {
            let a = q
                .run(["list", "--format", "jsonl", "--fields", "id,from,size,subject,problem"])
                .success();
            let out = a.out();
            assert!(
                !out.contains(LEAK_FROM) && !out.contains("LEAKED"),
                "followed the symlink:\n{out}"
            );
            let mut lines = 0;
            for l in out.lines() {
                let v: Value = serde_json::from_str(l).unwrap();
                assert_ne!(v["size"], LEAK_SIZE, "{v}");
                match v["problem"].as_str() {
                    // Met the symlink (or the instant between the renames).
                    Some(p) => {
                        assert!(
                            p.contains("data/<mail> is a symlink") || p.contains("data/<mail> folder is gone"),
                            "{v}"
                        );
                        swapped_seen += 1;
                    }
                    None => {
                        assert_eq!(v["from"], "alice@example.org", "{v}");
                        assert_eq!(v["subject"], "Inside", "{v}");
                    }
                }
                lines += 1;
            }
            // An entry is never lost: the links themselves never move.
            assert_eq!(lines, all.len());
            runs += 1;
        }
        stop.store(true, Ordering::Relaxed);
        assert!(swaps.join().unwrap() > 0);
    });
    assert!(
        swapped_seen > 0,
        "in {runs} scans no entry met the swapped folder: the test did not test anything"
    );
    assert!(Path::new(&mail).is_dir() && !fs::symlink_metadata(&mail).unwrap().file_type().is_symlink());
}

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn write_private(p: &Path, bytes: &[u8]) {
    fs::write(p, bytes).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn headers_are_read_past_the_first_read_and_up_to_the_limit_only() {
    // Headers are read 8 KiB at a time until the blank line that ends them,
    // at most 64 KiB: a long header block still shows its last header, a
    // big body does not matter, a block past the limit is cut.
    let q = TestQueue::new();
    let pad = |n: usize| -> String { (0..n).map(|i| format!("X-Pad-{i}: {}\r\n", "p".repeat(90))).collect() };
    let message = |headers: &str, body_len: usize| {
        let mut m = format!("From: a@example.org\r\n{headers}\r\n").into_bytes();
        m.resize(m.len() + body_len, b'b');
        m
    };
    let long = q
        .entry()
        .contents(&message(&format!("{}Subject: Late\r\n", pad(300)), 10))
        .create();
    let big = q.entry().contents(&message("Subject: Big body\r\n", 3 << 20)).create();
    let cut = q
        .entry()
        .contents(&message(&format!("{}Subject: Past the limit\r\n", pad(800)), 10))
        .create();
    // The header block ends exactly at a read step's end.
    let mut edge = b"From: a@example.org\r\nSubject: Edge\r\nX-Fill: ".to_vec();
    edge.resize(8 * 1024 - 4, b'f');
    edge.extend_from_slice(b"\r\n\r\n");
    edge.extend_from_slice(b"Subject: in the body\r\n");
    let edge = q.entry().contents(&edge).create();

    let seen = list(&q, "id,subject,size", &[]);
    assert_eq!(seen[&long.id]["subject"], "Late");
    assert_eq!(seen[&big.id]["subject"], "Big body");
    assert!(seen[&big.id]["size"].as_u64().unwrap() > 3 << 20);
    assert_eq!(seen[&cut.id]["subject"], Value::Null, "{}", seen[&cut.id]);
    assert_eq!(seen[&edge.id]["subject"], "Edge");
    let picked = list(&q, "id", &["--header", "X-Pad-299: p*"]);
    assert_eq!(
        picked.keys().collect::<BTreeSet<_>>(),
        BTreeSet::from([&long.id, &cut.id])
    );
    // Past 64 KiB nothing is read.
    assert!(list(&q, "id", &["--header", "X-Pad-799: p*"]).is_empty());
}
