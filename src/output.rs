//! Everything that turns queue data into text: escaping, times, sizes, the
//! entry fields shared by `list`, `show` and the TUI, tables that fit the
//! terminal, and JSON.

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};

use jiff::Timestamp;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::escape::needs_escape;
pub use crate::escape::{escape, escape_bytes};
pub use crate::human::{human_duration, human_size, relative};
use crate::queue::{Entry, parse::WriterTime};

mod table;
pub use table::{Column, GAP, Keep, Kind, Layout, Table, Tone, wrap, write_wrapped};

/// How times are shown in tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeStyle {
    /// `in 3h`, `2d ago`.
    #[default]
    Relative,
    /// RFC 3339 in UTC.
    Utc,
    /// Local time with offset.
    Local,
}

pub fn show_time(t: Timestamp, now: Timestamp, style: TimeStyle) -> String {
    match style {
        TimeStyle::Relative => relative(t, now),
        TimeStyle::Utc => t.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
        TimeStyle::Local => t
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S%:z")
            .to_string(),
    }
}

/// Whether to color output.
pub fn use_color(choice: ColorChoice, stream_is_tty: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stream_is_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// Columns available to a terminal, when stdout is one (or `COLUMNS` says).
pub fn terminal_width() -> Option<usize> {
    if let Some(w) = std::env::var("COLUMNS").ok().and_then(|v| v.parse::<usize>().ok()) {
        return Some(w.max(20));
    }
    if !io::stdout().is_terminal() {
        return None;
    }
    crossterm_size().map(|w| w.max(20))
}

fn crossterm_size() -> Option<usize> {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass.
    let r = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_col > 0).then_some(ws.ws_col as usize)
}

/// Cuts `s` to at most `width` columns, ending with `…` when cut.
pub fn truncate(s: &str, width: usize) -> Cow<'_, str> {
    if s.width() <= width {
        return Cow::Borrowed(s);
    }
    if width == 0 {
        return Cow::Borrowed("");
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > width - 1 {
            break;
        }
        w += cw;
        out.push(c);
    }
    out.push('…');
    Cow::Owned(out)
}

/// One field of an entry, as named in JSON, `--fields` and `--sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Id,
    State,
    Mail,
    Dest,
    From,
    To,
    At,
    LastAttempt,
    Size,
    Age,
    Since,
    Subject,
    MessageId,
    Problem,
    /// A held entry's note: why (`hold --reason`), since when, until when.
    HoldReason,
    HeldSince,
    HeldUntil,
}

impl Field {
    pub const ALL: [Field; 17] = [
        Field::Id,
        Field::State,
        Field::Mail,
        Field::Dest,
        Field::From,
        Field::To,
        Field::At,
        Field::LastAttempt,
        Field::Size,
        Field::Age,
        Field::Since,
        Field::Subject,
        Field::MessageId,
        Field::Problem,
        Field::HoldReason,
        Field::HeldSince,
        Field::HeldUntil,
    ];
    /// The columns `list` shows in a table unless `--fields` says otherwise.
    pub const TABLE: [Field; 8] = [
        Field::Id,
        Field::State,
        Field::At,
        Field::From,
        Field::To,
        Field::Size,
        Field::Age,
        Field::Subject,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::State => "state",
            Field::Mail => "mail",
            Field::Dest => "dest",
            Field::From => "from",
            Field::To => "to",
            Field::At => "at",
            Field::LastAttempt => "last_attempt",
            Field::Size => "size",
            Field::Age => "age",
            Field::Since => "since",
            Field::Subject => "subject",
            Field::MessageId => "message_id",
            Field::Problem => "problem",
            Field::HoldReason => "hold_reason",
            Field::HeldSince => "held_since",
            Field::HeldUntil => "held_until",
        }
    }

    pub fn parse(s: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == s)
    }

    /// True for fields that need the message headers read.
    pub fn needs_headers(self) -> bool {
        matches!(self, Field::Subject | Field::MessageId)
    }

    fn header(self) -> &'static str {
        match self {
            Field::Id => "ID",
            Field::State => "STATE",
            Field::Mail => "MAIL",
            Field::Dest => "DEST",
            Field::From => "FROM",
            Field::To => "TO",
            Field::At => "NEXT",
            Field::LastAttempt => "LAST",
            Field::Size => "SIZE",
            Field::Age => "AGE",
            Field::Since => "SINCE",
            Field::Subject => "SUBJECT",
            Field::MessageId => "MESSAGE-ID",
            Field::Problem => "PROBLEM",
            Field::HoldReason => "HELD FOR",
            Field::HeldSince => "HELD SINCE",
            Field::HeldUntil => "HELD UNTIL",
        }
    }

    /// How its column fits a terminal: addresses, subjects and message ids
    /// are cut, numbers right-aligned, the rest (ids, times) never cut.
    fn kind(self) -> Kind {
        match self {
            Field::To | Field::Problem => Kind::Cut { min: 8, readable: 16 },
            Field::From | Field::MessageId | Field::HoldReason => Kind::Cut { min: 8, readable: 12 },
            Field::Subject => Kind::Cut { min: 8, readable: 10 },
            Field::Size | Field::Age => Kind::Number,
            _ => Kind::Whole,
        }
    }
}

