//! Evacuation: `export` writes selected entries as one archive
//! (`queue::archive`), `import` adds an archive's entries to a queue by the
//! writer's own enqueue protocol, through the engine like every change.
//!
//! Export with `hold` first takes the queued entries away from the writer
//! (a hold through the engine, recorded in the log), then reads them from
//! `hold/`: so the old host cannot send a mail after it was exported. The
//! archive records them as `queue/<id>`, their state before the hold, so
//! the new host queues them; entries held before stay `hold/<id>`.
//!
//! Import streams: each mail's whole recipients are handed to the engine
//! (`run`) as soon as they have arrived, all parts sharing one `Report`
//! (so the run is confirmed and warned about once). Each recipient is
//! written as the writer enqueues: `data/<mail>/contents`, the dest folder
//! with `schedule` and `metadata`, a sync, then the link last, and the
//! state folder synced before it is reported done. What the queue already
//! has is "already there"; the same id with other bytes is a conflict,
//! never overwritten.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::Timestamp;
use nix::errno::Errno;

use super::{BATCH, Change, Control, Ctx, End, Notice, Observer, Outcome, Report, Step, Subject, Tally, Verb, Work};
use crate::error::Result;
use crate::queue::archive::{self, DestFiles, Ending, MAX_CONTENTS, Mail, Recipient};
use crate::queue::ops::{EntryOp, Item, Retry};
use crate::queue::write::{Found, ImportError};
use crate::queue::{EntryId, Link, MAX_JSON_FILE, MailId, Queue, State, Want, parse};
use crate::select::{self, Selection};

/// The reason an import gives an entry the queue has already.
pub const ALREADY: &str = "already there";

/// One recipient to import, with its mail.
#[derive(Debug, Clone)]
pub struct ImportItem {
    pub mail: Arc<Mail>,
    pub rcpt: Arc<Recipient>,
}

pub struct ImportWork;

fn import_change(r: &Recipient) -> Change {
    Change {
        op: "",
        subject: Subject::Entry(r.id.clone()),
        from: None,
        to: Some(r.state),
        detail: Some(format!("into {}/", r.state.dir())),
        before: None,
        after: None,
        note: None,
        note_before: None,
        outcome: Outcome::Done,
    }
}

fn ended(mut change: Change, step: Step) -> Option<(Change, Step)> {
    if let Step::Final(o) = &step {
        change.outcome = o.clone();
    }
    Some((change, step))
}

fn no_space(e: Errno) -> bool {
    matches!(e, Errno::ENOSPC | Errno::EDQUOT)
}

fn step_for(e: &ImportError) -> Step {
    match e {
        ImportError::Io(_, errno) if no_space(*errno) => Step::Retry(Retry::NoSpace),
        e => Step::Final(Outcome::Failed(e.to_string())),
    }
}

impl Work for ImportWork {
    type Item = ImportItem;

    fn subject(&self, item: &ImportItem) -> Subject {
        Subject::Entry(item.rcpt.id.clone())
    }

