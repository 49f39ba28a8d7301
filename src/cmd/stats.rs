//! `mqctl stats`: where the queue stands, for a person (table), a script
//! (JSON) or a monitoring system (Prometheus textfile format).

use std::io::Write;

use jiff::Timestamp;

use super::{Context, flush, stdout};
use crate::cli::{StatsArgs, StatsFormat};
use crate::error::Result;
use crate::exit::ExitCode;
use crate::output::{self, Column, GAP, Layout, Table, Tone, escape, human_duration, human_size};
use crate::stats::{Stats, gather, merged_age};
use unicode_width::UnicodeWidthStr;

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
    let width = output::terminal_width();
    write_states(out, s, width, color)?;
    if s.broken > 0 {
        let line = format!("{} entries with problems: see `mqctl list --broken`", s.broken);
        output::write_wrapped(out, &line, width, 2)?;
    }
    let writer = match s.writers.as_slice() {
        [] => "writer: none has the queue open".to_string(),
        ws => {
            let who: Vec<String> = ws
                .iter()
                .map(|w| format!("{} (pid {})", escape(&w.name), w.pid))
                .collect();
            format!("writer: live: {}", who.join(", "))
        }
    };
    output::write_wrapped(out, &writer, width, 2)?;
    if let Some(o) = &s.oldest {
        let line = format!("oldest: {} ({} old)", o.id, human_duration(o.age));
        output::write_wrapped(out, &line, width, 2)?;
    }
    if !s.holds.is_empty() {
        writeln!(out)?;
        write_holds(out, s, ctx.now, width, color)?;
    }
    if s.domains.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    write_domains(out, s, width, color)?;
    Ok(())
}

/// Held entries by the reason they were held for, and when those holds end.
fn write_holds(
    out: &mut dyn Write,
    s: &Stats,
    now: Timestamp,
    width: Option<usize>,
    color: bool,
) -> std::io::Result<()> {
    let mut t = Table::new(vec![
        Column::cut("HELD FOR", 8, 20),
        Column::number("ENTRIES"),
        Column::cut("ENDS", 6, 12),
    ]);
    for g in &s.holds {
        let next = g.next_end.map(|t| format!("next {}", output::relative(t, now)));
        let ends = match (g.expired, next) {
            (0, None) => "no end".to_string(),
            (0, Some(n)) => n,
            (e, None) => format!("{e} ended"),
            (e, Some(n)) => format!("{e} ended, {n}"),
        };
        let reason = g.reason.as_deref().map_or("(no reason given)".into(), escape);
        let tone = if g.expired > 0 { Tone::Warn } else { Tone::Plain };
        t.push(vec![reason.into_owned(), g.entries.to_string(), ends], tone);
    }
    t.write(out, width, color, Layout::Fit)?;
    let expired: u64 = s.holds.iter().map(|g| g.expired).sum();
    if expired > 0 {
        let line = format!("{expired} holds have ended: `mqctl release --expired` releases them");
        output::write_wrapped(out, &line, width, 2)?;
    }
    Ok(())
}

/// Entries per state, and what the queued ones are (due, deferred, and
/// broken ones without a readable schedule: the three add up), a note
/// beside the counts that need one, in its longest form that fits.
fn write_states(out: &mut dyn Write, s: &Stats, width: Option<usize>, color: bool) -> std::io::Result<()> {
    let mails = format!(
        "{} {}, {}",
        s.mails,
        if s.mails == 1 { "mail" } else { "mails" },
        human_size(s.bytes)
    );
    let mut rows: Vec<(&str, u64, Vec<&str>, Tone)> = vec![
        ("queue", s.states.queue, vec![], Tone::Plain),
        ("  due", s.due, vec![], Tone::Plain),
        ("  deferred", s.deferred, vec![], Tone::Plain),
    ];
    if s.unscheduled > 0 {
        let notes = vec!["no readable schedule", "no schedule"];
        rows.push(("  broken", s.unscheduled, notes, Tone::Bad));
    }
    rows.push(("inflight", s.states.inflight, vec![], Tone::Plain));
    if s.stuck > 0 {
        rows.push(("  stuck", s.stuck, vec!["writer gone?"], Tone::Warn));
    }
    let cleanup = vec!["sent or dropped, files not yet removed", "sent or dropped"];
    rows.push(("cleanup", s.states.cleanup, cleanup, Tone::Plain));
    rows.push(("hold", s.states.hold, vec![], Tone::Plain));
    if s.states.claimed > 0 {
        let notes = vec![
            "held by a running mqctl (or left by one: `mqctl recover`)",
            "see `mqctl recover`",
        ];
        rows.push(("claimed", s.states.claimed, notes, Tone::Plain));
    }
    rows.push(("total", s.total, vec![&mails], Tone::Plain));

    let label_w = rows.iter().map(|r| r.0.len()).chain(["STATE".len()]).max().unwrap_or(0);
    let count_w = rows
        .iter()
        .map(|r| r.1.to_string().len())
        .chain(["ENTRIES".len()])
        .max()
        .unwrap_or(0);
    let room = width.map(|w| w.saturating_sub(label_w + count_w + 2 * GAP));
    let mut t = Table::new(vec![
        Column::whole("STATE"),
        Column::number("ENTRIES"),
        Column::cut("", 8, 8),
    ]);
    for (label, n, notes, tone) in rows {
        let note = notes
            .iter()
            .find(|n| room.is_none_or(|r| n.width() <= r))
            .or(notes.last())
            .map_or(String::new(), |n| n.to_string());
        t.push(vec![label.to_string(), n.to_string(), note], tone);
    }
    t.write(out, width, color, Layout::Fit)
}

