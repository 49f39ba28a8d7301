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
    pub fn from_entry(e: &Entry) -> RawRow {
        let env = e.envelope.as_ref();
        RawRow {
            id: e.id.clone(),
            state: e.state,
            broken: e.is_broken(),
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

/// One table row (80 bytes).
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub id: RowId,
    pub state: State,
    pub broken: bool,
    pub from: u32,
    pub to: u32,
    pub subject: u32,
    pub at: i64,
    pub last: i64,
    pub written: i64,
    pub since: i64,
    pub size: u64,
}

impl Row {
    /// An inflight entry older than `stuck_after`: its writer likely died.
    pub fn is_stuck(&self, now: Timestamp, stuck_after: SignedDuration) -> bool {
        self.state == State::Inflight && self.since != NO_TIME && now.as_second() - self.since > stuck_after.as_secs()
    }
}

/// Strings shared by many rows (senders, domains, subjects of a spam run)
/// are stored once, all in one buffer: per distinct string that is its
/// bytes, 8 bytes of span and one small hash-table slot.
#[derive(Debug, Default)]
pub struct Interner {
    bytes: String,
    spans: Vec<(u32, u32)>,
    /// Hash of the text -> its index.
    index: HashMap<u64, u32>,
    /// The rare strings whose hash another string already has.
    collided: HashMap<Box<str>, u32>,
}

fn hash(s: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // Fixed keys: the same text always hashes the same within a run.
    let mut h = std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().build_hasher();
    h.write(s.as_bytes());
    h.finish()
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> u32 {
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
}

/// The rows' strings and the names that are not UUIDs.
#[derive(Debug, Default)]
pub struct Store {
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
            from: opt(r.from),
            to: opt(r.to),
            subject: opt(r.subject),
            at: r.at,
            last: r.last,
            written: r.written,
            since: r.since,
            size: r.size,
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
        assert!(std::mem::size_of::<Row>() <= 80, "{}", std::mem::size_of::<Row>());
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
        let mut i = Interner::default();
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
    }
}
