//! Shared helpers for the hostile-input suite (`tests/security.rs`): a
//! queue in a temp dir with a sentinel tree beside it, a runner for the real
//! binary that checks the sentinel after every command, and inventories of
//! the queue (mail contents, entry states) to prove nothing was lost.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use mqctl::queue::write::EnqueueOptions;
use mqctl::queue::{EntryId, Queue, address};
use serde_json::Value;

/// Every command gets this long before it counts as a hang.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// The four state folders an entry's link can be in.
pub const STATES: [&str; 4] = ["queue", "inflight", "cleanup", "hold"];

/// One node of a tree, described without following links: what it is, its
/// owner and mode, its modification time and its bytes (or link text).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Node {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: (i64, i64),
    pub len: u64,
    pub digest: u64,
}

pub type Snapshot = BTreeMap<PathBuf, Node>;

fn digest(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// Hashes a tree (paths, kinds, modes, owners, bytes, mtimes) without
/// following any symlink. Files over 16 MiB are described by size only.
pub fn snapshot(root: &Path) -> Snapshot {
    let mut out = Snapshot::new();
    walk(root, Path::new(""), &mut out);
    out
}

fn walk(base: &Path, rel: &Path, out: &mut Snapshot) {
    let path = base.join(rel);
    let Ok(m) = std::fs::symlink_metadata(&path) else {
        return;
    };
    let ft = m.file_type();
    let (kind, digest_v) = if ft.is_symlink() {
        let t = std::fs::read_link(&path).unwrap();
        ("symlink", digest(t.as_os_str().as_bytes()))
    } else if ft.is_dir() {
        ("dir", 0)
    } else if ft.is_file() {
        let d = if m.len() <= 16 << 20 {
            digest(&std::fs::read(&path).unwrap())
        } else {
            0
        };
        ("file", d)
    } else {
        ("special", 0)
    };
    // A folder's mtime changes when a name inside it changes: that is
    // visible through its children, and folders we own may be listed.
    let mtime = if kind == "dir" {
        (0, 0)
    } else {
        (m.mtime(), m.mtime_nsec())
    };
    out.insert(
        rel.to_path_buf(),
        Node {
            kind,
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            mtime,
            len: if kind == "dir" { 0 } else { m.len() },
            digest: digest_v,
        },
    );
    if kind == "dir" {
        let mut names: Vec<_> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for n in names {
            walk(base, &rel.join(n), out);
        }
    }
}

/// A result of running the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub args: Vec<String>,
}

impl Run {
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("{:?}: stdout is not JSON ({e}):\n{}", self.args, self.out()))
    }
    pub fn jsonl(&self) -> Vec<Value> {
        self.out()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{:?}: bad JSON line {l:?}: {e}", self.args)))
            .collect()
    }
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            code,
            "mqctl {:?}: exit {} (wanted {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.args,
            self.code,
            self.out(),
            self.stderr
        );
        self
    }
}

/// A hostile-queue fixture: `base/q` is the queue (writer-shaped, 0700),
/// `base/sentinel` a tree the traps point at. The sentinel is hashed at the
/// start and compared after every command.
pub struct Fx {
    pub tmp: tempfile::TempDir,
    pub base: PathBuf,
    pub root: PathBuf,
    pub sentinel: PathBuf,
    sentinel_before: Snapshot,
    /// `MQCTL_NOW` for every command, when set.
    pub now: Option<Timestamp>,
}

/// The name of the writer-shaped dest folder in `sentinel/mail/`.
pub const FAKE_DEST: &str = "0b6c4a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

/// A fresh entry id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

pub const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/bash\nsentinel:x:1000:1000::/home/s:/bin/sh\n";

impl Fx {
    pub fn new() -> Fx {
        Fx::new_in(None)
    }

