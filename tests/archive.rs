//! Evacuation: `mqctl export` writes entries as one tar archive, `mqctl
//! import` adds them to another queue the writer's way. Real queues, the
//! real binary, archives cut and corrupted byte by byte.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use common::*;
use serde_json::Value;

/// `export ARGS` (exit 0): the archive's bytes.
fn export(q: &TestQueue, args: &[&str]) -> Vec<u8> {
    let r = q.mqctl(["export"]).args(args).run();
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stdout.is_empty(), "{r:?}");
    r.stdout
}

/// `import -` with `archive` on stdin.
fn import(q: &TestQueue, archive: &[u8], args: &[&str]) -> Run {
    q.mqctl(["import"]).args(args).arg("-").stdin(archive.to_vec()).run()
}

/// One member of a tar archive, found by walking its headers.
#[derive(Debug, Clone)]
struct Member {
    name: String,
    kind: u8,
    link: String,
    mode: u32,
    header_at: usize,
    data_at: usize,
    size: usize,
}

fn field(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8(b[..end].to_vec()).unwrap()
}

fn octal(b: &[u8]) -> usize {
    let s = field(b);
    usize::from_str_radix(s.trim(), 8).unwrap_or_else(|e| panic!("octal {s:?}: {e}"))
}

/// The members of a tar archive, in order (PAX headers included).
fn members(a: &[u8]) -> Vec<Member> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= a.len() {
        let h = &a[at..at + 512];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let prefix = field(&h[345..500]);
        let name = field(&h[0..100]);
        let size = octal(&h[124..136]);
        out.push(Member {
            name: if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            },
            kind: h[156],
            link: field(&h[157..257]),
            mode: octal(&h[100..108]) as u32,
            header_at: at,
            data_at: at + 512,
            size,
        });
        at += 512 + size.div_ceil(512) * 512;
    }
    out
}

/// The member called `name`.
fn member<'m>(ms: &'m [Member], name: &str) -> &'m Member {
    ms.iter().find(|m| m.name == name).unwrap_or_else(|| {
        panic!(
            "no member {name} in {:#?}",
            ms.iter().map(|m| &m.name).collect::<Vec<_>>()
        )
    })
}

/// `list --format json` of the queued and held entries, by id, without
/// `since` (when a link arrived in its folder: an import is a new link).
fn listed(q: &TestQueue) -> BTreeMap<String, Value> {
    q.list_json(&["--state", "queue", "--state", "hold"])
        .into_iter()
        .map(|mut v| {
            let o = v.as_object_mut().unwrap();
            o.remove("since");
            (v["id"].as_str().unwrap().to_string(), v)
        })
        .collect()
}

/// A path's kind, mode, bytes (or link text) and, for a mail's contents,
/// its modification time (the mail's age).
type Held = (Kind, u32, Option<Vec<u8>>, Option<(i64, i64)>);

/// What a queue holds of its entries' files: every path under `data/` and
/// the state folders but the folders themselves.
fn layout(q: &TestQueue) -> BTreeMap<PathBuf, Held> {
    q.snapshot()
        .0
        .into_iter()
        .filter(|(p, n)| p.components().count() > 1 && n.kind != Kind::Dir)
        .map(|(p, n)| {
            let mtime = (n.kind == Kind::File && p.ends_with("contents")).then_some(n.mtime.unwrap());
            (p, (n.kind, n.mode, n.bytes, mtime))
        })
        .collect()
}

/// Every recipient folder under `data/` is linked from a state folder, and
/// every mail folder has a linked recipient: nothing half-written is left.
#[track_caller]
fn nothing_half_written(q: &TestQueue) {
    let linked: BTreeSet<String> = entries(q.root())
        .values()
        .map(|(_, text)| {
            String::from_utf8(text.clone())
                .unwrap()
                .trim_start_matches("../")
                .to_string()
        })
        .collect();
    for mail in std::fs::read_dir(q.path("data")).unwrap() {
        let mail = mail.unwrap();
        let mut dests = 0;
        for d in std::fs::read_dir(mail.path()).unwrap() {
            let d = d.unwrap();
            if d.file_type().unwrap().is_dir() {
                dests += 1;
                let rel = format!(
                    "data/{}/{}",
                    mail.file_name().to_str().unwrap(),
                    d.file_name().to_str().unwrap()
                );
                assert!(linked.contains(&rel), "{rel} is not linked from any state folder");
            }
        }
        assert!(dests > 0, "{:?} holds no recipient", mail.path());
    }
}

/// A queue of `mails` mails of `rcpts` recipients each (`rcpt<i>@m<k>.example`),
/// bodies of a few kilobytes so that each contents spans several blocks.
fn built(mails: usize, rcpts: usize) -> TestQueue {
    let q = TestQueue::new();
    for k in 0..mails {
        let to: Vec<String> = (0..rcpts).map(|i| format!("rcpt{i}@m{k}.example")).collect();
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        let body = format!("Subject: mail {k}\r\n\r\n{}\r\n", "x".repeat(3000 + k));
        q.enqueue(&to).body(body.as_bytes()).create();
    }
    q
}

