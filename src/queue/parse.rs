//! Parsers for the writer's two JSON files. They never panic: whatever does
//! not parse becomes a message for the entry's problem list.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::model::{Address, Envelope, Hostname, LocalpartKind, Schedule};

#[derive(Deserialize)]
struct RawSchedule<'a> {
    #[serde(borrow)]
    at: &'a str,
    #[serde(borrow)]
    last_attempt: Option<&'a str>,
}

/// `serde_json::from_slice`, but text that is valid UTF-8 as a whole (all
/// the writer's) is checked once here instead of string by string in the
/// parser; anything else goes to `from_slice`, for its own error.
fn from_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// Parses `schedule`. Accepts any RFC 3339 offset and fraction length.
pub fn schedule(bytes: &[u8]) -> Result<Schedule, String> {
    let raw: RawSchedule = from_json(bytes).map_err(|e| e.to_string())?;
    let at = timestamp(raw.at).map_err(|e| format!("at: {e}"))?;
    let last_attempt = match raw.last_attempt {
        Some(s) => Some(timestamp(s).map_err(|e| format!("last_attempt: {e}"))?),
        None => None,
    };
    Ok(Schedule { at, last_attempt })
}

/// An RFC 3339 time with an offset (`Z` or `±hh:mm`).
pub fn timestamp(s: &str) -> Result<Timestamp, String> {
    if let Some(t) = writer_timestamp(s.as_bytes()) {
        return Ok(t);
    }
    s.parse::<Timestamp>()
        .map_err(|e| format!("{s:?} is not an RFC 3339 time ({e})"))
}

/// The writer's own spelling, `YYYY-MM-DDTHH:MM:SS[.F…]Z` (1 to 9 digits of
/// fraction), read without the general parser: every entry has one or two
/// of these. `None` for anything else, which the general parser then
/// decides (so a time this accepts is one jiff reads the same, and one it
/// refuses is still read, or refused, by jiff).
fn writer_timestamp(s: &[u8]) -> Option<Timestamp> {
    if s.len() < 20 || s[s.len() - 1] != b'Z' {
        return None;
    }
    let sep = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if sep.iter().any(|&(i, c)| s[i] != c) {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i32> {
        s[from..to]
            .iter()
            .try_fold(0i32, |n, &b| b.is_ascii_digit().then(|| n * 10 + i32::from(b - b'0')))
    };
    let nanos = match &s[19..s.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(20, 20 + digits.len())? * 10i32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let second = num(17, 19)?;
    // A leap second (60) is left to jiff, which has its own rule for it.
    if second > 59 {
        return None;
    }
    let dt = jiff::civil::DateTime::new(
        num(0, 4)? as i16,
        num(5, 7)? as i8,
        num(8, 10)? as i8,
        num(11, 13)? as i8,
        num(14, 16)? as i8,
        second as i8,
        nanos,
    )
    .ok()?;
    jiff::tz::Offset::UTC.to_timestamp(dt).ok()
}

/// Formats a time the way the writer (chrono's serde) does: UTC, `Z`, and a
/// fraction of 3, 6 or 9 digits, left out when it is zero.
pub fn format_timestamp(t: Timestamp) -> String {
    WriterTime(t).to_string()
}

/// `format_timestamp` without the `String`: writes straight into a
/// formatter (JSON output uses it once per time per entry).
#[derive(Debug, Clone, Copy)]
pub struct WriterTime(pub Timestamp);

impl WriterTime {
    /// Calls `f` with the text, formatted on the stack for years 0 to 9999
    /// (the digits by hand: `strftime` was most of the cost).
    pub fn with_str<R>(self, f: impl FnOnce(&str) -> R) -> R {
        let t = self.0;
        let dt = jiff::tz::Offset::UTC.to_datetime(t);
        // The civil fraction, never negative (the timestamp's own is negative
        // before 1970, which printed as `.-500Z`).
        let ns = dt.subsec_nanosecond();
        let digits = match ns {
            0 => 0,
            _ if ns % 1_000_000 == 0 => 3,
            _ if ns % 1_000 == 0 => 6,
            _ => 9,
        };
        let frac = |n: usize| match n {
            0 => String::new(),
            3 => format!(".{:03}", ns / 1_000_000),
            6 => format!(".{:06}", ns / 1_000),
            _ => format!(".{ns:09}"),
        };
        if !(0..=9999).contains(&dt.year()) {
            return f(&format!("{}{}Z", t.strftime("%Y-%m-%dT%H:%M:%S"), frac(digits)));
        }
        let mut b = *b"0000-00-00T00:00:00.000000000Z";
        let mut put = |at: usize, width: usize, mut n: u32| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, 4, dt.year() as u32);
        put(5, 2, dt.month() as u32);
        put(8, 2, dt.day() as u32);
        put(11, 2, dt.hour() as u32);
        put(14, 2, dt.minute() as u32);
        put(17, 2, dt.second() as u32);
        put(20, 9, ns as u32);
        let end = if digits == 0 { 19 } else { 20 + digits };
        b[end] = b'Z';
        match std::str::from_utf8(&b[..=end]) {
            Ok(text) => f(text),
            // Only ASCII digits and separators were written.
            Err(_) => unreachable!("ASCII"),
        }
    }
}

impl std::fmt::Display for WriterTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.with_str(|s| f.write_str(s))
    }
}

