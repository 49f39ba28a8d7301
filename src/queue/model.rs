//! The queue's vocabulary: entries, their states, envelopes and schedules.

use std::fmt;

use jiff::Timestamp;
use uuid::Uuid;

/// The folders an entry's symlink can live in: the writer's three, and
/// mqctl's own `hold/` and the two claim folders (an entry mqctl has taken
/// out of `queue/` or `hold/` for the moment it rewrites its schedule; see
/// docs/writer.md, "Claim before rewrite").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    Queued,
    Inflight,
    Cleanup,
    Held,
    /// Taken from `queue/` by a running mqctl; goes back to `queue/`.
    Claimed,
    /// Taken from `hold/` by a running mqctl; goes back to `hold/`.
    ClaimedHeld,
}

impl State {
    pub const COUNT: usize = 6;
    pub const ALL: [State; State::COUNT] = [
        State::Queued,
        State::Inflight,
        State::Cleanup,
        State::Held,
        State::Claimed,
        State::ClaimedHeld,
    ];

    /// The folder name under the root, which is also the name users type and
    /// the `state` field of the JSON output.
    pub fn dir(self) -> &'static str {
        match self {
            State::Queued => "queue",
            State::Inflight => "inflight",
            State::Cleanup => "cleanup",
            State::Held => "hold",
            State::Claimed => "claimed",
            State::ClaimedHeld => "claimed-held",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL
            .into_iter()
            .find(|st| st.dir() == s || (s == "held" && *st == State::Held) || (s == "queued" && *st == State::Queued))
    }

    /// The writer's own folders (the others are mqctl's: the writer never
    /// opens them).
    pub fn is_writers(self) -> bool {
        matches!(self, State::Queued | State::Inflight | State::Cleanup)
    }

    /// Where an entry goes while mqctl rewrites its schedule, when it is
    /// in this state (only queued and held entries are rewritten).
    pub fn claim(self) -> Option<State> {
        match self {
            State::Queued => Some(State::Claimed),
            State::Held => Some(State::ClaimedHeld),
            _ => None,
        }
    }

    /// Where a claimed entry goes back to.
    /// In `hold/`, or claimed from it.
    pub fn is_held(self) -> bool {
        matches!(self, State::Held | State::ClaimedHeld)
    }

    pub fn unclaimed(self) -> Option<State> {
        match self {
            State::Claimed => Some(State::Queued),
            State::ClaimedHeld => Some(State::Held),
            _ => None,
        }
    }
}

/// An inflight entry whose link has been in `inflight/` for at least
/// `after` is stuck: its writer has very likely died (the writer itself
/// waits an hour before it takes such an entry back). The one definition,
/// for `stats`, `list --stuck`, `drop`, `recover`, `check` and the TUI.
pub fn is_stuck(since: Timestamp, now: Timestamp, after: jiff::SignedDuration) -> bool {
    now.duration_since(since) >= after
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dir())
    }
}

/// The name of an entry's symlink. For a well-formed entry a lowercase
/// hyphenated UUID, but anything found in a state folder is kept as bytes so
/// it can still be reported and acted on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(Box<[u8]>);

impl EntryId {
    pub fn new(bytes: &[u8]) -> EntryId {
        EntryId(bytes.into())
    }
    /// Takes a name already owned (a folder listing's) without copying it.
    pub fn from_boxed(bytes: Box<[u8]>) -> EntryId {
        EntryId(bytes)
    }
    pub fn from_uuid(u: Uuid) -> EntryId {
        EntryId::new(u.hyphenated().encode_lower(&mut Uuid::encode_buffer()).as_bytes())
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// True when the name is a lowercase hyphenated UUID, as the writer makes.
    pub fn is_well_formed(&self) -> bool {
        parse_uuid(&self.0).is_some()
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::escape::escape_bytes(&self.0))
    }
}

/// `data/<mail>`: one message, shared by all of its recipients' entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailId(pub Uuid);

/// `data/<mail>/<dest>`: one recipient's envelope and schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestId(pub Uuid);