#[test]
fn export_then_import_into_an_empty_queue_gives_the_same_entries_and_bytes() {
    let src = TestQueue::fixture();
    // A held entry too: it must arrive held, with why and until when.
    src.run([
        "hold",
        "61fa4b17",
        "--reason",
        "quota at example.net",
        "--until",
        "2026-12-24T00:00:00Z",
    ])
    .success();
    let before = listed(&src);
    assert_eq!(before.len(), 8);
    let archive = export(&src, &["--all"]);

    let dst = TestQueue::new();
    let r = import(&dst, &archive, &[]).success();
    assert_eq!(
        r.stderr.trim_end().lines().last(),
        Some("8 imported, 0 already there, 0 failed"),
        "{r:?}"
    );
    assert_eq!(listed(&dst), before);
    assert_eq!(dst.list_ids(&["--state", "hold"]).len(), 1);
    let held = &before.values().find(|v| v["state"] == "hold").unwrap();
    assert_eq!(held["hold_reason"], "quota at example.net", "{held}");
    assert_eq!(held["held_until"], "2026-12-24T00:00:00Z", "{held}");

    // Byte for byte: every file of every exported entry, its mode, the
    // contents' time (the mail's age), the link texts.
    let want: BTreeMap<_, _> = {
        let all = layout(&src);
        let mut keep = BTreeSet::new();
        for (id, (state, text)) in entries(src.root()) {
            if state != "queue" && state != "hold" {
                continue;
            }
            let dest = String::from_utf8(text).unwrap().replace("../", "");
            let mail = dest.rsplit_once('/').unwrap().0.to_string();
            keep.insert(PathBuf::from(format!("{state}/{id}")));
            if state == "hold" {
                keep.insert(PathBuf::from(format!("hold-notes/{id}")));
            }
            keep.insert(PathBuf::from(format!("{mail}/contents")));
            keep.insert(PathBuf::from(format!("{dest}/metadata")));
            keep.insert(PathBuf::from(format!("{dest}/schedule")));
        }
        all.into_iter().filter(|(p, _)| keep.contains(p)).collect()
    };
    assert_eq!(want.len(), 8 * 3 + 5 + 1, "8 entries of 5 mails, a hold note");
    assert_eq!(layout(&dst), want);
    dst.expect_clean();
    nothing_half_written(&dst);
}

#[test]
fn importing_the_same_archive_twice_adds_nothing_the_second_time() {
    let src = built(3, 2);
    let archive = export(&src, &["--all"]);
    let dst = TestQueue::new();
    import(&dst, &archive, &[]).success();
    let after_first = dst.snapshot();
    let r = import(&dst, &archive, &[]).success();
    assert!(r.stderr.contains("0 imported, 6 already there, 0 failed"), "{r:?}");
    assert!(r.stdout.is_empty(), "nothing is said done: {r:?}");
    assert_tree(&after_first, &dst.snapshot());
    // Still so when the writer here has tried one since (its schedule changed).
    let one = dst.list_ids(&[])[0].clone();
    dst.run(["defer", &one, "--by", "1h"]).success();
    import(&dst, &archive, &[]).success();
    assert_eq!(dst.list_count(&[]), 6);
}

#[test]
fn export_writes_each_mail_together_in_the_queues_layout_then_the_trailer() {
    let src = built(2, 3);
    let archive = export(&src, &["--all"]);
    let ms: Vec<Member> = members(&archive).into_iter().filter(|m| m.kind != b'x').collect();
    assert_eq!(ms.len(), 2 * (1 + 3 * 3) + 1, "{ms:#?}");
    let entries = entries(src.root());
    let mut at = 0;
    for _ in 0..2 {
        let contents = &ms[at];
        assert!(
            contents.name.starts_with("data/") && contents.name.ends_with("/contents"),
            "{contents:?}"
        );
        assert_eq!((contents.kind, contents.mode), (b'0', 0o600));
        let mail = contents.name.trim_end_matches("/contents").to_string();
        for r in 0..3 {
            let (meta, sched, link) = (&ms[at + 1 + 3 * r], &ms[at + 2 + 3 * r], &ms[at + 3 + 3 * r]);
            let dest = meta.name.trim_end_matches("/metadata");
            assert!(meta.name.ends_with("/metadata") && dest.starts_with(&mail), "{meta:?}");
            assert_eq!(sched.name, format!("{dest}/schedule"));
            assert_eq!(
                (meta.kind, meta.mode, sched.kind, sched.mode),
                (b'0', 0o600, b'0', 0o600)
            );
            assert_eq!(link.kind, b'2', "{link:?}");
            let id = link.name.strip_prefix("queue/").unwrap();
            assert_eq!(link.link, format!("../{dest}"));
            assert_eq!(entries[id], ("queue".to_string(), link.link.clone().into_bytes()));
            for m in [meta, sched] {
                let on_disk = std::fs::read(src.path(&m.name)).unwrap();
                assert_eq!(
                    &archive[m.data_at..m.data_at + m.size],
                    on_disk.as_slice(),
                    "{}",
                    m.name
                );
            }
        }
        let c = std::fs::read(src.path(&contents.name)).unwrap();
        assert_eq!(
            &archive[contents.data_at..contents.data_at + contents.size],
            c.as_slice()
        );
        at += 10;
    }
    let trailer = &ms[at];
    assert_eq!(trailer.name, "mqctl-export.json");
    let t: Value = serde_json::from_slice(&archive[trailer.data_at..trailer.data_at + trailer.size]).unwrap();
    assert_eq!((t["mails"].as_u64(), t["entries"].as_u64()), (Some(2), Some(6)), "{t}");
}

