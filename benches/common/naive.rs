//! The baseline: the plain single-threaded reader anyone would write first,
//! with the standard library and `serde_json::Value`. No tuning either way:
//! list each state folder, read each link, resolve it relative to the state
//! folder, read and parse both JSON files, stat the message (for `size` and
//! `age`, which the compared mqctl command prints too), write one line.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use serde_json::{Value, json};

use super::harness::BenchResult;

pub const STATES: [&str; 3] = ["queue", "inflight", "cleanup"];

/// Writes one JSON line per entry with the fields id, state, mail, dest,
/// from, to, at, last_attempt, size, age. Returns the number of entries.
pub fn list(root: &Path, out: &mut impl Write) -> BenchResult<usize> {
    let now = SystemTime::now();
    let mut n = 0;
    for state in STATES {
        let dir = root.join(state);
        let listing = match fs::read_dir(&dir) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        };
        for ent in listing {
            let ent = ent.map_err(|e| format!("{}: {e}", dir.display()))?;
            let link = ent.path();
            let target = fs::read_link(&link).map_err(|e| format!("{}: {e}", link.display()))?;
            let dest = dir.join(&target);
            let schedule = read_json(&dest.join("schedule"))?;
            let metadata = read_json(&dest.join("metadata"))?;
            let contents = dest.parent().unwrap_or(&dest).join("contents");
            let stat = fs::metadata(&contents).map_err(|e| format!("{}: {e}", contents.display()))?;
            let age = stat
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .map(|d| d.as_secs());
            let mut parts = target.iter().rev();
            let dest_id = parts.next().map(|p| p.to_string_lossy().into_owned());
            let mail_id = parts.next().map(|p| p.to_string_lossy().into_owned());
            let line = json!({
                "id": ent.file_name().to_string_lossy(),
                "state": state,
                "mail": mail_id,
                "dest": dest_id,
                "from": address(&metadata["from"]).unwrap_or_else(|| "<>".into()),
                "to": address(&metadata["to"]),
                "at": schedule["at"],
                "last_attempt": schedule["last_attempt"],
                "size": stat.len(),
                "age": age,
            });
            serde_json::to_writer(&mut *out, &line).map_err(|e| e.to_string())?;
            out.write_all(b"\n").map_err(|e| e.to_string())?;
            n += 1;
        }
    }
    out.flush().map_err(|e| e.to_string())?;
    Ok(n)
}

fn read_json(path: &Path) -> BenchResult<Value> {
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice::<Value>(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// `localpart.raw@hostname.raw` from the writer's shape (each is an object
/// with one variant key); `None` for `null` (the null sender).
fn address(v: &Value) -> Option<String> {
    let raw = |v: &Value| -> Option<String> {
        let (_, inner) = v.as_object()?.iter().next()?;
        inner["raw"].as_str().map(str::to_string)
    };
    let local = raw(&v["localpart"])?;
    Some(match raw(&v["hostname"]) {
        Some(host) => format!("{local}@{host}"),
        None => local,
    })
}

/// The plain single-threaded drop anyone would write first: rename each
/// `queue/` link into `cleanup/`, then the writer's cleanup steps, with no
/// checks and no fsync. Returns the number of entries dropped.
pub fn drop_all(root: &Path) -> BenchResult<usize> {
    let err = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    let (queue, cleanup) = (root.join("queue"), root.join("cleanup"));
    let mut n = 0;
    for ent in fs::read_dir(&queue).map_err(|e| err(&queue, e))? {
        let name = ent.map_err(|e| err(&queue, e))?.file_name();
        let link = cleanup.join(&name);
        fs::rename(queue.join(&name), &link).map_err(|e| err(&link, e))?;
        let dest = cleanup.join(fs::read_link(&link).map_err(|e| err(&link, e))?);
        for f in ["metadata", "schedule"] {
            fs::remove_file(dest.join(f)).map_err(|e| err(&dest, e))?;
        }
        fs::remove_dir(&dest).map_err(|e| err(&dest, e))?;
        let mail = dest.parent().unwrap_or(&dest).to_path_buf();
        let only_contents = fs::read_dir(&mail).map_err(|e| err(&mail, e))?.count() == 1;
        if only_contents {
            fs::remove_file(mail.join("contents")).map_err(|e| err(&mail, e))?;
            fs::remove_dir(&mail).map_err(|e| err(&mail, e))?;
        }
        fs::remove_file(&link).map_err(|e| err(&link, e))?;
        n += 1;
    }
    Ok(n)
}

/// The plain reschedule: for each `queue/` entry, parse `schedule` as a
/// `Value`, set `at`, write a temp sibling and rename it over (no fsync).
pub fn reschedule_all(root: &Path, at: &str) -> BenchResult<usize> {
    let queue = root.join("queue");
    let mut n = 0;
    for ent in fs::read_dir(&queue).map_err(|e| format!("{}: {e}", queue.display()))? {
        let link = ent.map_err(|e| e.to_string())?.path();
        let dest = queue.join(fs::read_link(&link).map_err(|e| format!("{}: {e}", link.display()))?);
        let path = dest.join("schedule");
        let mut v = read_json(&path)?;
        v["at"] = Value::String(at.to_string());
        let tmp = dest.join("schedule.tmp");
        fs::write(&tmp, serde_json::to_vec(&v).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
        n += 1;
    }
    Ok(n)
}
