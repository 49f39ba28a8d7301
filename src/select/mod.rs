//! The selection language shared by the CLI and the TUI filter: ids (or
//! unique prefixes) and filters that combine with AND. `args` is the
//! language as flags; `complete` completes ids in the shell.

pub mod args;
pub mod complete;

use glob::{MatchOptions, Pattern};
use jiff::{SignedDuration, Timestamp};

use crate::error::{Error, Result};
use crate::queue::{Entry, EntryId, Filter, Queue, State, Want};

const GLOB_OPTS: MatchOptions = MatchOptions {
    case_sensitive: false,
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

/// A case-insensitive shell glob (`*@example.com`, `<>`).
#[derive(Debug, Clone)]
pub struct Glob(Pattern);

impl Glob {
    pub fn new(s: &str) -> Result<Glob> {
        // Lowercased here and in `matches`: the glob crate folds ASCII only.
        Pattern::new(&s.to_lowercase())
            .map(Glob)
            .map_err(|e| Error::Usage(format!("bad pattern {s:?}: {e}")))
    }
    pub fn matches(&self, s: &str) -> bool {
        let lower;
        let s = if s.is_ascii() {
            s
        } else {
            lower = s.to_lowercase();
            &lower
        };
        // `[...]` is glob syntax, yet an address literal typed as is
        // (`[192.0.2.1]`) must match itself.
        self.0.matches_with(s, GLOB_OPTS) || self.0.as_str().eq_ignore_ascii_case(s)
    }
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// A `--header 'Name: GLOB'` filter.
#[derive(Debug, Clone)]
pub struct HeaderFilter {
    pub name: String,
    pub value: Glob,
}

impl HeaderFilter {
    pub fn parse(s: &str) -> Result<HeaderFilter> {
        let (name, value) = s
            .split_once(':')
            .ok_or_else(|| Error::Usage(format!("--header {s:?}: expected 'Name: PATTERN'")))?;
        Ok(HeaderFilter {
            name: name.trim().to_string(),
            value: Glob::new(value.trim())?,
        })
    }
}

/// What to act on. Empty filters match everything.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Ids or unique id prefixes given by the user.
    pub ids: Vec<String>,
    /// `-` was given and stdin held no id: that selects nothing (not
    /// everything).
    pub read_no_ids: bool,
    pub states: Vec<State>,
    pub from: Option<Glob>,
    pub to: Option<Glob>,
    pub domain: Option<Glob>,
    pub mail: Option<String>,
    pub due: Option<bool>,
    pub retried: Option<bool>,
    /// Only inflight entries stuck for at least `stuck_after`.
    pub stuck: Option<bool>,
    pub stuck_after: SignedDuration,
    pub older_than: Option<SignedDuration>,
    pub younger_than: Option<SignedDuration>,
    pub larger_than: Option<u64>,
    pub subject: Option<Glob>,
    pub headers: Vec<HeaderFilter>,
    /// Only entries with (true) or without (false) problems.
    pub broken: Option<bool>,
    /// Free text over addresses and subject (the TUI's `/`).
    pub text: Option<String>,
    /// The time "due" and ages are measured against.
    pub now: Option<Timestamp>,
    /// Only held entries whose hold has ended (`release --expired`: the
    /// note's `until` has passed).
    pub expired: bool,
}

impl Default for Selection {
    fn default() -> Selection {
        Selection {
            ids: Vec::new(),
            read_no_ids: false,
            states: Vec::new(),
            from: None,
            to: None,
            domain: None,
            mail: None,
            due: None,
            retried: None,
            stuck: None,
            stuck_after: SignedDuration::from_hours(1),
            older_than: None,
            younger_than: None,
            larger_than: None,
            subject: None,
            headers: Vec::new(),
            broken: None,
            text: None,
            now: None,
            expired: false,
        }
    }
}

impl Selection {
    /// True when any filter (not ids) is set.
    pub fn has_filters(&self) -> bool {
        !self.states.is_empty() || self.needs_files() || self.broken.is_some() || self.expired
    }

    /// True when neither ids nor filters narrow anything.
    pub fn is_everything(&self) -> bool {
        self.ids.is_empty() && !self.read_no_ids && !self.has_filters()
    }

    /// True when a filter looks into `schedule`, `metadata` or `contents`.
    pub fn needs_files(&self) -> bool {
        self.from.is_some()
            || self.to.is_some()
            || self.domain.is_some()
            || self.mail.is_some()
            || self.due.is_some()
            || self.retried.is_some()
            || self.stuck.is_some()
            || self.older_than.is_some()
            || self.younger_than.is_some()
            || self.larger_than.is_some()
            || self.broken.is_some()
            || self.needs_headers()
    }

    pub fn needs_headers(&self) -> bool {
        self.subject.is_some() || !self.headers.is_empty() || self.text.is_some()
    }

    /// The least a scan must read to decide this selection.
    pub fn want(&self) -> Want {
        Want {
            link: self.needs_files(),
            files: self.needs_files(),
            headers: self.needs_headers(),
        }
    }

    /// The state folders to look in.
    pub fn state_list(&self) -> Vec<State> {
        if self.states.is_empty() {
            State::ALL.to_vec()
        } else {
            self.states.clone()
        }
    }

    fn now(&self) -> Timestamp {
        self.now.unwrap_or_else(Timestamp::now)
    }

    /// The filters on a held entry's note (read after the scan's).
    fn matches_note(&self, e: &Entry) -> bool {
        !self.expired || e.hold.as_ref().is_some_and(|n| n.expired(self.now()))
    }

    fn matches_files(&self, e: &Entry) -> bool {
        if let Some(b) = self.broken
            && e.is_broken() != b
        {
            return false;
        }
        let env = e.envelope.as_ref();
        if let Some(g) = &self.from
            && !env.is_some_and(|en| g.matches(&en.from_display()))
        {
            return false;
        }
        if let Some(g) = &self.to
            && !env.is_some_and(|en| g.matches(&en.to.to_string()))
        {
            return false;
        }
        if let Some(g) = &self.domain
            && !env.is_some_and(|en| g.matches(en.to.domain()))
        {
            return false;
        }
        if let Some(m) = &self.mail
            && !e.link.is_some_and(|l| l.mail.to_string().starts_with(m.as_str()))
        {
            return false;
        }
        let now = self.now();
        if let Some(due) = self.due
            && e.is_due(now) != Some(due)
        {
            return false;
        }
        if let Some(r) = self.retried
            && e.schedule.map(|s| s.last_attempt.is_some()) != Some(r)
        {
            return false;
        }
        if let Some(stuck) = self.stuck {
            let is = e.state == State::Inflight
                && e.since
                    .is_some_and(|t| crate::queue::is_stuck(t, now, self.stuck_after));
            if is != stuck {
                return false;
            }
        }
        let age = e.contents.map(|c| now.duration_since(c.written));
        if let Some(d) = self.older_than
            && age.is_none_or(|a| a <= d)
        {
            return false;
        }
        if let Some(d) = self.younger_than
            && age.is_none_or(|a| a >= d)
        {
            return false;
        }
        if let Some(n) = self.larger_than
            && e.contents.is_none_or(|c| c.size <= n)
        {
            return false;
        }
        true
    }

    fn matches_headers(&self, e: &Entry) -> bool {
        let h = e.headers.as_deref();
        if let Some(g) = &self.subject
            && !h.and_then(|h| h.subject.as_deref()).is_some_and(|s| g.matches(s))
        {
            return false;
        }
        for f in &self.headers {
            let hit = h.is_some_and(|h| {
                h.all
                    .iter()
                    .any(|(n, v)| n.eq_ignore_ascii_case(&f.name) && f.value.matches(v))
            });
            if !hit {
                return false;
            }
        }
        if let Some(t) = &self.text {
            let t = t.to_lowercase();
            let env = e.envelope.as_ref();
            let hay = [
                env.map(|en| en.from_display()),
                env.map(|en| en.to.to_string()),
                h.and_then(|h| h.subject.clone()),
                Some(e.id.to_string()),
            ];
            if !hay.iter().flatten().any(|s| s.to_lowercase().contains(&t)) {
                return false;
            }
        }
        true
    }
}

impl Filter for Selection {
    fn pre(&self, e: &Entry) -> bool {
        (self.states.is_empty() || self.states.contains(&e.state)) && self.matches_files(e)
    }
    fn post(&self, e: &Entry) -> bool {
        self.matches_headers(e)
    }
}

/// Ids resolved against the queue.
#[derive(Debug, Default)]
pub struct Resolved {
    /// Every (state, name) the given ids name. Two states for one id is a
    /// problem `check` reports; here both are kept.
    pub found: Vec<(State, EntryId)>,
    /// Ids (or prefixes) that name nothing: moved away or mistyped.
    pub missing: Vec<String>,
}

/// Resolves ids and unique prefixes, as git does. A prefix that names more
/// than one entry is a usage error that lists some of them.
/// How often an entry that is not where it was looked for is looked for
/// again: the writer moves an entry from `queue/` to `inflight/` and back in
/// well under a millisecond, so one look at each folder in turn can miss it
/// in both.
const LOOKS: usize = 4;

/// The folders among `states` that hold `id`, looked for again while it is
/// in none of them (see `LOOKS`).
fn locate_in(queue: &Queue, id: &[u8], states: &[State]) -> Vec<State> {
    let mut hits = Vec::new();
    for _ in 0..LOOKS {
        hits = queue.locate(id).into_iter().filter(|s| states.contains(s)).collect();
        if !hits.is_empty() {
            break;
        }
    }
    hits
}

/// Reads an entry named by its id where it is now: found in `state`, it may
/// have moved on since (see `LOOKS`). `None` when it left `states`.
fn read_where_it_is(queue: &Queue, state: State, id: &[u8], states: &[State], want: Want) -> Option<Entry> {
    if let Some(e) = queue.read_one(state, id, want) {
        return Some(e);
    }
    (0..LOOKS).find_map(|_| {
        locate_in(queue, id, states)
            .into_iter()
            .find_map(|s| queue.read_one(s, id, want))
    })
}

pub fn resolve_ids(queue: &Queue, ids: &[String], states: &[State]) -> Result<Resolved> {
    let mut out = Resolved::default();
    let all_full = ids.iter().all(|i| EntryId::new(i.as_bytes()).is_well_formed());
    if all_full {
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            if !seen.insert(id) {
                continue;
            }
            let hits = locate_in(queue, id.as_bytes(), states);
            if hits.is_empty() {
                out.missing.push(id.clone());
            }
            out.found
                .extend(hits.into_iter().map(|s| (s, EntryId::new(id.as_bytes()))));
        }
        return Ok(out);
    }
    let mut names = queue.names(states)?;
    names.sort_by(|a, b| a.1.cmp(&b.1));
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        let p = id.as_bytes();
        if p.is_empty() {
            continue;
        }
        let start = names.partition_point(|(_, n)| n.as_bytes() < p);
        let hits: Vec<&(State, EntryId)> = names[start..]
            .iter()
            .take_while(|(_, n)| n.as_bytes().starts_with(p))
            .collect();
        let distinct: std::collections::BTreeSet<&EntryId> = hits.iter().map(|(_, n)| n).collect();
        let exact = hits.iter().any(|(_, n)| n.as_bytes() == p);
        if distinct.len() > 1 && !exact {
            let some: Vec<String> = distinct.iter().take(5).map(|n| n.to_string()).collect();
            return Err(Error::Usage(format!(
                "id prefix {id:?} is ambiguous: it matches {} entries ({}{}); type more of it",
                distinct.len(),
                some.join(", "),
                if distinct.len() > 5 { ", …" } else { "" }
            )));
        }
        if hits.is_empty() {
            out.missing.push(id.clone());
        }
        for (s, n) in hits {
            if (!exact || n.as_bytes() == p) && seen.insert((*s, n.clone())) {
                out.found.push((*s, n.clone()));
            }
        }
    }
    Ok(out)
}