/// The problems of an entry, joined for display.
pub fn problem_text(e: &Entry) -> Option<String> {
    if e.problems.is_empty() {
        return None;
    }
    Some(e.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))
}

/// Settings for rendering entries.
#[derive(Debug, Clone, Copy)]
pub struct View {
    pub now: Timestamp,
    pub times: TimeStyle,
}

/// A table cell for one field of an entry (escaped, human units).
pub fn cell(e: &Entry, f: Field, v: &View, short_id: Option<&str>) -> String {
    let time = |t: Option<Timestamp>| t.map_or_else(|| "-".into(), |t| show_time(t, v.now, v.times));
    match f {
        Field::Id => short_id.map_or_else(|| e.id.to_string(), str::to_string),
        Field::State => e.state.to_string(),
        Field::Mail => e.link.map_or("-".into(), |l| l.mail.to_string()),
        Field::Dest => e.link.map_or("-".into(), |l| l.dest.to_string()),
        Field::From => e
            .envelope
            .as_ref()
            .map_or("-".into(), |en| escape(&en.from_display()).into_owned()),
        Field::To => e
            .envelope
            .as_ref()
            .map_or("-".into(), |en| escape(&en.to.to_string()).into_owned()),
        Field::At => time(e.schedule.map(|s| s.at)),
        Field::LastAttempt => time(e.schedule.and_then(|s| s.last_attempt)),
        Field::Size => e.contents.map_or("-".into(), |c| human_size(c.size)),
        Field::Age => e
            .contents
            .map_or("-".into(), |c| human_duration((v.now - c.written).get_seconds())),
        Field::Since => time(e.since),
        Field::Subject => e.subject().map_or_else(String::new, |s| escape(s).into_owned()),
        Field::MessageId => e.message_id().map_or_else(String::new, |s| escape(s).into_owned()),
        Field::Problem => problem_text(e).unwrap_or_default(),
        Field::HoldReason => e
            .hold
            .as_ref()
            .and_then(|n| n.reason.as_deref())
            .map_or_else(String::new, |r| escape(r).into_owned()),
        Field::HeldSince => time(e.hold.as_ref().map(|n| n.since)),
        Field::HeldUntil => time(e.hold.as_ref().and_then(|n| n.until)),
    }
}

/// How a table of entries may be fitted to the terminal.
#[derive(Debug, Clone, Default)]
pub struct Fitting {
    /// Fields shown while there is room, the first first (see
    /// [`Keep::IfRoom`]); nothing `--fields` names.
    pub if_room: Vec<Field>,
    /// Fields shown while the addresses keep a readable width, after the
    /// others, the first first (see [`Keep::IfReadable`]).
    pub if_readable: Vec<Field>,
    /// Problems are what was asked for (`--broken`, `--fields problem`):
    /// shown whole, in records when the table cannot hold them. Otherwise
    /// they are added for broken entries, cut or left out to fit.
    pub whole_problems: bool,
}

