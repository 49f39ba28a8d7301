//! Drawing: a pure function of the state. Only the rows on screen are
//! turned into text, so a million entries cost no more than twenty.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Cell, Clear, Gauge, Paragraph, Row as TRow, Sparkline, Table, Wrap};

use super::app::{App, Column, InputKind, Mode, View, age_secs, table_height};
use super::keys::help_lines;
use super::row::{NO_TIME, Row};
use crate::output::{human_duration, human_size, relative, truncate};
use crate::queue::State;

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

pub fn render(app: &App, f: &mut Frame) {
    let theme = Theme { color: app.color };
    let [head, body, status] =
        Layout::vertical([Constraint::Length(3), Constraint::Min(1), Constraint::Length(1)]).areas(f.area());
    header(app, &theme, f, head);
    match app.view {
        View::Table => table(app, &theme, f, body),
        View::Detail => detail(app, &theme, f, body),
        View::Summary => summary(app, &theme, f, body),
    }
    status_line(app, &theme, f, status);
    match &app.mode {
        Mode::Help { scroll } => help(&theme, f, *scroll),
        Mode::Confirm { verb, count } => {
            let what = match verb {
                super::app::Verb::Drop => "They are removed from the queue for good.",
                super::app::Verb::Hold => "No writer tries a held entry until it is released.",
                super::app::Verb::Release => "They go back to queue/.",
                super::app::Verb::Recover => "Stuck inflight entries go back to queue/.",
                super::app::Verb::RetryNow => "Their next attempt is set to now.",
                super::app::Verb::Defer(_) => "Their next attempt moves later.",
            };
            let verb_text = match verb {
                super::app::Verb::Defer(d) => format!("Defer by {}", human_duration(d.as_secs())),
                v => v.name().to_string(),
            };
            let noun = if *count == 1 { "entry" } else { "entries" };
            let text = vec![
                Line::from(Span::styled(format!("{verb_text} {count} {noun}?"), theme.title())),
                Line::raw(""),
                Line::raw(what),
                Line::raw(""),
                Line::from(vec![
                    Span::styled("[y]", theme.title()),
                    Span::raw(" yes    "),
                    Span::styled("[n]", theme.title()),
                    Span::raw(" no"),
                ]),
            ];
            popup(f, &theme, "Confirm", text, 50, 7);
        }
        Mode::Running {
            verb,
            done,
            total,
            cancelling,
        } => {
            let area = centered(f.area(), 54, 5);
            f.render_widget(Clear, area);
            let title = if *cancelling {
                format!(" {}: stopping… ", verb.name())
            } else {
                format!(" {}: Esc to stop ", verb.name())
            };
            let ratio = if *total == 0 {
                1.0
            } else {
                (*done as f64 / *total as f64).min(1.0)
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
        _ => {}
    }
}

fn header(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let w = area.width as usize;
    let writer = match &app.writer {
        Some(w) => Span::styled(format!("writer live: {}", crate::output::escape(w)), theme.warn()),
        None => Span::raw("no writer running"),
    };
    let refreshed = match (app.loading, app.last_refresh) {
        (Some(_), _) => format!("reading… {} entries so far", app.counts.total()),
        (None, Some(t)) => format!("read {}", t.strftime("%H:%M:%SZ")),
        (None, None) => String::new(),
    };
    let path = truncate(&crate::output::escape(&app.queue_path), w.saturating_sub(45).max(10)).into_owned();
    let l1 = Line::from(vec![
        Span::styled("mqctl ", theme.title()),
        Span::raw(path),
        Span::raw("  "),
        writer,
        Span::raw("  "),
        Span::styled(refreshed, theme.dim()),
    ]);
    let c = &app.counts;
    let mut parts: Vec<Span> = Vec::new();
    let mut item = |name: &str, n: u64, style: Style| {
        parts.push(Span::styled(name.to_string(), theme.dim()));
        parts.push(Span::styled(
            format!(" {n}  "),
            if n > 0 { style } else { Style::new() },
        ));
    };
    item("queue", c.queue, Style::new().add_modifier(Modifier::BOLD));
    item("due", c.due, Style::new());
    item("deferred", c.deferred, Style::new());
    item("inflight", c.inflight, theme.fg(Color::Yellow));
    item("stuck", c.stuck, theme.warn());
    item("cleanup", c.cleanup, Style::new());
    item("hold", c.hold, theme.fg(Color::Magenta));
    if c.broken > 0 {
        item("broken", c.broken, theme.warn());
    }
    let l2 = Line::from(parts);
    let filter = if app.filter.is_empty() {
        Span::styled("no filter (/ to filter)", theme.dim())
    } else {
        Span::styled(
            format!("filter: {}", crate::output::escape(&app.filter)),
            theme.marked(),
        )
    };
    let mut l3 = vec![filter, Span::raw(format!("  {} shown", app.rows.len()))];
    if !app.marks.is_empty() {
        l3.push(Span::styled(format!("  {} marked", app.marks.len()), theme.marked()));
    }
    let dir = if app.descending { "▼" } else { "▲" };
    l3.push(Span::styled(format!("  sort {} {dir}", app.sort.title()), theme.dim()));
    f.render_widget(Paragraph::new(vec![l1, l2, Line::from(l3)]), area);
}

/// Columns that fit `width`, most useful first, with their widths, in
/// display order. Addresses and subject take what is left.
pub fn columns(width: usize, id_len: usize) -> Vec<(Column, usize)> {
    let min = |c: Column| match c {
        Column::Id => id_len,
        Column::State => 8,
        Column::From => 14,
        Column::To => 16,
        Column::Next | Column::Last => 9,
        Column::Age => 6,
        Column::Size => 5,
        Column::Subject => 10,
    };
    let priority = [
        Column::Id,
        Column::To,
        Column::State,
        Column::Next,
        Column::Subject,
        Column::From,
        Column::Age,
        Column::Size,
        Column::Last,
    ];
    // Two for the mark column, one space between columns.
    let avail = width.saturating_sub(2);
    let mut used = 0;
    let mut chosen: Vec<Column> = Vec::new();
    for c in priority {
        let need = min(c) + usize::from(!chosen.is_empty());
        if used + need <= avail {
            used += need;
            chosen.push(c);
        }
    }
    let mut extra = avail - used;
    let mut widths: Vec<(Column, usize)> = Column::ALL
        .iter()
        .filter(|c| chosen.contains(c))
        .map(|&c| (c, min(c)))
        .collect();
    for (c, cap) in [(Column::To, 24), (Column::From, 22), (Column::Subject, usize::MAX)] {
        if let Some((_, w)) = widths.iter_mut().find(|(x, _)| *x == c) {
            let add = extra.min(cap.saturating_sub(*w));
            *w += add;
            extra -= add;
        }
    }
    if extra > 0
        && let Some((_, w)) = widths.iter_mut().find(|(x, _)| *x == Column::To)
    {
        *w += extra;
    }
    widths
}

fn cell_text(app: &App, r: &Row, c: Column) -> String {
    let s = &app.store.strings;
    let time = |t: i64| {
        if t == NO_TIME {
            "-".to_string()
        } else {
            relative(jiff::Timestamp::from_second(t).unwrap_or_default(), app.now)
        }
    };
    match c {
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
        Column::Next => time(r.at),
        Column::Last => time(r.last),
        Column::Age => age_secs(r, app.now).map_or("-".into(), human_duration),
        Column::Size => {
            if r.written == NO_TIME {
                "-".into()
            } else {
                human_size(r.size)
            }
        }
        Column::Subject => s.get(r.subject).to_string(),
    }
}

fn table(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let cols = columns(area.width as usize, app.id_len);
    let h = table_height(app.size)
        .min(area.height.saturating_sub(1) as usize)
        .max(1);
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
        Cell::from(t)
    }));
    let head = TRow::new(titles).style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let rows = app.rows[offset..end].iter().enumerate().map(|(k, r)| {
        let marked = app.marks.contains_key(&r.id);
        let stuck = r.is_stuck(app.now, app.stuck_after);
        let mut cells = vec![Cell::from(if marked { "*" } else { " " }).style(theme.marked())];
        for &(c, w) in &cols {
            let text = truncate(&cell_text(app, r, c), w).into_owned();
            let style = match c {
                Column::State => theme.state(r, stuck),
                _ => Style::new(),
            };
            cells.push(Cell::from(text).style(style));
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
    if app.rows.is_empty() {
        let msg = if app.loading.is_some() {
            "reading the queue…"
        } else if app.filter.is_empty() {
            "the queue is empty"
        } else {
            "nothing matches the filter (Esc clears it)"
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

fn detail(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let block = Block::default().borders(Borders::TOP).title(Span::styled(
        " Detail (j/k: next/previous entry, PgUp/PgDn: scroll, Esc: back) ",
        theme.title(),
    ));
    let Some(r) = app.selected_row() else {
        f.render_widget(Paragraph::new("no entry selected").block(block), area);
        return;
    };
    let id = app.store.entry_id(r.id);
    let mut lines: Vec<Line> = Vec::new();
    match app.detail.as_deref().filter(|d| d.id == id) {
        None => {
            lines.push(Line::raw(format!("{id}")));
            lines.push(Line::styled("reading…", theme.dim()));
        }
        Some(d) => {
            let kw = d.lines.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
            for (k, v) in &d.lines {
                lines.push(Line::from(vec![
                    Span::styled(format!("{k:<kw$}  "), theme.title()),
                    Span::raw(v.clone()),
                ]));
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled("Headers", theme.title()));
            for (n, v) in &d.headers {
                lines.push(Line::from(vec![
                    Span::styled(format!("{n}: "), Style::new().add_modifier(Modifier::BOLD)),
                    Span::raw(v.clone()),
                ]));
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled("Body (start)", theme.title()));
            for b in &d.body {
                lines.push(Line::raw(b.clone()));
            }
        }
    }
    f.render_widget(
        Paragraph::new(Text::from(lines))
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((app.detail_scroll, 0)),
        area,
    );
}

fn summary(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let [top, chart] = Layout::vertical([Constraint::Min(4), Constraint::Length(5)]).areas(area);
    let [counts_area, domains_area] = Layout::horizontal([Constraint::Length(20), Constraint::Min(20)]).areas(top);
    let c = &app.counts;
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
        ("total", c.total()),
    ] {
        lines.push(Line::raw(format!("{name:<11}{n:>8}")));
    }
    if let Some(s) = &app.stats {
        lines.push(Line::raw(""));
        lines.push(Line::raw(format!("mails {:>13}", s.mails)));
        lines.push(Line::raw(format!("size  {:>13}", human_size(s.bytes))));
        if let Some(o) = &s.oldest {
            lines.push(Line::raw(format!("oldest {:>12}", human_duration(o.age))));
        }
    }
    f.render_widget(Paragraph::new(lines), counts_area);
    match &app.stats {
        None => f.render_widget(Paragraph::new("reading statistics…").style(theme.dim()), domains_area),
        Some(s) => {
            let n = s.buckets.len();
            // Age columns that fit (each as wide as its label, at least 5);
            // the last shown one sums the older ones.
            let avail = (domains_area.width as usize).saturating_sub(16 + 7);
            let merged = |i: usize| {
                format!(
                    "{}m+",
                    s.buckets[i].split('-').next().unwrap_or("").trim_end_matches('m')
                )
            };
            let mut fit = n;
            while fit > 1 {
                let used: usize = (0..fit)
                    .map(|i| {
                        if i + 1 == fit && fit < n {
                            merged(i).len()
                        } else {
                            s.buckets[i].len()
                        }
                        .max(5)
                            + 1
                    })
                    .sum();
                if used <= avail {
                    break;
                }
                fit -= 1;
            }
            let label = |i: usize| {
                if i + 1 == fit && fit < n {
                    merged(i)
                } else {
                    s.buckets[i].clone()
                }
            };
            let head = TRow::new(
                std::iter::once(Cell::from("DOMAIN"))
                    .chain(std::iter::once(Cell::from("TOTAL")))
                    .chain((0..fit).map(|i| Cell::from(label(i)))),
            )
            .style(theme.title());
            let rows = s.domains.iter().map(|d| {
                let ages = (0..fit).map(|i| {
                    let v: u64 = if i + 1 == fit {
                        d.ages[i..].iter().sum()
                    } else {
                        d.ages[i]
                    };
                    Cell::from(if v == 0 { "·".to_string() } else { v.to_string() })
                });
                TRow::new(
                    std::iter::once(Cell::from(crate::output::escape(&d.domain).into_owned()))
                        .chain(std::iter::once(Cell::from(d.total.to_string())))
                        .chain(ages),
                )
            });
            let widths: Vec<Constraint> = [Constraint::Min(16), Constraint::Length(6)]
                .into_iter()
                .chain((0..fit).map(|i| Constraint::Length(label(i).len().max(5) as u16)))
                .collect();
            f.render_widget(
                Table::new(rows, widths)
                    .header(head)
                    .block(Block::default().title(Span::styled(
                        match app.stats_at {
                            Some(t) => format!(
                                "Destination domain × message age (read {}, ^r again)",
                                t.strftime("%H:%M:%SZ")
                            ),
                            None => "Destination domain × message age".to_string(),
                        },
                        theme.title(),
                    ))),
                domains_area,
            );
        }
    }
    let (lo, hi) = (
        app.history.iter().copied().min().unwrap_or(0),
        app.history.iter().copied().max().unwrap_or(0),
    );
    let title = format!(" Queue size while open: now {}, min {lo}, max {hi} ", c.total());
    let spark = Sparkline::default()
        .block(
            Block::default()
                .borders(Borders::TOP)
                .title(Span::styled(title, theme.title())),
        )
        .style(theme.fg(Color::Green))
        .data(&app.history[app.history.len().saturating_sub(chart.width as usize)..]);
    f.render_widget(spark, chart);
}

fn status_line(app: &App, theme: &Theme, f: &mut Frame, area: Rect) {
    let line = match &app.mode {
        Mode::Input { kind, text } => {
            let prompt = match kind {
                InputKind::Filter => "/",
                InputKind::DeferBy => "defer by (30m, 4h, 1d): ",
            };
            let mut spans = vec![
                Span::styled(prompt, theme.title()),
                Span::raw(crate::output::escape(text).into_owned()),
                Span::styled("█", Style::new().add_modifier(Modifier::SLOW_BLINK)),
            ];
            if let Some(m) = &app.message {
                spans.push(Span::styled(format!("  {m}"), theme.warn()));
            }
            Line::from(spans)
        }
        _ => match &app.message {
            Some(m) => Line::styled(crate::output::escape(m).into_owned(), theme.marked()),
            None => Line::styled(
                "?:help /:filter Space:mark *:all h:hold u:release t:retry f:defer d:drop R:recover Tab:view q:quit",
                theme.dim(),
            ),
        },
    };
    f.render_widget(Paragraph::new(line), area);
}

fn help(theme: &Theme, f: &mut Frame, scroll: u16) {
    let mut lines: Vec<Line> = Vec::new();
    let mut last = "";
    for (scope, keys, what) in help_lines() {
        if scope != last {
            if !last.is_empty() {
                lines.push(Line::raw(""));
            }
            lines.push(Line::styled(scope, theme.title()));
            last = scope;
        }
        lines.push(Line::from(vec![
            Span::styled(format!("  {keys:<10}"), Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(what),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "Filter: the CLI's selection flags (--state --from --to --domain --due --not-due --older-than …) plus free text",
        theme.dim(),
    ));
    let h = (lines.len() as u16 + 2).min(f.area().height);
    let title = if h < lines.len() as u16 + 2 {
        "Keys (j/k scroll, ? or Esc closes)"
    } else {
        "Keys (? or Esc closes)"
    };
    let max_scroll = (lines.len() as u16 + 2).saturating_sub(h);
    let area = centered(f.area(), 84, h);
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

fn popup(f: &mut Frame, theme: &Theme, title: &str, text: Vec<Line>, w: u16, h: u16) {
    let area = centered(f.area(), w, h);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(format!(" {title} "), theme.title())),
        ),
        area,
    );
}
