//! `mqctl demo`: build a realistic sample queue and show what to try on it.
//!
//! What it prints after the TUI is meant to be pasted into the shell that
//! ran it, as it stands, right after `cargo run --release -- demo` on a
//! fresh machine: so `mqctl` may not be on PATH (an `alias` line comes
//! first), paths are shell-quoted, and command lines carry no comments
//! (zsh does not allow them at its prompt by default). Commands are the
//! lines indented by two spaces; every other line is prose.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{Context, flush, stdout};
use crate::cli::DemoArgs;
use crate::demo;
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::tui::Ended;

pub fn run(ctx: &Context, args: &DemoArgs) -> Result<ExitCode> {
    let on_terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if args.rm && !on_terminal {
        return Err(Error::Usage(
            "--rm removes the sample queue when you quit the TUI, which needs a terminal; \
without --rm, the demo prints the line that removes it"
                .into(),
        ));
    }
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("mqctl-demo-{}", uuid::Uuid::new_v4().simple())),
    };
    let report = demo::build(&dir, args.mails, args.seed, ctx.now)?;
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let mut out = stdout();
    if !on_terminal {
        print_report(&mut out, &dir, &report, alias_for_this_binary().as_deref(), false)?;
        flush(&mut out)?;
        return Ok(ExitCode::Success);
    }
    let stuck = crate::cli::StuckArg::default().stuck_after;
    let ended = crate::queue::Queue::open(&dir).and_then(|queue| {
        let audit = crate::audit::Audit::open(None, false)?;
        super::tui::run_on(ctx, queue, audit, "", stuck)
    });
    if args.rm {
        let removed = demo::remove(&dir, report.made_root);
        let ended = match (ended, removed) {
            (Err(e), removed) => {
                if let Err(r) = removed {
                    eprintln!("mqctl: {r}");
                }
                return Err(e);
            }
            (Ok(ended), removed) => {
                removed?;
                ended
            }
        };
        writeln!(out, "Removed the sample queue in {}.", shown(&dir))?;
        flush(&mut out)?;
        return Ok(exit_code(ended));
    }
    match ended {
        Ok(Ended::Quit) => {
            print_report(&mut out, &dir, &report, alias_for_this_binary().as_deref(), true)?;
            flush(&mut out)?;
            Ok(ExitCode::Success)
        }
        // Not the moment for the whole report, but the queue must not be
        // left behind unsaid.
        ended => {
            eprintln!(
                "mqctl: the sample queue stays in {}; remove it with: rm -rf {}",
                shown(&dir),
                shell_quote(dir.as_os_str())
            );
            ended.map(exit_code)
        }
    }
}

fn exit_code(ended: Ended) -> ExitCode {
    match ended {
        Ended::Quit => ExitCode::Success,
        Ended::Signalled => ExitCode::Interrupted,
    }
}

/// A path in a sentence, escaped like everything else mqctl prints.
fn shown(p: &Path) -> String {
    crate::output::escape_bytes(p.as_os_str().as_bytes()).into_owned()
}

/// `n` and the noun, singular for 1.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The report, short enough that all of it, the command that ran the demo
/// and cargo's two lines fit an 80×24 terminal.
fn print_report(
    out: &mut dyn Write,
    dir: &Path,
    r: &demo::Report,
    alias: Option<&str>,
    tui_shown: bool,
) -> std::io::Result<()> {
    let q = shell_quote(dir.as_os_str());
    writeln!(out, "Built a sample queue in {}:", shown(dir))?;
    writeln!(
        out,
        "{}, {} to {}: {} inflight (left by a \"crashed\"",
        count(r.mails, "mail", "mails"),
        count(r.entries, "entry", "entries"),
        count(r.domains, "domain", "domains"),
        r.inflight
    )?;
    writeln!(
        out,
        "writer: stuck in an hour), {} pending cleanup, {} held, {} broken.",
        r.cleanup, r.held, r.broken
    )?;
    writeln!(out)?;
    match alias {
        Some(alias) => {
            writeln!(
                out,
                "To try it, paste these lines into this shell (`mqctl` is the binary you ran):"
            )?;
            writeln!(out, "  {alias}")?;
        }
        None => writeln!(out, "To try it, paste these lines into this shell:")?,
    }
    writeln!(out, "  export MQCTL_QUEUE={q}")?;
    writeln!(
        out,
        "The shape of the queue, the incident, what is being sent, what is wrong:"
    )?;
    writeln!(out, "  mqctl stats")?;
    writeln!(out, "  mqctl list --domain broken-dns.example")?;
    writeln!(out, "  mqctl list --state inflight")?;
    writeln!(out, "  mqctl list --broken")?;
    let again = if tui_shown { " again" } else { "" };
    writeln!(
        out,
        "One entry in full, three as JSON lines, Prometheus figures, the TUI{again}:"
    )?;
    writeln!(out, "  mqctl show $(mqctl list --format ids --limit 1)")?;
    writeln!(out, "  mqctl list --format jsonl --to '*@gmail.com' | head -3")?;
    writeln!(out, "  mqctl stats --format prometheus")?;
    writeln!(out, "  mqctl tui")?;
    writeln!(
        out,
        "It stays until you remove it (`mqctl demo --rm` removes it when you quit):"
    )?;
    writeln!(out, "  rm -rf {q}")?;
    Ok(())
}

