//! One test per case of docs/security.md ("The cases"). Each
//! builds the hostile tree in a temp dir next to a sentinel tree the traps
//! point at, runs the real binary (`check`, `check --repair`, `check`
//! again, `list`, `drop --all`, `purge`), and asserts the report, the exit
//! statuses, that the sentinel never changes (checked after every command,
//! see `common::Mqctl::run`) and that no mail contents are lost.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::*;
use jiff::{SignedDuration, Timestamp};

const GOOD: &[&str] = &["bob@example.com"];

/// The steps after the repair every case shares: `check` is clean (a second
/// repair would find nothing), no contents were lost, `list` reads every
/// entry, and `drop --all` + `purge` empty the queue without touching what
/// was quarantined.
#[track_caller]
fn finish(fx: &TestQueue, before: &Inventory) {
    fx.expect_clean();
    let again = fx.repair(0);
    assert!(again.is_empty(), "a second --repair still found work: {again:#?}");
    fx.expect_no_mail_lost(before, "after --repair");
    for (id, e) in fx.list_entries() {
        assert!(e["problem"].is_null(), "entry {id} still broken after --repair: {e}");
    }
    let kept = fx.quarantine_contents();
    fx.drop_and_purge();
    fx.expect_no_mail_lost(&kept, "after drop + purge (quarantine/ must be left alone)");
    fx.expect_clean();
}

fn q(id: &str) -> String {
    format!("queue/{id}")
}

