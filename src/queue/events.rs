//! What changes in the queue, as it changes: the writer (and mqctl) move
//! entries by renaming their links between the state folders, create a
//! link in `queue/` when they enqueue, and unlink it from `cleanup/` when a
//! cleanup is done (docs/writer.md). Watching the state folders (inotify,
//! through the `notify` crate) therefore says exactly which entries moved,
//! from where to where, without reading anything else.
//!
//! The kernel's event queue can overflow; a folder can be replaced; some
//! filesystems (NFS, SMB, FUSE) deliver no events for changes made by
//! other machines. Each of these is an `Event::Rescan`: the caller reads
//! the queue again (`Census::resync` turns the new listing into the events
//! it missed). On a network filesystem the watch does not rely on events
//! at all and asks for a rescan every few seconds (`Mode::Polling`).

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use notify::event::{CreateKind, EventKind, ModifyKind, RemoveKind, RenameMode};
use notify::{RecursiveMode, Watcher};

use super::{EntryId, Queue, State};
use crate::error::{Error, Result};

/// One change to one entry, or the news that some were missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The link was renamed from one state folder to another.
    Moved { id: EntryId, from: State, to: State },
    /// A link appeared (an enqueue, or a move from outside the state folders).
    Added { id: EntryId, to: State },
    /// A link went away (a finished cleanup, or a move out of them).
    Removed { id: EntryId, from: State },
    /// Events were lost or cannot be had: read the queue again.
    Rescan(Rescan),
}

/// Why a rescan is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rescan {
    /// The kernel's event queue overflowed.
    Overflow,
    /// A state folder appeared, or the watch itself reported an error.
    Folders,
    /// No events on this filesystem: the periodic look.
    Periodic,
}

/// How the watch learns of changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Events,
    /// Every `every`, because events are not delivered here (the text says
    /// why, for the TUI's header).
    Polling {
        why: String,
        every: Duration,
    },
}

/// What a rename's first half said, waiting for its second.
struct Half {
    cookie: usize,
    id: EntryId,
    from: State,
    at: Instant,
}

/// A rename's two halves arrive one after the other; a first half with no
/// second within this long was a move out of the watched folders.
const PAIRING: Duration = Duration::from_millis(50);

/// How often a queue on a filesystem without events is read again.
pub const POLL_EVERY: Duration = Duration::from_secs(10);

/// Watches the state folders of an open queue.
pub struct Watch {
    rx: Receiver<notify::Result<notify::Event>>,
    tx: Sender<notify::Result<notify::Event>>,
    watcher: Option<notify::RecommendedWatcher>,
    /// Watched path (through /proc/self/fd, so it is the folder mqctl
    /// opened) -> the state it is.
    dirs: HashMap<PathBuf, State>,
    root: PathBuf,
    root_watched: bool,
    mode: Mode,
    half: Option<Half>,
    ready: std::collections::VecDeque<Event>,
    last_poll: Instant,
}

/// Filesystems whose changes made elsewhere inotify does not see.
fn network_fs(fd: &impl std::os::fd::AsFd) -> Option<&'static str> {
    let fs = nix::sys::statfs::fstatfs(fd).ok()?;
    let t = fs.filesystem_type().0 as i64;
    Some(match t {
        0x6969 => "NFS",
        0x517B | 0xFF53_4D42 | 0xFE53_4D42 => "SMB",
        0x6573_5546 => "FUSE",
        0x00C3_6400 => "Ceph",
        0x5346_414F => "AFS",
        0x0102_1997 => "9P",
        _ => return None,
    })
}

/// The folder mqctl opened, as a path inotify can watch: the watch is on
/// that very folder, whatever its path leads to now.
fn fd_path(fd: &impl std::os::fd::AsFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))
}

