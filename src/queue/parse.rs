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

/// Parses `schedule`. Accepts any RFC 3339 offset and fraction length.
pub fn schedule(bytes: &[u8]) -> Result<Schedule, String> {
    let raw: RawSchedule = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let at = timestamp(raw.at).map_err(|e| format!("at: {e}"))?;
    let last_attempt = match raw.last_attempt {
        Some(s) => Some(timestamp(s).map_err(|e| format!("last_attempt: {e}"))?),
        None => None,
    };
    Ok(Schedule { at, last_attempt })
}

/// An RFC 3339 time with an offset (`Z` or `±hh:mm`).
pub fn timestamp(s: &str) -> Result<Timestamp, String> {
    s.parse::<Timestamp>()
        .map_err(|e| format!("{s:?} is not an RFC 3339 time ({e})"))
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

impl std::fmt::Display for WriterTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.0;
        write!(f, "{}", t.strftime("%Y-%m-%dT%H:%M:%S"))?;
        let ns = t.subsec_nanosecond();
        if ns == 0 {
            f.write_str("Z")
        } else if ns % 1_000_000 == 0 {
            write!(f, ".{:03}Z", ns / 1_000_000)
        } else if ns % 1_000 == 0 {
            write!(f, ".{:06}Z", ns / 1_000)
        } else {
            write!(f, ".{ns:09}Z")
        }
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
    let raw: RawMetadata = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    Ok(Envelope {
        from: raw.from.map(Address::from),
        to: raw.to.into(),
    })
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
