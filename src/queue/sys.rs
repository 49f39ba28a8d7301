//! Every system call that touches the queue goes through this module, so the
//! rules of docs/security.md live in one place: directories are opened with
//! `O_NOFOLLOW`, everything afterwards is relative to a directory fd, files
//! are opened non-blocking without following links and `fstat`ed before a
//! bounded read, and paths built from queue contents never escape the root.

use std::ffi::{CStr, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, RenameFlags, ResolveFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};

/// `openat2` is Linux ≥ 5.6 and may be filtered by a seccomp profile; once it
/// answers ENOSYS/EPERM we walk the path one `O_NOFOLLOW` component at a time.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);
/// Some filesystems (NFS, some FUSE) refuse `RENAME_NOREPLACE` with EINVAL.
static NO_RENAME_NOREPLACE: AtomicBool = AtomicBool::new(false);

/// A folder's child: its name and the type the folder reports, if any.
pub type Child = (Box<[u8]>, Option<Kind>);

/// An open directory inside (or at) the queue root.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// What `fstat` said about a file we opened or looked at.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub kind: Kind,
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    Device,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::File => "regular file",
            Kind::Dir => "folder",
            Kind::Symlink => "symlink",
            Kind::Fifo => "FIFO",
            Kind::Socket => "socket",
            Kind::Device => "device",
        }
    }
}

impl From<FileStat> for Meta {
    fn from(st: FileStat) -> Meta {
        let fmt = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let kind = match fmt {
            SFlag::S_IFREG => Kind::File,
            SFlag::S_IFDIR => Kind::Dir,
            SFlag::S_IFLNK => Kind::Symlink,
            SFlag::S_IFIFO => Kind::Fifo,
            SFlag::S_IFSOCK => Kind::Socket,
            _ => Kind::Device,
        };
        Meta {
            kind,
            size: st.st_size as u64,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            nlink: st.st_nlink,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
        }
    }
}

/// Why a bounded file read did not give bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The name does not exist (often: another process moved it).
    NotFound,
    /// Something in the way is a symlink, which we never follow.
    Symlink,
    /// Not a regular file (FIFO, device, folder…).
    NotRegular(Kind),
    /// More than one hard link: could be a link to a file outside the queue.
    HardLinked(u64),
    /// Larger than the bound for this kind of file.
    TooLarge(u64),
    Io(Errno),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotFound => write!(f, "missing"),
            ReadError::Symlink => write!(f, "is a symlink (never followed)"),
            ReadError::NotRegular(k) => write!(f, "is a {}, not a regular file", k.describe()),
            ReadError::HardLinked(n) => write!(f, "has {n} hard links (expected 1)"),
            ReadError::TooLarge(n) => write!(f, "is {n} bytes, over the size bound"),
            ReadError::Io(e) => write!(f, "cannot be read: {}", e.desc()),
        }
    }
}

impl From<Errno> for ReadError {
    fn from(e: Errno) -> ReadError {
        match e {
            Errno::ENOENT => ReadError::NotFound,
            Errno::ELOOP | Errno::EXDEV => ReadError::Symlink,
            Errno::ENOTDIR => ReadError::NotRegular(Kind::File),
            e => ReadError::Io(e),
        }
    }
}

pub fn errno_to_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