    fn operation(&self, _: &ImportItem) -> &'static str {
        "import"
    }

    fn apply(&self, queue: &Queue, batch: &[ImportItem], ctx: Ctx, stop: &AtomicBool) -> Vec<Option<(Change, Step)>> {
        let mut out: Vec<Option<(Change, Step)>> = vec![None; batch.len()];
        // What the queue has of each already.
        let mut todo: Vec<(usize, Found)> = Vec::new();
        for (k, item) in batch.iter().enumerate() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let r = &item.rcpt;
            let change = import_change(r);
            match queue.find_import(&r.id, r.link, &r.metadata, &r.schedule) {
                Found::Already(state) => {
                    out[k] = ended(
                        change,
                        Step::Final(Outcome::Skipped(format!("{ALREADY} (in {}/)", state.dir()))),
                    );
                }
                Found::Conflict(why) => out[k] = ended(change, Step::Final(Outcome::Failed(why))),
                _ if ctx.dry_run => out[k] = ended(change, Step::Final(Outcome::Done)),
                found => todo.push((k, found)),
            }
        }
        if todo.is_empty() {
            return out;
        }
        // The files: each mail's contents once, then each recipient's folder.
        let mut made: HashSet<MailId> = HashSet::new();
        let mut contents: BTreeMap<MailId, std::result::Result<(), ImportError>> = BTreeMap::new();
        let mut written: Vec<(usize, bool)> = Vec::new();
        for (k, found) in todo {
            let item = &batch[k];
            let (mail, r) = (&item.mail, &item.rcpt);
            let ready = contents.entry(mail.id).or_insert_with(|| {
                queue.import_contents(mail.id, &mail.contents, mail.written).map(|now| {
                    if now {
                        made.insert(mail.id);
                    }
                })
            });
            if let Err(e) = ready {
                out[k] = ended(import_change(r), step_for(e));
                continue;
            }
            match found {
                Found::Unlinked => written.push((k, false)),
                found => match queue.import_dest(r.link, &r.metadata, &r.schedule, found == Found::Partial) {
                    Ok(()) => written.push((k, true)),
                    Err(e) => out[k] = ended(import_change(r), step_for(&e)),
                },
            }
        }
        // Durable before any link appears (one sync for the batch).
        if !written.is_empty()
            && let Err(e) = nix::unistd::syncfs(queue.data())
        {
            for (k, wrote) in written.drain(..) {
                let r = &batch[k].rcpt;
                if wrote {
                    queue.remove_import_dest(r.link);
                }
                out[k] = ended(
                    import_change(r),
                    Step::Final(Outcome::Failed(format!(
                        "its files could not be synced ({}): not imported",
                        e.desc()
                    ))),
                );
            }
        }
        // The links, last.
        let mut linked: HashSet<State> = HashSet::new();
        let mut noted = false;
        for (k, wrote) in written {
            let r = &batch[k].rcpt;
            // A held entry's note, written aside first and put in place once
            // its link is: as `hold` does, a note never names an entry that
            // is not held. Failing, the entry is held without it.
            let staged = match (r.state, &r.hold_note) {
                (State::Held, Some(n)) => queue.stage_hold_note(&r.id, n).ok(),
                _ => None,
            };
            let step = match queue.import_link(r.state, &r.id, r.link) {
                Ok(()) => {
                    linked.insert(r.state);
                    Step::Final(Outcome::Done)
                }
                // Made meanwhile by another process.
                Err(Errno::EEXIST) => match queue.find_import(&r.id, r.link, &r.metadata, &r.schedule) {
                    Found::Already(state) => Step::Final(Outcome::Skipped(format!("{ALREADY} (in {}/)", state.dir()))),
                    found => {
                        if wrote {
                            queue.remove_import_dest(r.link);
                        }
                        Step::Final(Outcome::Failed(match found {
                            Found::Conflict(why) => why,
                            _ => format!("{}/{} appeared meanwhile: not overwritten", r.state.dir(), r.id),
                        }))
                    }
                },
                Err(e) => {
                    if wrote {
                        queue.remove_import_dest(r.link);
                    }
                    if no_space(e) {
                        Step::Retry(Retry::NoSpace)
                    } else {
                        Step::Final(Outcome::Failed(format!(
                            "linking {}/{}: {}",
                            r.state.dir(),
                            r.id,
                            e.desc()
                        )))
                    }
                }
            };
            let mut change = import_change(r);
            if let Some(tmp) = staged {
                if step == Step::Final(Outcome::Done) && queue.place_hold_note(&tmp, &r.id).is_ok() {
                    noted = true;
                    change.note = r.hold_note.as_deref().map(|n| String::from_utf8_lossy(n).into_owned());
                } else {
                    queue.discard_hold_note(&tmp);
                }
            }
            out[k] = ended(change, step);
        }
        // A note not made durable is a hold without its reason, not an
        // entry lost: it fails nothing.
        if noted {
            let _ = queue.sync_hold_notes();
        }
        for state in linked {
            let synced = queue.state_dir(state).map_or(Ok(()), |d| d.fsync());
            if let Err(e) = synced {
                for (k, res) in out.iter_mut().enumerate() {
                    if let Some((c, step)) = res
                        && batch[k].rcpt.state == state
                        && *step == Step::Final(Outcome::Done)
                    {
                        c.outcome = Outcome::Failed(format!(
                            "linked, but {}/ could not be synced: {}",
                            state.dir(),
                            e.desc()
                        ));
                        *step = Step::Final(c.outcome.clone());
                    }
                }
            }
        }
        // A mail folder written for nothing is taken back.
        for mail in made {
            queue.remove_import_mail(mail);
        }
        out
    }
}

