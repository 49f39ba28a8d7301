//! Test support: real queues built in temporary folders the way the Kannader
//! writer lays them out, hostile variations of them, and a helper that runs
//! the real `mqctl` binary on them.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use assert_cmd::Command;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use tempfile::TempDir;

/// The clock every test runs `mqctl` with (`MQCTL_NOW`): five minutes after
/// the fixture queue was written.
pub const NOW: &str = "2026-11-22T20:40:00Z";

pub fn now() -> Timestamp {
    NOW.parse().unwrap()
}

/// `NOW` moved by `minutes`, in the writer's format (whole seconds: no fraction).
pub fn at_mins(minutes: i64) -> String {
    format_ts(now() + SignedDuration::from_mins(minutes))
}

/// A time the way the writer (chrono's serde) writes it: UTC, `Z`, a fraction
/// of 3, 6 or 9 digits only when it is not zero.
pub fn format_ts(t: Timestamp) -> String {
    let base = t.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let ns = t.subsec_nanosecond();
    if ns == 0 {
        format!("{base}Z")
    } else if ns % 1_000_000 == 0 {
        format!("{base}.{:03}Z", ns / 1_000_000)
    } else if ns % 1_000 == 0 {
        format!("{base}.{:06}Z", ns / 1_000)
    } else {
        format!("{base}.{ns:09}Z")
    }
}

/// The state folders an entry's symlink can live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Queue,
    Inflight,
    Cleanup,
    Hold,
}

impl State {
    pub fn dir(self) -> &'static str {
        match self {
            State::Queue => "queue",
            State::Inflight => "inflight",
            State::Cleanup => "cleanup",
            State::Hold => "hold",
        }
    }
}

/// A fresh lowercase hyphenated UUID v4, as the writer names things.
pub fn uuid() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// The writer's JSON for an address typed as `local@domain` (the null sender
/// `<>` is `null`). Covers Ascii, QuotedAscii, Utf8 and QuotedUtf8 local
/// parts and ASCII, IPv4 and IPv6 hostnames; a UTF-8 domain needs its
/// punycode, so build it with `utf8_domain_address`.
pub fn address_json(s: &str) -> String {
    if s == "<>" {
        return "null".to_string();
    }
    let (local, domain) = s.rsplit_once('@').expect("address with @");
    let kind = match (local.starts_with('"'), local.is_ascii()) {
        (true, true) => "QuotedAscii",
        (true, false) => "QuotedUtf8",
        (false, true) => "Ascii",
        (false, false) => "Utf8",
    };
    let host = if let Some(ip) = domain.strip_prefix("[IPv6:").and_then(|r| r.strip_suffix(']')) {
        format!(r#"{{"Ipv6":{{"raw":{},"ip":{}}}}}"#, json_str(domain), json_str(ip))
    } else if let Some(ip) = domain.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        format!(r#"{{"Ipv4":{{"raw":{},"ip":{}}}}}"#, json_str(domain), json_str(ip))
    } else {
        assert!(domain.is_ascii(), "a UTF-8 domain needs utf8_domain_address");
        format!(r#"{{"AsciiDomain":{{"raw":{}}}}}"#, json_str(domain))
    };
    format!(
        r#"{{"localpart":{{"{kind}":{{"raw":{}}}}},"hostname":{host}}}"#,
        json_str(local)
    )
}

/// The writer's JSON for an address with a `Utf8Domain` hostname.
pub fn utf8_domain_address(local: &str, domain: &str, punycode: &str) -> String {
    let kind = if local.is_ascii() { "Ascii" } else { "Utf8" };
    format!(
        r#"{{"localpart":{{"{kind}":{{"raw":{}}}}},"hostname":{{"Utf8Domain":{{"raw":{},"punycode":{}}}}}}}"#,
        json_str(local),
        json_str(domain),
        json_str(punycode)
    )
}

/// The writer's `metadata` text, in its key order.
pub fn metadata_json(from: &str, to: &str) -> String {
    format!(r#"{{"from":{from},"to":{to},"metadata":null}}"#)
}

/// The writer's `schedule` text (no trailing newline).
pub fn schedule_json(at: &str, last_attempt: Option<&str>) -> String {
    let last = last_attempt.map_or("null".to_string(), json_str);
    format!(r#"{{"at":{},"last_attempt":{last}}}"#, json_str(at))
}

fn mkdir(p: &Path) {
    fs::DirBuilder::new().mode(0o700).create(p).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o700)).unwrap();
}

fn write_0600(p: &Path, bytes: &[u8]) {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(p)
        .unwrap_or_else(|e| panic!("creating {}: {e}", p.display()));
    std::io::Write::write_all(&mut f, bytes).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o600)).unwrap();
}

