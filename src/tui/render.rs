//! Drawing: a pure function of the state. Only the rows on screen are
//! turned into text, so a million entries cost no more than twenty.
//!
//! Every view and dialog fits the screen it is drawn on, from a 40×12
//! phone terminal up: what does not fit is shortened (a compact time, an
//! address cut with `…`), wrapped (dialogs, help, the result line) or left
//! out whole (a column, a key hint); a count is never cut, no table row
//! wraps and no dialog hides its keys.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Cell, Clear, Gauge, Paragraph, Row as TRow, Sparkline, Table};

use super::app::{App, Column, InputKind, Mode, Verb, View, age_secs};
use super::fit::{self, first_fitting, flow, wrap, wrap_at_most};
use super::keys::{help_lines, hints};
use super::row::{NO_TIME, Row};
use crate::output::{escape, human_duration, human_size, truncate};
use crate::queue::State;
use crate::stats::Stats;

/// Colors when allowed; without them, only bold and reverse video, so the
/// screen stays usable under `NO_COLOR`.
struct Theme {
    color: bool,
}

impl Theme {
    fn fg(&self, c: Color) -> Style {
        if self.color { Style::new().fg(c) } else { Style::new() }
    }
    fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }
    fn selected(&self) -> Style {
        if self.color {
            Style::new()
                .bg(Color::Blue)
                .fg(Color::White)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }
    fn marked(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    fn warn(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    fn state(&self, r: &Row, stuck: bool) -> Style {
        if r.broken || stuck {
            return self.warn();
        }
        match r.state {
            State::Queued => Style::new(),
            State::Inflight => self.fg(Color::Yellow),
            State::Cleanup | State::Claimed | State::ClaimedHeld => self.dim(),
            State::Held => self.fg(Color::Magenta),
        }
    }
}

/// The header lines, the body and the status lines of a screen of `full`.
struct Screen {
    header: Vec<Line<'static>>,
    status: Vec<Line<'static>>,
    head: Rect,
    body: Rect,
    foot: Rect,
}

fn screen(app: &App, theme: &Theme, full: Rect) -> Screen {
    let w = full.width as usize;
    let header = header_lines(app, theme, w);
    let status = status_lines(app, theme, w);
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(header.len() as u16),
        Constraint::Min(0),
        Constraint::Length(status.len() as u16),
    ])
    .areas(full);
    Screen {
        header,
        status,
        head,
        body,
        foot,
    }
}

fn app_area(app: &App) -> Rect {
    Rect::new(0, 0, app.size.0, app.size.1)
}

/// Rows the table shows on `app`'s screen (the body less the column titles).
pub fn table_rows(app: &App) -> usize {
    let s = screen(app, &Theme { color: app.color }, app_area(app));
    (s.body.height as usize).saturating_sub(1).max(1)
}

/// How far the summary's domain list can scroll on `app`'s screen.
pub fn summary_max_scroll(app: &App) -> u16 {
    let Some(stats) = &app.stats else { return 0 };
    let s = screen(app, &Theme { color: app.color }, app_area(app));
    let domains = summary_layout(app, stats, s.body).domains;
    let shown = (domains.height as usize).saturating_sub(2);
    stats.domains.len().saturating_sub(shown) as u16
}

pub fn render(app: &App, f: &mut Frame) {
    let theme = Theme { color: app.color };
    let s = screen(app, &theme, f.area());
    f.render_widget(Paragraph::new(s.header), s.head);
    match app.view {
        View::Table => table(app, &theme, f, s.body),
        View::Detail => detail(app, &theme, f, s.body),
        View::Summary => summary(app, &theme, f, s.body),
    }
    f.render_widget(Paragraph::new(s.status), s.foot);
    match &app.mode {
        Mode::Help { scroll } => help(&theme, f, *scroll),
        Mode::Confirm { verb, count, reason } => confirm(&theme, f, s.head.height, *verb, *count, reason.as_deref()),
        Mode::Running {
            verb,
            done,
            total,
            cancelling,
        } => running(&theme, f, s.head.height, *verb, *done, *total, *cancelling),
        _ => {}
    }
}

fn spans_width(spans: &[Span]) -> usize {
    spans.iter().map(|s| fit::width(&s.content)).sum()
}

/// `s` cut at its start (`…/spool/q`), to `width` columns.
fn truncate_start(s: &str, width: usize) -> String {
    if fit::width(s) <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let rev: String = s.chars().rev().collect();
    let cut: String = truncate(&rev, width).chars().rev().collect();
    cut
}

// ---------------------------------------------------------------- header

/// Narrower than this, the header leaves out the queue's path and its
/// writer and time join the counts: a phone's twelve lines are precious.
const NARROW: usize = 60;

fn header_lines(app: &App, theme: &Theme, w: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut items = count_items(app, theme);
    if w >= NARROW {
        lines.push(title_line(app, theme, w));
    } else {
        items.push(vec![match &app.writer {
            Some(n) => Span::styled(
                truncate(&format!("writer: {}", escape(n)), w).into_owned(),
                theme.warn(),
            ),
            None => Span::raw("no writer"),
        }]);
        match (app.loading, app.last_refresh) {
            (Some(_), _) => items.push(vec![Span::styled(
                format!("reading… {}", app.counts.total()),
                theme.dim(),
            )]),
            // The time of the last read, unless it needs a line of its own.
            (None, Some(t)) => {
                let lines = flow_items(items.clone(), w).len();
                items.push(vec![Span::styled(t.strftime("%H:%M:%SZ").to_string(), theme.dim())]);
                if flow_items(items.clone(), w).len() > lines {
                    items.pop();
                }
            }
            (None, None) => {}
        }
    }
    lines.extend(flow_items(items, w));
    lines.extend(flow_items(rate_items(app, theme, w), w));
    lines.push(filter_line(app, theme, w));
    lines
}