/// Imports the archive read from `input`: every whole recipient, by the
/// writer's enqueue protocol, through the engine. The `Ending` says what
/// the archive did not give whole (counted as failed in the report).
pub fn import(queue: &Queue, input: impl std::io::Read, ctl: &mut Control) -> (Report, Ending) {
    let mut report = Report::new(Verb::Import, ctl.dry_run);
    let stop: &AtomicBool = ctl.stop;
    let work = ImportWork;
    let ending = archive::read(input, BATCH, stop, &mut |part| {
        let items: Vec<ImportItem> = part
            .recipients
            .into_iter()
            .map(|r| ImportItem {
                mail: Arc::clone(&part.mail),
                rcpt: Arc::new(r),
            })
            .collect();
        let full = report.tally.no_space;
        super::run(queue, &work, items, ctl, &mut report);
        // A full disk ends the run (the engine said so once), as it would
        // had every item been known at the start.
        if report.end == End::Finished && report.tally.no_space == full {
            std::ops::ControlFlow::Continue(())
        } else {
            std::ops::ControlFlow::Break(())
        }
    });
    if report.end == End::Finished && stop.load(Ordering::SeqCst) {
        report.end = End::Interrupted;
    }
    if report.end == End::Finished {
        report.tally.matched += ending.lost;
        report.tally.failed += ending.lost;
        if report.first_problem.is_none() {
            report.first_problem = ending.cut.clone().or_else(|| ending.problems.first().cloned());
        }
    }
    (report, ending)
}

/// What `export` is asked for.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub selection: Selection,
    /// Hold the queued entries first (they are exported as `queue/<id>`).
    pub hold: bool,
    pub now: Timestamp,
}

/// How an export ended.
#[derive(Debug)]
pub enum ExportEnd {
    Finished,
    /// The stop flag: the archive has no trailer.
    Interrupted,
    /// The hold did not finish (interrupted, not confirmed, the log):
    /// nothing was written.
    HoldStopped,
    /// Writing the archive failed: it is incomplete.
    WriteFailed(std::io::Error),
}

/// What an export did.
#[derive(Debug)]
pub struct Exported {
    /// `done` counts the entries in the archive.
    pub tally: Tally,
    pub mails: u64,
    /// Ids that name no entry.
    pub missing: Vec<String>,
    /// Each entry not exported, and why (skipped, vanished, failed); not
    /// those the hold did not take (its report says why).
    pub not_exported: Vec<(EntryId, Outcome)>,
    /// The hold's report, with `hold`.
    pub hold: Option<Report>,
    /// How many entries this run held for the archive (with `hold`): when
    /// it is not whole they stay in `hold/`.
    pub held: u64,
    /// Entries the hold took that are not in the archive (unreadable,
    /// vanished, not reached) are put back into `queue/`: its report.
    pub released: Option<Report>,
    pub end: ExportEnd,
}

/// Records the entries a change did, and passes everything on (but the
/// question, when `ask` is false).
struct Recording<'o> {
    inner: &'o mut dyn Observer,
    held: HashSet<EntryId>,
    ask: bool,
}

