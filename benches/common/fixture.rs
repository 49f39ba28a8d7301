//! A large queue to measure on, made the writer's way through the library
//! (`Queue::enqueue`, not fsynced), shaped like `mqctl demo`'s: 1 to 3
//! recipients per mail over weighted domains, about 35% retried, some not due
//! yet, ages over three days, a few entries inflight and a few in cleanup.

use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};
use mqctl::queue::write::EnqueueOptions;
use mqctl::queue::{Queue, address};

use super::harness::BenchResult;

const DOMAINS: [(&str, u32); 12] = [
    ("gmail.com", 30),
    ("outlook.com", 14),
    ("yahoo.com", 10),
    ("icloud.com", 6),
    ("orange.fr", 5),
    ("web.de", 5),
    ("corp.example", 6),
    ("broken-dns.example", 12),
    ("bücher.example", 1),
    ("[192.0.2.25]", 1),
    ("[IPv6:2001:db8::25]", 1),
    ("uni-example.edu", 3),
];

const SENDERS: [&str; 8] = [
    "newsletter@shop.example",
    "noreply@billing.example",
    "alerts@monitoring.example",
    "alice@corp.example",
    "\"sales team\"@corp.example",
    "<>",
    "josé@exämple.org",
    "mailer-daemon@mx1.corp.example",
];

const NAMES: [&str; 8] = [
    "john",
    "mary",
    "p.dupont",
    "li.wei",
    "ops",
    "support",
    "sam+lists",
    "jane.doe",
];

/// The queue and what is in it; the folder goes away when this is dropped.
pub struct Fixture {
    dir: tempfile::TempDir,
    pub entries: usize,
    pub mails: usize,
    pub inflight: usize,
    pub cleanup: usize,
    pub retried: usize,
    pub bytes: u64,
}

impl Fixture {
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("q")
    }

    /// Builds a queue of exactly `entries` entries, with every core writing.
    pub fn build(entries: usize, seed: u64) -> BenchResult<Fixture> {
        let dir = tempfile::Builder::new()
            .prefix("mqctl-bench-")
            .tempdir()
            .map_err(|e| format!("creating a temp dir: {e}"))?;
        let root = dir.path().join("q");
        mqctl::demo::create_empty(&root).map_err(|e| e.to_string())?;
        let queue = Queue::open(&root).map_err(|e| e.to_string())?;

        // Recipients per mail (60% one, 25% two, 15% three), trimmed so the
        // total is exactly `entries`.
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut rcpts: Vec<usize> = Vec::new();
        let mut left = entries;
        while left > 0 {
            let n = match rng.u32(..100) {
                0..60 => 1,
                60..85 => 2,
                _ => 3,
            }
            .min(left);
            rcpts.push(n);
            left -= n;
        }
        let now = Timestamp::now();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let per = rcpts.len().div_ceil(threads).max(1);
        let made: Vec<BenchResult<(Vec<String>, usize, u64)>> = std::thread::scope(|s| {
            let handles: Vec<_> = rcpts
                .chunks(per)
                .enumerate()
                .map(|(t, part)| {
                    let queue = &queue;
                    let first = t * per;
                    s.spawn(move || enqueue_mails(queue, part, first, seed ^ ((t as u64 + 1) * 0x9e37_79b9), now))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a builder thread panicked".into())))
                .collect()
        });
        let (mut ids, mut retried, mut bytes) = (Vec::with_capacity(entries), 0, 0);
        for m in made {
            let (i, r, b) = m?;
            ids.extend(i);
            retried += r;
            bytes += b;
        }

        // A writer was sending these when it "crashed"; these were dropped and
        // wait for their files to be removed. The writer's moves are renames.
        let inflight = (entries / 1000).max(1).min(ids.len());
        let cleanup = (entries / 2000).max(1).min(ids.len() - inflight);
        let mut picked = ids.iter().rev();
        for (to, n) in [("inflight", inflight), ("cleanup", cleanup)] {
            for id in picked.by_ref().take(n) {
                std::fs::rename(root.join("queue").join(id), root.join(to).join(id))
                    .map_err(|e| format!("moving {id} to {to}/: {e}"))?;
            }
        }
        Ok(Fixture {
            dir,
            entries,
            mails: rcpts.len(),
            inflight,
            cleanup,
            retried,
            bytes,
        })
    }

    /// Keeps the queue on disk after the run (for profiling by hand);
    /// returns the folder that holds it (the queue is its `q/`).
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }

    /// Removes the queue now (dropping the fixture does the same, silently).
    pub fn remove(self) -> BenchResult<()> {
        let path = self.dir.path().to_path_buf();
        self.dir
            .close()
            .map_err(|e| format!("removing {}: {e}", path.display()))
    }
}

/// Enqueues one mail per element of `rcpts` (its recipient count), numbered
/// from `first`. Returns
/// the entry ids, how many entries were retried, and the bytes of contents.
fn enqueue_mails(
    queue: &Queue,
    rcpts: &[usize],
    first: usize,
    seed: u64,
    now: Timestamp,
) -> BenchResult<(Vec<String>, usize, u64)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut ids, mut retried, mut bytes) = (Vec::new(), 0, 0u64);
    for (n, &count) in rcpts.iter().enumerate() {
        let sender = SENDERS[rng.usize(..SENDERS.len())];
        let from = address::parse_sender(sender)?;
        let mut to = Vec::with_capacity(count);
        let mut domain = "";
        for _ in 0..count {
            domain = mqctl::demo::pick_weighted(&mut rng, &DOMAINS);
            to.push(address::parse(&format!(
                "{}@{domain}",
                NAMES[rng.usize(..NAMES.len())]
            ))?);
        }
        let age_min = (rng.f64().powi(3) * 3.0 * 24.0 * 60.0) as i64 + 1;
        let written = now - SignedDuration::from_mins(age_min);
        let incident = domain == "broken-dns.example";
        let retry = rng.u32(..100) < 35;
        let (at, last_attempt) = if retry {
            let last = now - SignedDuration::from_mins(rng.i64(0..age_min.clamp(1, 240)));
            let wait = if incident { 240 } else { rng.i64(5..480) };
            (last + SignedDuration::from_mins(wait), Some(last))
        } else if rng.u32(..100) < 20 {
            (now + SignedDuration::from_mins(rng.i64(1..120)), None)
        } else {
            (written, None)
        };
        let msg = mqctl::demo::message(sender, &to, &format!("Weekly report {}", first + n), first + n, written);
        let made = queue
            .enqueue(
                from.as_ref(),
                &to,
                msg.as_bytes(),
                EnqueueOptions {
                    at,
                    last_attempt,
                    written: Some(written),
                    durable: false,
                },
            )
            .map_err(|e| e.to_string())?;
        if retry {
            retried += count;
        }
        bytes += msg.len() as u64;
        ids.extend(made.entries.into_iter().map(|e| e.id.to_string()));
    }
    Ok((ids, retried, bytes))
}
