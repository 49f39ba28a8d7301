//! The read path: one entry at a time (`Queue::read_entry`) and whole state
//! folders in parallel, streamed in chunks so memory stays bounded
//! (`Queue::scan`).

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::Timestamp;
use nix::errno::Errno;
use rayon::prelude::*;

use super::sys::{Child, Kind, Meta, ReadError};
use super::{
    DestId, Entry, EntryId, FileIssue, Headers, Link, MAX_JSON_FILE, MailId, Problem, Queue, State, headers, parse,
};
use crate::error::{Error, Result};

/// How much of each entry to read. Less is faster: `ids` needs only names,
/// most filters need the two JSON files, only some need message headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Want {
    /// Read and validate the symlink.
    pub link: bool,
    /// Read `schedule`, `metadata` and stat `contents`.
    pub files: bool,
    /// Read the message headers (Subject, Message-ID…).
    pub headers: bool,
}

impl Want {
    pub const NAMES: Want = Want {
        link: false,
        files: false,
        headers: false,
    };
    pub const FILES: Want = Want {
        link: true,
        files: true,
        headers: false,
    };
    pub const ALL: Want = Want {
        link: true,
        files: true,
        headers: true,
    };
}

/// Decides which entries a scan keeps. `pre` sees the entry before its
/// headers are read, so entries it rejects cost no message read.
pub trait Filter: Sync {
    fn pre(&self, entry: &Entry) -> bool;
    fn post(&self, _entry: &Entry) -> bool {
        true
    }
}

/// Keeps everything.
pub struct All;
impl Filter for All {
    fn pre(&self, _: &Entry) -> bool {
        true
    }
}

/// Buffers reused across the entries one thread reads.
#[derive(Default)]
pub struct Bufs {
    link: Vec<u8>,
    file: Vec<u8>,
    path: String,
}

/// `data/<mail>`, opened, and what its `contents` is (shared by the mail's
/// recipients).
struct MailDir {
    dir: super::sys::Dir,
    contents: std::result::Result<Option<super::Contents>, Problem>,
}

/// One reader's state over a run of neighbouring entries of a chunk: the
/// mail folder it opened last (or why it could not), and that mail's
/// headers once read, for the next entries if they are of the same mail.
/// (Sorting a chunk by mail first was measured too, and cost more than it
/// saved where the folder lists in hash order: BENCHMARKS.md.)
#[derive(Default)]
struct Reader {
    bufs: Bufs,
    mail: Option<OpenMail>,
}

struct OpenMail {
    id: MailId,
    dir: std::result::Result<MailDir, Problem>,
    /// Read at the first entry that wants them (`None` inside: unreadable).
    headers: Option<Option<Headers>>,
}

const CHUNK: usize = 2048;

/// Threads that read entries during a scan, when `RAYON_NUM_THREADS` does
/// not say otherwise. Reading an entry from a cold page cache waits on the
/// disk several times in a row (link, folders, two files, a stat), so a
/// scan keeps many reads in flight rather than one per core; on a warm
/// cache the threads beyond the cores cost next to nothing. BENCHMARKS.md
/// ("Cold cache") has the figures.
const READERS: usize = 16;

/// The scan's own pool of `READERS` threads (the global pool stays at one
/// thread a core for the CPU-bound work). `None` if it cannot be built, in
/// which case scans use the global pool.
fn readers() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        // 0 lets rayon read RAYON_NUM_THREADS.
        let n = if std::env::var_os("RAYON_NUM_THREADS").is_some() {
            0
        } else {
            READERS
        };
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("mqctl-read-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// `in_place_scope` on the readers' pool.
fn readers_scope<'scope, R>(op: impl FnOnce(&rayon::Scope<'scope>) -> R) -> R {
    match readers() {
        Some(pool) => pool.in_place_scope(op),
        None => rayon::in_place_scope(op),
    }
}

fn timestamp((sec, nsec): (i64, i64)) -> Option<Timestamp> {
    Timestamp::new(sec, nsec as i32).ok()
}

impl Queue {
    /// Reads one entry. Returns `None` when its name vanished meanwhile (it
    /// was moved by another process: not a problem). Never fails otherwise:
    /// whatever is wrong is recorded in `Entry::problems`.
    pub fn read_entry(
        &self,
        state: State,
        name: &[u8],
        kind: Option<Kind>,
        want: Want,
        bufs: &mut Bufs,
    ) -> Option<Entry> {
        let (mut e, files) = self.read_link(state, EntryId::new(name), kind, want, bufs)?;
        if let Some(link) = files {
            match self.open_mail(link.mail) {
                Ok(mail) => self.read_dest(&mut e, &mail, link.dest, bufs),
                Err(p) => e.problems.push(p),
            }
        }
        Some(e)
    }

