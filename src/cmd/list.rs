//! `mqctl list`: the entries a selection names, as a table, JSON, JSON lines
//! or ids. JSON lines and ids stream in constant memory unless sorted.

use std::cmp::Ordering;
use std::io::Write;
use std::ops::ControlFlow;

use super::{Context, flush, selection, stdout, time_style};
use crate::cli::{ListArgs, ListFormat, SortKey};
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::output::{self, Field, Fitting, Layout, View};
use crate::queue::{Entry, Want};
use crate::select;

pub fn run(ctx: &Context, args: &ListArgs) -> Result<ExitCode> {
    let sel = selection(&args.select, ctx.now, args.stuck.stuck_after)?;
    let fields = fields(args)?;
    let queue = ctx.open_queue()?;

    if args.count && sel.ids.is_empty() && !sel.read_no_ids && !sel.needs_files() {
        // Only state folders to count: no file is opened.
        let n = queue.count_links(&sel.state_list())?;
        let mut out = stdout();
        writeln!(out, "{n}")?;
        return flush(&mut out).map(|_| ExitCode::Success);
    }

    let needs_headers = fields.iter().any(|f| f.needs_headers()) || matches!(args.sort, Some(SortKey::Subject));
    let want = if args.count || args.format == ListFormat::Ids && args.sort.is_none() {
        sel.want()
    } else {
        Want {
            link: true,
            files: true,
            headers: needs_headers || sel.needs_headers(),
        }
    };
    let sort = args.sort.or(human(args.format).then_some(SortKey::At));
    let mut out = stdout();

    if args.count {
        let mut n = 0u64;
        let missing = select::for_each(&queue, &sel, want, &mut |_| {
            n += 1;
            Ok(ControlFlow::Continue(()))
        })?;
        warn_missing(ctx, &missing);
        writeln!(out, "{n}")?;
        return flush(&mut out).map(|_| ExitCode::Success);
    }

    let limit = args.limit.unwrap_or(usize::MAX);
    let sep = if args.null { b'\0' } else { b'\n' };
    let format = args.format;
    match sort {
        None => {
            // Streaming: each entry is written as soon as it is read.
            let mut n = 0usize;
            if format == ListFormat::Json {
                out.write_all(b"[")?;
            }
            let missing = select::for_each(&queue, &sel, want, &mut |e| {
                if n >= limit {
                    return Ok(ControlFlow::Break(()));
                }
                write_one(&mut out, &e, format, &fields, ctx, sep, n)?;
                n += 1;
                Ok(if n >= limit {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })?;
            if format == ListFormat::Json {
                out.write_all(if n == 0 { b"]\n" } else { b"\n]\n" })?;
            }
            warn_missing(ctx, &missing);
        }
        Some(key) => {
            let mut entries = Vec::new();
            let missing = select::for_each(&queue, &sel, want, &mut |e| {
                entries.push(e);
                Ok(ControlFlow::Continue(()))
            })?;
            warn_missing(ctx, &missing);
            entries.sort_by(|a, b| compare(a, b, key));
            if args.reverse {
                entries.reverse();
            }
            entries.truncate(limit);
            if human(format) {
                write_table(ctx, &mut out, &entries, &fields, args)?;
            } else {
                if format == ListFormat::Json {
                    out.write_all(b"[")?;
                }
                for (i, e) in entries.iter().enumerate() {
                    write_one(&mut out, e, format, &fields, ctx, sep, i)?;
                }
                if format == ListFormat::Json {
                    out.write_all(if entries.is_empty() { b"]\n" } else { b"\n]\n" })?;
                }
            }
        }
    }
    flush(&mut out)?;
    Ok(ExitCode::Success)
}

fn fields(args: &ListArgs) -> Result<Vec<Field>> {
    if args.fields.is_empty() {
        return Ok(match args.format {
            ListFormat::Table | ListFormat::Records => {
                let mut fields = Field::TABLE.to_vec();
                // The order the user picked is shown.
                if let Some(f) = args.sort.map(sort_field)
                    && !fields.contains(&f)
                {
                    let next = fields
                        .iter()
                        .position(|&f| f == Field::At)
                        .map_or(fields.len(), |i| i + 1);
                    fields.insert(next, f);
                }
                fields
            }
            _ => Field::ALL.to_vec(),
        });
    }
    args.fields
        .iter()
        .map(|f| {
            Field::parse(f.trim()).ok_or_else(|| {
                let names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
                Error::Usage(format!("--fields: unknown field {f:?} (known: {})", names.join(",")))
            })
        })
        .collect()
}

fn write_one(
    out: &mut dyn Write,
    e: &Entry,
    format: ListFormat,
    fields: &[Field],
    ctx: &Context,
    sep: u8,
    index: usize,
) -> Result<()> {
    match format {
        ListFormat::Ids => {
            out.write_all(output::escape_bytes(e.id.as_bytes()).as_bytes())?;
            out.write_all(&[sep])?;
        }
        ListFormat::Jsonl => {
            output::write_entry_json(out, e, fields, ctx.now)?;
            out.write_all(b"\n")?;
        }
        ListFormat::Json => {
            out.write_all(if index == 0 { b"\n  " } else { b",\n  " })?;
            output::write_entry_json(out, e, fields, ctx.now)?;
        }
        ListFormat::Table | ListFormat::Records => unreachable!("tables are always collected"),
    }
    Ok(())
}

fn write_table(ctx: &Context, out: &mut dyn Write, entries: &[Entry], fields: &[Field], args: &ListArgs) -> Result<()> {
    let ids: Vec<&crate::queue::EntryId> = entries.iter().map(|e| &e.id).collect();
    let short = select::short_ids(&ids, 8);
    let view = View {
        now: ctx.now,
        times: time_style(&args.time),
    };
    // Only list's own choice of columns gives way on a narrow terminal:
    // the id and recipient stay, and the order the user picked.
    let give_way = |fs: &[Field]| -> Vec<Field> {
        let sorted = args.sort.map(sort_field);
        match args.fields.is_empty() {
            true => fs.iter().copied().filter(|&f| Some(f) != sorted).collect(),
            false => Vec::new(),
        }
    };
    // Held entries say why, when one was given (it gives way after the
    // subject).
    let mut fields = fields.to_vec();
    if args.fields.is_empty()
        && entries
            .iter()
            .any(|e| e.hold.as_ref().is_some_and(|n| n.reason.is_some()))
    {
        let after = fields
            .iter()
            .position(|&f| f == Field::To)
            .map_or(fields.len(), |i| i + 1);
        fields.insert(after, Field::HoldReason);
    }
    let fields = &fields[..];
    let fit = Fitting {
        if_room: give_way(&[Field::State, Field::At]),
        if_readable: give_way(&[Field::Subject, Field::HoldReason, Field::From, Field::Age, Field::Size]),
        whole_problems: args.select.broken || fields.contains(&Field::Problem),
    };
    let layout = match args.format {
        ListFormat::Records => Layout::Records,
        _ => Layout::Fit,
    };
    let width = output::terminal_width();
    let table = output::entry_table(entries, fields, &view, Some(&short), &fit);
    table.write(out, width, ctx.color_stdout(), layout)?;
    if !ctx.quiet {
        let mut mails = std::collections::HashSet::new();
        let bytes: u64 = entries
            .iter()
            .filter(|e| e.link.is_some_and(|l| mails.insert(l.mail)))
            .filter_map(|e| e.contents.map(|c| c.size))
            .sum();
        let broken = entries.iter().filter(|e| e.is_broken()).count();
        let plural = if entries.len() == 1 { "entry" } else { "entries" };
        let mail_s = if mails.len() == 1 { "mail" } else { "mails" };
        let mut line = format!(
            "-- {} {plural}, {} in {} {mail_s}",
            entries.len(),
            output::human_size(bytes),
            mails.len()
        );
        if broken > 0 {
            line.push_str(&format!(", {broken} with problems"));
        }
        output::write_wrapped(out, &line, width, 3)?;
    }
    Ok(())
}

/// Table and records: for a person, sorted, fitted to the terminal.
fn human(format: ListFormat) -> bool {
    matches!(format, ListFormat::Table | ListFormat::Records)
}

/// The field a sort key orders by.
fn sort_field(key: SortKey) -> Field {
    match key {
        SortKey::Id => Field::Id,
        SortKey::State => Field::State,
        SortKey::At => Field::At,
        SortKey::LastAttempt => Field::LastAttempt,
        SortKey::Size => Field::Size,
        SortKey::Age => Field::Age,
        SortKey::From => Field::From,
        SortKey::To => Field::To,
        SortKey::Subject => Field::Subject,
    }
}

fn warn_missing(ctx: &Context, missing: &[String]) {
    for id in missing {
        ctx.warn(format_args!(
            "no entry {} (moved away, or mistyped)",
            output::escape(id)
        ));
    }
}

/// Orders entries by a key; entries missing the key sort last, then by id.
fn compare(a: &Entry, b: &Entry, key: SortKey) -> Ordering {
    fn opt<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    let from = |e: &Entry| e.envelope.as_ref().map(|en| en.from_display().to_lowercase());
    let to = |e: &Entry| e.envelope.as_ref().map(|en| en.to.to_string().to_lowercase());
    let primary = match key {
        SortKey::Id => Ordering::Equal,
        SortKey::State => a.state.cmp(&b.state),
        SortKey::At => opt(a.schedule.map(|s| s.at), b.schedule.map(|s| s.at)),
        SortKey::LastAttempt => opt(
            a.schedule.and_then(|s| s.last_attempt),
            b.schedule.and_then(|s| s.last_attempt),
        ),
        SortKey::Size => opt(a.contents.map(|c| c.size), b.contents.map(|c| c.size)),
        // Oldest first: the earliest written.
        SortKey::Age => opt(a.contents.map(|c| c.written), b.contents.map(|c| c.written)),
        SortKey::From => opt(from(a), from(b)),
        SortKey::To => opt(to(a), to(b)),
        SortKey::Subject => opt(a.subject(), b.subject()),
    };
    primary
        .then_with(|| a.id.cmp(&b.id))
        .then_with(|| a.state.cmp(&b.state))
}