impl Watch {
    /// Starts watching `queue`'s state folders (and its root, where mqctl's
    /// own folders appear on first use). `MQCTL_WATCH=poll` forces the
    /// polling mode (for tests of it).
    pub fn start(queue: &Queue) -> Result<Watch> {
        let forced = std::env::var("MQCTL_WATCH").is_ok_and(|v| v == "poll");
        Watch::start_with(queue, forced.then_some(POLL_EVERY))
    }

    /// `start`, or the polling mode every `poll` when given.
    pub fn start_with(queue: &Queue, poll: Option<Duration>) -> Result<Watch> {
        let (tx, rx) = channel();
        let mut w = Watch {
            rx,
            tx,
            watcher: None,
            dirs: HashMap::new(),
            root: fd_path(queue.root()),
            root_watched: false,
            mode: Mode::Events,
            half: None,
            ready: Default::default(),
            last_poll: Instant::now(),
        };
        let fs = network_fs(queue.root());
        if let Some(every) = poll.or(fs.map(|_| POLL_EVERY)) {
            let why = fs.unwrap_or("asked to poll");
            w.mode = Mode::Polling {
                why: format!(
                    "{why}: changes are not announced, the queue is read every {}s",
                    every.as_secs().max(1)
                ),
                every,
            };
            return Ok(w);
        }
        let tx = w.tx.clone();
        let watcher = notify::recommended_watcher(move |e| {
            let _ = tx.send(e);
        })
        .map_err(|e| Error::Usage(format!("watching the queue: {e}")))?;
        w.watcher = Some(watcher);
        w.add(queue)?;
        Ok(w)
    }

    /// Adds the state folders not watched yet; false when none was new.
    fn add(&mut self, queue: &Queue) -> Result<bool> {
        let Some(watcher) = self.watcher.as_mut() else {
            return Ok(false);
        };
        let mut added = false;
        if !self.root_watched {
            watcher
                .watch(&self.root, RecursiveMode::NonRecursive)
                .map_err(|e| Error::Usage(format!("watching the queue: {e}")))?;
            self.root_watched = true;
        }
        for s in State::ALL {
            let Some(dir) = queue.state_dir(s) else { continue };
            let path = fd_path(dir);
            if self.dirs.values().any(|&v| v == s) {
                continue;
            }
            watcher
                .watch(&path, RecursiveMode::NonRecursive)
                .map_err(|e| Error::Usage(format!("watching {}/: {e}", s.dir())))?;
            self.dirs.insert(path, s);
            added = true;
        }
        Ok(added)
    }

    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// Opens and watches state folders that appeared since (`hold/` and
    /// the claim folders are made on first use). True when one did: the
    /// caller should rescan, entries may have moved in before the watch.
    pub fn refresh(&mut self, queue: &Queue) -> Result<bool> {
        for s in State::ALL {
            if queue.state_dir(s).is_none() {
                let _ = queue.open_state_dir(s);
            }
        }
        self.add(queue)
    }