/// Is it draining? Per minute over the last minute and the last ten:
/// arrivals, sends started, deliveries, requeues (from the watch's events).
/// On a filesystem without events, why the numbers are not there.
fn rate_items(app: &App, theme: &Theme, w: usize) -> Vec<Vec<Span<'static>>> {
    if let Some(why) = &app.live.polling {
        // On a phone, the filesystem only ("NFS").
        let text = if w < NARROW {
            format!("no live events ({})", escape(why.split(':').next().unwrap_or("")))
        } else {
            format!("no live events: {}", escape(why))
        };
        return vec![vec![Span::styled(truncate(&text, w).into_owned(), theme.warn())]];
    }
    if !app.live.watching {
        return Vec::new();
    }
    let r = &app.live.rates;
    let per = |x: f64| {
        if x >= 10.0 || x == 0.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        }
    };
    // A phone gets the last minute only, on one line.
    if w < NARROW {
        let n: Vec<String> = r.last_minute.iter().map(|&x| per(x)).collect();
        return vec![vec![
            Span::styled("in/sent/done/back /min ", theme.dim()),
            Span::raw(n.join("/")),
        ]];
    }
    let mut items = vec![vec![Span::styled("per min, 1m/10m:", theme.dim())]];
    for (k, label) in ["in", "sent", "done", "back"].into_iter().enumerate() {
        items.push(vec![
            Span::styled(label, theme.dim()),
            Span::raw(format!(" {}/{}", per(r.last_minute[k]), per(r.last_ten[k]))),
        ]);
    }
    items
}

/// `mqctl PATH  writer  read TIME`: the path gives way first, then the
/// long forms of the rest; a count being read is never cut.
fn title_line(app: &App, theme: &Theme, w: usize) -> Line<'static> {
    let (writer, writer_style) = match &app.writer {
        Some(n) => {
            let n = escape(n);
            ([format!("writer live: {n}"), format!("writer: {n}")], theme.warn())
        }
        None => (["no writer running".to_string(), "no writer".to_string()], Style::new()),
    };
    let refreshed: Vec<String> = match (app.loading, app.last_refresh) {
        (Some(_), _) => {
            let n = app.counts.total();
            vec![format!("reading… {n} entries so far"), format!("reading… {n}")]
        }
        (None, Some(t)) => {
            let t = t.strftime("%H:%M:%SZ").to_string();
            vec![format!("read {t}"), t]
        }
        (None, None) => Vec::new(),
    };
    let path = escape(&app.queue_path).into_owned();
    let path_want = fit::width(&path).min(12);
    let last_r = refreshed.len().saturating_sub(1);
    let combos = [(0, Some(0)), (1, Some(0)), (1, Some(last_r)), (1, None)];
    let mut pick = combos[combos.len() - 1];
    for c in combos {
        let r = c.1.and_then(|i| refreshed.get(i));
        let fixed = 6 + 2 + fit::width(&writer[c.0]) + r.map_or(0, |r| 2 + fit::width(r));
        if fixed + path_want <= w {
            pick = c;
            break;
        }
    }
    let r = pick.1.and_then(|i| refreshed.get(i)).cloned();
    let fixed = 6 + 2 + fit::width(&writer[pick.0]) + r.as_ref().map_or(0, |r| 2 + fit::width(r));
    let mut spans = vec![Span::styled("mqctl ", theme.title())];
    let room = w.saturating_sub(fixed);
    if room >= 4 {
        spans.push(Span::raw(truncate_start(&path, room)));
        spans.push(Span::raw("  "));
    }
    let left = w.saturating_sub(spans_width(&spans) + r.as_ref().map_or(0, |r| 2 + fit::width(r)));
    spans.push(Span::styled(truncate(&writer[pick.0], left).into_owned(), writer_style));
    if let Some(r) = r {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(r, theme.dim()));
    }
    Line::from(spans)
}

/// The whole queue's counts, each `label N`.
fn count_items(app: &App, theme: &Theme) -> Vec<Vec<Span<'static>>> {
    let c = &app.counts;
    let mut items = vec![
        ("queue", c.queue, Style::new().add_modifier(Modifier::BOLD)),
        ("due", c.due, Style::new()),
        ("deferred", c.deferred, Style::new()),
        ("inflight", c.inflight, theme.fg(Color::Yellow)),
        ("cleanup", c.cleanup, Style::new()),
        ("hold", c.hold, theme.fg(Color::Magenta)),
    ];
    // Warnings, shown when there is something to warn about (the summary
    // always shows them).
    if c.stuck > 0 {
        items.insert(4, ("stuck", c.stuck, theme.warn()));
    }
    if c.broken > 0 {
        items.push(("broken", c.broken, theme.warn()));
    }
    items
        .into_iter()
        .map(|(label, n, style)| {
            vec![
                Span::styled(label, theme.dim()),
                Span::styled(format!(" {n}"), if n > 0 { style } else { Style::new() }),
            ]
        })
        .collect()
}

