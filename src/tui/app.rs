//! The TUI's state and the one function that changes it: `update`. It does
//! no I/O; what must be read or changed on disk comes back as `Effect`s the
//! event loop hands to the worker.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::keys::{self, Scope};
use super::row::{NO_TIME, RawRow, Row, RowId, Store, unique_prefix_len};
use crate::queue::ops::{EntryOp, Reschedule};
use crate::queue::{EntryId, State};
use crate::select::Selection;
use crate::stats::Stats;

/// Counts for the header, over the whole queue (not only what the filter shows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub queue: u64,
    pub due: u64,
    pub deferred: u64,
    pub inflight: u64,
    pub stuck: u64,
    pub cleanup: u64,
    pub hold: u64,
    /// In a claim folder (a running or interrupted mqctl's).
    pub claimed: u64,
    pub broken: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.queue += o.queue;
        self.due += o.due;
        self.deferred += o.deferred;
        self.inflight += o.inflight;
        self.stuck += o.stuck;
        self.cleanup += o.cleanup;
        self.hold += o.hold;
        self.claimed += o.claimed;
        self.broken += o.broken;
    }

    pub fn total(&self) -> u64 {
        self.queue + self.inflight + self.cleanup + self.hold + self.claimed
    }
}

/// The selected entry read in full, already escaped, as lines to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    pub id: EntryId,
    pub lines: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Table,
    Detail,
    Summary,
}

/// Table columns, in display order. Each can be sorted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Id,
    State,
    From,
    To,
    Next,
    Last,
    Age,
    Size,
    Subject,
}

impl Column {
    pub const ALL: [Column; 9] = [
        Column::Id,
        Column::State,
        Column::From,
        Column::To,
        Column::Next,
        Column::Last,
        Column::Age,
        Column::Size,
        Column::Subject,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Column::Id => "ID",
            Column::State => "STATE",
            Column::From => "FROM",
            Column::To => "TO",
            Column::Next => "NEXT",
            Column::Last => "LAST",
            Column::Age => "AGE",
            Column::Size => "SIZE",
            Column::Subject => "SUBJECT",
        }
    }

    fn index(self) -> usize {
        Column::ALL.iter().position(|&c| c == self).expect("listed")
    }
}

/// An action the user can ask for on the marked (or selected) entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Hold,
    Release,
    RetryNow,
    Defer(SignedDuration),
    Drop,
    Recover,
}

impl Verb {
    pub fn name(self) -> &'static str {
        match self {
            Verb::Hold => "Hold",
            Verb::Release => "Release",
            Verb::RetryNow => "Reschedule now",
            Verb::Defer(_) => "Defer",
            Verb::Drop => "Drop",
            Verb::Recover => "Recover",
        }
    }

    /// The library operation, as the CLI's command for it would call it.
    pub fn op(self, now: Timestamp) -> EntryOp {
        match self {
            Verb::Hold => EntryOp::Move(State::Held),
            Verb::Release => EntryOp::Move(State::Queued),
            Verb::Recover => EntryOp::Recover,
            Verb::RetryNow => EntryOp::Schedule(Reschedule::SetAt(now)),
            Verb::Defer(d) => EntryOp::Schedule(Reschedule::DeferBy(d, now)),
            Verb::Drop => EntryOp::Drop,
        }
    }

    /// The change engine's name for it (the log's operation).
    pub fn change_verb(self) -> crate::change::Verb {
        use crate::change::Verb as V;
        match self {
            Verb::Hold => V::Hold,
            Verb::Release => V::Release,
            Verb::RetryNow => V::Reschedule,
            Verb::Defer(_) => V::Defer,
            Verb::Drop => V::Drop,
            Verb::Recover => V::Recover,
        }
    }
}

/// What the user is typing into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    DeferBy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Input {
        kind: InputKind,
        text: String,
    },
    Confirm {
        verb: Verb,
        count: usize,
    },
    Help {
        scroll: u16,
    },
    Running {
        verb: Verb,
        done: u64,
        total: u64,
        cancelling: bool,
    },
}

