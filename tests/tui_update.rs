//! `update` is the whole behaviour of the TUI: each key and each message
//! from the worker, tested on a state built in memory.

use jiff::{SignedDuration, Timestamp};
use mqctl::queue::ops::{EntryOp, Reschedule};
use mqctl::queue::{EntryId, State};
use mqctl::tui::app::{App, Column, Effect, Event, InputKind, Intent, Mode, Report, Verb, View, update};
use mqctl::tui::keys::{BINDINGS, Key, Scope, intent_for};
use mqctl::tui::row::RawRow;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn id(n: usize) -> EntryId {
    EntryId::new(format!("{n:08x}-0000-4000-8000-000000000000").as_bytes())
}

fn raw(n: usize, state: State) -> RawRow {
    let t = now().as_second();
    RawRow {
        id: id(n),
        state,
        broken: false,
        shown: true,
        from: Some(format!("sender{}@example.org", n % 3)),
        to: Some(format!("rcpt{n}@dest{}.example", n % 4)),
        subject: Some(format!("subject {n}")),
        at: t + (n as i64 * 60) - 600,
        last: mqctl::tui::row::NO_TIME,
        written: t - 3600 * n as i64,
        since: mqctl::tui::row::NO_TIME,
        size: 1000 + n as u64,
    }
}

fn loaded(app: &App, rows: Vec<RawRow>, first: bool, done: bool) -> Report {
    Report::Loaded {
        generation: app.generation,
        rows,
        first,
        done,
    }
}

/// An app showing `n` queued entries, sorted by next attempt (id order).
fn app(n: usize) -> App {
    let mut a = App::new("/var/spool/q".into(), now(), true);
    update(&mut a, Event::Resize(80, 24));
    let fx = a.start("");
    assert!(matches!(fx.as_slice(), [Effect::Scan { stream: true, .. }]));
    let rows = (0..n).map(|i| raw(i, State::Queued)).collect();
    let l = loaded(&a, rows, true, true);
    update(&mut a, l);
    a
}

/// The dialog that asks to confirm `count` entries, no reason typed.
fn confirm(verb: Verb, count: usize) -> Mode {
    Mode::Confirm {
        verb,
        count,
        reason: None,
    }
}

/// The change the effects ask the worker for: verb, op, targets, reason.
type Applied<'a> = (&'a Verb, &'a EntryOp, &'a Vec<(State, EntryId)>, &'a Option<String>);

fn applied(fx: &[Effect]) -> Applied<'_> {
    match fx.first() {
        Some(Effect::Apply {
            verb,
            op,
            targets,
            reason,
        }) => (verb, op, targets, reason),
        _ => panic!("{fx:?}"),
    }
}

fn key(c: KeyCode) -> Event {
    Event::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn ch(c: char) -> Event {
    key(KeyCode::Char(c))
}

fn selected_id(a: &App) -> EntryId {
    a.store.entry_id(a.selected_row().unwrap().id)
}

#[test]
fn every_binding_in_the_table_dispatches_its_intent() {
    for b in BINDINGS {
        for k in b.keys {
            let ev = match *k {
                Key::Char(c) => KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE),
                Key::Ctrl(c) => KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
                Key::Code(c) => KeyEvent::new(c, KeyModifiers::NONE),
            };
            let got = intent_for(b.scope, &ev);
            assert_eq!(got, Some(b.intent), "{:?} in {:?}", k, b.scope);
        }
    }
}

#[test]
fn no_key_is_bound_twice_in_one_scope() {
    for (i, a) in BINDINGS.iter().enumerate() {
        for b in &BINDINGS[i + 1..] {
            if a.scope == b.scope {
                for k in a.keys {
                    assert!(!b.keys.contains(k), "{k:?} bound twice in {:?}", a.scope);
                }
            }
        }
    }
}

#[test]
fn printable_keys_are_text_while_typing() {
    let ev = KeyEvent::new(KeyCode::Char('h'), KeyModifiers::NONE);
    assert!(matches!(intent_for(Scope::Input, &ev), Some(Intent::Input('h'))));
    assert!(matches!(intent_for(Scope::Browse, &ev), Some(Intent::Hold)));
    assert!(intent_for(Scope::Confirm, &ev).is_none());
}