#[test]
fn tar_tvf_lists_the_archive() {
    if std::process::Command::new("tar").arg("--version").output().is_err() {
        eprintln!("skipped: no `tar` on this machine to list the archive with");
        return;
    }
    let src = built(1, 2);
    let id = src.list_ids(&[])[0].clone();
    src.run(["hold", &id]).success();
    let out = src.tmp().join("a.tar");
    src.run(["export", "--all", "-o", out.to_str().unwrap()]).success();
    assert_eq!(mode(&out), 0o600, "the archive holds mail: 0600");
    let tvf = std::process::Command::new("tar").arg("tvf").arg(&out).output().unwrap();
    assert!(tvf.status.success(), "{tvf:?}");
    let text = String::from_utf8(tvf.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // contents, two recipients of three members, the held one's note, the trailer
    assert_eq!(lines.len(), 1 + 2 * 3 + 1 + 1, "{text}");
    assert!(
        lines[0].starts_with("-rw-------") && lines[0].ends_with("/contents"),
        "{text}"
    );
    assert!(
        lines.iter().filter(|l| l.starts_with("-rw-------")).count() == 7,
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with(&format!(" hold-notes/{id}"))),
        "{text}"
    );
    let (_, text_of) = &entries(src.root())[&id];
    let link_line = format!("hold/{id} -> {}", String::from_utf8_lossy(text_of));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("lrwxrwxrwx") && l.ends_with(&link_line)),
        "{text}"
    );
    assert!(lines.last().unwrap().ends_with("mqctl-export.json"), "{text}");
}

/// Imports the first `len` bytes of `archive` into a new queue: exit 1,
/// "the archive ends early", and nothing half-written. Returns the queue
/// and the run.
fn import_cut(archive: &[u8], len: usize) -> (TestQueue, Run) {
    let dst = TestQueue::new();
    let r = import(&dst, &archive[..len], &[]).expect(1);
    assert!(r.stderr.contains("the archive ends early"), "cut at {len}: {r:?}");
    dst.expect_clean();
    nothing_half_written(&dst);
    (dst, r)
}

/// The ids of the entries (link members) among `ms`, in archive order.
fn link_ids(ms: &[Member]) -> Vec<String> {
    ms.iter()
        .filter(|m| m.kind == b'2')
        .map(|m| m.name.rsplit_once('/').unwrap().1.to_string())
        .collect()
}

#[test]
fn a_cut_archive_imports_the_whole_entries_only() {
    let src = built(3, 2);
    let archive = export(&src, &["--all"]);
    let ms = members(&archive);
    let ids = link_ids(&ms);
    assert_eq!(ids.len(), 6);
    let files: Vec<&Member> = ms.iter().filter(|m| m.kind != b'x').collect();
    // Mail k's members: contents at 7k, then (metadata, schedule, link) twice.
    let second_contents = files[7];
    let second_metadata = files[8];
    let second_schedule = files[9];
    let second_first_link = files[10];
    let trailer = member(&ms, "mqctl-export.json");
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };

    // Inside a contents file: the first mail only.
    let (dst, _) = import_cut(&archive, second_contents.data_at + 1000);
    assert_eq!(dst.list_ids(&[]), sorted(&ids[..2]));
    // Between a recipient's files (after its metadata): the first mail only.
    let (dst, r) = import_cut(&archive, second_schedule.header_at);
    assert_eq!(dst.list_ids(&[]), sorted(&ids[..2]));
    assert!(r.stderr.contains("its link is not in the archive"), "{r:?}");
    assert!(r.stderr.contains("2 imported, 0 already there, 1 failed"), "{r:?}");
    // Inside a header.
    let (dst, _) = import_cut(&archive, second_metadata.header_at + 100);
    assert_eq!(dst.list_ids(&[]), sorted(&ids[..2]));
    // After a whole recipient, in the middle of its mail.
    let (dst, _) = import_cut(&archive, second_first_link.header_at + 512);
    assert_eq!(dst.list_ids(&[]), sorted(&ids[..3]));
    // Right before the trailer: every entry, and still exit 1.
    let (dst, r) = import_cut(&archive, trailer.header_at);
    assert_eq!(dst.list_ids(&[]), sorted(&ids));
    assert!(r.stderr.contains("no mqctl-export.json"), "{r:?}");
    // Inside the trailer: everything is there, the archive is still cut.
    let (dst, _) = import_cut(&archive, trailer.data_at + 5);
    assert_eq!(dst.list_count(&[]), 6);

    // The whole archive afterwards completes a cut import.
    let (dst, _) = import_cut(&archive, second_schedule.header_at);
    let r = import(&dst, &archive, &[]).success();
    assert!(r.stderr.contains("4 imported, 2 already there, 0 failed"), "{r:?}");
    assert_eq!(listed(&dst), listed(&src));
    dst.expect_clean();
}

