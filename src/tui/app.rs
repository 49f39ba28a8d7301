//! The TUI's state and the one function that changes it: `update`. It does
//! no I/O; what must be read or changed on disk comes back as `Effect`s the
//! event loop hands to the worker.
//!
//! `update` takes three kinds of message: an `Event` from the terminal or
//! the clock, an `Intent` (what a key means, from the key table) and a
//! `Report` from the worker. Each kind has its own handler.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::keys::{self, Scope};
use super::row::{Interner, NO_STR, NO_TIME, RawRow, Row, RowId, Store, unique_prefix_len};
use crate::queue::holds::MAX_REASON;
use crate::queue::ops::{EntryOp, Reschedule};
use crate::queue::{EntryId, State};
use crate::select::Selection;
use crate::stats::Stats;

/// How the TUI follows the queue, and how fast it moves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    /// Events come as things change: what moved is read, and only that.
    pub watching: bool,
    /// Why the queue is read again every few seconds instead (a network
    /// filesystem), when it is.
    pub polling: Option<String>,
    /// Per minute, over the last minute and the last ten.
    pub rates: crate::queue::events::RatesNow,
}

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

    /// Counts one entry's row.
    pub fn count(&mut self, r: &Row, now: Timestamp, stuck_after: SignedDuration) {
        self.tally(r, now, stuck_after, true);
    }

    /// Takes back what `count` added for this row at the same `now`.
    pub fn uncount(&mut self, r: &Row, now: Timestamp, stuck_after: SignedDuration) {
        self.tally(r, now, stuck_after, false);
    }

    fn tally(&mut self, r: &Row, now: Timestamp, stuck_after: SignedDuration, add: bool) {
        let bump = |n: &mut u64| {
            *n = if add { *n + 1 } else { n.saturating_sub(1) };
        };
        match r.state {
            State::Queued => {
                bump(&mut self.queue);
                match r.at() {
                    NO_TIME => {}
                    at if at <= now.as_second() => bump(&mut self.due),
                    _ => bump(&mut self.deferred),
                }
            }
            State::Inflight => {
                bump(&mut self.inflight);
                if r.is_stuck(now, stuck_after) {
                    bump(&mut self.stuck);
                }
            }
            State::Cleanup => bump(&mut self.cleanup),
            State::Held => bump(&mut self.hold),
            State::Claimed | State::ClaimedHeld => bump(&mut self.claimed),
        }
        if r.broken {
            bump(&mut self.broken);
        }
    }
}

/// The moments ahead at which a row counts differently (a deferred entry
/// becomes due, an inflight one stuck), soonest first: the clock moving
/// costs the rows that turn, not a pass over the whole table.
#[derive(Debug, Default)]
pub struct Turns {
    /// (when, slot); a slot's row may have changed since: checked on use.
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(i64, u32)>>,
    /// The time the counts are as of.
    as_of: Option<Timestamp>,
}

impl Turns {
    pub fn clear(&mut self, now: Timestamp) {
        self.heap.clear();
        self.as_of = Some(now);
    }

