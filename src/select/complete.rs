//! Completing entry ids in the shell (clap_complete's dynamic engine calls
//! this): unique prefixes of the ids in the queue the command line names.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use clap_complete::engine::CompletionCandidate;

use crate::queue::{Queue, State};

/// The queue the command line being completed names (`--queue DIR`,
/// `--queue=DIR`, `-Q DIR`), else `MQCTL_QUEUE`.
fn queue_from_args(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let a = a.as_encoded_bytes();
        if a == b"--queue" || a == b"-Q" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = a.strip_prefix(b"--queue=") {
            return Some(PathBuf::from(String::from_utf8_lossy(v).into_owned()));
        }
    }
    std::env::var_os("MQCTL_QUEUE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Completes entry ids: unique prefixes (at least 8 characters) of the ids
/// in the current queue that start with what is typed. Never fails: a
/// missing or unreadable queue simply gives no candidates.
pub fn ids(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(current) = current.to_str() else {
        return Vec::new();
    };
    let args: Vec<OsString> = std::env::args_os().collect();
    let Some(path) = queue_from_args(&args) else {
        return Vec::new();
    };
    let Ok(queue) = Queue::open(&path) else {
        return Vec::new();
    };
    let Ok(names) = queue.names(&State::ALL) else {
        return Vec::new();
    };
    let mut ids: Vec<_> = names
        .into_iter()
        .map(|(_, id)| id)
        .filter(|id| id.is_well_formed())
        .collect();
    ids.sort();
    ids.dedup();
    let refs: Vec<_> = ids.iter().collect();
    let short = crate::select::short_ids(&refs, 8);
    let matching: Vec<&String> = short.iter().filter(|s| s.starts_with(current)).collect();
    let full = matching.len() <= 1;
    ids.iter()
        .zip(&short)
        .filter(|(_, s)| s.starts_with(current))
        .map(|(id, s)| CompletionCandidate::new(if full { id.to_string() } else { s.clone() }))
        .collect()
}