    /// Like `new`, with the queue at `root` (e.g. on a tmpfs) instead of
    /// `base/q`.
    /// For the big cases: on /dev/shm (memory) when there is one, where
    /// file operations are many times faster than on a VM's disk.
    pub fn in_memory() -> Fx {
        let shm = Path::new("/dev/shm");
        let tmp = if shm.is_dir() {
            tempfile::Builder::new().prefix("mqctl-sec-").tempdir_in(shm)
        } else {
            tempfile::Builder::new().prefix("mqctl-sec-").tempdir()
        };
        Fx::with_tmp(tmp.unwrap(), None)
    }

    pub fn new_in(root: Option<PathBuf>) -> Fx {
        let tmp = tempfile::Builder::new().prefix("mqctl-sec-").tempdir().unwrap();
        Fx::with_tmp(tmp, root)
    }

    fn with_tmp(tmp: tempfile::TempDir, root: Option<PathBuf>) -> Fx {
        let base = tmp.path().to_path_buf();
        let sentinel = base.join("sentinel");
        make_sentinel(&sentinel);
        let root = root.unwrap_or_else(|| base.join("q"));
        mqctl::demo::create_empty(&root).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).unwrap();
        let sentinel_before = snapshot(&sentinel);
        Fx {
            tmp,
            base,
            root,
            sentinel,
            sentinel_before,
            now: None,
        }
    }

    pub fn open(&self) -> Queue {
        Queue::open(&self.root).unwrap()
    }

    /// Enqueues one message with the library (the writer's shape), due a
    /// minute ago. Returns the mail id and `(entry id, dest id)` per recipient.
    pub fn enqueue(&self, from: &str, to: &[&str], body: &[u8]) -> Mail {
        let q = self.open();
        let from = address::parse_sender(from).unwrap();
        let to: Vec<_> = to.iter().map(|t| address::parse(t).unwrap()).collect();
        let e = q
            .enqueue(
                from.as_ref(),
                &to,
                body,
                EnqueueOptions {
                    at: Timestamp::now() - SignedDuration::from_secs(60),
                    last_attempt: None,
                    written: None,
                    durable: false,
                },
            )
            .unwrap();
        Mail {
            mail: e.mail.to_string(),
            entries: e
                .entries
                .iter()
                .map(|n| (n.id.as_bytes().to_vec(), n.dest.to_string()))
                .map(|(id, d)| (String::from_utf8(id).unwrap(), d))
                .collect(),
        }
    }

    /// A simple message with a Message-ID of its own.
    pub fn mail(&self, to: &[&str]) -> Mail {
        let body = format!(
            "From: alice@example.org\r\nTo: {}\r\nSubject: hello {}\r\nMessage-ID: <{}@example.org>\r\n\r\nbody\r\n",
            to.join(", "),
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4()
        );
        self.enqueue("alice@example.org", to, body.as_bytes())
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Runs `mqctl ARGS` on the queue, with a timeout; stdin is empty.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, b"", |_| {})
    }

    /// Runs `mqctl ARGS` with `stdin` and extra setup of the command.
    pub fn run_with(&self, args: &[&str], stdin: &[u8], setup: impl FnOnce(&mut std::process::Command)) -> Run {
        let mut std_cmd = self.command(args);
        setup(&mut std_cmd);
        let mut cmd = assert_cmd::Command::from_std(std_cmd);
        cmd.timeout(TIMEOUT).write_stdin(stdin.to_vec());
        let out: Output = cmd.output().unwrap();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let code = out.status.code().unwrap_or_else(|| {
            panic!(
                "mqctl {args:?} did not exit (hung past {TIMEOUT:?} and was killed, or died by a signal: {:?})\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let run = Run {
            code,
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            args,
        };
        self.assert_sentinel_intact(&format!("after mqctl {:?}", run.args));
        run
    }

    /// The command `run` runs, to spawn it yourself.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("mqctl"));
        cmd.args(args)
            .env("MQCTL_QUEUE", &self.root)
            .env("NO_COLOR", "1")
            .env_remove("MQCTL_NOW")
            .env("COLUMNS", "200");
        if let Some(now) = self.now {
            cmd.env("MQCTL_NOW", now.to_string());
        }
        cmd
    }

    #[track_caller]
    pub fn assert_sentinel_intact(&self, when: &str) {
        let now = snapshot(&self.sentinel);
        if now != self.sentinel_before {
            let before: BTreeSet<_> = self.sentinel_before.iter().collect();
            let after: BTreeSet<_> = now.iter().collect();
            panic!(
                "the sentinel tree outside the queue changed {when}:\n gone or changed: {:?}\n new or changed: {:?}",
                before.difference(&after).collect::<Vec<_>>(),
                after.difference(&before).collect::<Vec<_>>()
            );
        }
    }

    /// `check --format json`: exit code and the findings.
    pub fn check(&self) -> (i32, Vec<Value>) {
        let r = self.run(&["check", "--format", "json"]);
        assert!(
            r.code == 0 || r.code == 4,
            "check exited {}: {}\n{}",
            r.code,
            r.stderr,
            r.out()
        );
        let v = r.json();
        let problems = v["problems"].as_array().cloned().unwrap_or_default();
        assert_eq!(v["count"].as_u64(), Some(problems.len() as u64));
        assert_eq!(
            r.code == 4,
            !problems.is_empty(),
            "exit 4 exactly when problems are found"
        );
        (r.code, problems)
    }

    /// Asserts `check` exits 4 and reports each `(code, path)`; returns all findings.
    #[track_caller]
    pub fn expect_findings(&self, want: &[(&str, &str)]) -> Vec<Value> {
        let (code, found) = self.check();
        assert_eq!(code, 4, "check should find problems: {found:#?}");
        for (c, p) in want {
            assert!(
                found.iter().any(|f| f["code"] == *c && f["path"] == *p),
                "check did not report [{c}] at {p}; it reported:\n{}",
                serde_json::to_string_pretty(&found).unwrap()
            );
        }
        for f in &found {
            for k in ["path", "code", "problem", "repair"] {
                assert!(f[k].as_str().is_some_and(|s| !s.is_empty()), "finding without {k}: {f}");
            }
        }
        found
    }

    /// `check --repair --yes --format json`: asserts the exit code and that
    /// every repair is `repaired` (or `manual` when the code says a person
    /// must look). Returns the repairs.
    #[track_caller]
    pub fn repair(&self, code: i32) -> Vec<Value> {
        let r = self.run(&["check", "--repair", "--yes", "--format", "json"]);
        r.expect(code);
        let v = r.json();
        let reps = v["repairs"].as_array().cloned().unwrap_or_default();
        if code == 0 {
            for rep in &reps {
                assert!(
                    rep["result"] == "repaired" || rep["result"] == "vanished",
                    "repair not done: {rep}\n{}",
                    r.stderr
                );
            }
        }
        reps
    }

    /// `check` exits 0 with no finding.
    #[track_caller]
    pub fn expect_clean(&self) {
        let (code, found) = self.check();
        assert_eq!(
            code,
            0,
            "check should be clean now, found:\n{}",
            serde_json::to_string_pretty(&found).unwrap()
        );
    }

    /// `list --format jsonl` (exit 0); the objects by id.
    #[track_caller]
    pub fn list(&self) -> BTreeMap<String, Value> {
        let r = self.run(&["list", "--format", "jsonl"]);
        r.expect(0);
        let mut out = BTreeMap::new();
        for v in r.jsonl() {
            out.insert(v["id"].as_str().unwrap().to_string(), v);
        }
        // The table goes on past broken entries too.
        self.run(&["list"]).expect(0);
        out
    }

    /// Asserts `list` shows each broken id with a problem and each good id
    /// without one.
    #[track_caller]
    pub fn expect_listed(&self, broken: &[&str], good: &[&str]) -> BTreeMap<String, Value> {
        let l = self.list();
        for id in broken {
            let e = l
                .get(*id)
                .unwrap_or_else(|| panic!("broken entry {id} not listed: {l:#?}"));
            assert!(
                e["problem"].is_string(),
                "broken entry {id} listed without a problem: {e}"
            );
        }
        for id in good {
            let e = l
                .get(*id)
                .unwrap_or_else(|| panic!("good entry {id} not listed: {l:#?}"));
            assert!(e["problem"].is_null(), "good entry {id} listed with a problem: {e}");
            assert!(
                e["to"].is_string() && e["at"].is_string(),
                "good entry {id} not read: {e}"
            );
        }
        l
    }

    /// `drop --all --yes` then `purge --min-age 0s`, both exit 0; afterwards
    /// nothing is left in queue/, hold/ or cleanup/ (a fresh inflight entry
    /// is left alone: a writer may be sending it).
    #[track_caller]
    pub fn drop_and_purge(&self) {
        self.run(&["drop", "--all", "--yes"]).expect(0);
        self.run(&["purge", "--min-age", "0s"]).expect(0);
        let left: Vec<_> = entries(&self.root)
            .into_keys()
            .filter(|(s, _)| s != "inflight")
            .collect();
        assert!(left.is_empty(), "entries left after drop + purge: {left:?}");
    }

    /// Replaces (or creates) the symlink `state/name` with `target`.
    pub fn set_link(&self, state: &str, name: &[u8], target: &[u8]) {
        let p = self.root.join(state).join(OsStr::from_bytes(name));
        let _ = std::fs::remove_file(&p);
        std::os::unix::fs::symlink(OsStr::from_bytes(target), &p).unwrap();
    }

    /// The text of the link `state/name`.
    pub fn link_text(&self, state: &str, name: &str) -> Vec<u8> {
        std::fs::read_link(self.root.join(state).join(name))
            .unwrap()
            .as_os_str()
            .as_bytes()
            .to_vec()
    }

    /// Sets the modification time of `rel` and everything under it.
    pub fn age_tree(&self, rel: &str, secs: i64) {
        let base = self.p(rel);
        for (p, _) in snapshot(&base) {
            set_age(&base.join(p), secs);
        }
    }

    /// The mail contents under quarantine/ only.
    pub fn quarantine_contents(&self) -> Inventory {
        let mut inv = self.contents();
        for v in inv.values_mut() {
            v.retain(|(p, _, _)| p.starts_with("quarantine"));
        }
        inv.retain(|_, v| !v.is_empty());
        inv
    }

    /// The notes of every quarantine run.
    pub fn notes(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let Ok(dirs) = std::fs::read_dir(self.p("quarantine")) else {
            return out;
        };
        for d in dirs {
            let p = d.unwrap().path().join("notes.jsonl");
            if let Ok(text) = std::fs::read_to_string(&p) {
                for l in text.lines() {
                    out.push(serde_json::from_str(l).unwrap_or_else(|e| panic!("{p:?}: bad note {l:?}: {e}")));
                }
            }
        }
        out
    }

    /// True when `rel` (e.g. `queue/<id>`) is now under `quarantine/<time>/`.
    pub fn quarantined(&self, rel: &str) -> bool {
        std::fs::read_dir(self.p("quarantine")).is_ok_and(|dirs| {
            dirs.into_iter()
                .any(|d| std::fs::symlink_metadata(d.unwrap().path().join(rel)).is_ok())
        })
    }

    /// Asserts `rel` moved to quarantine/ with a note of why (`code`).
    #[track_caller]
    pub fn expect_quarantined(&self, rel: &str, code: &str) {
        assert!(
            std::fs::symlink_metadata(self.p(rel)).is_err(),
            "{rel} is still in place after --repair"
        );
        assert!(self.quarantined(rel), "{rel} is not under quarantine/");
        let notes = self.notes();
        // Notes name paths as displayed: escaped.
        let shown = mqctl::output::escape_bytes(rel.as_bytes());
        assert!(
            notes.iter().any(|n| n["path"] == *shown
                && n["code"] == code
                && n["moved_to"].as_str().is_some_and(|m| m.ends_with(&*shown))),
            "no note for {rel} [{code}] in quarantine/*/notes.jsonl: {notes:#?}"
        );
    }

    /// Every regular `contents` file in data/ and quarantine/, by mail id.
    pub fn contents(&self) -> Inventory {
        contents_inventory(&self.root)
    }

    /// Asserts every mail of `before` is still in data/ or quarantine/,
    /// byte-identical.
    #[track_caller]
    pub fn expect_no_mail_lost(&self, before: &Inventory, when: &str) {
        let now = self.contents();
        for (mail, (len, d)) in &mails(before) {
            match now.get(mail) {
                Some(places) => assert!(
                    places.iter().all(|(_, l, dd)| l == len && dd == d),
                    "{when}: contents of mail {mail} changed: {places:?}"
                ),
                None => panic!("{when}: contents of mail {mail} were lost (not in data/ nor quarantine/)"),
            }
        }
    }

    /// Sets the modification time of `rel` to `secs` seconds ago (no link
    /// followed).
    pub fn age(&self, rel: &str, secs: i64) {
        set_age(&self.p(rel), secs);
    }
}