impl Observer for Recording<'_> {
    fn confirm(&mut self, verb: Verb, count: usize) -> bool {
        !self.ask || self.inner.confirm(verb, count)
    }
    fn notice(&mut self, n: &Notice) {
        self.inner.notice(n)
    }
    fn change(&mut self, c: &Change) {
        if c.outcome == Outcome::Done
            && let Some(id) = c.id()
        {
            self.held.insert(id.clone());
        }
        self.inner.change(c)
    }
    fn progress(&mut self, done: u64, total: u64) {
        self.inner.progress(done, total)
    }
    fn scanned(&mut self, entries: u64) {
        self.inner.scanned(entries)
    }
}

/// One entry to export: where it is read from, and the state the archive
/// gives it.
struct Chosen {
    read_from: State,
    archived_as: State,
    id: EntryId,
    link: Link,
}

/// Why an entry in this state is not exported.
fn not_exportable(state: State) -> Option<&'static str> {
    match state {
        State::Queued | State::Held => None,
        State::Inflight => Some("in inflight/: a writer is sending it"),
        State::Cleanup => Some("in cleanup/: already sent or dropped"),
        State::Claimed | State::ClaimedHeld => Some("claimed: a running mqctl is changing it"),
    }
}

/// Exports the selected entries to `out` (nothing is written when `out`
/// is `None`: a dry run). Every file is read through the queue's bounded,
/// no-follow reads; a broken entry is not exported. Fails only when the
/// selection cannot be read.
pub fn export(queue: &Queue, req: ExportRequest, ctl: &mut Control, out: Option<&mut dyn Write>) -> Result<Exported> {
    let mut ex = Exported {
        tally: Tally::default(),
        mails: 0,
        missing: Vec::new(),
        not_exported: Vec::new(),
        hold: None,
        held: 0,
        released: None,
        end: ExportEnd::Finished,
    };
    let sel = &req.selection;
    let want = Want {
        headers: sel.needs_headers(),
        ..Want::FILES
    };
    let mut found: Vec<(State, EntryId, Link)> = Vec::new();
    let mut seen: HashSet<EntryId> = HashSet::new();
    let stop = ctl.stop;
    let mut scanned = 0u64;
    ex.missing = select::for_each(queue, sel, want, &mut |e| {
        if stop.load(Ordering::Relaxed) {
            return Ok(std::ops::ControlFlow::Break(()));
        }
        // An entry moved during the scan is seen once (as `collect` does).
        if sel.ids.is_empty() && !seen.insert(e.id.clone()) {
            return Ok(std::ops::ControlFlow::Continue(()));
        }
        scanned += 1;
        if scanned.is_multiple_of(4096) {
            ctl.observer.scanned(scanned);
        }
        ex.tally.matched += 1;
        let why = match (not_exportable(e.state), e.link) {
            (Some(why), _) => Outcome::Skipped(format!("{why}: not exported")),
            (None, Some(link)) if !e.is_broken() => {
                found.push((e.state, e.id, link));
                return Ok(std::ops::ControlFlow::Continue(()));
            }
            (None, _) => {
                let problems: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
                Outcome::Failed(format!(
                    "broken ({}): not exported (see `mqctl check`)",
                    problems.join("; ")
                ))
            }
        };
        ex.tally.add(&why);
        ex.not_exported.push((e.id, why));
        Ok(std::ops::ControlFlow::Continue(()))
    })?;
    if stop.load(Ordering::SeqCst) {
        ex.end = if req.hold {
            ExportEnd::HoldStopped
        } else {
            ExportEnd::Interrupted
        };
        return Ok(ex);
    }
    // Take the queued ones away from the writer first.
    let mut chosen: Vec<Chosen> = Vec::with_capacity(found.len());
    let mut held_by_run: HashSet<EntryId> = HashSet::new();
    if req.hold {
        let queued: Vec<Item> = found
            .iter()
            .filter(|(s, ..)| *s == State::Queued)
            .map(|(s, id, _)| Item::new(*s, id.clone()))
            .collect();
        let mut rec = Recording {
            inner: &mut *ctl.observer,
            held: HashSet::new(),
            ask: true,
        };
        let hold = {
            let mut hold_ctl = Control {
                dry_run: ctl.dry_run,
                stop,
                audit: &mut *ctl.audit,
                observer: &mut rec,
            };
            super::entries::apply(
                queue,
                super::entries::Request {
                    verb: Verb::Hold,
                    op: EntryOp::Move(State::Held),
                    target: super::entries::Target::Items(queued),
                    force_inflight: false,
                    stuck_after: jiff::SignedDuration::from_hours(1),
                    now: req.now,
                    hold: Some(crate::queue::holds::HoldNote {
                        reason: Some("exported (mqctl export --hold): drop once imported".into()),
                        ..crate::queue::holds::HoldNote::by_current_user(req.now)
                    }),
                },
                &mut hold_ctl,
            )?
        };
        let held = rec.held;
        ex.held = if ctl.dry_run { 0 } else { held.len() as u64 };
        if !ctl.dry_run {
            held_by_run.clone_from(&held);
        }
        let stopped = hold.end != End::Finished;
        ex.hold = Some(hold);
        if stopped {
            // Nothing is exported (what it held is put back below).
            ex.end = ExportEnd::HoldStopped;
            found.clear();
        }
        for (state, id, link) in found {
            match state {
                State::Held => chosen.push(Chosen {
                    read_from: State::Held,
                    archived_as: State::Held,
                    id,
                    link,
                }),
                _ if held.contains(&id) => chosen.push(Chosen {
                    read_from: if ctl.dry_run { State::Queued } else { State::Held },
                    archived_as: State::Queued,
                    id,
                    link,
                }),
                // Not held (vanished, skipped, failed): the hold said why.
                _ => ex.tally.skipped += 1,
            }
        }
    } else {
        chosen.extend(found.into_iter().map(|(state, id, link)| Chosen {
            read_from: state,
            archived_as: state,
            id,
            link,
        }));
    }
    // One mail at a time, in a stable order.
    chosen.sort_by(|a, b| (a.link.mail, a.link.dest, &a.id).cmp(&(b.link.mail, b.link.dest, &b.id)));
    let mut writer = match ex.end {
        ExportEnd::HoldStopped => None,
        _ => out.map(archive::Writer::new),
    };
    let mut buf = Vec::new();
    let mut at = 0;
    // What may be in the archive (given to the writer, even if writing it failed).
    let mut in_archive: HashSet<EntryId> = HashSet::new();
    while at < chosen.len() {
        if stop.load(Ordering::SeqCst) {
            ex.end = ExportEnd::Interrupted;
            break;
        }
        let mail = chosen[at].link.mail;
        let end = chosen[at..]
            .iter()
            .position(|c| c.link.mail != mail)
            .map_or(chosen.len(), |n| at + n);
        let group = &chosen[at..end];
        at = end;
        let contents = queue
            .data()
            .read_file_into(format!("{mail}/contents").as_str(), MAX_CONTENTS, &mut buf)
            .map_err(|e| match e {
                crate::queue::sys::ReadError::TooLarge(n) => format!(
                    "data/{mail}/contents is {n} bytes, over the {} MiB an archive member may hold",
                    MAX_CONTENTS >> 20
                ),
                e => format!("data/{mail}/contents {e}"),
            });
        let mut whole: Vec<(&Chosen, DestFiles)> = Vec::with_capacity(group.len());
        for c in group {
            let outcome = match &contents {
                Err(why) => Err(Outcome::Failed(format!("{why}: not exported"))),
                Ok(_) => read_dest(queue, c),
            };
            match outcome {
                Ok(files) => whole.push((c, files)),
                Err(o) => {
                    // Gone meanwhile (sent by the writer): not a failure.
                    let o = if queue.stat_entry(c.read_from, c.id.as_bytes()).is_none() {
                        Outcome::Vanished
                    } else {
                        o
                    };
                    ex.tally.add(&o);
                    ex.not_exported.push((c.id.clone(), o));
                }
            }
        }
        let (Ok(meta), false) = (&contents, whole.is_empty()) else {
            continue;
        };
        ex.mails += 1;
        ex.tally.done += whole.len() as u64;
        in_archive.extend(whole.iter().map(|(c, _)| c.id.clone()));
        if let Some(w) = &mut writer {
            let written = w.contents(mail, &buf, meta).and_then(|()| {
                whole
                    .iter()
                    .try_for_each(|(c, files)| w.recipient(c.archived_as, &c.id, c.link, files))
            });
            if let Err(e) = written {
                ex.end = ExportEnd::WriteFailed(e);
                writer = None;
                break;
            }
        }
    }
    if let Some(w) = writer {
        let closed = match ex.end {
            ExportEnd::Interrupted => w.abandon(),
            _ => w.finish(),
        };
        if let Err(e) = closed.and_then(|out| out.flush()) {
            ex.end = ExportEnd::WriteFailed(e);
        }
    }
    // Held for the archive and not in it: put back, so that only what was
    // exported stays held (a later `drop --state hold` drops only that).
    // Done even after Ctrl-C: it takes back this run's own work.
    let back: Vec<Item> = held_by_run
        .iter()
        .filter(|id| !in_archive.contains(*id))
        .map(|id| Item::new(State::Held, id.clone()))
        .collect();
    ex.held = held_by_run.len() as u64 - back.len() as u64;
    if !back.is_empty() {
        let unstoppable = AtomicBool::new(false);
        let mut rec = Recording {
            inner: &mut *ctl.observer,
            held: HashSet::new(),
            ask: false,
        };
        let mut back_ctl = Control {
            dry_run: false,
            stop: &unstoppable,
            audit: &mut *ctl.audit,
            observer: &mut rec,
        };
        let release = super::entries::Request {
            verb: Verb::Release,
            op: EntryOp::Move(State::Queued),
            target: super::entries::Target::Items(back),
            force_inflight: false,
            stuck_after: jiff::SignedDuration::from_hours(1),
            now: req.now,
            hold: None,
        };
        ex.released = Some(super::entries::apply(queue, release, &mut back_ctl)?);
    }
    Ok(ex)
}