impl Dir {
    /// Opens a folder by path (only the queue root is opened this way).
    /// The last component must not be a symlink.
    pub fn open_root(path: &std::path::Path) -> Result<Dir, Errno> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir { fd })
    }

    /// Opens a sub-folder `rel` (one or more components, no `..`) without
    /// following any symlink on the way.
    pub fn open_dir<P: AsRef<[u8]> + ?Sized>(&self, rel: &P) -> Result<Dir, Errno> {
        let fd = self.open_beneath(rel.as_ref(), OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
        Ok(Dir { fd })
    }

    /// Like `open_dir`, but an `O_PATH` handle: enough to open and stat
    /// children, cheaper than a full open (used once per entry in a scan).
    pub fn open_dir_path<P: AsRef<[u8]> + ?Sized>(&self, rel: &P) -> Result<Dir, Errno> {
        let fd = self.open_beneath(rel.as_ref(), OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        Ok(Dir { fd })
    }

    /// `openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)`, or a component-wise
    /// `O_NOFOLLOW` walk where that syscall is not available.
    fn open_beneath(&self, rel: &[u8], flags: OFlag) -> Result<OwnedFd, Errno> {
        let flags = flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            let how = OpenHow::new().flags(flags).resolve(
                ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS,
            );
            match nix::fcntl::openat2(self.fd.as_fd(), OsStr::from_bytes(rel), how) {
                Err(Errno::ENOSYS) | Err(Errno::EPERM) => {
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        self.open_walk(rel, flags)
    }

    fn open_walk(&self, rel: &[u8], flags: OFlag) -> Result<OwnedFd, Errno> {
        let parts: Vec<&[u8]> = rel.split(|&b| b == b'/').filter(|p| !p.is_empty()).collect();
        if parts.is_empty() || parts.iter().any(|p| *p == b"..") {
            return Err(Errno::EXDEV);
        }
        let dir_flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut cur: Option<OwnedFd> = None;
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let base = match &cur {
                Some(fd) => fd.as_fd(),
                None => self.fd.as_fd(),
            };
            let fl = if last { flags } else { dir_flags };
            let fd = nix::fcntl::openat(base, OsStr::from_bytes(part), fl, Mode::empty())?;
            cur = Some(fd);
        }
        Ok(cur.expect("at least one component"))
    }

    pub fn stat(&self) -> Result<Meta, Errno> {
        Ok(nix::sys::stat::fstat(self.fd.as_fd())?.into())
    }

    /// `fstatat(AT_SYMLINK_NOFOLLOW)` of a direct child of this folder.
    pub fn stat_at<P: AsRef<[u8]> + ?Sized>(&self, name: &P) -> Result<Meta, Errno> {
        let name = name.as_ref();
        if name.contains(&b'/') {
            return Err(Errno::EINVAL);
        }
        Ok(nix::sys::stat::fstatat(self.fd.as_fd(), OsStr::from_bytes(name), AtFlags::AT_SYMLINK_NOFOLLOW)?.into())
    }

    /// Reads a symlink that is a direct child of this folder, into `buf`.
    /// Returns false when `name` is not a symlink (EINVAL).
    pub fn read_link_into<P: AsRef<[u8]> + ?Sized>(&self, name: &P, buf: &mut Vec<u8>) -> Result<(), Errno> {
        let name = name.as_ref();
        let cname = cstring(name)?;
        buf.clear();
        buf.reserve(256);
        // SAFETY: buf has `capacity` writable bytes; we set the length to what
        // the kernel reports it wrote.
        let n = unsafe {
            libc::readlinkat(
                self.fd.as_raw_fd(),
                cname.as_ptr(),
                buf.as_mut_ptr() as *mut libc::c_char,
                buf.capacity(),
            )
        };
        let n = Errno::result(n)? as usize;
        if n >= buf.capacity() {
            // A link text this long is never one of ours; report it truncated.
            unsafe { buf.set_len(buf.capacity()) };
            return Ok(());
        }
        unsafe { buf.set_len(n) };
        Ok(())
    }

    /// Opens a regular file at `rel` (beneath this folder, no symlinks, never
    /// blocking on a FIFO) and checks it: a regular file with a single link,
    /// at most `max` bytes.
    fn open_regular(&self, rel: &[u8], max: u64) -> Result<(OwnedFd, Meta), ReadError> {
        let fd = self.open_beneath(rel, OFlag::O_RDONLY | OFlag::O_NONBLOCK)?;
        let meta: Meta = nix::sys::stat::fstat(fd.as_fd()).map_err(ReadError::Io)?.into();
        check_regular(&meta, max)?;
        Ok((fd, meta))
    }

    /// Reads a whole regular file of at most `max` bytes into `buf`.
    pub fn read_file_into<P: AsRef<[u8]> + ?Sized>(
        &self,
        rel: &P,
        max: u64,
        buf: &mut Vec<u8>,
    ) -> Result<Meta, ReadError> {
        let (fd, meta) = self.open_regular(rel.as_ref(), max)?;
        read_to(&fd, meta.size as usize, buf)?;
        Ok(meta)
    }

    /// Reads at most `max` bytes from the start of a regular file of any size
    /// (for message headers).
    pub fn read_prefix_into<P: AsRef<[u8]> + ?Sized>(
        &self,
        rel: &P,
        max: usize,
        buf: &mut Vec<u8>,
    ) -> Result<Meta, ReadError> {
        let (fd, meta) = self.open_regular(rel.as_ref(), u64::MAX)?;
        read_to(&fd, (meta.size as usize).min(max), buf)?;
        Ok(meta)
    }

    /// Like `read_prefix_into`, but reads `step` bytes at a time and stops
    /// as soon as `enough` says the bytes so far are enough (for message
    /// headers: the blank line that ends them, usually in the first step,
    /// where a message may be megabytes).
    pub fn read_prefix_until<P: AsRef<[u8]> + ?Sized>(
        &self,
        rel: &P,
        step: usize,
        max: usize,
        buf: &mut Vec<u8>,
        enough: impl Fn(&[u8]) -> bool,
    ) -> Result<Meta, ReadError> {
        let (fd, meta) = self.open_regular(rel.as_ref(), u64::MAX)?;
        let want = (meta.size as usize).min(max);
        buf.clear();
        while buf.len() < want {
            let before = buf.len();
            append_to(&fd, step.max(1).min(want - before), buf)?;
            if buf.len() == before || enough(buf) {
                break;
            }
        }
        Ok(meta)
    }

    /// Opens a regular file for streaming its whole contents (`show --raw`).
    pub fn open_file<P: AsRef<[u8]> + ?Sized>(&self, rel: &P) -> Result<(std::fs::File, Meta), ReadError> {
        let (fd, meta) = self.open_regular(rel.as_ref(), u64::MAX)?;
        Ok((std::fs::File::from(fd), meta))
    }

    /// Lists the children of this folder (without `.` and `..`), calling `f`
    /// with each name and the type the folder reports (if any).
    pub fn for_each_child(
        &self,
        mut f: impl FnMut(&[u8], Option<Kind>) -> std::ops::ControlFlow<()>,
    ) -> Result<(), Errno> {
        let fd = nix::fcntl::openat(
            self.fd.as_fd(),
            c".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let mut dir = nix::dir::Dir::from_fd(fd)?;
        for ent in dir.iter() {
            let ent = ent?;
            let name = ent.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            use nix::dir::Type;
            let kind = ent.file_type().map(|t| match t {
                Type::File => Kind::File,
                Type::Directory => Kind::Dir,
                Type::Symlink => Kind::Symlink,
                Type::Fifo => Kind::Fifo,
                Type::Socket => Kind::Socket,
                Type::BlockDevice | Type::CharacterDevice => Kind::Device,
            });
            if f(name, kind).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Names of the children, as owned byte strings.
    pub fn children(&self) -> Result<Vec<Child>, Errno> {
        let mut out = Vec::new();
        self.for_each_child(|n, k| {
            out.push((n.into(), k));
            std::ops::ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    pub fn fsync(&self) -> Result<(), Errno> {
        nix::unistd::fsync(self.fd.as_fd())
    }

    pub fn mkdir<P: AsRef<[u8]> + ?Sized>(&self, name: &P, mode: u32) -> Result<(), Errno> {
        nix::sys::stat::mkdirat(
            self.fd.as_fd(),
            OsStr::from_bytes(name.as_ref()),
            Mode::from_bits_truncate(mode),
        )
    }

    pub fn symlink<P: AsRef<[u8]> + ?Sized, T: AsRef<[u8]> + ?Sized>(&self, target: &T, name: &P) -> Result<(), Errno> {
        nix::unistd::symlinkat(
            OsStr::from_bytes(target.as_ref()),
            self.fd.as_fd(),
            OsStr::from_bytes(name.as_ref()),
        )
    }

    /// Creates `name` exclusively (O_CREAT|O_EXCL|O_NOFOLLOW) with `mode`.
    pub fn create_file<P: AsRef<[u8]> + ?Sized>(&self, name: &P, mode: u32) -> Result<std::fs::File, Errno> {
        let fd = self.open_child(name.as_ref(), OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL, mode)?;
        Ok(std::fs::File::from(fd))
    }

    /// `openat` of a direct child (a name without `/`), never following a
    /// symlink, with `flags` added to `O_NOFOLLOW|O_CLOEXEC`.
    fn open_child(&self, name: &[u8], flags: OFlag, mode: u32) -> Result<OwnedFd, Errno> {
        if name.contains(&b'/') {
            return Err(Errno::EINVAL);
        }
        nix::fcntl::openat(
            self.fd.as_fd(),
            OsStr::from_bytes(name),
            flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(mode),
        )
    }

    pub fn unlink<P: AsRef<[u8]> + ?Sized>(&self, name: &P) -> Result<(), Errno> {
        nix::unistd::unlinkat(
            self.fd.as_fd(),
            OsStr::from_bytes(name.as_ref()),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        )
    }

    pub fn rmdir<P: AsRef<[u8]> + ?Sized>(&self, name: &P) -> Result<(), Errno> {
        nix::unistd::unlinkat(
            self.fd.as_fd(),
            OsStr::from_bytes(name.as_ref()),
            nix::unistd::UnlinkatFlags::RemoveDir,
        )
    }

    /// Moves `name` in this folder to `to_name` in `to`, never replacing an
    /// existing name: `renameat2(RENAME_NOREPLACE)`, or `linkat` + `unlinkat`
    /// where the filesystem refuses the flag.
    pub fn move_noreplace<P: AsRef<[u8]> + ?Sized, Q: AsRef<[u8]> + ?Sized>(
        &self,
        name: &P,
        to: &Dir,
        to_name: &Q,
    ) -> Result<(), Errno> {
        let (from, dest) = (OsStr::from_bytes(name.as_ref()), OsStr::from_bytes(to_name.as_ref()));
        if !NO_RENAME_NOREPLACE.load(Ordering::Relaxed) {
            match nix::fcntl::renameat2(
                self.fd.as_fd(),
                from,
                to.fd.as_fd(),
                dest,
                RenameFlags::RENAME_NOREPLACE,
            ) {
                Err(Errno::EINVAL) | Err(Errno::ENOSYS) => {
                    NO_RENAME_NOREPLACE.store(true, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        // linkat refuses to replace (EEXIST); a symlink is linked, not followed.
        nix::unistd::linkat(self.fd.as_fd(), from, to.fd.as_fd(), dest, AtFlags::empty())?;
        match nix::unistd::unlinkat(self.fd.as_fd(), from, nix::unistd::UnlinkatFlags::NoRemoveDir) {
            Ok(()) => Ok(()),
            // Someone else moved the source meanwhile: our link is the entry now.
            Err(Errno::ENOENT) => Ok(()),
            Err(e) => {
                let _ = nix::unistd::unlinkat(to.fd.as_fd(), dest, nix::unistd::UnlinkatFlags::NoRemoveDir);
                Err(e)
            }
        }
    }

    /// Renames `name` over `to_name` in the same folder (replacing it): the
    /// last step of an atomic rewrite.
    pub fn rename_over<P: AsRef<[u8]> + ?Sized, Q: AsRef<[u8]> + ?Sized>(
        &self,
        name: &P,
        to_name: &Q,
    ) -> Result<(), Errno> {
        nix::fcntl::renameat(
            self.fd.as_fd(),
            OsStr::from_bytes(name.as_ref()),
            self.fd.as_fd(),
            OsStr::from_bytes(to_name.as_ref()),
        )
    }

    /// Sets the mode of a direct child without following a symlink: the
    /// child is opened `O_NOFOLLOW|O_NONBLOCK` and `fchmod`ed.
    pub fn chmod_child<P: AsRef<[u8]> + ?Sized>(&self, name: &P, mode: u32) -> Result<(), Errno> {
        let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
        let fd = self.open_child(name.as_ref(), flags, 0)?;
        // A file with another name may be one outside the queue.
        let meta: Meta = nix::sys::stat::fstat(fd.as_fd())?.into();
        if meta.kind == Kind::File && meta.nlink != 1 {
            return Err(Errno::EMLINK);
        }
        nix::sys::stat::fchmod(fd.as_fd(), Mode::from_bits_truncate(mode))
    }

    /// Creates every missing folder of `rel` (0700) and opens the last.
    pub fn make_dirs(&self, rel: &[&[u8]]) -> Result<Dir, Errno> {
        let mut cur = self.open_dir(".")?;
        for part in rel {
            match cur.mkdir(*part, 0o700) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e),
            }
            cur = cur.open_dir(*part)?;
        }
        Ok(cur)
    }

    /// `flock` on this folder's descriptor: shared or exclusive, waiting or
    /// not (`EWOULDBLOCK` when it would wait). Released by `unlock` or when
    /// the descriptor closes.
    pub fn flock(&self, exclusive: bool, wait: bool) -> Result<(), Errno> {
        let mut op = if exclusive { libc::LOCK_EX } else { libc::LOCK_SH };
        if !wait {
            op |= libc::LOCK_NB;
        }
        loop {
            // SAFETY: flock on a descriptor we own.
            match Errno::result(unsafe { libc::flock(self.fd.as_raw_fd(), op) }) {
                Err(Errno::EINTR) => continue,
                r => return r.map(drop),
            }
        }
    }

    pub fn unlock(&self) {
        // SAFETY: flock on a descriptor we own.
        unsafe { libc::flock(self.fd.as_raw_fd(), libc::LOCK_UN) };
    }

    pub fn chown_at<P: AsRef<[u8]> + ?Sized>(&self, name: &P, uid: u32, gid: u32) -> Result<(), Errno> {
        nix::unistd::fchownat(
            self.fd.as_fd(),
            OsStr::from_bytes(name.as_ref()),
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
    }
}

fn check_regular(meta: &Meta, max: u64) -> Result<(), ReadError> {
    if meta.kind != Kind::File {
        return Err(ReadError::NotRegular(meta.kind));
    }
    if meta.nlink != 1 {
        return Err(ReadError::HardLinked(meta.nlink));
    }
    if meta.size > max {
        return Err(ReadError::TooLarge(meta.size));
    }
    Ok(())
}

/// Reads up to `want` bytes; stops early at end of file.
fn read_to(fd: &OwnedFd, want: usize, buf: &mut Vec<u8>) -> Result<(), ReadError> {
    buf.clear();
    append_to(fd, want, buf)
}

/// Reads up to `more` bytes onto the end of `buf`; stops early at end of file.
fn append_to(fd: &OwnedFd, more: usize, buf: &mut Vec<u8>) -> Result<(), ReadError> {
    let want = buf.len() + more;
    buf.reserve(more);
    while buf.len() < want {
        let have = buf.len();
        let spare = buf.spare_capacity_mut();
        let room = spare.len().min(want - have);
        // SAFETY: reading into the uninitialised spare capacity, then setting
        // the length to what the kernel wrote.
        let n = unsafe { libc::read(fd.as_raw_fd(), spare.as_mut_ptr() as *mut libc::c_void, room) };
        match Errno::result(n) {
            Ok(0) => break,
            Ok(n) => unsafe { buf.set_len(buf.len() + n as usize) },
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    Ok(())
}

fn cstring(b: &[u8]) -> Result<std::ffi::CString, Errno> {
    std::ffi::CString::new(b).map_err(|_| Errno::EINVAL)
}

pub fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

pub fn osstring_bytes(s: OsString) -> Vec<u8> {
    use std::os::unix::ffi::OsStringExt;
    s.into_vec()
}

pub fn cstr_bytes(c: &CStr) -> &[u8] {
    c.to_bytes()
}
