//! The archive `export` writes and `import` reads: one tar stream in the
//! queue's own layout (docs/queue-format.md), so that `tar tvf` shows it:
//!
//! ```text
//! data/<mail>/contents            regular file, 0600, the bytes on disk
//! data/<mail>/<dest>/metadata     regular file, 0600
//! data/<mail>/<dest>/schedule     regular file, 0600
//! hold-notes/<id>                regular file, 0600: why it is held (a held entry's note, if any)
//! <state>/<id> -> ../data/<mail>/<dest>   symlink (state: queue or hold)
//! ...
//! mqctl-export.json               the trailer: how many mails and entries
//! ```
//!
//! Each mail's members are together: its contents once, then per recipient
//! its metadata, schedule and link, so that an importer can stream it one
//! mail at a time. The contents' modification time (the mail's age) is
//! kept to the nanosecond in a PAX `mtime` record. The trailer comes last:
//! an archive without it was cut.
//!
//! An archive is hostile input like a queue: `read` accepts exactly these
//! names (no other member is written anywhere), bounds every member it
//! buffers (`MAX_CONTENTS`, `MAX_JSON_FILE`), reads the stream in the tar
//! crate's raw mode (no GNU long names, no PAX size overrides) and
//! validates both JSON files before a recipient counts as whole.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::ops::ControlFlow;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::sys::Meta;
use super::{DestId, EntryId, Link, MAX_JSON_FILE, MailId, State, parse, parse_uuid};

/// The trailer's name, and the name `format` carries in it.
pub const TRAILER: &str = "mqctl-export.json";
const FORMAT: &str = "mqctl-export";
const VERSION: u32 = 1;

/// The largest message an archive carries: the importer holds one mail in
/// memory, so the exporter refuses what the importer would refuse.
pub const MAX_CONTENTS: u64 = 256 * 1024 * 1024;

/// PAX records (only `mtime` is written) are read up to this size.
const MAX_PAX: u64 = 64 * 1024;

/// Recipients whose files arrived but whose link has not yet: the exporter
/// writes a recipient's three members in a row, so more than a few means
/// the archive is not one of ours.
const MAX_PENDING: usize = 16;

/// The last member: what the archive holds, so a cut is noticed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    pub format: String,
    pub version: u32,
    pub mails: u64,
    pub entries: u64,
}

/// Writes an archive, one mail at a time: `contents`, then each of its
/// recipients, then `finish`.
pub struct Writer<W: Write> {
    tar: tar::Builder<W>,
    mail: Option<MailId>,
    mails: u64,
    entries: u64,
}

fn header(kind: tar::EntryType, mode: u32, size: u64, meta: &Meta) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(u64::from(meta.uid));
    h.set_gid(u64::from(meta.gid));
    h.set_mtime(meta.mtime.0.max(0) as u64);
    h
}