#[test]
fn case01_absolute_link_target() {
    let fx = TestQueue::new().hostile();
    let good = fx.mail(GOOD);
    let bad = fx.mail(&["carol@example.com"]);
    // queue/<id> -> /…/sentinel/etc and inflight/<id2> -> /…/sentinel/mail/<dest>:
    // followed, a drop would unlink the sentinel's files.
    fx.plant_link("queue", bad.id(), fx.sentinel().join("etc"));
    let inflight = uuid();
    let abs_dest = fx.sentinel().join("mail").join(FAKE_DEST);
    fx.plant_link("inflight", &inflight, &abs_dest);
    let before = fx.contents();

    let found = fx.expect_findings(&[
        ("bad-link", &q(bad.id())),
        ("bad-link", &format!("inflight/{inflight}")),
    ]);
    assert!(
        found
            .iter()
            .all(|f| f["code"] != "bad-link" || f["repair"].as_str().unwrap().contains("quarantine")),
        "an absolute link can only be quarantined: {found:#?}"
    );
    fx.expect_listed(&[bad.id(), &inflight], &[good.id()]);
    // Acting on it by id refuses to follow it.
    let r = fx.run(["drop", "--yes", "--force", bad.id()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("not ../data/<mail>/<dest>"), "{}", r.stderr);
    fx.run(["show", bad.id()]);

    fx.repair(0);
    fx.expect_quarantined(&q(bad.id()), "bad-link");
    fx.expect_quarantined(&format!("inflight/{inflight}"), "bad-link");
    let moved = std::fs::read_dir(fx.path("quarantine"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        std::fs::read_link(moved.join("queue").join(bad.id())).unwrap(),
        fx.sentinel().join("etc"),
        "the quarantined link keeps its text"
    );
    finish(&fx, &before);
}

#[test]
fn case02_traversal() {
    let fx = TestQueue::new().hostile();
    let good = fx.mail(GOOD);
    let a = fx.mail(&["a@example.com"]);
    let b = fx.mail(&["b@example.com"]);
    // From queue/: ../data/../../sentinel/etc is the sentinel's etc/; a
    // prefix test (the writer's own) would let it through.
    fx.plant_link("queue", a.id(), "../data/../../sentinel/etc");
    // ../data/<m>/../../../sentinel/mail/<dest>: starts like a real mail.
    let t = format!("../data/{}/../../../sentinel/mail/{FAKE_DEST}", b.mail);
    fx.plant_link("queue", b.id(), &t);
    // Exactly four components, but `..` where the uuids go.
    let c = uuid();
    std::fs::create_dir(fx.path("hold")).unwrap();
    fx.plant_link("hold", &c, "../data/../..");
    // A link text of 4,000 bytes of `../`, and a folder of links inside a
    // state folder (the writer lists it but can never move it).
    let long = uuid();
    let text = format!("{}sentinel/etc", "../".repeat(1330));
    fx.plant_link("queue", &long, &text);
    std::fs::create_dir(fx.path("queue/sub")).unwrap();
    std::os::unix::fs::symlink("../../../sentinel/etc/passwd", fx.path("queue/sub/x")).unwrap();
    let before = fx.contents();

    fx.expect_findings(&[
        ("bad-link", &q(a.id())),
        ("bad-link", &q(b.id())),
        ("bad-link", &format!("hold/{c}")),
        ("bad-link", &q(&long)),
        ("not-a-link", "queue/sub"),
    ]);
    fx.expect_listed(&[a.id(), b.id(), &c, &long, "sub"], &[good.id()]);
    // Commands refuse to follow them, and never hand them to the writer: its
    // cleanup checks only the `../data` prefix, and would follow them out.
    for id in [a.id(), b.id()] {
        fx.run(["reschedule", "--yes", "--at", "now", id]).expect(1);
        let r = fx.run(["drop", "--yes", id]).expect(1);
        assert!(r.stderr.contains("not ../data/<mail>/<dest>"), "{}", r.stderr);
        assert!(fx.path(q(id)).is_symlink(), "a traversal link is not moved to cleanup/");
    }
    // Nor hold it: it could never be released (release would hand the
    // writer the link), so every move refuses it alike, and it waits for
    // `check --repair`.
    let r = fx.run(["hold", "--yes", a.id()]).expect(1);
    assert!(r.stderr.contains("not ../data/<mail>/<dest>"), "{}", r.stderr);
    assert!(fx.path(q(a.id())).is_symlink());
    fx.run(["purge"]).expect(0);
    fx.repair(0);
    fx.expect_quarantined(&q(a.id()), "bad-link");
    fx.expect_quarantined(&q(b.id()), "bad-link");
    fx.expect_quarantined(&format!("hold/{c}"), "bad-link");
    fx.expect_quarantined(&q(&long), "bad-link");
    fx.expect_quarantined("queue/sub", "not-a-link");
    finish(&fx, &before);
}

#[test]
fn case03_nonstandard_spellings() {
    let mut fx = TestQueue::new().hostile();
    let good = fx.mail(GOOD);
    let m: Vec<Mail> = (0..4).map(|i| fx.mail(&[&format!("r{i}@example.com")])).collect();
    let spellings = [
        format!("../data//{}/{}", m[0].mail, m[0].dest()),
        format!("./../data/{}/{}", m[1].mail, m[1].dest()),
        format!("../data/{}/{}/", m[2].mail, m[2].dest()),
        format!("../data/{}/{}", m[3].mail.to_uppercase(), m[3].dest().to_uppercase()),
    ];
    for (mail, text) in m.iter().zip(&spellings) {
        fx.plant_link("queue", mail.id(), text);
    }
    // A real queue is older than an hour: its mails are past every
    // "a writer may be mid-write" age.
    fx.now = Some((Timestamp::now() + SignedDuration::from_hours(3)).to_string());
    let before = fx.contents();

    // purge must not take a mail whose only link is mis-spelt for an orphan.
    fx.run(["purge", "--min-age", "1h"]).expect(0);
    fx.expect_no_mail_lost(&before, "purge before --repair");

    let want: Vec<(&str, String)> = m.iter().map(|x| ("bad-link", q(x.id()))).collect();
    let want: Vec<(&str, &str)> = want.iter().map(|(c, p)| (*c, p.as_str())).collect();
    let found = fx.expect_findings(&want);
    for x in &m {
        let f = found.iter().find(|f| f["path"] == q(x.id())).unwrap();
        assert_eq!(
            f["repair"].as_str().unwrap(),
            format!("rewrite the link as {}", x.link()),
            "a valid target spelt differently is rewritten, not quarantined"
        );
    }
    assert!(
        !found.iter().any(|f| f["code"] == "orphan-mail"),
        "a mail linked by a mis-spelt link is not an orphan: {found:#?}"
    );
    let ids: Vec<&str> = m.iter().map(|x| x.id()).collect();
    fx.expect_listed(&ids, &[good.id()]);

    fx.repair(0);
    for x in &m {
        assert_eq!(
            fx.link_text("queue", x.id()),
            x.link().as_bytes(),
            "link of {} rewritten",
            x.id()
        );
    }
    assert!(!fx.path("quarantine").exists(), "nothing needed quarantine");
    finish(&fx, &before);
}

#[test]
fn case04_dangling_entry() {
    let fx = TestQueue::new().hostile();
    let good = fx.mail(GOOD);
    let gone_mail = fx.mail(&["a@example.com"]);
    let gone_dest = fx.mail(&["b@example.com", "c@example.com"]);
    std::fs::remove_dir_all(fx.path(format!("data/{}", gone_mail.mail))).unwrap();
    std::fs::remove_dir_all(fx.path(gone_dest.dest_dir())).unwrap();
    // A dangling cleanup entry is finished, not an error.
    let cleanup = fx.mail(&["d@example.com"]);
    std::fs::rename(fx.path(q(cleanup.id())), fx.path(format!("cleanup/{}", cleanup.id()))).unwrap();
    std::fs::remove_dir_all(fx.path(format!("data/{}", cleanup.mail))).unwrap();
    let before = fx.contents();

    fx.expect_findings(&[("dangling", &q(gone_mail.id())), ("dangling", &q(gone_dest.id()))]);
    fx.expect_listed(&[gone_mail.id(), gone_dest.id()], &[good.id(), &gone_dest[1].id]);
    fx.repair(0);
    fx.expect_quarantined(&q(gone_mail.id()), "dangling");
    fx.expect_quarantined(&q(gone_dest.id()), "dangling");
    assert!(
        fx.path(format!("data/{}/contents", gone_dest.mail)).is_file(),
        "the other recipient's mail stays"
    );
    finish(&fx, &before);
}

#[test]
fn case05_symlinked_dest_or_mail() {
    let fx = TestQueue::new().hostile();
    let good = fx.mail(GOOD);
    // data/<mail> is a symlink to the sentinel's writer-shaped mail.
    let m1 = fx.mail(&["a@example.com"]);
    std::fs::remove_dir_all(fx.path(format!("data/{}", m1.mail))).unwrap();
    std::os::unix::fs::symlink(fx.sentinel().join("mail"), fx.path(format!("data/{}", m1.mail))).unwrap();
    fx.plant_link("queue", m1.id(), format!("../data/{}/{FAKE_DEST}", m1.mail));
    // The same, relative.
    let m2 = fx.mail(&["b@example.com"]);
    std::fs::remove_dir_all(fx.path(format!("data/{}", m2.mail))).unwrap();
    std::os::unix::fs::symlink("../../sentinel/mail", fx.path(format!("data/{}", m2.mail))).unwrap();
    fx.plant_link("queue", m2.id(), format!("../data/{}/{FAKE_DEST}", m2.mail));
    // data/<mail>/<dest> is a symlink; the mail's other recipient is fine.
    let m3 = fx.mail(&["c@example.com", "d@example.com"]);
    std::fs::remove_dir_all(fx.path(m3.dest_dir())).unwrap();
    std::os::unix::fs::symlink(fx.sentinel().join("mail").join(FAKE_DEST), fx.path(m3.dest_dir())).unwrap();
    // Hard links to files outside the queue (same filesystem): a contents
    // that is the sentinel's shadow file, a metadata that is its metadata.
    // Reading, chmodding or moving them must not touch the sentinel.
    let m4 = fx.mail(&["e@example.com"]);
    let contents4 = fx.path(format!("data/{}/contents", m4.mail));
    std::fs::remove_file(&contents4).unwrap();
    std::fs::hard_link(fx.sentinel().join("etc/shadow"), &contents4).unwrap();
    let m5 = fx.mail(&["f@example.com"]);
    let meta5 = fx.path(format!("{}/metadata", m5.dest_dir()));
    std::fs::remove_file(&meta5).unwrap();
    std::fs::hard_link(fx.sentinel().join("mail").join(FAKE_DEST).join("metadata"), &meta5).unwrap();
    let before = fx.contents();

    let found = fx.expect_findings(&[
        ("not-a-folder", &q(m1.id())),
        ("not-a-folder", &q(m2.id())),
        ("not-a-folder", &q(m3.id())),
        ("contents-unreadable", &q(m4.id())),
        ("metadata-unreadable", &q(m5.id())),
    ]);
    assert!(
        found.iter().all(|f| f["code"] != "mode"),
        "a hard-linked file's mode is not ours to fix: {found:#?}"
    );
    fx.expect_listed(&[m1.id(), m2.id(), m3.id(), m4.id(), m5.id()], &[good.id(), &m3[1].id]);
    for args in [
        &["show", "--raw", m4.id()][..],
        &["list", "--fields", "id,subject", "--format", "jsonl"],
    ] {
        let r = fx.run(args);
        assert!(
            !r.out().contains("secret"),
            "{args:?} printed a file from outside the queue"
        );
    }
    for id in [m1.id(), m3.id()] {
        fx.run(["reschedule", "--yes", "--at", "+1h", id]).expect(1);
        fx.run(["drop", "--yes", id]).expect(1);
        fx.run(["show", "--raw", id]);
    }
    fx.run(["purge", "--min-age", "0s"]).expect(0);
    fx.repair(0);
    fx.expect_quarantined(&q(m1.id()), "not-a-folder");
    fx.expect_quarantined(&format!("data/{}", m1.mail), "not-a-folder");
    fx.expect_quarantined(&q(m3.id()), "not-a-folder");
    fx.expect_quarantined(&m3.dest_dir(), "not-a-folder");
    finish(&fx, &before);

    // quarantine/ is a symlink to the sentinel: repairs fail clearly and
    // nothing is moved out of the queue.
    let fx = TestQueue::new().hostile();
    let m = fx.mail(GOOD);
    std::fs::write(fx.path(format!("{}/metadata", m.dest_dir())), b"{").unwrap();
    std::os::unix::fs::symlink(fx.sentinel().join("etc"), fx.path("quarantine")).unwrap();
    let before = fx.contents();
    fx.expect_findings(&[("foreign", "quarantine"), ("metadata-invalid", &q(m.id()))]);
    let r = fx.run(["check", "--repair", "--yes"]).expect(1);
    assert!(r.stderr.contains("repair failed"), "{}", r.stderr);
    fx.expect_no_mail_lost(&before, "a symlinked quarantine/");
    assert!(fx.path(q(m.id())).is_symlink());
    std::fs::remove_file(fx.path("quarantine")).unwrap();
    fx.repair(0);
    finish(&fx, &before);

    // A state folder or data/ that is a symlink makes the queue unusable.
    for (dir, target) in [("hold", "sentinel/etc"), ("data", "sentinel/mail")] {
        let fx = TestQueue::new().hostile();
        fx.mail(GOOD);
        let p = fx.path(dir);
        let _ = std::fs::remove_dir_all(&p);
        std::os::unix::fs::symlink(fx.tmp().join(target), &p).unwrap();
        for args in [
            &["list"][..],
            &["check"],
            &["hold", "--all", "--yes"],
            &["drop", "--all", "--yes"],
            &["check", "--repair", "--yes"],
            &["purge", "--min-age", "0s"],
        ] {
            let r = fx.run(args).expect(3);
            assert!(
                r.stderr.contains(&format!("{dir}/ is a symlink"))
                    || r.stderr.contains(&format!("{dir} is not a folder")),
                "{}",
                r.stderr
            );
        }
    }
}

#[test]
fn case06_fifo_or_device() {
    let fx = TestQueue::new().hostile();
    let good = fx.mail(GOOD);
    let fifo = |rel: &str| {
        let p = fx.path(rel);
        let _ = std::fs::remove_file(&p);
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    };
    let m1 = fx.mail(&["a@example.com"]);
    fifo(&format!("{}/metadata", m1.dest_dir()));
    let m2 = fx.mail(&["b@example.com"]);
    fifo(&format!("{}/schedule", m2.dest_dir()));
    let m3 = fx.mail(&["c@example.com"]);
    fifo(&format!("data/{}/contents", m3.mail));
    let in_queue = uuid();
    fifo(&q(&in_queue));
    let mut want = vec![
        ("metadata-unreadable", q(m1.id())),
        ("schedule-unreadable", q(m2.id())),
        ("contents-unreadable", q(m3.id())),
        ("not-a-link", q(&in_queue)),
    ];
    let mut broken = vec![
        m1.id().to_string(),
        m2.id().to_string(),
        m3.id().to_string(),
        in_queue.clone(),
    ];
    // A device node as metadata (root only: mknod needs CAP_MKNOD).
    let m4 = fx.mail(&["d@example.com"]);
    if is_root() {
        let p = fx.path(format!("{}/metadata", m4.dest_dir()));
        std::fs::remove_file(&p).unwrap();
        nix::sys::stat::mknod(
            &p,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            nix::sys::stat::makedev(1, 3),
        )
        .unwrap();
        want.push(("metadata-unreadable", q(m4.id())));
        broken.push(m4.id().to_string());
    } else {
        eprintln!("case06: not root, so no device node (mknod needs CAP_MKNOD); FIFOs only");
    }
    let before = fx.contents();

    let want: Vec<(&str, &str)> = want.iter().map(|(c, p)| (*c, p.as_str())).collect();
    let found = fx.expect_findings(&want);
    let m1f = found.iter().find(|f| f["path"] == q(m1.id())).unwrap();
    assert!(m1f["problem"].as_str().unwrap().contains("FIFO"), "{m1f}");
    let broken: Vec<&str> = broken.iter().map(String::as_str).collect();
    fx.expect_listed(&broken, &[good.id()]);
    // Nothing that reads headers or bodies blocks on a FIFO either.
    fx.run(["list", "--fields", "id,subject,message_id", "--format", "jsonl"])
        .expect(0);
    fx.run(["list", "--subject", "*"]).expect(0);
    fx.run(["stats"]).expect(0);
    for id in [m1.id(), m2.id(), m3.id()] {
        fx.run(["show", id]);
        fx.run(["show", "--raw", id]);
    }
    fx.run(["reschedule", "--yes", "--at", "+1h", m2.id()]).expect(1);
    fx.repair(0);
    fx.expect_quarantined(&q(m1.id()), "metadata-unreadable");
    fx.expect_quarantined(&format!("data/{}", m1.mail), "metadata-unreadable");
    fx.expect_quarantined(&q(m2.id()), "schedule-unreadable");
    fx.expect_quarantined(&q(m3.id()), "contents-unreadable");
    fx.expect_quarantined(&q(&in_queue), "not-a-link");
    finish(&fx, &before);
}

#[test]
fn case07_huge_metadata() {
    const GIB: u64 = 1 << 30;
    let fx = TestQueue::new().hostile();
    let good = fx.mail(GOOD);
    let sparse = |rel: &str, prefix: &[u8]| {
        let p = fx.path(rel);
        std::fs::write(&p, prefix).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(GIB)
            .unwrap();
    };
    let m1 = fx.mail(&["a@example.com"]);
    sparse(&format!("{}/metadata", m1.dest_dir()), br#"{"from":null,"to":"#);
    let m2 = fx.mail(&["b@example.com"]);
    sparse(
        &format!("{}/schedule", m2.dest_dir()),
        br#"{"at":"2026-01-01T00:00:00Z","#,
    );
    // A 1 GiB message is legal: only its headers are ever read.
    let big = fx
        .enqueue(&["big@example.com"])
        .from("alice@example.org")
        .body(b"Subject: big\r\nMessage-ID: <big@example.org>\r\n\r\n")
        .create();
    sparse(
        &format!("data/{}/contents", big.mail),
        b"Subject: big\r\nMessage-ID: <big@example.org>\r\n\r\n",
    );
    let before = fx.contents();

    let t = std::time::Instant::now();
    let found = fx.expect_findings(&[
        ("metadata-unreadable", &q(m1.id())),
        ("schedule-unreadable", &q(m2.id())),
    ]);
    assert!(
        found
            .iter()
            .any(|f| f["problem"].as_str().unwrap().contains("over the size bound")),
        "{found:#?}"
    );
    let l = fx.expect_listed(&[m1.id(), m2.id()], &[good.id(), big.id()]);
    assert_eq!(l[big.id()]["size"], GIB);
    assert_eq!(l[big.id()]["subject"], "big");
    fx.run(["show", m1.id()]);
    fx.run(["stats", "--format", "json"]).expect(0);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(15),
        "reading the queue took {:?}: a 1 GiB file was read whole?",
        t.elapsed()
    );
    fx.repair(0);
    fx.expect_quarantined(&q(m1.id()), "metadata-unreadable");
    fx.expect_quarantined(&q(m2.id()), "schedule-unreadable");
    finish(&fx, &before);
}

#[test]
fn case08_bad_json() {
    let fx = TestQueue::new().hostile();
    let good = fx.mail(GOOD);
    let file =
        |m: &Mail, name: &str, body: &[u8]| std::fs::write(fx.path(format!("{}/{name}", m.dest_dir())), body).unwrap();
    let s_trunc = fx.mail(&["a@example.com"]);
    file(&s_trunc, "schedule", br#"{"at":"2026-11-22T21:3"#);
    let s_type = fx.mail(&["b@example.com"]);
    file(&s_type, "schedule", br#"{"at":5,"last_attempt":null}"#);
    let s_garbage = fx.mail(&["c@example.com"]);
    file(&s_garbage, "schedule", b"\xff\xfe\x00null\x1b[2J");
    let m_missing = fx.mail(&["d@example.com"]);
    file(&m_missing, "metadata", br#"{"from":null}"#);
    let m_trunc = fx.mail(&["e@example.com"]);
    file(&m_trunc, "metadata", br#"{"from":null,"to":{"localpart":{"Ascii":{"ra"#);
    let m_type = fx.mail(&["f@example.com"]);
    file(
        &m_type,
        "metadata",
        br#"{"from":null,"to":"f@example.com","metadata":null}"#,
    );
    // Unknown fields in a valid entry: not a problem, and kept when mqctl
    // rewrites the schedule.
    let unknown = fx.mail(&["g@example.com"]);
    file(
        &unknown,
        "schedule",
        br#"{"at":"2026-01-01T00:00:00Z","last_attempt":"2025-12-31T20:00:00.5Z","x-retries":{"n":[1,2,3],"why":"dns"}}"#,
    );
    let meta_unknown = br#"{"from":null,"to":{"localpart":{"Ascii":{"raw":"g"}},"hostname":{"AsciiDomain":{"raw":"example.com"}},"x-to":1},"metadata":{"writer":"v2","tags":["a"]},"x-top":true}"#;
    file(&unknown, "metadata", meta_unknown);
    let before = fx.contents();

    let found = fx.expect_findings(&[
        ("schedule-invalid", &q(s_trunc.id())),
        ("schedule-invalid", &q(s_type.id())),
        ("schedule-invalid", &q(s_garbage.id())),
        ("metadata-invalid", &q(m_missing.id())),
        ("metadata-invalid", &q(m_trunc.id())),
        ("metadata-invalid", &q(m_type.id())),
    ]);
    assert!(
        !found.iter().any(|f| f["path"] == q(unknown.id())),
        "unknown fields are not a problem: {found:#?}"
    );
    fx.expect_listed(
        &[s_trunc.id(), s_type.id(), m_missing.id(), m_trunc.id(), m_type.id()],
        &[good.id(), unknown.id()],
    );

    fx.run(["reschedule", "--yes", "--at", "2030-01-02T03:04:05Z", unknown.id()])
        .expect(0);
    let text = std::fs::read_to_string(fx.path(format!("{}/schedule", unknown.dest_dir()))).unwrap();
    assert_eq!(
        text,
        r#"{"at":"2030-01-02T03:04:05Z","last_attempt":"2025-12-31T20:00:00.5Z","x-retries":{"n":[1,2,3],"why":"dns"}}"#,
        "only `at` changes; unknown fields and their order are kept"
    );
    assert_eq!(
        std::fs::read(fx.path(format!("{}/metadata", unknown.dest_dir()))).unwrap(),
        meta_unknown,
        "metadata is never rewritten"
    );

    let t0 = Timestamp::now();
    fx.repair(0);
    for m in [&s_trunc, &s_type, &s_garbage] {
        let p = fx.path(format!("{}/schedule", m.dest_dir()));
        let s = mqctl::queue::parse::schedule(&std::fs::read(&p).unwrap()).expect("a recreated schedule parses");
        assert!(
            s.at >= t0 - SignedDuration::from_secs(5) && s.last_attempt.is_none(),
            "{s:?}"
        );
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o600);
    }
    for m in [&m_missing, &m_trunc, &m_type] {
        fx.expect_quarantined(&q(m.id()), "metadata-invalid");
        fx.expect_quarantined(&m.dest_dir(), "metadata-invalid");
    }
    finish(&fx, &before);
}

#[test]
fn case09_missing_schedule() {
    let fx = TestQueue::new().hostile();
    let good = fx.mail(GOOD);
    let m1 = fx.mail(&["a@example.com"]);
    std::fs::remove_file(fx.path(format!("{}/schedule", m1.dest_dir()))).unwrap();
    // Both files gone: nothing to rebuild the entry from.
    let m2 = fx.mail(&["b@example.com"]);
    std::fs::remove_file(fx.path(format!("{}/schedule", m2.dest_dir()))).unwrap();
    std::fs::remove_file(fx.path(format!("{}/metadata", m2.dest_dir()))).unwrap();
    let before = fx.contents();

    fx.expect_findings(&[
        ("schedule-unreadable", &q(m1.id())),
        ("schedule-unreadable", &q(m2.id())),
    ]);
    fx.expect_listed(&[m1.id(), m2.id()], &[good.id()]);
    fx.run(["reschedule", "--yes", "--at", "now", m1.id()]).expect(1);
    let t0 = Timestamp::now();
    fx.repair(0);
    let p = fx.path(format!("{}/schedule", m1.dest_dir()));
    let s = mqctl::queue::parse::schedule(&std::fs::read(&p).unwrap()).unwrap();
    assert!(s.at >= t0 - SignedDuration::from_secs(5) && s.last_attempt.is_none());
    assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o600);
    assert!(fx.path(q(m1.id())).is_symlink(), "the entry stays queued");
    fx.expect_quarantined(&q(m2.id()), "schedule-unreadable");
    finish(&fx, &before);
}

#[test]
fn case10_leftover_temp_files() {
    let fx = TestQueue::new().hostile();
    let good = fx.mail(GOOD);
    let m = fx.mail(&["a@example.com"]);
    let dest = m.dest_dir();
    let fresh = format!("{dest}/schedule.{}", uuid());
    let old = format!("{dest}/schedule.{}", uuid());
    let old_meta = format!("{dest}/metadata.{}", uuid());
    let as_link = format!("{dest}/schedule.{}", uuid());
    for p in [&fresh, &old, &old_meta] {
        std::fs::write(fx.path(p), br#"{"at":"2026-01-01T00:00:00Z","last_attempt":null}"#).unwrap();
        std::fs::set_permissions(fx.path(p), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    fx.age(&old, 7200);
    fx.age(&old_meta, 7200);
    // Named like a temp file, but a symlink to the sentinel: never unlinked
    // through, never followed.
    std::os::unix::fs::symlink(fx.sentinel().join("etc/passwd"), fx.path(&as_link)).unwrap();
    fx.age(&as_link, 7200);
    // A leftover in a dropped entry: the writer's own cleanup would stop on it.
    let dropped = fx.mail(&["b@example.com"]);
    std::fs::rename(fx.path(q(dropped.id())), fx.path(format!("cleanup/{}", dropped.id()))).unwrap();
    let dropped_tmp = format!("{}/schedule.{}", dropped.dest_dir(), uuid());
    std::fs::write(fx.path(&dropped_tmp), b"{}").unwrap();
    let before = fx.contents();

    let found = fx.expect_findings(&[("temp-file", &old), ("temp-file", &old_meta), ("foreign", &as_link)]);
    assert!(
        !found.iter().any(|f| f["path"] == fresh.as_str()),
        "a fresh temp file may be a writer mid-rewrite: {found:#?}"
    );
    fx.expect_listed(&[], &[good.id(), m.id()]);
    fx.repair(0);
    assert!(
        !fx.path(&old).exists() && !fx.path(&old_meta).exists(),
        "old temp files removed"
    );
    assert!(fx.path(&fresh).exists(), "a fresh temp file is left alone");
    fx.expect_quarantined(&as_link, "foreign");
    // purge removes temp files only past --min-age.
    fx.run(["purge"]).expect(0);
    assert!(
        fx.path(&fresh).exists(),
        "purge with the default age keeps a fresh temp file"
    );
    assert!(
        !fx.path(format!("cleanup/{}", dropped.id())).exists(),
        "purge finished the cleanup"
    );
    fx.run(["purge", "--min-age", "0s"]).expect(0);
    assert!(!fx.path(&fresh).exists(), "purge --min-age 0s removes it");
    // The dropped mail was purge's to remove.
    let mut before = before;
    before.remove(&dropped.mail);
    finish(&fx, &before);
}

#[test]
fn case11_orphan_mail() {
    let fx = TestQueue::new().hostile();
    let good = fx.mail(GOOD);
    let orphan = |age: bool| {
        let m = fx.mail(&["a@example.com"]);
        std::fs::remove_file(fx.path(q(m.id()))).unwrap();
        if age {
            fx.age_tree(format!("data/{}", m.mail), 7200);
        }
        m
    };
    let old = orphan(true);
    let fresh = orphan(false);
    // A crash right after `contents` was written: no dest folder at all.
    let partial = orphan(false);
    std::fs::remove_dir_all(fx.path(partial.dest_dir())).unwrap();
    fx.age_tree(format!("data/{}", partial.mail), 7200);
    // One recipient of a linked mail lost its link long ago.
    let two = fx.mail(&["b@example.com", "c@example.com"]);
    std::fs::remove_file(fx.path(q(&two[1].id))).unwrap();
    let lost_dest = two[1].dest_dir();
    fx.age_tree(&lost_dest, 7200);
    // Not a mail folder at all.
    std::fs::create_dir(fx.path("data/not-a-mail")).unwrap();
    std::fs::write(fx.path("data/.contents.swp"), b"vim").unwrap();
    let fake = uuid();
    std::os::unix::fs::symlink(fx.sentinel().join("mail"), fx.path(format!("data/{fake}"))).unwrap();
    fx.age(format!("data/{fake}"), 7200);
    let before = fx.contents();

    let found = fx.expect_findings(&[
        ("orphan-mail", &format!("data/{}", old.mail)),
        ("orphan-mail", &format!("data/{}", partial.mail)),
        ("orphan-dest", &lost_dest),
        ("foreign", "data/not-a-mail"),
        ("foreign", "data/.contents.swp"),
        ("foreign", &format!("data/{fake}")),
    ]);
    assert!(
        !found.iter().any(|f| f["path"] == format!("data/{}", fresh.mail)),
        "a fresh orphan may be an enqueue in progress: {found:#?}"
    );
    fx.expect_listed(&[], &[good.id(), two.id()]);
    // purge would take the old writer-shaped orphan, skips what is not the
    // writer's and fresh orphans.
    let snap = fx.snapshot();
    let r = fx.run(["purge", "--dry-run"]).expect(0);
    assert!(r.stderr.contains("not-a-mail"), "{}", r.stderr);
    assert!(
        r.out().contains(&old.mail) && !r.out().contains(&fresh.mail),
        "{}",
        r.out()
    );
    assert_eq!(fx.snapshot(), snap, "a dry run changes nothing");
    fx.repair(0);
    fx.expect_quarantined(&format!("data/{}", old.mail), "orphan-mail");
    fx.expect_quarantined(&format!("data/{}", partial.mail), "orphan-mail");
    fx.expect_quarantined(&lost_dest, "orphan-dest");
    fx.expect_quarantined("data/not-a-mail", "foreign");
    fx.expect_quarantined(&format!("data/{fake}"), "foreign");
    assert!(
        fx.path(format!("data/{}/contents", fresh.mail)).exists(),
        "fresh orphan left"
    );
    // `finish` purges with --min-age 0s, which may take the fresh orphan:
    // that is purge's job, so it is not counted as lost.
    let mut before = before;
    before.remove(&fresh.mail);
    finish(&fx, &before);
}

#[test]
fn case12_stale_inflight() {
    let mut fx = TestQueue::new().hostile();
    let good = fx.mail(GOOD);
    let m = fx.mail(&["a@example.com"]);
    let inflight = format!("inflight/{}", m.id());
    std::fs::rename(fx.path(q(m.id())), fx.path(&inflight)).unwrap();
    let bad = uuid();
    fx.plant_link("inflight", &bad, "/etc");
    let before = fx.contents();

    // Fresh: a writer is sending it. Only the bad link is a problem, and
    // neither recover nor drop touch the entry.
    let found = fx.expect_findings(&[("bad-link", &format!("inflight/{bad}"))]);
    assert_eq!(found.len(), 1, "{found:#?}");
    fx.run(["recover"]).expect(0);
    fx.run(["drop", "--yes", m.id()]).expect(0);
    assert!(
        fx.path(&inflight).is_symlink(),
        "a fresh inflight entry is left to its writer"
    );

    // Two hours later: its writer has died.
    fx.now = Some((Timestamp::now() + SignedDuration::from_hours(2)).to_string());
    // recover (the writer's own start-up would do the same) never moves a
    // link to /etc into queue/, where the writer would read through it.
    let r = fx.run(["recover"]).expect(1);
    assert!(
        r.stderr.contains(&bad) && r.stderr.contains("not ../data/<mail>/<dest>"),
        "{}",
        r.stderr
    );
    assert!(fx.path(format!("inflight/{bad}")).is_symlink() && !fx.path(q(&bad)).exists());
    assert!(fx.path(q(m.id())).is_symlink(), "the good stale entry was recovered");
    std::fs::rename(fx.path(q(m.id())), fx.path(&inflight)).unwrap();
    fx.expect_findings(&[("stale-inflight", &inflight), ("bad-link", &format!("inflight/{bad}"))]);
    fx.expect_listed(&[&bad], &[good.id(), m.id()]);
    let reps = fx.repair(0);
    assert!(
        reps.iter()
            .any(|r| r["code"] == "stale-inflight" && r["result"] == "repaired")
    );
    assert!(fx.path(q(m.id())).is_symlink(), "recovered into queue/");
    assert!(!fx.path(&inflight).exists());
    fx.expect_quarantined(&format!("inflight/{bad}"), "bad-link");
    finish(&fx, &before);
}

#[test]
fn case13_vanishes_between_listing_and_acting() {
    let mut fx = TestQueue::new().hostile();
    let m: Vec<Mail> = (0..4).map(|i| fx.mail(&[&format!("r{i}@example.com")])).collect();
    // A script listed these ids; before mqctl acts, the writer sent m0 (and
    // cleaned it up) and is dropping m1 (in cleanup/).
    let ids = format!("{}\n{}\n{}\n", m[0].id(), m[1].id(), m[2].id());
    std::fs::remove_file(fx.path(q(m[0].id()))).unwrap();
    std::fs::remove_dir_all(fx.path(format!("data/{}", m[0].mail))).unwrap();
    std::fs::rename(fx.path(q(m[1].id())), fx.path(format!("cleanup/{}", m[1].id()))).unwrap();
    let before = fx.contents();

    // An id that names nothing by the time mqctl looks is said to be so
    // ("no entry", exit 1): mqctl cannot tell it from a typo. Entries that
    // go while mqctl works on them are "vanished" (tests/writer_beside.rs).
    let r = fx
        .mqctl(["hold", "--yes", "-v", "-"])
        .stdin(ids.as_bytes())
        .run()
        .expect(1);
    assert!(
        r.stderr
            .contains("1 held, 0 vanished, 1 skipped, 0 failed, 1 id names no entry"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(&format!("no entry {}", m[0].id())), "{}", r.stderr);
    assert!(fx.path(format!("hold/{}", m[2].id())).is_symlink());
    assert!(
        fx.path(format!("cleanup/{}", m[1].id())).is_symlink(),
        "the writer's entry is left to it"
    );
    // NUL-separated, all gone: nothing changed, and each is named.
    let gone = format!("{}\0{}\0", m[0].id(), uuid());
    let r = fx
        .mqctl(["drop", "--yes", "-v", "-"])
        .stdin(gone.as_bytes())
        .run()
        .expect(1);
    assert_eq!(r.stderr.matches("mqctl: no entry ").count(), 2, "{}", r.stderr);
    for args in [
        &["reschedule", "--yes", "--at", "now", "-"][..],
        &["release", "--yes", "-"],
    ] {
        fx.mqctl(args).stdin(gone.as_bytes()).run().expect(1);
    }

    // The writer's half-done drop, hours later: check finishes it.
    fx.now = Some((Timestamp::now() + SignedDuration::from_hours(2)).to_string());
    fx.expect_findings(&[("stale-cleanup", &format!("cleanup/{}", m[1].id()))]);
    fx.expect_listed(&[], &[m[2].id(), m[3].id()]);
    fx.repair(0);
    assert!(!fx.path(format!("cleanup/{}", m[1].id())).exists());
    assert!(
        !fx.path(format!("data/{}", m[1].mail)).exists(),
        "a dropped mail is cleaned up"
    );
    let mut before = before;
    before.remove(&m[1].mail);
    finish(&fx, &before);

    // Two bulk drops at once: each entry is dropped by exactly one of them,
    // the other sees it vanish; neither fails.
    let fx = TestQueue::new().hostile();
    for i in 0..600 {
        fx.mail(&[&format!("a{i}@example.com"), &format!("b{i}@example.org")]);
    }
    let spawn = || fx.mqctl(["drop", "--all", "--yes"]).spawn();
    let (a, b) = (spawn(), spawn());
    let mut dropped = 0;
    for child in [a, b] {
        let r = child.finish().success();
        assert!(r.summary().contains(" dropped, "), "no summary: {r:?}");
        let c = r.counts();
        assert_eq!(c.failed, 0, "{r:?}");
        dropped += c.done;
    }
    assert_eq!(dropped, 1200, "each entry dropped exactly once");
    assert!(state_names(fx.root()).is_empty(), "{:?}", state_names(fx.root()));
    assert_eq!(
        std::fs::read_dir(fx.path("data")).unwrap().count(),
        0,
        "every mail cleaned up"
    );
    fx.expect_clean();
}

#[test]
fn case14_target_exists() {
    let fx = TestQueue::new().hostile();
    let good = fx.mail(GOOD);
    // An interrupted move (link made, old name not yet removed): the same
    // entry in queue/ and hold/.
    let m = fx.mail(&["a@example.com"]);
    std::fs::create_dir(fx.path("hold")).unwrap();
    fx.plant_link("hold", m.id(), m.link());
    // Something else already has the name drop would move to.
    let d = fx.mail(&["b@example.com"]);
    std::fs::write(fx.path(format!("cleanup/{}", d.id())), b"not a link").unwrap();
    // Two entries linking one dest folder.
    let s = fx.mail(&["c@example.com"]);
    let other = uuid();
    fx.plant_link("queue", &other, s.link());
    let extra = std::cmp::max(s.id(), other.as_str()).to_string();
    let before = fx.contents();
    let snap = fx.snapshot();

    // Moves never replace what is there.
    for args in [
        &["hold", "--yes", m.id()][..],
        &["release", "--yes", m.id()],
        &["drop", "--yes", d.id()],
        &["hold", "--all", "--yes"],
    ] {
        let r = fx.run(args).expect(1);
        assert!(r.stderr.contains("already exists"), "{args:?}: {}", r.stderr);
    }
    // (hold --all moved the entries it could; put them back to compare.
    // Their hold notes went with them; the notes folder stays, empty.)
    fx.run(["release", "--yes", good.id(), s.id(), &other, d.id()])
        .expect(0);
    let mut snap = snap;
    snap.set("hold-notes", Node::dir(0o700));
    assert_eq!(fx.snapshot(), snap, "nothing was replaced or lost");

    let found = fx.expect_findings(&[("two-states", &format!("hold/{}", m.id())), ("shared-dest", &q(&extra))]);
    assert!(
        found.iter().any(|f| f["path"] == format!("cleanup/{}", d.id())),
        "{found:#?}"
    );
    fx.expect_listed(&[d.id()], &[good.id(), m.id()]);
    fx.repair(0);
    fx.expect_quarantined(&format!("hold/{}", m.id()), "two-states");
    fx.expect_quarantined(&q(&extra), "shared-dest");
    assert!(fx.quarantined(&format!("cleanup/{}", d.id())));
    assert!(
        fx.path(q(m.id())).is_symlink() && fx.path(q(d.id())).is_symlink(),
        "the queued copies stay"
    );
    finish(&fx, &before);
}

#[test]
fn case15_hostile_names_and_escapes() {
    let fx = TestQueue::new().hostile();
    let good = fx.mail(GOOD);
    // An entry name that is not UTF-8 and carries a terminal escape and a
    // newline (a forged output line), linking a real dest.
    let m1 = fx.mail(&["a@example.com"]);
    let bad_name: &[u8] = b"\xff\x1b[2Jevil\nmqctl: all good";
    std::fs::remove_file(fx.path(q(m1.id()))).unwrap();
    fx.plant_link("queue", OsStr::from_bytes(bad_name), m1.link());
    // Escapes in an address (valid JSON: the writer could store it).
    let m2 = fx.mail(&["b@example.com"]);
    std::fs::write(
        fx.path(format!("{}/metadata", m2.dest_dir())),
        "{\"from\":{\"localpart\":{\"Ascii\":{\"raw\":\"evil\\u001b]52;c;cHduZWQ=\\u0007\"}},\"hostname\":{\"AsciiDomain\":{\"raw\":\"ex\\u202eample.com\"}}},\"to\":{\"localpart\":{\"Ascii\":{\"raw\":\"b\\u001b[31m\\u009b1m\"}},\"hostname\":{\"AsciiDomain\":{\"raw\":\"example.com\\r\\nX: y\"}}},\"metadata\":null}",
    )
    .unwrap();
    // Escapes, a bell, invalid UTF-8 and an encoded escape in the Subject.
    let m3 = fx.enqueue(&["c@example.com"]).from("alice@example.org").body(b"Subject: \x1b[2J\x1b]0;title\x07 hi \xff\xfe =?UTF-8?Q?=1B[31mred?=\r\nMessage-ID: <\x1b[5m@x>\r\n\r\nbody\r\n").create();
    // Names in data/ that are not the writer's.
    std::fs::create_dir(fx.path("data/\x1b]0;pwned\x07")).unwrap();
    std::fs::write(fx.path(format!("data/{}/\u{202e}gpj.swp", m3.mail)), b"x").unwrap();
    let before = fx.contents();

    let esc_name = format!("queue/{}", mqctl::output::escape_bytes(bad_name));
    assert_eq!(esc_name, "queue/\\xff\\x1b[2Jevil\\nmqctl: all good");
    fx.expect_findings(&[
        ("bad-name", &esc_name),
        ("foreign", "data/\\x1b]0;pwned\\x07"),
        ("foreign", &format!("data/{}/\\u{{202e}}gpj.swp", m3.mail)),
    ]);
    let commands: Vec<Vec<&str>> = vec![
        vec!["check"],
        vec!["check", "--format", "json"],
        vec!["check", "--repair", "--dry-run"],
        vec!["list"],
        vec!["list", "--fields", "id,from,to,subject,message_id,problem"],
        vec!["list", "--format", "json"],
        vec!["list", "--format", "jsonl"],
        vec!["list", "--format", "ids"],
        vec!["show", m2.id()],
        vec!["show", "--json", m2.id()],
        vec!["show", m3.id()],
        vec!["stats"],
        vec!["stats", "--format", "json"],
        vec!["stats", "--format", "prometheus"],
        vec!["hold", "--dry-run", "--all"],
    ];
    for args in &commands {
        let r = fx.run(args);
        assert!(r.code == 0 || r.code == 4, "{args:?}: {}", r.stderr);
        // JSON carries the values as they are (serde escapes C0 and DEL);
        // everything else is for people and must be fully escaped.
        let json = args.iter().any(|a| a.starts_with("json") || *a == "--json");
        assert_no_raw_controls(&format!("{args:?} stdout"), &r.stdout, !json);
        assert_no_raw_controls(&format!("{args:?} stderr"), r.stderr.as_bytes(), true);
    }
    let l = fx.expect_listed(&[&esc_name["queue/".len()..]], &[good.id(), m2.id(), m3.id()]);
    assert!(l[m3.id()]["subject"].as_str().unwrap().contains("red"));

    fx.repair(0);
    assert!(!fx.path("queue").join(std::ffi::OsStr::from_bytes(bad_name)).exists());
    let renamed: Vec<_> = state_names(fx.root())
        .into_iter()
        .filter(|(_, t)| *t == m1.link().as_bytes())
        .collect();
    assert_eq!(renamed.len(), 1, "the entry got a new, well-formed id: {renamed:?}");
    assert!(uuid::Uuid::parse_str(std::str::from_utf8(&renamed[0].0.1).unwrap()).is_ok());
    fx.expect_quarantined("data/\x1b]0;pwned\x07", "foreign");
    finish(&fx, &before);
}

#[test]
fn case16_unsafe_root() {
    let fx = TestQueue::new().hostile();
    let good = fx.mail(GOOD);
    let snap = fx.snapshot();
    let everything: Vec<Vec<&str>> = vec![
        vec!["list"],
        vec!["check"],
        vec!["check", "--repair", "--yes"],
        vec!["hold", "--all", "--yes"],
        vec!["drop", "--all", "--yes"],
        vec!["reschedule", "--all", "--yes", "--at", "now"],
        vec!["purge", "--min-age", "0s"],
        vec!["recover", "--stuck-after", "0s"],
    ];

    // The root is a symlink to the queue: refused unless --insecure says
    // to follow it.
    let link = fx.tmp().join("qlink");
    std::os::unix::fs::symlink(fx.root(), &link).unwrap();
    for args in &everything {
        let r = fx.mqctl(args).env("MQCTL_QUEUE", &link).run().expect(3);
        assert!(
            r.stderr.contains("is a symlink") && r.stderr.contains("--insecure"),
            "{args:?}: {}",
            r.stderr
        );
    }
    let r = fx
        .mqctl(["--insecure", "list", "--format", "ids"])
        .env("MQCTL_QUEUE", &link)
        .run()
        .expect(0);
    assert!(!r.stdout.is_empty(), "--insecure follows the root symlink");
    assert_eq!(fx.snapshot(), snap);

    // Group or world writable: anyone could plant entries.
    for mode in [0o777, 0o770, 0o702] {
        chmod(fx.root(), mode);
        for args in &everything {
            let r = fx.run(args).expect(3);
            assert!(
                r.stderr.contains("group or world writable") && r.stderr.contains("--insecure"),
                "{args:?}: {}",
                r.stderr
            );
        }
        assert_eq!(
            fx.snapshot().into_iter().skip(1).collect::<Vec<_>>(),
            snap.clone().into_iter().skip(1).collect::<Vec<_>>()
        );
        let r = fx.run(["--insecure", "list", "--format", "ids"]).expect(0);
        assert_eq!(r.out().trim(), good.id());
    }
    chmod(fx.root(), 0o700);
    fx.run(["list"]).expect(0);

    // Owned by someone else: as that someone's neighbour (uid 65534) on a
    // queue of uid 1000 that is readable by all.
    if !is_root() {
        eprintln!("case16: not root, cannot make a queue owned by another uid; that part is skipped");
        return;
    }
    chown_r(fx.root(), 1000, 1000);
    for (rel, n) in fx.snapshot() {
        chmod(&fx.root().join(rel), if n.kind == Kind::Dir { 0o755 } else { 0o644 });
    }
    chmod(fx.tmp(), 0o755);
    let snap = fx.snapshot();
    for args in &everything {
        let r = fx.mqctl(args).user(65534, 65534).run().expect(3);
        assert!(r.stderr.contains("owned by uid 1000"), "{args:?}: {}", r.stderr);
    }
    let r = fx
        .mqctl(["--insecure", "list", "--format", "ids"])
        .user(65534, 65534)
        .run()
        .expect(0);
    assert_eq!(r.out().trim(), good.id());
    assert_eq!(fx.snapshot(), snap, "refused commands changed nothing");
}

#[test]
fn case17_root_keeps_owner_and_mode() {
    if skipped_unless_root("case17 runs mqctl as root on a queue owned by uid 65534") {
        return;
    }
    let fx = TestQueue::new().hostile();
    let ms: Vec<Mail> = (0..4).map(|i| fx.mail(&[&format!("r{i}@example.com")])).collect();
    // Work for every kind of repair that writes: a lost schedule (rewritten),
    // a mis-spelt link (relinked), a bad metadata (quarantined, with notes),
    // an old temp file (removed), a file with a loose mode (chmodded).
    std::fs::remove_file(fx.path(format!("{}/schedule", ms[0].dest_dir()))).unwrap();
    fx.plant_link("queue", ms[1].id(), format!("./{}", ms[1].link()));
    std::fs::write(fx.path(format!("{}/metadata", ms[2].dest_dir())), b"{").unwrap();
    let tmp = format!("{}/schedule.{}", ms[3].dest_dir(), uuid());
    std::fs::write(fx.path(&tmp), b"{}").unwrap();
    fx.age(&tmp, 7200);
    chmod(&fx.path(format!("data/{}/contents", ms[3].mail)), 0o644);
    chown_r(fx.root(), 65534, 65534);

    let reps = fx.repair(0);
    assert_eq!(reps.len(), 5, "{reps:#?}");
    fx.expect_clean();
    fx.run(["reschedule", "--all", "--at", "now", "--yes"]).expect(0);
    fx.run(["hold", "--all", "--yes"]).expect(0);
    fx.run(["release", "--all", "--yes"]).expect(0);
    fx.run(["defer", "--all", "--by", "1h", "--yes"]).expect(0);
    assert!(fx.path("hold").is_dir() && fx.path("quarantine").is_dir());

    for (rel, n) in fx.snapshot() {
        assert_eq!(
            (n.uid, n.gid),
            (65534, 65534),
            "{rel:?} is owned by {}:{}",
            n.uid,
            n.gid
        );
        match n.kind {
            Kind::Dir => assert_eq!(n.mode, 0o700, "{rel:?}"),
            Kind::File => assert_eq!(n.mode, 0o600, "{rel:?}"),
            _ => {}
        }
    }
    fx.drop_and_purge();
    for (rel, n) in fx.snapshot() {
        assert_eq!((n.uid, n.gid), (65534, 65534), "{rel:?} after drop");
    }
}

#[test]
fn case18_readonly_eacces_enospc() {
    eacces();
    let mnt_dir = tempfile::Builder::new().prefix("mqctl-sec-mnt-").tempdir().unwrap();
    let mnt = match Tmpfs::mount(mnt_dir.path(), "3m") {
        Ok(m) => m,
        Err(why) => {
            eprintln!("case18: full-disk and read-only parts skipped: {why}");
            return;
        }
    };
    let fx = TestQueue::new_at(mnt.path.join("q")).hostile();
    let ms: Vec<Mail> = (0..40).map(|i| fx.mail(&[&format!("r{i}@example.com")])).collect();
    let ids: Vec<String> = ms.iter().map(|m| m.id().to_string()).collect();
    // Repairs that must write: a lost schedule, a bad metadata to quarantine.
    let lost = &ms[0];
    std::fs::remove_file(fx.path(format!("{}/schedule", lost.dest_dir()))).unwrap();
    let bad = &ms[1];
    std::fs::write(fx.path(format!("{}/metadata", bad.dest_dir())), b"{").unwrap();
    let good: Vec<String> = ids[2..].to_vec();

    // ENOSPC in the middle of bulk operations.
    let filler = fill_disk(&mnt.path);
    let snap = fx.snapshot();
    for args in [
        &["reschedule", "--all", "--yes", "--at", "+1h"][..],
        &["defer", "--all", "--yes", "--by", "2h"],
    ] {
        let r = fx.run(args).expect(1);
        assert!(r.stderr.contains("No space left on device"), "{args:?}: {}", r.stderr);
        // One line says the disk is full, not one per entry.
        assert_eq!(
            r.stderr.matches("No space left on device").count(),
            1,
            "{args:?}: {}",
            r.stderr
        );
        // Nothing changed (the claim folder, made on first use, may be there).
        let mut expected = snap.clone();
        if fx.path("claimed").is_dir() {
            expected.set("claimed", Node::dir(0o700));
        }
        if fx.snapshot() != expected {
            panic!(
                "{args:?} on a full disk changed the queue: {:?}",
                expected.diff(&fx.snapshot())
            );
        }
    }
    let r = fx.run(["hold", "--all", "--yes"]);
    assert!(
        r.code == 0 || (r.code == 1 && r.stderr.contains("No space left")),
        "{}",
        r.stderr
    );
    assert_one_state(fx.root(), &ids);
    if r.code == 0 {
        fx.run(["release", "--all", "--yes"]).expect(0);
    }
    let r = fx.run(["check", "--repair", "--yes"]).expect(1);
    assert_eq!(r.stderr.matches("No space left on device").count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("2 failed"), "{}", r.stderr);
    // A repair that could not be made leaves no empty quarantine folder or
    // notes file behind, and does not say it quarantined anything.
    assert!(!r.stderr.contains("what was quarantined"), "{}", r.stderr);
    let leftovers: Vec<String> = fx
        .snapshot()
        .keys()
        .filter(|k| k.starts_with("quarantine") && k.as_os_str() != "quarantine")
        .map(|k| k.display().to_string())
        .collect();
    assert!(leftovers.is_empty(), "left in quarantine/: {leftovers:?}");
    let by_id = assert_one_state(fx.root(), &good);
    assert!(by_id.values().all(|s| s[0] == "queue"), "{by_id:?}");
    assert_readable_except(&fx, &[lost.id(), bad.id()]);
    if fx.quarantined(&q(bad.id())) {
        fx.expect_quarantined(&q(bad.id()), "metadata-invalid");
    }
    assert!(!fx.path(format!("{}/schedule", lost.dest_dir())).exists());
    // Room again: the repair finishes.
    std::fs::remove_file(filler).unwrap();
    fx.repair(0);
    fx.expect_clean();
    assert_readable(fx.root());

    // A read-only filesystem: clear errors, nothing changed.
    let cleanup = &ms[2];
    std::fs::rename(fx.path(q(cleanup.id())), fx.path(format!("cleanup/{}", cleanup.id()))).unwrap();
    std::fs::remove_file(fx.path(format!("{}/schedule", ms[3].dest_dir()))).unwrap();
    let _ = std::fs::remove_dir(fx.path("hold"));
    mnt.remount(true);
    let snap = fx.snapshot();
    for args in [
        &["reschedule", "--all", "--yes", "--at", "+1h"][..],
        &["hold", "--all", "--yes"],
        &["drop", "--all", "--yes"],
        &["check", "--repair", "--yes", "--min-age", "0s"],
        &["purge", "--min-age", "0s"],
    ] {
        let r = fx.run(args).expect(1);
        assert!(r.stderr.contains("Read-only file system"), "{args:?}: {}", r.stderr);
    }
    fx.run(["list"]).expect(0);
    assert_eq!(fx.check().0, 4);
    assert_eq!(fx.snapshot(), snap, "nothing changed on a read-only queue");
    mnt.remount(false);
    fx.repair(0);
    fx.expect_clean();
    fx.drop_and_purge();
}

/// Every entry but `except` is readable by the writer.
fn assert_readable_except(fx: &TestQueue, except: &[&str]) {
    let copy = tempfile::tempdir().unwrap();
    for s in STATES {
        std::fs::create_dir(copy.path().join(s)).unwrap();
    }
    std::os::unix::fs::symlink(fx.path("data"), copy.path().join("data")).unwrap();
    for ((state, name), text) in state_names(fx.root()) {
        if except.iter().any(|e| e.as_bytes() == name) {
            continue;
        }
        std::os::unix::fs::symlink(
            std::ffi::OsStr::from_bytes(&text),
            copy.path().join(state).join(std::ffi::OsStr::from_bytes(&name)),
        )
        .unwrap();
    }
    assert_readable(copy.path());
}

/// EACCES in the middle of bulk operations: the queue belongs to the mail
/// user (65534 when we are root, so mqctl drops to it) and some folders are
/// read-only for it.
fn eacces() {
    let fx = TestQueue::new().hostile();
    let ms: Vec<Mail> = (0..20).map(|i| fx.mail(&[&format!("r{i}@example.com")])).collect();
    let ids: Vec<String> = ms.iter().map(|m| m.id().to_string()).collect();
    std::fs::create_dir(fx.path("hold")).unwrap();
    chmod(&fx.path("hold"), 0o500);
    if is_root() {
        chown_r(fx.root(), 65534, 65534);
    }
    let snap = fx.snapshot();
    let r = fx.run(["hold", "--all", "--yes"]).expect(1);
    assert!(r.stderr.contains("Permission denied"), "{}", r.stderr);
    // Nothing moved; the notes of the holds that failed went with them
    // (their folder, mqctl's, stays: empty, the mail user's).
    let mut expected = snap;
    let mut notes = Node::dir(0o700);
    if is_root() {
        (notes.uid, notes.gid) = (65534, 65534);
    }
    expected.set("hold-notes", notes);
    assert_eq!(fx.snapshot(), expected);

    chmod(&fx.path("queue"), 0o500);
    let snap = fx.snapshot();
    let r = fx.run(["drop", "--all", "--yes"]).expect(1);
    assert!(r.stderr.contains("Permission denied"), "{}", r.stderr);
    assert_eq!(fx.snapshot(), snap);
    chmod(&fx.path("queue"), 0o700);

    // One dest folder read-only: its entry fails, the others are rescheduled.
    chmod(&fx.path(ms[5].dest_dir()), 0o500);
    let r = fx
        .run(["reschedule", "--all", "--yes", "--at", "2031-01-01T00:00:00Z"])
        .expect(1);
    assert!(
        r.stderr.contains("Permission denied") && r.stderr.contains(ms[5].id()),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("19 rescheduled"), "{}", r.stderr);
    assert_one_state(fx.root(), &ids);
    assert_readable(fx.root());
    chmod(&fx.path(ms[5].dest_dir()), 0o700);
    chmod(&fx.path("hold"), 0o700);
    fx.expect_clean();
    fx.drop_and_purge();
}

#[test]
fn case19_kill9_bulk_drop() {
    let fx = TestQueue::in_memory().hostile();
    let body: &[u8] = b"From: a@example.org\r\nSubject: bulk\r\n\r\nhello\r\n";
    let rcpts: Vec<String> = (0..5).map(|i| format!("r{i}@example.com")).collect();
    let rcpts: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    let mails: Vec<Mail> = (0..1000)
        .map(|_| fx.enqueue(&rcpts).from("a@example.org").body(body).create())
        .collect();
    let all: std::collections::BTreeMap<String, String> = mails
        .iter()
        .flat_map(|m| m.iter().map(|e| (e.id.clone(), e.dest_dir())))
        .collect();
    assert_eq!(all.len(), 5000);

    let mut rng = fastrand::Rng::with_seed(0x19);
    let mut killed_mid_way = 0;
    // Random moments (seeded); when a kill lands before the first move (a
    // slow machine), the next comes later.
    let mut base = 20;
    for round in 0..8 {
        let queued_before = std::fs::read_dir(fx.path("queue")).unwrap().count();
        if queued_before == 0 || killed_mid_way == 4 {
            break;
        }
        let child = fx.mqctl(["drop", "--all", "--yes"]).spawn();
        let delay = base + rng.u64(0..140);
        std::thread::sleep(std::time::Duration::from_millis(delay));
        child.signal(nix::sys::signal::SIGKILL);
        child.wait();

        // Every entry is in exactly one folder, or dropped and gone with
        // its files; whatever is still queued is whole.
        let by_id = assert_one_state(fx.root(), &[]);
        for (id, dest) in &all {
            if !by_id.contains_key(id.as_bytes()) {
                assert!(
                    !fx.path(dest).exists(),
                    "round {round}: {id} is gone but {dest} is left"
                );
            }
        }
        for (name, states) in &by_id {
            let id = String::from_utf8(name.clone()).unwrap();
            assert!(all.contains_key(&id), "round {round}: unknown entry {id}");
            let text = fx.link_text(&states[0], &id);
            assert!(mqctl::queue::Link::parse(&text).is_some(), "round {round}: {id}");
        }
        assert_readable(fx.root());
        let queued: Vec<_> = by_id.values().filter(|s| s[0] == "queue").collect();
        for m in &mails {
            if m.iter()
                .any(|e| by_id.get(e.id.as_bytes()).is_some_and(|s| s[0] == "queue"))
            {
                assert_eq!(
                    std::fs::read(fx.path(format!("data/{}/contents", m.mail))).unwrap(),
                    body
                );
            }
        }
        // Nothing a queued entry needs is reported broken.
        let (_, found) = fx.check();
        assert!(
            found.iter().all(|f| !f["path"].as_str().unwrap().starts_with("queue/")),
            "round {round}: {found:#?}"
        );
        eprintln!(
            "case19 round {round}: killed after {delay} ms: {} of {queued_before} still queued, {} in cleanup/",
            queued.len(),
            by_id.len() - queued.len()
        );
        if queued.len() < queued_before && !queued.is_empty() {
            killed_mid_way += 1;
        } else if queued.len() == queued_before {
            base *= 2;
        }
    }
    assert!(
        killed_mid_way > 0,
        "no kill landed in the middle of a drop: make the delays shorter"
    );

    // purge finishes the interrupted cleanups, then a rerun finishes the job.
    let queued = std::fs::read_dir(fx.path("queue")).unwrap().count();
    fx.run(["purge", "--min-age", "0s"]).expect(0);
    assert_eq!(std::fs::read_dir(fx.path("cleanup")).unwrap().count(), 0);
    assert_eq!(
        std::fs::read_dir(fx.path("queue")).unwrap().count(),
        queued,
        "purge took no queued entry"
    );
    assert_readable(fx.root());
    let r = fx.run(["drop", "--all", "--yes"]).expect(0);
    assert!(
        queued == 0 || r.stderr.contains(&format!("{queued} dropped")),
        "{}",
        r.stderr
    );
    assert!(state_names(fx.root()).is_empty());
    assert_eq!(
        std::fs::read_dir(fx.path("data")).unwrap().count(),
        0,
        "every mail cleaned up"
    );
    fx.expect_clean();
}

#[test]
fn case20_million_entries_bounded() {
    // Scaled down from a million to what 2 cores list in seconds; the
    // structure is what is checked. MQCTL_SEC_ENTRIES=1000000 runs the real
    // size by hand; the ignored test below runs 50,000.
    let n = std::env::var("MQCTL_SEC_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    bounded_listing(n);
}

#[test]
#[ignore = "50,000 entries take 15-35 s in a debug build on 2 cores; case20 runs 20,000 by default"]
fn case20_fifty_thousand_entries_bounded() {
    bounded_listing(50_000);
}

/// `n` entries (mails of 10 recipients): `list --format jsonl` streams in
/// memory that does not grow with the queue, and `list --count` agrees.
fn bounded_listing(n: usize) {
    let fx = TestQueue::in_memory().hostile();
    let t = std::time::Instant::now();
    let rcpts: Vec<String> = (0..10).map(|i| format!("user{i}@example.com")).collect();
    let rcpts: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    for i in 0..n / 10 {
        let body =
            format!("From: a@example.org\r\nSubject: mail {i}\r\nMessage-ID: <{i}@example.org>\r\n\r\nhello\r\n");
        fx.enqueue(&rcpts).from("a@example.org").body(body.as_bytes()).create();
    }
    let n = n / 10 * 10;
    eprintln!("case20: built {n} entries in {:?}", t.elapsed());

    let t = std::time::Instant::now();
    let (code, rss_small) = measure(
        fx.mqctl(["list", "--format", "jsonl", "--limit", "10"]),
        &fx.tmp().join("small.jsonl"),
    );
    assert_eq!(code, 0);
    let out = fx.tmp().join("full.jsonl");
    let (code, rss_full) = measure(fx.mqctl(["list", "--format", "jsonl"]), &out);
    assert_eq!(code, 0);
    let full_time = t.elapsed();
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), n);
    let out_kib = text.len() as i64 / 1024;
    drop(text);
    let (code, rss_sorted) = measure(
        fx.mqctl(["list", "--format", "jsonl", "--sort", "at"]),
        &fx.tmp().join("sorted.jsonl"),
    );
    assert_eq!(code, 0);
    eprintln!(
        "case20: peak RSS: --limit 10 {rss_small} KiB, streamed {rss_full} KiB, sorted {rss_sorted} KiB; output {out_kib} KiB; {full_time:?}"
    );
    // Holding every entry costs more than printing it; streaming stays
    // close to what reading the first chunk costs.
    assert!(
        rss_full - rss_small < 4096 + out_kib / 8,
        "list --format jsonl grew by {} KiB for {out_kib} KiB of output: it holds the entries",
        rss_full - rss_small
    );
    // The measure can tell: a sorted list has to hold everything.
    assert!(
        rss_sorted - rss_full > out_kib / 4,
        "peak RSS cannot tell holding from streaming"
    );
    let r = fx.run(["list", "--count"]).expect(0);
    assert_eq!(r.out().trim(), n.to_string());
}
