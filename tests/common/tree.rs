//! Snapshots of a folder tree, to assert that a command changed nothing, or
//! exactly what it is for; and small facts about paths (counts, owners,
//! times).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::STATES;

/// Regular files up to this size are read into a snapshot; larger ones are
/// described by size and modification time.
pub const READ_LIMIT: u64 = 16 << 20;

/// What a path is (never following a symlink).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Dir,
    File,
    Link,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
}

/// One path of a [`Tree`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Node {
    pub kind: Kind,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Size in bytes (a link's: its text's); 0 for a folder.
    pub len: u64,
    /// A regular file's bytes (`None` when over [`READ_LIMIT`], or when it
    /// cannot be opened without moving its access time) or a link's text;
    /// `None` for folders and special files.
    pub bytes: Option<Vec<u8>>,
    /// Modification time (seconds, nanoseconds) of what is not a folder (a
    /// folder's changes show in its children). In a node made by hand
    /// ([`Node::file`], [`Node::dir`], [`Node::link`]) it is `None`, which
    /// [`Node::matches`] takes as "any time".
    pub mtime: Option<(i64, i64)>,
}

impl Node {
    /// An expected folder with `mode`, owned by this process's user.
    pub fn dir(mode: u32) -> Node {
        Node::by_hand(Kind::Dir, mode, 0, None)
    }

    /// An expected regular file (0600, owned by this process's user).
    pub fn file(bytes: &[u8]) -> Node {
        Node::by_hand(Kind::File, 0o600, bytes.len() as u64, Some(bytes.to_vec()))
    }

    /// An expected symlink with this text.
    pub fn link(text: &[u8]) -> Node {
        Node::by_hand(Kind::Link, 0o777, text.len() as u64, Some(text.to_vec()))
    }

    fn by_hand(kind: Kind, mode: u32, len: u64, bytes: Option<Vec<u8>>) -> Node {
        Node {
            kind,
            mode,
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            len,
            bytes,
            mtime: None,
        }
    }

    /// True when `actual` is this node; an `mtime` of `None` here matches
    /// any time.
    pub fn matches(&self, actual: &Node) -> bool {
        let mut expected = self.clone();
        if expected.mtime.is_none() {
            expected.mtime = actual.mtime;
        }
        expected == *actual
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {:o} {}:{} {}B",
            self.kind, self.mode, self.uid, self.gid, self.len
        )?;
        if let Some(b) = &self.bytes {
            write!(f, " {:?}", String::from_utf8_lossy(b))?;
        }
        if let Some((s, ns)) = self.mtime {
            write!(f, " mtime {s}.{ns:09}")?;
        }
        Ok(())
    }
}

/// Every path under a root, relative to it (the root itself is `""`), and
/// what is there. Read it like a map; change an expected tree with `set`,
/// `remove`, `remove_tree`, `rename`, `move_entry`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree(pub BTreeMap<PathBuf, Node>);

impl Tree {
    /// Puts `node` at `rel`.
    pub fn set(&mut self, rel: impl AsRef<Path>, node: Node) {
        self.0.insert(rel.as_ref().to_path_buf(), node);
    }

    /// Takes any modification time at `rel`: a file written anew (a temp
    /// sibling renamed over) with the same bytes, mode and owner.
    pub fn any_mtime(&mut self, rel: impl AsRef<Path>) {
        let rel = rel.as_ref();
        let mut node = self.0[rel].clone();
        node.mtime = None;
        self.set(rel, node);
    }

    /// Removes `rel` (only that path); panics when it is not there.
    pub fn remove(&mut self, rel: impl AsRef<Path>) -> Node {
        let rel = rel.as_ref();
        self.0
            .remove(rel)
            .unwrap_or_else(|| panic!("{} not in the tree", rel.display()))
    }

    /// Removes `rel` and everything under it; panics when it is not there.
    pub fn remove_tree(&mut self, rel: impl AsRef<Path>) {
        let rel = rel.as_ref();
        self.remove(rel);
        self.0.retain(|k, _| !k.starts_with(rel));
    }