/// A table of entries.
pub fn entry_table(
    entries: &[Entry],
    fields: &[Field],
    v: &View,
    short_ids: Option<&[String]>,
    fit: &Fitting,
) -> Table {
    let mut fields: Vec<Field> = fields.to_vec();
    let mut if_readable = fit.if_readable.clone();
    if entries.iter().any(Entry::is_broken) && !fields.contains(&Field::Problem) {
        fields.push(Field::Problem);
        if !fit.whole_problems {
            // Mostly empty, and `--broken` shows it whole: it gives way
            // before the others.
            if_readable.push(Field::Problem);
        }
    }
    let rank = |list: &[Field], f: Field| {
        list.iter()
            .position(|&o| o == f)
            .map(|p| u8::try_from(p).unwrap_or(u8::MAX))
    };
    let cols = fields
        .iter()
        .map(|&f| {
            let kind = match f {
                Field::Problem if fit.whole_problems => Kind::Whole,
                f => f.kind(),
            };
            let keep = match (rank(&fit.if_room, f), rank(&if_readable, f)) {
                (Some(p), _) => Keep::IfRoom(p),
                (None, Some(p)) => Keep::IfReadable(p),
                (None, None) => Keep::Always,
            };
            Column::new(f.header(), kind).keep(keep)
        })
        .collect();
    let mut t = Table::new(cols);
    for (i, e) in entries.iter().enumerate() {
        let short = short_ids.map(|s| s[i].as_str());
        let row = fields.iter().map(|&f| cell(e, f, v, short)).collect();
        t.push(row, if e.is_broken() { Tone::Bad } else { Tone::Plain });
    }
    t
}

/// A writer for JSON output that also escapes (as `\uXXXX`) the characters
/// serde_json leaves raw but a terminal must not get: C1 controls and
/// bidirectional overrides. JSON structure is ASCII, so such characters can
/// only be inside strings, and serde_json writes each character whole in
/// one call, so escaping per call is exact and lossless.
pub struct SafeJson<W: Write>(pub W);

impl<W: Write> Write for SafeJson<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        // Fast path: C1 is encoded C2 80..9F, the bidi marks E2 80/81 xx.
        if !may_need_json_escape(buf) {
            return self.0.write_all(buf);
        }
        match std::str::from_utf8(buf) {
            Ok(text) if text.chars().any(needs_escape) => {
                let mut out = String::with_capacity(text.len() + 16);
                for c in text.chars() {
                    if needs_escape(c) {
                        out.push_str(&format!("\\u{:04x}", c as u32));
                    } else {
                        out.push(c);
                    }
                }
                self.0.write_all(out.as_bytes())
            }
            _ => self.0.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Writes `value` as pretty JSON through `SafeJson`, with a final newline.
pub fn write_json_pretty<T: serde::Serialize>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    let mut w = SafeJson(&mut *out);
    serde_json::to_writer_pretty(&mut w, value).map_err(io::Error::from)?;
    w.write_all(b"\n")
}

