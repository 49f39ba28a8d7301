//! Every key binding, in one table: which key means which `Intent`. The
//! dispatcher and the `?` help overlay both read it, so the help can never disagree with what keys do.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::Intent;

/// Which bindings apply: the mode the screen is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Browsing: the table, the detail pane or the summary.
    Browse,
    /// Typing a filter or a duration.
    Input,
    /// A yes/no question.
    Confirm,
    /// An action is running.
    Progress,
    /// The help overlay.
    Help,
}

impl Scope {
    pub fn title(self) -> &'static str {
        match self {
            Scope::Browse => "Browse",
            Scope::Input => "Typing a filter or duration",
            Scope::Confirm => "Confirm dialog",
            Scope::Progress => "While an action runs",
            Scope::Help => "This help",
        }
    }
}

/// A key as the table names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Ctrl(char),
    Code(KeyCode),
}

pub struct Binding {
    pub scope: Scope,
    pub keys: &'static [Key],
    /// How the help shows the keys.
    pub label: &'static str,
    pub intent: Intent,
    pub help: &'static str,
}

use Key::{Char, Code, Ctrl};

macro_rules! bind {
    ($scope:ident, [$($k:expr),+], $label:expr, $intent:ident, $help:expr) => {
        Binding { scope: Scope::$scope, keys: &[$($k),+], label: $label, intent: Intent::$intent, help: $help }
    };
}

#[rustfmt::skip]
pub const BINDINGS: &[Binding] = &[
    bind!(Browse, [Char('j'), Code(KeyCode::Down)], "j ↓", Down, "next entry"),
    bind!(Browse, [Char('k'), Code(KeyCode::Up)], "k ↑", Up, "previous entry"),
    bind!(Browse, [Code(KeyCode::PageDown), Ctrl('f'), Ctrl('d')], "PgDn ^f", PageDown, "page down"),
    bind!(Browse, [Code(KeyCode::PageUp), Ctrl('b'), Ctrl('u')], "PgUp ^b", PageUp, "page up"),
    bind!(Browse, [Char('g'), Code(KeyCode::Home)], "g Home", Top, "first entry"),
    bind!(Browse, [Char('G'), Code(KeyCode::End)], "G End", Bottom, "last entry"),
    bind!(Browse, [Code(KeyCode::Tab)], "Tab", NextView, "next view: table, detail, summary"),
    bind!(Browse, [Code(KeyCode::BackTab)], "S-Tab", PrevView, "previous view"),
    bind!(Browse, [Code(KeyCode::Enter)], "Enter", OpenDetail, "detail of the selected entry"),
    bind!(Browse, [Code(KeyCode::Esc)], "Esc", Back, "back to the table; there, clear the filter"),
    bind!(Browse, [Char('/')], "/", StartFilter, "filter: --to GLOB --state hold … or free text"),
    bind!(Browse, [Char(' ')], "Space", ToggleMark, "mark or unmark the entry, go to the next"),
    bind!(Browse, [Char('*')], "*", MarkAll, "mark every entry the filter shows"),
    bind!(Browse, [Char('c')], "c", ClearMarks, "clear all marks"),
    bind!(Browse, [Char('h')], "h", Hold, "hold marked (or selected) entries"),
    bind!(Browse, [Char('u')], "u", Release, "release held entries back to queue/"),
    bind!(Browse, [Char('t')], "t", RetryNow, "reschedule now (try again now)"),
    bind!(Browse, [Char('f')], "f", Defer, "defer by a duration (asks how long)"),
    bind!(Browse, [Char('d'), Code(KeyCode::Delete)], "d Del", Drop, "drop (asks to confirm)"),
    bind!(Browse, [Char('R')], "R", Recover, "recover stuck inflight entries to queue/"),
    bind!(Browse, [Char('s'), Char('>')], "s >", SortNext, "sort by the next column"),
    bind!(Browse, [Char('<')], "<", SortPrev, "sort by the previous column"),
    bind!(Browse, [Char('o')], "o", SortReverse, "reverse the sort order"),
    bind!(Browse, [Ctrl('r'), Ctrl('l')], "^r ^l", Refresh, "re-read the queue now"),
    bind!(Browse, [Char('?'), Code(KeyCode::F(1))], "? F1", Help, "this help"),
    bind!(Browse, [Char('q'), Ctrl('c')], "q ^c", Quit, "quit"),
    bind!(Input, [Code(KeyCode::Enter)], "Enter", Submit, "apply what was typed"),
    bind!(Input, [Code(KeyCode::Esc)], "Esc", Cancel, "cancel (for the filter: clear it)"),
    bind!(Input, [Code(KeyCode::Backspace)], "Backspace", Backspace, "delete a character"),
    bind!(Input, [Ctrl('u')], "^u", ClearInput, "delete everything typed"),
    bind!(Confirm, [Char('y'), Code(KeyCode::Enter)], "y Enter", Submit, "yes, do it"),
    bind!(Confirm, [Char('n'), Code(KeyCode::Esc), Char('q')], "n Esc", Cancel, "no"),
    bind!(Confirm, [Char('s')], "s", Spread, "retry: spread the attempts over a while (asks how long)"),
    bind!(Confirm, [Char('r')], "r", Reason, "hold: say why (shown beside each held entry)"),
    bind!(Progress, [Code(KeyCode::Esc), Char('c'), Ctrl('c')], "Esc c", Cancel, "stop after the entries at hand"),
    bind!(Help, [Char('j'), Code(KeyCode::Down)], "j ↓", Down, "scroll down"),
    bind!(Help, [Char('k'), Code(KeyCode::Up)], "k ↑", Up, "scroll up"),
    bind!(Help, [Code(KeyCode::PageDown), Char(' ')], "PgDn Space", PageDown, "page down"),
    bind!(Help, [Code(KeyCode::PageUp)], "PgUp", PageUp, "page up"),
    bind!(Help, [Char('?'), Code(KeyCode::Esc), Char('q'), Code(KeyCode::Enter)], "? Esc q", Cancel, "close"),
];