impl Default for Fx {
    fn default() -> Self {
        Fx::new()
    }
}

pub fn set_age(p: &Path, secs: i64) {
    use nix::sys::stat::{UtimensatFlags, utimensat};
    use nix::sys::time::TimeSpec;
    let t = Timestamp::now().as_second() - secs;
    let ts = TimeSpec::new(t, 0);
    utimensat(nix::fcntl::AT_FDCWD, p, &ts, &ts, UtimensatFlags::NoFollowSymlink).unwrap();
}

/// A mail made by `Fx::enqueue`.
#[derive(Debug, Clone)]
pub struct Mail {
    pub mail: String,
    /// `(entry id, dest id)` per recipient.
    pub entries: Vec<(String, String)>,
}

impl Mail {
    pub fn id(&self) -> &str {
        &self.entries[0].0
    }
    pub fn dest(&self) -> &str {
        &self.entries[0].1
    }
    pub fn link(&self) -> String {
        format!("../data/{}/{}", self.mail, self.dest())
    }
    pub fn dest_rel(&self) -> String {
        format!("data/{}/{}", self.mail, self.dest())
    }
}

/// mail id -> every place its regular `contents` file is: (path, len, digest).
pub type Inventory = BTreeMap<String, Vec<(PathBuf, u64, u64)>>;