    /// The next event, waiting at most `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Option<Event> {
        if let Some(e) = self.ready.pop_front() {
            return Some(e);
        }
        if let Mode::Polling { every, .. } = &self.mode {
            let due = self.last_poll + *every;
            let wait = due.saturating_duration_since(Instant::now());
            if wait > timeout {
                std::thread::sleep(timeout);
                return None;
            }
            std::thread::sleep(wait);
            self.last_poll = Instant::now();
            return Some(Event::Rescan(Rescan::Periodic));
        }
        let end = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            // A first half of a rename left alone: a move out of our folders.
            let mut wait = end.saturating_duration_since(now);
            if let Some(h) = &self.half {
                let limit = (h.at + PAIRING).saturating_duration_since(now);
                if limit.is_zero() {
                    let h = self.half.take().expect("checked");
                    return Some(Event::Removed { id: h.id, from: h.from });
                }
                wait = wait.min(limit);
            }
            match self.rx.recv_timeout(wait) {
                Ok(raw) => {
                    self.take(raw);
                    if let Some(e) = self.ready.pop_front() {
                        return Some(e);
                    }
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() >= end && self.half.is_none() => return None,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Where a path of an event is: (state, entry name).
    fn place(&self, p: &Path) -> Option<(State, EntryId)> {
        let state = *self.dirs.get(p.parent()?)?;
        use std::os::unix::ffi::OsStrExt;
        Some((state, EntryId::new(p.file_name()?.as_bytes())))
    }

    fn take(&mut self, raw: notify::Result<notify::Event>) {
        let ev = match raw {
            Ok(ev) => ev,
            Err(_) => {
                self.ready.push_back(Event::Rescan(Rescan::Folders));
                return;
            }
        };
        if ev.need_rescan() {
            self.half = None;
            self.ready.push_back(Event::Rescan(Rescan::Overflow));
            return;
        }
        let Some(path) = ev.paths.first() else { return };
        // Something in the root itself: a state folder may have appeared.
        if path.parent() == Some(self.root.as_path()) {
            if matches!(
                ev.kind,
                EventKind::Create(CreateKind::Folder) | EventKind::Modify(ModifyKind::Name(_))
            ) {
                self.ready.push_back(Event::Rescan(Rescan::Folders));
            }
            return;
        }
        match ev.kind {
            EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
                self.flush_half();
                if let Some((from, id)) = self.place(path) {
                    self.half = Some(Half {
                        cookie: ev.attrs.tracker().unwrap_or(0),
                        id,
                        from,
                        at: Instant::now(),
                    });
                }
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
                let Some((to, id)) = self.place(path) else {
                    self.flush_half();
                    return;
                };
                match self.half.take() {
                    Some(h) if Some(h.cookie) == ev.attrs.tracker() && h.id == id => {
                        if h.from != to {
                            self.ready.push_back(Event::Moved { id, from: h.from, to });
                        }
                    }
                    other => {
                        self.half = other;
                        self.flush_half();
                        self.ready.push_back(Event::Added { id, to });
                    }
                }
            }
            // The pair again, as one event: already handled from its halves.
            EventKind::Modify(ModifyKind::Name(_)) => {}
            EventKind::Create(_) => {
                if let Some((to, id)) = self.place(path) {
                    self.flush_half();
                    self.ready.push_back(Event::Added { id, to });
                }
            }
            EventKind::Remove(RemoveKind::File | RemoveKind::Any | RemoveKind::Other) => {
                if let Some((from, id)) = self.place(path) {
                    self.flush_half();
                    self.ready.push_back(Event::Removed { id, from });
                }
            }
            _ => {}
        }
    }

    fn flush_half(&mut self) {
        if let Some(h) = self.half.take() {
            self.ready.push_back(Event::Removed { id: h.id, from: h.from });
        }
    }
}

/// Which entry is in which state folder, by name only: what a rescan
/// compares the new listing with, to tell what moved while events were
/// missed. About 60 bytes an entry.
#[derive(Debug, Default)]
pub struct Census {
    uuids: HashMap<[u8; 16], State>,
    /// Names that are not the writer's UUIDs (rare; reported by `check`).
    others: HashMap<EntryId, State>,
}

impl Census {
    /// Lists every state folder.
    pub fn read(queue: &Queue) -> Result<Census> {
        let mut c = Census::default();
        for (s, id) in queue.names(&State::ALL)? {
            c.set(&id, Some(s));
        }
        Ok(c)
    }

    pub fn len(&self) -> usize {
        self.uuids.len() + self.others.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, id: &EntryId) -> Option<State> {
        match super::parse_uuid(id.as_bytes()) {
            Some(u) => self.uuids.get(u.as_bytes()).copied(),
            None => self.others.get(id).copied(),
        }
    }

    /// Records where an entry is now (`None`: gone).
    pub fn set(&mut self, id: &EntryId, state: Option<State>) {
        match (super::parse_uuid(id.as_bytes()), state) {
            (Some(u), Some(s)) => {
                self.uuids.insert(*u.as_bytes(), s);
            }
            (Some(u), None) => {
                self.uuids.remove(u.as_bytes());
            }
            (None, Some(s)) => {
                self.others.insert(id.clone(), s);
            }
            (None, None) => {
                self.others.remove(id);
            }
        }
    }