/// One PAX record, `"<len> <key>=<value>\n"`, where `len` counts itself.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut n = body.len() + 1;
    loop {
        let rec = format!("{n}{body}");
        if rec.len() == n {
            return rec.into_bytes();
        }
        n = rec.len();
    }
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Writer<W> {
        Writer {
            tar: tar::Builder::new(out),
            mail: None,
            mails: 0,
            entries: 0,
        }
    }

    /// Starts a mail: its `contents` (`meta` is what `fstat` said of it).
    pub fn contents(&mut self, mail: MailId, bytes: &[u8], meta: &Meta) -> io::Result<()> {
        let path = format!("data/{mail}/contents");
        let (sec, nsec) = meta.mtime;
        if nsec != 0 && sec >= 0 {
            let rec = pax_record("mtime", &format!("{sec}.{nsec:09}"));
            let mut h = header(tar::EntryType::XHeader, 0o600, rec.len() as u64, meta);
            self.tar
                .append_data(&mut h, format!("data/{mail}/PaxHeaders/contents"), rec.as_slice())?;
        }
        let mut h = header(tar::EntryType::Regular, 0o600, bytes.len() as u64, meta);
        self.tar.append_data(&mut h, path, bytes)?;
        self.mail = Some(mail);
        self.mails += 1;
        Ok(())
    }

    /// One recipient of the current mail: its metadata, schedule, a held
    /// entry's note, and its link (`link_meta` is the link's `lstat`, for
    /// its time).
    pub fn recipient(&mut self, state: State, id: &EntryId, link: Link, files: &DestFiles) -> io::Result<()> {
        debug_assert_eq!(
            self.mail,
            Some(link.mail),
            "a recipient comes after its mail's contents"
        );
        let dir = format!("data/{}", link.dest_path());
        for (name, bytes, meta) in [
            ("metadata", &files.metadata, &files.metadata_meta),
            ("schedule", &files.schedule, &files.schedule_meta),
        ] {
            let mut h = header(tar::EntryType::Regular, 0o600, bytes.len() as u64, meta);
            self.tar
                .append_data(&mut h, format!("{dir}/{name}"), bytes.as_slice())?;
        }
        let shown = String::from_utf8_lossy(id.as_bytes());
        if let (State::Held, Some(note)) = (state, &files.hold_note) {
            let mut h = header(tar::EntryType::Regular, 0o600, note.len() as u64, &files.link_meta);
            self.tar
                .append_data(&mut h, format!("{}/{shown}", super::holds::NOTES), note.as_slice())?;
        }
        let mut h = header(tar::EntryType::Symlink, 0o777, 0, &files.link_meta);
        let name = format!("{}/{shown}", state.dir());
        self.tar.append_link(&mut h, name, link.text())?;
        self.entries += 1;
        Ok(())
    }

    /// Writes the trailer and the end of the archive; gives back the output
    /// (to flush and sync).
    pub fn finish(mut self) -> io::Result<W> {
        let trailer = Trailer {
            format: FORMAT.into(),
            version: VERSION,
            mails: self.mails,
            entries: self.entries,
        };
        let body = serde_json::to_vec(&trailer).expect("plain data");
        let meta = Meta {
            kind: super::sys::Kind::File,
            size: body.len() as u64,
            mode: 0o600,
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            nlink: 1,
            mtime: (Timestamp::now().as_second(), 0),
            ctime: (0, 0),
        };
        let mut h = header(tar::EntryType::Regular, 0o600, body.len() as u64, &meta);
        self.tar.append_data(&mut h, TRAILER, body.as_slice())?;
        self.tar.into_inner()
    }

    /// Ends the archive without a trailer (an interrupted export): an
    /// importer takes what is whole and says the archive was cut.
    pub fn abandon(self) -> io::Result<W> {
        self.tar.into_inner()
    }

    pub fn mails(&self) -> u64 {
        self.mails
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }
}

/// A recipient's two files, as read from the queue, and what `fstat` said.
#[derive(Debug, Clone)]
pub struct DestFiles {
    pub metadata: Vec<u8>,
    pub metadata_meta: Meta,
    pub schedule: Vec<u8>,
    pub schedule_meta: Meta,
    pub link_meta: Meta,
    /// A held entry's note (`hold-notes/<id>`), as its bytes are.
    pub hold_note: Option<Vec<u8>>,
}

/// A mail as the archive carries it.
#[derive(Debug)]
pub struct Mail {
    pub id: MailId,
    pub contents: Vec<u8>,
    /// The contents' modification time (the mail's age).
    pub written: Option<Timestamp>,
}

/// One whole recipient: its three members arrived intact and both JSON
/// files are valid.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub id: EntryId,
    /// `queue` or `hold`.
    pub state: State,
    pub link: Link,
    pub metadata: Vec<u8>,
    pub schedule: Vec<u8>,
    /// A held entry's note, valid as a `HoldNote` (only with `Held`).
    pub hold_note: Option<Vec<u8>>,
}

/// Whole recipients of one mail, as `read` hands them on.
#[derive(Debug)]
pub struct Part {
    pub mail: Arc<Mail>,
    pub recipients: Vec<Recipient>,
}

