//! [`TestQueue`]: a real queue in a temporary folder, removed when dropped,
//! and the ways to build, inspect and disturb one.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use mqctl::queue::Queue;
use serde_json::Value;
use tempfile::TempDir;

use super::{NOW, Sentinel, TIMEOUT, set_mtime, set_mtime_tree};

/// The state folders an entry's link can be in, as named on disk: the
/// writer's three, hold/, and the two claim folders mqctl moves an entry
/// into for the moment it rewrites its schedule.
pub const STATES: [&str; 6] = ["queue", "inflight", "cleanup", "hold", "claimed", "claimed-held"];

/// A state folder an entry's symlink can live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    Queue,
    Inflight,
    Cleanup,
    Hold,
}

impl State {
    /// The folder's name under the root.
    pub fn dir(self) -> &'static str {
        match self {
            State::Queue => "queue",
            State::Inflight => "inflight",
            State::Cleanup => "cleanup",
            State::Hold => "hold",
        }
    }
}

impl AsRef<Path> for State {
    fn as_ref(&self) -> &Path {
        Path::new(self.dir())
    }
}

/// How long a bulk queue's runs may take (20,000 entries, a debug build, a
/// busy machine).
const BULK_TIMEOUT: Duration = Duration::from_secs(300);

/// A queue in a temporary folder: the root is `<tmp>/q` (or wherever
/// [`TestQueue::new_at`] put it), with room beside it in `<tmp>` for things
/// the queue must never reach ([`TestQueue::outside`], the sentinel).
///
/// Every run of `mqctl` on it ([`TestQueue::run`], [`TestQueue::mqctl`])
/// gets `MQCTL_QUEUE`, and the clock, width and time limit set here.
pub struct TestQueue {
    tmp: TempDir,
    root: PathBuf,
    pub(super) sentinel: Option<Sentinel>,
    /// `MQCTL_NOW` of every run (any time `MQCTL_NOW` accepts, `+2h`
    /// too); `None` runs on the machine's clock. [`NOW`] unless the
    /// constructor says otherwise.
    pub now: Option<String>,
    /// `COLUMNS` of every run; `None` leaves it unset, so tables are not cut.
    pub columns: Option<u16>,
    /// How long a run may take before it counts as hung and is killed.
    pub timeout: Duration,
}

impl Default for TestQueue {
    fn default() -> Self {
        TestQueue::new()
    }
}

impl TestQueue {
    /// An empty queue: `data/ queue/ inflight/ cleanup/`, all 0700 (no
    /// `hold/`: mqctl makes it). Runs use `MQCTL_NOW=`[`NOW`].
    pub fn new() -> TestQueue {
        Self::empty_in(tempfile::tempdir().unwrap())
    }

    /// Like [`TestQueue::new`], on tmpfs (`/dev/shm`) when it has room: for
    /// tests that make many files and fsyncs.
    pub fn in_memory() -> TestQueue {
        Self::empty_in(scratch_dir())
    }

    /// An empty queue at `root` (say a tmpfs mounted for the test), with
    /// a temporary folder elsewhere for [`TestQueue::outside`] and the
    /// sentinel.
    pub fn new_at(root: PathBuf) -> TestQueue {
        let q = Self::wrap(tempfile::tempdir().unwrap(), root);
        make_empty(&q.root);
        q
    }

    /// Nothing at the root yet (`<tmp>/q` does not exist): for `mqctl demo
    /// DIR` and for what mqctl does with a missing queue.
    pub fn unbuilt() -> TestQueue {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("q");
        Self::wrap(tmp, root)
    }

    /// The queue the real writer wrote (tests/fixtures), unpacked unchanged
    /// to `<tmp>/queue`. Runs use `MQCTL_NOW=`[`NOW`], five minutes after it
    /// was written.
    pub fn fixture() -> TestQueue {
        let tmp = tempfile::tempdir().unwrap();
        let tarball = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kannader-written-queue.tar.gz");
        let st = std::process::Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(tmp.path())
            .status()
            .expect("tar is needed to unpack the fixture");
        assert!(st.success(), "tar failed to unpack the fixture");
        let root = tmp.path().join("queue");
        assert!(root.join("data").is_dir(), "the fixture unpacks to queue/data");
        Self::wrap(tmp, root)
    }

