//! Shared helpers for the tests of the queue-changing commands (`ops_*.rs`):
//! building queues through the library, running `mqctl`, and byte-for-byte
//! snapshots of a queue folder (every path, kind, mode, link text and file
//! bytes) to assert the exact difference a command makes.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::SystemTime;

use jiff::Timestamp;
use mqctl::queue::write::EnqueueOptions;
use mqctl::queue::{Address, Queue, address};

/// The clock of the real-writer fixture.
pub const FIXTURE_NOW: &str = "2026-11-22T20:40:00Z";

/// The four state folders, as named on disk.
pub const STATES: [&str; 4] = ["queue", "inflight", "cleanup", "hold"];

/// One node of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir { mode: u32 },
    File { mode: u32, bytes: Vec<u8> },
    Link { text: Vec<u8> },
    Other { mode: u32 },
}

/// Every path under a root (relative, `/`-separated) and what is there.
pub type Tree = BTreeMap<String, Node>;

/// Snapshots `root` recursively without following any symlink.
pub fn snapshot(root: &Path) -> Tree {
    let mut out = Tree::new();
    walk(root, "", &mut out);
    out
}

fn walk(dir: &Path, rel: &str, out: &mut Tree) {
    for ent in fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display())) {
        let ent = ent.unwrap();
        let name = ent.file_name().into_string().expect("test trees have UTF-8 names");
        let path = ent.path();
        let key = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        let md = fs::symlink_metadata(&path).unwrap();
        let mode = md.permissions().mode() & 0o7777;
        let ft = md.file_type();
        if ft.is_symlink() {
            use std::os::unix::ffi::OsStrExt;
            let text = fs::read_link(&path).unwrap().as_os_str().as_bytes().to_vec();
            out.insert(key, Node::Link { text });
        } else if ft.is_dir() {
            out.insert(key.clone(), Node::Dir { mode });
            walk(&path, &key, out);
        } else if ft.is_file() {
            out.insert(
                key,
                Node::File {
                    mode,
                    bytes: fs::read(&path).unwrap(),
                },
            );
        } else {
            out.insert(key, Node::Other { mode });
        }
    }
}

/// A readable list of what differs between two trees.
pub fn diff(expected: &Tree, actual: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in expected {
        match actual.get(k) {
            None => out.push(format!("missing: {k} ({})", show(v))),
            Some(a) if a != v => out.push(format!("changed: {k}: expected {}, got {}", show(v), show(a))),
            _ => {}
        }
    }
    for (k, v) in actual {
        if !expected.contains_key(k) {
            out.push(format!("unexpected: {k} ({})", show(v)));
        }
    }
    out
}

fn show(n: &Node) -> String {
    match n {
        Node::Dir { mode } => format!("dir {mode:o}"),
        Node::File { mode, bytes } => format!("file {mode:o} {:?}", String::from_utf8_lossy(bytes)),
        Node::Link { text } => format!("link -> {}", String::from_utf8_lossy(text)),
        Node::Other { mode } => format!("other {mode:o}"),
    }
}

/// Asserts two trees are identical, listing every difference when not.
#[track_caller]
pub fn assert_tree(expected: &Tree, actual: &Tree) {
    let d = diff(expected, actual);
    assert!(d.is_empty(), "trees differ:\n  {}", d.join("\n  "));
}

/// Renames a key (and, for a folder, everything under it) in a tree.
pub fn rename_key(t: &mut Tree, from: &str, to: &str) {
    let v = t.remove(from).unwrap_or_else(|| panic!("{from} not in the tree"));
    t.insert(to.to_string(), v);
}

/// Moves the entry `id` from `<from>/` to `<to>/` in an expected tree.
pub fn move_entry(t: &mut Tree, id: &str, from: &str, to: &str) {
    rename_key(t, &format!("{from}/{id}"), &format!("{to}/{id}"));
}

