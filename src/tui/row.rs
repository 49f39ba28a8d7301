//! The TUI's compact picture of an entry. A million entries must fit in a
//! few hundred megabytes, so a row holds fixed-size numbers and indices into
//! an interner instead of an `Entry` with its strings and headers.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

use crate::output::escape;
use crate::queue::{Entry, EntryId, State, parse_uuid};

/// "Not known" for the time fields of a row.
pub const NO_TIME: i64 = i64::MIN;
/// "Not known" for an interned string.
pub const NO_STR: u32 = u32::MAX;

/// An entry's id: the 16 bytes of a well-formed name, or an index into the
/// side table of names that are not UUIDs (kept as bytes to act on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowId {
    Uuid([u8; 16]),
    Raw(u32),
}

/// What the worker sends for each entry: already escaped, not yet interned.
#[derive(Debug, Clone)]
pub struct RawRow {
    pub id: EntryId,
    pub state: State,
    pub broken: bool,
    /// The filter keeps it (the worker, which read the whole entry, knows).
    pub shown: bool,
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    pub at: i64,
    pub last: i64,
    pub written: i64,
    pub since: i64,
    pub size: u64,
}

fn secs(t: Option<Timestamp>) -> i64 {
    t.map_or(NO_TIME, |t| t.as_second())
}

impl RawRow {
    pub fn from_entry(e: &Entry, shown: bool) -> RawRow {
        let env = e.envelope.as_ref();
        RawRow {
            id: e.id.clone(),
            state: e.state,
            broken: e.is_broken(),
            shown,
            from: env.map(|en| escape(&en.from_display()).into_owned()),
            to: env.map(|en| escape(&en.to.to_string()).into_owned()),
            subject: e.subject().map(|s| escape(s).into_owned()),
            at: secs(e.schedule.map(|s| s.at)),
            last: secs(e.schedule.and_then(|s| s.last_attempt)),
            written: secs(e.contents.map(|c| c.written)),
            since: secs(e.since),
            size: e.contents.map_or(0, |c| c.size),
        }
    }
}

/// Times in a row are seconds from this moment (2026-01-01T00:00:00Z), in
/// 32 bits: 68 years either way, clamped beyond.
const EPOCH: i64 = 1_767_225_600;
const NONE32: i32 = i32::MIN;

fn pack(t: i64) -> i32 {
    if t == NO_TIME {
        NONE32
    } else {
        (t.saturating_sub(EPOCH)).clamp(i64::from(i32::MIN) + 1, i64::from(i32::MAX)) as i32
    }
}

fn unpack(v: i32) -> i64 {
    if v == NONE32 { NO_TIME } else { EPOCH + i64::from(v) }
}

/// One table row (56 bytes): a million of them fit in 56 MB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub id: RowId,
    pub state: State,
    pub broken: bool,
    /// The filter keeps it.
    pub shown: bool,
    pub from: u32,
    pub to: u32,
    pub subject: u32,
    at: i32,
    last: i32,
    written: i32,
    since: i32,
    size: u32,
}

impl Row {
    /// Next attempt, in seconds since the epoch (`NO_TIME` when unknown).
    pub fn at(&self) -> i64 {
        unpack(self.at)
    }
    pub fn last(&self) -> i64 {
        unpack(self.last)
    }
    pub fn written(&self) -> i64 {
        unpack(self.written)
    }
    pub fn since(&self) -> i64 {
        unpack(self.since)
    }
    /// The message's size (up to 4 GiB; larger shows as 4 GiB).
    pub fn size(&self) -> u64 {
        u64::from(self.size)
    }

    /// An inflight entry that has been there for `stuck_after` or more:
    /// its writer likely died (`crate::queue::is_stuck`, the one rule).
    /// When time changes how this row counts, if it does yet: a queued
    /// entry's next attempt (then it is due), an inflight entry's stuck
    /// time (`stuck_after` after it went in), in seconds.
    pub fn turn(&self, stuck_after: SignedDuration) -> Option<i64> {
        match self.state {
            State::Queued if self.at != NONE32 => Some(self.at()),
            State::Inflight if self.since != NONE32 => Some(self.since().saturating_add(stuck_after.as_secs())),
            _ => None,
        }
    }

