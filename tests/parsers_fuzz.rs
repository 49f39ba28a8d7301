//! Property tests on the parsers that read queue bytes: arbitrary and
//! near-valid input never panics, and the writer's own output always parses
//! back to what was written. Case counts are modest so this runs in seconds.

use jiff::Timestamp;
use mqctl::output::escape_bytes;
use mqctl::queue::parse::{envelope, format_timestamp, metadata_json, schedule, schedule_json, timestamp};
use mqctl::queue::{Address, Envelope, Hostname, Link, LocalpartKind, Schedule, address, headers};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A lowercase hyphenated uuid, as the writer spells it.
fn uuid() -> impl Strategy<Value = String> {
    any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).hyphenated().to_string())
}

/// The reference for Link::parse: `../data/` + uuid + `/` + uuid, lowercase.
fn is_writer_link(b: &[u8]) -> bool {
    let Some(rest) = b.strip_prefix(b"../data/") else {
        return false;
    };
    let is_uuid = |u: &[u8]| {
        u.len() == 36
            && u.iter().enumerate().all(|(i, &c)| match i {
                8 | 13 | 18 | 23 => c == b'-',
                _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
            })
    };
    rest.len() == 73 && rest[36] == b'/' && is_uuid(&rest[..36]) && is_uuid(&rest[37..])
}

/// A valid link with one edit: a byte replaced, inserted or removed, a
/// character upper-cased, a `/` doubled, `./` in front, `/` at the end.
fn near_link() -> impl Strategy<Value = Vec<u8>> {
    (uuid(), uuid(), 0usize..8, any::<usize>(), any::<u8>()).prop_map(|(m, d, edit, at, byte)| {
        let mut b = format!("../data/{m}/{d}").into_bytes();
        let i = at % b.len();
        match edit {
            0 => b[i] = byte,
            1 => b.insert(i, byte),
            2 => {
                b.remove(i);
            }
            3 => b[i] = b[i].to_ascii_uppercase(),
            4 => b.insert(8, b'/'),
            5 => {
                b.splice(0..0, *b"./");
            }
            6 => b.push(b'/'),
            _ => {}
        };
        b
    })
}

fn time() -> impl Strategy<Value = Timestamp> {
    // Years 1970..2200, any nanosecond.
    (0i64..7_258_118_400, 0i32..1_000_000_000).prop_map(|(s, ns)| Timestamp::new(s, ns).unwrap())
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9.+-]{1,20}",
        any::<String>(),
        "[\\x00-\\x1f\\x7f\u{80}-\u{9f}\u{202a}-\u{202e}a-z\"\\\\@]{0,20}",
    ]
}

fn address_value() -> impl Strategy<Value = Address> {
    let kind = prop_oneof![
        Just(LocalpartKind::Ascii),
        Just(LocalpartKind::QuotedAscii),
        Just(LocalpartKind::Utf8),
        Just(LocalpartKind::QuotedUtf8),
    ];
    let host = prop_oneof![
        Just(None),
        text().prop_map(|raw| Some(Hostname::AsciiDomain { raw })),
        (text(), text()).prop_map(|(raw, punycode)| Some(Hostname::Utf8Domain { raw, punycode })),
        (text(), text()).prop_map(|(raw, ip)| Some(Hostname::Ipv4 { raw, ip })),
        (text(), text()).prop_map(|(raw, ip)| Some(Hostname::Ipv6 { raw, ip })),
    ];
    (text(), kind, host).prop_map(|(localpart, localpart_kind, hostname)| Address {
        localpart,
        localpart_kind,
        hostname,
    })
}

/// JSON values that are almost a schedule: right and wrong types, missing
/// and unknown fields, times with odd offsets and fractions.
fn near_schedule() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    let time_text = prop_oneof![
        time().prop_map(format_timestamp),
        (time(), -23i32..24, 0u32..60).prop_map(|(t, h, m)| {
            let off = jiff::tz::Offset::from_seconds(h * 3600 + h.signum() * m as i32 * 60).unwrap();
            t.display_with_offset(off).to_string()
        }),
        "[0-9T:.Z+-]{0,30}",
        any::<String>(),
    ];
    let field = prop_oneof![
        time_text.prop_map(Value::String),
        Just(Value::Null),
        any::<i64>().prop_map(|n| json!(n)),
        Just(json!([])),
        Just(json!({"at": "2026-01-01T00:00:00Z"})),
        any::<bool>().prop_map(Value::Bool),
    ];
    (
        proptest::option::of(field.clone()),
        proptest::option::of(field),
        proptest::option::of(any::<String>()),
    )
        .prop_map(|(at, last, extra)| {
            let mut m = serde_json::Map::new();
            if let Some(v) = at {
                m.insert("at".into(), v);
            }
            if let Some(v) = last {
                m.insert("last_attempt".into(), v);
            }
            if let Some(k) = extra {
                m.insert(k, json!({"unknown": [1, 2]}));
            }
            Value::Object(m)
        })
}