/// Regular `contents` files in `data/<mail>/` and anywhere under
/// `quarantine/`, keyed by the name of their folder.
pub fn contents_inventory(root: &Path) -> Inventory {
    let mut out = Inventory::new();
    let snap = snapshot(root);
    for (rel, n) in &snap {
        let under = rel.starts_with("data") || rel.starts_with("quarantine");
        if !under || n.kind != "file" || rel.file_name() != Some(OsStr::new("contents")) {
            continue;
        }
        let mail = rel.parent().and_then(|p| p.file_name()).unwrap();
        out.entry(mail.to_string_lossy().into_owned())
            .or_default()
            .push((rel.clone(), n.len, n.digest));
    }
    out
}

/// Simplify an inventory to one (len, digest) per mail, asserting every copy agrees.
pub fn mails(inv: &Inventory) -> BTreeMap<String, (u64, u64)> {
    inv.iter()
        .map(|(m, v)| {
            let (_, l, d) = v[0].clone();
            (m.clone(), (l, d))
        })
        .collect()
}

/// Every name in the four state folders: (state, name) -> link text (or
/// the kind of file when it is not a link).
pub fn entries(root: &Path) -> BTreeMap<(String, Vec<u8>), Vec<u8>> {
    let mut out = BTreeMap::new();
    for s in STATES {
        let Ok(rd) = std::fs::read_dir(root.join(s)) else {
            continue;
        };
        for e in rd {
            let e = e.unwrap();
            let text = match std::fs::read_link(e.path()) {
                Ok(t) => t.as_os_str().as_bytes().to_vec(),
                Err(_) => b"<not a link>".to_vec(),
            };
            out.insert((s.to_string(), e.file_name().as_bytes().to_vec()), text);
        }
    }
    out
}