/// A queue in a temporary folder, removed when dropped.
pub struct TestQueue {
    tmp: TempDir,
    root: PathBuf,
}

impl TestQueue {
    /// An empty queue: `data/ queue/ inflight/ cleanup/`, all 0700.
    pub fn new() -> TestQueue {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("q");
        mkdir(&root);
        for d in ["data", "queue", "inflight", "cleanup"] {
            mkdir(&root.join(d));
        }
        TestQueue { tmp, root }
    }

    /// The queue the real writer wrote (tests/fixtures), unpacked unchanged.
    pub fn fixture() -> TestQueue {
        let tmp = tempfile::tempdir().unwrap();
        let tarball = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kannader-written-queue.tar.gz");
        let st = std::process::Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(tmp.path())
            .status()
            .expect("running tar");
        assert!(st.success(), "tar failed to unpack the fixture");
        let root = tmp.path().join("queue");
        assert!(root.join("data").is_dir(), "the fixture unpacks to queue/data");
        TestQueue { tmp, root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path under the queue root.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// A folder next to the queue (inside the same temporary folder) for
    /// things the queue's links must never reach.
    pub fn outside(&self) -> PathBuf {
        let p = self.tmp.path().join("outside");
        if !p.exists() {
            mkdir(&p);
        }
        p
    }

    /// The temporary folder holding the queue root (and `outside/`).
    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }

    /// `mqctl` pointed at this queue, with the fixed clock.
    pub fn cmd(&self) -> Command {
        let mut c = mqctl();
        c.env("MQCTL_QUEUE", &self.root);
        c
    }

    /// Starts a new entry (a new mail with one recipient, unless `in_mail`).
    pub fn entry(&self) -> EntryBuilder<'_> {
        EntryBuilder::new(self)
    }

    /// Writes a symlink `<state>/<name> -> target`, whatever the text.
    pub fn plant_link(&self, state: State, name: impl AsRef<OsStr>, target: impl AsRef<OsStr>) -> PathBuf {
        let dir = self.path(state.dir());
        if !dir.exists() {
            mkdir(&dir);
        }
        let p = dir.join(name.as_ref());
        std::os::unix::fs::symlink(target.as_ref(), &p).unwrap();
        p
    }

    /// Creates a regular file (0600) at `rel`, with its parent folders (0700).
    pub fn plant_file(&self, rel: impl AsRef<Path>, bytes: &[u8]) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .unwrap();
        }
        write_0600(&p, bytes);
        p
    }

    /// Replaces the contents of an existing file (e.g. with broken JSON).
    pub fn overwrite(&self, rel: impl AsRef<Path>, bytes: &[u8]) {
        fs::write(self.path(rel), bytes).unwrap();
    }

    /// Removes a file.
    pub fn remove(&self, rel: impl AsRef<Path>) {
        fs::remove_file(self.path(rel)).unwrap();
    }

    /// Replaces a file by a FIFO (nothing ever writes to it).
    pub fn replace_with_fifo(&self, rel: impl AsRef<Path>) {
        let p = self.path(rel);
        let _ = fs::remove_file(&p);
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    }

    /// Replaces a file by a sparse file of `len` bytes (no disk used).
    pub fn replace_with_sparse(&self, rel: impl AsRef<Path>, len: u64) {
        let p = self.path(rel);
        let _ = fs::remove_file(&p);
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p)
            .unwrap();
        f.set_len(len).unwrap();
    }

    /// Everything under the root: path → kind, mode, size, link text or
    /// file bytes. Two equal snapshots mean nothing was changed.
    pub fn snapshot(&self) -> BTreeMap<String, String> {
        snapshot_tree(&self.root)
    }
}