    pub fn is_stuck(&self, now: Timestamp, stuck_after: SignedDuration) -> bool {
        self.state == State::Inflight
            && self.since != NONE32
            && Timestamp::from_second(self.since()).is_ok_and(|t| crate::queue::is_stuck(t, now, stuck_after))
    }
}

/// A key for the id index: 64 of the id's bits (an id is random).
fn fold(id: &RowId) -> u64 {
    match id {
        RowId::Uuid(b) => {
            u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
                ^ u64::from_le_bytes(b[8..].try_into().expect("8 bytes"))
        }
        RowId::Raw(i) => u64::from(*i) | (1 << 63),
    }
}

/// Hashes the already-random u64 keys of the id index: no SipHash work
/// per lookup on a million entries.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        // A multiply spreads the bits that hashbrown looks at.
        self.0 = v.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type KeyMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<KeyHasher>>;

/// Every entry's row, each in a slot that never moves while the entry is
/// there: the view keeps slot numbers, and a change to one entry touches one
/// slot. Found by id through a 64-bit key (the rare second id with the same
/// key goes to `spill`).
#[derive(Debug, Default)]
pub struct Table {
    slots: Vec<Option<Row>>,
    free: Vec<u32>,
    index: KeyMap<u32>,
    spill: HashMap<RowId, u32>,
}

impl Table {
    pub fn clear(&mut self) {
        *self = Table::default();
    }

    /// How many rows there are.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, slot: u32) -> &Row {
        self.slots[slot as usize].as_ref().expect("a live slot")
    }

    /// The row in a slot, if the slot is taken.
    pub fn try_get(&self, slot: u32) -> Option<&Row> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    /// The slot of an entry, if it has one.
    pub fn slot(&self, id: &RowId) -> Option<u32> {
        match self.index.get(&fold(id)) {
            Some(&s) if self.slots[s as usize].is_some_and(|r| r.id == *id) => Some(s),
            _ => self.spill.get(id).copied(),
        }
    }

    /// Puts `row` in its entry's slot (a new one for a new entry); returns
    /// the slot and the row it replaced.
    pub fn upsert(&mut self, row: Row) -> (u32, Option<Row>) {
        if let Some(s) = self.slot(&row.id) {
            let old = self.slots[s as usize].replace(row);
            return (s, old);
        }
        let s = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(row);
                s
            }
            None => {
                self.slots.push(Some(row));
                (self.slots.len() - 1) as u32
            }
        };
        let key = fold(&row.id);
        match self.index.get(&key) {
            Some(&other) if self.slots[other as usize].is_some_and(|r| r.id != row.id) => {
                self.spill.insert(row.id, s);
            }
            _ => {
                self.index.insert(key, s);
            }
        }
        (s, None)
    }

    /// Takes an entry's row out; returns its slot and the row.
    pub fn remove(&mut self, id: &RowId) -> Option<(u32, Row)> {
        let s = self.slot(id)?;
        let row = self.slots[s as usize].take().expect("a live slot");
        if self.spill.remove(id).is_none() {
            self.index.remove(&fold(id));
        }
        self.free.push(s);
        Some((s, row))
    }

    /// Every row, with its slot.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Row)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (i as u32, r)))
    }

    /// Gives back what growing left unused (after a full load).
    pub fn shrink(&mut self) {
        self.slots.shrink_to_fit();
        self.index.shrink_to_fit();
    }
}

/// Strings shared by many rows (senders, domains, subjects of a spam run)
/// are stored once, all in one buffer: per distinct string that is its
/// bytes, 8 bytes of span and, while a whole picture is loaded, one small
/// hash-table slot. After the load the index is dropped (`settle`): the
/// few strings that entries moving later bring are stored as they come,
/// and the buffer is rebuilt from the live rows when they have made it
/// twice what it needs (`Store::compact`).
#[derive(Debug, Default)]
pub struct Interner {
    bytes: String,
    spans: Vec<(u32, u32)>,
    /// Hash of the text -> its index.
    index: HashMap<u64, u32>,
    /// The rare strings whose hash another string already has.
    collided: HashMap<Box<str>, u32>,
    /// Deduplicating (false once settled).
    indexing: bool,
}