fn key_of(ev: &KeyEvent) -> Key {
    match ev.code {
        KeyCode::Char(c) if ev.modifiers.contains(KeyModifiers::CONTROL) => Ctrl(c.to_ascii_lowercase()),
        KeyCode::Char(c) => Char(c),
        code => Code(code),
    }
}

/// What a key means in `scope`. While typing, a printable key is text.
pub fn intent_for(scope: Scope, ev: &KeyEvent) -> Option<Intent> {
    let key = key_of(ev);
    let bound = BINDINGS
        .iter()
        .find(|b| b.scope == scope && b.keys.contains(&key))
        .map(|b| b.intent);
    match (bound, scope, key) {
        (Some(i), _, _) => Some(i),
        (None, Scope::Input, Char(c)) => Some(Intent::Input(c)),
        _ => None,
    }
}

/// The key line at the foot of the screen, most useful first: as many as
/// fit are shown, in this order, `?:help` always. The key shown is the first
/// one the table binds to the intent while browsing.
const HINTS: &[(Intent, &str)] = &[
    (Intent::Help, "help"),
    (Intent::StartFilter, "filter"),
    (Intent::ToggleMark, "mark"),
    (Intent::Hold, "hold"),
    (Intent::Release, "release"),
    (Intent::Drop, "drop"),
    (Intent::RetryNow, "retry"),
    (Intent::Defer, "defer"),
    (Intent::Recover, "recover"),
    (Intent::MarkAll, "all"),
    (Intent::NextView, "view"),
    (Intent::SortNext, "sort"),
    (Intent::Quit, "quit"),
];

/// The key line's items (`?:help`, `/:filter`, …), most useful first.
pub fn hints() -> Vec<String> {
    HINTS
        .iter()
        .filter_map(|(intent, name)| {
            let b = BINDINGS
                .iter()
                .find(|b| b.scope == Scope::Browse && b.intent == *intent)?;
            let key = b.label.split(' ').next().unwrap_or(b.label);
            Some(format!("{key}:{name}"))
        })
        .collect()
}

/// The help overlay's lines: (scope title, keys, what they do).
pub fn help_lines() -> Vec<(&'static str, &'static str, &'static str)> {
    BINDINGS.iter().map(|b| (b.scope.title(), b.label, b.help)).collect()
}
