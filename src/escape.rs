//! Escaping text from the queue before it reaches a terminal or a message:
//! a leaf module, so the queue library can name entries in its errors
//! without depending on the output layer.

use std::borrow::Cow;

/// True for characters that must never reach a terminal raw: C0/C1 controls,
/// DEL, and the bidirectional overrides that can make text read backwards.
pub(crate) fn needs_escape(c: char) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_invalid_utf8_and_bidi() {
        assert_eq!(escape("plain é"), "plain é");
        assert_eq!(escape("a\x1b[31mb"), "a\\x1b[31mb");
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(escape_bytes(b"a\xffb\n"), "a\\xffb\\n");
        assert_eq!(escape("\u{9b}"), "\\x9b");
    }
}
