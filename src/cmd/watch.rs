//! `mqctl watch [SELECTION]`: every change to the queue as it happens, one
//! line per entry moved (time, id, from-state -> to-state, recipient), for
//! a second terminal or a script. Only the entry that moved is read, to
//! know its recipient and to apply the selection; nothing else.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::{Context, flush, selection, stdout};
use crate::cli::{WatchArgs, WatchFormat};
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::queue::events::{Census, Event, Mode, Rescan, Watch, describe};
use crate::queue::{EntryId, Filter, Queue, State};
use crate::select::Selection;

/// What is remembered of an entry seen moving, for when it goes away (a
/// finished cleanup leaves nothing to read).
#[derive(Clone)]
struct Seen {
    recipient: Option<String>,
    sender: Option<String>,
    matches: bool,
}

/// How many entries are remembered at most (the oldest are forgotten first).
const REMEMBER: usize = 100_000;

#[derive(Default)]
struct Memory {
    map: HashMap<EntryId, Seen>,
    order: VecDeque<EntryId>,
}

impl Memory {
    fn put(&mut self, id: &EntryId, s: Seen) {
        if self.map.insert(id.clone(), s).is_none() {
            self.order.push_back(id.clone());
            if self.order.len() > REMEMBER
                && let Some(old) = self.order.pop_front()
            {
                self.map.remove(&old);
            }
        }
    }
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    event: &'a str,
    id: String,
    from: Option<&'a str>,
    to: Option<&'a str>,
    recipient: Option<&'a str>,
    sender: Option<&'a str>,
    /// True when the change was found by reading the queue again (events
    /// were lost), not announced as it happened.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    rescan: bool,
}

pub fn run(ctx: &Context, args: &WatchArgs) -> Result<ExitCode> {
    let stop = super::change::stop_flag();
    let sel = selection(&args.select, ctx.now, args.stuck.stuck_after)?;
    if !sel.ids.is_empty() {
        return Err(Error::Usage(
            "watch takes filters, not ids (an id's changes: mqctl watch | grep ID)".into(),
        ));
    }
    let queue = ctx.open_queue()?;
    let mut watch = Watch::start(&queue)?;
    if let Mode::Polling { why, .. } = watch.mode() {
        ctx.warn(why);
    }
    let mut census = Census::read(&queue)?;
    let states = sel.states.clone();
    let sel = Selection {
        states: Vec::new(),
        ..sel
    };
    let mut w = Watcher {
        everything: sel.is_everything(),
        queue: &queue,
        states,
        sel,
        memory: Memory::default(),
        out: stdout(),
        format: args.format,
    };
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(ExitCode::Success);
        }
        let Some(ev) = watch.next(Duration::from_millis(200)) else {
            continue;
        };
        let r = match ev {
            Event::Rescan(why) => {
                if why == Rescan::Overflow {
                    ctx.warn("changes came faster than they could be told: reading the queue again");
                }
                watch.refresh(&queue)?;
                let missed = census.resync(&queue)?;
                missed.iter().try_for_each(|e| w.emit(e, true))
            }
            e => {
                if census.apply(&e) {
                    w.emit(&e, false)
                } else {
                    Ok(())
                }
            }
        };
        match r {
            Ok(()) => {}
            // The reader went away (`| head`): that is the end, not an error.
            Err(e) if e.is_broken_pipe() => return Ok(ExitCode::Success),
            Err(e) => return Err(e),
        }
    }
}

struct Watcher<'a> {
    queue: &'a Queue,
    /// `--state`: a change into or out of one of these.
    states: Vec<State>,
    sel: Selection,
    memory: Memory,
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
    format: WatchFormat,
    everything: bool,
}

impl Watcher<'_> {
    fn emit(&mut self, e: &Event, rescan: bool) -> Result<()> {
        let (id, from, to) = match e {
            Event::Moved { id, from, to } => (id, Some(*from), Some(*to)),
            Event::Added { id, to } => (id, None, Some(*to)),
            Event::Removed { id, from } => (id, Some(*from), None),
            Event::Rescan(_) => return Ok(()),
        };
        if !self.states.is_empty() && !from.into_iter().chain(to).any(|s| self.states.contains(&s)) {
            return Ok(());
        }
        let seen = match to {
            Some(state) => self.read(state, id),
            None => self.memory.map.remove(id),
        };
        let matches = self.everything || seen.as_ref().is_some_and(|s| s.matches);
        if !matches {
            return Ok(());
        }
        let event = describe(from, to);
        let now = Timestamp::now();
        let recipient = seen.as_ref().and_then(|s| s.recipient.as_deref());
        let sender = seen.as_ref().and_then(|s| s.sender.as_deref());
        match self.format {
            WatchFormat::Jsonl => {
                let line = Line {
                    time: crate::queue::parse::format_timestamp(now),
                    event,
                    id: id.to_string(),
                    from: from.map(State::dir),
                    to: to.map(State::dir),
                    recipient,
                    sender,
                    rescan,
                };
                let mut w = crate::output::SafeJson(&mut self.out);
                serde_json::to_writer(&mut w, &line).map_err(std::io::Error::from)?;
                w.write_all(b"\n")?;
            }
            WatchFormat::Text => {
                let state = |s: Option<State>| s.map_or("-", State::dir);
                writeln!(
                    self.out,
                    "{} {id} {} -> {} ({event}{}) {}",
                    now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
                    state(from),
                    state(to),
                    if rescan { ", found by a rescan" } else { "" },
                    recipient.unwrap_or("?")
                )?;
            }
        }
        flush(&mut self.out)
    }

    /// Reads the entry where it is now, remembers it, says if it matches.
    fn read(&mut self, state: State, id: &EntryId) -> Option<Seen> {
        let want = if self.sel.needs_headers() {
            crate::queue::Want::ALL
        } else {
            crate::queue::Want::FILES
        };
        // Where it went, or (when it has moved on already) where it is now:
        // its envelope is the same wherever its link is.
        let e = self.queue.read_one(state, id.as_bytes(), want).or_else(|| {
            self.queue
                .locate(id.as_bytes())
                .into_iter()
                .find_map(|s| self.queue.read_one(s, id.as_bytes(), want))
        });
        let seen = match &e {
            Some(e) => Seen {
                recipient: e
                    .envelope
                    .as_ref()
                    .map(|en| crate::escape::escape(&en.to.to_string()).into_owned()),
                sender: e
                    .envelope
                    .as_ref()
                    .map(|en| crate::escape::escape(&en.from_display()).into_owned()),
                matches: self.sel.pre(e) && self.sel.post(e),
            },
            // Gone again already: what was remembered, if anything.
            None => return self.memory.map.get(id).cloned(),
        };
        self.memory.put(id, seen.clone());
        Some(seen)
    }
}