/// The `alias` line that makes `mqctl` in the user's shell run this very
/// binary, or `None` when it already does (`mqctl` on PATH is this file).
/// After `cargo run`, `mqctl` is usually not on PATH at all, or is an older
/// installed one that may not read this sample the same way.
fn alias_for_this_binary() -> Option<String> {
    let me = std::env::current_exe().ok()?;
    let me = std::fs::canonicalize(&me).unwrap_or(me);
    let found = mqctl_on_path().and_then(|p| std::fs::canonicalize(p).ok());
    (found.as_deref() != Some(me.as_path())).then(|| alias_line(me.as_os_str()))
}

/// What a shell runs for `mqctl` with this PATH: the first executable file
/// of that name, looked up the way the shell does (an empty entry is the
/// current folder).
fn mqctl_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| {
            if d.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                d
            }
        })
        .map(|d| d.join("mqctl"))
        .find(|p| p.is_file() && nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok())
}

/// `alias mqctl=…` running `exe`, for bash and zsh. The shell reads an
/// alias's text again as input where it is used, so a path that needs
/// quotes is quoted twice: once for that reading, once for this line.
fn alias_line(exe: &OsStr) -> String {
    let once = shell_quote(exe);
    let arg = if exe.to_str() == Some(once.as_str()) {
        once
    } else if !once.contains(['"', '$', '`', '\\', '!']) {
        // Nothing in it that double quotes would expand: the easy read.
        format!("\"{once}\"")
    } else {
        shell_quote(OsStr::new(&once))
    };
    format!("alias mqctl={arg}")
}

/// Quotes a path for bash and zsh: as it is when every character is plain
/// (letters, digits, `/._+-`), in single quotes when it is printable text,
/// and as `$'…'` with `\xHH` for each byte that is not (a newline, an
/// escape, invalid UTF-8), so the line is both safe on a terminal and
/// pasteable. Not `shell_words::quote`: it leaves `!` bare, which an
/// interactive bash takes for history expansion.
fn shell_quote(p: &OsStr) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._+-".contains(c);
    match p.to_str() {
        Some(s) if !s.is_empty() && s.chars().all(plain) => s.to_string(),
        Some(s) if !s.chars().any(char::is_control) => format!("'{}'", s.replace('\'', "'\\''")),
        _ => {
            let mut out = String::from("$'");
            for chunk in p.as_bytes().utf8_chunks() {
                for c in chunk.valid().chars() {
                    match c {
                        '\'' | '\\' => {
                            out.push('\\');
                            out.push(c);
                        }
                        c if c.is_control() => {
                            for b in c.encode_utf8(&mut [0; 4]).bytes() {
                                let _ = write!(out, "\\x{b:02x}");
                            }
                        }
                        c => out.push(c),
                    }
                }
                for b in chunk.invalid() {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
            out.push('\'');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_not_quoted() {
        assert_eq!(shell_quote(OsStr::new("/tmp/mqctl-demo-3f2a")), "/tmp/mqctl-demo-3f2a");
    }

    #[test]
    fn spaces_quotes_and_bangs_are_single_quoted() {
        assert_eq!(shell_quote(OsStr::new("/tmp/a b!")), "'/tmp/a b!'");
        assert_eq!(shell_quote(OsStr::new("/tmp/it's")), "'/tmp/it'\\''s'");
    }

    #[test]
    fn control_characters_and_invalid_utf8_use_dollar_quotes() {
        assert_eq!(shell_quote(OsStr::new("/tmp/a\nb\x1b")), "$'/tmp/a\\x0ab\\x1b'");
        assert_eq!(shell_quote(OsStr::from_bytes(b"/tmp/\xff'x")), "$'/tmp/\\xff\\'x'");
    }

    #[test]
    fn an_alias_to_a_path_that_needs_quotes_is_quoted_twice() {
        assert_eq!(alias_line(OsStr::new("/opt/mqctl")), "alias mqctl=/opt/mqctl");
        assert_eq!(
            alias_line(OsStr::new("/my src/mqctl")),
            "alias mqctl=\"'/my src/mqctl'\""
        );
        assert_eq!(
            alias_line(OsStr::new("/it's/mqctl")),
            "alias mqctl=''\\''/it'\\''\\'\\'''\\''s/mqctl'\\'''"
        );
    }
}
