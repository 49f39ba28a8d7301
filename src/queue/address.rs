//! Turning a typed address (`alice@example.org`, `"john doe"@example.org`,
//! `user@[192.0.2.1]`, `josé@exämple.org`) into the writer's address shape,
//! refusing anything the writer could not have written.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::model::{Address, Hostname, LocalpartKind};

/// `atext` of RFC 5322, the characters of an unquoted local part.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn localpart(s: &str) -> Result<(LocalpartKind, String), String> {
    if s.is_empty() {
        return Err("the local part (before @) is empty".into());
    }
    if s.len() > 64 {
        return Err("the local part is longer than 64 bytes".into());
    }
    let ascii = s.is_ascii();
    if let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next().ok_or("a quoted local part ends with a lone backslash")?;
                }
                '"' => return Err("an unescaped quote inside a quoted local part".into()),
                c if c.is_control() => return Err("a control character in the local part".into()),
                _ => {}
            }
        }
        let kind = if ascii {
            LocalpartKind::QuotedAscii
        } else {
            LocalpartKind::QuotedUtf8
        };
        return Ok((kind, s.to_string()));
    }
    if s.starts_with('.') || s.ends_with('.') || s.contains("..") {
        return Err("dots in a local part cannot lead, trail or repeat (quote it)".into());
    }
    if let Some(c) = s.chars().find(|&c| c != '.' && !is_atext(c)) {
        return Err(format!("{c:?} is not allowed in an unquoted local part (quote it)"));
    }
    Ok((
        if ascii {
            LocalpartKind::Ascii
        } else {
            LocalpartKind::Utf8
        },
        s.to_string(),
    ))
}

fn hostname(s: &str) -> Result<Hostname, String> {
    if let Some(lit) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        if let Some(v6) = lit.strip_prefix("IPv6:").or_else(|| lit.strip_prefix("ipv6:")) {
            let ip: Ipv6Addr = v6.parse().map_err(|_| format!("{v6:?} is not an IPv6 address"))?;
            return Ok(Hostname::Ipv6 {
                raw: s.to_string(),
                ip: ip.to_string(),
            });
        }
        let ip: Ipv4Addr = lit.parse().map_err(|_| format!("{lit:?} is not an IPv4 address"))?;
        return Ok(Hostname::Ipv4 {
            raw: s.to_string(),
            ip: ip.to_string(),
        });
    }
    if s.is_empty() || s.len() > 253 {
        return Err("the domain is empty or longer than 253 bytes".into());
    }
    if s.is_ascii() {
        for label in s.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                return Err(format!("{label:?} is not a valid domain label"));
            }
        }
        return Ok(Hostname::AsciiDomain { raw: s.to_string() });
    }
    let punycode = idna::domain_to_ascii_strict(s).map_err(|_| format!("{s:?} is not a valid international domain"))?;
    Ok(Hostname::Utf8Domain {
        raw: s.to_string(),
        punycode,
    })
}

/// Parses `local@domain` (the `@` that splits them is the last one, so a
/// quoted local part may hold `@`).
pub fn parse(s: &str) -> Result<Address, String> {
    let s = s.trim();
    let s = s.strip_prefix('<').and_then(|r| r.strip_suffix('>')).unwrap_or(s);
    let (local, domain) = s.rsplit_once('@').ok_or_else(|| format!("{s:?} has no @domain"))?;
    let (localpart_kind, localpart) = localpart(local).map_err(|e| format!("{s:?}: {e}"))?;
    let hostname = Some(hostname(domain).map_err(|e| format!("{s:?}: {e}"))?);
    Ok(Address {
        localpart,
        localpart_kind,
        hostname,
    })
}

/// Parses a sender: `<>` (or an empty string) is the null sender.
pub fn parse_sender(s: &str) -> Result<Option<Address>, String> {
    match s.trim() {
        "<>" | "" => Ok(None),
        s => parse(s).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_writer_variant_parses() {
        let a = parse("alice@example.org").unwrap();
        assert_eq!(
            (a.localpart_kind, a.to_string()),
            (LocalpartKind::Ascii, "alice@example.org".into())
        );
        let a = parse("\"john doe\"@example.org").unwrap();
        assert_eq!(a.localpart_kind, LocalpartKind::QuotedAscii);
        assert_eq!(a.localpart, "\"john doe\"");
        let a = parse("josé@exämple.org").unwrap();
        assert_eq!(a.localpart_kind, LocalpartKind::Utf8);
        assert_eq!(
            a.hostname,
            Some(Hostname::Utf8Domain {
                raw: "exämple.org".into(),
                punycode: "xn--exmple-cua.org".into()
            })
        );
        let a = parse("user@[192.0.2.1]").unwrap();
        assert_eq!(
            a.hostname,
            Some(Hostname::Ipv4 {
                raw: "[192.0.2.1]".into(),
                ip: "192.0.2.1".into()
            })
        );
        let a = parse("user@[IPv6:2001:db8::1]").unwrap();
        assert_eq!(
            a.hostname,
            Some(Hostname::Ipv6 {
                raw: "[IPv6:2001:db8::1]".into(),
                ip: "2001:db8::1".into()
            })
        );
        assert_eq!(parse_sender("<>").unwrap(), None);
    }

    #[test]
    fn invalid_addresses_are_refused() {
        for bad in [
            "",
            "nodomain",
            "a b@example.org",
            "a@",
            "@example.org",
            "a..b@x.org",
            "a@-x.org",
            "a@[300.1.1.1]",
            "a@x_y.org",
            "a\x1b@x.org",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
