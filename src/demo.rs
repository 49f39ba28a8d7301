//! A realistic sample queue, for `mqctl demo` and for trying things safely:
//! thousands of entries over many domains, retried and not-yet-due ones, an
//! incident (one domain failing for hours), entries left inflight by a
//! crashed writer, pending cleanups, held entries and a few broken ones.

use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use nix::errno::Errno;

use crate::error::{Error, Result};
use crate::queue::sys::Dir;
use crate::queue::write::EnqueueOptions;
use crate::queue::{EntryId, Queue, State, address};

const DOMAINS: [(&str, u32); 18] = [
    ("gmail.com", 30),
    ("outlook.com", 14),
    ("yahoo.com", 10),
    ("hotmail.co.uk", 6),
    ("icloud.com", 6),
    ("orange.fr", 5),
    ("web.de", 5),
    ("gmx.net", 4),
    ("proton.me", 3),
    ("mail.ru", 3),
    ("libero.it", 2),
    ("corp.example", 6),
    ("lists.example.net", 3),
    ("broken-dns.example", 12),
    ("bücher.example", 1),
    ("[192.0.2.25]", 1),
    ("[IPv6:2001:db8::25]", 1),
    ("uni-example.edu", 3),
];

const SENDERS: [&str; 10] = [
    "newsletter@shop.example",
    "noreply@billing.example",
    "alerts@monitoring.example",
    "alice@corp.example",
    "bob@corp.example",
    "\"sales team\"@corp.example",
    "jira@tracker.example",
    "<>",
    "josé@exämple.org",
    "mailer-daemon@mx1.corp.example",
];

const SUBJECTS: [&str; 14] = [
    "Your invoice for November",
    "Weekly report",
    "[ALERT] disk usage above 90% on db-03",
    "Re: meeting tomorrow",
    "Undelivered Mail Returned to Sender",
    "Password reset request",
    "=?UTF-8?B?w4lsw6hnYW50IHN1amV0?=",
    "Your order has shipped",
    "Re: Re: Fwd: budget 2027",
    "Build failed: main #4812",
    "Newsletter: 10 tips for a faster inbox",
    "Invitation: quarterly review",
    "=?UTF-8?Q?Caf=C3=A9_du_jeudi?=",
    "Security notice for your account",
];

const NAMES: [&str; 12] = [
    "john",
    "mary",
    "p.dupont",
    "k.schmidt",
    "li.wei",
    "ops",
    "support",
    "m.rossi",
    "anna",
    "sam+lists",
    "info",
    "jane.doe",
];

/// What `build` made, for the report `demo` prints.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub mails: usize,
    pub entries: usize,
    pub inflight: usize,
    pub cleanup: usize,
    pub held: usize,
    pub broken: usize,
    pub domains: usize,
    /// The queue's folder was made by `build` (it did not exist before),
    /// rather than given to it empty: what `remove` takes away.
    pub made_root: bool,
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl Fn(Errno) -> Error + 'a {
    move |e| Error::io(op, path.display().to_string(), e)
}

/// Creates an empty queue (the writer's four folders, mode 0700) at `root`,
/// which must be absent or an empty folder.
pub fn create_empty(root: &Path) -> Result<()> {
    create_empty_made(root).map(|_| ())
}