/// Removes a key and everything under it; panics when it is not there.
pub fn remove_tree(t: &mut Tree, key: &str) {
    assert!(t.remove(key).is_some(), "{key} not in the tree");
    let prefix = format!("{key}/");
    t.retain(|k, _| !k.starts_with(&prefix));
}

/// A queue in a temp folder, built through the library the writer's way.
pub struct TestQueue {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub queue: Queue,
}

/// One entry `TestQueue::mail` made.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Made {
    pub id: String,
    pub mail: String,
    pub dest: String,
}

impl Made {
    pub fn link(&self) -> String {
        format!("../data/{}/{}", self.mail, self.dest)
    }
    pub fn dest_rel(&self) -> String {
        format!("data/{}/{}", self.mail, self.dest)
    }
    pub fn mail_rel(&self) -> String {
        format!("data/{}", self.mail)
    }
}

pub fn addr(s: &str) -> Address {
    address::parse(s).unwrap()
}

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

impl TestQueue {
    pub fn new() -> TestQueue {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("q");
        mqctl::demo::create_empty(&root).unwrap();
        let queue = Queue::open(&root).unwrap();
        TestQueue { tmp, root, queue }
    }

    /// Enqueues one mail with one entry per recipient.
    pub fn mail(&self, from: &str, to: &[&str], at: Timestamp, last_attempt: Option<Timestamp>) -> Vec<Made> {
        let from = address::parse_sender(from).unwrap();
        let to: Vec<Address> = to.iter().map(|t| addr(t)).collect();
        let body = format!(
            "From: test@example.org\r\nTo: {}\r\nSubject: test mail\r\n\r\nhello\r\n",
            to[0]
        );
        let e = self
            .queue
            .enqueue(
                from.as_ref(),
                &to,
                body.as_bytes(),
                EnqueueOptions {
                    at,
                    last_attempt,
                    written: None,
                    durable: false,
                },
            )
            .unwrap();
        e.entries
            .iter()
            .map(|n| Made {
                id: n.id.to_string(),
                mail: e.mail.to_string(),
                dest: n.dest.to_string(),
            })
            .collect()
    }

    /// A quick mail: `n` recipients at example.com, due at `at`.
    pub fn simple(&self, n: usize, at: &str) -> Vec<Made> {
        let to: Vec<String> = (0..n).map(|i| format!("rcpt{i}@example.com")).collect();
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        self.mail("alice@example.org", &to, ts(at), None)
    }

    /// Moves an entry's link between state folders with a plain rename (as
    /// the writer does), creating the target folder when needed.
    pub fn put(&self, id: &str, from: &str, to: &str) {
        put(&self.root, id, from, to);
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn snapshot(&self) -> Tree {
        snapshot(&self.root)
    }
}

impl TestQueue {
    /// A queue where bulk tests can afford many files and fsyncs: on tmpfs
    /// (`/dev/shm`) when it has room, else in the default temp folder.
    pub fn new_scratch() -> TestQueue {
        let tmp = scratch_dir();
        let root = tmp.path().join("q");
        mqctl::demo::create_empty(&root).unwrap();
        let queue = Queue::open(&root).unwrap();
        TestQueue { tmp, root, queue }
    }

    /// Adds mails of 1–3 recipients until there are `n` entries (in
    /// parallel, each chunk with its own seeded RNG); returns every entry's
    /// id and link text.
    pub fn fill(&self, n: usize, seed: u64) -> BTreeMap<String, String> {
        use rayon::prelude::*;
        const CHUNK: usize = 500;
        let chunks: Vec<(usize, usize)> = (0..n.div_ceil(CHUNK)).map(|c| (c, CHUNK.min(n - c * CHUNK))).collect();
        chunks
            .par_iter()
            .flat_map_iter(|&(c, want)| self.fill_chunk(want, seed.wrapping_mul(1000).wrapping_add(c as u64)))
            .collect()
    }

