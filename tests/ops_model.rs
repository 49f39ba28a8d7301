//! Model-based property test of the library's changes (`Queue::apply`):
//! a random queue (a few mails of 1–3 recipients, entries spread over
//! queue/, hold/, inflight/ and cleanup/), then a random sequence of
//! operations, some of them given a stale state for an entry (as when
//! another process moved it after it was listed). After each step the queue
//! on disk must be exactly what a simple model says: each live entry in
//! exactly one state folder with its exact link text, its files and the
//! mail's contents present, its schedule byte-identical to the writer's form
//! of the expected times; nothing left of dropped entries and emptied mails;
//! no temp file. Each reported outcome must be the one the model predicts.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::sync::atomic::AtomicBool;

use common::*;
use jiff::{SignedDuration, Timestamp};
use mqctl::audit::Audit;
use mqctl::change::entries::{self, Request, Target};
use mqctl::change::{Change, Control, End, Observer, Verb};
use mqctl::queue::ops::{EntryOp, Item, Outcome, Reschedule};
use mqctl::queue::{EntryId, Queue, Schedule, State, parse};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct MailSpec {
    /// Per recipient: initial state, at (minutes from BASE), retried.
    rcpts: Vec<(State, i64, bool)>,
}

#[derive(Debug, Clone)]
enum Kind {
    Hold,
    Release,
    /// Recover with this stale age (hours), forced or not, clock +2h or not.
    Recover {
        stale_h: i64,
        force: bool,
        later: bool,
    },
    Drop {
        force: bool,
        later: bool,
    },
    Cleanup,
    SetAt(i64),
    DeferBy(i64, i64),
    DeferUntil(i64),
}

#[derive(Debug, Clone)]
struct Step {
    kind: Kind,
    /// Which entries (indices into the made entries, modulo their count).
    pick: Vec<usize>,
    /// Give some of them a wrong state (index into State::ALL, per entry).
    wrong: Vec<Option<usize>>,
}

const BASE: &str = "2026-11-23T00:00:00Z";

fn base() -> Timestamp {
    BASE.parse().unwrap()
}

fn minutes(m: i64) -> Timestamp {
    base() + SignedDuration::from_mins(m)
}

fn state_strategy() -> impl Strategy<Value = State> {
    prop_oneof![
        3 => Just(State::Queued),
        1 => Just(State::Held),
        1 => Just(State::Inflight),
        1 => Just(State::Cleanup),
    ]
}

fn mail_strategy() -> impl Strategy<Value = MailSpec> {
    prop::collection::vec((state_strategy(), -600i64..600, any::<bool>()), 1..=3).prop_map(|rcpts| MailSpec { rcpts })
}

fn kind_strategy() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Hold),
        Just(Kind::Release),
        (prop_oneof![Just(1i64), Just(3)], any::<bool>(), any::<bool>())
            .prop_map(|(stale_h, force, later)| { Kind::Recover { stale_h, force, later } }),
        (any::<bool>(), any::<bool>()).prop_map(|(force, later)| Kind::Drop { force, later }),
        Just(Kind::Cleanup),
        (-600i64..600).prop_map(Kind::SetAt),
        (1i64..300, -600i64..600).prop_map(|(d, n)| Kind::DeferBy(d, n)),
        (-600i64..600).prop_map(Kind::DeferUntil),
    ]
}

fn step_strategy() -> impl Strategy<Value = Step> {
    (
        kind_strategy(),
        prop::collection::vec(0usize..64, 1..5),
        prop::collection::vec(prop::option::weighted(0.2, 0usize..4), 5),
    )
        .prop_map(|(kind, pick, wrong)| Step { kind, pick, wrong })
}

/// What the model knows of one entry.
#[derive(Debug, Clone)]
struct M {
    made: Created,
    /// None once dropped / cleaned up.
    state: Option<State>,
    at: Timestamp,
    last: Option<Timestamp>,
}

fn dir(s: State) -> &'static str {
    s.dir()
}