macro_rules! uuid_display {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }
    };
}
uuid_display!(MailId);
uuid_display!(DestId);

/// Parses exactly the writer's spelling of a UUID: 36 bytes, lowercase hex,
/// hyphens at 8, 13, 18 and 23. Uppercase or braces are not the writer's.
pub fn parse_uuid(b: &[u8]) -> Option<Uuid> {
    /// The value of each lowercase hex digit; 0x10 for anything else.
    const HEX: [u8; 256] = {
        let mut t = [0x10u8; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            t[b'a' as usize + i] = 10 + i as u8;
            i += 1;
        }
        t
    };
    /// Where the two digits of each of the 16 bytes are.
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    let b: &[u8; 36] = b.try_into().ok()?;
    if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    // Checked and decoded in one pass, without branching per digit (every
    // entry has three of these).
    let mut bytes = [0u8; 16];
    let mut bad = 0u8;
    for (out, &i) in bytes.iter_mut().zip(&AT) {
        let (hi, lo) = (HEX[b[i] as usize], HEX[b[i + 1] as usize]);
        bad |= hi | lo;
        *out = (hi & 0x0f) << 4 | (lo & 0x0f);
    }
    (bad & 0x10 == 0).then(|| Uuid::from_bytes(bytes))
}

/// The target of an entry's symlink, validated: exactly `../data/<mail>/<dest>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Link {
    pub mail: MailId,
    pub dest: DestId,
}

impl Link {
    pub const PREFIX: &'static [u8] = b"../data/";

    /// Accepts the link text byte for byte as the writer writes it, and
    /// nothing else: no `//`, no `./`, no trailing `/`, no uppercase.
    pub fn parse(text: &[u8]) -> Option<Link> {
        let rest = text.strip_prefix(Link::PREFIX)?;
        if rest.len() != 36 + 1 + 36 || rest[36] != b'/' {
            return None;
        }
        Some(Link {
            mail: MailId(parse_uuid(&rest[..36])?),
            dest: DestId(parse_uuid(&rest[37..])?),
        })
    }

    /// The link text, as the writer writes it.
    pub fn text(&self) -> String {
        format!("../data/{}/{}", self.mail, self.dest)
    }

    /// `<mail>/<dest>` relative to `data/`.
    pub fn dest_path(&self) -> String {
        format!("{}/{}", self.mail, self.dest)
    }
}

/// A mailbox as the writer serialises it. `raw` strings are what is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub localpart: String,
    pub localpart_kind: LocalpartKind,
    pub hostname: Option<Hostname>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalpartKind {
    Ascii,
    QuotedAscii,
    Utf8,
    QuotedUtf8,
}

impl LocalpartKind {
    pub fn name(self) -> &'static str {
        match self {
            LocalpartKind::Ascii => "Ascii",
            LocalpartKind::QuotedAscii => "QuotedAscii",
            LocalpartKind::Utf8 => "Utf8",
            LocalpartKind::QuotedUtf8 => "QuotedUtf8",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hostname {
    AsciiDomain { raw: String },
    Utf8Domain { raw: String, punycode: String },
    Ipv4 { raw: String, ip: String },
    Ipv6 { raw: String, ip: String },
}

impl Hostname {
    pub fn raw(&self) -> &str {
        match self {
            Hostname::AsciiDomain { raw }
            | Hostname::Utf8Domain { raw, .. }
            | Hostname::Ipv4 { raw, .. }
            | Hostname::Ipv6 { raw, .. } => raw,
        }
    }
}

impl Address {
    /// The domain as shown and matched: the hostname's raw text, or "" when
    /// the writer stored none.
    pub fn domain(&self) -> &str {
        self.hostname.as_ref().map_or("", Hostname::raw)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.hostname {
            Some(h) => write!(f, "{}@{}", self.localpart, h.raw()),
            None => f.write_str(&self.localpart),
        }
    }
}

/// One recipient's envelope (`metadata`). `from == None` is the null sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub from: Option<Address>,
    pub to: Address,
}

impl Envelope {
    /// The sender as shown: `<>` for the null sender.
    pub fn from_display(&self) -> String {
        match &self.from {
            Some(a) => a.to_string(),
            None => "<>".to_string(),
        }
    }
}

/// `schedule`: when the writer tries next and when it last failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub at: Timestamp,
    pub last_attempt: Option<Timestamp>,
}