/// How reading an archive ended.
#[derive(Debug, Default)]
pub struct Ending {
    /// Why the stream stopped before its trailer ("the archive ends early:
    /// inside data/…/contents"), when it did.
    pub cut: Option<String>,
    /// What could not be taken, one line each (a recipient without its
    /// link, a member that is not ours, a file over its bound…).
    pub problems: Vec<String>,
    /// Recipients in the archive that were not whole.
    pub lost: u64,
    /// Whole recipients handed on.
    pub entries: u64,
    pub mails: u64,
    pub trailer: Option<Trailer>,
    /// `sink` asked to stop, or `stop` was set.
    pub stopped: bool,
}

impl Ending {
    /// True when something in the archive was not taken.
    pub fn incomplete(&self) -> bool {
        self.cut.is_some() || !self.problems.is_empty() || self.lost > 0
    }
}

/// What a member's name says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Contents(MailId),
    Metadata(MailId, DestId),
    Schedule(MailId, DestId),
    Link(State, [u8; 36]),
    /// `hold-notes/<id>`: the note of the held entry whose link follows.
    Note([u8; 36]),
    Trailer,
    /// A folder of the layout (a re-made archive may list them): ignored.
    Folder,
}

fn name(path: &[u8]) -> Option<Name> {
    if path == TRAILER.as_bytes() {
        return Some(Name::Trailer);
    }
    let parts: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    let uuid = |b: &[u8]| parse_uuid(b);
    match parts.as_slice() {
        [b"data", m, b"contents"] => Some(Name::Contents(MailId(uuid(m)?))),
        [b"data", m, d, b"metadata"] => Some(Name::Metadata(MailId(uuid(m)?), DestId(uuid(d)?))),
        [b"data", m, d, b"schedule"] => Some(Name::Schedule(MailId(uuid(m)?), DestId(uuid(d)?))),
        [b"hold-notes", id] if uuid(id).is_some() => Some(Name::Note((*id).try_into().ok()?)),
        [s, id] if uuid(id).is_some() => {
            let state = match *s {
                b"queue" => State::Queued,
                b"hold" => State::Held,
                _ => return None,
            };
            Some(Name::Link(state, (*id).try_into().ok()?))
        }
        [b"data", b""] | [b"queue", b""] | [b"hold", b""] | [b"hold-notes", b""] => Some(Name::Folder),
        [b"data", m, b""] if uuid(m).is_some() => Some(Name::Folder),
        [b"data", m, d, b""] if uuid(m).is_some() && uuid(d).is_some() => Some(Name::Folder),
        _ => None,
    }
}

/// Counts what the tar reader takes from the stream, and whether it met
/// the end or a read error: an error after the end is a cut, after a read
/// error that error, any other is corruption.
struct Tracked<R> {
    inner: R,
    at: Rc<Track>,
}

#[derive(Default)]
struct Track {
    pos: Cell<u64>,
    eof: Cell<bool>,
    failed: Cell<bool>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.at.failed.set(true);
            }
        })?;
        if n == 0 && !buf.is_empty() {
            self.at.eof.set(true);
        }
        self.at.pos.set(self.at.pos.get() + n as u64);
        Ok(n)
    }
}

/// The recipients of the mail being read.
struct Group {
    mail: MailId,
    /// `None` when its contents could not be taken (`broken` says why).
    data: Option<Arc<Mail>>,
    broken: Option<String>,
    pending: BTreeMap<DestId, Pending>,
    ready: Vec<Recipient>,
}

#[derive(Default)]
struct Pending {
    metadata: Option<Result<Vec<u8>, String>>,
    schedule: Option<Result<Vec<u8>, String>>,
}

