//! Message headers, read only when a command asks for them: the first bytes
//! of `contents`, up to the blank line that ends the header block.

use mail_parser::MessageParser;

use super::model::Headers;

/// How much of a message we read to find its headers. Headers larger than this
/// are cut (and the fields past the cut are not shown).
pub const HEADER_READ_LIMIT: usize = 64 * 1024;

/// How much of a message is read at a time to find its headers: they end in
/// the first step for nearly every message, so the body (attachments can be
/// megabytes) is mostly not read at all.
pub const HEADER_READ_STEP: usize = 8 * 1024;

/// True when `msg` (the first bytes of a message) holds the blank line that
/// ends the headers, so reading further cannot change what `parse` gives.
pub fn has_header_end(msg: &[u8]) -> bool {
    header_block_len(msg) < msg.len()
}

/// The length of the header block (up to and including the blank line), or
/// the whole slice when no blank line is in it.
pub fn header_block_len(msg: &[u8]) -> usize {
    let mut i = 0;
    while i < msg.len() {
        if msg[i] == b'\n' {
            match msg.get(i + 1) {
                Some(b'\n') => return i + 2,
                Some(b'\r') if msg.get(i + 2) == Some(&b'\n') => return i + 3,
                _ => {}
            }
        }
        i += 1;
    }
    msg.len()
}

/// Parses the header block of `msg`. Encoded words (RFC 2047) are decoded;
/// the text is left as is otherwise (escaping happens at display time).
///
/// Each header's value is the raw text unless it holds an encoded word, so
/// the block is split with every header skipped unparsed (mail-parser's
/// typed parsers for dates, addresses, Received… were nine tenths of the
/// cost), and only a header holding `=?` is parsed again alone, the usual
/// way, for its decoded text. `tests::same_as_parsing_every_header` checks
/// this gives what parsing every header gave.
pub fn parse(msg: &[u8]) -> Headers {
    static SPLIT: std::sync::LazyLock<MessageParser> = std::sync::LazyLock::new(|| {
        // A name in the map makes the parser use the default (here: skip)
        // for every other header, the well-known ones included.
        MessageParser::new()
            .default_header_ignore()
            .ignore_header(mail_parser::HeaderName::Other("X-Mqctl-Unused".into()))
    });
    let block = &msg[..header_block_len(msg)];
    let mut out = Headers::default();
    let Some(parsed) = SPLIT.parse_headers(block) else {
        return out;
    };
    out.all.reserve_exact(parsed.headers().len());
    for h in parsed.headers() {
        let name = h.name.as_str().to_string();
        let raw = block
            .get(h.offset_start as usize..h.offset_end as usize)
            .map(unfold)
            .unwrap_or_default();
        // Message-ID and Date keep the raw (unfolded) text, brackets and all.
        if name.eq_ignore_ascii_case("message-id") && out.message_id.is_none() {
            out.message_id = Some(raw.clone());
        } else if name.eq_ignore_ascii_case("date") && out.date.is_none() {
            out.date = Some(raw.clone());
        }
        // Decoded text where the header carries encoded words; the raw
        // value otherwise.
        let value = match raw.contains("=?") {
            true => decoded(&block[h.offset_field as usize..h.offset_end as usize]).unwrap_or(raw),
            false => raw,
        };
        if name.eq_ignore_ascii_case("subject") && out.subject.is_none() {
            out.subject = Some(value.clone());
        }
        out.all.push((name, value));
    }
    out
}

/// The text mail-parser's own parser for this one header (`Name: value`)
/// decodes, if it gives text.
fn decoded(field: &[u8]) -> Option<String> {
    let parsed = MessageParser::default().parse_headers(field)?;
    parsed.headers().first()?.value.as_text().map(str::to_string)
}

/// Joins folded lines and trims, keeping invalid UTF-8 visible as U+FFFD.
fn unfold(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    if !s.contains('\n') {
        // One line: what joining would give, without building it twice.
        return s.trim().to_string();
    }
    join_lines(&s)
}

