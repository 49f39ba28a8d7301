//! Message headers, read only when a command asks for them: the first bytes
//! of `contents`, up to the blank line that ends the header block.

use mail_parser::MessageParser;

use super::model::Headers;

/// How much of a message we read to find its headers. Headers larger than this
/// are cut (and the fields past the cut are not shown).
pub const HEADER_READ_LIMIT: usize = 64 * 1024;

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
pub fn parse(msg: &[u8]) -> Headers {
    let block = &msg[..header_block_len(msg)];
    let mut out = Headers::default();
    let Some(parsed) = MessageParser::default().parse_headers(block) else {
        return out;
    };
    for h in parsed.headers() {
        let name = h.name.as_str().to_string();
        let raw = block
            .get(h.offset_start as usize..h.offset_end as usize)
            .map(unfold)
            .unwrap_or_default();
        // Decoded text where the header carries encoded words; the raw
        // (unfolded) value otherwise, so Message-ID keeps its brackets.
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

/// Joins folded lines and trims, keeping invalid UTF-8 visible as U+FFFD.
fn unfold(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
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