/// Items, each kept whole, on as many lines as they need (one, unless the
/// terminal is narrow), two spaces apart or one if that saves a line.
fn flow_items(items: Vec<Vec<Span<'static>>>, w: usize) -> Vec<Line<'static>> {
    let widths: Vec<usize> = items.iter().map(|i| spans_width(i)).collect();
    let (mut lines, mut sep) = (flow(&widths, w, 2), 2);
    // One space apart when that saves a line of the screen.
    let tight = flow(&widths, w, 1);
    if tight.len() < lines.len() {
        (lines, sep) = (tight, 1);
    }
    lines
        .into_iter()
        .map(|idx| {
            let mut spans = Vec::new();
            for (k, i) in idx.into_iter().enumerate() {
                if k > 0 {
                    spans.push(Span::raw(" ".repeat(sep)));
                }
                spans.extend(items[i].iter().cloned());
            }
            Line::from(spans)
        })
        .collect()
}

/// The filter, how many rows it shows and are marked, and the sort (which
/// goes first: the sorted column's title shows it too).
fn filter_line(app: &App, theme: &Theme, w: usize) -> Line<'static> {
    let mut counts = vec![Span::raw(format!("  {} shown", app.rows.len()))];
    if !app.marks.is_empty() {
        counts.push(Span::styled(format!("  {} marked", app.marks.len()), theme.marked()));
    }
    let dir = if app.descending { "▼" } else { "▲" };
    let sort = Span::styled(format!("  sort {} {dir}", app.sort.title()), theme.dim());
    let escaped = escape(&app.filter).into_owned();
    let filter_want = if app.filter.is_empty() {
        fit::width("no filter")
    } else {
        fit::width(&escaped).min(12) + 8
    };
    let fixed = spans_width(&counts);
    let with_sort = fixed + fit::width(&sort.content) + filter_want <= w;
    let room = w.saturating_sub(fixed + if with_sort { fit::width(&sort.content) } else { 0 });
    let filter = if app.filter.is_empty() {
        Span::styled(
            first_fitting(&["no filter (/ to filter)", "no filter"], room),
            theme.dim(),
        )
    } else {
        // Said as "filter: …" when there is room; the flags alone, whole,
        // rather than cut.
        let text = format!("filter: {escaped}");
        let text = if fit::width(&text) <= room {
            text
        } else if fit::width(&escaped) <= room || room <= 16 {
            truncate(&escaped, room).into_owned()
        } else {
            truncate(&text, room).into_owned()
        };
        Span::styled(text, theme.marked())
    };
    let mut spans = vec![filter];
    spans.extend(counts);
    if with_sort {
        spans.push(sort);
    }
    Line::from(spans)
}

// ---------------------------------------------------------------- status

fn status_lines(app: &App, theme: &Theme, w: usize) -> Vec<Line<'static>> {
    match &app.mode {
        Mode::Input { kind, text } => {
            let prompt = match kind {
                InputKind::Filter => "/".to_string(),
                InputKind::DeferBy => first_fitting(&["defer by (30m, 4h, 1d): ", "defer by: "], w / 2),
                InputKind::SpreadOver => {
                    first_fitting(&["spread the retries over (30m, 2h): ", "spread over: "], w / 2)
                }
                InputKind::HoldReason => first_fitting(&["hold: why (Enter: none): ", "why: "], w / 2),
            };
            // The end of a long line, where the cursor is.
            let room = w.saturating_sub(fit::width(&prompt) + 1);
            let text = escape(text).into_owned();
            let shown = if fit::width(&text) <= room {
                text
            } else {
                format!(
                    "…{}",
                    truncate_start(&text, room.saturating_sub(1)).trim_start_matches('…')
                )
            };
            let mut first = vec![
                Span::styled(prompt, theme.title()),
                Span::raw(shown),
                Span::styled("█", Style::new().add_modifier(Modifier::SLOW_BLINK)),
            ];
            let mut lines = Vec::new();
            match &app.message {
                Some(m) if spans_width(&first) + 2 + fit::width(m) <= w => {
                    first.push(Span::styled(format!("  {m}"), theme.warn()));
                    lines.push(Line::from(first));
                }
                Some(m) => {
                    lines.push(Line::from(first));
                    for l in wrap_at_most(&escape(m), w, if w < NARROW { 3 } else { 2 }) {
                        lines.push(Line::styled(l, theme.warn()));
                    }
                }
                None => lines.push(Line::from(first)),
            }
            lines
        }
        _ => match &app.message {
            // Room for the reason of a failure, even on a phone.
            Some(m) => wrap_at_most(&escape(m), w, if w < NARROW { 4 } else { 2 })
                .into_iter()
                .map(|l| Line::styled(l, theme.marked()))
                .collect(),
            None => vec![Line::styled(key_line(w), theme.dim())],
        },
    }
}

/// As many key hints as fit, most useful first; `?:help` always.
fn key_line(w: usize) -> String {
    let mut line = String::new();
    for h in hints() {
        if line.is_empty() {
            line = truncate(&h, w).into_owned();
        } else if fit::width(&line) + 1 + fit::width(&h) <= w {
            line.push(' ');
            line.push_str(&h);
        }
    }
    line
}

// ----------------------------------------------------------------- table