    /// The first step of reading an entry: its name and link (and, outside
    /// `queue/`, since when it is there), with the link again when its files
    /// are to be read next. `None` when the name vanished.
    fn read_link(
        &self,
        state: State,
        id: EntryId,
        kind: Option<Kind>,
        want: Want,
        bufs: &mut Bufs,
    ) -> Option<(Entry, Option<Link>)> {
        let mut e = Entry::new(id, state);
        if !e.id.is_well_formed() {
            e.problems.push(Problem::BadName);
        }
        let dir = self.state_dir(state)?;
        match kind {
            Some(Kind::Symlink) | None => {}
            Some(k) => {
                e.problems.push(Problem::NotALink(k));
                return Some((e, None));
            }
        }
        if !want.link && kind.is_some() {
            return Some((e, None));
        }
        let name = e.id.as_bytes();
        match dir.read_link_into(name, &mut bufs.link) {
            Ok(()) => {}
            Err(Errno::ENOENT) => return None,
            Err(Errno::EINVAL) => {
                let k = dir.stat_at(name).map(|m| m.kind).unwrap_or(Kind::File);
                e.problems.push(Problem::NotALink(k));
                return Some((e, None));
            }
            Err(err) => {
                e.problems.push(Problem::LinkUnreadable(err));
                return Some((e, None));
            }
        }
        let Some(link) = Link::parse(&bufs.link) else {
            e.problems.push(Problem::BadLinkText(bufs.link.as_slice().into()));
            return Some((e, None));
        };
        e.link = Some(link);
        if state != State::Queued {
            // Since when the entry sits here: rename sets the link's ctime.
            e.since = dir.stat_at(name).ok().and_then(|m| timestamp(m.ctime));
        }
        Some((e, want.files.then_some(link)))
    }

    /// Opens `data/<mail>` (never through a symlink) and looks at its
    /// `contents`: what every recipient of the mail shares.
    fn open_mail(&self, mail: MailId) -> std::result::Result<MailDir, Problem> {
        let mut text = uuid::Uuid::encode_buffer();
        let name = mail.0.hyphenated().encode_lower(&mut text);
        let dir = match self.data().open_dir_path(name.as_bytes()) {
            Ok(d) => d,
            Err(err) => {
                return Err(match err {
                    Errno::ENOENT => Problem::MailMissing,
                    Errno::ELOOP | Errno::ENOTDIR | Errno::EXDEV => {
                        Problem::MailNotFolder(self.data().stat_at(name.as_bytes()).map_or(Kind::Symlink, |m| m.kind))
                    }
                    err => Problem::FolderUnreadable("data/<mail>", err),
                });
            }
        };
        let contents = match dir.stat_at("contents") {
            // A second name elsewhere is not the writer's: it may be a file
            // outside the queue, which a mode repair would change.
            Ok(m) if m.kind == Kind::File && m.nlink != 1 => Err(Problem::Contents(ReadError::HardLinked(m.nlink))),
            Ok(m) if m.kind == Kind::File => {
                Ok(timestamp(m.mtime).map(|written| super::Contents { size: m.size, written }))
            }
            Ok(m) => Err(Problem::Contents(ReadError::NotRegular(m.kind))),
            Err(err) => Err(Problem::Contents(err.into())),
        };
        Ok(MailDir { dir, contents })
    }