/// Writes one entry as a JSON object with the chosen fields, without
/// building an intermediate value. Absent values are `null`. Ids, addresses
/// and times are formatted straight into the output (`Shown`), not into a
/// `String` per field: this runs once per entry on the thread that writes.
/// A write error comes back with its own kind (`io::Error::from` unwraps
/// serde_json's), so a closed pipe is still seen as one.
///
/// The object is built in a buffer kept by the calling thread and goes
/// through `SafeJson` and to `out` in one piece: one check for characters
/// to escape and one write per entry, instead of one per JSON token. (The
/// buffer is valid UTF-8 as a whole, so `SafeJson` escapes it exactly as it
/// would token by token.)
pub fn write_entry_json(out: &mut dyn Write, e: &Entry, fields: &[Field], now: Timestamp) -> io::Result<()> {
    thread_local! {
        static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    LINE.with_borrow_mut(|line| {
        line.clear();
        entry_json_into(line, e, fields, now)?;
        let r = SafeJson(&mut *out).write_all(line);
        // An unusually long entry does not keep its buffer for the rest.
        if line.capacity() > 64 * 1024 {
            *line = Vec::new();
        }
        r
    })
}

/// True when `buf` holds a byte that starts a C1 control (C2) or a bidi
/// mark (E2) in UTF-8. Checked 32 bytes at a time without stopping early
/// inside a block, which the compiler turns into vector compares.
fn may_need_json_escape(buf: &[u8]) -> bool {
    let hit = |c: &[u8]| c.iter().fold(false, |acc, &b| acc | (b == 0xc2) | (b == 0xe2));
    let mut blocks = buf.chunks_exact(32);
    blocks.by_ref().any(hit) || hit(blocks.remainder())
}

/// The JSON object of an entry, written by hand: the same bytes as
/// serde_json's compact serialiser gives for the same values (the test
/// `entry_json_is_what_serde_writes` compares them), without its call per
/// token. Only text from the queue (ids, addresses, headers, problems) can
/// need escaping; uuids, times and numbers never do.
fn entry_json_into(line: &mut Vec<u8>, e: &Entry, fields: &[Field], now: Timestamp) -> io::Result<()> {
    let env = e.envelope.as_ref();
    line.push(b'{');
    for (i, &f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        line.push(b'"');
        line.extend_from_slice(f.name().as_bytes());
        line.extend_from_slice(b"\":");
        match f {
            Field::Id => json_str(line, &[&escape_bytes(e.id.as_bytes())])?,
            Field::State => json_str(line, &[e.state.dir()])?,
            Field::Mail => json_opt(line, e.link, |line, l| json_uuid(line, l.mail.0)),
            Field::Dest => json_opt(line, e.link, |line, l| json_uuid(line, l.dest.0)),
            Field::From => match env {
                None => line.extend_from_slice(b"null"),
                Some(en) => match &en.from {
                    Some(a) => json_address(line, a)?,
                    None => json_str(line, &["<>"])?,
                },
            },
            Field::To => match env {
                None => line.extend_from_slice(b"null"),
                Some(en) => json_address(line, &en.to)?,
            },
            Field::At => json_opt(line, e.schedule.map(|s| s.at), json_time),
            Field::LastAttempt => json_opt(line, e.schedule.and_then(|s| s.last_attempt), json_time),
            Field::Size => json_opt(line, e.contents.map(|c| c.size), |line, n| json_int(line, n.into())),
            Field::Age => json_opt(line, e.contents.map(|c| (now - c.written).get_seconds()), |line, n| {
                json_int(line, n.into())
            }),
            Field::Since => json_opt(line, e.since, json_time),
            Field::Subject => match e.subject() {
                Some(s) => json_str(line, &[s])?,
                None => line.extend_from_slice(b"null"),
            },
            Field::MessageId => match e.message_id() {
                Some(s) => json_str(line, &[s])?,
                None => line.extend_from_slice(b"null"),
            },
            Field::Problem => match problem_text(e) {
                Some(s) => json_str(line, &[&s])?,
                None => line.extend_from_slice(b"null"),
            },
            Field::HoldReason => match e.hold.as_ref().and_then(|n| n.reason.as_deref()) {
                Some(s) => json_str(line, &[s])?,
                None => line.extend_from_slice(b"null"),
            },
            Field::HeldSince => json_opt(line, e.hold.as_ref().map(|n| n.since), json_time),
            Field::HeldUntil => json_opt(line, e.hold.as_ref().and_then(|n| n.until), json_time),
        }
    }
    line.push(b'}');
    Ok(())
}

fn json_opt<T>(line: &mut Vec<u8>, v: Option<T>, write: impl FnOnce(&mut Vec<u8>, T)) {
    match v {
        Some(v) => write(line, v),
        None => line.extend_from_slice(b"null"),
    }
}

/// The parts, concatenated, as one JSON string.
fn json_str(line: &mut Vec<u8>, parts: &[&str]) -> io::Result<()> {
    // What serde_json leaves as is: anything but controls, `"` and `\`.
    let plain = |s: &str| {
        s.as_bytes().chunks(32).all(|c| {
            c.iter()
                .fold(true, |ok, &b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'))
        })
    };
    if parts.iter().all(|p| plain(p)) {
        line.push(b'"');
        for p in parts {
            line.extend_from_slice(p.as_bytes());
        }
        line.push(b'"');
        return Ok(());
    }
    serde_json::to_writer(line, &parts.concat()).map_err(io::Error::from)
}

/// An address as shown (`localpart@host`), as a JSON string.
fn json_address(line: &mut Vec<u8>, a: &crate::queue::Address) -> io::Result<()> {
    match &a.hostname {
        Some(h) => json_str(line, &[&a.localpart, "@", h.raw()]),
        None => json_str(line, &[&a.localpart]),
    }
}

fn json_uuid(line: &mut Vec<u8>, u: uuid::Uuid) {
    line.push(b'"');
    line.extend_from_slice(u.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()).as_bytes());
    line.push(b'"');
}

fn json_time(line: &mut Vec<u8>, t: Timestamp) {
    WriterTime(t).with_str(|s| {
        line.push(b'"');
        line.extend_from_slice(s.as_bytes());
        line.push(b'"');
    });
}

fn json_int(line: &mut Vec<u8>, n: i128) {
    let mut digits = [0u8; 40];
    let mut at = digits.len();
    let mut m = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        digits[at] = b'-';
    }
    line.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `write_entry_json` wrote when it went through serde_json's
    /// serialiser (before it was written by hand): the reference.
    fn serde_line(e: &Entry, fields: &[Field], now: Timestamp) -> Vec<u8> {
        use serde_json::Value;
        let s = |v: Option<String>| v.map_or(Value::Null, Value::String);
        let env = e.envelope.as_ref();
        let mut map = serde_json::Map::new();
        for &f in fields {
            let v = match f {
                Field::Id => Value::String(escape_bytes(e.id.as_bytes()).into_owned()),
                Field::State => Value::String(e.state.dir().into()),
                Field::Mail => s(e.link.map(|l| l.mail.to_string())),
                Field::Dest => s(e.link.map(|l| l.dest.to_string())),
                Field::From => s(env.map(|en| en.from_display())),
                Field::To => s(env.map(|en| en.to.to_string())),
                Field::At => s(e.schedule.map(|x| WriterTime(x.at).to_string())),
                Field::LastAttempt => s(e
                    .schedule
                    .and_then(|x| x.last_attempt)
                    .map(|t| WriterTime(t).to_string())),
                Field::Size => e.contents.map_or(Value::Null, |c| c.size.into()),
                Field::Age => e
                    .contents
                    .map_or(Value::Null, |c| (now - c.written).get_seconds().into()),
                Field::Since => s(e.since.map(|t| WriterTime(t).to_string())),
                Field::Subject => s(e.subject().map(str::to_string)),
                Field::MessageId => s(e.message_id().map(str::to_string)),
                Field::Problem => s(problem_text(e)),
                Field::HoldReason => s(e.hold.as_ref().and_then(|n| n.reason.clone())),
                Field::HeldSince => s(e.hold.as_ref().map(|n| WriterTime(n.since).to_string())),
                Field::HeldUntil => s(e.hold.as_ref().and_then(|n| n.until).map(|t| WriterTime(t).to_string())),
            };
            map.insert(f.name().into(), v);
        }
        let mut out = Vec::new();
        SafeJson(&mut out)
            .write_all(&serde_json::to_vec(&map).unwrap())
            .unwrap();
        out
    }

    #[test]
    fn entry_json_is_what_serde_writes() {
        use crate::queue::{
            Address, Contents, DestId, Envelope, Headers, Hostname, Link, LocalpartKind, MailId, Problem, Schedule,
            State,
        };
        let now: Timestamp = "2026-11-23T00:00:00Z".parse().unwrap();
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let addr = |local: &str, host: Option<Hostname>| Address {
            localpart: local.into(),
            localpart_kind: LocalpartKind::Ascii,
            hostname: host,
        };
        let ascii = |h: &str| Some(Hostname::AsciiDomain { raw: h.into() });
        let texts = [
            "plain",
            "\"john doe\"",
            "back\\slash",
            "josé",
            "tab\there",
            "esc\u{1b}[31m",
            "nul\u{0}",
            "del\u{7f}",
            "c1\u{9b}31m",
            "bidi\u{202e}txt",
            "",
        ];
        let mut entries = Vec::new();
        let mut bare = Entry::new(crate::queue::EntryId::new(b"not-a-uuid\xff\x1b\"\\"), State::Held);
        bare.problems.push(Problem::BadName);
        entries.push(bare);
        for (i, text) in texts.iter().enumerate() {
            let mut e = Entry::new(
                crate::queue::EntryId::from_uuid(uuid::Uuid::from_u128(i as u128 * 0x1234_5678_9abc)),
                State::ALL[i % 4],
            );
            e.link = Some(Link {
                mail: MailId(uuid::Uuid::from_u128(u128::MAX - i as u128)),
                dest: DestId(uuid::Uuid::from_u128(i as u128)),
            });
            e.schedule = Some(Schedule {
                at: t([
                    "2026-11-22T21:35:25.426680706Z",
                    "1969-12-31T23:59:59.5Z",
                    "2024-01-01T00:00:00Z",
                ][i % 3]),
                last_attempt: (i % 2 == 0).then(|| t("2026-11-22T19:35:25.1Z")),
            });
            e.envelope = Some(Envelope {
                from: (i % 3 != 0).then(|| addr(text, ascii("example.org"))),
                to: addr(
                    "bob",
                    match i % 3 {
                        0 => None,
                        1 => ascii(text),
                        _ => Some(Hostname::Ipv4 {
                            raw: "[192.0.2.1]".into(),
                            ip: "192.0.2.1".into(),
                        }),
                    },
                ),
            });
            e.contents = Some(Contents {
                size: [0, 1, u64::MAX][i % 3],
                written: t(["2026-11-20T00:00:00Z", "2026-11-24T00:00:00.25Z"][i % 2]),
            });
            e.since = (i % 2 == 1).then(|| t("2026-11-22T23:00:00.000001Z"));
            e.headers = (i % 4 != 3).then(|| {
                Box::new(Headers {
                    subject: Some(format!("Re: {text}")),
                    message_id: (i % 2 == 0).then(|| format!("<{text}@x>")),
                    ..Headers::default()
                })
            });
            if i % 4 == 3 {
                e.hold = Some(Box::new(crate::queue::holds::HoldNote {
                    reason: (i % 8 == 3).then(|| format!("held: {text}")),
                    since: t("2026-11-22T23:00:00Z"),
                    until: (i % 8 == 7).then(|| t("2026-11-23T01:00:00.5Z")),
                    user: None,
                }));
            }
            if i % 3 == 2 {
                e.problems
                    .push(Problem::Contents(crate::queue::sys::ReadError::TooLarge(7)));
                e.problems.push(Problem::BadLinkText(text.as_bytes().into()));
            }
            entries.push(e);
        }
        let some = [Field::Age, Field::Id, Field::From, Field::Size];
        for e in &entries {
            for fields in [&Field::ALL[..], &some[..], &[][..]] {
                let mut mine = Vec::new();
                write_entry_json(&mut mine, e, fields, now).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&mine),
                    String::from_utf8_lossy(&serde_line(e, fields, now)),
                    "{e:?}"
                );
            }
        }
    }

    #[test]
    fn json_output_escapes_c1_and_bidi_losslessly() {
        let mut out = Vec::new();
        write_json_pretty(&mut out, &serde_json::json!({"s": "a\u{9b}31mb\u{202e}c\u{1b}é"})).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains('\u{9b}') && !text.contains('\u{202e}') && !text.contains('\u{1b}'),
            "{text}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["s"], "a\u{9b}31mb\u{202e}c\u{1b}é");
    }

    #[test]
    fn truncation_respects_display_width() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("日本語テキスト", 5), "日本…");
        assert_eq!(truncate("abc", 3), "abc");
    }
}