/// Table columns that fit `width`, with their widths, in display order.
///
/// First the core, at their minimum widths: the id, the sorted column (a
/// sort the user picked is always visible), the recipient, the state and
/// the next attempt. Then the others, most useful first, each only while
/// the addresses and subject shown keep a readable width. Then they grow
/// to that width, times get their precise form (`21h16m ago`), the
/// addresses and subject grow by what they hold, and the subject takes the
/// rest.
pub fn columns(app: &App, width: usize) -> Vec<(Column, usize)> {
    let d = &app.demand;
    // (minimum, what its content wants)
    let spec = |c: Column| -> (usize, usize) {
        let (min, want) = match c {
            Column::Id => (app.id_len, app.id_len),
            Column::State => (d.state.max(5), d.state.max(5)),
            Column::From => (10, d.from),
            Column::To => (10, d.to),
            Column::Next | Column::Last => (8, 10),
            Column::Age => (4, 7),
            Column::Size => (5, 5),
            Column::Subject => (8, d.subject),
        };
        // The title fits too, with the sort arrow on the sorted column.
        let min = min.max(c.title().len() + usize::from(c == app.sort));
        (min, want.max(min))
    };
    // A width an address or subject is still worth reading at.
    let readable = |c: Column| -> usize {
        let (min, want) = spec(c);
        match c {
            Column::To => want.min(18),
            Column::From => want.min(12),
            Column::Subject => want.min(10),
            _ => min,
        }
        .max(min)
    };
    let core = [Column::Id, app.sort, Column::To, Column::State, Column::Next];
    let others = [Column::Subject, Column::From, Column::Age, Column::Size, Column::Last];
    // Two for the mark column, one space between columns.
    let avail = width.saturating_sub(2);
    let cost = |cols: &[Column], w: &dyn Fn(Column) -> usize| -> usize {
        cols.iter().map(|&c| w(c)).sum::<usize>() + cols.len().saturating_sub(1)
    };
    let mut chosen: Vec<Column> = Vec::new();
    for c in core {
        if chosen.contains(&c) {
            continue;
        }
        chosen.push(c);
        if cost(&chosen, &|c| spec(c).0) > avail {
            chosen.pop();
        }
    }
    for c in others {
        if chosen.contains(&c) {
            continue;
        }
        chosen.push(c);
        if cost(&chosen, &readable) > avail {
            chosen.pop();
        }
    }
    let mut extra = avail.saturating_sub(cost(&chosen, &|c| spec(c).0));
    let mut widths: Vec<(Column, usize)> = Column::ALL
        .iter()
        .filter(|c| chosen.contains(c))
        .map(|&c| (c, spec(c).0))
        .collect();
    let flex = [Column::To, Column::From, Column::Subject];
    // Addresses and subject up to a readable width, then precise times,
    // then the text columns up to a comfortable width, then all they hold.
    grow(&mut widths, &mut extra, &flex, readable);
    grow(
        &mut widths,
        &mut extra,
        &[Column::Next, Column::Last, Column::Age],
        |c| spec(c).1,
    );
    grow(&mut widths, &mut extra, &flex, |c| spec(c).1.min(32));
    grow(&mut widths, &mut extra, &flex, |c| spec(c).1);
    grow(&mut widths, &mut extra, &[Column::Subject], |_| usize::MAX);
    widths
}

/// Shares `extra` among the `cols` shown, each up to `cap(c)`: the
/// smallest needs are met in full, the rest share what is left evenly.
fn grow(widths: &mut [(Column, usize)], extra: &mut usize, cols: &[Column], cap: impl Fn(Column) -> usize) {
    loop {
        let hungry: Vec<usize> = (0..widths.len())
            .filter(|&i| cols.contains(&widths[i].0) && widths[i].1 < cap(widths[i].0))
            .collect();
        if hungry.is_empty() || *extra == 0 {
            return;
        }
        let share = (*extra / hungry.len()).max(1);
        for i in hungry {
            let (c, w) = widths[i];
            let add = share.min(cap(c) - w).min(*extra);
            widths[i].1 += add;
            *extra -= add;
        }
    }
}

/// Numbers line up on the right.
fn right_aligned(c: Column) -> bool {
    matches!(c, Column::Age | Column::Size)
}

fn cell_text(app: &App, r: &Row, c: Column, w: usize) -> String {
    let s = &app.store.strings;
    let now = app.now.as_second();
    let time = |t: i64| {
        if t == NO_TIME {
            "-".to_string()
        } else {
            fit::relative_in(t, now, w)
        }
    };
    let text = match c {
        Column::Id => app.store.id_text(r.id, app.id_len),
        Column::State => {
            let name = if r.is_stuck(app.now, app.stuck_after) {
                "stuck"
            } else {
                r.state.dir()
            };
            if r.broken { format!("{name}!") } else { name.to_string() }
        }
        Column::From => s.get(r.from).to_string(),
        Column::To => s.get(r.to).to_string(),
        Column::Next => time(r.at()),
        Column::Last => time(r.last()),
        Column::Age => age_secs(r, app.now).map_or("-".into(), |a| fit::duration_in(a, w)),
        Column::Size => {
            if r.written() == NO_TIME {
                "-".into()
            } else {
                human_size(r.size())
            }
        }
        Column::Subject => s.get(r.subject).to_string(),
    };
    truncate(&text, w).into_owned()
}

fn aligned(text: String, c: Column) -> Cell<'static> {
    let line = Line::from(text);
    Cell::from(if right_aligned(c) {
        line.alignment(Alignment::Right)
    } else {
        line
    })
}