#[test]
fn a_corrupt_header_stops_the_import_there() {
    let src = built(3, 2);
    let mut archive = export(&src, &["--all"]);
    let ms = members(&archive);
    let ids = link_ids(&ms);
    let files: Vec<&Member> = ms.iter().filter(|m| m.kind != b'x').collect();
    // One byte of the second mail's first metadata header (its name).
    archive[files[8].header_at + 10] ^= 0x01;
    let dst = TestQueue::new();
    let r = import(&dst, &archive, &[]).expect(1);
    let at = format!("corrupt: the header at byte {}", files[8].header_at);
    assert!(r.stderr.contains(&at) && r.stderr.contains("checksum"), "{r:?}");
    let mut first = ids[..2].to_vec();
    first.sort();
    assert_eq!(dst.list_ids(&[]), first);
    dst.expect_clean();
    nothing_half_written(&dst);
}

#[test]
fn a_recipient_whose_file_is_not_valid_is_not_imported_and_the_rest_is() {
    let src = built(2, 2);
    let mut archive = export(&src, &["--all"]);
    let ms = members(&archive);
    let ids = link_ids(&ms);
    // The first recipient's schedule is no JSON any more (same size, so
    // the archive stays readable).
    let sched = ms.iter().find(|m| m.name.ends_with("/schedule")).unwrap();
    archive[sched.data_at] = b'[';
    let dst = TestQueue::new();
    let r = import(&dst, &archive, &[]).expect(1);
    assert!(r.stderr.contains(&format!("{} is invalid", sched.name)), "{r:?}");
    assert!(r.stderr.contains(&format!("queue/{}", ids[0])), "{r:?}");
    assert!(r.stderr.contains("3 imported, 0 already there, 1 failed"), "{r:?}");
    let mut rest = ids[1..].to_vec();
    rest.sort();
    assert_eq!(dst.list_ids(&[]), rest);
    dst.expect_clean();
}

#[test]
fn a_held_entry_whose_note_is_not_valid_is_imported_held_without_it() {
    let src = built(1, 2);
    let ids = src.list_ids(&[]);
    src.run(["hold", &ids[0], "--reason", "spam run"]).success();
    src.run(["hold", &ids[1], "--reason", "quota"]).success();
    let mut archive = export(&src, &["--all"]);
    let ms = members(&archive);
    let notes: Vec<&Member> = ms.iter().filter(|m| m.name.starts_with("hold-notes/")).collect();
    assert_eq!(notes.len(), 2, "{ms:#?}");
    // Each note comes right before its entry's link.
    for n in &notes {
        let at = ms.iter().position(|m| m.name == n.name).unwrap();
        assert_eq!(ms[at + 1].name, n.name.replace("hold-notes/", "hold/"));
    }
    archive[notes[0].data_at] = b'[';
    let dst = TestQueue::new();
    let r = import(&dst, &archive, &[]).expect(1);
    assert!(
        r.stderr.contains(&format!(
            "{}: not a hold note of mqctl's: its entry is imported held, without it",
            notes[0].name
        )),
        "{r:?}"
    );
    assert!(r.stderr.contains("2 imported, 0 already there, 0 failed"), "{r:?}");
    let by_id: BTreeMap<String, Value> = listed(&dst);
    let bad = notes[0].name.trim_start_matches("hold-notes/");
    let good = notes[1].name.trim_start_matches("hold-notes/");
    assert_eq!(by_id[bad]["state"], "hold");
    assert!(
        by_id[bad].get("hold_reason").is_none_or(Value::is_null),
        "{:?}",
        by_id[bad]
    );
    assert_eq!(by_id[good]["state"], "hold");
    assert!(by_id[good]["hold_reason"].is_string(), "{:?}", by_id[good]);
    dst.expect_clean();
}