/// See `TestQueue::snapshot`. Files with more than one link (which may be
/// outside the queue too) and large files are described, not read.
pub fn snapshot_tree(root: &Path) -> BTreeMap<String, String> {
    walk_tree(root, true)
}

/// Like `snapshot_tree`, without opening any file (so access times stay).
pub fn stat_tree(root: &Path) -> BTreeMap<String, String> {
    walk_tree(root, false)
}

fn walk_tree(root: &Path, read: bool) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, read: bool, out: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let mode = m.mode();
            let desc = if m.file_type().is_symlink() {
                format!("link {:o} -> {:?}", mode, fs::read_link(&p).unwrap())
            } else if m.is_dir() {
                walk(root, &p, read, out);
                format!("dir {mode:o}")
            } else if read && m.is_file() && m.nlink() == 1 && m.len() < 1 << 20 {
                format!("file {mode:o} {:?}", fs::read(&p).unwrap())
            } else {
                format!(
                    "other {mode:o} size {} links {} mtime {}.{}",
                    m.len(),
                    m.nlink(),
                    m.mtime(),
                    m.mtime_nsec()
                )
            };
            out.insert(rel, desc);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, read, &mut out);
    out
}

/// `mqctl` with a fixed clock, no colors, no queue and no terminal width
/// from the environment.
pub fn mqctl() -> Command {
    let mut c = Command::cargo_bin("mqctl").unwrap();
    c.env_remove("MQCTL_QUEUE")
        .env_remove("COLUMNS")
        .env("MQCTL_NOW", NOW)
        .env("NO_COLOR", "1");
    c
}

/// One entry `EntryBuilder::create` made.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: String,
    pub mail: String,
    pub dest: String,
    pub state: State,
}

impl Created {
    /// `data/<mail>/<dest>`, relative to the root.
    pub fn dest_dir(&self) -> String {
        format!("data/{}/{}", self.mail, self.dest)
    }
    /// `data/<mail>/contents`, relative to the root.
    pub fn contents(&self) -> String {
        format!("data/{}/contents", self.mail)
    }
    /// The entry's symlink, relative to the root.
    pub fn link(&self) -> String {
        format!("{}/{}", self.state.dir(), self.id)
    }
}

/// Builds one entry the writer's way: `data/<mail>/contents`,
/// `data/<mail>/<dest>/{schedule,metadata}`, then the symlink.
pub struct EntryBuilder<'a> {
    q: &'a TestQueue,
    id: String,
    mail: Option<String>,
    dest: String,
    from: String,
    from_text: String,
    to: String,
    to_text: String,
    at: String,
    last_attempt: Option<String>,
    subject: Option<String>,
    headers: Vec<(String, String)>,
    size: Option<usize>,
    age: SignedDuration,
    state: State,
    contents: Option<Vec<u8>>,
    schedule: Option<Vec<u8>>,
    metadata: Option<Vec<u8>>,
}

impl<'a> EntryBuilder<'a> {
    fn new(q: &'a TestQueue) -> Self {
        EntryBuilder {
            q,
            id: uuid(),
            mail: None,
            dest: uuid(),
            from: address_json("alice@example.org"),
            from_text: "alice@example.org".into(),
            to: address_json("bob@example.com"),
            to_text: "bob@example.com".into(),
            at: at_mins(-5),
            last_attempt: None,
            subject: Some("Test message".into()),
            headers: Vec::new(),
            size: None,
            age: SignedDuration::from_mins(5),
            state: State::Queue,
            contents: None,
            schedule: None,
            metadata: None,
        }
    }