fn table(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let cols = columns(app, area.width as usize);
    let h = (area.height as usize).saturating_sub(1).max(1);
    // The rows on screen, and no others.
    let mut offset = app.offset.min(app.rows.len().saturating_sub(1));
    if app.selected < offset {
        offset = app.selected;
    } else if app.selected >= offset + h {
        offset = app.selected + 1 - h;
    }
    let end = (offset + h).min(app.rows.len());
    let titles = std::iter::once(Cell::from(" ")).chain(cols.iter().map(|(c, _)| {
        let mut t = c.title().to_string();
        if *c == app.sort {
            t.push(if app.descending { '▼' } else { '▲' });
        }
        aligned(t, *c)
    }));
    let head = TRow::new(titles).style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let rows = app.rows[offset..end].iter().enumerate().map(|(k, &slot)| {
        let r = app.store.table.get(slot);
        let marked = app.marks.contains_key(&r.id);
        let stuck = r.is_stuck(app.now, app.stuck_after);
        let mut cells = vec![Cell::from(if marked { "*" } else { " " }).style(theme.marked())];
        for &(c, w) in &cols {
            let style = match c {
                Column::State => theme.state(r, stuck),
                _ => Style::new(),
            };
            cells.push(aligned(cell_text(app, r, c, w), c).style(style));
        }
        let mut row = TRow::new(cells);
        if offset + k == app.selected {
            row = row.style(theme.selected());
        } else if marked {
            row = row.style(theme.marked());
        }
        row
    });
    let widths: Vec<Constraint> = std::iter::once(Constraint::Length(1))
        .chain(cols.iter().map(|&(_, w)| Constraint::Length(w as u16)))
        .collect();
    f.render_widget(Table::new(rows, widths).header(head).column_spacing(1), area);
    if app.rows.is_empty() && area.height > 2 {
        let msg = if app.loading.is_some() {
            "reading the queue…".to_string()
        } else if app.filter.is_empty() {
            "the queue is empty".to_string()
        } else {
            first_fitting(
                &[
                    "nothing matches the filter (Esc clears it)",
                    "nothing matches (Esc clears)",
                ],
                area.width as usize,
            )
        };
        let inner = Rect {
            y: area.y + 2,
            height: 1,
            ..area
        };
        f.render_widget(
            Paragraph::new(msg).alignment(Alignment::Center).style(theme.dim()),
            inner,
        );
    }
}

// ---------------------------------------------------------------- detail

/// `key  value` lines, the value wrapped under itself; on a narrow screen
/// the value goes under its key.
fn field_lines(key: &str, value: &str, kw: usize, w: usize, key_style: Style, out: &mut Vec<Line<'static>>) {
    let vw = w.saturating_sub(kw + 2);
    if vw < 30 {
        out.push(Line::styled(key.to_string(), key_style));
        for l in wrap(value, w.saturating_sub(2)) {
            out.push(Line::raw(format!("  {l}")));
        }
        return;
    }
    for (i, l) in wrap(value, vw).into_iter().enumerate() {
        let k = if i == 0 { key } else { "" };
        out.push(Line::from(vec![
            Span::styled(format!("{k:<kw$}  "), key_style),
            Span::raw(l),
        ]));
    }
}

fn detail(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let w = area.width as usize;
    let title = first_fitting(
        &[
            " Detail (j/k: next/previous entry, PgUp/PgDn: scroll, Esc: back) ",
            " Detail (j/k: entry, PgUp/PgDn: scroll, Esc: back) ",
            " Detail (Esc: back) ",
            " Detail ",
        ],
        w,
    );
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Span::styled(title, theme.title()));
    let Some(r) = app.selected_row() else {
        f.render_widget(Paragraph::new("no entry selected").block(block), area);
        return;
    };
    let id = app.store.entry_id(r.id);
    let mut lines: Vec<Line> = Vec::new();
    match app.detail.as_deref().filter(|d| d.id == id) {
        None => {
            for l in wrap(&id.to_string(), w) {
                lines.push(Line::raw(l));
            }
            lines.push(Line::styled("reading…", theme.dim()));
        }
        Some(d) => {
            let kw = d.lines.iter().map(|(k, _)| fit::width(k)).max().unwrap_or(0);
            for (k, v) in &d.lines {
                field_lines(k, v, kw, w, theme.title(), &mut lines);
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled("Headers", theme.title()));
            let bold = Style::new().add_modifier(Modifier::BOLD);
            for (n, v) in &d.headers {
                // `Name: value`, continued two columns in.
                let text = format!("{n}: {v}");
                for (i, l) in wrap(&text, w.saturating_sub(2)).into_iter().enumerate() {
                    if i == 0 && l.starts_with(&format!("{n}:")) {
                        let rest = l[n.len() + 1..].to_string();
                        lines.push(Line::from(vec![Span::styled(format!("{n}:"), bold), Span::raw(rest)]));
                    } else {
                        lines.push(Line::raw(format!("  {l}")));
                    }
                }
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled("Body (start)", theme.title()));
            for b in &d.body {
                if fit::width(b) <= w {
                    lines.push(Line::raw(b.clone()));
                } else {
                    lines.extend(wrap(b, w).into_iter().map(Line::raw));
                }
            }
        }
    }
    f.render_widget(
        Paragraph::new(Text::from(lines))
            .block(block)
            .scroll((app.detail_scroll, 0)),
        area,
    );
}

// --------------------------------------------------------------- summary

struct SummaryLayout {
    /// The state counts beside the domains (wide screens) or a line of
    /// totals above them (narrow ones: the header has the counts).
    counts: Rect,
    wide: bool,
    domains: Rect,
    /// Why entries are held (under the domains, when there is room).
    holds: Rect,
    chart: Rect,
}

/// At most this many reasons for holds are listed in the summary.
const SUMMARY_HOLDS: usize = 4;

/// Wider than this, the state counts stand beside the domain table (on
/// narrower screens the header has them, and the domains need the room).
const SUMMARY_WIDE: u16 = 100;