#[test]
fn a_member_over_the_size_bound_is_refused_without_reading_it() {
    // A contents header that claims 300 MiB, and nothing after it.
    let mut h = tar::Header::new_ustar();
    h.set_path(format!("data/{}/contents", uuid())).unwrap();
    h.set_size(300 << 20);
    h.set_mode(0o600);
    h.set_cksum();
    let dst = TestQueue::new();
    let r = import(&dst, h.as_bytes(), &[]).expect(1);
    assert!(r.stderr.contains("over the 256 MiB"), "{r:?}");
    assert_eq!(dst.list_count(&[]), 0);
    assert_eq!(count(&dst.path("data")), 0);
}

#[test]
fn an_entry_already_here_with_other_bytes_is_a_conflict_and_nothing_is_overwritten() {
    let src = built(1, 2);
    let archive = export(&src, &["--all"]);
    let ids = link_ids(&members(&archive));
    // The destination has the first id, linked to another recipient.
    let dst = TestQueue::new();
    let other = dst.entry().create();
    dst.plant_link("hold", &ids[0], other.link());
    let before = dst.snapshot();
    let r = import(&dst, &archive, &[]).expect(1);
    assert!(
        r.stderr.contains("for another recipient") && r.stderr.contains(&ids[0]),
        "{r:?}"
    );
    assert!(r.stderr.contains("1 imported, 0 already there, 1 failed"), "{r:?}");
    let mut after = dst.snapshot();
    // Only the second entry arrived: its link and its files.
    let (_, text) = entries(src.root())[&ids[1]].clone();
    let dest = String::from_utf8(text).unwrap().replace("../", "");
    let mail = dest.rsplit_once('/').unwrap().0.to_string();
    for p in [
        format!("queue/{}", ids[1]),
        mail.clone(),
        format!("{mail}/contents"),
        dest.clone(),
        format!("{dest}/metadata"),
        format!("{dest}/schedule"),
    ] {
        after.remove(&p);
    }
    assert_tree(&before, &after);
}

#[test]
fn an_import_stopped_before_its_links_is_finished_by_the_next_one() {
    let src = built(1, 2);
    let archive = export(&src, &["--all"]);
    let ids = link_ids(&members(&archive));
    let dst = TestQueue::new();
    // What a killed import left: the files of both recipients, the second
    // one's metadata cut short, and no link at all.
    let (_, text0) = entries(src.root())[&ids[0]].clone();
    let (_, text1) = entries(src.root())[&ids[1]].clone();
    let d0 = String::from_utf8(text0).unwrap().replace("../", "");
    let d1 = String::from_utf8(text1).unwrap().replace("../", "");
    let mail = d0.rsplit_once('/').unwrap().0.to_string();
    for rel in [
        format!("{mail}/contents"),
        format!("{d0}/metadata"),
        format!("{d0}/schedule"),
    ] {
        let p = dst.plant_file(&rel, &std::fs::read(src.path(&rel)).unwrap());
        set_mtime(&p, std::fs::metadata(src.path(&rel)).unwrap().modified().unwrap());
    }
    let meta = std::fs::read(src.path(format!("{d1}/metadata"))).unwrap();
    dst.plant_file(format!("{d1}/metadata"), &meta[..meta.len() / 2]);
    let r = import(&dst, &archive, &[]).success();
    assert!(r.stderr.contains("2 imported, 0 already there, 0 failed"), "{r:?}");
    assert_eq!(listed(&dst), listed(&src));
    for rel in [format!("{d1}/metadata"), format!("{d1}/schedule")] {
        assert_eq!(
            std::fs::read(dst.path(&rel)).unwrap(),
            std::fs::read(src.path(&rel)).unwrap()
        );
    }
    dst.expect_clean();
}

#[test]
fn import_dry_run_reads_the_whole_archive_and_changes_nothing() {
    let src = built(2, 2);
    let archive = export(&src, &["--all"]);
    let dst = TestQueue::new();
    let before = dst.snapshot();
    let r = import(&dst, &archive, &["--dry-run"]).success();
    assert!(
        r.stderr
            .contains("dry run, nothing changed: 4 would be imported, 0 already there, 0 failed"),
        "{r:?}"
    );
    assert_tree(&before, &dst.snapshot());
    // A cut archive is found out without changing anything either.
    let trailer = member(&members(&archive), "mqctl-export.json").header_at;
    let r = import(&dst, &archive[..trailer], &["--dry-run"]).expect(1);
    assert!(r.stderr.contains("the archive ends early"), "{r:?}");
    assert_tree(&before, &dst.snapshot());
}