/// The writer's `schedule` text for a time pair (no trailing newline).
pub fn schedule_json(s: &Schedule) -> String {
    let last = match s.last_attempt {
        Some(t) => format!("\"{}\"", format_timestamp(t)),
        None => "null".to_string(),
    };
    format!("{{\"at\":\"{}\",\"last_attempt\":{}}}", format_timestamp(s.at), last)
}

#[derive(Deserialize, Serialize)]
struct RawMetadata {
    from: Option<RawAddress>,
    to: RawAddress,
    #[serde(default)]
    metadata: serde_json::Value,
}

// The writer's serde shapes, in its field order (serialising these gives the
// writer's bytes).
#[derive(Deserialize, Serialize)]
struct RawAddress {
    localpart: RawLocalpart,
    hostname: Option<RawHostname>,
}

#[derive(Deserialize, Serialize)]
struct Raw {
    raw: String,
}

#[derive(Deserialize, Serialize)]
enum RawLocalpart {
    Ascii(Raw),
    QuotedAscii(Raw),
    Utf8(Raw),
    QuotedUtf8(Raw),
}

#[derive(Deserialize, Serialize)]
enum RawHostname {
    AsciiDomain { raw: String },
    Utf8Domain { raw: String, punycode: String },
    Ipv4 { raw: String, ip: String },
    Ipv6 { raw: String, ip: String },
}

impl From<RawAddress> for Address {
    fn from(a: RawAddress) -> Address {
        let (localpart_kind, localpart) = match a.localpart {
            RawLocalpart::Ascii(r) => (LocalpartKind::Ascii, r.raw),
            RawLocalpart::QuotedAscii(r) => (LocalpartKind::QuotedAscii, r.raw),
            RawLocalpart::Utf8(r) => (LocalpartKind::Utf8, r.raw),
            RawLocalpart::QuotedUtf8(r) => (LocalpartKind::QuotedUtf8, r.raw),
        };
        let hostname = a.hostname.map(|h| match h {
            RawHostname::AsciiDomain { raw } => Hostname::AsciiDomain { raw },
            RawHostname::Utf8Domain { raw, punycode } => Hostname::Utf8Domain { raw, punycode },
            RawHostname::Ipv4 { raw, ip } => Hostname::Ipv4 { raw, ip },
            RawHostname::Ipv6 { raw, ip } => Hostname::Ipv6 { raw, ip },
        });
        Address {
            localpart,
            localpart_kind,
            hostname,
        }
    }
}

impl From<&Address> for RawAddress {
    fn from(a: &Address) -> RawAddress {
        let raw = Raw {
            raw: a.localpart.clone(),
        };
        let localpart = match a.localpart_kind {
            LocalpartKind::Ascii => RawLocalpart::Ascii(raw),
            LocalpartKind::QuotedAscii => RawLocalpart::QuotedAscii(raw),
            LocalpartKind::Utf8 => RawLocalpart::Utf8(raw),
            LocalpartKind::QuotedUtf8 => RawLocalpart::QuotedUtf8(raw),
        };
        let hostname = a.hostname.clone().map(|h| match h {
            Hostname::AsciiDomain { raw } => RawHostname::AsciiDomain { raw },
            Hostname::Utf8Domain { raw, punycode } => RawHostname::Utf8Domain { raw, punycode },
            Hostname::Ipv4 { raw, ip } => RawHostname::Ipv4 { raw, ip },
            Hostname::Ipv6 { raw, ip } => RawHostname::Ipv6 { raw, ip },
        });
        RawAddress { localpart, hostname }
    }
}