fn summary_extras(app: &App, s: Option<&Stats>) -> Vec<String> {
    let mut v = vec![format!("total {}", app.counts.total())];
    if let Some(s) = s {
        v.push(format!("mails {}", s.mails));
        v.push(format!("size {}", human_size(s.bytes)));
        if let Some(o) = &s.oldest {
            v.push(format!("oldest {}", human_duration(o.age)));
        }
    }
    v
}

fn summary_layout(app: &App, stats: &Stats, area: Rect) -> SummaryLayout {
    let chart_h = if area.height >= 16 { 5 } else { 0 };
    let [top, chart] = Layout::vertical([Constraint::Min(0), Constraint::Length(chart_h)]).areas(area);
    // A title and a line per reason, when the screen has the room.
    let holds_h = if stats.holds.is_empty() || area.height < 14 {
        0
    } else {
        1 + stats.holds.len().min(SUMMARY_HOLDS) as u16
    };
    let split = |r: Rect| {
        let [domains, _, holds] = Layout::vertical([
            Constraint::Min(0),
            Constraint::Length(u16::from(holds_h > 0)),
            Constraint::Length(holds_h),
        ])
        .areas(r);
        (domains, holds)
    };
    if area.width >= SUMMARY_WIDE {
        let [counts, _, right] =
            Layout::horizontal([Constraint::Length(20), Constraint::Length(1), Constraint::Min(0)]).areas(top);
        let (domains, holds) = split(right);
        return SummaryLayout {
            counts,
            wide: true,
            domains,
            holds,
            chart,
        };
    }
    let extras: Vec<usize> = summary_extras(app, Some(stats)).iter().map(|s| s.len()).collect();
    let n = flow(&extras, area.width as usize, 2).len() as u16;
    let [counts, rest] = Layout::vertical([Constraint::Length(n), Constraint::Min(0)]).areas(top);
    let (domains, holds) = split(rest);
    SummaryLayout {
        counts,
        wide: false,
        domains,
        holds,
        chart,
    }
}

/// Why entries are held, the most held first: count, reason, end.
fn summary_holds(app: &App, s: &Stats, theme: &Theme, f: &mut Frame, area: Rect) {
    let w = area.width as usize;
    let mut lines = vec![Line::styled(truncate("Held for", w), theme.title())];
    let shown = s.holds.len().min(SUMMARY_HOLDS);
    for (i, g) in s.holds.iter().take(shown).enumerate() {
        if i + 1 == shown && s.holds.len() > shown {
            let rest: u64 = s.holds[i..].iter().map(|g| g.entries).sum();
            let text = format!("{rest:>7}  (and {} more reasons)", s.holds.len() - i);
            lines.push(Line::raw(truncate(&text, w).to_string()));
            break;
        }
        let ends = match (g.expired, g.next_end) {
            (0, None) => String::new(),
            (0, Some(t)) => format!("ends {} · ", crate::output::relative(t, app.now)),
            (e, _) => format!("{e} ended · "),
        };
        // The end first: a long reason is what gets cut.
        let reason = g.reason.as_deref().map_or("(no reason given)".into(), escape);
        let text = format!("{:>7}  {ends}{reason}", g.entries);
        let style = if g.expired > 0 { theme.warn() } else { Style::default() };
        lines.push(Line::styled(truncate(&text, w).to_string(), style));
    }
    f.render_widget(Paragraph::new(lines), area);
}

fn summary(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let empty = Stats::default();
    let stats = app.stats.as_deref().unwrap_or(&empty);
    let l = summary_layout(app, stats, area);
    let c = &app.counts;
    let extras = summary_extras(app, app.stats.as_deref());
    if l.wide {
        let mut lines = vec![Line::styled("State", theme.title())];
        for (name, n) in [
            ("queue", c.queue),
            ("  due", c.due),
            ("  deferred", c.deferred),
            ("inflight", c.inflight),
            ("  stuck", c.stuck),
            ("cleanup", c.cleanup),
            ("hold", c.hold),
            ("broken", c.broken),
        ] {
            lines.push(Line::raw(format!("{name:<11}{n:>9}")));
        }
        for (i, e) in extras.iter().enumerate() {
            if i == 1 {
                lines.push(Line::raw(""));
            }
            let (k, v) = e.split_once(' ').unwrap_or((e, ""));
            lines.push(Line::raw(format!("{k:<11}{v:>9}")));
        }
        f.render_widget(Paragraph::new(lines), l.counts);
    } else {
        let widths: Vec<usize> = extras.iter().map(|s| s.len()).collect();
        let lines: Vec<Line> = flow(&widths, l.counts.width as usize, 2)
            .into_iter()
            .map(|idx| Line::raw(idx.iter().map(|&i| extras[i].as_str()).collect::<Vec<_>>().join("  ")))
            .collect();
        f.render_widget(Paragraph::new(lines), l.counts);
    }
    match &app.stats {
        None => f.render_widget(Paragraph::new("reading statistics…").style(theme.dim()), l.domains),
        Some(s) => domain_table(app, s, theme, f, l.domains),
    }
    if let Some(s) = app.stats.as_deref()
        && l.holds.height > 0
    {
        summary_holds(app, s, theme, f, l.holds);
    }
    if l.chart.height > 0 {
        chart(app, theme, f, l.chart);
    }
}