/// Each entry name -> the state folders holding it.
pub fn states_by_id(root: &Path) -> BTreeMap<Vec<u8>, Vec<String>> {
    let mut out: BTreeMap<Vec<u8>, Vec<String>> = BTreeMap::new();
    for (s, n) in entries(root).into_keys() {
        out.entry(n).or_default().push(s);
    }
    out
}

fn make_sentinel(s: &Path) {
    let etc = s.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("passwd"), PASSWD).unwrap();
    std::fs::write(etc.join("shadow"), b"root:$6$secret:19000:0:99999:7:::\n").unwrap();
    std::fs::set_permissions(etc.join("shadow"), std::fs::Permissions::from_mode(0o640)).unwrap();
    // A writer-shaped mail and dest outside the queue: what a link into the
    // sentinel would make mqctl read, move or delete if it were followed.
    let m = s.join("mail");
    let d = m.join(FAKE_DEST);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(m.join("contents"), b"Subject: outside\r\n\r\nnot queue mail\r\n").unwrap();
    std::fs::write(
        d.join("schedule"),
        br#"{"at":"2020-01-01T00:00:00Z","last_attempt":null}"#,
    )
    .unwrap();
    std::fs::write(
        d.join("metadata"),
        br#"{"from":null,"to":{"localpart":{"Ascii":{"raw":"root"}},"hostname":{"AsciiDomain":{"raw":"example.com"}}},"metadata":null}"#,
    )
    .unwrap();
    std::fs::write(d.join(format!("schedule.{FAKE_DEST}")), b"{}").unwrap();
    for p in [m.join("contents"), d.join("schedule"), d.join("metadata")] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::set_permissions(s, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Asserts no raw control byte (other than newline) reaches the output; for
/// text meant for people (`human`), no C1 control or bidi override either.
#[track_caller]
pub fn assert_no_raw_controls(what: &str, bytes: &[u8], human: bool) {
    for (i, &b) in bytes.iter().enumerate() {
        let bad = (b < 0x20 && b != b'\n') || b == 0x7f;
        assert!(
            !bad,
            "{what}: raw control byte 0x{b:02x} at {i}: {:?}",
            String::from_utf8_lossy(&bytes[i.saturating_sub(40)..(i + 40).min(bytes.len())])
        );
    }
    let s = String::from_utf8_lossy(bytes);
    if !human {
        return;
    }
    for c in ['\u{9b}', '\u{202e}', '\u{2066}'] {
        assert!(!s.contains(c), "{what}: raw {c:?} in output");
    }
}

/// True when running as root (some cases need it).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// `EntryId` of a string, for library calls.
pub fn eid(s: &str) -> EntryId {
    EntryId::new(s.as_bytes())
}

/// `chown -R -h uid:gid path`.
pub fn chown_r(path: &Path, uid: u32, gid: u32) {
    for (rel, _) in snapshot(path) {
        std::os::unix::fs::lchown(path.join(rel), Some(uid), Some(gid)).unwrap();
    }
}

/// Sets the mode of `p` (not following a symlink at `p` is not needed here:
/// only folders and files we made are chmodded).
pub fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Parses `N <verb>, M vanished…` from a summary line on stderr.
pub fn summary_counts(stderr: &str, verb: &str) -> Option<(u64, u64, u64)> {
    let line = stderr.lines().find(|l| l.contains(&format!(" {verb}, ")))?;
    let num = |key: &str| -> Option<u64> {
        let i = line.find(key)?;
        line[..i].trim_end().rsplit([' ', ',']).next()?.parse().ok()
    };
    Some((num(&format!(" {verb}"))?, num(" vanished")?, num(" failed")?))
}

/// Asserts each of `ids` is in exactly one state folder, and that no name
/// is in two.
#[track_caller]
pub fn assert_one_state(root: &Path, ids: &[String]) -> BTreeMap<Vec<u8>, Vec<String>> {
    let by_id = states_by_id(root);
    for (id, states) in &by_id {
        assert_eq!(states.len(), 1, "{} is in {states:?}", String::from_utf8_lossy(id));
    }
    for id in ids {
        assert!(by_id.contains_key(id.as_bytes()), "entry {id} is in no state folder");
    }
    by_id
}

/// Asserts the schedule and metadata of every entry in queue/ and hold/
/// parse: the writer can read the queue.
#[track_caller]
pub fn assert_readable(root: &Path) {
    for ((state, name), text) in entries(root) {
        if state != "queue" && state != "hold" {
            continue;
        }
        let link = mqctl::queue::Link::parse(&text)
            .unwrap_or_else(|| panic!("{state}/{} has a bad link", String::from_utf8_lossy(&name)));
        let dest = root.join("data").join(link.dest_path());
        let s = std::fs::read(dest.join("schedule")).unwrap();
        mqctl::queue::parse::schedule(&s).unwrap_or_else(|e| panic!("{dest:?}/schedule: {e}"));
        let m = std::fs::read(dest.join("metadata")).unwrap();
        mqctl::queue::parse::envelope(&m).unwrap_or_else(|e| panic!("{dest:?}/metadata: {e}"));
        assert!(root.join("data").join(link.mail.to_string()).join("contents").is_file());
    }
}

/// A tmpfs mounted for one test, unmounted when dropped.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "2m") on `path`; `Err` says why not.
    pub fn mount(path: &Path, size: &str) -> Result<Tmpfs, String> {
        if !is_root() {
            return Err("not root".into());
        }
        let c = |s: &str| std::ffi::CString::new(s).unwrap();
        let target = c(path.to_str().unwrap());
        let opts = c(&format!("size={size},mode=0700"));
        // SAFETY: plain C strings that outlive the call.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                opts.as_ptr() as *const libc::c_void,
            )
        };
        if r != 0 {
            return Err(format!("mount -t tmpfs refused: {}", std::io::Error::last_os_error()));
        }
        Ok(Tmpfs {
            path: path.to_path_buf(),
        })
    }

    /// Remounts it read-only (`ro = true`) or read-write.
    pub fn remount(&self, ro: bool) {
        let c = |s: &str| std::ffi::CString::new(s).unwrap();
        let target = c(self.path.to_str().unwrap());
        let flags = libc::MS_REMOUNT | if ro { libc::MS_RDONLY } else { 0 };
        // SAFETY: as above.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                flags,
                std::ptr::null(),
            )
        };
        assert_eq!(r, 0, "remount: {}", std::io::Error::last_os_error());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let target = std::ffi::CString::new(self.path.to_str().unwrap()).unwrap();
        // SAFETY: as above.
        unsafe {
            if libc::umount2(target.as_ptr(), 0) != 0 {
                libc::umount2(target.as_ptr(), libc::MNT_DETACH);
            }
        }
    }
}

/// Fills the filesystem of `dir` with `dir/filler` until ENOSPC.
pub fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let p = dir.join("filler");
    let mut f = std::fs::File::create(&p).unwrap();
    let chunk = vec![0x5au8; 4096];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {p:?}: {e}"),
        }
    }
    p
}

/// Runs `mqctl ARGS` with stdout to a file and returns (exit code, peak
/// RSS of that child in KiB, stdout path). The peak comes from `wait4`'s
/// rusage of that one child, so other tests' children do not count.
pub fn measure(fx: &Fx, args: &[&str], out_name: &str) -> (i32, i64, PathBuf) {
    let out = fx.base.join(out_name);
    let child = fx
        .command(args)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    // A watchdog: a hang fails the test instead of blocking it.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        let t = std::time::Instant::now();
        while t.elapsed() < Duration::from_secs(120) {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: plain kill(2) of our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, with valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    std::mem::forget(child);
    assert!(libc::WIFEXITED(status), "mqctl {args:?} was killed (hung?)");
    (libc::WEXITSTATUS(status), ru.ru_maxrss, out)
}