fn hash(s: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // Fixed keys: the same text always hashes the same within a run.
    let mut h = std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().build_hasher();
    h.write(s.as_bytes());
    h.finish()
}

impl Interner {
    /// An empty interner that deduplicates what it is given.
    pub fn indexing() -> Interner {
        Interner {
            indexing: true,
            ..Interner::default()
        }
    }

    /// Stops deduplicating: drops the index (most of the interner's memory
    /// on a million distinct addresses).
    pub fn settle(&mut self) {
        self.indexing = false;
        self.index = HashMap::new();
        self.collided = HashMap::new();
        self.shrink();
    }

    pub fn intern(&mut self, s: &str) -> u32 {
        if !self.indexing {
            return self.push(s);
        }
        let h = hash(s);
        match self.index.get(&h) {
            Some(&i) if self.get(i) == s => i,
            Some(_) => {
                if let Some(&i) = self.collided.get(s) {
                    return i;
                }
                let i = self.push(s);
                self.collided.insert(s.into(), i);
                i
            }
            None => {
                let i = self.push(s);
                self.index.insert(h, i);
                i
            }
        }
    }

    fn push(&mut self, s: &str) -> u32 {
        let i = self.spans.len() as u32;
        self.spans.push((self.bytes.len() as u32, s.len() as u32));
        self.bytes.push_str(s);
        i
    }

    pub fn get(&self, i: u32) -> &str {
        if i == NO_STR {
            return "";
        }
        let (at, len) = self.spans[i as usize];
        &self.bytes[at as usize..(at + len) as usize]
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Gives back what growing left unused (after a full load).
    pub fn shrink(&mut self) {
        self.bytes.shrink_to_fit();
        self.spans.shrink_to_fit();
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes.len()
    }
}

/// The rows, their strings and the names that are not UUIDs.
#[derive(Debug, Default)]
pub struct Store {
    pub table: Table,
    pub strings: Interner,
    raw_ids: Vec<Box<[u8]>>,
    raw_index: HashMap<Box<[u8]>, u32>,
}

impl Store {
    pub fn row(&mut self, r: RawRow) -> Row {
        let id = match parse_uuid(r.id.as_bytes()) {
            Some(u) => RowId::Uuid(*u.as_bytes()),
            None => {
                let bytes = r.id.as_bytes();
                let i = match self.raw_index.get(bytes) {
                    Some(&i) => i,
                    None => {
                        let i = self.raw_ids.len() as u32;
                        self.raw_ids.push(bytes.into());
                        self.raw_index.insert(bytes.into(), i);
                        i
                    }
                };
                RowId::Raw(i)
            }
        };
        let mut opt = |s: Option<String>| s.map_or(NO_STR, |s| self.strings.intern(&s));
        Row {
            id,
            state: r.state,
            broken: r.broken,
            shown: r.shown,
            from: opt(r.from),
            to: opt(r.to),
            subject: opt(r.subject),
            at: pack(r.at),
            last: pack(r.last),
            written: pack(r.written),
            since: pack(r.since),
            size: r.size.min(u64::from(u32::MAX)) as u32,
        }
    }

    /// A new, empty picture (loading it deduplicates strings again).
    pub fn reset(&mut self) {
        self.table.clear();
        self.strings = Interner::indexing();
    }

    /// Rebuilds the strings from the live rows when entries that came and
    /// went since the load left more dead text than live: memory follows
    /// the queue, not the length of the session.
    pub fn compact_if_worth_it(&mut self) {
        let live = self.table.len().max(1024) * 3;
        if self.strings.len() <= 2 * live {
            return;
        }
        let old = std::mem::replace(&mut self.strings, Interner::indexing());
        let slots: Vec<u32> = self.table.iter().map(|(s, _)| s).collect();
        for s in slots {
            let mut r = *self.table.get(s);
            for f in [&mut r.from, &mut r.to, &mut r.subject] {
                if *f != NO_STR {
                    *f = self.strings.intern(old.get(*f));
                }
            }
            self.table.upsert(r);
        }
        self.strings.settle();
    }

