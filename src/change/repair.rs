//! `check --repair`: each finding's repair, through the engine like every
//! other change (asked once, recorded, durable, stopped by Ctrl-C).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::Timestamp;

use super::{Change, Control, Ctx, Notice, Outcome, Report, Step, Subject, Verb, Work};
use crate::error::Result;
use crate::queue::Queue;
use crate::queue::check::{Finding, Quarantine, Repair};

pub struct RepairWork {
    pub quarantine: Mutex<Quarantine>,
    pub now: Timestamp,
}

impl Work for RepairWork {
    type Item = Finding;

    fn subject(&self, f: &Finding) -> Subject {
        Subject::Path(f.path.to_string())
    }

    fn operation(&self, _: &Finding) -> &'static str {
        "repair"
    }

    fn batch(&self) -> usize {
        64
    }

    fn apply(&self, queue: &Queue, batch: &[Finding], ctx: Ctx, stop: &AtomicBool) -> Vec<Option<(Change, Step)>> {
        let mut q = self.quarantine.lock().expect("no panics while holding it");
        batch
            .iter()
            .map(|f| {
                if stop.load(Ordering::SeqCst) {
                    return None;
                }
                let step = match &f.repair {
                    Repair::Manual(_) => Step::Final(Outcome::Skipped("needs a person".into())),
                    _ if ctx.dry_run => Step::Final(Outcome::Done),
                    _ => queue.repair(f, &mut q, self.now),
                };
                let mut change = Change::path(f.path.to_string());
                change.detail = Some(format!("{} [{}]: {}", f.problem, f.code, f.repair.describe()));
                if let Step::Final(o) = &step {
                    change.outcome = o.clone();
                }
                Some((change, step))
            })
            .collect()
    }
}

/// Repairs `findings`. Putting back claimed entries needs every claimer
/// gone: when a run still holds claims, those findings are left alone.
/// Returns the report and the quarantine (to say where things went).
pub fn apply(
    queue: &Queue,
    mut findings: Vec<Finding>,
    now: Timestamp,
    ctl: &mut Control,
) -> Result<(Report, Quarantine)> {
    let mut report = Report::new(Verb::Repair, ctl.dry_run);
    let claimed = |f: &Finding| matches!(&f.repair, Repair::Recover { state, .. } if state.unclaimed().is_some());
    let lock = if findings.iter().any(claimed) {
        queue.claim_lock(true)?
    } else {
        None
    };
    if lock.is_none() && findings.iter().any(claimed) {
        let before = findings.len();
        findings.retain(|f| !claimed(f));
        ctl.observer.notice(&Notice::ClaimsBusy(before - findings.len()));
    }
    let work = RepairWork {
        quarantine: Mutex::new(Quarantine::new(now)),
        now,
    };
    super::run(queue, &work, findings, ctl, &mut report);
    drop(lock);
    Ok((
        report,
        work.quarantine.into_inner().expect("no panics while holding it"),
    ))
}
