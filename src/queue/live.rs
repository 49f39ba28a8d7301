//! Is a writer running on this queue? Best effort, through /proc: a process
//! whose working folder or an open file lies under the queue root.

use std::path::{Path, PathBuf};

/// A process that has the queue open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    pub pid: u32,
    pub name: String,
}

/// Processes (other than this one and other mqctl runs) whose cwd or open files are under `root`.
/// Processes we may not inspect are silently passed over.
pub fn writers(root: &Path) -> Vec<Writer> {
    let Ok(root) = std::fs::canonicalize(root) else {
        return Vec::new();
    };
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let base = PathBuf::from(format!("/proc/{pid}"));
        let under = |link: &Path| std::fs::read_link(link).is_ok_and(|t| t.starts_with(&root));
        let mut hit = under(&base.join("cwd"));
        if !hit && let Ok(fds) = std::fs::read_dir(base.join("fd")) {
            hit = fds.flatten().any(|fd| under(&fd.path()));
        }
        if hit {
            let name = std::fs::read_to_string(base.join("comm"))
                .unwrap_or_default()
                .trim()
                .to_string();
            // Another mqctl is not a writer: its changes are safe already.
            if name != "mqctl" {
                out.push(Writer { pid, name });
            }
        }
    }
    out
}