#[test]
fn j_k_arrows_move_the_selection_and_stop_at_the_ends() {
    let mut a = app(5);
    update(&mut a, ch('j'));
    update(&mut a, key(KeyCode::Down));
    assert_eq!(a.selected, 2);
    update(&mut a, ch('k'));
    assert_eq!(a.selected, 1);
    update(&mut a, key(KeyCode::Up));
    update(&mut a, key(KeyCode::Up));
    assert_eq!(a.selected, 0);
    for _ in 0..10 {
        update(&mut a, ch('j'));
    }
    assert_eq!(a.selected, 4);
}

#[test]
fn page_keys_move_by_a_screen_and_g_jumps_to_the_ends() {
    let mut a = app(100);
    // 80x24: 19 table rows, a page is 18.
    update(&mut a, key(KeyCode::PageDown));
    assert_eq!(a.selected, 18);
    assert_eq!(a.offset, 0);
    update(&mut a, key(KeyCode::PageDown));
    assert_eq!(a.selected, 36);
    assert_eq!(a.offset, 36 - 18, "the view scrolls with the selection");
    update(&mut a, key(KeyCode::PageUp));
    assert_eq!(a.selected, 18);
    assert_eq!(a.offset, 18);
    update(
        &mut a,
        Event::Key(KeyEvent::new(KeyCode::Char('b'), KeyModifiers::CONTROL)),
    );
    assert_eq!(a.selected, 0);
    update(&mut a, ch('G'));
    assert_eq!(a.selected, 99);
    assert_eq!(a.offset, 100 - 19);
    update(&mut a, ch('g'));
    assert_eq!((a.selected, a.offset), (0, 0));
    update(&mut a, key(KeyCode::End));
    assert_eq!(a.selected, 99);
    update(&mut a, key(KeyCode::Home));
    assert_eq!(a.selected, 0);
}

#[test]
fn tab_cycles_views_and_asks_for_what_each_needs() {
    let mut a = app(3);
    let fx = update(&mut a, key(KeyCode::Tab));
    assert_eq!(a.view, View::Detail);
    assert!(matches!(&fx[..], [Effect::LoadDetail(State::Queued, i)] if *i == id(0)));
    let fx = update(&mut a, key(KeyCode::Tab));
    assert_eq!(a.view, View::Summary);
    assert!(matches!(&fx[..], [Effect::LoadStats]));
    update(&mut a, key(KeyCode::Tab));
    assert_eq!(a.view, View::Table);
    update(&mut a, key(KeyCode::BackTab));
    assert_eq!(a.view, View::Summary);
}

#[test]
fn enter_opens_the_detail_which_follows_the_selection() {
    let mut a = app(3);
    update(&mut a, key(KeyCode::Enter));
    assert_eq!(a.view, View::Detail);
    let fx = update(&mut a, ch('j'));
    assert!(matches!(&fx[..], [Effect::LoadDetail(_, i)] if *i == id(1)));
    update(&mut a, key(KeyCode::PageDown));
    assert!(a.detail_scroll > 0, "PgDn scrolls the detail");
    assert_eq!(a.selected, 1);
    update(&mut a, key(KeyCode::Esc));
    assert_eq!(a.view, View::Table);
}