    /// Applies an event; false when it says nothing new (an event about a
    /// state the census already had).
    pub fn apply(&mut self, e: &Event) -> bool {
        match e {
            Event::Moved { id, to, .. } | Event::Added { id, to } => {
                let new = self.get(id) != Some(*to);
                self.set(id, Some(*to));
                new
            }
            Event::Removed { id, from } => {
                let had = self.get(id) == Some(*from);
                if had {
                    self.set(id, None);
                }
                had
            }
            Event::Rescan(_) => false,
        }
    }

    /// Lists the queue again and returns what changed since, as events
    /// (and takes the new listing as its own).
    pub fn resync(&mut self, queue: &Queue) -> Result<Vec<Event>> {
        let now = Census::read(queue)?;
        let mut out = Vec::new();
        let entries = |c: &Census| -> Vec<(EntryId, State)> {
            c.uuids
                .iter()
                .map(|(u, s)| (EntryId::from_uuid(uuid::Uuid::from_bytes(*u)), *s))
                .chain(c.others.iter().map(|(i, s)| (i.clone(), *s)))
                .collect()
        };
        for (id, s) in entries(&now) {
            match self.get(&id) {
                None => out.push(Event::Added { id, to: s }),
                Some(old) if old != s => out.push(Event::Moved { id, from: old, to: s }),
                Some(_) => {}
            }
        }
        for (id, s) in entries(self) {
            if now.get(&id).is_none() {
                out.push(Event::Removed { id, from: s });
            }
        }
        *self = now;
        Ok(out)
    }
}

/// What a move means, as the writer's and mqctl's operations name it.
pub fn describe(from: Option<State>, to: Option<State>) -> &'static str {
    use State::*;
    match (from, to) {
        (None, Some(Queued)) => "arrived",
        (Some(Queued), Some(Inflight)) => "sending",
        (Some(Inflight), Some(Cleanup)) => "delivered",
        (Some(Inflight), Some(Queued)) => "requeued",
        (Some(Queued | Held), Some(Cleanup)) => "dropped",
        (Some(Cleanup), None) => "cleaned-up",
        (Some(Queued), Some(Held)) => "held",
        (Some(Held), Some(Queued)) => "released",
        (Some(Queued | Held), Some(Claimed | ClaimedHeld)) => "claimed",
        (Some(Claimed | ClaimedHeld), Some(Queued | Held)) => "put-back",
        (None, Some(_)) => "appeared",
        (Some(_), None) => "removed",
        _ => "moved",
    }
}

/// The four flows the question "is it draining?" is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// A new entry in `queue/` (an enqueue).
    Arrived,
    /// `queue/` -> `inflight/`: a send started.
    Sending,
    /// `inflight/` -> `cleanup/`: sent.
    Delivered,
    /// `inflight/` -> `queue/`: an attempt failed, the entry waits again.
    Requeued,
}

impl Flow {
    pub fn of(e: &Event) -> Option<Flow> {
        use State::*;
        match e {
            Event::Added { to: Queued, .. } => Some(Flow::Arrived),
            Event::Moved {
                from: Queued,
                to: Inflight,
                ..
            } => Some(Flow::Sending),
            Event::Moved {
                from: Inflight,
                to: Cleanup,
                ..
            } => Some(Flow::Delivered),
            Event::Moved {
                from: Inflight,
                to: Queued,
                ..
            } => Some(Flow::Requeued),
            _ => None,
        }
    }
}

/// Per-minute rates of each flow, over the last minute and the last ten.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RatesNow {
    /// arrived, sending, delivered, requeued: per minute over the last minute.
    pub last_minute: [f64; 4],
    /// The same over the last ten minutes.
    pub last_ten: [f64; 4],
    /// False until the watch has run for a minute (the figures are partial).
    pub full_minute: bool,
}