#[test]
fn export_hold_holds_exactly_what_it_exported_and_the_import_queues_it() {
    let src = TestQueue::new();
    let x: Vec<Mail> = (0..3)
        .map(|i| src.mail(&[&format!("a{i}@x.example"), "b@y.example"]))
        .collect();
    let y = src.mail(&["c@y.example"]);
    // Held before the export: it stays held, on both hosts.
    let pre = src.mail(&["held@x.example"]);
    src.run(["hold", pre.id()]).success();
    // Being sent: not exported, not held.
    let sending = src.mail(&["sending@x.example"]);
    src.put(sending.id(), "queue", "inflight");

    let log = src.tmp().join("log.jsonl");
    let r = src
        .mqctl([
            "export",
            "--domain",
            "x.example",
            "--hold",
            "--log",
            log.to_str().unwrap(),
        ])
        .run();
    assert_eq!(r.code, 0, "{r:?}");
    let archive = r.stdout.clone();
    assert!(r.stderr.contains("3 held, 0 vanished, 0 failed"), "{r:?}");
    assert!(r.stderr.contains("4 exported (4 mails), 0 vanished, 0 failed"), "{r:?}");

    let mut exported: Vec<String> = x.iter().map(|m| m[0].id.clone()).collect();
    exported.sort();
    let mut held_now = exported.clone();
    held_now.push(pre.id().to_string());
    held_now.sort();
    assert_eq!(src.list_ids(&["--state", "hold"]), held_now);
    assert_eq!(src.list_ids(&["--state", "inflight"]), vec![sending.id().to_string()]);
    let mut still_queued: Vec<String> = x.iter().map(|m| m[1].id.clone()).chain([y.id().to_string()]).collect();
    still_queued.sort();
    assert_eq!(src.list_ids(&["--state", "queue"]), still_queued);
    // The hold is in the log, as every change is.
    let lines = std::fs::read_to_string(&log).unwrap();
    assert!(
        lines
            .lines()
            .any(|l| l.contains("\"intent\"") && l.contains("\"hold\"")),
        "{lines}"
    );

    // In the archive: the ones it held as queued, the one held before as held.
    let ms = members(&archive);
    let mut as_queued: Vec<String> = ms
        .iter()
        .filter_map(|m| m.name.strip_prefix("queue/").map(str::to_string))
        .collect();
    as_queued.sort();
    assert_eq!(as_queued, exported);
    assert!(ms.iter().any(|m| m.name == format!("hold/{}", pre.id())));

    let dst = TestQueue::new();
    import(&dst, &archive, &[]).success();
    assert_eq!(dst.list_ids(&["--state", "queue"]), exported);
    assert_eq!(dst.list_ids(&["--state", "hold"]), vec![pre.id().to_string()]);
    dst.expect_clean();

    // The import succeeded: the old host drops what it held for it.
    src.run(["drop", "--state", "hold", "--domain", "x.example", "--yes"])
        .success();
    assert_eq!(src.list_ids(&["--state", "queue"]), still_queued);
    assert_eq!(src.list_count(&["--state", "hold"]), 0);
    src.expect_clean();
}

#[test]
fn export_hold_dry_run_holds_nothing_and_writes_nothing() {
    let src = built(2, 1);
    let before = src.snapshot();
    let r = src.run(["export", "--all", "--hold", "--dry-run"]).success();
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(r.stderr.contains("would be held"), "{r:?}");
    assert!(r.stderr.contains("2 would be exported (2 mails)"), "{r:?}");
    assert_tree(&before, &src.snapshot());
}

#[test]
fn export_needs_a_selection_or_all() {
    let src = built(1, 1);
    let r = src.run(["export"]).expect(2);
    assert!(r.stderr.contains("--all"), "{r:?}");
    assert!(r.stdout.is_empty());
}

#[test]
fn a_broken_entry_is_not_exported_and_fails_the_export() {
    let src = built(2, 1);
    let ids = src.list_ids(&[]);
    let (_, text) = entries(src.root())[&ids[0]].clone();
    let dest = String::from_utf8(text).unwrap().replace("../", "");
    src.remove(format!("{dest}/schedule"));
    let r = src.run(["export", "--all"]).expect(1);
    assert!(r.stderr.contains(&format!("export {}: failed", ids[0])), "{r:?}");
    assert!(r.stderr.contains("1 exported (1 mail), 0 vanished, 1 failed"), "{r:?}");
    // The archive is whole without it.
    let dst = TestQueue::new();
    import(&dst, &r.stdout, &[]).success();
    assert_eq!(dst.list_ids(&[]), vec![ids[1].clone()]);
}

#[test]
fn export_never_follows_a_link_out_of_the_queue() {
    let src = TestQueue::new().hostile();
    let good = src.mail(&["good@example.com"]);
    // A mail whose contents is a symlink to the sentinel's passwd file.
    let bad = src.mail(&["bad@example.com"]);
    let contents = src.path(format!("{}/contents", bad.mail_dir()));
    std::fs::remove_file(&contents).unwrap();
    std::os::unix::fs::symlink(src.sentinel().join("etc/passwd"), &contents).unwrap();
    let r = src.run(["export", "--all"]).expect(1);
    assert!(r.stderr.contains(&format!("export {}: failed", bad.id())), "{r:?}");
    let names: Vec<String> = members(&r.stdout).into_iter().map(|m| m.name).collect();
    assert!(names.contains(&format!("queue/{}", good.id())), "{names:?}");
    assert!(!names.iter().any(|n| n.contains(&bad.mail)), "{names:?}");
    let passwd = std::fs::read(src.sentinel().join("etc/passwd")).unwrap();
    assert!(!r.stdout.windows(passwd.len()).any(|w| w == passwd.as_slice()));
}