/// Destination domain × message age, like qshape: the numbers whole and
/// right-aligned, the domains readable (up to 20 columns before an age
/// column is given up), the age columns that do not fit summed into the
/// last one shown (`40m+`).
fn write_domains(out: &mut dyn Write, s: &Stats, width: Option<usize>, color: bool) -> std::io::Result<()> {
    let n = s.buckets.len();
    let mut sums = vec![0u64; n];
    for d in &s.domains {
        for (sum, a) in sums.iter_mut().zip(&d.ages) {
            *sum += a;
        }
    }
    let grand: u64 = sums.iter().sum();
    let names: Vec<String> = s.domains.iter().map(|d| escape(&d.domain).into_owned()).collect();
    let digits = |v: u64| v.to_string().len();
    let col_w = |i: usize, cols: usize| -> usize {
        let widest = s
            .domains
            .iter()
            .map(|d| digits(merged_age(&d.ages, i, cols)))
            .chain([digits(merged_age(&sums, i, cols))])
            .max()
            .unwrap_or(1);
        s.bucket_label(i, cols).len().max(widest)
    };
    let dom_w = names
        .iter()
        .map(|d| d.width())
        .chain(["DOMAIN".len()])
        .max()
        .unwrap_or(0);
    let fixed = dom_w.min(DOMAIN_READABLE) + GAP + digits(grand).max("TOTAL".len());
    let mut cols = n;
    if let Some(w) = width {
        while cols > 0 && fixed + (0..cols).map(|i| GAP + col_w(i, cols)).sum::<usize>() > w {
            cols -= 1;
        }
    }
    let mut columns = vec![
        Column::cut("DOMAIN", DOMAIN_READABLE, DOMAIN_READABLE),
        Column::number("TOTAL"),
    ];
    columns.extend((0..cols).map(|i| Column::number(&s.bucket_label(i, cols))));
    let mut t = Table::new(columns);
    let row = |name: String, total: u64, ages: &[u64]| -> Vec<String> {
        let mut r = vec![name, total.to_string()];
        r.extend((0..cols).map(|i| merged_age(ages, i, cols).to_string()));
        r
    };
    for (d, name) in s.domains.iter().zip(names) {
        t.push(row(name, d.total, &d.ages), Tone::Plain);
    }
    t.push(row("TOTAL".into(), grand, &sums), Tone::Strong);
    t.write(out, width, color, Layout::Fit)
}

/// Columns a domain keeps before an age column is given up.
const DOMAIN_READABLE: usize = 20;

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
        "mqctl_expired_hold_entries",
        "Held entries whose hold has ended (hold --until) but are not released yet.",
        &[(String::new(), s.holds.iter().map(|g| g.expired).sum())],
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
        "mqctl_writer_live",
        "1 when a process other than mqctl has the queue open (a live writer), else 0.",
        &[(String::new(), u64::from(!s.writers.is_empty()))],
    )?;
    gauge(
        "mqctl_scan_timestamp_seconds",
        "When these figures were taken.",
        &[(String::new(), now.as_second().max(0) as u64)],
    )?;
    Ok(())
}