/// The shortest prefix (at least `min` bytes) of each id that no other id in
/// `ids` shares. Returns them in the order of `ids`.
pub fn short_ids(ids: &[&EntryId], min: usize) -> Vec<String> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by(|&a, &b| ids[a].cmp(ids[b]));
    let common = |a: &[u8], b: &[u8]| a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let mut out = vec![String::new(); ids.len()];
    for (k, &i) in order.iter().enumerate() {
        let me = ids[i].as_bytes();
        let mut need = min;
        for nb in [k.checked_sub(1), Some(k + 1)].into_iter().flatten() {
            if let Some(&j) = order.get(nb)
                && ids[j] != ids[i]
            {
                need = need.max(common(me, ids[j].as_bytes()) + 1);
            }
        }
        let cut = need.min(me.len());
        out[i] = crate::escape::escape_bytes(&me[..cut]).into_owned();
    }
    out
}

/// Gives `sink` every entry the selection names: the given ids (resolved,
/// then filtered), or a parallel scan of the state folders. Returns the ids
/// that named nothing.
pub fn for_each(
    queue: &Queue,
    sel: &Selection,
    want: Want,
    sink: &mut dyn FnMut(Entry) -> Result<std::ops::ControlFlow<()>>,
) -> Result<Vec<String>> {
    use rayon::prelude::*;
    let states = sel.state_list();
    if sel.read_no_ids {
        return Ok(Vec::new());
    }
    // A held entry's note is mqctl's, not the writer's: read beside the
    // entry, for what shows entries and for the filters on it.
    let notes = want.files || sel.expired;
    let sink = &mut |mut e: Entry| {
        if notes {
            queue.add_hold_note(&mut e);
        }
        if !sel.matches_note(&e) {
            return Ok(std::ops::ControlFlow::Continue(()));
        }
        sink(e)
    };
    if sel.ids.is_empty() {
        queue.scan(&states, want, sel, sink)?;
        return Ok(Vec::new());
    }
    let resolved = resolve_ids(queue, &sel.ids, &states)?;
    let entries: Vec<Entry> = resolved
        .found
        .par_iter()
        .filter_map(|(state, id)| {
            let e = read_where_it_is(queue, *state, id.as_bytes(), &states, want)?;
            (sel.pre(&e) && sel.post(&e)).then_some(e)
        })
        .collect();
    for e in entries {
        if sink(e)?.is_break() {
            break;
        }
    }
    Ok(resolved.missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_are_case_insensitive_and_match_null_sender() {
        assert!(Glob::new("*@EXAMPLE.com").unwrap().matches("bob@example.com"));
        assert!(Glob::new("<>").unwrap().matches("<>"));
        assert!(!Glob::new("<>").unwrap().matches("a@b"));
    }

    #[test]
    fn header_filter_needs_a_colon() {
        assert!(HeaderFilter::parse("X-Spam: yes*").is_ok());
        assert!(HeaderFilter::parse("nocolon").is_err());
    }

    #[test]
    fn short_ids_are_unique_prefixes() {
        let a = EntryId::new(b"abcdef01-0000-4000-8000-000000000000");
        let b = EntryId::new(b"abcdef02-0000-4000-8000-000000000000");
        let c = EntryId::new(b"12345678-0000-4000-8000-000000000000");
        let s = short_ids(&[&a, &b, &c], 4);
        assert_eq!(s, vec!["abcdef01", "abcdef02", "1234"]);
    }
}
