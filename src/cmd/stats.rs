//! `mqctl stats`: where the queue stands, for a person (table), a script
//! (JSON) or a monitoring system (Prometheus textfile format).

use std::io::Write;

use jiff::Timestamp;

use super::{Context, flush, stdout};
use crate::cli::{StatsArgs, StatsFormat};
use crate::error::Result;
use crate::exit::ExitCode;
use crate::output::{self, Table, escape, human_duration, human_size};
use crate::stats::{Stats, gather};

pub fn run(ctx: &Context, args: &StatsArgs) -> Result<ExitCode> {
    let queue = ctx.open_queue()?;
    let s = gather(&queue, ctx.now, args.stuck.stuck_after, args.top)?;
    let mut out = stdout();
    match args.format {
        StatsFormat::Json => {
            output::write_json_pretty(&mut out, &s)?;
        }
        StatsFormat::Prometheus => write_prometheus(&mut out, &s, ctx.now)?,
        StatsFormat::Table => write_table(&mut out, &s, ctx)?,
    }
    flush(&mut out)?;
    Ok(ExitCode::Success)
}

fn write_table(out: &mut dyn Write, s: &Stats, ctx: &Context) -> Result<()> {
    let color = ctx.color_stdout();
    let mut t = Table::new(&[("STATE", false, false), ("ENTRIES", false, true), ("", true, false)]);
    let row = |label: &str, n: u64, note: String| vec![label.to_string(), n.to_string(), note];
    t.push(
        row(
            "queue",
            s.states.queue,
            if s.unscheduled > 0 {
                format!(
                    "{} due, {} deferred, {} broken (no readable schedule)",
                    s.due, s.deferred, s.unscheduled
                )
            } else {
                format!("{} due, {} deferred", s.due, s.deferred)
            },
        ),
        None,
    );
    let stuck_note = if s.stuck > 0 {
        format!("{} stuck (writer gone?)", s.stuck)
    } else {
        String::new()
    };
    t.push(
        row("inflight", s.states.inflight, stuck_note),
        (s.stuck > 0).then_some("33"),
    );
    t.push(
        row(
            "cleanup",
            s.states.cleanup,
            "sent or dropped, files not yet removed".into(),
        ),
        None,
    );
    t.push(row("hold", s.states.hold, String::new()), None);
    if s.states.claimed > 0 {
        t.push(
            row(
                "claimed",
                s.states.claimed,
                "held by a running mqctl (or left by one: `mqctl recover`)".into(),
            ),
            None,
        );
    }
    t.push(
        row("total", s.total, format!("{} mails, {}", s.mails, human_size(s.bytes))),
        None,
    );
    t.write(out, output::terminal_width(), color)?;
    if s.broken > 0 {
        writeln!(out, "{} entries with problems: see `mqctl list --broken`", s.broken)?;
    }
    match s.writers.as_slice() {
        [] => writeln!(out, "writer: none has the queue open")?,
        ws => {
            let who: Vec<String> = ws
                .iter()
                .map(|w| format!("{} (pid {})", escape(&w.name), w.pid))
                .collect();
            writeln!(out, "writer: live: {}", who.join(", "))?;
        }
    }
    if let Some(o) = &s.oldest {
        writeln!(out, "oldest: {} ({} old)", o.id, human_duration(o.age))?;
    }
    if s.domains.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    let mut headers: Vec<&str> = vec!["DOMAIN", "TOTAL"];
    headers.extend(s.buckets.iter().map(String::as_str));
    let cols: Vec<(&str, bool, bool)> = headers.iter().enumerate().map(|(i, h)| (*h, i == 0, i > 0)).collect();
    let mut t = Table::new(&cols);
    let mut total = vec![0u64; s.buckets.len()];
    for d in &s.domains {
        let mut r = vec![escape(&d.domain).into_owned(), d.total.to_string()];
        for (i, n) in d.ages.iter().enumerate() {
            total[i] += n;
            r.push(n.to_string());
        }
        t.push(r, None);
    }
    let mut r = vec!["TOTAL".to_string(), total.iter().sum::<u64>().to_string()];
    r.extend(total.iter().map(|n| n.to_string()));
    t.push(r, Some("1"));
    t.write(out, output::terminal_width(), color)?;
    Ok(())
}

/// Prometheus label values escape backslash, double quote and newline;
/// control characters from the queue are escaped first, as everywhere.
fn label(s: &str) -> String {
    escape(s)
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn write_prometheus(out: &mut dyn Write, s: &Stats, now: Timestamp) -> Result<()> {
    let mut gauge = |name: &str, help: &str, samples: &[(String, u64)]| -> std::io::Result<()> {
        writeln!(out, "# HELP {name} {help}")?;
        writeln!(out, "# TYPE {name} gauge")?;
        for (labels, v) in samples {
            writeln!(out, "{name}{labels} {v}")?;
        }
        Ok(())
    };
    let st = |name: &str, n: u64| (format!("{{state=\"{name}\"}}"), n);
    gauge(
        "mqctl_entries",
        "Queue entries per state.",
        &[
            st("queue", s.states.queue),
            st("inflight", s.states.inflight),
            st("cleanup", s.states.cleanup),
            st("hold", s.states.hold),
            st("claimed", s.states.claimed),
        ],
    )?;
    gauge(
        "mqctl_due_entries",
        "Queued entries whose next attempt has come.",
        &[(String::new(), s.due)],
    )?;
    gauge(
        "mqctl_deferred_entries",
        "Queued entries waiting for a later attempt.",
        &[(String::new(), s.deferred)],
    )?;
    gauge(
        "mqctl_stuck_entries",
        "Inflight entries older than the stuck age.",
        &[(String::new(), s.stuck)],
    )?;
    gauge(
        "mqctl_broken_entries",
        "Entries with problems (see mqctl check).",
        &[(String::new(), s.broken)],
    )?;
    gauge(
        "mqctl_mails",
        "Distinct mails (data folders) referenced by entries.",
        &[(String::new(), s.mails)],
    )?;
    gauge(
        "mqctl_bytes",
        "Total size of those mails' contents.",
        &[(String::new(), s.bytes)],
    )?;
    gauge(
        "mqctl_oldest_entry_age_seconds",
        "Age of the oldest message still queued.",
        &[(String::new(), s.oldest.as_ref().map_or(0, |o| o.age.max(0) as u64))],
    )?;
    let domains: Vec<(String, u64)> = s
        .domains
        .iter()
        .map(|d| (format!("{{domain=\"{}\"}}", label(&escape(&d.domain))), d.total))
        .collect();
    gauge(
        "mqctl_domain_entries",
        "Queued, inflight and held entries per recipient domain.",
        &domains,
    )?;
    gauge(
        "mqctl_scan_timestamp_seconds",
        "When these figures were taken.",
        &[(String::new(), now.as_second().max(0) as u64)],
    )?;
    Ok(())
}