    /// Reads one recipient's files in the opened `data/<mail>`.
    fn read_dest(&self, e: &mut Entry, mail: &MailDir, dest: DestId, bufs: &mut Bufs) {
        match &mail.contents {
            Ok(c) => e.contents = *c,
            Err(p) => e.problems.push(p.clone()),
        }
        let mail = &mail.dir;
        let mut path = [0u8; 36 + 1 + 8];
        path[..36].copy_from_slice(
            dest.0
                .hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer())
                .as_bytes(),
        );
        path[36] = b'/';
        path[37..].copy_from_slice(b"schedule");
        let sched = mail.read_file_into(&path[..], MAX_JSON_FILE, &mut bufs.file);
        let sched = match sched {
            Ok(_) => parse::schedule(&bufs.file).map_err(FileIssue::Parse),
            Err(err) => Err(FileIssue::Read(err)),
        };
        path[37..].copy_from_slice(b"metadata");
        let meta = match mail.read_file_into(&path[..], MAX_JSON_FILE, &mut bufs.file) {
            Ok(_) => parse::envelope(&bufs.file).map_err(FileIssue::Parse),
            Err(err) => Err(FileIssue::Read(err)),
        };
        // Both missing, or both behind a bad folder: say what is wrong with
        // the folder instead of twice with its files.
        fn folder_issue<T>(r: &std::result::Result<T, FileIssue>) -> bool {
            matches!(
                r,
                Err(FileIssue::Read(
                    ReadError::NotFound | ReadError::Symlink | ReadError::NotRegular(Kind::File)
                ))
            )
        }
        if folder_issue(&sched) && folder_issue(&meta) {
            match mail.stat_at(&path[..36]) {
                Err(Errno::ENOENT) => return e.problems.push(Problem::DestMissing),
                Ok(m) if m.kind != Kind::Dir => return e.problems.push(Problem::DestNotFolder(m.kind)),
                _ => {}
            }
        }
        match sched {
            Ok(s) => e.schedule = Some(s),
            Err(i) => e.problems.push(Problem::Schedule(i)),
        }
        match meta {
            Ok(m) => e.envelope = Some(m),
            Err(i) => e.problems.push(Problem::Metadata(i)),
        }
    }

    /// Reads the message headers of an entry whose link is valid.
    pub fn read_headers(&self, e: &mut Entry, bufs: &mut Bufs) {
        let Some(link) = e.link else { return };
        if e.contents.is_none() {
            return;
        }
        bufs.path.clear();
        bufs.path.push_str(&format!("{}/contents", link.mail));
        let (step, max) = (headers::HEADER_READ_STEP, headers::HEADER_READ_LIMIT);
        if self
            .data()
            .read_prefix_until(bufs.path.as_str(), step, max, &mut bufs.file, headers::has_header_end)
            .is_ok()
        {
            e.headers = Some(Box::new(headers::parse(&bufs.file)));
        }
    }

    /// Reads one entry fully (used by `show` and by id selections).
    pub fn read_one(&self, state: State, name: &[u8], want: Want) -> Option<Entry> {
        let mut bufs = Bufs::default();
        let kind = self.state_dir(state)?.stat_at(name).ok()?.kind;
        let mut e = self.read_entry(state, name, Some(kind), want, &mut bufs)?;
        if want.headers {
            self.read_headers(&mut e, &mut bufs);
        }
        Some(e)
    }

    /// The `stat` of an entry's symlink (for its change time).
    pub fn stat_entry(&self, state: State, name: &[u8]) -> Option<Meta> {
        self.state_dir(state)?.stat_at(name).ok()
    }

    /// Reads every entry of `states` in parallel, in chunks, giving `sink`
    /// the ones `filter` keeps, in folder order. `sink` returns `Break` to
    /// stop early (a `--limit`, a closed pipe).
    ///
    /// The chunks are pipelined: while the pool reads one chunk, this thread
    /// gives `sink` the entries of the chunk before (formatting output is
    /// serial work that would otherwise leave the pool idle). At most two
    /// chunks of entries are held at once.
    pub fn scan(
        &self,
        states: &[State],
        want: Want,
        filter: &dyn Filter,
        sink: &mut dyn FnMut(Entry) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        let mut chunk: Vec<Child> = Vec::with_capacity(CHUNK);
        let mut slots = Slots::default();
        for &state in states {
            let Some(dir) = self.state_dir(state) else { continue };
            let mut outcome: Result<ControlFlow<()>> = Ok(ControlFlow::Continue(()));
            let listed = dir.for_each_child(|name, kind| {
                chunk.push((name.into(), kind));
                if chunk.len() == CHUNK {
                    outcome = self.scan_chunk(state, &mut chunk, &mut slots, want, filter, sink);
                    if !matches!(outcome, Ok(ControlFlow::Continue(()))) {
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            });
            match outcome {
                Ok(ControlFlow::Continue(())) => {}
                Ok(ControlFlow::Break(())) => return Ok(()),
                Err(e) => return Err(e),
            }
            listed.map_err(|e| Error::io("listing", self.display(state.dir()), e))?;
            if self
                .scan_chunk(state, &mut chunk, &mut slots, want, filter, sink)?
                .is_break()
            {
                return Ok(());
            }
        }
        give(&mut slots.ready, sink).map(|_| ())
    }

    /// Reads `chunk` (entries of `state`) on the pool into `slots.spare`
    /// while giving `sink` the entries of the previous chunk (`slots.ready`);
    /// then the new entries are the ready ones.
    fn scan_chunk(
        &self,
        state: State,
        chunk: &mut Vec<Child>,
        slots: &mut Slots,
        want: Want,
        filter: &dyn Filter,
        sink: &mut dyn FnMut(Entry) -> Result<ControlFlow<()>>,
    ) -> Result<ControlFlow<()>> {
        let Slots { ready, spare } = slots;
        // Set when `sink` stops early, so the pool skips the rest of the chunk.
        let stop = AtomicBool::new(false);
        let (names, halt, out) = (&mut *chunk, &stop, &mut *spare);
        let flow = readers_scope(|s| {
            if !names.is_empty() {
                s.spawn(move |_| self.read_chunk(state, names, want, filter, halt, out));
            }
            let flow = give(ready, sink);
            if !matches!(flow, Ok(ControlFlow::Continue(()))) {
                stop.store(true, Ordering::Relaxed);
            }
            flow
        });
        chunk.clear();
        std::mem::swap(ready, spare);
        flow
    }

    /// Reads the entries of one chunk into `out`, in folder order. Each
    /// reader takes a run of neighbouring entries and keeps the mail folder
    /// it opened last (see `Reader`): where the folder lists a mail's
    /// recipients next to each other, `data/<mail>` is opened, its
    /// `contents` looked at and its headers read once for all of them.
    fn read_chunk(
        &self,
        state: State,
        names: &mut Vec<Child>,
        want: Want,
        filter: &dyn Filter,
        stop: &AtomicBool,
        out: &mut Vec<Option<Entry>>,
    ) {
        names
            .par_drain(..)
            .with_min_len(64)
            .map_init(Reader::default, |r, (name, kind)| {
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                match self.read_link(state, EntryId::from_boxed(name), kind, want, &mut r.bufs)? {
                    (e, Some(link)) => self.read_linked(e, link, want, filter, r),
                    // Nothing more to read (a problem, or no files wanted).
                    (e, None) => (filter.pre(&e) && filter.post(&e)).then_some(e),
                }
            })
            .collect_into_vec(out);
    }

    /// Reads the files of an entry whose link is valid, reusing the mail
    /// folder (and headers) `r` has open when the mail is the same.
    fn read_linked(&self, mut e: Entry, link: Link, want: Want, filter: &dyn Filter, r: &mut Reader) -> Option<Entry> {
        let OpenMail { dir, headers, .. } = match &mut r.mail {
            Some(open) if open.id == link.mail => open,
            slot => slot.insert(OpenMail {
                id: link.mail,
                dir: self.open_mail(link.mail),
                headers: None,
            }),
        };
        let dir = match dir {
            Ok(dir) => dir,
            Err(problem) => {
                e.problems.push(problem.clone());
                return (filter.pre(&e) && filter.post(&e)).then_some(e);
            }
        };
        self.read_dest(&mut e, dir, link.dest, &mut r.bufs);
        if !filter.pre(&e) {
            return None;
        }
        if want.headers && e.contents.is_some() {
            let file = &mut r.bufs.file;
            let h = headers.get_or_insert_with(|| {
                let (step, max) = (headers::HEADER_READ_STEP, headers::HEADER_READ_LIMIT);
                dir.dir
                    .read_prefix_until("contents", step, max, file, headers::has_header_end)
                    .ok()
                    .map(|_| headers::parse(file))
            });
            e.headers = h.clone().map(Box::new);
        }
        filter.post(&e).then_some(e)
    }

    /// The names in the given state folders (for resolving id prefixes).
    pub fn names(&self, states: &[State]) -> Result<Vec<(State, EntryId)>> {
        let mut out = Vec::new();
        for &s in states {
            let Some(dir) = self.state_dir(s) else { continue };
            dir.for_each_child(|name, _| {
                out.push((s, EntryId::new(name)));
                ControlFlow::Continue(())
            })
            .map_err(|e| Error::io("listing", self.display(s.dir()), e))?;
        }
        Ok(out)
    }
}

/// The pipeline's two chunk buffers: `ready` holds entries read and not yet
/// given to the sink, `spare` is where the pool reads the next chunk (`None`
/// for an entry that vanished or that the filter dropped).
#[derive(Default)]
struct Slots {
    ready: Vec<Option<Entry>>,
    spare: Vec<Option<Entry>>,
}

/// Gives `sink` the entries in `ready`, in order, until it says stop.
fn give(
    ready: &mut Vec<Option<Entry>>,
    sink: &mut dyn FnMut(Entry) -> Result<ControlFlow<()>>,
) -> Result<ControlFlow<()>> {
    for e in ready.drain(..).flatten() {
        if sink(e)?.is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    Ok(ControlFlow::Continue(()))
}