    fn fill_chunk(&self, n: usize, seed: u64) -> Vec<(String, String)> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let base = ts("2026-11-23T00:00:00Z");
        let from = addr("bulk@example.org");
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let k = rng.usize(1..=3).min(n - out.len());
            let to: Vec<Address> = (0..k)
                .map(|i| addr(&format!("u{}.{i}@d{}.example", out.len(), rng.u8(..20))))
                .collect();
            let at = base + jiff::SignedDuration::from_mins(rng.i64(-600..600));
            let last = rng.bool().then(|| at - jiff::SignedDuration::from_hours(4));
            let e = self
                .queue
                .enqueue(
                    Some(&from),
                    &to,
                    b"Subject: bulk\r\n\r\nhello\r\n",
                    EnqueueOptions {
                        at,
                        last_attempt: last,
                        written: None,
                        durable: false,
                    },
                )
                .unwrap();
            for n in e.entries {
                out.push((n.id.to_string(), format!("../data/{}/{}", e.mail, n.dest)));
            }
        }
        out
    }

    /// A scratch copy (`cp -a`) of a bulk queue of `n` entries, built once
    /// per test binary and size: building 20,000 entries takes seconds.
    pub fn bulk(n: usize) -> (TestQueue, BTreeMap<String, String>) {
        type Templates = BTreeMap<usize, (tempfile::TempDir, BTreeMap<String, String>)>;
        static TEMPLATES: std::sync::Mutex<Templates> = std::sync::Mutex::new(BTreeMap::new());
        extern "C" fn remove_templates() {
            // Statics are never dropped: remove the templates at exit.
            if let Ok(mut t) = TEMPLATES.try_lock() {
                std::mem::take(&mut *t);
            }
        }
        let mut t = TEMPLATES.lock().unwrap_or_else(|e| e.into_inner());
        if t.is_empty() {
            // SAFETY: registers a plain function; it only drops TempDirs.
            unsafe { libc::atexit(remove_templates) };
        }
        let (dir, initial) = t.entry(n).or_insert_with(|| {
            let q = TestQueue::new_scratch();
            let initial = q.fill(n, n as u64);
            (q.tmp, initial)
        });
        let tmp = scratch_dir();
        let root = tmp.path().join("q");
        let st = Command::new("cp")
            .arg("-a")
            .arg(dir.path().join("q"))
            .arg(&root)
            .status()
            .unwrap();
        assert!(st.success(), "copying the bulk queue failed");
        let queue = Queue::open(&root).unwrap();
        (TestQueue { tmp, root, queue }, initial.clone())
    }
}

/// A temp folder on tmpfs when `/dev/shm` has at least 2 GiB free.
#[allow(clippy::unnecessary_cast)] // c_ulong is not u64 everywhere
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let roomy = nix::sys::statvfs::statvfs(shm)
        .map(|s| s.blocks_available() as u64 * s.fragment_size() as u64 >= 2 << 30)
        .unwrap_or(false);
    if roomy && let Ok(t) = tempfile::Builder::new().prefix("mqctl-test-").tempdir_in(shm) {
        return t;
    }
    tempfile::tempdir().unwrap()
}

impl Default for TestQueue {
    fn default() -> Self {
        TestQueue::new()
    }
}

pub fn put(root: &Path, id: &str, from: &str, to: &str) {
    let dir = root.join(to);
    if !dir.exists() {
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    }
    fs::rename(root.join(from).join(id), dir.join(id)).unwrap();
}

/// Unpacks the real-writer fixture; returns the temp dir and the queue root.
pub fn fixture() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let tgz = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kannader-written-queue.tar.gz");
    let st = Command::new("tar")
        .arg("xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(tmp.path())
        .status()
        .expect("tar is needed to unpack the fixture");
    assert!(st.success(), "unpacking the fixture failed");
    let root = tmp.path().join("queue");
    (tmp, root)
}