/// What `stat` said about `data/<mail>/contents`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contents {
    pub size: u64,
    /// When the message was written: the age of the mail is measured from here.
    pub written: Timestamp,
}

/// Headers read from the message, when a command asks for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub date: Option<String>,
    /// Every header, unfolded and decoded, in order (for `--header` and `show`).
    pub all: Vec<(String, String)>,
}

/// One queue entry, as far as it could be read. Whatever could not be read is
/// `None` and explained in `problems`; the scan never stops on a bad entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: EntryId,
    pub state: State,
    pub link: Option<Link>,
    pub schedule: Option<Schedule>,
    pub envelope: Option<Envelope>,
    pub contents: Option<Contents>,
    /// Change time of the entry's symlink: when it was last renamed, so for an
    /// inflight entry, since when it has been in flight.
    pub since: Option<Timestamp>,
    pub headers: Option<Box<Headers>>,
    pub problems: Vec<crate::queue::Problem>,
    /// A held entry's note (why, since when, until when), when read.
    pub hold: Option<Box<crate::queue::holds::HoldNote>>,
}

impl Entry {
    pub fn new(id: EntryId, state: State) -> Entry {
        Entry {
            id,
            state,
            link: None,
            schedule: None,
            envelope: None,
            contents: None,
            since: None,
            headers: None,
            problems: Vec::new(),
            hold: None,
        }
    }

    pub fn is_broken(&self) -> bool {
        !self.problems.is_empty()
    }

    pub fn is_due(&self, now: Timestamp) -> Option<bool> {
        self.schedule.map(|s| s.at <= now)
    }

    pub fn subject(&self) -> Option<&str> {
        self.headers.as_ref().and_then(|h| h.subject.as_deref())
    }

    pub fn message_id(&self) -> Option<&str> {
        self.headers.as_ref().and_then(|h| h.message_id.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_uuid_reads_exactly_the_writer_spelling() {
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..10_000 {
            let u = Uuid::from_u128(rng.u128(..));
            let text = u.hyphenated().to_string();
            assert_eq!(parse_uuid(text.as_bytes()), Some(u), "{text}");
            assert_eq!(Uuid::try_parse_ascii(text.as_bytes()).ok(), Some(u));
        }
        let good = "0b5e5f3c-8a7d-4c2e-9f1a-3d2c1b0a9e8f";
        assert!(parse_uuid(good.as_bytes()).is_some());
        for bad in [
            "0B5E5F3C-8A7D-4C2E-9F1A-3D2C1B0A9E8F",
            "A0000000-0000-4000-8000-000000000000",
            "g0000000-0000-4000-8000-000000000000",
            "00000000-0000-4000-8000-00000000000/",
            "00000000-0000-4000-8000-00000000000:",
            "00000000-0000-4000-8000-00000000000`",
            "{0b5e5f3c-8a7d-4c2e-9f1a-3d2c1b0a9e8f}",
            "0b5e5f3c8a7d4c2e9f1a3d2c1b0a9e8f",
            "0b5e5f3c-8a7d-4c2e-9f1a-3d2c1b0a9e8",
            "0b5e5f3c-8a7d-4c2e-9f1a-3d2c1b0a9e8fa",
            "0b5e5f3c+8a7d-4c2e-9f1a-3d2c1b0a9e8f",
            "0b5e5f3c-8a7d-4c2e-9f1a-3d2c1b0a9e8g",
            "0b5e5f3c-8a7d4-c2e-9f1a-3d2c1b0a9e8f",
            "0b5e5f3c-8a7d-4c2e-9f1a-3d2c1b0a9e-f",
        ] {
            assert_eq!(parse_uuid(bad.as_bytes()), None, "{bad}");
        }
    }
}