/// Everything that can happen: keys, and what the worker reports.
#[derive(Debug, Clone)]
pub enum Action {
    Key(KeyEvent),
    Resize(u16, u16),
    Tick(Timestamp),
    Down,
    Up,
    PageDown,
    PageUp,
    Top,
    Bottom,
    NextView,
    PrevView,
    OpenDetail,
    Back,
    StartFilter,
    ToggleMark,
    MarkAll,
    ClearMarks,
    Hold,
    Release,
    RetryNow,
    Defer,
    Drop,
    Recover,
    SortNext,
    SortPrev,
    SortReverse,
    Refresh,
    Help,
    Quit,
    Input(char),
    Backspace,
    ClearInput,
    Submit,
    Cancel,
    /// Entries read by a scan. `first` starts a new picture of the queue;
    /// `done` ends it.
    Loaded {
        generation: u64,
        rows: Vec<RawRow>,
        counts: Counts,
        first: bool,
        done: bool,
    },
    Detail(Arc<Detail>),
    Stats(Arc<Stats>),
    Writer(Option<String>),
    Progress {
        done: u64,
    },
    Finished {
        summary: String,
    },
    Error(String),
}

/// Work for the worker thread.
#[derive(Debug, Clone)]
pub enum Effect {
    Scan {
        generation: u64,
        selection: Box<Selection>,
        stream: bool,
    },
    LoadDetail(State, EntryId),
    LoadStats,
    Apply {
        verb: Verb,
        op: EntryOp,
        targets: Vec<(State, EntryId)>,
    },
    Cancel,
    Quit,
}

pub struct App {
    pub queue_path: String,
    pub now: Timestamp,
    pub stuck_after: SignedDuration,
    pub color: bool,
    pub store: Store,
    /// The rows the filter shows, in display order.
    pub rows: Vec<Row>,
    pub selected: usize,
    /// First row on screen (kept so the view does not jump while moving).
    pub offset: usize,
    pub marks: HashMap<RowId, State>,
    pub sort: Column,
    pub descending: bool,
    pub counts: Counts,
    pub generation: u64,
    /// Entries read so far while a scan is running.
    pub loading: Option<u64>,
    streamed: bool,
    /// The entry selected when the scan started, to select again after it.
    keep: Option<RowId>,
    pub filter: String,
    pub mode: Mode,
    pub view: View,
    pub detail: Option<Arc<Detail>>,
    pub detail_scroll: u16,
    pub stats: Option<Arc<Stats>>,
    /// When `stats` was read.
    pub stats_at: Option<Timestamp>,
    stats_wanted: bool,
    /// Queue size at each refresh, for the chart.
    pub history: Vec<u64>,
    pub writer: Option<String>,
    pub last_refresh: Option<Timestamp>,
    pub message: Option<String>,
    pub id_len: usize,
    pub size: (u16, u16),
    pub quit: bool,
}

/// Queue sizes kept for the chart (more than any screen is wide).
const HISTORY: usize = 1024;

/// Rows in the table area: the screen less the header (3 lines), the
/// column titles and the status line.
pub fn table_height(size: (u16, u16)) -> usize {
    (size.1 as usize).saturating_sub(5).max(1)
}

impl App {
    pub fn new(queue_path: String, now: Timestamp, color: bool) -> App {
        App {
            queue_path,
            now,
            stuck_after: SignedDuration::from_hours(1),
            color,
            store: Store::default(),
            rows: Vec::new(),
            selected: 0,
            offset: 0,
            marks: HashMap::new(),
            sort: Column::Next,
            descending: false,
            counts: Counts::default(),
            generation: 0,
            loading: None,
            streamed: false,
            keep: None,
            filter: String::new(),
            mode: Mode::Normal,
            view: View::Table,
            detail: None,
            detail_scroll: 0,
            stats: None,
            stats_at: None,
            stats_wanted: false,
            history: Vec::new(),
            writer: None,
            last_refresh: None,
            message: None,
            id_len: 8,
            size: (80, 24),
            quit: false,
        }
    }