    /// Notes a row just counted, if it turns later.
    fn note(&mut self, slot: u32, r: &Row, stuck_after: SignedDuration) {
        let as_of = self.as_of.map_or(i64::MIN, |t| t.as_second());
        if let Some(t) = r.turn(stuck_after).filter(|&t| t > as_of) {
            self.heap.push(std::cmp::Reverse((t, slot)));
        }
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

impl View {
    /// Tab's order: table, detail, summary, and round again.
    fn next(self) -> View {
        match self {
            View::Table => View::Detail,
            View::Detail => View::Summary,
            View::Summary => View::Table,
        }
    }

    fn prev(self) -> View {
        self.next().next()
    }
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
    /// Retry from now, the attempts spread over this long (paced retry).
    RetrySpread(SignedDuration),
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
            Verb::RetrySpread(_) => "Retry",
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
            // Each entry's time is placed by the worker (`change::spread`).
            Verb::RetrySpread(_) => EntryOp::Schedule(Reschedule::PerEntry),
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
            Verb::RetryNow | Verb::RetrySpread(_) => V::Reschedule,
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
    /// How long a retry is spread over.
    SpreadOver,
    /// Why a hold is made (the note `hold --reason` writes).
    HoldReason,
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
        /// For a hold: the reason typed (`r` in the dialog).
        reason: Option<String>,
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

/// What the terminal and the clock say.
#[derive(Debug, Clone)]
pub enum Event {
    Key(KeyEvent),
    Resize(u16, u16),
    Tick(Timestamp),
}

/// What a key means: the key table (`keys::BINDINGS`) maps keys to these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
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
    /// In the retry dialog: spread the attempts over a while instead.
    Spread,
    /// In the hold dialog: type why.
    Reason,
}

/// What the worker thread reports back.
#[derive(Debug, Clone)]
pub enum Report {
    /// Entries read by a scan. `first` starts a new picture of the queue;
    /// `done` ends it.
    Loaded {
        generation: u64,
        rows: Vec<RawRow>,
        first: bool,
        done: bool,
    },
    /// Entries that moved since (the watch told the worker, which read
    /// those and only those): each one's row as it is now, or gone.
    Changed {
        generation: u64,
        rows: Vec<RawRow>,
        gone: Vec<EntryId>,
    },
    /// How fast the queue moves, and how the worker learns of it.
    Live(Live),
    Detail(Arc<Detail>),
    Stats(Arc<Stats>),
    Writer(Option<String>),
    Progress {
        done: u64,
    },
    /// A change ended. `failure` is the first entry it could not change,
    /// with the reason.
    Finished {
        summary: String,
        failure: Option<(EntryId, String)>,
    },
    Error(String),
}

/// Everything `update` takes: an event, an intent or a report. The event
/// loop reads them all from one channel.
#[derive(Debug, Clone)]
pub enum Msg {
    Event(Event),
    Intent(Intent),
    Report(Report),
}

impl From<Event> for Msg {
    fn from(e: Event) -> Msg {
        Msg::Event(e)
    }
}

impl From<Intent> for Msg {
    fn from(i: Intent) -> Msg {
        Msg::Intent(i)
    }
}

impl From<Report> for Msg {
    fn from(r: Report) -> Msg {
        Msg::Report(r)
    }
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
        /// Why, for a hold (the note's reason).
        reason: Option<String>,
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
    /// The rows the filter shows, in display order: slots of
    /// `store.table`, which holds every entry's row (for the counts).
    pub rows: Vec<u32>,
    pub selected: usize,
    /// First row on screen (kept so the view does not jump while moving).
    pub offset: usize,
    pub marks: HashMap<RowId, State>,
    pub sort: Column,
    pub descending: bool,
    pub counts: Counts,
    /// When rows will count differently as time passes.
    turns: Turns,
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
    pub demand: Demand,
    pub live: Live,
    /// First domain on screen in the summary.
    pub summary_scroll: u16,
    pub size: (u16, u16),
    pub quit: bool,
}

/// Queue sizes kept for the chart (more than any screen is wide).
const HISTORY: usize = 1024;

/// How wide the widest value of each text column is, over the rows shown:
/// the table shares its width by what the columns hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Demand {
    pub state: usize,
    pub from: usize,
    pub to: usize,
    pub subject: usize,
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
            turns: Turns::default(),
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
            demand: Demand::default(),
            live: Live::default(),
            summary_scroll: 0,
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

    /// Rows the table shows on this screen.
    pub fn table_height(&self) -> usize {
        super::render::table_rows(self)
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.rows.get(self.selected).map(|&s| self.store.table.get(s))
    }

    /// The `i`-th row shown.
    pub fn row(&self, i: usize) -> &Row {
        self.store.table.get(self.rows[i])
    }

    /// Counts every entry into the header's counts, as of `self.now`.
    pub fn recount(&mut self) {
        let mut c = Counts::default();
        self.turns.clear(self.now);
        for (slot, r) in self.store.table.iter() {
            c.count(r, self.now, self.stuck_after);
            self.turns.note(slot, r, self.stuck_after);
        }
        self.counts = c;
    }

    /// A row into the counts (as of the time they are as of).
    fn count_in(&mut self, slot: u32, r: &Row) {
        let at = self.turns.as_of.unwrap_or(self.now);
        self.counts.count(r, at, self.stuck_after);
        self.turns.note(slot, r, self.stuck_after);
    }

    /// A row out of the counts.
    fn count_out(&mut self, r: &Row) {
        let at = self.turns.as_of.unwrap_or(self.now);
        self.counts.uncount(r, at, self.stuck_after);
    }

    /// Brings the counts to `now`: each row whose turn has come moves from
    /// deferred to due, or becomes stuck.
    fn advance(&mut self, now: Timestamp) {
        let (now_s, mut last) = (now.as_second(), None);
        while let Some(&std::cmp::Reverse((t, slot))) = self.turns.heap.peek() {
            if t > now_s {
                break;
            }
            self.turns.heap.pop();
            // The same turn noted twice (a slot taken again by a row with
            // the same time) counts once.
            if last.replace((t, slot)) == Some((t, slot)) {
                continue;
            }
            let Some(r) = self.store.table.try_get(slot) else {
                continue;
            };
            if r.turn(self.stuck_after) != Some(t) {
                continue;
            }
            match r.state {
                State::Queued => {
                    self.counts.deferred = self.counts.deferred.saturating_sub(1);
                    self.counts.due += 1;
                }
                State::Inflight => self.counts.stuck += 1,
                _ => {}
            }
        }
        if self.turns.as_of.is_none_or(|a| a < now) {
            self.turns.as_of = Some(now);
        }
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
        let h = self.table_height();
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
            self.mode = Mode::Confirm {
                verb,
                count,
                reason: None,
            };
        }
        Vec::new()
    }

