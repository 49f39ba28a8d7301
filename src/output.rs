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
}

impl Field {
    pub const ALL: [Field; 14] = [
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
        }
    }

    /// How its column fits a terminal: addresses, subjects and message ids
    /// are cut, numbers right-aligned, the rest (ids, times) never cut.
    fn kind(self) -> Kind {
        match self {
            Field::To | Field::Problem => Kind::Cut { min: 8, readable: 16 },
            Field::From | Field::MessageId => Kind::Cut { min: 8, readable: 12 },
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
        if !buf.iter().any(|&b| b == 0xc2 || b == 0xe2) {
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
pub fn write_entry_json(out: &mut dyn Write, e: &Entry, fields: &[Field], now: Timestamp) -> io::Result<()> {
    use serde::ser::{SerializeMap, Serializer};
    let mut ser = serde_json::Serializer::new(SafeJson(out));
    let mut map = ser.serialize_map(Some(fields.len())).map_err(io::Error::from)?;
    let env = e.envelope.as_ref();
    for &f in fields {
        let key = f.name();
        let r = match f {
            Field::Id => map.serialize_entry(key, &*escape_bytes(e.id.as_bytes())),
            Field::State => map.serialize_entry(key, e.state.dir()),
            Field::Mail => map.serialize_entry(key, &e.link.map(|l| Shown(l.mail))),
            Field::Dest => map.serialize_entry(key, &e.link.map(|l| Shown(l.dest))),
            Field::From => map.serialize_entry(key, &env.map(|en| Shown(Sender(en)))),
            Field::To => map.serialize_entry(key, &env.map(|en| Shown(&en.to))),
            Field::At => map.serialize_entry(key, &e.schedule.map(|s| Shown(WriterTime(s.at)))),
            Field::LastAttempt => map.serialize_entry(
                key,
                &e.schedule.and_then(|s| s.last_attempt).map(|t| Shown(WriterTime(t))),
            ),
            Field::Size => map.serialize_entry(key, &e.contents.map(|c| c.size)),
            Field::Age => map.serialize_entry(key, &e.contents.map(|c| (now - c.written).get_seconds())),
            Field::Since => map.serialize_entry(key, &e.since.map(|t| Shown(WriterTime(t)))),
            Field::Subject => map.serialize_entry(key, &e.subject()),
            Field::MessageId => map.serialize_entry(key, &e.message_id()),
            Field::Problem => map.serialize_entry(key, &problem_text(e)),
        };
        r.map_err(io::Error::from)?;
    }
    map.end().map_err(io::Error::from)
}

/// Serialises as the JSON string of its `Display` (escaped as JSON needs).
struct Shown<T>(T);

impl<T: std::fmt::Display> serde::Serialize for Shown<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// The sender as shown: the address, or `<>` for the null sender (what
/// `Envelope::from_display` returns, without the `String`).
struct Sender<'a>(&'a crate::queue::Envelope);

impl std::fmt::Display for Sender<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.from {
            Some(a) => std::fmt::Display::fmt(a, f),
            None => f.write_str("<>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