/// Parses `metadata`.
pub fn envelope(bytes: &[u8]) -> Result<Envelope, String> {
    if let Some(e) = std::str::from_utf8(bytes).ok().and_then(writer_envelope) {
        return Ok(e);
    }
    let raw: RawMetadata = from_json(bytes).map_err(|e| e.to_string())?;
    Ok(Envelope {
        from: raw.from.map(Address::from),
        to: raw.to.into(),
    })
}

/// The writer's own `metadata` text (what `metadata_json` writes: fields in
/// its order, no spaces, `"metadata":null`, no escapes in strings) read
/// without serde: every entry has one. `None` for anything else, which
/// serde then reads (a test checks both agree).
fn writer_envelope(text: &str) -> Option<Envelope> {
    let mut c = Cursor { text, at: 0 };
    c.lit("{\"from\":")?;
    let from = if c.lit("null").is_some() {
        None
    } else {
        Some(c.address()?)
    };
    c.lit(",\"to\":")?;
    let to = c.address()?;
    c.lit(",\"metadata\":null}")?;
    (c.at == text.len()).then_some(Envelope { from, to })
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl Cursor<'_> {
    /// Skips `s` if the text goes on with it.
    fn lit(&mut self, s: &str) -> Option<()> {
        self.text[self.at..].starts_with(s).then(|| self.at += s.len())
    }

    /// One of `names`, quoted, followed by `:`.
    fn key<'n>(&mut self, names: &[&'n str]) -> Option<&'n str> {
        let rest = self.text[self.at..].strip_prefix('"')?;
        let name = names
            .iter()
            .find(|n| rest.starts_with(**n) && rest[n.len()..].starts_with("\":"))?;
        self.at += name.len() + 3;
        Some(name)
    }

    /// A JSON string without escapes or control characters (serde's say
    /// on anything else).
    fn string(&mut self) -> Option<String> {
        let rest = self.text[self.at..].strip_prefix('"')?;
        let end = rest.bytes().position(|b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest.as_bytes()[end] != b'"' {
            return None;
        }
        self.at += end + 2;
        Some(rest[..end].to_string())
    }

    /// `{"raw":S}` or `{"raw":S,"<second>":S}`.
    fn raw(&mut self, second: Option<&str>) -> Option<(String, Option<String>)> {
        self.lit("{\"raw\":")?;
        let raw = self.string()?;
        let other = match second {
            Some(name) => {
                self.lit(",")?;
                self.key(&[name])?;
                Some(self.string()?)
            }
            None => None,
        };
        self.lit("}")?;
        Some((raw, other))
    }

    fn address(&mut self) -> Option<Address> {
        self.lit("{\"localpart\":{")?;
        let kind = match self.key(&["Ascii", "QuotedAscii", "Utf8", "QuotedUtf8"])? {
            "Ascii" => LocalpartKind::Ascii,
            "QuotedAscii" => LocalpartKind::QuotedAscii,
            "Utf8" => LocalpartKind::Utf8,
            _ => LocalpartKind::QuotedUtf8,
        };
        let (localpart, _) = self.raw(None)?;
        self.lit("},\"hostname\":")?;
        let hostname = if self.lit("null").is_some() {
            None
        } else {
            self.lit("{")?;
            let h = match self.key(&["AsciiDomain", "Utf8Domain", "Ipv4", "Ipv6"])? {
                "AsciiDomain" => Hostname::AsciiDomain { raw: self.raw(None)?.0 },
                "Utf8Domain" => {
                    let (raw, punycode) = self.raw(Some("punycode"))?;
                    Hostname::Utf8Domain {
                        raw,
                        punycode: punycode?,
                    }
                }
                v4_or_v6 => {
                    let (raw, ip) = self.raw(Some("ip"))?;
                    let ip = ip?;
                    match v4_or_v6 {
                        "Ipv4" => Hostname::Ipv4 { raw, ip },
                        _ => Hostname::Ipv6 { raw, ip },
                    }
                }
            };
            self.lit("}")?;
            Some(h)
        };
        self.lit("}")?;
        Some(Address {
            localpart,
            localpart_kind: kind,
            hostname,
        })
    }
}