/// Joins folded lines (each continuation's leading blanks become one
/// space) and trims.
fn join_lines(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, line) in s.split('\n').enumerate() {
        let line = line.trim_end_matches('\r');
        if i > 0 {
            out.push(' ');
            out.push_str(line.trim_start());
        } else {
            out.push_str(line);
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `parse` as it was: every header through mail-parser's typed parsers.
    fn parse_every_header(msg: &[u8]) -> Headers {
        let block = &msg[..header_block_len(msg)];
        let mut out = Headers::default();
        let Some(parsed) = MessageParser::default().parse_headers(block) else {
            return out;
        };
        for h in parsed.headers() {
            let name = h.name.as_str().to_string();
            let raw = block
                .get(h.offset_start as usize..h.offset_end as usize)
                .map(unfold_as_it_was)
                .unwrap_or_default();
            let value = match h.value.as_text() {
                Some(t) if raw.contains("=?") => t.to_string(),
                _ => raw.clone(),
            };
            let lname = name.to_ascii_lowercase();
            match lname.as_str() {
                "subject" if out.subject.is_none() => out.subject = Some(value.clone()),
                "message-id" if out.message_id.is_none() => out.message_id = Some(raw.clone()),
                "date" if out.date.is_none() => out.date = Some(raw.clone()),
                _ => {}
            }
            out.all.push((name, value));
        }
        out
    }

    /// `unfold` as it was: every value through the joining of lines.
    fn unfold_as_it_was(raw: &[u8]) -> String {
        join_lines(&String::from_utf8_lossy(raw))
    }

    /// Header blocks made of pieces that trouble parsers: every well-known
    /// name (typed parsers), encoded words good and broken, quotes,
    /// comments and brackets left open, folds, bare CR and LF, NUL and
    /// invalid UTF-8.
    fn hostile_block() -> impl Strategy<Value = Vec<u8>> {
        const NAMES: &[&str] = &[
            "Subject",
            "subject",
            "SUBJECT",
            "From",
            "To",
            "Cc",
            "Reply-To",
            "Sender",
            "Date",
            "Message-ID",
            "message-id",
            "References",
            "In-Reply-To",
            "Return-Path",
            "Received",
            "Content-Type",
            "Content-Disposition",
            "MIME-Version",
            "Keywords",
            "List-Id",
            "Comments",
            "X-Custom",
            "X-Spam",
            " Folded",
            "",
            "Bad Name",
            "Ümlaut",
        ];
        const PIECES: &[&[u8]] = &[
            b"=?UTF-8?B?w4lsw6hnYW50?=",
            b"=?iso-8859-1?q?caf=E9?=",
            b"=?UTF-8?Q?a_b?=",
            b"=?broken",
            b"=?x?q?\x1b[31m?=",
            b"=?",
            b"?=",
            b"\"john doe\"",
            b"\"open",
            b"(comment",
            b"(c (nested) )",
            b")",
            b"<a@b.example>",
            b"<open",
            b">",
            b"a@b",
            b",",
            b";",
            b"Tue, 01 Dec 2026 17:40:04 +0000",
            b"32 Foo 99999 25:61:61 -9999",
            b"from mx (mx [192.0.2.1]) by y with ESMTPS id 1; Tue, 01 Dec 2026 17:40:04 +0000",
            b"text/plain; charset=\"utf-8\"; name*=x",
            b"1.0",
            b" ",
            b"\t",
            b"\r\n ",
            b"\n\t",
            b"\r",
            b"\n",
            b"\r\n",
            b"\0",
            b"\xff\xfe",
            b"\xc3\xa9",
            b":",
            b"word",
            b"\\",
        ];
        let name = proptest::sample::select(NAMES);
        let piece = proptest::sample::select(PIECES);
        let header = (name, proptest::collection::vec(piece, 0..6)).prop_map(|(n, ps)| {
            let mut h = n.as_bytes().to_vec();
            h.extend_from_slice(b": ");
            for p in ps {
                h.extend_from_slice(p);
            }
            h.extend_from_slice(b"\r\n");
            h
        });
        (proptest::collection::vec(header, 0..8), any::<bool>()).prop_map(|(hs, end)| {
            let mut b: Vec<u8> = hs.concat();
            if end {
                b.extend_from_slice(b"\r\nbody: not a header\r\n");
            }
            b
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]
        #[test]
        fn same_as_parsing_every_header(b in prop_oneof![
            hostile_block(),
            proptest::collection::vec(any::<u8>(), 0..300),
        ]) {
            prop_assert_eq!(parse(&b), parse_every_header(&b));
        }
    }

    #[test]
    fn same_as_parsing_every_header_on_the_fixture_and_bench_messages() {
        let real: [&[u8]; 3] = [
            b"Return-Path: <mailer-daemon@mx1.corp.example>\r\nReceived: from mx1.corp.example (mx1.corp.example [192.0.2.10])\r\n\tby mx2.corp.example with ESMTPS; Tue, 01 Dec 2026 17:40:04 +0000\r\nFrom: mailer-daemon@mx1.corp.example\r\nTo: support@corp.example\r\nSubject: Weekly report 2907\r\nMessage-ID: <2907.1796146804@corp.example>\r\nDate: Tue, 01 Dec 2026 17:40:04 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLine 0\r\n",
            b"From: =?UTF-8?B?Sm9zw6k=?= <jose@example.org>\r\nSubject: =?UTF-8?B?w4lsw6hnYW50IHN1amV0?=\r\n =?UTF-8?Q?_et_suite?=\r\nX-Long: one\r\n two\r\n\r\nbody",
            b"Subject: plain\nDate: x\n\n",
        ];
        for m in real {
            assert_eq!(parse(m), parse_every_header(m), "{}", String::from_utf8_lossy(m));
        }
    }

    #[test]
    fn finds_the_end_of_headers_with_crlf_and_lf() {
        assert_eq!(header_block_len(b"A: b\r\n\r\nbody"), 8);
        assert_eq!(header_block_len(b"A: b\n\nbody"), 6);
        assert_eq!(header_block_len(b"A: b\r\n"), 6);
    }

    #[test]
    fn decodes_encoded_words_and_unfolds() {
        let h =
            parse(b"Subject: =?UTF-8?B?w4lsw6hnYW50IHN1amV0?=\r\nMessage-ID: <a@b>\r\nX-Long: one\r\n two\r\n\r\nbody");
        assert_eq!(h.subject.as_deref(), Some("Élègant sujet"));
        assert_eq!(h.message_id.as_deref(), Some("<a@b>"));
        assert!(
            h.all.iter().any(|(n, v)| n == "X-Long" && v == "one two"),
            "{:?}",
            h.all
        );
    }

    #[test]
    fn garbage_never_panics() {
        for msg in [&b""[..], b"\xff\xfe", b":::\r\n\r\n", b"Subject: =?x?q?\x1b[31m?=\r\n"] {
            let _ = parse(msg);
        }
    }
}