/// The outcome `apply` must give for an entry passed as `passed` whose real
/// state is `m.state`, and the model's new state of the entry.
fn expect(kind: &Kind, passed: State, m: &M) -> (Outcome, Option<State>, Timestamp) {
    use Outcome::*;
    let actual = m.state;
    let here = actual == Some(passed);
    let keep = (actual, m.at);
    let skipped = |k: (Option<State>, Timestamp)| (Skipped(String::new()), k.0, k.1);
    let vanished = |k: (Option<State>, Timestamp)| (Vanished, k.0, k.1);
    // Inflight entries were put there moments ago: their age is ≈ 0, or
    // ≈ 2h when the step runs with the clock 2h later.
    let later = matches!(kind, Kind::Recover { later: true, .. } | Kind::Drop { later: true, .. });
    let age_ok = |stale: SignedDuration| later && stale <= SignedDuration::from_hours(2);
    match kind {
        Kind::Hold => match passed {
            State::Queued if here => (Done, Some(State::Held), m.at),
            State::Queued => vanished(keep),
            _ => skipped(keep),
        },
        // What a verb never takes (release: an inflight entry) is refused
        // before anything looks for it.
        Kind::Release => match passed {
            State::Held if here => (Done, Some(State::Queued), m.at),
            State::Held => vanished(keep),
            _ => skipped(keep),
        },
        // Only inflight (and claimed) entries are recovered: a held one
        // is released, not recovered.
        Kind::Recover { stale_h, force, .. } => match passed {
            State::Inflight if !here => vanished(keep),
            State::Inflight if *force || age_ok(SignedDuration::from_hours(*stale_h)) => {
                (Done, Some(State::Queued), m.at)
            }
            _ => skipped(keep),
        },
        Kind::Drop { force, .. } => {
            if passed == State::Inflight && here && !*force && !age_ok(SignedDuration::from_hours(1)) {
                return skipped(keep);
            }
            if here { (Done, None, m.at) } else { vanished(keep) }
        }
        Kind::Cleanup => {
            if actual == Some(State::Cleanup) {
                (Done, None, m.at)
            } else {
                vanished(keep)
            }
        }
        Kind::SetAt(_) | Kind::DeferBy(..) | Kind::DeferUntil(_) => {
            if matches!(passed, State::Inflight | State::Cleanup) {
                return skipped(keep);
            }
            if !here {
                return vanished(keep);
            }
            match kind {
                Kind::SetAt(t) => (Done, actual, minutes(*t)),
                Kind::DeferBy(d, n) => (Done, actual, m.at.max(minutes(*n)) + SignedDuration::from_mins(*d)),
                Kind::DeferUntil(t) if minutes(*t) <= m.at => skipped(keep),
                Kind::DeferUntil(t) => (Done, actual, minutes(*t)),
                _ => unreachable!(),
            }
        }
    }
}

fn op_of(kind: &Kind) -> (Verb, EntryOp) {
    match kind {
        Kind::Hold => (Verb::Hold, EntryOp::Move(State::Held)),
        Kind::Release => (Verb::Release, EntryOp::Move(State::Queued)),
        Kind::Recover { .. } => (Verb::Recover, EntryOp::Recover),
        Kind::Drop { .. } => (Verb::Drop, EntryOp::Drop),
        Kind::Cleanup => (Verb::Purge, EntryOp::Cleanup),
        Kind::SetAt(t) => (Verb::Reschedule, EntryOp::Schedule(Reschedule::SetAt(minutes(*t)))),
        Kind::DeferBy(d, n) => (
            Verb::Defer,
            EntryOp::Schedule(Reschedule::DeferBy(SignedDuration::from_mins(*d), minutes(*n))),
        ),
        Kind::DeferUntil(t) => (Verb::Defer, EntryOp::Schedule(Reschedule::DeferUntil(minutes(*t)))),
    }
}

/// Collects every change the engine reports.
#[derive(Default)]
struct Collect(Vec<Change>);

impl Observer for Collect {
    fn change(&mut self, c: &Change) {
        self.0.push(c.clone());
    }
}

/// The rules of one change through the library's change engine.
struct Rules<'a> {
    dry_run: bool,
    stop: &'a AtomicBool,
    force_inflight: bool,
    stuck_after: SignedDuration,
    now: Timestamp,
}

/// Applies `op` to the entries as given (with the state each is passed
/// in), the way the TUI's marks are applied; returns how the run ended and
/// every change it reported.
fn apply(queue: &Queue, (verb, op): (Verb, EntryOp), batch: &[(State, EntryId)], r: &Rules) -> (End, Vec<Change>) {
    let mut audit = Audit::none();
    let mut seen = Collect::default();
    let req = Request {
        verb,
        op,
        target: Target::Items(batch.iter().map(|(s, id)| Item::new(*s, id.clone())).collect()),
        force_inflight: r.force_inflight,
        stuck_after: r.stuck_after,
        now: r.now,
        hold: None,
    };
    let mut ctl = Control {
        dry_run: r.dry_run,
        stop: r.stop,
        audit: &mut audit,
        observer: &mut seen,
    };
    let report = entries::apply(queue, req, &mut ctl).unwrap();
    (report.end, seen.0)
}