    /// A scratch copy (`cp -a`, on tmpfs when it has room) of a queue of
    /// `n` entries in mails of 1–3 recipients, made by the library; returns
    /// every entry's id and link text. The template is built once per test
    /// binary and size (20,000 entries take seconds). Runs use the machine's
    /// clock, with a time limit for bulk work.
    pub fn bulk(n: usize) -> (TestQueue, BTreeMap<String, String>) {
        type Templates = BTreeMap<usize, (TestQueue, BTreeMap<String, String>)>;
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
        let (template, initial) = t.entry(n).or_insert_with(|| {
            let q = TestQueue::in_memory();
            let initial = q.fill(n, n as u64);
            (q, initial)
        });
        let tmp = scratch_dir();
        let root = tmp.path().join("q");
        let st = std::process::Command::new("cp")
            .arg("-a")
            .arg(template.root())
            .arg(&root)
            .status()
            .unwrap();
        assert!(st.success(), "copying the bulk queue failed");
        let mut q = Self::wrap(tmp, root).real_clock();
        q.timeout = BULK_TIMEOUT;
        (q, initial.clone())
    }

    fn empty_in(tmp: TempDir) -> TestQueue {
        let root = tmp.path().join("q");
        make_empty(&root);
        Self::wrap(tmp, root)
    }

    fn wrap(tmp: TempDir, root: PathBuf) -> TestQueue {
        TestQueue {
            tmp,
            root,
            sentinel: None,
            now: Some(NOW.to_string()),
            columns: None,
            timeout: TIMEOUT,
        }
    }

    /// Runs use the machine's clock (no `MQCTL_NOW`): for queues whose
    /// files have their real times (made by the library or by `mqctl`) when
    /// ages matter.
    pub fn real_clock(mut self) -> TestQueue {
        self.now = None;
        self
    }

    /// The queue root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path under the queue root.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// The temporary folder holding the queue (and `outside/`, the
    /// sentinel); removed when the queue is dropped.
    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }

    /// `<tmp>/outside`, made on first use: a folder next to the queue for
    /// things the queue's links must never reach.
    pub fn outside(&self) -> PathBuf {
        let p = self.tmp().join("outside");
        if !p.exists() {
            mkdir(&p);
        }
        p
    }

    /// The library's handle on this queue.
    pub fn open(&self) -> Queue {
        Queue::open(&self.root).unwrap()
    }

    /// Writes the symlink `<state>/<name> -> target`, whatever the text,
    /// replacing what has that name; makes the state folder when needed.
    pub fn plant_link(&self, state: impl AsRef<Path>, name: impl AsRef<OsStr>, target: impl AsRef<OsStr>) -> PathBuf {
        let dir = self.path(state);
        if !dir.exists() {
            mkdir(&dir);
        }
        let p = dir.join(name.as_ref());
        let _ = fs::remove_file(&p);
        std::os::unix::fs::symlink(target.as_ref(), &p).unwrap();
        p
    }

    /// The text of the link `<state>/<name>`.
    pub fn link_text(&self, state: impl AsRef<Path>, name: impl AsRef<OsStr>) -> Vec<u8> {
        fs::read_link(self.path(state).join(name.as_ref()))
            .unwrap()
            .into_os_string()
            .into_vec()
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

    /// Replaces a file by a sparse file of `len` bytes that starts with
    /// `prefix` (no disk used for the rest).
    pub fn replace_with_sparse(&self, rel: impl AsRef<Path>, prefix: &[u8], len: u64) {
        let p = self.path(rel);
        let _ = fs::remove_file(&p);
        write_0600(&p, prefix);
        fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(len)
            .unwrap();
    }

    /// Moves an entry's link between state folders with a plain rename (as
    /// the writer does), making the target folder (0700) when needed.
    pub fn put(&self, id: &str, from: &str, to: &str) {
        let dir = self.path(to);
        if !dir.exists() {
            mkdir(&dir);
        }
        fs::rename(self.path(from).join(id), dir.join(id)).unwrap();
    }

    /// Sets the modification time of `rel` (never through a link) to
    /// `secs` seconds before the machine's clock.
    pub fn age(&self, rel: impl AsRef<Path>, secs: u64) {
        set_mtime(&self.path(rel), SystemTime::now() - Duration::from_secs(secs));
    }

    /// Like [`TestQueue::age`], for `rel` and everything under it.
    pub fn age_tree(&self, rel: impl AsRef<Path>, secs: u64) {
        set_mtime_tree(&self.path(rel), SystemTime::now() - Duration::from_secs(secs));
    }

    /// Everything under the root, see [`super::snapshot`].
    pub fn snapshot(&self) -> super::Tree {
        super::snapshot(&self.root)
    }

    /// `list ARGS --format ids` (exit 0), sorted.
    pub fn list_ids(&self, args: &[&str]) -> Vec<String> {
        let r = self.mqctl(["list"]).args(args).args(["--format", "ids"]).run();
        r.success().sorted_lines()
    }

    /// `list ARGS --format json` (exit 0): the array's objects.
    pub fn list_json(&self, args: &[&str]) -> Vec<Value> {
        let v = self
            .mqctl(["list"])
            .args(args)
            .args(["--format", "json"])
            .run()
            .success()
            .json();
        v.as_array().expect("list --format json is an array").clone()
    }

    /// `list --count ARGS` (exit 0): the number it prints.
    pub fn list_count(&self, args: &[&str]) -> u64 {
        let r = self.mqctl(["list", "--count"]).args(args).run().success();
        r.out().trim().parse().expect("--count prints a number")
    }

    /// Adds mails of 1–3 recipients through the library until there are
    /// `n` entries (in parallel, each chunk with its own seeded RNG);
    /// returns every entry's id and link text.
    fn fill(&self, n: usize, seed: u64) -> BTreeMap<String, String> {
        use rayon::prelude::*;
        const CHUNK: usize = 500;
        let queue = self.open();
        let chunks: Vec<(usize, usize)> = (0..n.div_ceil(CHUNK)).map(|c| (c, CHUNK.min(n - c * CHUNK))).collect();
        chunks
            .par_iter()
            .flat_map_iter(|&(c, want)| fill_chunk(&queue, want, seed.wrapping_mul(1000).wrapping_add(c as u64)))
            .collect()
    }
}

