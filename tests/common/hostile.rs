//! For hostile queues (SECURITY.md): a sentinel tree beside the queue that
//! the traps point at and every run checks, `check` / `check --repair`
//! helpers, inventories proving no mail was lost, and the disk troubles a
//! test can cause (a tmpfs of its own, a full disk).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Kind, STATES, TestQueue, Tree, snapshot};

/// The name of the writer-shaped dest folder in `<sentinel>/mail/`.
pub const FAKE_DEST: &str = "0b6c4a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

/// The sentinel of a hostile queue: where it is and what it held.
pub struct Sentinel {
    path: PathBuf,
    before: Tree,
}

impl TestQueue {
    /// Makes this a hostile-input fixture: a sentinel tree at
    /// `<tmp>/sentinel` (an `etc/` with passwd and shadow, a writer-shaped
    /// mail and dest) that traps in the queue point at, snapshotted now and
    /// compared after every run. Runs use the machine's clock and 200
    /// columns.
    pub fn hostile(mut self) -> TestQueue {
        let path = self.tmp().join("sentinel");
        make_sentinel(&path);
        let before = snapshot(&path);
        self.sentinel = Some(Sentinel { path, before });
        self.now = None;
        self.columns = Some(200);
        self
    }

    /// The sentinel folder (of a [`TestQueue::hostile`] queue).
    pub fn sentinel(&self) -> &Path {
        &self.sentinel.as_ref().expect("not a hostile queue").path
    }

    /// Asserts the sentinel is as it was (when there is one).
    #[track_caller]
    pub fn assert_sentinel_intact(&self, when: &str) {
        if let Some(s) = &self.sentinel {
            let d = s.before.diff(&snapshot(&s.path));
            assert!(
                d.is_empty(),
                "the sentinel tree outside the queue changed {when}:\n  {}",
                d.join("\n  ")
            );
        }
    }