fn same_kind(a: &Outcome, b: &Outcome) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Checks the queue on disk against the model.
fn check(q: &TestQueue, model: &[M]) -> Result<(), TestCaseError> {
    let on_disk = entries(q.root());
    let live: BTreeMap<String, (String, Vec<u8>)> = model
        .iter()
        .filter_map(|m| {
            m.state
                .map(|s| (m.made.id.clone(), (dir(s).to_string(), m.made.link().into_bytes())))
        })
        .collect();
    prop_assert_eq!(&on_disk, &live, "entries (state, link text) differ from the model");
    // data/: exactly the mails with a live entry, each with contents and the
    // live entries' dest folders holding exactly metadata and schedule.
    let mut want = BTreeMap::<String, BTreeSet<String>>::new();
    for m in model.iter().filter(|m| m.state.is_some()) {
        want.entry(m.made.mail.clone())
            .or_insert_with(|| BTreeSet::from(["contents".to_string()]))
            .insert(m.made.dest.clone());
    }
    let mut have = BTreeMap::<String, BTreeSet<String>>::new();
    for ent in fs::read_dir(q.path("data")).unwrap() {
        let ent = ent.unwrap();
        let names = fs::read_dir(ent.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        have.insert(ent.file_name().into_string().unwrap(), names);
    }
    prop_assert_eq!(
        &have,
        &want,
        "data/ differs from the model (leftover or lost mail/dest folders)"
    );
    for m in model.iter().filter(|m| m.state.is_some()) {
        let d = q.path(m.made.dest_dir());
        let mut files: Vec<String> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        prop_assert_eq!(
            files,
            vec!["metadata".to_string(), "schedule".to_string()],
            "{}",
            d.display()
        );
        let sched = fs::read(d.join("schedule")).unwrap();
        let want = parse::schedule_json(&Schedule {
            at: m.at,
            last_attempt: m.last,
        });
        prop_assert_eq!(String::from_utf8_lossy(&sched), want, "schedule of {}", m.made.id);
        prop_assert!(q.path(m.made.mail_dir()).join("contents").is_file());
    }
    prop_assert!(temp_files(q.root()).is_empty());
    Ok(())
}

fn run_case(mails: Vec<MailSpec>, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let q = TestQueue::new();
    fs::create_dir(q.path("hold")).unwrap();
    let mut model: Vec<M> = Vec::new();
    for (i, spec) in mails.iter().enumerate() {
        // The writer gives all recipients of a mail one schedule; rewrite
        // each afterwards to the spec's own times.
        let to: Vec<String> = (0..spec.rcpts.len()).map(|r| format!("r{r}@m{i}.example")).collect();
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        let made = q.enqueue(&to).at(base()).create();
        for (mk, &(state, at, retried)) in made.entries.into_iter().zip(&spec.rcpts) {
            let at = minutes(at);
            let last = retried.then(|| at - SignedDuration::from_hours(4));
            let s = parse::schedule_json(&Schedule { at, last_attempt: last });
            fs::write(q.path(mk.dest_dir()).join("schedule"), s).unwrap();
            if state != State::Queued {
                q.put(&mk.id, "queue", dir(state));
            }
            model.push(M {
                made: mk,
                state: Some(state),
                at,
                last,
            });
        }
    }
    let queue = q.open();
    check(&q, &model)?;
    let stop = AtomicBool::new(false);
    for (n, step) in steps.iter().enumerate() {
        let later = matches!(
            step.kind,
            Kind::Recover { later: true, .. } | Kind::Drop { later: true, .. }
        );
        let now = if later {
            Timestamp::now() + SignedDuration::from_hours(2)
        } else {
            Timestamp::now()
        };
        let (force, stale) = match step.kind {
            Kind::Recover { stale_h, force, .. } => (force, Some(SignedDuration::from_hours(stale_h))),
            Kind::Drop { force, .. } => (force, Some(SignedDuration::from_hours(1))),
            _ => (false, None),
        };
        // Distinct entries, each passed with its state (or a wrong one).
        let mut picked = BTreeSet::new();
        let mut batch: Vec<(State, EntryId)> = Vec::new();
        let mut expected: BTreeMap<String, (Outcome, Option<State>, Timestamp)> = BTreeMap::new();
        for (k, &p) in step.pick.iter().enumerate() {
            let i = p % model.len();
            if !picked.insert(i) {
                continue;
            }
            let m = &model[i];
            let mut passed = match step.wrong.get(k).copied().flatten() {
                Some(w) => State::ALL[w],
                None => m.state.unwrap_or(State::Queued),
            };
            if matches!(step.kind, Kind::Cleanup) {
                passed = State::Cleanup;
            }
            batch.push((passed, EntryId::new(m.made.id.as_bytes())));
            expected.insert(m.made.id.clone(), expect(&step.kind, passed, m));
        }
        let rules = Rules {
            dry_run: false,
            stop: &stop,
            force_inflight: force,
            stuck_after: stale.unwrap_or(SignedDuration::from_hours(1)),
            now,
        };
        let (end, got) = apply(&queue, op_of(&step.kind), &batch, &rules);
        prop_assert_eq!(end, End::Finished);
        prop_assert_eq!(got.len(), batch.len(), "one report per entry");
        for c in &got {
            let id = c.subject.to_string();
            let (want, new_state, new_at) = expected[&id].clone();
            prop_assert!(
                same_kind(&c.outcome, &want),
                "step {} {:?}: entry {} (model {:?}) gave {:?}, expected {:?}",
                n,
                step.kind,
                id,
                model.iter().find(|m| m.made.id == id).map(|m| m.state),
                c.outcome,
                want
            );
            let m = model.iter_mut().find(|m| m.made.id == id).unwrap();
            m.state = new_state;
            m.at = new_at;
        }
        check(&q, &model).map_err(|e| TestCaseError::fail(format!("after step {n} {:?}: {e}", step.kind)))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_the_queue_consistent_with_the_model(
        mails in prop::collection::vec(mail_strategy(), 1..=4),
        steps in prop::collection::vec(step_strategy(), 1..=12),
    ) {
        run_case(mails, steps)?;
    }
}

/// Rules with no inflight exceptions, at the real time.
fn plain_rules(dry_run: bool, stop: &AtomicBool) -> Rules<'_> {
    Rules {
        dry_run,
        stop,
        force_inflight: false,
        stuck_after: SignedDuration::from_hours(1),
        now: Timestamp::now(),
    }
}

/// The entries `simple` made, as queued entries to apply an operation to.
fn queued(made: &[Created]) -> Vec<(State, EntryId)> {
    made.iter()
        .map(|m| (State::Queued, EntryId::new(m.id.as_bytes())))
        .collect()
}

#[test]
fn apply_with_the_stop_flag_set_changes_nothing_and_says_it_stopped() {
    let q = TestQueue::new();
    let a = q.simple(3, "2026-11-23T10:00:00Z");
    let before = q.snapshot();
    let stop = AtomicBool::new(true);
    let rules = plain_rules(false, &stop);
    let batch = queued(&a);
    let (end, reported) = apply(&q.open(), (Verb::Drop, EntryOp::Drop), &batch, &rules);
    assert_eq!(end, End::Interrupted);
    assert!(reported.is_empty());
    assert_tree(&before, &q.snapshot());
}

#[test]
fn dry_run_apply_reports_done_and_changes_nothing() {
    let q = TestQueue::new();
    let a = q.simple(2, "2026-11-23T10:00:00Z");
    let before = q.snapshot();
    let stop = AtomicBool::new(false);
    let rules = plain_rules(true, &stop);
    let batch = queued(&a);
    for op in [
        (Verb::Drop, EntryOp::Drop),
        (Verb::Hold, EntryOp::Move(State::Held)),
        (Verb::Reschedule, EntryOp::Schedule(Reschedule::SetAt(minutes(5)))),
        (
            Verb::Defer,
            EntryOp::Schedule(Reschedule::DeferBy(SignedDuration::from_hours(1), base())),
        ),
    ] {
        let (_, got) = apply(&q.open(), op, &batch, &rules);
        let got: Vec<Outcome> = got.into_iter().map(|c| c.outcome).collect();
        assert_eq!(got, vec![Outcome::Done, Outcome::Done], "{op:?}");
        assert_tree(&before, &q.snapshot());
    }
}