    /// The first scan, with `filter` (may be empty).
    pub fn start(&mut self, filter: &str) -> Vec<Effect> {
        self.filter = filter.to_string();
        self.scan(true)
    }

    pub fn scope(&self) -> Scope {
        match self.mode {
            Mode::Normal => Scope::Browse,
            Mode::Input { .. } => Scope::Input,
            Mode::Confirm { .. } => Scope::Confirm,
            Mode::Help { .. } => Scope::Help,
            Mode::Running { .. } => Scope::Progress,
        }
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.rows.get(self.selected)
    }

    fn selection(&self) -> Result<Selection, String> {
        super::filter::parse(&self.filter, self.now, self.stuck_after)
    }

    fn scan(&mut self, stream: bool) -> Vec<Effect> {
        match self.selection() {
            Ok(sel) => {
                self.generation += 1;
                self.loading = Some(0);
                vec![Effect::Scan {
                    generation: self.generation,
                    selection: Box::new(sel),
                    stream,
                }]
            }
            Err(e) => {
                self.message = Some(format!("filter: {e}"));
                Vec::new()
            }
        }
    }

    fn move_to(&mut self, i: usize) -> Vec<Effect> {
        let old = self.selected_row().map(|r| r.id);
        self.selected = i.min(self.rows.len().saturating_sub(1));
        let h = table_height(self.size);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + h {
            self.offset = self.selected + 1 - h;
        }
        if old != self.selected_row().map(|r| r.id) {
            self.detail_scroll = 0;
            return self.want_detail();
        }
        Vec::new()
    }

    fn want_detail(&self) -> Vec<Effect> {
        match (self.view, self.selected_row()) {
            (View::Detail, Some(r)) => {
                let id = self.store.entry_id(r.id);
                if self.detail.as_ref().is_some_and(|d| d.id == id) {
                    return Vec::new();
                }
                vec![Effect::LoadDetail(r.state, id)]
            }
            _ => Vec::new(),
        }
    }

    fn set_view(&mut self, v: View) -> Vec<Effect> {
        self.view = v;
        match v {
            View::Detail => self.want_detail(),
            View::Summary => vec![Effect::LoadStats],
            View::Table => Vec::new(),
        }
    }

    /// The entries an action applies to: every mark, else the selected one.
    pub fn targets(&self) -> Vec<(State, EntryId)> {
        if self.marks.is_empty() {
            return self
                .selected_row()
                .map(|r| vec![(r.state, self.store.entry_id(r.id))])
                .unwrap_or_default();
        }
        let mut t: Vec<(State, EntryId)> = self
            .marks
            .iter()
            .map(|(&id, &s)| (s, self.store.entry_id(id)))
            .collect();
        t.sort_by(|a, b| a.1.cmp(&b.1));
        t
    }

    /// The targets `verb` can act on. Release and recover share the
    /// library's move to queue/, so each keeps only its own state: release
    /// must not recover an inflight entry, nor recover release a held one.
    pub fn targets_for(&self, verb: Verb) -> Vec<(State, EntryId)> {
        let mut t = self.targets();
        match verb {
            Verb::Release => t.retain(|(s, _)| *s == State::Held),
            Verb::Recover => t.retain(|(s, _)| matches!(s, State::Inflight | State::Claimed | State::ClaimedHeld)),
            _ => {}
        }
        t
    }

    fn ask(&mut self, verb: Verb) -> Vec<Effect> {
        let all = self.targets().len();
        let count = self.targets_for(verb).len();
        if all == 0 {
            self.message = Some("nothing to act on".into());
        } else if count == 0 {
            self.message = Some(match verb {
                Verb::Release => "release: no held entry among them".into(),
                Verb::Recover => "recover: no inflight entry among them".into(),
                v => format!("{}: nothing to act on", v.name()),
            });
        } else {
            self.mode = Mode::Confirm { verb, count };
        }
        Vec::new()
    }