/// Reads an entry's link (again: it must still be the one the scan saw),
/// metadata and schedule, each bounded and never through a link, and
/// checks both files parse.
fn read_dest(queue: &Queue, c: &Chosen) -> std::result::Result<DestFiles, Outcome> {
    let link = queue.entry_link(c.read_from, &c.id)?;
    if link != c.link {
        return Err(Outcome::Vanished);
    }
    let link_meta = queue
        .stat_entry(c.read_from, c.id.as_bytes())
        .ok_or(Outcome::Vanished)?;
    let dest = link.dest_path();
    let read = |name: &str| {
        let mut b = Vec::new();
        queue
            .data()
            .read_file_into(format!("{dest}/{name}").as_str(), MAX_JSON_FILE, &mut b)
            .map(|m| (b, m))
            .map_err(|e| Outcome::Failed(format!("data/{dest}/{name} {e}: not exported")))
    };
    let (metadata, metadata_meta) = read("metadata")?;
    let (schedule, schedule_meta) = read("schedule")?;
    parse::envelope(&metadata).map_err(|e| {
        Outcome::Failed(format!(
            "data/{dest}/metadata is invalid ({}): not exported",
            crate::escape::escape(&e)
        ))
    })?;
    parse::schedule(&schedule).map_err(|e| {
        Outcome::Failed(format!(
            "data/{dest}/schedule is invalid ({}): not exported",
            crate::escape::escape(&e)
        ))
    })?;
    Ok(DestFiles {
        metadata,
        metadata_meta,
        schedule,
        schedule_meta,
        link_meta,
        // Only an entry held before the export keeps its note: the ones
        // this export held are archived as queued.
        hold_note: (c.archived_as == State::Held)
            .then(|| queue.hold_note_text(&c.id))
            .flatten()
            .filter(|t| crate::queue::holds::HoldNote::is_note(t.as_bytes()))
            .map(String::into_bytes),
    })
}