    /// The entry's symlink name.
    pub fn id(mut self, id: &str) -> Self {
        self.id = id.into();
        self
    }
    /// Names of the mail and dest folders (default: fresh UUIDs).
    pub fn mail_id(mut self, mail: &str) -> Self {
        self.mail = Some(mail.into());
        self
    }
    pub fn dest_id(mut self, dest: &str) -> Self {
        self.dest = dest.into();
        self
    }
    /// Another recipient of an existing mail (its contents are kept).
    pub fn in_mail(mut self, other: &Created) -> Self {
        self.mail = Some(other.mail.clone());
        self
    }
    /// Envelope sender typed as an address, `<>` for the null sender.
    pub fn from(mut self, a: &str) -> Self {
        self.from = address_json(a);
        self.from_text = a.into();
        self
    }
    /// Envelope sender as the writer's JSON (for hostile raw strings).
    pub fn sender_json(mut self, json: &str) -> Self {
        self.from = json.into();
        self
    }
    pub fn to(mut self, a: &str) -> Self {
        self.to = address_json(a);
        self.to_text = a.into();
        self
    }
    pub fn recipient_json(mut self, json: &str) -> Self {
        self.to = json.into();
        self
    }
    /// Next attempt (RFC 3339), or minutes from `NOW` with `at_in`.
    pub fn at(mut self, t: &str) -> Self {
        self.at = t.into();
        self
    }
    pub fn at_in(mut self, minutes: i64) -> Self {
        self.at = at_mins(minutes);
        self
    }
    pub fn last_attempt(mut self, t: &str) -> Self {
        self.last_attempt = Some(t.into());
        self
    }
    /// A failed attempt `minutes_ago` before `NOW`.
    pub fn tried(mut self, minutes_ago: i64) -> Self {
        self.last_attempt = Some(at_mins(-minutes_ago));
        self
    }
    pub fn subject(mut self, s: &str) -> Self {
        self.subject = Some(s.into());
        self
    }
    pub fn no_subject(mut self) -> Self {
        self.subject = None;
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Pads the body so that `contents` is exactly `n` bytes.
    pub fn size(mut self, n: usize) -> Self {
        self.size = Some(n);
        self
    }
    /// How long before `NOW` the message was written (mtime of `contents`).
    pub fn age(mut self, d: SignedDuration) -> Self {
        self.age = d;
        self
    }
    pub fn age_mins(self, m: i64) -> Self {
        self.age(SignedDuration::from_mins(m))
    }
    pub fn state(mut self, s: State) -> Self {
        self.state = s;
        self
    }
    /// The message bytes as given (no generated headers).
    pub fn contents(mut self, bytes: &[u8]) -> Self {
        self.contents = Some(bytes.into());
        self
    }
    /// `schedule` / `metadata` bytes as given.
    pub fn raw_schedule(mut self, bytes: &[u8]) -> Self {
        self.schedule = Some(bytes.into());
        self
    }
    pub fn raw_metadata(mut self, bytes: &[u8]) -> Self {
        self.metadata = Some(bytes.into());
        self
    }

    fn message(&self) -> Vec<u8> {
        if let Some(c) = &self.contents {
            return c.clone();
        }
        let mut m = String::new();
        let from = if self.from_text == "<>" { "" } else { &self.from_text };
        m.push_str(&format!("From: {from}\r\nTo: {}\r\n", self.to_text));
        if let Some(s) = &self.subject {
            m.push_str(&format!("Subject: {s}\r\n"));
        }
        m.push_str(&format!("Message-ID: <{}@test.example>\r\n", self.id));
        m.push_str("Date: Sun, 22 Nov 2026 20:00:00 +0000\r\n");
        for (n, v) in &self.headers {
            m.push_str(&format!("{n}: {v}\r\n"));
        }
        m.push_str("\r\nHello.\r\n");
        let mut bytes = m.into_bytes();
        if let Some(n) = self.size {
            assert!(
                n >= bytes.len(),
                "size {n} is smaller than the headers ({})",
                bytes.len()
            );
            bytes.resize(n, b'x');
        }
        bytes
    }

    /// Writes the entry and returns its names.
    pub fn create(self) -> Created {
        let q = self.q;
        let new_mail = self.mail.is_none() || !q.path(format!("data/{}", self.mail.as_ref().unwrap())).exists();
        let mail = self.mail.clone().unwrap_or_else(uuid);
        let mail_dir = q.path(format!("data/{mail}"));
        if new_mail {
            mkdir(&mail_dir);
            let contents = mail_dir.join("contents");
            write_0600(&contents, &self.message());
            let written = SystemTime::from(now() - self.age);
            fs::File::options()
                .write(true)
                .open(&contents)
                .unwrap()
                .set_modified(written)
                .unwrap();
        }
        let dest_dir = mail_dir.join(&self.dest);
        mkdir(&dest_dir);
        let schedule = self
            .schedule
            .clone()
            .unwrap_or_else(|| schedule_json(&self.at, self.last_attempt.as_deref()).into_bytes());
        let metadata = self
            .metadata
            .clone()
            .unwrap_or_else(|| metadata_json(&self.from, &self.to).into_bytes());
        write_0600(&dest_dir.join("schedule"), &schedule);
        write_0600(&dest_dir.join("metadata"), &metadata);
        q.plant_link(self.state, &self.id, format!("../data/{mail}/{}", self.dest));
        Created {
            id: self.id,
            mail,
            dest: self.dest,
            state: self.state,
        }
    }
}

/// stdout of a finished command as text (panics on invalid UTF-8).
pub fn stdout_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).expect("stdout is UTF-8")
}