    /// Sorts the rows and keeps the selected entry selected.
    fn resort(&mut self) {
        let keep = self.selected_row().map(|r| r.id);
        self.sort_rows();
        self.reselect(keep);
    }

    fn sort_rows(&mut self) {
        let strings = &self.store.strings;
        let col = self.sort;
        let key_cmp = |a: &Row, b: &Row| -> std::cmp::Ordering {
            match col {
                Column::Id => a.id.cmp(&b.id),
                Column::State => a.state.cmp(&b.state),
                Column::From => strings.get(a.from).cmp(strings.get(b.from)),
                Column::To => strings.get(a.to).cmp(strings.get(b.to)),
                Column::Next => a.at.cmp(&b.at),
                Column::Last => a.last.cmp(&b.last),
                // Oldest first: the smallest written time is the largest age.
                Column::Age => b.written.cmp(&a.written),
                Column::Size => a.size.cmp(&b.size),
                Column::Subject => strings.get(a.subject).cmp(strings.get(b.subject)),
            }
        };
        let desc = self.descending;
        self.rows.sort_by(|a, b| {
            let o = key_cmp(a, b).then_with(|| a.id.cmp(&b.id));
            if desc { o.reverse() } else { o }
        });
    }

    fn reselect(&mut self, keep: Option<RowId>) {
        if let Some(id) = keep
            && let Some(i) = self.rows.iter().position(|r| r.id == id)
        {
            self.selected = i;
        }
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
        let h = table_height(self.size);
        if self.selected < self.offset || self.selected >= self.offset + h {
            self.offset = self.selected.saturating_sub(h / 2);
        }
    }

    fn loaded(&mut self, rows: Vec<RawRow>, counts: Counts, first: bool, done: bool) -> Vec<Effect> {
        if first {
            self.keep = self.selected_row().map(|r| r.id);
            // A new picture read in pieces starts at the top when complete;
            // a refresh read whole keeps the selected entry.
            self.streamed = !done;
            self.rows.clear();
            // Strings of the old picture go with it: memory follows the
            // queue's size, not the length of the session.
            self.store.strings = Default::default();
            self.counts = Counts::default();
            self.loading = Some(0);
        }
        self.counts.add(&counts);
        for raw in rows {
            let row = self.store.row(raw);
            if let Some(s) = self.marks.get_mut(&row.id) {
                *s = row.state;
            }
            self.rows.push(row);
        }
        if !done {
            self.loading = Some(self.rows.len() as u64);
            self.selected = self.selected.min(self.rows.len().saturating_sub(1));
            return Vec::new();
        }
        self.loading = None;
        self.rows.shrink_to_fit();
        self.store.strings.shrink();
        self.last_refresh = Some(self.now);
        self.history.push(self.counts.total());
        if self.history.len() > HISTORY {
            self.history.drain(..self.history.len() - HISTORY);
        }
        let mut ids: Vec<[u8; 16]> = self
            .rows
            .iter()
            .filter_map(|r| match r.id {
                RowId::Uuid(b) => Some(b),
                RowId::Raw(_) => None,
            })
            .collect();
        self.id_len = unique_prefix_len(&mut ids, 8);
        self.sort_rows();
        let keep = self.keep.take();
        if std::mem::take(&mut self.streamed) {
            self.selected = 0;
            self.offset = 0;
        } else {
            self.reselect(keep);
        }
        let mut fx = self.want_detail();
        // The domain × age table costs a full read of the queue: redo it when
        // asked (Ctrl-R), not on every change a live writer makes.
        if self.view == View::Summary && std::mem::take(&mut self.stats_wanted) {
            fx.push(Effect::LoadStats);
        }
        fx
    }