fn fill_chunk(queue: &Queue, n: usize, seed: u64) -> Vec<(String, String)> {
    use mqctl::queue::address;
    use mqctl::queue::write::EnqueueOptions;
    let mut rng = fastrand::Rng::with_seed(seed);
    let base = super::ts("2026-11-23T00:00:00Z");
    let from = address::parse("bulk@example.org").unwrap();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let k = rng.usize(1..=3).min(n - out.len());
        let to: Vec<_> = (0..k)
            .map(|i| address::parse(&format!("u{}.{i}@d{}.example", out.len(), rng.u8(..20))).unwrap())
            .collect();
        let at = base + jiff::SignedDuration::from_mins(rng.i64(-600..600));
        let last = rng.bool().then(|| at - jiff::SignedDuration::from_hours(4));
        let e = queue
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

/// A temporary folder on tmpfs when `/dev/shm` has at least 2 GiB free,
/// else in the default place.
#[allow(clippy::unnecessary_cast)] // c_ulong is not u64 everywhere
fn scratch_dir() -> TempDir {
    let shm = Path::new("/dev/shm");
    let roomy = nix::sys::statvfs::statvfs(shm)
        .map(|s| s.blocks_available() as u64 * s.fragment_size() as u64 >= 2 << 30)
        .unwrap_or(false);
    if roomy && let Ok(t) = tempfile::Builder::new().prefix("mqctl-test-").tempdir_in(shm) {
        return t;
    }
    tempfile::tempdir().unwrap()
}

/// `data/ queue/ inflight/ cleanup/` under a new `root`, all 0700.
fn make_empty(root: &Path) {
    mkdir(root);
    for d in ["data", "queue", "inflight", "cleanup"] {
        mkdir(&root.join(d));
    }
}

/// A folder with mode 0700 whatever the umask.
pub(super) fn mkdir(p: &Path) {
    fs::DirBuilder::new().mode(0o700).create(p).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o700)).unwrap();
}

/// A new file with mode 0600 whatever the umask.
pub(super) fn write_0600(p: &Path, bytes: &[u8]) {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(p)
        .unwrap_or_else(|e| panic!("creating {}: {e}", p.display()));
    std::io::Write::write_all(&mut f, bytes).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o600)).unwrap();
}

/// The entry with this id in a JSON list.
pub fn by_id<'v>(entries: &'v [Value], id: &str) -> &'v Value {
    entries
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no entry {id} in {entries:#?}"))
}
