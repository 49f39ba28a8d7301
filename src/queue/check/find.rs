//! Finding what is wrong: the root, every entry, every mail folder, and
//! mails enqueued twice.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;

use jiff::Timestamp;
use rayon::prelude::*;

use super::{CheckOptions, Finding, KNOWN_ROOT, Rel, Repair};
use crate::error::Result;
use crate::queue::ops::is_temp_name;
use crate::queue::sys::{Dir, Kind, Meta, ReadError};
use crate::queue::{
    Entry, EntryId, FileIssue, Link, MailId, Problem, Queue, State, Want, headers, is_stuck, parse_uuid,
};

fn ts(t: (i64, i64)) -> Timestamp {
    Timestamp::new(t.0, t.1 as i32).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Keeps the first finding for each path; later ones about a path already
/// being quarantined (or inside one) are dropped.
#[derive(Default)]
struct Findings {
    list: Vec<Finding>,
    quarantined: Vec<Rel>,
    seen: HashSet<(Rel, &'static str)>,
}

impl Findings {
    fn push(&mut self, f: Finding) {
        if self.quarantined.iter().any(|q| f.path.within(q)) {
            return;
        }
        if !self.seen.insert((f.path.clone(), f.code)) {
            return;
        }
        if let Repair::Quarantine { paths, .. } = &f.repair {
            if paths.iter().all(|p| self.quarantined.iter().any(|q| p.within(q))) {
                return;
            }
            self.quarantined.extend(paths.iter().cloned());
        }
        self.list.push(f);
    }
}

/// Priority of a state when the same entry or dest is linked twice: the
/// one kept is the one that still delivers the mail (a duplicate delivery
/// is better than a lost mail).
fn keep_rank(s: State) -> u8 {
    match s {
        State::Queued => 0,
        State::Claimed => 1,
        State::Held => 2,
        State::ClaimedHeld => 3,
        State::Inflight => 4,
        State::Cleanup => 5,
    }
}

/// Parses a link text leniently: the non-standard spellings of a valid
/// target (`//`, `./`, trailing `/`, uppercase) that `--repair` may rewrite.
pub(crate) fn lenient_link(text: &[u8]) -> Option<Link> {
    let s = std::str::from_utf8(text).ok()?;
    let parts: Vec<&str> = s.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    match parts.as_slice() {
        ["..", "data", m, d] => Some(Link {
            mail: MailId(parse_uuid(m.to_ascii_lowercase().as_bytes())?),
            dest: crate::queue::DestId(parse_uuid(d.to_ascii_lowercase().as_bytes())?),
        }),
        _ => None,
    }
}

impl Queue {
    /// Finds every problem. Reads every entry and walks `data/`.
    pub fn check(&self, opts: &CheckOptions) -> Result<Vec<Finding>> {
        let owner = (self.root_meta().uid, self.root_meta().gid);
        let mut f = Findings::default();
        self.check_root(&mut f, owner)?;

        let mut entries: Vec<Entry> = Vec::new();
        self.scan(&State::ALL, Want::FILES, &crate::queue::scan::All, &mut |e| {
            entries.push(e);
            Ok(ControlFlow::Continue(()))
        })?;
        // Which dests are linked, and by whom.
        let mut by_dest: HashMap<Link, Vec<(State, EntryId)>> = HashMap::new();
        let mut by_id: HashMap<EntryId, Vec<State>> = HashMap::new();
        for e in &entries {
            by_id.entry(e.id.clone()).or_default().push(e.state);
            if let Some(l) = e.link {
                by_dest.entry(l).or_default().push((e.state, e.id.clone()));
            }
        }
        // A mis-spelt link (rewritten by --repair) still names its mail and
        // dest: neither is an orphan to quarantine.
        let respelt: Vec<Link> = entries
            .iter()
            .flat_map(|e| &e.problems)
            .filter_map(|p| match p {
                Problem::BadLinkText(t) => lenient_link(t),
                _ => None,
            })
            .collect();
        let linked_mails: HashSet<MailId> = by_dest.keys().chain(&respelt).map(|l| l.mail).collect();
        self.check_duplicates(&mut f, &by_id, &by_dest);
        for e in &entries {
            self.check_entry(&mut f, e, &by_dest, owner, opts);
        }
        self.check_data(&mut f, &by_dest, &respelt, &linked_mails, owner, opts)?;
        self.check_notes(&mut f, &by_id, opts)?;
        self.check_message_ids(&mut f, &entries)?;
        Ok(f.list)
    }

    fn check_root(&self, f: &mut Findings, owner: (u32, u32)) -> Result<()> {
        let children = self
            .root()
            .children()
            .map_err(|e| crate::Error::io("listing", self.display(""), e))?;
        for name in ["inflight", "cleanup"] {
            if !children.iter().any(|(n, _)| &**n == name.as_bytes()) {
                let path = Rel::new(&[name.as_bytes()]);
                f.push(Finding {
                    path: path.clone(),
                    code: "missing-folder",
                    problem: "one of the writer's folders is missing".into(),
                    repair: Repair::CreateDir(path),
                });
            }
        }
        for (name, _) in children {
            let known = std::str::from_utf8(&name).is_ok_and(|n| KNOWN_ROOT.contains(&n));
            let path = Rel::new(&[&name]);
            let Ok(meta) = self.root().stat_at(&*name) else {
                continue;
            };
            if !known || meta.kind != Kind::Dir {
                f.push(Finding {
                    path: path.clone(),
                    code: "foreign",
                    problem: format!("a {} that does not belong in a queue root", meta.kind.describe()),
                    repair: Repair::Quarantine {
                        paths: vec![path],
                        mail: None,
                    },
                });
                continue;
            }
            self.check_mode(f, &path, &meta, owner);
        }
        Ok(())
    }

    /// Writer's modes are 0700 for folders and 0600 for files, and the
    /// queue's owner owns everything.
    fn check_mode(&self, f: &mut Findings, path: &Rel, meta: &Meta, owner: (u32, u32)) {
        let want = match meta.kind {
            Kind::Dir => 0o700,
            Kind::File => 0o600,
            _ => return,
        };
        if meta.uid != owner.0 {
            f.push(Finding {
                path: path.clone(),
                code: "owner",
                problem: format!("owned by uid {}, not the queue's owner (uid {})", meta.uid, owner.0),
                repair: Repair::Manual(format!("review it, then chown {}:{} it", owner.0, owner.1)),
            });
        } else if meta.mode != want {
            f.push(Finding {
                path: path.clone(),
                code: "mode",
                problem: format!("mode {:o}, the writer uses {want:o}", meta.mode),
                repair: Repair::Chmod {
                    path: path.clone(),
                    mode: want,
                },
            });
        }
    }

    /// mqctl's hold notes: one per held entry. A note left by a release
    /// that was not mqctl's, or a note that does not read, goes (the hold
    /// itself never depends on it).
    fn check_notes(&self, f: &mut Findings, by_id: &HashMap<EntryId, Vec<State>>, opts: &CheckOptions) -> Result<()> {
        let notes = crate::queue::holds::NOTES.as_bytes();
        for name in self.hold_note_names()? {
            let path = Rel::new(&[notes, &name]);
            if crate::queue::holds::is_staged_name(&name) {
                let old = self
                    .hold_note_mtime(&name)
                    .is_some_and(|t| opts.now.duration_since(t) >= opts.min_age);
                if old {
                    f.push(Finding {
                        path: path.clone(),
                        code: "temp-file",
                        problem: "a hold note mqctl was writing when it stopped".into(),
                        repair: Repair::RemoveTemp(path),
                    });
                }
                continue;
            }
            let id = EntryId::new(&name);
            let held = by_id.get(&id).is_some_and(|s| s.iter().any(|s| s.is_held()));
            let problem = if !held {
                "the note of an entry no longer held (released by something other than mqctl)".to_string()
            } else if self.hold_note(&id).is_none() {
                "a hold note that does not read (the entry stays held, without its reason)".to_string()
            } else {
                continue;
            };
            f.push(Finding {
                path,
                code: "hold-note",
                problem,
                repair: Repair::RemoveHoldNote { id, held },
            });
        }
        Ok(())
    }

    fn check_duplicates(
        &self,
        f: &mut Findings,
        by_id: &HashMap<EntryId, Vec<State>>,
        by_dest: &HashMap<Link, Vec<(State, EntryId)>>,
    ) {
        for (id, states) in by_id {
            if states.len() < 2 {
                continue;
            }
            let mut s = states.clone();
            s.sort_by_key(|s| keep_rank(*s));
            for extra in &s[1..] {
                let path = Rel::new(&[extra.dir().as_bytes(), id.as_bytes()]);
                f.push(Finding {
                    path: path.clone(),
                    code: "two-states",
                    problem: format!("the same entry is also in {}/ (an interrupted move)", s[0].dir()),
                    repair: Repair::Quarantine {
                        paths: vec![path],
                        mail: None,
                    },
                });
            }
        }
        for (link, holders) in by_dest {
            let ids: BTreeMap<&EntryId, State> = holders.iter().map(|(s, i)| (i, *s)).collect();
            if ids.len() < 2 {
                continue;
            }
            let mut v: Vec<(State, &EntryId)> = ids.iter().map(|(i, s)| (*s, *i)).collect();
            v.sort_by_key(|(s, i)| (keep_rank(*s), (*i).clone()));
            for (s, id) in &v[1..] {
                let path = Rel::new(&[s.dir().as_bytes(), id.as_bytes()]);
                f.push(Finding {
                    path: path.clone(),
                    code: "shared-dest",
                    problem: format!(
                        "links to data/{} like {}/{} does",
                        link.dest_path(),
                        v[0].0.dir(),
                        v[0].1
                    ),
                    repair: Repair::Quarantine {
                        paths: vec![path],
                        mail: None,
                    },
                });
            }
        }
    }

    fn check_entry(
        &self,
        f: &mut Findings,
        e: &Entry,
        by_dest: &HashMap<Link, Vec<(State, EntryId)>>,
        owner: (u32, u32),
        opts: &CheckOptions,
    ) {
        let path = Rel::new(&[e.state.dir().as_bytes(), e.id.as_bytes()]);
        let quarantine_link = Repair::Quarantine {
            paths: vec![path.clone()],
            mail: None,
        };
        let entry_paths = |l: Link| {
            vec![
                path.clone(),
                Rel::new(&[b"data", l.mail.to_string().as_bytes(), l.dest.to_string().as_bytes()]),
            ]
        };
        if let Some(m) = self.stat_entry(e.state, e.id.as_bytes())
            && m.uid != owner.0
        {
            f.push(Finding {
                path: path.clone(),
                code: "owner",
                problem: format!(
                    "owned by uid {}, not the queue's owner (uid {}): not made by the writer",
                    m.uid, owner.0
                ),
                repair: quarantine_link.clone(),
            });
            return;
        }
        let text = e.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ");
        let worst = e.problems.iter().find(|p| **p != Problem::BadName);
        let finding = |code, repair| Finding {
            path: path.clone(),
            code,
            problem: text.clone(),
            repair,
        };
        match worst {
            None if e.problems.contains(&Problem::BadName) => {
                f.push(finding(
                    "bad-name",
                    Repair::RenameEntry {
                        state: e.state,
                        id: e.id.clone(),
                    },
                ));
            }
            None => {}
            Some(Problem::BadLinkText(t)) => {
                let fixable = lenient_link(t).filter(|l| {
                    !by_dest.contains_key(l)
                        && self.data().open_dir(l.dest_path().as_str()).is_ok()
                        && self
                            .data()
                            .stat_at(l.mail.to_string().as_str())
                            .is_ok_and(|m| m.kind == Kind::Dir)
                });
                let repair = match fixable {
                    Some(link) => Repair::RewriteLink {
                        state: e.state,
                        id: e.id.clone(),
                        link,
                    },
                    None => quarantine_link.clone(),
                };
                f.push(finding("bad-link", repair));
            }
            Some(Problem::NotALink(_)) | Some(Problem::MailMissing) | Some(Problem::DestMissing) => {
                f.push(finding(worst.map_or("", Problem::code), quarantine_link.clone()));
            }
            Some(Problem::MailNotFolder(_)) => {
                let l = e.link.expect("a mail problem implies a valid link");
                let mail = Rel::new(&[b"data", l.mail.to_string().as_bytes()]);
                f.push(finding(
                    "not-a-folder",
                    Repair::Quarantine {
                        paths: vec![path.clone(), mail],
                        mail: None,
                    },
                ));
            }
            Some(Problem::DestNotFolder(_)) => {
                let l = e.link.expect("a dest problem implies a valid link");
                f.push(finding(
                    "not-a-folder",
                    Repair::Quarantine {
                        paths: entry_paths(l),
                        mail: Some(l.mail),
                    },
                ));
            }
            Some(p @ (Problem::LinkUnreadable(_) | Problem::FolderUnreadable(..))) => {
                f.push(finding(
                    p.code(),
                    Repair::Manual("check the permissions, then run check again".into()),
                ));
            }
            Some(p @ Problem::Schedule(issue)) => {
                let l = e.link.expect("a file problem implies a valid link");
                let only_schedule = e
                    .problems
                    .iter()
                    .all(|q| matches!(q, Problem::Schedule(_) | Problem::BadName));
                let lost = matches!(issue, FileIssue::Parse(_) | FileIssue::Read(ReadError::NotFound));
                let repair = if only_schedule && lost && e.envelope.is_some() && e.contents.is_some() {
                    Repair::RecreateSchedule { link: l }
                } else {
                    Repair::Quarantine {
                        paths: entry_paths(l),
                        mail: Some(l.mail),
                    }
                };
                f.push(finding(p.code(), repair));
            }
            Some(p @ (Problem::Metadata(_) | Problem::Contents(_))) => {
                let l = e.link.expect("a file problem implies a valid link");
                f.push(finding(
                    p.code(),
                    Repair::Quarantine {
                        paths: entry_paths(l),
                        mail: Some(l.mail),
                    },
                ));
            }
            Some(Problem::BadName) => unreachable!("filtered above"),
        }
        if e.is_broken() {
            return;
        }
        let age = e.since.map(|s| opts.now.duration_since(s));
        match e.state {
            State::Inflight if e.since.is_some_and(|s| is_stuck(s, opts.now, opts.stuck_after)) => f.push(Finding {
                path,
                code: "stale-inflight",
                problem: format!(
                    "inflight for {}: its writer has likely died",
                    crate::human::human_duration(age.expect("checked").as_secs())
                ),
                repair: Repair::Recover {
                    state: e.state,
                    id: e.id.clone(),
                },
            }),
            State::Claimed | State::ClaimedHeld if !opts.claims_busy => f.push(Finding {
                path,
                code: "claimed",
                problem: format!(
                    "left in {}/ by an mqctl run that did not finish (the writer cannot see it)",
                    e.state.dir()
                ),
                repair: Repair::Recover {
                    state: e.state,
                    id: e.id.clone(),
                },
            }),
            State::Cleanup if age.is_some_and(|a| a >= opts.min_age) => f.push(Finding {
                path,
                code: "stale-cleanup",
                problem: "sent or dropped, but its files were never removed".into(),
                repair: Repair::FinishCleanup(e.id.clone()),
            }),
            _ => {}
        }
    }

    fn check_data(
        &self,
        f: &mut Findings,
        by_dest: &HashMap<Link, Vec<(State, EntryId)>>,
        respelt: &[Link],
        linked_mails: &HashSet<MailId>,
        owner: (u32, u32),
        opts: &CheckOptions,
    ) -> Result<()> {
        let linked_dests: HashSet<Link> = by_dest.keys().chain(respelt).copied().collect();
        let mails = self
            .data()
            .children()
            .map_err(|e| crate::Error::io("listing", self.display("data"), e))?;
        let found: Vec<Vec<Finding>> = mails
            .par_iter()
            .map(|(name, _)| {
                let mut out = Vec::new();
                self.check_mail(&mut out, name, &linked_dests, linked_mails, owner, opts);
                out
            })
            .collect();
        for fi in found.into_iter().flatten() {
            f.push(fi);
        }
        Ok(())
    }

    fn check_mail(
        &self,
        out: &mut Vec<Finding>,
        name: &[u8],
        linked_dests: &HashSet<Link>,
        linked_mails: &HashSet<MailId>,
        owner: (u32, u32),
        opts: &CheckOptions,
    ) {
        let path = Rel::new(&[b"data", name]);
        let quarantine = |path: &Rel| Repair::Quarantine {
            paths: vec![path.clone()],
            mail: None,
        };
        let Ok(meta) = self.data().stat_at(name) else { return };
        let mail = parse_uuid(name).map(MailId);
        if mail.is_none() || meta.kind != Kind::Dir {
            out.push(Finding {
                path: path.clone(),
                code: "foreign",
                problem: format!("a {} that is not a mail folder", meta.kind.describe()),
                repair: quarantine(&path),
            });
            return;
        }
        let mail = mail.expect("checked");
        let mut sub = Findings::default();
        self.check_mode(&mut sub, &path, &meta, owner);
        out.append(&mut sub.list);
        let Ok(dir) = self.data().open_dir(name) else { return };
        let Ok(children) = dir.children() else { return };
        let old = |m: &Meta| opts.now.duration_since(ts(m.mtime)) >= opts.min_age;
        if !linked_mails.contains(&mail) {
            // An orphan: a crash during enqueue (or a link lost).
            let newest = self
                .newest_in(&dir, &children)
                .unwrap_or(ts(meta.mtime))
                .max(ts(meta.mtime));
            if opts.now.duration_since(newest) >= opts.min_age {
                out.push(Finding {
                    path: path.clone(),
                    code: "orphan-mail",
                    problem: "no entry links to this mail (a crash during enqueue?)".into(),
                    repair: quarantine(&path),
                });
            }
            return;
        }
        for (child, _) in children {
            let cpath = path.child(&child);
            let Ok(cm) = dir.stat_at(&*child) else { continue };
            if &*child == b"contents" {
                // A hard-linked one was reported with its entry.
                if cm.kind == Kind::File && cm.nlink == 1 {
                    let mut s = Findings::default();
                    self.check_mode(&mut s, &cpath, &cm, owner);
                    out.append(&mut s.list);
                }
                continue;
            }
            let Some(dest) = parse_uuid(&child).map(crate::queue::DestId) else {
                out.push(Finding {
                    path: cpath.clone(),
                    code: "foreign",
                    problem: format!("a {} that is not the writer's", cm.kind.describe()),
                    repair: quarantine(&cpath),
                });
                continue;
            };
            if cm.kind != Kind::Dir {
                out.push(Finding {
                    path: cpath.clone(),
                    code: "foreign",
                    problem: format!("a {} where a recipient folder belongs", cm.kind.describe()),
                    repair: quarantine(&cpath),
                });
                continue;
            }
            if !linked_dests.contains(&Link { mail, dest }) {
                if old(&cm) {
                    out.push(Finding {
                        path: cpath.clone(),
                        code: "orphan-dest",
                        problem: "no entry links to this recipient folder, while its mail is linked".into(),
                        repair: quarantine(&cpath),
                    });
                }
                continue;
            }
            let mut s = Findings::default();
            self.check_mode(&mut s, &cpath, &cm, owner);
            out.append(&mut s.list);
            let Ok(dd) = dir.open_dir(&*child) else { continue };
            for (file, _) in dd.children().unwrap_or_default() {
                let fpath = cpath.child(&file);
                let Ok(fm) = dd.stat_at(&*file) else { continue };
                if &*file == b"schedule" || &*file == b"metadata" {
                    // Unreadable ones were reported with their entry.
                    if fm.kind == Kind::File && fm.nlink == 1 {
                        let mut s = Findings::default();
                        self.check_mode(&mut s, &fpath, &fm, owner);
                        out.append(&mut s.list);
                    }
                } else if is_temp_name(&file) && fm.kind == Kind::File {
                    if old(&fm) {
                        out.push(Finding {
                            path: fpath.clone(),
                            code: "temp-file",
                            problem: "a writer temp file left behind (it blocks the writer's cleanup)".into(),
                            repair: Repair::RemoveTemp(fpath),
                        });
                    }
                } else {
                    out.push(Finding {
                        path: fpath.clone(),
                        code: "foreign",
                        problem: format!("a {} that is not the writer's", fm.kind.describe()),
                        repair: quarantine(&fpath),
                    });
                }
            }
        }
    }

    /// The newest modification time among a mail folder's files (two levels).
    fn newest_in(&self, dir: &Dir, children: &[crate::queue::sys::Child]) -> Option<Timestamp> {
        let mut newest: Option<Timestamp> = None;
        let mut see = |m: &Meta| newest = Some(newest.map_or(ts(m.mtime), |n| n.max(ts(m.mtime))));
        for (c, _) in children {
            let Ok(m) = dir.stat_at(&**c) else { continue };
            see(&m);
            if m.kind == Kind::Dir
                && let Ok(sub) = dir.open_dir(&**c)
            {
                for (g, _) in sub.children().unwrap_or_default() {
                    if let Ok(gm) = sub.stat_at(&*g) {
                        see(&gm);
                    }
                }
            }
        }
        newest
    }

    /// Mails that are byte-for-byte the same message to the same envelope,
    /// under the same Message-ID: a crashed enqueue that the client retried.
    fn check_message_ids(&self, f: &mut Findings, entries: &[Entry]) -> Result<()> {
        // One envelope key per mail: sender, sorted recipients, size.
        let mut mails: HashMap<MailId, (String, Vec<String>, u64, Timestamp)> = HashMap::new();
        for e in entries.iter().filter(|e| !e.is_broken() && e.state != State::Cleanup) {
            let (Some(l), Some(env), Some(c)) = (e.link, &e.envelope, e.contents) else {
                continue;
            };
            let m = mails
                .entry(l.mail)
                .or_insert_with(|| (env.from_display(), Vec::new(), c.size, c.written));
            m.1.push(env.to.to_string());
        }
        let ids: Vec<(MailId, Option<String>)> = mails
            .par_iter()
            .map_init(
                || (Vec::new(), String::new()),
                |(buf, path), (mail, _)| {
                    path.clear();
                    path.push_str(&format!("{mail}/contents"));
                    let id = self
                        .data()
                        .read_prefix_into(path.as_str(), headers::HEADER_READ_LIMIT, buf)
                        .ok()
                        .and_then(|_| headers::parse(buf).message_id);
                    (*mail, id)
                },
            )
            .collect();
        // Same Message-ID, sender, recipients and size: candidates.
        type Key = (String, String, Vec<String>, u64);
        let mut groups: HashMap<Key, Vec<(Timestamp, MailId)>> = HashMap::new();
        for (mail, id) in ids {
            let Some(id) = id else { continue };
            let (from, to, size, written) = mails.get(&mail).expect("listed above").clone();
            let mut to = to;
            to.sort();
            groups.entry((id, from, to, size)).or_default().push((written, mail));
        }
        for ((msgid, ..), mut group) in groups {
            if group.len() < 2 {
                continue;
            }
            group.sort();
            let (_, keep) = group[0];
            let Some(first) = self.read_contents(keep) else {
                continue;
            };
            for (_, dup) in &group[1..] {
                if self.read_contents(*dup).as_deref() != Some(first.as_slice()) {
                    continue;
                }
                let links: Vec<Rel> = entries
                    .iter()
                    .filter(|e| e.link.is_some_and(|l| l.mail == *dup))
                    .map(|e| Rel::new(&[e.state.dir().as_bytes(), e.id.as_bytes()]))
                    .collect();
                let mut paths = links;
                paths.push(Rel::new(&[b"data", dup.to_string().as_bytes()]));
                f.push(Finding {
                    path: Rel::new(&[b"data", dup.to_string().as_bytes()]),
                    code: "duplicate-mail",
                    problem: format!(
                        "the same message to the same recipients as data/{keep} (Message-ID {}): a retried enqueue would deliver it twice",
                        crate::escape::escape(&msgid)
                    ),
                    repair: Repair::Quarantine { paths, mail: None },
                });
            }
        }
        Ok(())
    }

    fn read_contents(&self, mail: MailId) -> Option<Vec<u8>> {
        let mut buf = Vec::new();
        self.data()
            .read_prefix_into(format!("{mail}/contents").as_str(), 256 << 20, &mut buf)
            .ok()?;
        Some(buf)
    }
}