    /// Sorts the rows and shows the top of the new order: a sorted list
    /// seen from its middle looks unsorted.
    fn resort(&mut self) -> Vec<Effect> {
        self.sort_rows();
        self.offset = 0;
        self.move_to(0)
    }

    /// The display order of two shown rows (by slot).
    fn order(&self) -> impl Fn(&u32, &u32) -> std::cmp::Ordering + '_ {
        let (table, strings) = (&self.store.table, &self.store.strings);
        let (col, desc) = (self.sort, self.descending);
        move |&x, &y| {
            let (a, b) = (table.get(x), table.get(y));
            let o = match col {
                Column::Id => a.id.cmp(&b.id),
                Column::State => a.state.cmp(&b.state),
                Column::From => strings.get(a.from).cmp(strings.get(b.from)),
                Column::To => strings.get(a.to).cmp(strings.get(b.to)),
                Column::Next => a.at().cmp(&b.at()),
                Column::Last => a.last().cmp(&b.last()),
                // Oldest first: the smallest written time is the largest age.
                Column::Age => b.written().cmp(&a.written()),
                Column::Size => a.size().cmp(&b.size()),
                Column::Subject => strings.get(a.subject).cmp(strings.get(b.subject)),
            }
            .then_with(|| a.id.cmp(&b.id));
            if desc { o.reverse() } else { o }
        }
    }

    /// Puts the shown rows in the display order, the same order as
    /// `order()`. Comparing rows reads two of them from all over memory per
    /// comparison (seconds at a million rows); this reads each row once
    /// for a fixed-size key and sorts the keys.
    fn sort_rows(&mut self) {
        let (table, strings) = (&self.store.table, &self.store.strings);
        let col = self.sort;
        let text = |r: &Row| match col {
            Column::From => r.from,
            Column::To => r.to,
            _ => r.subject,
        };
        let ranks = match col {
            Column::From | Column::To | Column::Subject => {
                string_ranks(strings, self.rows.iter().map(|&s| text(table.get(s))))
            }
            _ => StringRanks::default(),
        };
        let mut keyed: Vec<(u64, RowId, u32)> = self
            .rows
            .iter()
            .map(|&slot| {
                let r = table.get(slot);
                let key = match col {
                    Column::Id => 0,
                    Column::State => r.state as u64,
                    Column::From | Column::To | Column::Subject => ranks.of(text(r)),
                    Column::Next => time_key(r.at()),
                    Column::Last => time_key(r.last()),
                    // Oldest first: the smallest written time is the largest age.
                    Column::Age => !time_key(r.written()),
                    Column::Size => r.size(),
                };
                (key, r.id, slot)
            })
            .collect();
        // Ids are unique: the keys are all different, and the reverse
        // order is the order reversed.
        keyed.sort_unstable();
        if self.descending {
            keyed.reverse();
        }
        self.rows.clear();
        self.rows.extend(keyed.into_iter().map(|(_, _, slot)| slot));
    }

    fn reselect(&mut self, keep: Option<RowId>) {
        if let Some(id) = keep
            && let Some(slot) = self.store.table.slot(&id)
            && let Some(i) = self.rows.iter().position(|&s| s == slot)
        {
            self.selected = i;
        }
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
        let h = self.table_height();
        if self.selected < self.offset || self.selected >= self.offset + h {
            self.offset = self.selected.saturating_sub(h / 2);
        }
    }

    /// Interns a row and puts it in its slot; returns the slot, the row and
    /// the one it replaced.
    fn take_row(&mut self, raw: RawRow) -> (u32, Row, Option<Row>) {
        // The columns share the width by what the rows shown hold.
        if raw.shown {
            let d = &mut self.demand;
            d.state = d.state.max(raw.state.dir().len() + usize::from(raw.broken));
            // Bytes, not columns: cheap, and never less than the width.
            let len = |s: &Option<String>| s.as_ref().map_or(0, String::len);
            d.from = d.from.max(len(&raw.from));
            d.to = d.to.max(len(&raw.to));
            d.subject = d.subject.max(len(&raw.subject));
        }
        let row = self.store.row(raw);
        if let Some(s) = self.marks.get_mut(&row.id) {
            *s = row.state;
        }
        let (slot, old) = self.store.table.upsert(row);
        (slot, row, old)
    }

    fn loaded(&mut self, rows: Vec<RawRow>, first: bool, done: bool) -> Vec<Effect> {
        if first {
            self.keep = self.selected_row().map(|r| r.id);
            // A new picture read in pieces starts at the top when complete;
            // a refresh read whole keeps the selected entry.
            self.streamed = !done;
            self.rows.clear();
            // The old picture and its strings go: memory follows the
            // queue's size, not the length of the session.
            self.store.reset();
            self.counts = Counts::default();
            self.turns.clear(self.now);
            self.demand = Demand::default();
            self.loading = Some(0);
        }
        for raw in rows {
            let (slot, row, old) = self.take_row(raw);
            if old.is_none() {
                self.count_in(slot, &row);
                if row.shown {
                    self.rows.push(slot);
                }
            }
        }
        if !done {
            self.loading = Some(self.store.table.len() as u64);
            self.selected = self.selected.min(self.rows.len().saturating_sub(1));
            return Vec::new();
        }
        self.loading = None;
        self.rows.shrink_to_fit();
        self.store.table.shrink();
        self.store.strings.settle();
        self.recount();
        self.last_refresh = Some(self.now);
        self.history.push(self.counts.total());
        if self.history.len() > HISTORY {
            self.history.drain(..self.history.len() - HISTORY);
        }
        let mut ids: Vec<[u8; 16]> = self
            .rows
            .iter()
            .filter_map(|&s| match self.store.table.get(s).id {
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

    /// Entries that moved: their rows change in place, the view takes out
    /// what it no longer shows and merges in what it now shows, in order.
    /// The cost is that of the entries that changed (and one pass over the
    /// view), not a new read of the queue.
    fn changed(&mut self, rows: Vec<RawRow>, gone: Vec<EntryId>) -> Vec<Effect> {
        let keep = self.selected_row().map(|r| r.id);
        self.advance(self.now);
        let mut out: std::collections::HashSet<u32> = std::collections::HashSet::new();
        let mut into: Vec<u32> = Vec::new();
        let mut touched: std::collections::HashSet<RowId> = std::collections::HashSet::new();
        for id in gone {
            let Some(rid) = self.store.row_id(&id) else { continue };
            if let Some((slot, old)) = self.store.table.remove(&rid) {
                self.count_out(&old);
                if old.shown {
                    out.insert(slot);
                }
                self.marks.remove(&rid);
                touched.insert(rid);
            }
        }
        for raw in rows {
            let (slot, row, old) = self.take_row(raw);
            if let Some(o) = old {
                self.count_out(&o);
            }
            self.count_in(slot, &row);
            if old.is_some_and(|o| o.shown) {
                out.insert(slot);
            }
            if row.shown {
                into.push(slot);
            }
            touched.insert(row.id);
        }
        // A slot freed and taken again in this batch is both out and in.
        if !out.is_empty() {
            self.rows.retain(|s| !out.contains(s));
        }
        if !into.is_empty() {
            into.sort_by(self.order());
            into.dedup();
            let order = self.order();
            let mut merged = Vec::with_capacity(self.rows.len() + into.len());
            let (mut i, mut j) = (0, 0);
            while i < self.rows.len() && j < into.len() {
                if order(&self.rows[i], &into[j]).is_le() {
                    merged.push(self.rows[i]);
                    i += 1;
                } else {
                    merged.push(into[j]);
                    j += 1;
                }
            }
            merged.extend_from_slice(&self.rows[i..]);
            merged.extend_from_slice(&into[j..]);
            drop(order);
            self.rows = merged;
        }
        self.store.compact_if_worth_it();
        self.reselect(keep);
        // The detail of an entry that moved is read again.
        if self
            .detail
            .as_ref()
            .is_some_and(|d| self.store.row_id(&d.id).is_some_and(|rid| touched.contains(&rid)))
        {
            self.detail = None;
        }
        self.want_detail()
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
            Mode::Input {
                kind: InputKind::SpreadOver,
                text,
            } => match crate::timespec::duration(&text) {
                Ok(d) if d.is_positive() => self.ask(Verb::RetrySpread(d)),
                Ok(_) => self.ask(Verb::RetryNow),
                Err(e) => {
                    self.message = Some(e);
                    self.mode = Mode::Input {
                        kind: InputKind::SpreadOver,
                        text,
                    };
                    Vec::new()
                }
            },
            Mode::Input {
                kind: InputKind::HoldReason,
                text,
            } => {
                let reason = text.trim();
                if reason.len() > MAX_REASON {
                    self.message = Some(format!("a reason is at most {MAX_REASON} bytes"));
                    self.mode = Mode::Input {
                        kind: InputKind::HoldReason,
                        text,
                    };
                    return Vec::new();
                }
                let reason = (!reason.is_empty()).then(|| reason.to_owned());
                self.ask(Verb::Hold);
                if let Mode::Confirm { reason: r, .. } = &mut self.mode {
                    *r = reason;
                }
                Vec::new()
            }
            Mode::Confirm { verb, reason, .. } => {
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
                    reason,
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

/// Applies one message to the state; returns the I/O it calls for.
pub fn update(app: &mut App, msg: impl Into<Msg>) -> Vec<Effect> {
    match msg.into() {
        Msg::Event(e) => app.on_event(e),
        Msg::Intent(i) => app.on_intent(i),
        Msg::Report(r) => app.on_report(r),
    }
}

impl App {
    fn on_event(&mut self, e: Event) -> Vec<Effect> {
        match e {
            // Esc then a key, arriving together over a slow link, reads as
            // Alt+key (no binding uses Alt): take it as the two keys the
            // user typed.
            Event::Key(ev) if ev.modifiers.contains(KeyModifiers::ALT) => {
                let mut fx = self.on_event(Event::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
                let plain = KeyEvent::new(ev.code, ev.modifiers - KeyModifiers::ALT);
                fx.extend(self.on_event(Event::Key(plain)));
                fx
            }
            Event::Key(ev) => match keys::intent_for(self.scope(), &ev) {
                Some(i) => self.on_intent(i),
                None => Vec::new(),
            },
            Event::Resize(w, h) => {
                self.size = (w, h);
                let keep = self.selected_row().map(|r| r.id);
                self.reselect(keep);
                Vec::new()
            }
            Event::Tick(now) => {
                // Entries become due, and inflight ones stuck, as time
                // passes (a load in progress counts when it is done).
                self.now = now;
                if self.loading.is_none() {
                    self.advance(now);
                }
                Vec::new()
            }
        }
    }

    /// One line per intent: what it means in the state the app is in.
    fn on_intent(&mut self, i: Intent) -> Vec<Effect> {
        let page = self.table_height().saturating_sub(1).max(1);
        if let Mode::Help { scroll } = &mut self.mode {
            let s = *scroll;
            *scroll = match i {
                Intent::Down => s.saturating_add(1),
                Intent::Up => s.saturating_sub(1),
                Intent::PageDown => s.saturating_add(page as u16),
                Intent::PageUp => s.saturating_sub(page as u16),
                _ => s,
            };
            if matches!(i, Intent::Down | Intent::Up | Intent::PageDown | Intent::PageUp) {
                return Vec::new();
            }
        }
        let detail = self.view == View::Detail;
        let summary = self.view == View::Summary;
        match i {
            Intent::Down | Intent::Up | Intent::PageDown | Intent::PageUp | Intent::Top | Intent::Bottom if summary => {
                self.scroll_summary(i, page)
            }
            Intent::Down => self.move_to(self.selected + 1),
            Intent::Up => self.move_to(self.selected.saturating_sub(1)),
            Intent::PageDown if detail => self.scroll_detail(self.detail_scroll.saturating_add(page as u16)),
            Intent::PageUp if detail => self.scroll_detail(self.detail_scroll.saturating_sub(page as u16)),
            Intent::PageDown => self.move_to(self.selected + page),
            Intent::PageUp => self.move_to(self.selected.saturating_sub(page)),
            Intent::Top => self.move_to(0),
            Intent::Bottom => self.move_to(self.rows.len().saturating_sub(1)),
            Intent::NextView => self.set_view(self.view.next()),
            Intent::PrevView => self.set_view(self.view.prev()),
            Intent::OpenDetail => self.set_view(View::Detail),
            Intent::Back => self.back(),
            Intent::StartFilter => self.start_input(InputKind::Filter, self.filter.clone()),
            Intent::ToggleMark => self.toggle_mark(),
            Intent::MarkAll => self.mark_all(),
            Intent::ClearMarks => self.clear_marks(),
            Intent::Hold => self.ask(Verb::Hold),
            Intent::Release => self.ask(Verb::Release),
            Intent::RetryNow => self.ask(Verb::RetryNow),
            Intent::Drop => self.ask(Verb::Drop),
            Intent::Recover => self.ask(Verb::Recover),
            Intent::Defer => self.start_input(InputKind::DeferBy, String::new()),
            Intent::SortNext => self.sort_step(1),
            Intent::SortPrev => self.sort_step(Column::ALL.len() - 1),
            Intent::SortReverse => self.reverse_sort(),
            Intent::Refresh => self.refresh(),
            Intent::Help => self.open_help(),
            Intent::Quit => self.quit(),
            Intent::Input(c) => self.edit(|t| t.push(c)),
            Intent::Backspace => self.edit(|t| {
                t.pop();
            }),
            Intent::ClearInput => self.edit(String::clear),
            Intent::Submit => self.submit(),
            Intent::Cancel => self.cancel(),
            Intent::Spread => match self.mode {
                Mode::Confirm {
                    verb: Verb::RetryNow, ..
                } => self.start_input(InputKind::SpreadOver, "30m".into()),
                _ => Vec::new(),
            },
            Intent::Reason => match &mut self.mode {
                Mode::Confirm {
                    verb: Verb::Hold,
                    reason,
                    ..
                } => {
                    let typed = reason.take().unwrap_or_default();
                    self.start_input(InputKind::HoldReason, typed)
                }
                _ => Vec::new(),
            },
        }
    }

    fn on_report(&mut self, r: Report) -> Vec<Effect> {
        match r {
            // A scan the user has since replaced (new filter, refresh).
            Report::Loaded { generation, .. } if generation != self.generation => Vec::new(),
            Report::Loaded { rows, first, done, .. } => self.loaded(rows, first, done),
            Report::Changed { generation, .. } if generation != self.generation => Vec::new(),
            Report::Changed { rows, gone, .. } => self.changed(rows, gone),
            Report::Live(l) => {
                self.live = l;
                Vec::new()
            }
            Report::Detail(d) => {
                self.detail = Some(d);
                Vec::new()
            }
            Report::Stats(s) => {
                self.stats = Some(s);
                self.stats_at = Some(self.now);
                Vec::new()
            }
            Report::Writer(w) => {
                self.writer = w;
                Vec::new()
            }
            Report::Progress { done } => {
                if let Mode::Running { done: d, .. } = &mut self.mode {
                    *d = done;
                }
                Vec::new()
            }
            Report::Finished { summary, failure } => {
                self.mode = Mode::Normal;
                self.message = Some(match failure {
                    // The reason matters more than the whole id.
                    Some((id, why)) => format!("{summary}; e.g. {}: {why}", self.short_id(&id)),
                    None => summary,
                });
                self.marks.clear();
                self.detail = None;
                // The watch tells what the change moved; without one, read
                // the queue again.
                if self.live.watching {
                    self.want_detail()
                } else {
                    self.scan(false)
                }
            }
            Report::Error(e) => {
                self.message = Some(e);
                self.loading = None;
                Vec::new()
            }
        }
    }

    fn scroll_detail(&mut self, to: u16) -> Vec<Effect> {
        self.detail_scroll = to;
        Vec::new()
    }

    /// Esc while browsing: back to the table; there, clear the filter.
    fn back(&mut self) -> Vec<Effect> {
        if self.view != View::Table {
            self.set_view(View::Table)
        } else {
            self.clear_filter()
        }
    }

    fn start_input(&mut self, kind: InputKind, text: String) -> Vec<Effect> {
        self.mode = Mode::Input { kind, text };
        Vec::new()
    }

    /// Changes what is being typed (nothing when nothing is).
    fn edit(&mut self, change: impl FnOnce(&mut String)) -> Vec<Effect> {
        if let Mode::Input { text, .. } = &mut self.mode {
            change(text);
        }
        Vec::new()
    }

    /// Space: marks or unmarks the selected entry, then selects the next.
    fn toggle_mark(&mut self) -> Vec<Effect> {
        let Some(r) = self.selected_row().copied() else {
            return Vec::new();
        };
        if self.marks.remove(&r.id).is_none() {
            self.marks.insert(r.id, r.state);
        }
        self.move_to(self.selected + 1)
    }

    fn mark_all(&mut self) -> Vec<Effect> {
        for &s in &self.rows {
            let r = self.store.table.get(s);
            self.marks.insert(r.id, r.state);
        }
        Vec::new()
    }

    fn clear_marks(&mut self) -> Vec<Effect> {
        self.marks.clear();
        Vec::new()
    }

    /// Sorts by the column `step` places on (cyclically).
    fn sort_step(&mut self, step: usize) -> Vec<Effect> {
        let n = Column::ALL.len();
        self.sort = Column::ALL[(self.sort.index() + step) % n];
        self.resort()
    }

    fn reverse_sort(&mut self) -> Vec<Effect> {
        self.descending = !self.descending;
        self.resort()
    }

    /// An id as the table shows it, with `…` when that is not all of it.
    fn short_id(&self, id: &EntryId) -> String {
        let full = crate::output::escape_bytes(id.as_bytes()).into_owned();
        if full.chars().count() <= self.id_len {
            return full;
        }
        let mut s: String = full.chars().take(self.id_len).collect();
        s.push('…');
        s
    }

    /// j/k and the page keys scroll the domain list.
    fn scroll_summary(&mut self, i: Intent, page: usize) -> Vec<Effect> {
        let by = match i {
            Intent::PageDown | Intent::PageUp => page as u16,
            _ => 1,
        };
        self.summary_scroll = match i {
            Intent::Down | Intent::PageDown => self.summary_scroll.saturating_add(by),
            Intent::Up | Intent::PageUp => self.summary_scroll.saturating_sub(by),
            Intent::Top => 0,
            _ => u16::MAX,
        }
        .min(super::render::summary_max_scroll(self));
        Vec::new()
    }

    /// Ctrl-R: re-read the queue now (and, on the summary, its statistics).
    fn refresh(&mut self) -> Vec<Effect> {
        self.stats_wanted = self.view == View::Summary;
        self.scan(false)
    }

    fn open_help(&mut self) -> Vec<Effect> {
        self.mode = Mode::Help { scroll: 0 };
        Vec::new()
    }

    fn quit(&mut self) -> Vec<Effect> {
        self.quit = true;
        vec![Effect::Quit]
    }
}

/// The age of a row's message, in seconds (for display).
pub fn age_secs(r: &Row, now: Timestamp) -> Option<i64> {
    (r.written() != NO_TIME).then(|| now.as_second() - r.written())
}

/// A time as a key that sorts like the time.
fn time_key(t: i64) -> u64 {
    (t as u64) ^ (1 << 63)
}

/// The rank of each interned string among the strings of one column:
/// comparing ranks compares the texts.
#[derive(Default)]
struct StringRanks {
    rank: Vec<u32>,
    none: u32,
}

impl StringRanks {
    fn of(&self, i: u32) -> u64 {
        u64::from(if i == NO_STR { self.none } else { self.rank[i as usize] })
    }
}

fn string_ranks(strings: &Interner, used: impl Iterator<Item = u32>) -> StringRanks {
    const UNSEEN: u32 = u32::MAX;
    let mut rank = vec![UNSEEN; strings.len()];
    let mut distinct = vec![NO_STR];
    for i in used {
        if i != NO_STR && rank[i as usize] == UNSEEN {
            rank[i as usize] = 0;
            distinct.push(i);
        }
    }
    distinct.sort_unstable_by(|&a, &b| strings.get(a).cmp(strings.get(b)));
    let (mut none, mut r) = (0, 0);
    for (n, &i) in distinct.iter().enumerate() {
        // Equal texts (the missing one and an empty one) rank the same.
        if n > 0 && strings.get(i) != strings.get(distinct[n - 1]) {
            r += 1;
        }
        if i == NO_STR {
            none = r;
        } else {
            rank[i as usize] = r;
        }
    }
    StringRanks { rank, none }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows with ties in every column, missing and empty texts, and ids
    /// that are not UUIDs.
    fn rows() -> Vec<RawRow> {
        let texts = [None, Some(""), Some("b@x"), Some("a@y"), Some("é@z"), Some("a@y")];
        let states = [State::Queued, State::Held, State::Inflight, State::Cleanup];
        (0..60u64)
            .map(|i| {
                let id = if i % 7 == 0 {
                    EntryId::new(format!("odd-{i}").as_bytes())
                } else {
                    EntryId::from_uuid(uuid::Uuid::from_u128(u128::from(i * 2_654_435_761 % 1000)))
                };
                let t = |k: u64| texts[((i * k) % texts.len() as u64) as usize].map(str::to_owned);
                let time = |k: u64| {
                    if i % 5 == k {
                        NO_TIME
                    } else {
                        1_700_000_000 + ((i * k) % 4) as i64 * 60
                    }
                };
                RawRow {
                    id,
                    state: states[(i % 4) as usize],
                    broken: i % 11 == 0,
                    shown: true,
                    from: t(1),
                    to: t(5),
                    subject: t(7),
                    at: time(1),
                    last: time(2),
                    written: time(3),
                    since: time(4),
                    size: (i % 3) * 100,
                }
            })
            .collect()
    }

    #[test]
    fn counts_kept_by_what_changes_and_by_the_clock_are_a_fresh_count() {
        let t0 = Timestamp::from_second(1_700_000_000).unwrap();
        let mut app = App::new("q".into(), t0, false);
        let mut all = rows();
        // Times around the clock's path: some pass as it moves.
        for (i, r) in all.iter_mut().enumerate() {
            r.at = 1_700_000_000 + (i as i64 % 13) * 40 - 100;
            r.since = 1_700_000_000 - 3600 + (i as i64 % 7) * 50;
        }
        let _ = update(
            &mut app,
            Report::Loaded {
                generation: 0,
                rows: all.clone(),
                first: true,
                done: true,
            },
        );
        // Counted afresh, without touching what the app keeps.
        let fresh = |app: &mut App| {
            let mut c = Counts::default();
            for (_, r) in app.store.table.iter() {
                c.count(r, app.now, app.stuck_after);
            }
            assert_eq!(app.counts, c, "at {}", app.now);
        };
        fresh(&mut app);
        let mut rng = 7u64;
        let mut next = |n: u64| {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (rng >> 33) % n
        };
        let states = [State::Queued, State::Inflight, State::Held, State::Cleanup];
        for step in 0..60 {
            let now = Timestamp::from_second(1_700_000_000 + step * 17).unwrap();
            let _ = update(&mut app, Event::Tick(now));
            fresh(&mut app);
            let mut moved = Vec::new();
            let mut gone = Vec::new();
            for _ in 0..next(6) {
                let k = next(all.len() as u64) as usize;
                if next(5) == 0 {
                    gone.push(all[k].id.clone());
                } else {
                    let mut r = all[k].clone();
                    r.state = states[next(4) as usize];
                    r.at = now.as_second() + next(200) as i64 - 50;
                    r.since = now.as_second() - 3600 + next(100) as i64;
                    moved.push(r);
                }
            }
            let _ = update(
                &mut app,
                Report::Changed {
                    generation: 0,
                    rows: moved,
                    gone,
                },
            );
            fresh(&mut app);
        }
    }

    #[test]
    fn the_keyed_sort_is_the_order_of_the_comparison() {
        let mut app = App::new("q".into(), Timestamp::from_second(1_700_000_000).unwrap(), false);
        let _ = update(
            &mut app,
            Report::Loaded {
                generation: 0,
                rows: rows(),
                first: true,
                done: true,
            },
        );
        assert_eq!(app.rows.len(), 60);
        for col in Column::ALL {
            for desc in [false, true] {
                app.sort = col;
                app.descending = desc;
                app.sort_rows();
                let mut expected = app.rows.clone();
                expected.sort_by(app.order());
                assert_eq!(app.rows, expected, "{col:?} descending={desc}");
            }
        }
    }
}