/// The writer's `metadata` text for an envelope: serde_json's compact output
/// of its types, with `"metadata":null` as Kannader writes.
pub fn metadata_json(e: &Envelope) -> String {
    let raw = RawMetadata {
        from: e.from.as_ref().map(RawAddress::from),
        to: RawAddress::from(&e.to),
        metadata: serde_json::Value::Null,
    };
    serde_json::to_string(&raw).expect("plain data always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_like_chrono() {
        for s in [
            "2026-11-22T21:35:25.426680706Z",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00.100Z",
            "2024-01-01T00:00:00.000100Z",
        ] {
            assert_eq!(format_timestamp(timestamp(s).unwrap()), s);
        }
        let t = timestamp("2024-01-01T02:00:00.5+02:00").unwrap();
        assert_eq!(format_timestamp(t), "2024-01-01T00:00:00.500Z");
    }

    #[test]
    fn the_fast_time_paths_agree_with_jiff() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let secs = rng.i64(-62_135_596_800..253_402_300_799);
            let ns = match rng.u32(..4) {
                0 => 0,
                1 => rng.i32(0..1000) * 1_000_000,
                2 => rng.i32(0..1_000_000) * 1000,
                _ => rng.i32(0..1_000_000_000),
            };
            let t = Timestamp::new(secs, ns).unwrap();
            let text = format_timestamp(t);
            // The writer's (chrono's) spelling, the slow way.
            let frac = format!("{:09}", t.subsec_nanosecond().rem_euclid(1_000_000_000));
            let frac = match frac.trim_end_matches('0').len() {
                0 => String::new(),
                1..=3 => format!(".{}", &frac[..3]),
                4..=6 => format!(".{}", &frac[..6]),
                _ => format!(".{frac}"),
            };
            assert_eq!(text, format!("{}{frac}Z", t.strftime("%Y-%m-%dT%H:%M:%S")));
            let slow = format!("{}", t.strftime("%Y-%m-%dT%H:%M:%S%.fZ"));
            let slow = slow.replace(".Z", "Z");
            assert_eq!(timestamp(&slow).unwrap(), t, "{slow}");
            assert_eq!(text.parse::<Timestamp>().unwrap(), t, "{text}");
            assert_eq!(writer_timestamp(text.as_bytes()), Some(t), "{text}");
        }
        // What the fast path leaves to jiff, and what neither accepts.
        for s in [
            "2024-01-01T00:00:00+02:00",
            "2024-01-01t00:00:00z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00.1234567890Z",
            "2024-02-30T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2016-12-31T23:59:60Z",
            "2024-01-01T00:00:00,5Z",
            "+2024-01-01T00:00:00Z",
            "2024-1-01T00:00:00Z",
            "2024-01-01 00:00:00Z",
            "２024-01-01T00:00:00Z",
        ] {
            let fast = writer_timestamp(s.as_bytes());
            let jiff = s.parse::<Timestamp>().ok();
            if let Some(t) = fast {
                assert_eq!(Some(t), jiff, "{s}");
            }
            assert_eq!(timestamp(s).ok(), jiff, "{s}");
        }
    }

    #[test]
    fn schedule_round_trips_the_writer_text() {
        let text = r#"{"at":"2026-11-22T23:35:25.426680706Z","last_attempt":"2026-11-22T19:35:25.426680706Z"}"#;
        assert_eq!(schedule_json(&schedule(text.as_bytes()).unwrap()), text);
        let text = r#"{"at":"2026-11-22T18:35:25.426680706Z","last_attempt":null}"#;
        assert_eq!(schedule_json(&schedule(text.as_bytes()).unwrap()), text);
    }

    #[test]
    fn metadata_round_trips_every_variant() {
        for text in [
            r#"{"from":{"localpart":{"Ascii":{"raw":"alice"}},"hostname":{"AsciiDomain":{"raw":"example.org"}}},"to":{"localpart":{"Ascii":{"raw":"bob"}},"hostname":{"AsciiDomain":{"raw":"example.com"}}},"metadata":null}"#,
            r#"{"from":null,"to":{"localpart":{"Ascii":{"raw":"postmaster"}},"hostname":{"AsciiDomain":{"raw":"example.net"}}},"metadata":null}"#,
            r#"{"from":{"localpart":{"QuotedAscii":{"raw":"\"john doe\""}},"hostname":{"AsciiDomain":{"raw":"example.org"}}},"to":{"localpart":{"Ascii":{"raw":"user"}},"hostname":{"Ipv4":{"raw":"[192.0.2.1]","ip":"192.0.2.1"}}},"metadata":null}"#,
            r#"{"from":{"localpart":{"Ascii":{"raw":"user"}},"hostname":{"Ipv6":{"raw":"[IPv6:2001:db8::1]","ip":"2001:db8::1"}}},"to":{"localpart":{"Utf8":{"raw":"josé"}},"hostname":{"Utf8Domain":{"raw":"exämple.org","punycode":"xn--exmple-cua.org"}}},"metadata":null}"#,
        ] {
            assert_eq!(metadata_json(&envelope(text.as_bytes()).unwrap()), text);
        }
    }

    /// `envelope` without its fast path: serde alone.
    fn envelope_by_serde(bytes: &[u8]) -> Result<Envelope, String> {
        let raw: RawMetadata = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        Ok(Envelope {
            from: raw.from.map(Address::from),
            to: raw.to.into(),
        })
    }

    fn any_address() -> impl proptest::strategy::Strategy<Value = Address> {
        use proptest::prelude::*;
        let text = prop_oneof![
            "[a-z.+]{0,12}",
            "\\PC{0,8}",
            Just("\"john doe\"".to_string()),
            Just("back\\slash".to_string()),
            Just("ctl\u{1}\u{1f}\u{7f}".to_string()),
            Just("é\u{202e}\u{9b}".to_string()),
        ];
        let host = prop_oneof![
            Just(None),
            text.clone().prop_map(|raw| Some(Hostname::AsciiDomain { raw })),
            (text.clone(), text.clone()).prop_map(|(raw, punycode)| Some(Hostname::Utf8Domain { raw, punycode })),
            (text.clone(), text.clone()).prop_map(|(raw, ip)| Some(Hostname::Ipv4 { raw, ip })),
            (text.clone(), text.clone()).prop_map(|(raw, ip)| Some(Hostname::Ipv6 { raw, ip })),
        ];
        let kind = proptest::sample::select(vec![
            LocalpartKind::Ascii,
            LocalpartKind::QuotedAscii,
            LocalpartKind::Utf8,
            LocalpartKind::QuotedUtf8,
        ]);
        (text, kind, host).prop_map(|(localpart, localpart_kind, hostname)| Address {
            localpart,
            localpart_kind,
            hostname,
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, ..Default::default() })]
        #[test]
        fn envelope_reads_what_serde_reads(
            from in proptest::option::of(any_address()),
            to in any_address(),
            cut in 0usize..400,
            byte in proptest::prelude::any::<u8>(),
            how in 0u8..4,
        ) {
            let text = metadata_json(&Envelope { from, to });
            // The writer's text, and the same text damaged once.
            let mut damaged = text.clone().into_bytes();
            let at = cut % (damaged.len() + 1);
            match how {
                0 => damaged.truncate(at),
                1 => damaged.insert(at, byte),
                2 if at < damaged.len() => damaged[at] = byte,
                _ => damaged.extend_from_slice(b" "),
            }
            for bytes in [text.as_bytes(), &damaged[..]] {
                proptest::prop_assert_eq!(envelope(bytes), envelope_by_serde(bytes));
            }
            proptest::prop_assert!(writer_envelope(&text).is_some() || text.contains('\\'), "{}", text);
        }
    }

    #[test]
    fn broken_json_is_an_error_not_a_panic() {
        for text in [
            "",
            "{",
            "null",
            r#"{"at":5}"#,
            r#"{"at":"yesterday","last_attempt":null}"#,
        ] {
            assert!(schedule(text.as_bytes()).is_err(), "{text}");
        }
        for text in [
            "{}",
            r#"{"from":null}"#,
            r#"{"from":null,"to":{"localpart":{"Weird":{"raw":"x"}},"hostname":null}}"#,
        ] {
            assert!(envelope(text.as_bytes()).is_err(), "{text}");
        }
    }
}