/// `create_empty`, saying whether it made `root` itself.
fn create_empty_made(root: &Path) -> Result<bool> {
    let mut made_root = false;
    match std::fs::read_dir(root) {
        Ok(mut it) => {
            if it.next().is_some() {
                return Err(Error::Usage(format!(
                    "{} is not empty: give a new or empty folder",
                    root.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            nix::unistd::mkdir(root, nix::sys::stat::Mode::from_bits_truncate(0o700))
                .map_err(io_err("creating", root))?;
            made_root = true;
        }
        Err(e) => return Err(Error::Usage(format!("{}: {e}", root.display()))),
    }
    let made = (|| {
        let dir = Dir::open_root(root).map_err(io_err("opening", root))?;
        for name in ["data", "queue", "inflight", "cleanup"] {
            dir.mkdir(name, 0o700).map_err(io_err("creating", &root.join(name)))?;
        }
        Ok(made_root)
    })();
    if made.is_err() {
        let _ = remove(root, made_root);
    }
    made
}

/// Builds the sample queue in `root` (absent or empty). When that fails
/// half-way, what it made is removed again: a broken sample is no use.
pub fn build(root: &Path, mails: usize, seed: u64, now: Timestamp) -> Result<Report> {
    let made_root = create_empty_made(root)?;
    let report = fill(root, mails, seed, now);
    if report.is_err() {
        let _ = remove(root, made_root);
    }
    Ok(Report { made_root, ..report? })
}

/// Removes a sample queue that `build` made: the folder itself when it made
/// it, otherwise everything in it (it was given an empty folder). This is
/// mqctl's own throwaway queue, so plain `std::fs` does it: its
/// `remove_dir_all` unlinks symlinks without following them (the sample's
/// link to /etc/passwd goes, not /etc/passwd).
pub fn remove(root: &Path, made_root: bool) -> Result<()> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| Error::Io {
            op: "removing",
            path,
            source,
        }
    };
    if made_root {
        return std::fs::remove_dir_all(root).map_err(io(root));
    }
    for child in std::fs::read_dir(root).map_err(io(root))? {
        let child = child.map_err(io(root))?;
        let path = child.path();
        let removed = if child.file_type().map_err(io(&path))?.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(io(&path))?;
    }
    Ok(())
}

fn fill(root: &Path, mails: usize, seed: u64, now: Timestamp) -> Result<Report> {
    let mut queue = Queue::open(root)?;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut report = Report {
        domains: DOMAINS.len(),
        ..Report::default()
    };
    let mut ids: Vec<EntryId> = Vec::new();
    for n in 0..mails {
        let sender = SENDERS[rng.usize(..SENDERS.len())];
        let from = address::parse_sender(sender).map_err(Error::Usage)?;
        let rcpts = match rng.u32(..100) {
            0..70 => 1,
            70..90 => 2,
            _ => 3 + rng.usize(..3),
        };
        let mut to = Vec::with_capacity(rcpts);
        let mut domain = "";
        for _ in 0..rcpts {
            domain = pick_weighted(&mut rng, &DOMAINS);
            let name = NAMES[rng.usize(..NAMES.len())];
            to.push(address::parse(&format!("{name}@{domain}")).map_err(Error::Usage)?);
        }
        // Ages spread over three days, most of them recent.
        let age_min = (rng.f64().powi(3) * 3.0 * 24.0 * 60.0) as i64 + 1;
        let written = now - SignedDuration::from_mins(age_min);
        let incident = domain == "broken-dns.example";
        let retried = incident || rng.u32(..100) < 35;
        let (at, last_attempt) = if retried {
            let last = now - SignedDuration::from_mins(rng.i64(0..age_min.clamp(1, 240)));
            let at = last + SignedDuration::from_mins(if incident { 240 } else { rng.i64(5..480) });
            (at, Some(last))
        } else if rng.u32(..100) < 20 {
            (now + SignedDuration::from_mins(rng.i64(1..120)), None)
        } else {
            (written, None)
        };
        let subject = if n == 7 {
            // Terminal escape injection through a Subject: mqctl must show it escaped.
            "\x1b[31mURGENT\x1b[0m verify your account"
        } else {
            SUBJECTS[rng.usize(..SUBJECTS.len())]
        };
        let msg = message(sender, &to, subject, n, written);
        let made = queue.enqueue(
            from.as_ref(),
            &to,
            msg.as_bytes(),
            EnqueueOptions {
                at,
                last_attempt,
                written: Some(written),
                durable: false,
            },
        )?;
        report.mails += 1;
        report.entries += made.entries.len();
        ids.extend(made.entries.into_iter().map(|e| e.id));
    }
    // A writer "crashed" while sending these; some pending cleanups; a few held.
    let mut moved = 0;
    let mut take = |queue: &mut Queue, to: State, count: usize| -> Result<usize> {
        let dest = queue.ensure_state_dir(to)?;
        let _ = dest;
        let mut done = 0;
        while done < count && moved < ids.len() {
            let id = &ids[ids.len() - 1 - moved];
            moved += 1;
            let (from_dir, to_dir) = (
                queue.state_dir(State::Queued).expect("queue/"),
                queue.state_dir(to).expect("made"),
            );
            from_dir
                .move_noreplace(id.as_bytes(), to_dir, id.as_bytes())
                .map_err(io_err("moving", root))?;
            done += 1;
        }
        Ok(done)
    };
    report.inflight = take(&mut queue, State::Inflight, 12)?;
    report.cleanup = take(&mut queue, State::Cleanup, 25)?;
    report.held = take(&mut queue, State::Held, 8)?;
    // Held for a reason, as `hold --reason --until` notes it; one hold has
    // ended (`release --expired` releases it), one was held without a word.
    let held = &ids[ids.len() - moved..ids.len() - moved + report.held];
    for (k, id) in held.iter().enumerate() {
        let h = |m: i64| SignedDuration::from_mins(m);
        let (reason, since, until) = match k {
            0..=3 => (
                Some("Mailbox full at corp.example (ticket 4711)"),
                now - h(50),
                Some(now + h(70)),
            ),
            4 | 5 => (Some("Suspected spam run: check with the sender"), now - h(200), None),
            6 => (Some("Waiting for the DNS fix"), now - h(300), Some(now - h(10))),
            _ => (None, now - h(20), None),
        };
        let note = crate::queue::holds::HoldNote {
            reason: reason.map(str::to_owned),
            since: since.round(jiff::Unit::Second).unwrap_or(since),
            until: until.map(|u| u.round(jiff::Unit::Second).unwrap_or(u)),
            user: Some("postmaster".into()),
        };
        queue
            .write_hold_note(id, &serde_json::to_vec(&note).expect("plain data"))
            .map_err(io_err("writing a hold note in", root))?;
    }
    report.broken = plant_problems(&queue, root, &mut rng)?;
    report.entries += 3;
    Ok(report)
}

/// One name of `table`, drawn with the weights beside them (also the
/// benchmark queue's domains, from its own table).
pub fn pick_weighted(rng: &mut fastrand::Rng, table: &[(&'static str, u32)]) -> &'static str {
    let total: u32 = table.iter().map(|d| d.1).sum();
    let mut x = rng.u32(..total);
    for &(d, w) in table {
        if x < w {
            return d;
        }
        x -= w;
    }
    table[0].0
}

/// A plain-text message of 0.7 to 3.5 KB, CRLF, with the usual headers
/// (also the benchmark queue's messages).
pub fn message(from: &str, to: &[crate::queue::Address], subject: &str, n: usize, written: Timestamp) -> String {
    let date = written.strftime("%a, %d %b %Y %H:%M:%S +0000");
    let to: Vec<String> = to.iter().map(|a| a.to_string()).collect();
    let from = if from == "<>" {
        "MAILER-DAEMON@mx1.corp.example"
    } else {
        from
    };
    let mut body = String::new();
    for i in 0..(3 + n % 40) {
        body.push_str(&format!(
            "Line {i} of the message body, as a real mail would have some text.\r\n"
        ));
    }
    format!(
        "Return-Path: <{from}>\r\nReceived: from mx1.corp.example (mx1.corp.example [192.0.2.10])\r\n\tby mx2.corp.example with ESMTPS; {date}\r\n\
From: {from}\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: <{n}.{}@corp.example>\r\nDate: {date}\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}",
        to.join(", "),
        written.as_second(),
    )
}

/// A few entries that are wrong the ways real queues go wrong: a dangling
/// link, a link that points outside the queue, a truncated schedule, a
/// leftover temp file and an orphan data folder.
fn plant_problems(queue: &Queue, root: &Path, rng: &mut fastrand::Rng) -> Result<usize> {
    let q = queue.state_dir(State::Queued).expect("queue/");
    let id = |rng: &mut fastrand::Rng| {
        uuid::Builder::from_random_bytes(rng.u128(..).to_le_bytes())
            .into_uuid()
            .to_string()
    };
    let err = io_err("planting a demo problem in", root);
    // Dangling: the data folder it names does not exist.
    q.symlink(format!("../data/{}/{}", id(rng), id(rng)).as_str(), id(rng).as_str())
        .map_err(&err)?;
    // Absolute target: never followed.
    q.symlink("/etc/passwd", id(rng).as_str()).map_err(&err)?;
    // A truncated schedule (a crash mid-write by some other tool).
    let from = address::parse("cron@corp.example").map_err(Error::Usage)?;
    let to = address::parse("ops@corp.example").map_err(Error::Usage)?;
    let now = Timestamp::now();
    let made = queue.enqueue(
        Some(&from),
        std::slice::from_ref(&to),
        b"Subject: nightly backup report\r\n\r\nok\r\n",
        EnqueueOptions {
            at: now,
            last_attempt: None,
            written: None,
            durable: false,
        },
    )?;
    let e = &made.entries[0];
    let dest = queue
        .data()
        .open_dir(format!("{}/{}", made.mail, e.dest).as_str())
        .map_err(&err)?;
    dest.unlink("schedule").map_err(&err)?;
    dest.create_file("schedule", 0o600).map_err(&err).and_then(|mut f| {
        use std::io::Write;
        f.write_all(br#"{"at":"2026-11-2"#).map_err(|_| err(Errno::EIO))
    })?;
    // A leftover temp file from an interrupted reschedule.
    dest.create_file(format!("schedule.{}", id(rng)).as_str(), 0o600)
        .map_err(&err)?;
    // An orphan data folder (a crash during enqueue).
    let orphan = id(rng);
    queue.data().mkdir(orphan.as_str(), 0o700).map_err(&err)?;
    let od = queue.data().open_dir(orphan.as_str()).map_err(&err)?;
    od.create_file("contents", 0o600).map_err(&err)?;
    Ok(3)
}