#[test]
fn export_refuses_to_write_a_tar_to_a_terminal() {
    let src = built(1, 1);
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut cmd = src.mqctl(["export", "--all"]).command();
    cmd.stdout(std::process::Stdio::from(pty.slave))
        .stderr(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to write a tar archive to a terminal") && err.contains("-o FILE"),
        "{err}"
    );
    drop(pty.master);
}

#[test]
fn the_log_gets_intent_and_result_lines_for_an_import() {
    let src = built(2, 2);
    let archive = export(&src, &["--all"]);
    let ids = link_ids(&members(&archive));
    let dst = TestQueue::new();
    let log = dst.tmp().join("import.jsonl");
    import(&dst, &archive, &["--log", log.to_str().unwrap()]).success();
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let intents: Vec<&Value> = lines.iter().filter(|l| l["result"] == "intent").collect();
    let mut named: Vec<String> = intents
        .iter()
        .flat_map(|l| {
            l["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
        })
        .collect();
    named.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(named, want);
    assert!(intents.iter().all(|l| l["operation"] == "import"));
    for id in &ids {
        let done: Vec<&Value> = lines
            .iter()
            .filter(|l| l["id"] == id.as_str() && l["result"] == "done")
            .collect();
        assert_eq!(done.len(), 1, "{id}: {lines:#?}");
        assert_eq!(
            (&done[0]["operation"], &done[0]["to"]),
            (&Value::from("import"), &Value::from("queue"))
        );
    }
    // Each intent line comes before the results it announces.
    let first_done = lines.iter().position(|l| l["result"] == "done").unwrap();
    assert_eq!(lines[0]["result"], "intent");
    assert!(first_done > 0);
}

#[test]
fn import_as_root_into_a_queue_of_another_user_keeps_that_owner() {
    if skipped_unless_root("to chown the destination queue") {
        return;
    }
    let src = built(2, 2);
    let id = src.list_ids(&[])[0].clone();
    src.run(["hold", &id]).success();
    let archive = export(&src, &["--all"]);
    let dst = TestQueue::new();
    chown_r(dst.root(), 4242, 4343);
    import(&dst, &archive, &[]).success();
    assert_eq!(dst.list_count(&[]), 4);
    assert!(dst.path("hold").is_dir());
    for (rel, n) in dst.snapshot() {
        assert_eq!((n.uid, n.gid), (4242, 4343), "{rel:?}");
        match n.kind {
            Kind::Dir => assert_eq!(n.mode, 0o700, "{rel:?}"),
            Kind::File => assert_eq!(n.mode, 0o600, "{rel:?}"),
            _ => {}
        }
    }
}

#[test]
fn import_refuses_to_read_an_archive_from_a_terminal() {
    let dst = TestQueue::new();
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut cmd = dst.mqctl(["import"]).command();
    cmd.stdin(std::process::Stdio::from(pty.slave))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to read a tar archive from a terminal"));
    drop(pty.master);
}

#[test]
fn import_of_a_file_reads_it_like_stdin() {
    let src = built(2, 1);
    let file: PathBuf = src.tmp().join("q.tar");
    src.run(["export", "--all", "-o", file.to_str().unwrap()]).success();
    let dst = TestQueue::new();
    let r = dst.run(["import", file.to_str().unwrap()]).success();
    assert_eq!(r.lines().len(), 2, "one line per entry imported: {r:?}");
    assert!(
        r.lines()
            .iter()
            .all(|l| l.starts_with("import ") && l.ends_with(" into queue/")),
        "{r:?}"
    );
    assert_eq!(listed(&dst), listed(&src));
}

/// Gives the tmpfs at `path` a new size.
fn resize(path: &std::path::Path, size: &str) {
    let c = |s: &str| std::ffi::CString::new(s).unwrap();
    let (target, opts) = (c(path.to_str().unwrap()), c(&format!("size={size}")));
    // SAFETY: plain C strings that outlive the call.
    let r = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_REMOUNT,
            opts.as_ptr() as *const libc::c_void,
        )
    };
    assert_eq!(r, 0, "remount: {}", std::io::Error::last_os_error());
}

