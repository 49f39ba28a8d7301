//! `mqctl stats`: where the queue stands, for a person (table), a script
//! (JSON) or a monitoring system (Prometheus textfile format).

use std::collections::HashMap;
use std::io::Write;
use std::ops::ControlFlow;

use jiff::Timestamp;
use serde::Serialize;

use super::{Context, flush, stdout};
use crate::cli::{StatsArgs, StatsFormat};
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::output::{self, Table, escape, human_duration, human_size};
use crate::queue::{MailId, State, Want};
use crate::select::{self, Selection};
use crate::timespec;

/// Age buckets in minutes, as qshape draws them (each twice the last).
const BUCKETS: [i64; 10] = [5, 10, 20, 40, 80, 160, 320, 640, 1280, i64::MAX];

fn bucket_label(i: usize) -> String {
    match i {
        0 => "0-5m".to_string(),
        i if i + 1 == BUCKETS.len() => format!("{}m+", BUCKETS[i - 1]),
        i => format!("{}-{}m", BUCKETS[i - 1], BUCKETS[i]),
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub total: u64,
    pub states: StateCounts,
    /// Queued entries whose next attempt has come.
    pub due: u64,
    /// Queued entries waiting for a later attempt.
    pub deferred: u64,
    /// Inflight entries older than the stuck age (their writer likely died).
    pub stuck: u64,
    pub broken: u64,
    pub mails: u64,
    pub bytes: u64,
    pub oldest: Option<Oldest>,
    pub buckets: Vec<String>,
    pub domains: Vec<DomainRow>,
    /// Processes that have the queue open (a live writer), best effort.
    pub writers: Vec<WriterInfo>,
}

#[derive(Debug, Serialize)]
pub struct WriterInfo {
    pub pid: u32,
    pub name: String,
}

#[derive(Debug, Default, Serialize)]
pub struct StateCounts {
    pub queue: u64,
    pub inflight: u64,
    pub cleanup: u64,
    pub hold: u64,
}

#[derive(Debug, Serialize)]
pub struct Oldest {
    pub id: String,
    pub age: i64,
    pub written: String,
}

#[derive(Debug, Serialize, Clone)]
pub struct DomainRow {
    pub domain: String,
    pub total: u64,
    /// Entries per age bucket (same order as `buckets`).
    pub ages: Vec<u64>,
}

/// Gathers the statistics in one parallel scan.
pub fn gather(
    queue: &crate::queue::Queue,
    now: Timestamp,
    stuck_after: jiff::SignedDuration,
    top: usize,
) -> Result<Stats> {
    let mut s = Stats {
        buckets: (0..BUCKETS.len()).map(bucket_label).collect(),
        ..Stats::default()
    };
    let mut domains: HashMap<String, Vec<u64>> = HashMap::new();
    let mut mails: HashMap<MailId, u64> = HashMap::new();
    let mut oldest: Option<(Timestamp, String)> = None;
    let sel = Selection {
        now: Some(now),
        ..Selection::default()
    };
    select::for_each(queue, &sel, Want::FILES, &mut |e| {
        s.total += 1;
        match e.state {
            State::Queued => s.states.queue += 1,
            State::Inflight => s.states.inflight += 1,
            State::Cleanup => s.states.cleanup += 1,
            State::Held => s.states.hold += 1,
        }
        if e.is_broken() {
            s.broken += 1;
        }
        if e.state == State::Queued {
            match e.is_due(now) {
                Some(true) => s.due += 1,
                Some(false) => s.deferred += 1,
                None => {}
            }
        }
        if e.state == State::Inflight && e.since.is_some_and(|t| now.duration_since(t) > stuck_after) {
            s.stuck += 1;
        }
        if let (Some(l), Some(c)) = (e.link, e.contents) {
            mails.insert(l.mail, c.size);
        }
        // Cleanup entries are already sent or dropped: they are not part of
        // the queue's shape.
        if e.state != State::Cleanup
            && let Some(c) = e.contents
        {
            if oldest.as_ref().is_none_or(|(t, _)| c.written < *t) {
                oldest = Some((c.written, e.id.to_string()));
            }
            let minutes = now.duration_since(c.written).as_secs() / 60;
            let b = BUCKETS.iter().position(|&m| minutes < m).unwrap_or(BUCKETS.len() - 1);
            let domain = e
                .envelope
                .as_ref()
                .map_or("(unknown)".to_string(), |en| en.to.domain().to_lowercase());
            domains.entry(domain).or_insert_with(|| vec![0; BUCKETS.len()])[b] += 1;
        }
        Ok(ControlFlow::Continue(()))
    })?;
    s.mails = mails.len() as u64;
    s.bytes = mails.values().sum();
    s.oldest = oldest.map(|(t, id)| Oldest {
        id,
        age: now.duration_since(t).as_secs(),
        written: crate::queue::parse::format_timestamp(t),
    });
    let mut rows: Vec<DomainRow> = domains
        .into_iter()
        .map(|(domain, ages)| DomainRow {
            domain,
            total: ages.iter().sum(),
            ages,
        })
        .collect();
    rows.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.domain.cmp(&b.domain)));
    if rows.len() > top {
        let rest = rows.split_off(top);
        let mut other = DomainRow {
            domain: format!("(other {} domains)", rest.len()),
            total: 0,
            ages: vec![0; BUCKETS.len()],
        };
        for r in rest {
            other.total += r.total;
            for (o, a) in other.ages.iter_mut().zip(r.ages) {
                *o += a;
            }
        }
        rows.push(other);
    }
    s.domains = rows;
    s.writers = crate::queue::live::writers(queue.path())
        .into_iter()
        .map(|w| WriterInfo {
            pid: w.pid,
            name: w.name,
        })
        .collect();
    Ok(s)
}

pub fn run(ctx: &Context, args: &StatsArgs) -> Result<ExitCode> {
    let stuck_after = timespec::duration(&args.stuck_after).map_err(|e| Error::Usage(format!("--stuck-after: {e}")))?;
    let queue = ctx.open_queue()?;
    let s = gather(&queue, ctx.now, stuck_after, args.top)?;
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
            format!("{} due, {} deferred", s.due, s.deferred),
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