    /// `check --format json`: the exit code (0 or 4) and the findings.
    #[track_caller]
    pub fn check(&self) -> (i32, Vec<Value>) {
        let r = self.run(["check", "--format", "json"]);
        assert!(r.code == 0 || r.code == 4, "{r:?}");
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

    /// Asserts `check` exits 4 and reports each `(code, path)`, and that
    /// every finding has a path, code, problem and repair; returns them all.
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

    /// `check --repair --yes --format json`: asserts the exit code and,
    /// when it is 0, that every repair is `repaired` (or `vanished`).
    /// Returns the repairs.
    #[track_caller]
    pub fn repair(&self, code: i32) -> Vec<Value> {
        let r = self
            .run(["check", "--repair", "--yes", "--format", "json"])
            .expect(code);
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

    /// Asserts `check` exits 0 with no finding.
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

    /// `list --format jsonl` (exit 0): the objects by id. The table (`list`)
    /// must exit 0 too: it goes on past broken entries.
    #[track_caller]
    pub fn list_entries(&self) -> BTreeMap<String, Value> {
        let r = self.run(["list", "--format", "jsonl"]).success();
        let mut out = BTreeMap::new();
        for v in r.jsonl() {
            out.insert(v["id"].as_str().unwrap().to_string(), v);
        }
        self.run(["list"]).success();
        out
    }

    /// Asserts `list` shows each broken id with a problem and each good id
    /// without one (and read: with `to` and `at`).
    #[track_caller]
    pub fn expect_listed(&self, broken: &[&str], good: &[&str]) -> BTreeMap<String, Value> {
        let l = self.list_entries();
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
        self.run(["drop", "--all", "--yes"]).success();
        self.run(["purge", "--min-age", "0s"]).success();
        let left: Vec<_> = state_names(self.root())
            .into_keys()
            .filter(|(s, _)| s != "inflight")
            .collect();
        assert!(left.is_empty(), "entries left after drop + purge: {left:?}");
    }

    /// Every regular `contents` file in data/ and quarantine/, by mail id.
    pub fn contents(&self) -> Inventory {
        let mut out = Inventory::new();
        for (rel, n) in &self.snapshot() {
            let under = rel.starts_with("data") || rel.starts_with("quarantine");
            if !under || n.kind != Kind::File || rel.file_name() != Some(OsStr::new("contents")) {
                continue;
            }
            let mail = rel.parent().and_then(|p| p.file_name()).unwrap();
            out.entry(mail.to_string_lossy().into_owned()).or_default().push((
                rel.clone(),
                n.len,
                n.bytes.as_deref().map_or(0, digest),
            ));
        }
        out
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

    /// Asserts every mail of `before` is still in data/ or quarantine/,
    /// byte-identical.
    #[track_caller]
    pub fn expect_no_mail_lost(&self, before: &Inventory, when: &str) {
        let now = self.contents();
        for (mail, places) in before {
            let (_, len, d) = &places[0];
            match now.get(mail) {
                Some(places) => assert!(
                    places.iter().all(|(_, l, dd)| l == len && dd == d),
                    "{when}: contents of mail {mail} changed: {places:?}"
                ),
                None => panic!("{when}: contents of mail {mail} were lost (not in data/ nor quarantine/)"),
            }
        }
    }

    /// The notes of every quarantine run.
    pub fn notes(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let Ok(dirs) = std::fs::read_dir(self.path("quarantine")) else {
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
        std::fs::read_dir(self.path("quarantine")).is_ok_and(|dirs| {
            dirs.into_iter()
                .any(|d| std::fs::symlink_metadata(d.unwrap().path().join(rel)).is_ok())
        })
    }

    /// Asserts `rel` moved to quarantine/ with a note of why (`code`).
    #[track_caller]
    pub fn expect_quarantined(&self, rel: &str, code: &str) {
        assert!(
            std::fs::symlink_metadata(self.path(rel)).is_err(),
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
}

fn digest(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// mail id → every place its regular `contents` file is: (path, size,
/// digest of the bytes; 0 when too big to read).
pub type Inventory = BTreeMap<String, Vec<(PathBuf, u64, u64)>>;

/// Every name in the four state folders: (state, name) → link text, or
/// `<not a link>` for anything else.
pub fn state_names(root: &Path) -> BTreeMap<(String, Vec<u8>), Vec<u8>> {
    let mut out = BTreeMap::new();
    for s in STATES {
        let Ok(rd) = std::fs::read_dir(root.join(s)) else {
            continue;
        };
        for e in rd {
            let e = e.unwrap();
            let text = match std::fs::read_link(e.path()) {
                Ok(t) => t.into_os_string().into_vec(),
                Err(_) => b"<not a link>".to_vec(),
            };
            out.insert((s.to_string(), e.file_name().as_bytes().to_vec()), text);
        }
    }
    out
}

/// Asserts each name is in exactly one state folder and each of `ids` in
/// one; returns each name's state folders.
#[track_caller]
pub fn assert_one_state(root: &Path, ids: &[String]) -> BTreeMap<Vec<u8>, Vec<String>> {
    let mut by_id: BTreeMap<Vec<u8>, Vec<String>> = BTreeMap::new();
    for (s, n) in state_names(root).into_keys() {
        by_id.entry(n).or_default().push(s);
    }
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
    for ((state, name), text) in state_names(root) {
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

fn make_sentinel(s: &Path) {
    let etc = s.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("passwd"),
        b"root:x:0:0:root:/root:/bin/bash\nsentinel:x:1000:1000::/home/s:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(etc.join("shadow"), b"root:$6$secret:19000:0:99999:7:::\n").unwrap();
    chmod(&etc.join("shadow"), 0o640);
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
        chmod(&p, 0o644);
    }
    chmod(s, 0o755);
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

/// True, after printing that the test is skipped and `why` it needs root,
/// when not running as root.
pub fn skipped_unless_root(why: &str) -> bool {
    let skip = !is_root();
    if skip {
        eprintln!("skipped: needs root ({why})");
    }
    skip
}

/// `chown -R -h uid:gid path`.
pub fn chown_r(path: &Path, uid: u32, gid: u32) {
    for (rel, _) in snapshot(path) {
        std::os::unix::fs::lchown(path.join(rel), Some(uid), Some(gid)).unwrap();
    }
}

/// Sets the mode of `p` (a folder or file the test made; links followed).
pub fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
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

/// Fills the filesystem of `dir` with `dir/filler` until ENOSPC; returns
/// the filler's path.
pub fn fill_disk(dir: &Path) -> PathBuf {
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