struct Reading<'s> {
    end: Ending,
    group: Option<Group>,
    /// A PAX `mtime` for the next member.
    mtime: Option<Timestamp>,
    /// A note for the held entry whose link comes next (`None` inside:
    /// the note was refused, and said so).
    note: Option<([u8; 36], Option<Vec<u8>>)>,
    part_max: usize,
    sink: &'s mut dyn FnMut(Part) -> ControlFlow<()>,
}

/// Reads an archive from `input`, handing `sink` the whole recipients of
/// each mail as soon as that mail's members have all arrived (in parts of
/// at most `part_max` recipients: at most one mail is held in memory).
/// Never fails: what could not be taken is in the `Ending`.
pub fn read(
    input: impl Read,
    part_max: usize,
    stop: &AtomicBool,
    sink: &mut dyn FnMut(Part) -> ControlFlow<()>,
) -> Ending {
    let track = Rc::new(Track::default());
    let mut archive = tar::Archive::new(Tracked {
        inner: input,
        at: Rc::clone(&track),
    });
    let mut r = Reading {
        end: Ending::default(),
        group: None,
        mtime: None,
        note: None,
        part_max: part_max.max(1),
        sink,
    };
    let failure = |e: io::Error, track: &Track, after: &str| {
        if track.failed.get() {
            format!("the archive cannot be read {after}: {e}")
        } else if track.eof.get() {
            format!("the archive ends early: {after} ({e})")
        } else {
            // The tar reader fails on a header it has just read whole.
            format!(
                "the archive is corrupt: the header at byte {}: {e}; nothing after it is read",
                track.pos.get().saturating_sub(512)
            )
        }
    };
    let entries = match archive.entries() {
        Ok(e) => e.raw(true),
        Err(e) => {
            r.end.cut = Some(format!("the archive cannot be read: {e}"));
            return r.end;
        }
    };
    let mut last = String::from("at its start");
    for entry in entries {
        if stop.load(Ordering::SeqCst) {
            r.end.stopped = true;
            break;
        }
        let mut entry = match entry {
            // Everything was accounted for: a cut in the end blocks is harmless.
            Err(_) if r.end.trailer.is_some() => break,
            Err(e) => {
                r.end.cut = Some(failure(e, &track, &last));
                break;
            }
            Ok(e) => e,
        };
        let path = entry.path_bytes().into_owned();
        let shown = crate::escape::escape_bytes(&path).into_owned();
        if r.end.trailer.is_some() {
            r.end
                .problems
                .push(format!("{shown}: after the trailer ({TRAILER}): ignored"));
            break;
        }
        match r.member(&mut entry, &path, &shown) {
            Ok(ControlFlow::Continue(())) => {}
            Ok(ControlFlow::Break(())) => {
                r.end.stopped = true;
                break;
            }
            Err(e) => {
                r.end.cut = Some(failure(e, &track, &format!("inside {shown}")));
                break;
            }
        }
        last = format!("after {shown}");
    }
    if !r.end.stopped {
        r.flush_group(true);
    }
    if r.end.stopped {
        return r.end;
    }
    match &r.end.trailer {
        None if r.end.cut.is_none() => {
            r.end.cut = Some(format!(
                "the archive ends early: no {TRAILER} after its last member ({last}); it was cut"
            ));
        }
        None => {}
        Some(t) => {
            let seen = r.end.entries + r.end.lost;
            if t.entries > seen {
                r.end.problems.push(format!(
                    "the archive's trailer says {} entries; {} were found in it",
                    t.entries, seen
                ));
                r.end.lost += t.entries - seen;
            }
        }
    }
    r.end
}

/// How many entries (link members) the archive in `file` holds, read
/// without their data; the file is rewound. `None` when it cannot tell.
pub fn count_entries(file: &std::fs::File) -> Option<usize> {
    use std::io::{Seek, SeekFrom};
    let mut archive = tar::Archive::new(file);
    let mut n = 0;
    for e in archive.entries_with_seek().ok()?.raw(true) {
        let Ok(e) = e else { break };
        if e.header().entry_type().is_symlink() && matches!(name(&e.path_bytes()), Some(Name::Link(..))) {
            n += 1;
        }
    }
    let mut f = file;
    f.seek(SeekFrom::Start(0)).ok()?;
    Some(n)
}