/// Destination domain × message age, as wide as it needs and no wider:
/// the numbers right-aligned and whole, the age columns that do not fit
/// summed into the last one shown (`40m+`).
fn domain_table(app: &App, s: &Stats, theme: &Theme, f: &mut Frame, area: Rect) {
    let w = area.width as usize;
    let n = s.buckets.len();
    let digits = |v: u64| v.to_string().len();
    let domains: Vec<String> = s.domains.iter().map(|d| escape(&d.domain).into_owned()).collect();
    let dom_w = domains.iter().map(|d| fit::width(d)).max().unwrap_or(0).max(6);
    let total_w = s.domains.iter().map(|d| digits(d.total)).max().unwrap_or(1).max(5);
    // Bucket i when it is the last one shown of `cols`: it sums the rest.
    let label = |i: usize, cols: usize| s.bucket_label(i, cols);
    let value = |d: &crate::stats::DomainRow, i: usize, cols: usize| crate::stats::merged_age(&d.ages, i, cols);
    let col_w = |i: usize, cols: usize| -> usize {
        let widest = s.domains.iter().map(|d| digits(value(d, i, cols))).max().unwrap_or(1);
        fit::width(&label(i, cols)).max(widest)
    };
    // Most domains whole before another age column.
    let dom_min = dom_w.min(20);
    let mut cols = n;
    while cols > 0 {
        let used = dom_min + 1 + total_w + (0..cols).map(|i| 1 + col_w(i, cols)).sum::<usize>();
        if used <= w {
            break;
        }
        cols -= 1;
    }
    let rest = 1 + total_w + (0..cols).map(|i| 1 + col_w(i, cols)).sum::<usize>();
    let dom_w = dom_w.min(w.saturating_sub(rest)).max(1);
    let shown = (area.height as usize).saturating_sub(2);
    let max_scroll = s.domains.len().saturating_sub(shown);
    let first = (app.summary_scroll as usize).min(max_scroll);
    let last = (first + shown).min(s.domains.len());
    let range = if first == 0 && last == s.domains.len() {
        String::new()
    } else {
        format!(", {}–{last} of {} (j/k)", first + 1, s.domains.len())
    };
    let read = app.stats_at.map(|t| t.strftime("%H:%M:%SZ").to_string());
    let title = match &read {
        Some(t) => first_fitting(
            &[
                &format!("Destination domain × message age (read {t}, ^r again){range}"),
                &format!("Domain × age (read {t}, ^r again){range}"),
                &format!("Domain × age (read {t}){range}"),
                &format!("Domain × age{range}"),
                "Domain × age",
            ],
            w,
        ),
        None => first_fitting(
            &[&format!("Destination domain × message age{range}"), "Domain × age"],
            w,
        ),
    };
    let num = |t: String| Cell::from(Line::from(t).alignment(Alignment::Right));
    let head = TRow::new(
        [Cell::from("DOMAIN"), num("TOTAL".into())]
            .into_iter()
            .chain((0..cols).map(|i| num(label(i, cols)))),
    )
    .style(theme.title());
    let rows = s.domains[first..last]
        .iter()
        .zip(&domains[first..last])
        .map(|(d, name)| {
            let ages = (0..cols).map(|i| {
                let v = value(d, i, cols);
                num(if v == 0 { "·".to_string() } else { v.to_string() })
            });
            TRow::new(
                [Cell::from(truncate(name, dom_w).into_owned()), num(d.total.to_string())]
                    .into_iter()
                    .chain(ages),
            )
        });
    let widths: Vec<Constraint> = [Constraint::Length(dom_w as u16), Constraint::Length(total_w as u16)]
        .into_iter()
        .chain((0..cols).map(|i| Constraint::Length(col_w(i, cols) as u16)))
        .collect();
    f.render_widget(
        Table::new(rows, widths)
            .header(head)
            .column_spacing(1)
            .block(Block::default().title(Span::styled(title, theme.title()))),
        area,
    );
}

fn chart(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let c = &app.counts;
    let (lo, hi) = (
        app.history.iter().copied().min().unwrap_or(0),
        app.history.iter().copied().max().unwrap_or(0),
    );
    let now = c.total();
    let title = first_fitting(
        &[
            &format!(" Queue size while open: now {now}, min {lo}, max {hi} "),
            &format!(" Queue now {now}, min {lo}, max {hi} "),
            &format!(" now {now}, min {lo}, max {hi} "),
        ],
        area.width as usize,
    );
    let spark = Sparkline::default()
        .block(
            Block::default()
                .borders(Borders::TOP)
                .title(Span::styled(title, theme.title())),
        )
        .style(theme.fg(Color::Green))
        .data(&app.history[app.history.len().saturating_sub(area.width as usize)..]);
    f.render_widget(spark, area);
}

// --------------------------------------------------------------- dialogs

fn help(theme: &Theme, f: &mut Frame, scroll: u16) {
    let full = f.area();
    let bw = full.width.min(84);
    let iw = (bw as usize).saturating_sub(2);
    let entries = help_lines();
    let lw = entries.iter().map(|(_, k, _)| fit::width(k)).max().unwrap_or(0);
    // "  KEYS  what they do", the description wrapped under itself; on a
    // narrow screen, under the keys.
    let dw = iw.saturating_sub(2 + lw + 2);
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut lines: Vec<Line> = Vec::new();
    let mut last = "";
    for (scope, keys, what) in entries {
        if scope != last {
            if !last.is_empty() {
                lines.push(Line::raw(""));
            }
            lines.push(Line::styled(scope, theme.title()));
            last = scope;
        }
        if dw >= 16 {
            for (i, l) in wrap(what, dw).into_iter().enumerate() {
                let k = if i == 0 { keys } else { "" };
                lines.push(Line::from(vec![
                    Span::styled(format!("  {k:<lw$}  "), bold),
                    Span::raw(l),
                ]));
            }
        } else {
            lines.push(Line::styled(format!("  {keys}"), bold));
            for l in wrap(what, iw.saturating_sub(4)) {
                lines.push(Line::raw(format!("    {l}")));
            }
        }
    }
    lines.push(Line::raw(""));
    for note in [
        "Filter: the CLI's selection flags (--state --from --to --domain --due --not-due --older-than …) plus free text",
        "Per min: entries arrived (in), sends started (sent), delivered (done) and put back after a failed try (back), over the last minute / ten minutes. The table follows every move as it happens; ^r reads the whole queue again.",
    ] {
        for l in wrap(note, iw) {
            lines.push(Line::styled(l, theme.dim()));
        }
    }
    let need = lines.len() as u16 + 2;
    let h = need.min(full.height);
    let title = if h < need {
        "Keys (j/k scroll, ? or Esc closes)"
    } else {
        "Keys (? or Esc closes)"
    };
    let max_scroll = need.saturating_sub(h);
    let area = centered(full, bw, h);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).scroll((scroll.min(max_scroll), 0)).block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(format!(" {title} "), theme.title())),
        ),
        area,
    );
}