#[test]
fn slash_types_a_filter_that_enter_applies_and_esc_clears() {
    let mut a = app(3);
    update(&mut a, ch('/'));
    assert_eq!(a.scope(), Scope::Input);
    for c in "--to '*@x.example' hello".chars() {
        update(&mut a, ch(c));
    }
    update(&mut a, key(KeyCode::Backspace));
    let fx = update(&mut a, key(KeyCode::Enter));
    assert_eq!(a.filter, "--to '*@x.example' hell");
    assert_eq!(a.mode, Mode::Normal);
    let Some(Effect::Scan { selection, stream, .. }) = fx.first() else {
        panic!("{fx:?}")
    };
    assert!(*stream);
    assert_eq!(selection.to.as_ref().unwrap().as_str(), "*@x.example");
    assert_eq!(selection.text.as_deref(), Some("hell"));
    // Esc on the table clears it and reads again.
    let fx = update(&mut a, key(KeyCode::Esc));
    assert!(a.filter.is_empty());
    assert!(matches!(&fx[..], [Effect::Scan { .. }]));
    // Esc while typing clears it too.
    update(&mut a, ch('/'));
    update(&mut a, ch('x'));
    update(&mut a, key(KeyCode::Enter));
    update(&mut a, ch('/'));
    update(&mut a, key(KeyCode::Esc));
    assert!(a.filter.is_empty());
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn a_bad_filter_is_explained_and_kept_for_editing() {
    let mut a = app(3);
    update(&mut a, ch('/'));
    for c in "--older-than soon".chars() {
        update(&mut a, ch(c));
    }
    let fx = update(&mut a, key(KeyCode::Enter));
    assert!(fx.is_empty());
    assert!(a.filter.is_empty(), "the old filter stays in force");
    assert!(matches!(&a.mode, Mode::Input { kind: InputKind::Filter, text } if text == "--older-than soon"));
    assert!(a.message.as_deref().unwrap().contains("older-than"));
    update(
        &mut a,
        Event::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
    );
    assert!(matches!(&a.mode, Mode::Input { text, .. } if text.is_empty()));
}

#[test]
fn space_marks_and_moves_on_star_marks_all_c_clears() {
    let mut a = app(4);
    update(&mut a, ch(' '));
    assert_eq!(a.marks.len(), 1);
    assert_eq!(a.selected, 1);
    update(&mut a, ch('k'));
    update(&mut a, ch(' '));
    assert!(a.marks.is_empty(), "Space again unmarks");
    update(&mut a, ch('*'));
    assert_eq!(a.marks.len(), 4);
    update(&mut a, ch('c'));
    assert!(a.marks.is_empty());
}

#[test]
fn actions_confirm_with_the_count_then_apply_to_the_marked_entries() {
    let cases = [
        ('h', Verb::Hold, State::Queued),
        ('u', Verb::Release, State::Held),
        ('t', Verb::RetryNow, State::Queued),
        ('d', Verb::Drop, State::Queued),
        ('R', Verb::Recover, State::Inflight),
    ];
    for (k, verb, state) in cases {
        let mut a = App::new("/q".into(), now(), true);
        a.start("");
        let rows = (0..5).map(|i| raw(i, state)).collect();
        let l = loaded(&a, rows, true, true);
        update(&mut a, l);
        update(&mut a, ch(' '));
        update(&mut a, ch(' '));
        update(&mut a, ch(k));
        assert_eq!(a.mode, confirm(verb, 2), "{k}");
        let fx = update(&mut a, ch('y'));
        let (v, op, targets, reason) = applied(&fx);
        assert_eq!((*v, reason), (verb, &None));
        assert_eq!(targets, &vec![(state, id(0)), (state, id(1))]);
        let expect = match verb {
            Verb::Hold => "Move(Held)",
            Verb::Release => "Move(Queued)",
            Verb::Recover => "Recover",
            Verb::RetryNow => "Schedule(SetAt(2026-11-23T12:00:00Z))",
            Verb::Drop => "Drop",
            Verb::Defer(_) | Verb::RetrySpread(_) => unreachable!(),
        };
        assert_eq!(format!("{op:?}"), expect);
        assert!(matches!(a.mode, Mode::Running { total: 2, done: 0, .. }));
    }
}

#[test]
fn the_retry_dialog_offers_a_spread_and_asks_how_long() {
    let mut a = app(5);
    update(&mut a, ch(' '));
    update(&mut a, ch(' '));
    update(&mut a, ch('t'));
    assert_eq!(a.mode, confirm(Verb::RetryNow, 2));
    update(&mut a, ch('s'));
    assert!(
        matches!(&a.mode, Mode::Input { kind: mqctl::tui::app::InputKind::SpreadOver, text } if text == "30m"),
        "{:?}",
        a.mode
    );
    // A bad duration keeps what was typed, with the reason.
    update(&mut a, ch('x'));
    update(&mut a, key(KeyCode::Enter));
    assert!(
        matches!(&a.mode, Mode::Input { text, .. } if text == "30mx"),
        "{:?}",
        a.mode
    );
    assert!(a.message.is_some());
    update(&mut a, key(KeyCode::Backspace));
    update(&mut a, key(KeyCode::Enter));
    let verb = Verb::RetrySpread(jiff::SignedDuration::from_mins(30));
    assert_eq!(a.mode, confirm(verb, 2));
    let fx = update(&mut a, ch('y'));
    let (v, op, targets, _) = applied(&fx);
    assert_eq!(
        (*v, format!("{op:?}"), targets.len()),
        (verb, "Schedule(PerEntry)".into(), 2)
    );
    // Other dialogs have no spread.
    update(&mut a, Intent::Cancel);
    let mut b = app(5);
    update(&mut b, ch('h'));
    update(&mut b, ch('s'));
    assert_eq!(b.mode, confirm(Verb::Hold, 1));
}

#[test]
fn the_hold_dialog_asks_why_and_the_hold_carries_the_reason() {
    let mut a = app(5);
    update(&mut a, ch(' '));
    update(&mut a, ch(' '));
    update(&mut a, ch('h'));
    update(&mut a, ch('r'));
    assert!(
        matches!(&a.mode, Mode::Input { kind: mqctl::tui::app::InputKind::HoldReason, text } if text.is_empty()),
        "{:?}",
        a.mode
    );
    for c in "  DNS broken ".chars() {
        update(&mut a, ch(c));
    }
    update(&mut a, key(KeyCode::Enter));
    assert_eq!(
        a.mode,
        Mode::Confirm {
            verb: Verb::Hold,
            count: 2,
            reason: Some("DNS broken".into())
        }
    );
    // `r` again edits what was typed.
    update(&mut a, ch('r'));
    assert!(
        matches!(&a.mode, Mode::Input { text, .. } if text == "DNS broken"),
        "{:?}",
        a.mode
    );
    update(&mut a, ch('!'));
    update(&mut a, key(KeyCode::Enter));
    let fx = update(&mut a, ch('y'));
    let (v, _, targets, reason) = applied(&fx);
    assert_eq!(
        (*v, targets.len(), reason.as_deref()),
        (Verb::Hold, 2, Some("DNS broken!"))
    );
    // Nothing typed: a hold without a reason; too long: refused, kept.
    let mut b = app(5);
    update(&mut b, ch('h'));
    update(&mut b, ch('r'));
    update(&mut b, key(KeyCode::Enter));
    assert!(matches!(&b.mode, Mode::Confirm { reason: None, .. }), "{:?}", b.mode);
    update(&mut b, ch('r'));
    for _ in 0..1001 {
        update(&mut b, ch('x'));
    }
    update(&mut b, key(KeyCode::Enter));
    assert!(
        matches!(&b.mode, Mode::Input { text, .. } if text.len() == 1001),
        "{:?}",
        b.mode
    );
    assert!(b.message.as_deref().is_some_and(|m| m.contains("at most 1000 bytes")));
    // Other dialogs have no reason.
    let mut c = app(5);
    update(&mut c, ch('d'));
    update(&mut c, ch('r'));
    assert!(
        matches!(&c.mode, Mode::Confirm { verb: Verb::Drop, .. }),
        "{:?}",
        c.mode
    );
}

#[test]
fn without_marks_an_action_takes_the_selected_entry() {
    let mut a = app(5);
    update(&mut a, ch('j'));
    update(&mut a, ch('d'));
    assert_eq!(a.mode, confirm(Verb::Drop, 1));
    let fx = update(&mut a, key(KeyCode::Enter));
    assert!(matches!(&fx[..], [Effect::Apply { targets, .. }] if *targets == vec![(State::Queued, id(1))]));
}

#[test]
fn n_or_esc_in_the_dialog_does_nothing() {
    let mut a = app(2);
    update(&mut a, ch('d'));
    assert!(update(&mut a, ch('n')).is_empty());
    assert_eq!(a.mode, Mode::Normal);
    update(&mut a, ch('d'));
    assert!(update(&mut a, key(KeyCode::Esc)).is_empty());
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn an_action_on_an_empty_table_says_there_is_nothing() {
    let mut a = app(0);
    update(&mut a, ch('h'));
    assert_eq!(a.mode, Mode::Normal);
    assert_eq!(a.message.as_deref(), Some("nothing to act on"));
}

#[test]
fn f_asks_for_a_duration_then_confirms_a_defer() {
    let mut a = app(2);
    update(&mut a, ch('f'));
    assert!(matches!(
        &a.mode,
        Mode::Input {
            kind: InputKind::DeferBy,
            ..
        }
    ));
    update(&mut a, ch('x'));
    update(&mut a, key(KeyCode::Enter));
    assert!(
        matches!(
            &a.mode,
            Mode::Input {
                kind: InputKind::DeferBy,
                ..
            }
        ),
        "a bad duration is kept"
    );
    assert!(a.message.is_some());
    update(&mut a, key(KeyCode::Backspace));
    update(&mut a, ch('2'));
    update(&mut a, ch('h'));
    update(&mut a, key(KeyCode::Enter));
    let d = SignedDuration::from_hours(2);
    assert_eq!(a.mode, confirm(Verb::Defer(d), 1));
    let fx = update(&mut a, ch('y'));
    assert!(matches!(&fx[..], [Effect::Apply { op: EntryOp::Schedule(Reschedule::DeferBy(x, _)), .. }] if *x == d));
    // Esc while typing a duration just cancels.
    let mut a = app(2);
    update(&mut a, ch('f'));
    update(&mut a, key(KeyCode::Esc));
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn progress_is_shown_esc_cancels_and_the_end_summarises_and_rereads() {
    let mut a = app(3);
    update(&mut a, ch('*'));
    update(&mut a, ch('h'));
    update(&mut a, ch('y'));
    update(&mut a, Report::Progress { done: 2 });
    assert!(matches!(
        a.mode,
        Mode::Running {
            done: 2,
            total: 3,
            cancelling: false,
            ..
        }
    ));
    let fx = update(&mut a, key(KeyCode::Esc));
    assert!(matches!(&fx[..], [Effect::Cancel]));
    assert!(matches!(a.mode, Mode::Running { cancelling: true, .. }));
    let fx = update(
        &mut a,
        Report::Finished {
            summary: "Hold: 2 held, 0 vanished, 0 failed".into(),
            failure: None,
        },
    );
    assert_eq!(a.mode, Mode::Normal);
    assert!(a.marks.is_empty());
    assert_eq!(a.message.as_deref(), Some("Hold: 2 held, 0 vanished, 0 failed"));
    assert!(matches!(&fx[..], [Effect::Scan { stream: false, .. }]));
}

#[test]
fn sorting_cycles_columns_reverses_and_shows_the_top_of_the_new_order() {
    let mut a = app(50);
    for _ in 0..30 {
        update(&mut a, ch('j'));
    }
    assert!(a.offset > 0);
    assert_eq!(a.sort, Column::Next);
    update(&mut a, ch('o'));
    assert!(a.descending);
    assert_eq!((a.selected, a.offset), (0, 0), "a re-sort shows its first row");
    assert_eq!(selected_id(&a), id(49));
    update(&mut a, ch('s'));
    assert_eq!(a.sort, Column::Last);
    update(&mut a, ch('>'));
    assert_eq!(a.sort, Column::Age);
    update(&mut a, ch('<'));
    update(&mut a, ch('<'));
    assert_eq!(a.sort, Column::Next);
    for _ in 0..Column::ALL.len() {
        update(&mut a, ch('j'));
        update(&mut a, ch('s'));
        assert_eq!((a.selected, a.offset), (0, 0), "{:?}", a.sort);
    }
    assert_eq!(a.sort, Column::Next);
}

#[test]
fn a_re_sort_in_the_detail_view_reads_the_new_first_entry() {
    let mut a = app(5);
    update(&mut a, ch('j'));
    update(&mut a, key(KeyCode::Enter));
    let fx = update(&mut a, ch('o'));
    assert!(matches!(&fx[..], [Effect::LoadDetail(_, i)] if *i == id(4)), "{fx:?}");
}

#[test]
fn a_failure_keeps_its_reason_and_shortens_its_id_as_the_table_does() {
    let mut a = app(3);
    update(&mut a, ch('h'));
    update(&mut a, ch('y'));
    update(
        &mut a,
        Report::Finished {
            summary: "Hold: 0 held, 0 vanished, 1 failed".into(),
            failure: Some((id(0), "Permission denied (os error 13)".into())),
        },
    );
    assert_eq!(
        a.message.as_deref(),
        Some("Hold: 0 held, 0 vanished, 1 failed; e.g. 00000000…: Permission denied (os error 13)")
    );
}

#[test]
fn in_the_summary_j_and_k_scroll_the_domains_not_the_table() {
    let mut a = app(5);
    update(&mut a, key(KeyCode::BackTab));
    let mut s = mqctl::stats::Stats::default();
    for d in 0..40 {
        s.domains.push(mqctl::stats::DomainRow {
            domain: format!("d{d}.example"),
            total: 1,
            ages: vec![1],
        });
    }
    s.buckets = vec!["0-5m".into()];
    update(&mut a, Report::Stats(std::sync::Arc::new(s)));
    update(&mut a, ch('j'));
    update(&mut a, ch('j'));
    assert_eq!((a.summary_scroll, a.selected), (2, 0));
    update(&mut a, ch('k'));
    assert_eq!(a.summary_scroll, 1);
    update(&mut a, ch('G'));
    let bottom = a.summary_scroll;
    assert!(
        bottom > 20 && bottom < 40,
        "stops with the last domain on screen: {bottom}"
    );
    update(&mut a, ch('j'));
    assert_eq!(a.summary_scroll, bottom);
    update(&mut a, ch('k'));
    assert_eq!(a.summary_scroll, bottom - 1, "k moves at once from the bottom");
    update(&mut a, ch('g'));
    assert_eq!(a.summary_scroll, 0);
}

#[test]
fn ctrl_r_rereads_without_streaming() {
    let mut a = app(2);
    let g = a.generation;
    let fx = update(
        &mut a,
        Event::Key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL)),
    );
    assert!(matches!(&fx[..], [Effect::Scan { stream: false, generation, .. }] if *generation == g + 1));
}

#[test]
fn question_mark_opens_help_which_scrolls_and_closes() {
    let mut a = app(2);
    update(&mut a, ch('?'));
    assert_eq!(a.mode, Mode::Help { scroll: 0 });
    update(&mut a, ch('j'));
    update(&mut a, key(KeyCode::PageDown));
    assert!(matches!(a.mode, Mode::Help { scroll } if scroll > 1), "{:?}", a.mode);
    assert_eq!(a.selected, 0, "scrolling help does not move the table");
    update(&mut a, key(KeyCode::Esc));
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn q_and_ctrl_c_quit() {
    let mut a = app(1);
    assert!(matches!(&update(&mut a, ch('q'))[..], [Effect::Quit]));
    assert!(a.quit);
    let mut a = app(1);
    update(
        &mut a,
        Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert!(a.quit);
}

#[test]
fn a_refresh_keeps_the_selection_and_the_marks() {
    let mut a = app(6);
    update(&mut a, ch('j'));
    update(&mut a, ch(' ')); // marks 1, selects 2
    update(&mut a, ch(' ')); // marks 2, selects 3
    let sel = selected_id(&a);
    update(&mut a, Intent::Refresh);
    // The writer took entry 0, and entry 2 moved to inflight.
    let mut rows: Vec<RawRow> = (1..6).map(|i| raw(i, State::Queued)).collect();
    rows[1].state = State::Inflight;
    let l = loaded(&a, rows, true, true);
    update(&mut a, l);
    assert_eq!(selected_id(&a), sel);
    assert_eq!(a.selected, 2);
    assert_eq!(a.marks.len(), 2);
    assert!(
        a.targets().contains(&(State::Inflight, id(2))),
        "marks follow the entry's state"
    );
}

#[test]
fn a_streamed_scan_fills_in_and_ignores_stale_generations() {
    let mut a = App::new("/q".into(), now(), false);
    a.start("");
    let l = loaded(&a, vec![raw(3, State::Queued)], true, false);
    update(&mut a, l);
    assert_eq!(a.loading, Some(1));
    assert_eq!(a.rows.len(), 1);
    let stale = Report::Loaded {
        generation: a.generation - 1,
        rows: vec![raw(9, State::Queued)],
        first: false,
        done: true,
    };
    assert!(update(&mut a, stale).is_empty());
    assert_eq!(a.rows.len(), 1);
    let l = loaded(&a, vec![raw(1, State::Queued), raw(2, State::Held)], false, true);
    update(&mut a, l);
    assert_eq!(a.loading, None);
    assert_eq!(a.rows.len(), 3);
    // The app counts the rows itself: two queued, one held.
    assert_eq!((a.counts.queue, a.counts.hold), (2, 1));
    assert_eq!(a.history, vec![3]);
    assert_eq!(a.last_refresh, Some(now()));
    assert_eq!(selected_id(&a), id(1), "a new picture starts at the top, sorted");
}

#[test]
fn worker_messages_land_in_the_state() {
    let mut a = app(1);
    update(&mut a, Report::Writer(Some("kannader (pid 7)".into())));
    assert_eq!(a.writer.as_deref(), Some("kannader (pid 7)"));
    update(&mut a, Report::Error("reading the queue: boom".into()));
    assert_eq!(a.message.as_deref(), Some("reading the queue: boom"));
    let later: Timestamp = "2026-11-23T12:05:00Z".parse().unwrap();
    update(&mut a, Event::Tick(later));
    assert_eq!(a.now, later);
    update(&mut a, Event::Resize(160, 48));
    assert_eq!(a.size, (160, 48));
    update(&mut a, Report::Stats(std::sync::Arc::new(Default::default())));
    assert!(a.stats.is_some());
    let d = mqctl::tui::app::Detail {
        id: id(0),
        lines: vec![],
        headers: vec![],
        body: vec![],
    };
    update(&mut a, Report::Detail(std::sync::Arc::new(d)));
    assert!(a.detail.is_some());
}

#[test]
fn the_summary_reads_statistics_on_entry_and_on_ctrl_r_not_on_every_change() {
    let mut a = app(2);
    let fx = update(&mut a, key(KeyCode::BackTab));
    assert_eq!(a.view, View::Summary);
    assert!(matches!(&fx[..], [Effect::LoadStats]));
    // A live refresh (the worker re-reads after a change) does not re-gather.
    let l = loaded(&a, vec![raw(0, State::Queued)], true, true);
    assert!(!update(&mut a, l).iter().any(|e| matches!(e, Effect::LoadStats)));
    // Ctrl-R does, once its scan is done.
    update(
        &mut a,
        Event::Key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL)),
    );
    let l = loaded(&a, vec![raw(0, State::Queued)], true, true);
    assert!(update(&mut a, l).iter().any(|e| matches!(e, Effect::LoadStats)));
}

#[test]
fn release_takes_only_held_entries_and_recover_only_inflight_ones() {
    let mut a = App::new("/q".into(), now(), true);
    a.start("");
    let rows = vec![raw(0, State::Queued), raw(1, State::Held), raw(2, State::Inflight)];
    let l = loaded(&a, rows, true, true);
    update(&mut a, l);
    update(&mut a, ch('*'));
    update(&mut a, ch('u'));
    assert_eq!(a.mode, confirm(Verb::Release, 1));
    let fx = update(&mut a, ch('y'));
    assert!(matches!(&fx[..], [Effect::Apply { targets, .. }] if *targets == vec![(State::Held, id(1))]));
    let mut a = App::new("/q".into(), now(), true);
    a.start("");
    let l = loaded(&a, vec![raw(0, State::Queued)], true, true);
    update(&mut a, l);
    update(&mut a, ch('R'));
    assert_eq!(a.mode, Mode::Normal);
    assert_eq!(a.message.as_deref(), Some("recover: no inflight entry among them"));
}

#[test]
fn esc_and_a_key_that_arrive_as_alt_key_count_as_both() {
    let mut a = app(3);
    update(&mut a, key(KeyCode::Enter));
    assert_eq!(a.view, View::Detail);
    // Esc (back to the table) then q (quit), read as Alt+q.
    let fx = update(&mut a, Event::Key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::ALT)));
    assert_eq!(a.view, View::Table);
    assert!(a.quit);
    assert!(fx.iter().any(|e| matches!(e, Effect::Quit)));
    // Esc (closes the help) then Shift-Tab (to the summary), read as Alt+BackTab.
    let mut a = app(3);
    update(&mut a, ch('?'));
    let fx = update(
        &mut a,
        Event::Key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::ALT | KeyModifiers::SHIFT)),
    );
    assert_eq!(a.mode, Mode::Normal);
    assert_eq!(a.view, View::Summary);
    assert!(matches!(&fx[..], [Effect::LoadStats]));
}