    /// The row id an entry has (or would have), without keeping anything.
    pub fn row_id(&self, id: &EntryId) -> Option<RowId> {
        match parse_uuid(id.as_bytes()) {
            Some(u) => Some(RowId::Uuid(*u.as_bytes())),
            None => self.raw_index.get(id.as_bytes()).map(|&i| RowId::Raw(i)),
        }
    }

    /// The entry's name, as the library wants it to act on it.
    pub fn entry_id(&self, id: RowId) -> EntryId {
        match id {
            RowId::Uuid(b) => EntryId::from_uuid(uuid::Uuid::from_bytes(b)),
            RowId::Raw(i) => EntryId::new(&self.raw_ids[i as usize]),
        }
    }

    /// The id as shown (escaped), cut to `len` characters.
    pub fn id_text(&self, id: RowId, len: usize) -> String {
        match id {
            RowId::Uuid(b) => {
                let mut buf = uuid::Uuid::encode_buffer();
                let s = uuid::Uuid::from_bytes(b).hyphenated().encode_lower(&mut buf);
                s[..len.min(s.len())].to_string()
            }
            RowId::Raw(i) => {
                let s = crate::output::escape_bytes(&self.raw_ids[i as usize]).into_owned();
                s.chars().take(len).collect()
            }
        }
    }
}

/// The shortest prefix length (at least `min`) that tells every well-formed
/// id in `ids` apart, counted in characters of the hyphenated form.
pub fn unique_prefix_len(ids: &mut [[u8; 16]], min: usize) -> usize {
    ids.sort_unstable();
    let mut bits = 0u32;
    for w in ids.windows(2) {
        let x = u128::from_be_bytes(w[0]) ^ u128::from_be_bytes(w[1]);
        if x != 0 {
            bits = bits.max(x.leading_zeros() + 1);
        }
    }
    // Hex digits needed, then the hyphens that fall inside that prefix.
    let hex = bits.div_ceil(4) as usize;
    let with_hyphens = hex + [8, 12, 16, 20].iter().filter(|&&h| hex > h).count();
    with_hyphens.max(min).min(36)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_stays_small() {
        assert!(std::mem::size_of::<Row>() <= 56, "{}", std::mem::size_of::<Row>());
        assert_eq!(std::mem::size_of::<Option<Row>>(), std::mem::size_of::<Row>());
    }

    #[test]
    fn prefix_len_grows_with_shared_prefixes() {
        let a = *uuid::Uuid::parse_str("abcdef01-0000-4000-8000-000000000000")
            .unwrap()
            .as_bytes();
        let b = *uuid::Uuid::parse_str("abcdef02-0000-4000-8000-000000000000")
            .unwrap()
            .as_bytes();
        assert_eq!(unique_prefix_len(&mut [a, b], 4), 8);
        let c = *uuid::Uuid::parse_str("abcdef01-1000-4000-8000-000000000000")
            .unwrap()
            .as_bytes();
        assert_eq!(unique_prefix_len(&mut [a, c], 4), 10);
        assert_eq!(unique_prefix_len(&mut [a], 6), 6);
    }

    #[test]
    fn interner_shares_strings() {
        let mut i = Interner::indexing();
        let a = i.intern("x@example.com");
        let b = i.intern("x@example.com");
        assert_eq!(a, b);
        assert_eq!(i.get(a), "x@example.com");
        assert_eq!(i.get(NO_STR), "");
        let c = i.intern("other");
        assert_ne!(a, c);
        assert_eq!(i.get(c), "other");
        assert_eq!(i.get(a), "x@example.com");
        assert_eq!(i.len(), 2);
        // Settled, it stores what comes (the compaction shares it again).
        i.settle();
        assert_ne!(i.intern("other"), c);
        assert_eq!(i.len(), 3);
    }
}