/// What a run of mqctl gave.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// The summary line on stderr (the one with `vanished`).
    pub fn summary(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| l.contains(" vanished"))
            .unwrap_or_else(|| panic!("no summary line in stderr:\n{}", self.stderr))
    }

    /// Parses `N <verb>, N vanished[ (…)][, N skipped], N failed`.
    pub fn counts(&self) -> Counts {
        parse_summary(self.summary())
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub done: u64,
    pub vanished: u64,
    pub skipped: u64,
    pub failed: u64,
}

pub fn parse_summary(line: &str) -> Counts {
    let line = line.strip_prefix("dry run, nothing changed: ").unwrap_or(line);
    let num = |part: &str| -> u64 {
        part.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("summary part {part:?} of {line:?} has no count"))
    };
    let mut c = Counts::default();
    for (i, part) in line.split(", ").enumerate() {
        let part = part.trim();
        if i == 0 {
            c.done = num(part);
        } else if part.contains("vanished") {
            c.vanished = num(part);
        } else if part.contains("skipped") {
            c.skipped = num(part);
        } else if part.contains("failed") {
            c.failed = num(part);
        }
    }
    c
}

/// The mqctl binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mqctl")
}

/// A command for `mqctl --queue ROOT ARGS…`, with a clean environment (no
/// inherited MQCTL_* variables, no terminal).
pub fn cmd(root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.arg("--queue").arg(root).args(args);
    c.env_remove("MQCTL_QUEUE").env_remove("MQCTL_NOW").env("NO_COLOR", "1");
    c.stdin(Stdio::null());
    c
}

/// Runs `mqctl --queue ROOT ARGS…` to the end.
pub fn mqctl(root: &Path, args: &[&str]) -> Run {
    cmd(root, args).output().unwrap().into()
}

/// Runs `mqctl` with `MQCTL_NOW` set.
pub fn mqctl_at(root: &Path, now: &str, args: &[&str]) -> Run {
    cmd(root, args).env("MQCTL_NOW", now).output().unwrap().into()
}

/// The entries of a queue: id → (state folder, link text).
pub fn entries(root: &Path) -> BTreeMap<String, (String, Vec<u8>)> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = BTreeMap::new();
    for s in STATES {
        let dir = root.join(s);
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for ent in rd {
            let ent = ent.unwrap();
            let id = ent.file_name().into_string().unwrap();
            let text = fs::read_link(ent.path()).unwrap().as_os_str().as_bytes().to_vec();
            if let Some((prev, _)) = out.insert(id.clone(), (s.to_string(), text)) {
                panic!("entry {id} is in both {prev}/ and {s}/");
            }
        }
    }
    out
}

/// How many names a folder holds (0 when it does not exist).
pub fn count(dir: &Path) -> usize {
    fs::read_dir(dir).map(|rd| rd.count()).unwrap_or(0)
}

/// Sets the modification time of a path (file or folder, not followed).
pub fn set_mtime(path: &Path, t: SystemTime) {
    let f = fs::File::open(path).unwrap();
    f.set_modified(t).unwrap();
}

/// Sets the modification time of everything under `path` (and itself),
/// deepest first, so setting a child does not bump its folder again.
pub fn set_mtime_tree(path: &Path, t: SystemTime) {
    if fs::symlink_metadata(path).unwrap().is_dir() {
        for ent in fs::read_dir(path).unwrap() {
            set_mtime_tree(&ent.unwrap().path(), t);
        }
    }
    set_mtime(path, t);
}

/// The owner of a path (to check mqctl keeps the writer's).
pub fn owner(path: &Path) -> (u32, u32) {
    let md = fs::symlink_metadata(path).unwrap();
    (md.uid(), md.gid())
}

/// Every `schedule.<x>` / `metadata.<x>` file under `data/`.
pub fn temp_files(root: &Path) -> Vec<String> {
    snapshot(&root.join("data"))
        .keys()
        .filter(|k| {
            let name = k.rsplit('/').next().unwrap();
            name.starts_with("schedule.") || name.starts_with("metadata.")
        })
        .cloned()
        .collect()
}