pub fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// `list ARGS --format ids`, as a sorted list.
pub fn list_ids(q: &TestQueue, args: &[&str]) -> Vec<String> {
    let a = q
        .cmd()
        .arg("list")
        .args(args)
        .args(["--format", "ids"])
        .assert()
        .success();
    let mut ids: Vec<String> = stdout_of(&a).lines().map(str::to_string).collect();
    ids.sort();
    ids
}

/// `list ARGS --format json`, parsed.
pub fn list_json(q: &TestQueue, args: &[&str]) -> Vec<Value> {
    let a = q
        .cmd()
        .arg("list")
        .args(args)
        .args(["--format", "json"])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&a.get_output().stdout).expect("list --format json is one JSON document");
    v.as_array().expect("a JSON array").clone()
}

/// The entry with this id in a JSON list.
pub fn by_id<'v>(entries: &'v [Value], id: &str) -> &'v Value {
    entries
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no entry {id} in {entries:#?}"))
}

/// Sorted ids of some created entries.
pub fn ids_of(entries: &[&Created]) -> Vec<String> {
    let mut v: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    v.sort();
    v
}

/// True when `haystack` contains the byte `b`.
pub fn has_byte(haystack: &[u8], b: u8) -> bool {
    haystack.contains(&b)
}

/// Bytes of an `OsStr` (for non-UTF-8 names).
pub fn os_bytes(s: &OsStr) -> &[u8] {
    s.as_bytes()
}

/// Last access time of a file, in nanoseconds (to tell whether it was read).
pub fn atime_ns(p: &Path) -> i128 {
    let m = fs::symlink_metadata(p).unwrap();
    m.atime() as i128 * 1_000_000_000 + m.atime_nsec() as i128
}

/// Sets a file's access time well before its modification time, so that a
/// read of it would move the access time even under `relatime`.
pub fn age_atime(p: &Path) {
    let m = fs::metadata(p).unwrap();
    let old = m.modified().unwrap() - std::time::Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_times(fs::FileTimes::new().set_accessed(old))
        .unwrap();
}