    fn submit(&mut self) -> Vec<Effect> {
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Input {
                kind: InputKind::Filter,
                text,
            } => {
                let old = std::mem::replace(&mut self.filter, text.trim().to_string());
                match self.selection() {
                    Ok(_) => {
                        self.message = None;
                        self.scan(true)
                    }
                    Err(e) => {
                        // Keep what was typed so it can be fixed.
                        self.mode = Mode::Input {
                            kind: InputKind::Filter,
                            text: self.filter.clone(),
                        };
                        self.filter = old;
                        self.message = Some(format!("filter: {e}"));
                        Vec::new()
                    }
                }
            }
            Mode::Input {
                kind: InputKind::DeferBy,
                text,
            } => match crate::timespec::duration(&text) {
                Ok(d) => self.ask(Verb::Defer(d)),
                Err(e) => {
                    self.message = Some(e);
                    self.mode = Mode::Input {
                        kind: InputKind::DeferBy,
                        text,
                    };
                    Vec::new()
                }
            },
            Mode::Confirm { verb, .. } => {
                let targets = self.targets_for(verb);
                self.mode = Mode::Running {
                    verb,
                    done: 0,
                    total: targets.len() as u64,
                    cancelling: false,
                };
                self.message = None;
                vec![Effect::Apply {
                    verb,
                    op: verb.op(self.now),
                    targets,
                }]
            }
            m => {
                self.mode = m;
                Vec::new()
            }
        }
    }

    fn cancel(&mut self) -> Vec<Effect> {
        match &mut self.mode {
            Mode::Input {
                kind: InputKind::Filter,
                ..
            } => {
                self.mode = Mode::Normal;
                self.clear_filter()
            }
            Mode::Running { cancelling, .. } => {
                *cancelling = true;
                vec![Effect::Cancel]
            }
            _ => {
                self.mode = Mode::Normal;
                Vec::new()
            }
        }
    }

    fn clear_filter(&mut self) -> Vec<Effect> {
        if self.filter.is_empty() {
            return Vec::new();
        }
        self.filter.clear();
        self.message = None;
        self.scan(true)
    }
}