/// Counts of each flow per second, for the last ten minutes.
#[derive(Debug)]
pub struct Rates {
    started: Instant,
    /// (second since `started`, counts per flow), oldest first.
    seconds: std::collections::VecDeque<(u64, [u32; 4])>,
}

const TEN_MINUTES: u64 = 600;

impl Default for Rates {
    fn default() -> Rates {
        Rates {
            started: Instant::now(),
            seconds: Default::default(),
        }
    }
}

impl Rates {
    pub fn note(&mut self, flow: Flow) {
        self.note_at(flow, Instant::now());
    }

    pub fn note_at(&mut self, flow: Flow, at: Instant) {
        let sec = at.saturating_duration_since(self.started).as_secs();
        match self.seconds.back_mut() {
            Some((s, c)) if *s == sec => c[flow as usize] += 1,
            _ => {
                let mut c = [0; 4];
                c[flow as usize] = 1;
                self.seconds.push_back((sec, c));
            }
        }
        while self
            .seconds
            .front()
            .is_some_and(|(s, _)| sec.saturating_sub(*s) >= TEN_MINUTES)
        {
            self.seconds.pop_front();
        }
    }

    pub fn now(&self) -> RatesNow {
        self.at(Instant::now())
    }

    pub fn at(&self, at: Instant) -> RatesNow {
        let elapsed = at.saturating_duration_since(self.started).as_secs();
        let sum = |window: u64| {
            let mut t = [0u64; 4];
            for (s, c) in &self.seconds {
                if elapsed.saturating_sub(*s) < window {
                    for k in 0..4 {
                        t[k] += u64::from(c[k]);
                    }
                }
            }
            // Per minute over the window, or over the time watched when
            // that is shorter, but never over less than a minute: a burst
            // in the first seconds is not extrapolated.
            let minutes = (elapsed.clamp(60, window) as f64) / 60.0;
            t.map(|n| n as f64 / minutes)
        };
        RatesNow {
            last_minute: sum(60),
            last_ten: sum(TEN_MINUTES),
            full_minute: elapsed >= 60,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_count_per_minute_over_each_window() {
        let mut r = Rates::default();
        let t0 = r.started;
        // 30 deliveries in the first minute, 5 requeues in the tenth.
        for i in 0..30 {
            r.note_at(Flow::Delivered, t0 + Duration::from_secs(i * 2));
        }
        for i in 0..5 {
            r.note_at(Flow::Requeued, t0 + Duration::from_secs(540 + i));
        }
        let now = r.at(t0 + Duration::from_secs(599));
        assert_eq!(now.last_minute[Flow::Delivered as usize], 0.0);
        assert_eq!(now.last_minute[Flow::Requeued as usize], 5.0);
        assert!((now.last_ten[Flow::Delivered as usize] - 3.0).abs() < 0.01);
        assert!(now.full_minute);
        // Ten minutes later the first minute's deliveries have left both windows.
        r.note_at(Flow::Arrived, t0 + Duration::from_secs(700));
        let later = r.at(t0 + Duration::from_secs(700));
        assert_eq!(later.last_ten[Flow::Delivered as usize], 0.0);
    }

    #[test]
    fn census_turns_a_new_listing_into_the_events_missed() {
        let a = EntryId::new(b"00000000-0000-4000-8000-00000000000a");
        let b = EntryId::new(b"00000000-0000-4000-8000-00000000000b");
        let mut c = Census::default();
        c.set(&a, Some(State::Queued));
        assert!(c.apply(&Event::Moved {
            id: a.clone(),
            from: State::Queued,
            to: State::Inflight
        }));
        assert!(!c.apply(&Event::Added {
            id: a.clone(),
            to: State::Inflight
        }));
        assert_eq!(c.get(&a), Some(State::Inflight));
        assert!(!c.apply(&Event::Removed {
            id: b,
            from: State::Cleanup
        }));
    }
}
