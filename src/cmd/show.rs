//! `mqctl show`: one entry in full, or its message bytes.

use std::io::{self, IsTerminal, Read, Write};

use super::{Context, expand_ids, flush, stdout, time_style};
use crate::cli::ShowArgs;
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::output::{self, Field, View, escape, human_duration, show_time};
use crate::queue::{Entry, Queue, State, Want};
use crate::select::resolve_ids;
use unicode_width::UnicodeWidthStr;

pub fn run(ctx: &Context, args: &ShowArgs) -> Result<ExitCode> {
    let ids = expand_ids(&args.ids)?;
    let queue = ctx.open_queue()?;
    let resolved = resolve_ids(&queue, &ids, &State::ALL)?;
    let mut out = stdout();
    let mut entries = Vec::new();
    for (state, id) in &resolved.found {
        if let Some(mut e) = queue.read_one(*state, id.as_bytes(), Want::ALL) {
            queue.add_hold_note(&mut e);
            entries.push(e);
        }
    }
    let mut code = ExitCode::Success;
    for id in &resolved.missing {
        eprintln!("mqctl: no entry {} (moved away, or mistyped)", escape(id));
        code = ExitCode::SomeFailed;
    }
    if args.raw {
        for e in &entries {
            match write_raw(&queue, e, &mut out) {
                Ok(()) => {}
                Err(err @ Error::Output(_)) => return Err(err),
                Err(err) => {
                    eprintln!("mqctl: {}: {err}", e.id);
                    code = ExitCode::SomeFailed;
                }
            }
        }
    } else if args.json {
        let docs: Vec<serde_json::Value> = entries.iter().map(|e| json(e, ctx)).collect();
        output::write_json_pretty(&mut out, &docs)?;
    } else {
        let view = View {
            now: ctx.now,
            times: time_style(&args.time),
        };
        for (i, e) in entries.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            write_text(&mut out, e, &view, output::terminal_width())?;
        }
    }
    flush(&mut out)?;
    Ok(code)
}

/// One field a line, the values beside their labels; on a terminal too
/// narrow for a value it goes on over the next lines, under itself.
fn write_text(out: &mut dyn Write, e: &Entry, v: &View, width: Option<usize>) -> Result<()> {
    let when = |t: jiff::Timestamp| match v.times {
        output::TimeStyle::Relative => format!(
            "{} ({})",
            show_time(t, v.now, output::TimeStyle::Utc),
            output::relative(t, v.now)
        ),
        s => show_time(t, v.now, s),
    };
    // Wide enough for the longest label, "In state since", plus a space.
    const LABEL: usize = 15;
    let room = width.map(|w| w.saturating_sub(LABEL).max(8));
    let line = |out: &mut dyn Write, k: &str, val: &str| -> io::Result<()> {
        // An id or address wider than the room beside the label goes under
        // it, where it has the whole line, rather than broken in two.
        if room.is_some_and(|r| val.split_whitespace().any(|w| w.width() > r)) {
            writeln!(out, "{k}")?;
            return output::write_wrapped(out, &format!("  {val}"), width, 2);
        }
        for (i, part) in output::wrap(val, room).iter().enumerate() {
            let k = if i == 0 { k } else { "" };
            writeln!(out, "{k:<LABEL$}{part}")?;
        }
        Ok(())
    };
    line(out, "Entry", &e.id.to_string())?;
    line(out, "State", e.state.dir())?;
    if let Some(since) = e.since {
        line(out, "In state since", &when(since))?;
    }
    if let Some(n) = &e.hold {
        line(
            out,
            "Hold reason",
            &n.reason.as_deref().map_or("(none given)".into(), escape),
        )?;
        let by = n
            .user
            .as_deref()
            .map(|u| format!(" by {}", escape(u)))
            .unwrap_or_default();
        line(out, "Held since", &format!("{}{by}", when(n.since)))?;
        let until = match n.until {
            Some(u) if u <= v.now => format!("{} (ended: `mqctl release --expired` releases it)", when(u)),
            Some(u) => when(u),
            None => "until released".into(),
        };
        line(out, "Held until", &until)?;
    }
    if let Some(l) = e.link {
        line(out, "Mail", &l.mail.to_string())?;
        line(out, "Dest", &l.dest.to_string())?;
    }
    if let Some(en) = &e.envelope {
        line(out, "From", &escape(&en.from_display()))?;
        line(out, "To", &escape(&en.to.to_string()))?;
    }
    if let Some(s) = e.schedule {
        line(out, "Next attempt", &when(s.at))?;
        line(out, "Last attempt", &s.last_attempt.map_or("never".into(), when))?;
    }
    if let Some(c) = e.contents {
        line(
            out,
            "Size",
            &format!("{} ({} bytes)", output::human_size(c.size), c.size),
        )?;
        line(
            out,
            "Age",
            &format!(
                "{} (written {})",
                human_duration((v.now - c.written).get_seconds()),
                when(c.written)
            ),
        )?;
    }
    for p in &e.problems {
        line(out, "Problem", &format!("{p} [{}]", p.code()))?;
    }
    if let Some(h) = &e.headers {
        writeln!(out, "Headers:")?;
        for (name, value) in &h.all {
            output::write_wrapped(out, &format!("  {}: {}", escape(name), escape(value)), width, 4)?;
        }
    }
    Ok(())
}

fn json(e: &Entry, ctx: &Context) -> serde_json::Value {
    let mut buf = Vec::new();
    output::write_entry_json(&mut buf, e, &Field::ALL, ctx.now).expect("writing to memory");
    let mut v: serde_json::Value = serde_json::from_slice(&buf).expect("our own JSON");
    if let Some(map) = v.as_object_mut() {
        let headers: Vec<serde_json::Value> = e
            .headers
            .iter()
            .flat_map(|h| h.all.iter())
            .map(|(n, val)| serde_json::json!({"name": n, "value": val}))
            .collect();
        map.insert("headers".into(), headers.into());
        let problems: Vec<serde_json::Value> = e
            .problems
            .iter()
            .map(|p| serde_json::json!({"code": p.code(), "message": p.to_string()}))
            .collect();
        map.insert("problems".into(), problems.into());
        if let Some(n) = &e.hold {
            map.insert("hold".into(), serde_json::to_value(n).expect("plain data"));
        }
    }
    v
}

/// Streams the message. On a terminal, control characters are escaped so a
/// hostile message cannot drive the terminal; into a pipe the bytes are exact.
fn write_raw(queue: &Queue, e: &Entry, out: &mut dyn Write) -> Result<()> {
    let link = e
        .link
        .ok_or_else(|| Error::NotFound("the entry's link is not valid, so its message is not read".into()))?;
    let (mut file, _) = queue
        .data()
        .open_file(&format!("{}/contents", link.mail))
        .map_err(|err| Error::NotFound(format!("contents {err}")))?;
    let escape_out = io::stdout().is_terminal();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|err| Error::NotFound(format!("reading contents: {err}")))?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        let r = if escape_out {
            let text = String::from_utf8_lossy(chunk);
            let safe: String = text
                .split_inclusive('\n')
                .map(|l| {
                    let (body, nl) = l
                        .strip_suffix("\r\n")
                        .map(|b| (b, "\n"))
                        .or_else(|| l.strip_suffix('\n').map(|b| (b, "\n")))
                        .unwrap_or((l, ""));
                    format!("{}{nl}", output::escape(body))
                })
                .collect();
            out.write_all(safe.as_bytes())
        } else {
            out.write_all(chunk)
        };
        r?;
    }
    Ok(())
}