/// The yes/no question, wrapped to the box; its keys are always the last
/// line shown: on a short screen the blank lines go first, then the text.
fn confirm(theme: &Theme, f: &mut Frame, head: u16, verb: Verb, count: usize, reason: Option<&str>) {
    let what = match verb {
        Verb::Drop => "They are removed from the queue for good.",
        Verb::Hold => "No writer tries a held entry until it is released.",
        Verb::Release => "They go back to queue/.",
        Verb::Recover => "Stuck inflight entries go back to queue/.",
        Verb::RetryNow => "Their next attempt is set to now.",
        Verb::RetrySpread(_) => "Spread evenly from now, the longest waiting first.",
        Verb::Defer(_) => "Their next attempt moves later.",
    };
    let noun = if count == 1 { "entry" } else { "entries" };
    let ask = match verb {
        Verb::Defer(d) => format!("Defer {count} {noun} by {}?", human_duration(d.as_secs())),
        Verb::RetrySpread(d) => format!("Retry {count} {noun} over {}?", human_duration(d.as_secs())),
        Verb::Hold if let Some(r) = reason => format!("Hold {count} {noun} for \u{201c}{}\u{201d}?", escape(r)),
        v => format!("{} {count} {noun}?", v.name()),
    };
    let full = f.area();
    let bw = full.width.min(56);
    let iw = (bw as usize).saturating_sub(2);
    let question: Vec<Line> = wrap(&ask, iw)
        .into_iter()
        .map(|l| Line::styled(l, theme.title()))
        .collect();
    let mut text: Vec<Line> = wrap(what, iw).into_iter().map(Line::raw).collect();
    let mut keys = vec![
        Span::styled("[y]", theme.title()),
        Span::raw(" yes    "),
        Span::styled("[n]", theme.title()),
        Span::raw(" no"),
    ];
    let extra = match verb {
        Verb::RetryNow => Some(("[s]", " spread")),
        Verb::Hold => Some(("[r]", " reason")),
        _ => None,
    };
    if let Some((key, what)) = extra {
        keys.push(Span::raw("    "));
        keys.push(Span::styled(key, theme.title()));
        keys.push(Span::raw(what));
    }
    let keys = Line::from(keys);
    let room = (full.height as usize).saturating_sub(2);
    // The blank lines go first when the box would cover the header.
    let below = (full.height.saturating_sub(head) as usize).saturating_sub(2);
    let blanks = question.len() + text.len() + 3 <= below.min(room);
    if question.len() + text.len() + 1 > room {
        text.truncate(room.saturating_sub(question.len() + 1));
    }
    let mut lines = question;
    if blanks {
        lines.push(Line::raw(""));
    }
    lines.extend(text);
    if blanks {
        lines.push(Line::raw(""));
    }
    lines.push(keys);
    // Too short even for the question: the keys win.
    let skip = lines.len().saturating_sub(room);
    let lines: Vec<Line> = lines.into_iter().skip(skip).collect();
    let h = lines.len() as u16 + 2;
    let area = dialog_area(full, head, bw, h);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(" Confirm ", theme.title())),
        ),
        area,
    );
}

fn running(theme: &Theme, f: &mut Frame, head: u16, verb: Verb, done: u64, total: u64, cancelling: bool) {
    let area = dialog_area(f.area(), head, 54, 5);
    f.render_widget(Clear, area);
    let w = (area.width as usize).saturating_sub(2);
    let title = if cancelling {
        first_fitting(&[&format!(" {}: stopping… ", verb.name()), " stopping… "], w)
    } else {
        first_fitting(&[&format!(" {}: Esc to stop ", verb.name()), " Esc to stop "], w)
    };
    let ratio = if total == 0 {
        1.0
    } else {
        (done as f64 / total as f64).min(1.0)
    };
    let gauge = Gauge::default()
        .block(Block::default().borders(Borders::ALL).title(title))
        .gauge_style(if theme.color {
            Style::new().fg(Color::Green)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        })
        .use_unicode(theme.color)
        .label(format!("{done} / {total}"))
        .ratio(ratio);
    f.render_widget(gauge, area);
}

/// A dialog's place: below the header when it fits there (the counts stay
/// in sight), else the middle of the screen.
fn dialog_area(full: Rect, head: u16, w: u16, h: u16) -> Rect {
    let below = Rect {
        y: full.y + head.min(full.height),
        height: full.height.saturating_sub(head),
        ..full
    };
    centered(if h <= below.height { below } else { full }, w, h)
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}