/// Reads a member's bytes: exactly its size, which the caller has bounded.
fn read_member(entry: &mut impl Read, size: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(size as usize);
    entry.take(size).read_to_end(&mut buf)?;
    if (buf.len() as u64) < size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{} of {size} bytes", buf.len()),
        ));
    }
    Ok(buf)
}

impl Reading<'_> {
    /// Takes one member. An `Err` is the stream failing (cut or corrupt).
    fn member<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &[u8],
        shown: &str,
    ) -> io::Result<ControlFlow<()>> {
        let kind = entry.header().entry_type();
        let size = entry.header().entry_size()?;
        if kind.is_pax_local_extensions() {
            if size > MAX_PAX {
                self.end
                    .problems
                    .push(format!("{shown}: a PAX header of {size} bytes: ignored"));
                return Ok(ControlFlow::Continue(()));
            }
            let bytes = read_member(entry, size)?;
            self.mtime = pax_mtime(&bytes);
            return Ok(ControlFlow::Continue(()));
        }
        if kind.is_pax_global_extensions() {
            return Ok(ControlFlow::Continue(()));
        }
        let mtime = self.mtime.take();
        let Some(name) = name(path) else {
            self.end
                .problems
                .push(format!("{shown}: not a member of an mqctl export: ignored"));
            return Ok(ControlFlow::Continue(()));
        };
        let regular = kind.is_file() || kind.is_contiguous();
        if let Some((id, _)) = self.note.take_if(|(id, _)| name != Name::Link(State::Held, *id)) {
            let id = EntryId::new(&id);
            self.end.problems.push(format!(
                "{}/{id}: not followed by its entry's link hold/{id}: ignored",
                super::holds::NOTES
            ));
        }
        match name {
            Name::Folder => {}
            Name::Note(id) => {
                let note = if !regular || size > MAX_JSON_FILE {
                    None
                } else {
                    let bytes = read_member(entry, size)?;
                    super::holds::HoldNote::is_note(&bytes).then_some(bytes)
                };
                if note.is_none() {
                    self.end.problems.push(format!(
                        "{shown}: not a hold note of mqctl's: its entry is imported held, without it"
                    ));
                }
                self.note = Some((id, note));
            }
            Name::Trailer => {
                if !regular || size > MAX_JSON_FILE {
                    self.end.problems.push(format!("{shown}: not a trailer of mqctl's"));
                } else {
                    let bytes = read_member(entry, size)?;
                    match serde_json::from_slice::<Trailer>(&bytes) {
                        Ok(t) if t.format == FORMAT && t.version == VERSION => {
                            self.flush_group(true);
                            self.end.trailer = Some(t);
                            return Ok(self.after_flush());
                        }
                        Ok(t) => self.end.problems.push(format!(
                            "{shown}: format {:?} version {}, not {FORMAT} version {VERSION}",
                            crate::escape::escape(&t.format),
                            t.version
                        )),
                        Err(e) => self
                            .end
                            .problems
                            .push(format!("{shown}: not a trailer of mqctl's: {e}")),
                    }
                }
            }
            Name::Contents(mail) => {
                self.flush_group(true);
                if let ControlFlow::Break(()) = self.after_flush() {
                    return Ok(ControlFlow::Break(()));
                }
                let mut g = Group {
                    mail,
                    data: None,
                    broken: None,
                    pending: BTreeMap::new(),
                    ready: Vec::new(),
                };
                let refused = if !regular {
                    Some(format!("{shown} is not a regular file in the archive"))
                } else if size > MAX_CONTENTS {
                    Some(format!(
                        "{shown} is {size} bytes, over the {} MiB an archive member may hold",
                        MAX_CONTENTS >> 20
                    ))
                } else {
                    None
                };
                if let Some(why) = refused {
                    // Said once here; each of its recipients is lost with it.
                    self.end.problems.push(format!("{why}: its mail is not imported"));
                    g.broken = Some(format!("data/{mail}/contents was refused"));
                } else {
                    let contents = read_member(entry, size)?;
                    let written = mtime.or_else(|| {
                        entry
                            .header()
                            .mtime()
                            .ok()
                            .and_then(|s| Timestamp::from_second(s as i64).ok())
                    });
                    g.data = Some(Arc::new(Mail {
                        id: mail,
                        contents,
                        written,
                    }));
                }
                self.group = Some(g);
            }
            Name::Metadata(mail, dest) | Name::Schedule(mail, dest) => {
                let metadata = matches!(name, Name::Metadata(..));
                let g = self.group_for(mail, shown);
                let file = if !regular {
                    Err(format!("{shown} is not a regular file in the archive"))
                } else if size > MAX_JSON_FILE {
                    Err(format!(
                        "{shown} is {size} bytes, over the {MAX_JSON_FILE} a queue file may hold"
                    ))
                } else {
                    let bytes = read_member(entry, size)?;
                    let valid = if metadata {
                        parse::envelope(&bytes).map(drop)
                    } else {
                        parse::schedule(&bytes).map(drop)
                    };
                    valid
                        .map(|()| bytes)
                        .map_err(|e| format!("{shown} is invalid: {}", crate::escape::escape(&e)))
                };
                let p = g.pending.entry(dest).or_default();
                let slot = if metadata { &mut p.metadata } else { &mut p.schedule };
                *slot = Some(match slot.take() {
                    None => file,
                    Some(_) => Err(format!("{shown} is in the archive twice")),
                });
                if g.pending.len() > MAX_PENDING {
                    return Err(io::Error::other(format!(
                        "more than {MAX_PENDING} recipients of data/{mail} without their link: not an mqctl export"
                    )));
                }
            }
            Name::Link(state, id) => {
                let id = EntryId::new(&id);
                let text = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                let link = Link::parse(&text);
                let entry_name = format!("{}/{id}", state.dir());
                let Some(link) = link.filter(|_| kind.is_symlink()) else {
                    self.end.lost += 1;
                    self.end.problems.push(format!(
                        "{entry_name}: not a link to ../data/<mail>/<dest> in the archive (\"{}\"): not imported",
                        crate::escape::escape_bytes(&text)
                    ));
                    return Ok(ControlFlow::Continue(()));
                };
                let hold_note = self.note.take().and_then(|(_, n)| n);
                let g = self.group_for(link.mail, shown);
                let files = g.pending.remove(&link.dest).unwrap_or_default();
                let why = match (&g.data, files.metadata, files.schedule) {
                    (None, _, _) => Err(g
                        .broken
                        .clone()
                        .unwrap_or_else(|| format!("data/{} has no contents in the archive", link.mail))),
                    (_, None, _) => Err(format!("data/{}/metadata is not in the archive", link.dest_path())),
                    (_, _, None) => Err(format!("data/{}/schedule is not in the archive", link.dest_path())),
                    (_, Some(Err(e)), _) | (_, _, Some(Err(e))) => Err(e),
                    (Some(_), Some(Ok(metadata)), Some(Ok(schedule))) => Ok((metadata, schedule)),
                };
                match why {
                    Ok((metadata, schedule)) => {
                        g.ready.push(Recipient {
                            id,
                            state,
                            link,
                            metadata,
                            schedule,
                            hold_note,
                        });
                        let full = g.ready.len() >= self.part_max;
                        self.end.entries += 1;
                        if full {
                            self.flush_group(false);
                            return Ok(self.after_flush());
                        }
                    }
                    Err(why) => {
                        self.end.lost += 1;
                        self.end.problems.push(format!("{entry_name}: {why}: not imported"));
                    }
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// The group of `mail`, starting one (whose contents is missing) when
    /// the member is not in its mail's group.
    fn group_for(&mut self, mail: MailId, shown: &str) -> &mut Group {
        if self.group.as_ref().is_none_or(|g| g.mail != mail) {
            self.flush_group(true);
            self.group = Some(Group {
                mail,
                data: None,
                broken: Some(format!(
                    "{shown} comes before (or without) data/{mail}/contents in the archive"
                )),
                pending: BTreeMap::new(),
                ready: Vec::new(),
            });
        }
        self.group.as_mut().expect("just set")
    }

    /// Hands on the whole recipients of the current group; at the end of
    /// the group (`last`), the recipients still without their link are lost.
    fn flush_group(&mut self, last: bool) {
        let Some(g) = self.group.as_mut() else { return };
        if !g.ready.is_empty()
            && let Some(data) = &g.data
        {
            let part = Part {
                mail: Arc::clone(data),
                recipients: std::mem::take(&mut g.ready),
            };
            if (self.sink)(part).is_break() {
                self.end.stopped = true;
            }
        }
        if !last {
            return;
        }
        let g = self.group.take().expect("checked above");
        if g.data.is_some() {
            self.end.mails += 1;
        }
        for dest in g.pending.keys() {
            self.end.lost += 1;
            self.end.problems.push(format!(
                "data/{}/{dest}: its link is not in the archive: not imported",
                g.mail
            ));
        }
    }

    fn after_flush(&self) -> ControlFlow<()> {
        if self.end.stopped {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// The `mtime` of PAX records (`"30 mtime=1764000000.123456789\n"`).
fn pax_mtime(bytes: &[u8]) -> Option<Timestamp> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut rest = text;
    while !rest.is_empty() {
        let (len, _) = rest.split_once(' ')?;
        let n: usize = len.parse().ok()?;
        let rec = rest.get(..n)?;
        rest = &rest[n..];
        let kv = rec.get(len.len() + 1..)?.strip_suffix('\n')?;
        if let Some(v) = kv.strip_prefix("mtime=") {
            let (sec, frac) = v.split_once('.').unwrap_or((v, ""));
            let sec: i64 = sec.parse().ok()?;
            let mut digits: String = frac.chars().take(9).collect();
            if !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            while digits.len() < 9 {
                digits.push('0');
            }
            let nsec: i32 = digits.parse().ok()?;
            return Timestamp::new(sec, nsec).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_count_their_own_length() {
        let r = pax_record("mtime", "1764000000.123456789");
        assert_eq!(r, b"30 mtime=1764000000.123456789\n");
        let ts = pax_mtime(&r).unwrap();
        assert_eq!((ts.as_second(), ts.subsec_nanosecond()), (1764000000, 123456789));
        assert_eq!(pax_record("k", "v"), b"6 k=v\n");
    }

    #[test]
    fn only_the_layouts_names_are_members() {
        let m = "3f2a0c6e-1b7d-4c1e-9a55-0d3c2b1a9f88";
        let d = "0d3c2b1a-1b7d-4c1e-9a55-3f2a0c6e9f88";
        assert!(matches!(
            name(format!("data/{m}/contents").as_bytes()),
            Some(Name::Contents(_))
        ));
        assert!(matches!(
            name(format!("data/{m}/{d}/schedule").as_bytes()),
            Some(Name::Schedule(..))
        ));
        assert!(matches!(
            name(format!("hold/{m}").as_bytes()),
            Some(Name::Link(State::Held, _))
        ));
        assert!(matches!(
            name(format!("hold-notes/{m}").as_bytes()),
            Some(Name::Note(_))
        ));
        for bad in [
            format!("hold-notes/{m}.{d}"),
            format!("hold-notes/{m}/x"),
            format!("/data/{m}/contents"),
            format!("data/{m}/../contents"),
            format!("inflight/{m}"),
            format!("queue/{}", m.to_uppercase()),
            format!("data/{m}/{d}/schedule.{d}"),
            "etc/passwd".to_string(),
        ] {
            assert_eq!(name(bad.as_bytes()), None, "{bad}");
        }
    }
}