#[test]
fn a_full_disk_stops_the_import_at_whole_entries_and_a_rerun_finishes_it() {
    let mnt_dir = tempfile::Builder::new().prefix("mqctl-archive-mnt-").tempdir().unwrap();
    let mnt = match Tmpfs::mount(mnt_dir.path(), "1m") {
        Ok(m) => m,
        Err(why) => {
            eprintln!("skipped: a full disk needs a tmpfs of its own ({why})");
            return;
        }
    };
    let src = TestQueue::new();
    for k in 0..12 {
        let body = format!("Subject: big {k}\r\n\r\n{}\r\n", "y".repeat(200 * 1024));
        let to = [format!("r{k}@x.example"), format!("s{k}@x.example")];
        src.enqueue(&[&to[0], &to[1]]).body(body.as_bytes()).create();
    }
    let archive = export(&src, &["--all"]);
    let dst = TestQueue::new_at(mnt.path.join("q"));
    let r = import(&dst, &archive, &[]).expect(1);
    assert!(r.stderr.contains("the disk is full"), "{r:?}");
    let first = dst.list_count(&[]);
    assert!(first > 0 && first < 24, "{first} imported: {r:?}");
    dst.expect_clean();
    nothing_half_written(&dst);

    resize(&mnt.path, "16m");
    let r = import(&dst, &archive, &[]).success();
    let want = format!("{} imported, {first} already there, 0 failed", 24 - first);
    assert!(r.stderr.contains(&want), "{r:?}");
    assert_eq!(listed(&dst), listed(&src));
    dst.expect_clean();
}

#[test]
fn export_hold_puts_back_what_it_held_but_could_not_export() {
    let src = TestQueue::new();
    let small = src.mail(&["small@x.example"]);
    // A message over the bound of an archive member (sparse: no disk used).
    let big = src.mail(&["big@x.example"]);
    src.replace_with_sparse(
        format!("{}/contents", big.mail_dir()),
        b"Subject: big\r\n\r\n",
        300 << 20,
    );
    let r = src.mqctl(["export", "--all", "--hold"]).run();
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("over the 256 MiB"), "{r:?}");
    assert!(
        r.stderr
            .contains("1 entry was held for the archive but not in it: put back into queue/"),
        "{r:?}"
    );
    assert!(r.stderr.contains("1 exported (1 mail), 0 vanished, 1 failed"), "{r:?}");
    assert_eq!(src.list_ids(&["--state", "hold"]), vec![small.id().to_string()]);
    assert_eq!(src.list_ids(&["--state", "queue"]), vec![big.id().to_string()]);
    let dst = TestQueue::new();
    import(&dst, &r.stdout, &[]).success();
    assert_eq!(dst.list_ids(&[]), vec![small.id().to_string()]);
}

#[test]
fn a_closed_pipe_fails_the_export_and_keeps_what_it_held() {
    let src = built(40, 2);
    let err = src.tmp().join("err");
    let script = format!(
        r#""$MQCTL_BIN" export --all --hold 2>{0} | head -c 1000 >/dev/null; echo "${{PIPESTATUS[0]}}"; cat {0}"#,
        err.display()
    );
    let r = src.shell(&script).run().success();
    let (code, err) = r.out().split_once('\n').unwrap();
    assert_eq!(code, "1", "{r:?}");
    assert!(
        err.contains("the archive could not be written") && err.contains("stay in hold/"),
        "{r:?}"
    );
    // Whatever may have reached the reader stays held; nothing is lost.
    assert_eq!(
        src.list_count(&["--state", "hold"]) + src.list_count(&["--state", "queue"]),
        80
    );
    assert!(src.list_count(&["--state", "hold"]) > 0);
}

#[test]
fn import_of_a_file_on_a_terminal_asks_once_for_the_whole_archive() {
    use std::io::{Read, Write};
    let src = built(3, 2);
    let file = src.tmp().join("q.tar");
    src.run(["export", "--all", "-o", file.to_str().unwrap()]).success();
    for (answer, imported) in [("n\n", 0), ("y\n", 6)] {
        let dst = TestQueue::new();
        let pty = nix::pty::openpty(None, None).unwrap();
        let err = pty.slave.try_clone().unwrap();
        let mut cmd = dst.mqctl(["import", file.to_str().unwrap()]).command();
        cmd.stdin(std::process::Stdio::from(pty.slave))
            .stderr(std::process::Stdio::from(err))
            .stdout(std::process::Stdio::piped());
        let mut master = std::fs::File::from(pty.master);
        master.write_all(answer.as_bytes()).unwrap();
        let child = cmd.spawn().unwrap();
        drop(cmd);
        let mut reader = master.try_clone().unwrap();
        let screen = std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut buf = [0u8; 4096];
            // EIO once the last slave is closed.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                all.extend_from_slice(&buf[..n]);
            }
            String::from_utf8_lossy(&all).into_owned()
        });
        let out = child.wait_with_output().unwrap();
        let screen = screen.join().unwrap();
        assert_eq!(screen.matches("Import 6 entries? [y/N]").count(), 1, "{screen}");
        assert_eq!(dst.list_count(&[]), imported, "{screen}");
        assert_eq!(out.status.code(), Some(if imported == 0 { 1 } else { 0 }), "{screen}");
    }
}