/// Truncations and byte edits of a valid document.
fn mangled(doc: String) -> impl Strategy<Value = Vec<u8>> {
    (any::<usize>(), any::<usize>(), any::<u8>(), 0usize..3).prop_map(move |(cut, at, byte, how)| {
        let mut b = doc.clone().into_bytes();
        match how {
            0 => b.truncate(cut % (b.len() + 1)),
            1 => {
                let i = at % b.len();
                b[i] = byte;
            }
            _ => b.insert(at % (b.len() + 1), byte),
        }
        b
    })
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn link_parse_accepts_exactly_the_writer_form(b in prop_oneof![
        near_link(),
        proptest::collection::vec(any::<u8>(), 0..100),
        (uuid(), uuid()).prop_map(|(m, d)| format!("../data/{m}/{d}").into_bytes()),
    ]) {
        let parsed = Link::parse(&b);
        prop_assert_eq!(parsed.is_some(), is_writer_link(&b), "{:?}", String::from_utf8_lossy(&b));
        if let Some(l) = parsed {
            prop_assert_eq!(l.text().into_bytes(), b.clone());
            prop_assert_eq!(format!("{}/{}", l.mail, l.dest), l.dest_path());
        }
    }

    #[test]
    fn escape_bytes_never_lets_a_control_through(b in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        any::<String>().prop_map(String::into_bytes),
        "[\\x00-\\x1f\\x7f\u{80}-\u{9f}\u{200e}\u{200f}\u{202a}-\u{202e}\u{2066}-\u{2069}a-z]{0,40}".prop_map(String::into_bytes),
    ]) {
        let out = escape_bytes(&b);
        prop_assert!(out.bytes().all(|c| c >= 0x20 && c != 0x7f), "{:?}", out);
        prop_assert!(!out.chars().any(|c| c.is_control()), "{:?}", out);
        prop_assert!(
            !out.chars().any(|c| matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')),
            "{:?}", out
        );
        // Plain text passes through unchanged.
        if let Ok(s) = std::str::from_utf8(&b)
            && !s.chars().any(|c| c.is_control() || ('\u{2000}'..='\u{2fff}').contains(&c))
        {
            prop_assert_eq!(&*out, s);
        }
    }

    #[test]
    fn schedule_never_panics_on_bytes(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = schedule(&b);
    }

    #[test]
    fn schedule_near_valid_json(v in near_schedule()) {
        let text = serde_json::to_vec(&v).unwrap();
        let r = schedule(&text);
        let valid_time = |f: &serde_json::Value| f.as_str().is_some_and(|s| s.parse::<Timestamp>().is_ok());
        let expect_ok = valid_time(&v["at"]) && (v["last_attempt"].is_null() || valid_time(&v["last_attempt"]));
        prop_assert_eq!(r.is_ok(), expect_ok, "{} -> {:?}", v, r);
        if let Ok(s) = r {
            prop_assert_eq!(s.at, v["at"].as_str().unwrap().parse::<Timestamp>().unwrap());
        }
    }

    #[test]
    fn schedule_json_round_trips(at in time(), last in proptest::option::of(time())) {
        let s = Schedule { at, last_attempt: last };
        let text = schedule_json(&s);
        prop_assert_eq!(schedule(text.as_bytes()), Ok(s));
        prop_assert_eq!(timestamp(&format_timestamp(at)), Ok(at));
    }

    #[test]
    fn envelope_never_panics_on_bytes(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = envelope(&b);
    }

    #[test]
    fn metadata_json_round_trips(from in proptest::option::of(address_value()), to in address_value()) {
        let e = Envelope { from, to };
        let text = metadata_json(&e);
        prop_assert_eq!(envelope(text.as_bytes()), Ok(e));
    }

    #[test]
    fn mangled_metadata_never_panics(b in (proptest::option::of(address_value()), address_value())
        .prop_flat_map(|(from, to)| mangled(metadata_json(&Envelope { from, to }))))
    {
        let _ = envelope(&b);
        let _ = schedule(&b);
    }

    #[test]
    fn mangled_schedule_never_panics(b in (time(), proptest::option::of(time()))
        .prop_flat_map(|(at, last_attempt)| mangled(schedule_json(&Schedule { at, last_attempt }))))
    {
        let _ = schedule(&b);
    }

    #[test]
    fn headers_never_panic(b in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..400),
        ("[A-Za-z-]{1,12}", "[\\x00-\\x7f\u{80}-\u{10ffff}]{0,40}", "(\r\n|\n|\r\n |\n\t)", any::<bool>())
            .prop_map(|(n, v, eol, body)| {
                let mut m = format!("{n}: {v}{eol}Subject: =?UTF-8?Q?{v}?={eol}Message-ID: <{v}>{eol}").into_bytes();
                if body {
                    m.extend_from_slice(b"\r\n\r\nbody\xff");
                }
                m
            }),
    ]) {
        let h = headers::parse(&b);
        let _ = headers::header_block_len(&b);
        prop_assert!(h.all.len() <= b.len());
    }

    #[test]
    fn address_parse_never_panics_and_round_trips(s in prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~\"\\\\ @-]{0,30}@[a-z0-9.-]{0,20}",
        "\"[ -~]{0,20}\"@(\\[[0-9.]{0,20}\\]|\\[IPv6:[0-9a-f:]{0,30}\\]|[a-zé.]{1,20})",
    ]) {
        let _ = address::parse_sender(&s);
        if let Ok(a) = address::parse(&s) {
            // What the parser accepts, it gives back unchanged.
            prop_assert_eq!(address::parse(&a.to_string()), Ok(a.clone()));
            let e = Envelope { from: None, to: a };
            prop_assert_eq!(envelope(metadata_json(&e).as_bytes()), Ok(e));
        }
    }
}

/// The round-trip property above is only as good as what the generators
/// make valid: these are, and must round-trip.
#[test]
fn address_round_trip_examples() {
    for s in [
        "alice@example.org",
        "\"john doe\"@example.org",
        "\"a@b\"@example.org",
        "user@[192.0.2.1]",
        "user@[IPv6:2001:db8::1]",
        "josé@exämple.org",
    ] {
        let a = address::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(a.to_string(), s);
        assert_eq!(address::parse(&a.to_string()), Ok(a.clone()));
        let e = Envelope {
            from: Some(a.clone()),
            to: a,
        };
        assert_eq!(envelope(metadata_json(&e).as_bytes()), Ok(e));
    }
}
