//! Everything that turns queue data into text: escaping, times, sizes, the
//! entry fields shared by `list`, `show` and the TUI, tables that fit the
//! terminal, and JSON.

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};

use jiff::Timestamp;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::queue::{Entry, parse::WriterTime};

/// True for characters that must never reach a terminal raw: C0/C1 controls,
/// DEL, and the bidirectional overrides that can make text read backwards.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, c: char) {
    use std::fmt::Write;
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x100 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// Escapes text from the queue for display: control characters become
/// `\x1b`-style escapes; everything else is kept.
pub fn escape(s: &str) -> Cow<'_, str> {
    // Printable ASCII, the common case (ids, most addresses), needs no
    // look at each char.
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) || !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Like `escape`, for bytes that may not be UTF-8: each invalid byte is shown
/// as `\xNN`.
pub fn escape_bytes(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => escape(s),
        Err(_) => {
            let mut out = String::with_capacity(b.len() + 8);
            for chunk in b.utf8_chunks() {
                out.push_str(&escape(chunk.valid()));
                for byte in chunk.invalid() {
                    out.push_str(&format!("\\x{byte:02x}"));
                }
            }
            Cow::Owned(out)
        }
    }
}

/// `1.2K`, `34M`: sizes for people (powers of 1024).
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut v = n as f64;
    let mut unit = "";
    for u in UNITS {
        v /= 1024.0;
        unit = u;
        if v < 1024.0 {
            break;
        }
    }
    if v < 10.0 {
        format!("{v:.1}{unit}")
    } else {
        format!("{v:.0}{unit}")
    }
}

/// A duration for people: `45s`, `12m`, `3h`, `3h5m`, `2d`, `2d4h`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.unsigned_abs();
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    match () {
        _ if s < 60 => format!("{s}s"),
        _ if s < 3600 => format!("{m}m"),
        _ if d == 0 && m == 0 => format!("{h}h"),
        _ if d == 0 => format!("{h}h{m}m"),
        _ if h == 0 => format!("{d}d"),
        _ => format!("{d}d{h}h"),
    }
}

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

/// `in 3h`, `2d ago`, `now`.
pub fn relative(t: Timestamp, now: Timestamp) -> String {
    let secs = t.as_second() - now.as_second();
    if secs.abs() < 1 {
        "now".to_string()
    } else if secs > 0 {
        format!("in {}", human_duration(secs))
    } else {
        format!("{} ago", human_duration(secs))
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

/// A plain table that never wraps: when it is wider than the terminal, the
/// flexible columns (addresses, subjects) are cut with `…`, widest first.
pub struct Table {
    pub headers: Vec<String>,
    /// Per column: may it be cut, and is it right-aligned.
    pub flexible: Vec<bool>,
    pub right: Vec<bool>,
    pub rows: Vec<Vec<String>>,
    /// Optional color per row (ANSI SGR code, e.g. "31").
    pub row_color: Vec<Option<&'static str>>,
}

impl Table {
    pub fn new(cols: &[(&str, bool, bool)]) -> Table {
        Table {
            headers: cols.iter().map(|c| c.0.to_string()).collect(),
            flexible: cols.iter().map(|c| c.1).collect(),
            right: cols.iter().map(|c| c.2).collect(),
            rows: Vec::new(),
            row_color: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>, color: Option<&'static str>) {
        self.rows.push(row);
        self.row_color.push(color);
    }

    /// Widths that fit `max` columns (two spaces between columns).
    fn widths(&self, max: Option<usize>) -> Vec<usize> {
        let n = self.headers.len();
        let mut w: Vec<usize> = self.headers.iter().map(|h| h.width()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(n) {
                w[i] = w[i].max(cell.width());
            }
        }
        let Some(max) = max else { return w };
        let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * n.saturating_sub(1);
        // Shrink the widest flexible column one step at a time, down to a
        // floor of 8 columns (or its header).
        while total(&w) > max {
            let widest = (0..n)
                .filter(|&i| self.flexible[i] && w[i] > self.headers[i].width().max(8))
                .max_by_key(|&i| w[i]);
            match widest {
                Some(i) => w[i] -= 1,
                None => break,
            }
        }
        w
    }

    pub fn write(&self, out: &mut dyn Write, max_width: Option<usize>, color: bool) -> io::Result<()> {
        let w = self.widths(max_width);
        let line = |cells: &[String], out: &mut dyn Write, sgr: Option<&str>| -> io::Result<()> {
            let mut s = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let cell = truncate(cell, w[i]);
                let pad = w[i].saturating_sub(cell.width());
                let last = i + 1 == cells.len();
                if self.right[i] {
                    s.extend(std::iter::repeat_n(' ', pad));
                    s.push_str(&cell);
                } else {
                    s.push_str(&cell);
                    if !last {
                        s.extend(std::iter::repeat_n(' ', pad));
                    }
                }
                if !last {
                    s.push_str("  ");
                }
            }
            let s = s.trim_end();
            match sgr.filter(|_| color) {
                Some(code) => writeln!(out, "\x1b[{code}m{s}\x1b[0m"),
                None => writeln!(out, "{s}"),
            }
        };
        line(&self.headers, out, Some("1"))?;
        for (row, c) in self.rows.iter().zip(&self.row_color) {
            line(row, out, *c)?;
        }
        Ok(())
    }
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

    fn flexible(self) -> bool {
        matches!(
            self,
            Field::From | Field::To | Field::Subject | Field::MessageId | Field::Problem
        )
    }

    fn right_aligned(self) -> bool {
        matches!(self, Field::Size | Field::Age)
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

/// A table of entries.
pub fn entry_table(entries: &[Entry], fields: &[Field], v: &View, short_ids: Option<&[String]>) -> Table {
    let mut fields: Vec<Field> = fields.to_vec();
    if entries.iter().any(Entry::is_broken) && !fields.contains(&Field::Problem) {
        fields.push(Field::Problem);
    }
    let cols: Vec<(&'static str, bool, bool)> = fields
        .iter()
        .map(|f| (f.header(), f.flexible(), f.right_aligned()))
        .collect();
    let mut t = Table::new(&cols);
    for (i, e) in entries.iter().enumerate() {
        let short = short_ids.map(|s| s[i].as_str());
        let row = fields.iter().map(|&f| cell(e, f, v, short)).collect();
        t.push(row, e.is_broken().then_some("31"));
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
    fn escapes_controls_invalid_utf8_and_bidi() {
        assert_eq!(escape("plain é"), "plain é");
        assert_eq!(escape("a\x1b[31mb"), "a\\x1b[31mb");
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(escape_bytes(b"a\xffb\n"), "a\\xffb\\n");
        assert_eq!(escape("\u{9b}"), "\\x9b");
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
    fn durations_and_sizes_read_well() {
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(3 * 3600), "3h");
        assert_eq!(human_duration(3 * 3600 + 300), "3h5m");
        assert_eq!(human_duration(2 * 86400), "2d");
        assert_eq!(human_duration(-(2 * 86400 + 4 * 3600)), "2d4h");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1536), "1.5K");
        assert_eq!(human_size(34 * 1024 * 1024), "34M");
    }

    #[test]
    fn truncation_respects_display_width() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("日本語テキスト", 5), "日本…");
        assert_eq!(truncate("abc", 3), "abc");
    }
}