/// Applies one action to the state; returns the I/O it calls for.
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    let page = table_height(app.size).saturating_sub(1).max(1);
    if let Mode::Help { scroll } = &mut app.mode {
        match action {
            Action::Down => *scroll = scroll.saturating_add(1),
            Action::Up => *scroll = scroll.saturating_sub(1),
            Action::PageDown => *scroll = scroll.saturating_add(page as u16),
            Action::PageUp => *scroll = scroll.saturating_sub(page as u16),
            _ => {}
        }
    }
    if matches!(app.mode, Mode::Help { .. })
        && matches!(action, Action::Down | Action::Up | Action::PageDown | Action::PageUp)
    {
        return Vec::new();
    }
    match action {
        // Esc then a key, arriving together over a slow link, reads as
        // Alt+key: take it as the two keys the user typed.
        Action::Key(ev) if ev.modifiers.contains(KeyModifiers::ALT) && matches!(ev.code, KeyCode::Char(_)) => {
            let mut fx = update(app, Action::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
            let plain = KeyEvent::new(ev.code, ev.modifiers - KeyModifiers::ALT);
            fx.extend(update(app, Action::Key(plain)));
            fx
        }
        Action::Key(ev) => match keys::action_for(app.scope(), &ev) {
            Some(a) => update(app, a),
            None => Vec::new(),
        },
        Action::Resize(w, h) => {
            app.size = (w, h);
            let keep = app.selected_row().map(|r| r.id);
            app.reselect(keep);
            Vec::new()
        }
        Action::Tick(now) => {
            app.now = now;
            Vec::new()
        }
        Action::Down => app.move_to(app.selected + 1),
        Action::Up => app.move_to(app.selected.saturating_sub(1)),
        Action::PageDown if app.view == View::Detail => {
            app.detail_scroll = app.detail_scroll.saturating_add(page as u16);
            Vec::new()
        }
        Action::PageUp if app.view == View::Detail => {
            app.detail_scroll = app.detail_scroll.saturating_sub(page as u16);
            Vec::new()
        }
        Action::PageDown => app.move_to(app.selected + page),
        Action::PageUp => app.move_to(app.selected.saturating_sub(page)),
        Action::Top => app.move_to(0),
        Action::Bottom => app.move_to(app.rows.len().saturating_sub(1)),
        Action::NextView => app.set_view(match app.view {
            View::Table => View::Detail,
            View::Detail => View::Summary,
            View::Summary => View::Table,
        }),
        Action::PrevView => app.set_view(match app.view {
            View::Table => View::Summary,
            View::Detail => View::Table,
            View::Summary => View::Detail,
        }),
        Action::OpenDetail => app.set_view(View::Detail),
        Action::Back => {
            if app.view != View::Table {
                app.set_view(View::Table)
            } else {
                app.clear_filter()
            }
        }
        Action::StartFilter => {
            app.mode = Mode::Input {
                kind: InputKind::Filter,
                text: app.filter.clone(),
            };
            Vec::new()
        }
        Action::ToggleMark => {
            if let Some(r) = app.selected_row().copied() {
                if app.marks.remove(&r.id).is_none() {
                    app.marks.insert(r.id, r.state);
                }
                return app.move_to(app.selected + 1);
            }
            Vec::new()
        }
        Action::MarkAll => {
            for r in &app.rows {
                app.marks.insert(r.id, r.state);
            }
            Vec::new()
        }
        Action::ClearMarks => {
            app.marks.clear();
            Vec::new()
        }
        Action::Hold => app.ask(Verb::Hold),
        Action::Release => app.ask(Verb::Release),
        Action::RetryNow => app.ask(Verb::RetryNow),
        Action::Drop => app.ask(Verb::Drop),
        Action::Recover => app.ask(Verb::Recover),
        Action::Defer => {
            app.mode = Mode::Input {
                kind: InputKind::DeferBy,
                text: String::new(),
            };
            Vec::new()
        }
        Action::SortNext | Action::SortPrev => {
            let n = Column::ALL.len();
            let step = if matches!(action, Action::SortNext) { 1 } else { n - 1 };
            app.sort = Column::ALL[(app.sort.index() + step) % n];
            app.resort();
            Vec::new()
        }
        Action::SortReverse => {
            app.descending = !app.descending;
            app.resort();
            Vec::new()
        }
        Action::Refresh => {
            app.stats_wanted = app.view == View::Summary;
            app.scan(false)
        }
        Action::Help => {
            app.mode = Mode::Help { scroll: 0 };
            Vec::new()
        }
        Action::Quit => {
            app.quit = true;
            vec![Effect::Quit]
        }
        Action::Input(c) => {
            if let Mode::Input { text, .. } = &mut app.mode {
                text.push(c);
            }
            Vec::new()
        }
        Action::Backspace => {
            if let Mode::Input { text, .. } = &mut app.mode {
                text.pop();
            }
            Vec::new()
        }
        Action::ClearInput => {
            if let Mode::Input { text, .. } = &mut app.mode {
                text.clear();
            }
            Vec::new()
        }
        Action::Submit => app.submit(),
        Action::Cancel => app.cancel(),
        Action::Loaded {
            generation,
            rows,
            counts,
            first,
            done,
        } => {
            if generation != app.generation {
                return Vec::new();
            }
            app.loaded(rows, counts, first, done)
        }
        Action::Detail(d) => {
            app.detail = Some(d);
            Vec::new()
        }
        Action::Stats(s) => {
            app.stats = Some(s);
            app.stats_at = Some(app.now);
            Vec::new()
        }
        Action::Writer(w) => {
            app.writer = w;
            Vec::new()
        }
        Action::Progress { done } => {
            if let Mode::Running { done: d, .. } = &mut app.mode {
                *d = done;
            }
            Vec::new()
        }
        Action::Finished { summary } => {
            app.mode = Mode::Normal;
            app.message = Some(summary);
            app.marks.clear();
            app.detail = None;
            app.scan(false)
        }
        Action::Error(e) => {
            app.message = Some(e);
            app.loading = None;
            Vec::new()
        }
    }
}

/// The age of a row's message, in seconds (for display).
pub fn age_secs(r: &Row, now: Timestamp) -> Option<i64> {
    (r.written != NO_TIME).then(|| now.as_second() - r.written)
}