    /// Moves `from` (and everything under it) to `to`.
    pub fn rename(&mut self, from: impl AsRef<Path>, to: impl AsRef<Path>) {
        let (from, to) = (from.as_ref(), to.as_ref());
        let moved: Vec<PathBuf> = self.0.keys().filter(|k| k.starts_with(from)).cloned().collect();
        assert!(!moved.is_empty(), "{} not in the tree", from.display());
        for k in moved {
            let node = self.0.remove(&k).unwrap();
            self.0.insert(to.join(k.strip_prefix(from).unwrap()), node);
        }
    }

    /// Moves the link of entry `id` from `<from>/` to `<to>/`; out of
    /// `hold/`, its hold note (if it had one) goes.
    pub fn move_entry(&mut self, id: &str, from: &str, to: &str) {
        self.rename(format!("{from}/{id}"), format!("{to}/{id}"));
        if from == "hold" && to != "hold" {
            self.0.remove(Path::new(&format!("hold-notes/{id}")));
        }
    }

    /// Expects entry `id` held by mqctl: its note in `hold-notes/` (0600,
    /// a JSON object with at least `since`), taken as `actual` has it.
    pub fn hold_note(&mut self, actual: &Tree, id: &str) {
        let rel = PathBuf::from(format!("hold-notes/{id}"));
        let node = actual
            .0
            .get(&rel)
            .unwrap_or_else(|| panic!("{} not in the tree", rel.display()));
        let v: serde_json::Value = serde_json::from_slice(node.bytes.as_deref().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
        assert!(v["since"].is_string(), "{}: {v}", rel.display());
        assert_eq!((node.kind, node.mode), (Kind::File, 0o600), "{}", rel.display());
        self.set("hold-notes", Node::dir(0o700));
        self.0.insert(rel, node.clone());
    }

    /// What differs between this (expected) tree and `actual`, one line a
    /// path (see [`Node::matches`]).
    pub fn diff(&self, actual: &Tree) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.0 {
            match actual.0.get(k) {
                None => out.push(format!("missing: {} ({v:?})", k.display())),
                Some(a) if !v.matches(a) => out.push(format!("changed: {}: expected {v:?}, got {a:?}", k.display())),
                _ => {}
            }
        }
        for (k, v) in &actual.0 {
            if !self.0.contains_key(k) {
                out.push(format!("unexpected: {} ({v:?})", k.display()));
            }
        }
        out
    }
}

