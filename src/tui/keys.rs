//! Every key binding, in one table. The dispatcher and the `?` help overlay
//! both read it, so the help can never disagree with what keys do.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::Action;

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
    pub action: Action,
    pub help: &'static str,
}

use Key::{Char, Code, Ctrl};

macro_rules! bind {
    ($scope:ident, [$($k:expr),+], $label:expr, $action:expr, $help:expr) => {
        Binding { scope: Scope::$scope, keys: &[$($k),+], label: $label, action: $action, help: $help }
    };
}

#[rustfmt::skip]
pub const BINDINGS: &[Binding] = &[
    bind!(Browse, [Char('j'), Code(KeyCode::Down)], "j ↓", Action::Down, "next entry"),
    bind!(Browse, [Char('k'), Code(KeyCode::Up)], "k ↑", Action::Up, "previous entry"),
    bind!(Browse, [Code(KeyCode::PageDown), Ctrl('f'), Ctrl('d')], "PgDn ^f", Action::PageDown, "page down"),
    bind!(Browse, [Code(KeyCode::PageUp), Ctrl('b'), Ctrl('u')], "PgUp ^b", Action::PageUp, "page up"),
    bind!(Browse, [Char('g'), Code(KeyCode::Home)], "g Home", Action::Top, "first entry"),
    bind!(Browse, [Char('G'), Code(KeyCode::End)], "G End", Action::Bottom, "last entry"),
    bind!(Browse, [Code(KeyCode::Tab)], "Tab", Action::NextView, "next view: table, detail, summary"),
    bind!(Browse, [Code(KeyCode::BackTab)], "S-Tab", Action::PrevView, "previous view"),
    bind!(Browse, [Code(KeyCode::Enter)], "Enter", Action::OpenDetail, "detail of the selected entry"),
    bind!(Browse, [Code(KeyCode::Esc)], "Esc", Action::Back, "back to the table; there, clear the filter"),
    bind!(Browse, [Char('/')], "/", Action::StartFilter, "filter: --to GLOB --state hold … or free text"),
    bind!(Browse, [Char(' ')], "Space", Action::ToggleMark, "mark or unmark the entry, go to the next"),
    bind!(Browse, [Char('*')], "*", Action::MarkAll, "mark every entry the filter shows"),
    bind!(Browse, [Char('c')], "c", Action::ClearMarks, "clear all marks"),
    bind!(Browse, [Char('h')], "h", Action::Hold, "hold marked (or selected) entries"),
    bind!(Browse, [Char('u')], "u", Action::Release, "release held entries back to queue/"),
    bind!(Browse, [Char('t')], "t", Action::RetryNow, "reschedule now (try again now)"),
    bind!(Browse, [Char('f')], "f", Action::Defer, "defer by a duration (asks how long)"),
    bind!(Browse, [Char('d'), Code(KeyCode::Delete)], "d Del", Action::Drop, "drop (asks to confirm)"),
    bind!(Browse, [Char('R')], "R", Action::Recover, "recover stuck inflight entries to queue/"),
    bind!(Browse, [Char('s'), Char('>')], "s >", Action::SortNext, "sort by the next column"),
    bind!(Browse, [Char('<')], "<", Action::SortPrev, "sort by the previous column"),
    bind!(Browse, [Char('o')], "o", Action::SortReverse, "reverse the sort order"),
    bind!(Browse, [Ctrl('r'), Ctrl('l')], "^r ^l", Action::Refresh, "re-read the queue now"),
    bind!(Browse, [Char('?'), Code(KeyCode::F(1))], "? F1", Action::Help, "this help"),
    bind!(Browse, [Char('q'), Ctrl('c')], "q ^c", Action::Quit, "quit"),
    bind!(Input, [Code(KeyCode::Enter)], "Enter", Action::Submit, "apply what was typed"),
    bind!(Input, [Code(KeyCode::Esc)], "Esc", Action::Cancel, "cancel (for the filter: clear it)"),
    bind!(Input, [Code(KeyCode::Backspace)], "Backspace", Action::Backspace, "delete a character"),
    bind!(Input, [Ctrl('u')], "^u", Action::ClearInput, "delete everything typed"),
    bind!(Confirm, [Char('y'), Code(KeyCode::Enter)], "y Enter", Action::Submit, "yes, do it"),
    bind!(Confirm, [Char('n'), Code(KeyCode::Esc), Char('q')], "n Esc", Action::Cancel, "no"),
    bind!(Progress, [Code(KeyCode::Esc), Char('c'), Ctrl('c')], "Esc c", Action::Cancel, "stop after the entries at hand"),
    bind!(Help, [Char('j'), Code(KeyCode::Down)], "j ↓", Action::Down, "scroll down"),
    bind!(Help, [Char('k'), Code(KeyCode::Up)], "k ↑", Action::Up, "scroll up"),
    bind!(Help, [Code(KeyCode::PageDown), Char(' ')], "PgDn Space", Action::PageDown, "page down"),
    bind!(Help, [Code(KeyCode::PageUp)], "PgUp", Action::PageUp, "page up"),
    bind!(Help, [Char('?'), Code(KeyCode::Esc), Char('q'), Code(KeyCode::Enter)], "? Esc q", Action::Cancel, "close"),
];

fn key_of(ev: &KeyEvent) -> Key {
    match ev.code {
        KeyCode::Char(c) if ev.modifiers.contains(KeyModifiers::CONTROL) => Ctrl(c.to_ascii_lowercase()),
        KeyCode::Char(c) => Char(c),
        code => Code(code),
    }
}

/// The action a key means in `scope`. While typing, a printable key is text.
pub fn action_for(scope: Scope, ev: &KeyEvent) -> Option<Action> {
    let key = key_of(ev);
    let bound = BINDINGS
        .iter()
        .find(|b| b.scope == scope && b.keys.contains(&key))
        .map(|b| b.action.clone());
    match (bound, scope, key) {
        (Some(a), _, _) => Some(a),
        (None, Scope::Input, Char(c)) => Some(Action::Input(c)),
        _ => None,
    }
}

/// The help overlay's lines: (scope title, keys, what they do).
pub fn help_lines() -> Vec<(&'static str, &'static str, &'static str)> {
    BINDINGS.iter().map(|b| (b.scope.title(), b.label, b.help)).collect()
}
