//! Snapshots of the TUI drawn with ratatui's TestBackend on a queue built in
//! the test, with a fixed "now", so every screen is reproducible.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use mqctl::queue::Queue;
use mqctl::tui::app::{Action, App, update};
use mqctl::tui::{Headless, render};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn draw(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render::render(app, f)).unwrap();
    t.backend().to_string()
}

fn demo_app(dir: &std::path::Path, w: u16, h: u16) -> (App, Headless) {
    mqctl::demo::build(dir, 60, 7, now()).unwrap();
    let q = Queue::open(dir).unwrap();
    let mut app = App::new("/q".into(), now(), true);
    update(&mut app, Action::Resize(w, h));
    let hl = Headless::new(q, SignedDuration::from_hours(1), Some(now()));
    hl.send(app.start(""));
    assert!(hl.pump_until(&mut app, Duration::from_secs(20), |a| a.loading.is_none()
        && !a.rows.is_empty()));
    (app, hl)
}

#[test]
fn mark_all_keeps_every_row_on_screen() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut app, _hl) = demo_app(&tmp.path().join("q"), 120, 40);
    update(&mut app, Action::MarkAll);
    let screen = draw(&app, 120, 40);
    println!("{screen}");
    assert_eq!(screen.lines().filter(|l| l.contains("\"*")).count(), 35);
}