impl std::ops::Deref for Tree {
    type Target = BTreeMap<PathBuf, Node>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<P: AsRef<Path>> std::ops::Index<P> for Tree {
    type Output = Node;
    fn index(&self, rel: P) -> &Node {
        let rel = rel.as_ref();
        self.0
            .get(rel)
            .unwrap_or_else(|| panic!("{} not in the tree", rel.display()))
    }
}

impl IntoIterator for Tree {
    type Item = (PathBuf, Node);
    type IntoIter = std::collections::btree_map::IntoIter<PathBuf, Node>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Tree {
    type Item = (&'a PathBuf, &'a Node);
    type IntoIter = std::collections::btree_map::Iter<'a, PathBuf, Node>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Asserts that the node `actual` is `expected` (see [`Node::matches`]).
#[track_caller]
pub fn assert_node(expected: &Node, actual: &Node) {
    assert!(expected.matches(actual), "expected {expected:?}, got {actual:?}");
}

/// Asserts that `actual` is `expected` (see [`Node::matches`]), listing
/// every difference when not.
#[track_caller]
pub fn assert_tree(expected: &Tree, actual: &Tree) {
    let d = expected.diff(actual);
    assert!(d.is_empty(), "trees differ:\n  {}", d.join("\n  "));
}

/// Everything under `root` and `root` itself, without following any
/// symlink: kind, mode, owner, size, bytes or link text, and the
/// modification time of all but folders. Files are read with `O_NOATIME`,
/// so taking a snapshot does not move access times. Two equal snapshots mean
/// nothing was changed.
pub fn snapshot(root: &Path) -> Tree {
    let mut out = Tree::default();
    walk(root, Path::new(""), &mut out);
    out
}

fn walk(base: &Path, rel: &Path, out: &mut Tree) {
    let path = base.join(rel);
    // A name listed a moment ago may be gone (a test's own process racing).
    let Ok(m) = fs::symlink_metadata(&path) else {
        return;
    };
    let ft = m.file_type();
    let kind = if ft.is_symlink() {
        Kind::Link
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File
    } else if ft.is_fifo() {
        Kind::Fifo
    } else if ft.is_socket() {
        Kind::Socket
    } else if ft.is_char_device() {
        Kind::CharDevice
    } else {
        Kind::BlockDevice
    };
    let bytes = match kind {
        Kind::Link => Some(fs::read_link(&path).unwrap().into_os_string().into_vec()),
        Kind::File if m.len() <= READ_LIMIT => read_noatime(&path),
        _ => None,
    };
    let dir = kind == Kind::Dir;
    out.set(
        rel,
        Node {
            kind,
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            len: if dir { 0 } else { m.len() },
            bytes,
            mtime: (!dir).then(|| (m.mtime(), m.mtime_nsec())),
        },
    );
    if dir {
        let mut names: Vec<_> = fs::read_dir(&path)
            .unwrap_or_else(|e| panic!("listing {}: {e}", path.display()))
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for n in names {
            walk(base, &rel.join(n), out);
        }
    }
}

/// A file's bytes, read without moving its access time; `None` when that
/// is not allowed (a file of another user, and we are not root).
fn read_noatime(p: &Path) -> Option<Vec<u8>> {
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOATIME | libc::O_NOFOLLOW)
        .open(p);
    match f {
        Ok(mut f) => {
            let mut v = Vec::new();
            f.read_to_end(&mut v)
                .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            Some(v)
        }
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => None,
        Err(e) => panic!("opening {}: {e}", p.display()),
    }
}

/// The entries of a well-formed queue: id → (state folder, link text).
/// Panics on a name in two state folders, a name that is not UTF-8 or not a
/// symlink (see [`super::state_names`] for any name).
pub fn entries(root: &Path) -> BTreeMap<String, (String, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for s in STATES {
        let Ok(rd) = fs::read_dir(root.join(s)) else { continue };
        for ent in rd {
            let ent = ent.unwrap();
            let id = ent.file_name().into_string().unwrap();
            let text = fs::read_link(ent.path())
                .unwrap_or_else(|e| panic!("{s}/{id} is not a link: {e}"))
                .into_os_string()
                .into_vec();
            if let Some((prev, _)) = out.insert(id.clone(), (s.to_string(), text)) {
                panic!("entry {id} is in both {prev}/ and {s}/");
            }
        }
    }
    out
}

/// How many names a folder holds (0 when it does not exist).
pub fn count(dir: &Path) -> usize {
    fs::read_dir(dir).map_or(0, |rd| rd.count())
}

/// Every file under `<root>/data` with a `.` in its name, relative to the
/// root: the temp files of rewrites (`schedule.<uuid>`, `metadata.<uuid>`);
/// nothing else there has a dot in a queue a test built.
pub fn temp_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![root.join("data")];
    while let Some(d) = dirs.pop() {
        for ent in fs::read_dir(&d).unwrap() {
            let ent = ent.unwrap();
            if ent.file_type().unwrap().is_dir() {
                dirs.push(ent.path());
            } else if ent.file_name().as_bytes().contains(&b'.') {
                out.push(ent.path().strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Sets the modification time of a path, never through a symlink.
pub fn set_mtime(path: &Path, t: SystemTime) {
    use nix::sys::stat::{UtimensatFlags, utimensat};
    use nix::sys::time::TimeSpec;
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap();
    let mtime = TimeSpec::new(d.as_secs() as i64, d.subsec_nanos() as i64);
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &TimeSpec::UTIME_OMIT,
        &mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .unwrap_or_else(|e| panic!("setting the mtime of {}: {e}", path.display()));
}

/// Sets the modification time of `path` and everything under it.
pub fn set_mtime_tree(path: &Path, t: SystemTime) {
    if fs::symlink_metadata(path).unwrap().is_dir() {
        for ent in fs::read_dir(path).unwrap() {
            set_mtime_tree(&ent.unwrap().path(), t);
        }
    }
    set_mtime(path, t);
}

/// The owner (uid, gid) of a path (not followed).
pub fn owner(path: &Path) -> (u32, u32) {
    let md = fs::symlink_metadata(path).unwrap();
    (md.uid(), md.gid())
}

/// The permission bits of a path (not followed).
pub fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
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
