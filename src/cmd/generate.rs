//! `mqctl generate DIR` (hidden): writes the man pages (`DIR/man/`) and the
//! completion scripts (`DIR/completions/`) from the clap definition. Both
//! are committed; a test fails when they drift from the code.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use roff::{Roff, bold, italic, roman};

use super::Context;
use crate::cli::{Cli, GenerateArgs};
use crate::error::{Error, Result};
use crate::exit::ExitCode;

/// The date man pages carry (bumped with releases, not with every build, so
/// regenerating gives the same bytes).
pub const MAN_DATE: &str = "2026-11-23";

pub const SHELLS: [(&str, &str); 5] = [
    ("bash", "mqctl.bash"),
    ("zsh", "_mqctl"),
    ("fish", "mqctl.fish"),
    ("elvish", "mqctl.elv"),
    ("powershell", "_mqctl.ps1"),
];

pub fn run(_ctx: &Context, args: &GenerateArgs) -> Result<ExitCode> {
    write_all(&args.dir)?;
    Ok(ExitCode::Success)
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        op: "writing",
        path: path.display().to_string(),
        source: e,
    }
}

/// Writes every man page and completion script under `dir`.
pub fn write_all(dir: &Path) -> Result<()> {
    let man = dir.join("man");
    let comp = dir.join("completions");
    std::fs::create_dir_all(&man).map_err(io(&man))?;
    std::fs::create_dir_all(&comp).map_err(io(&comp))?;
    for (name, page) in pages() {
        let p = man.join(format!("{name}.8"));
        std::fs::write(&p, page).map_err(io(&p))?;
    }
    for (shell, file) in SHELLS {
        let p = comp.join(file);
        let mut buf = Vec::new();
        super::completions::write(&mut buf, shell)?;
        std::fs::write(&p, buf).map_err(io(&p))?;
    }
    Ok(())
}

/// Every man page: `mqctl.8` and one `mqctl-<sub>.8` per visible subcommand.
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let subs: Vec<clap::Command> = root.get_subcommands().filter(|s| !s.is_hide_set()).cloned().collect();
    let mut out = vec![("mqctl".to_string(), page(&root, "mqctl", &subs))];
    for sub in &subs {
        let name = format!("mqctl-{}", sub.get_name());
        let cmd = sub.clone().name(name.clone()).version(env!("CARGO_PKG_VERSION"));
        out.push((name.clone(), page(&cmd, &name, &[])));
    }
    out
}

fn page(cmd: &clap::Command, name: &str, subs: &[clap::Command]) -> Vec<u8> {
    let man = clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .section("8")
        .date(MAN_DATE)
        .source(format!("mqctl {}", env!("CARGO_PKG_VERSION")))
        .manual("System Administration");
    let mut buf = Vec::new();
    let w: &mut dyn Write = &mut buf;
    man.render_title(w).expect("writing to memory");
    man.render_name_section(w).expect("writing to memory");
    man.render_synopsis_section(w).expect("writing to memory");
    man.render_description_section(w).expect("writing to memory");
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w).expect("writing to memory");
    }
    if !subs.is_empty() {
        man.render_subcommands_section(w).expect("writing to memory");
    }
    let mut roff = Roff::new();
    examples(&mut roff, cmd);
    exit_status(&mut roff, name);
    environment(&mut roff);
    files(&mut roff);
    see_also(&mut roff, name, subs);
    roff.to_writer(w).expect("writing to memory");
    tidy(&String::from_utf8(buf).expect("roff is text")).into_bytes()
}

/// Makes the page `mandoc -Tlint` clean: clap_mangen's blank-line breaks
/// become `.sp`, trailing blanks go, and text lines are wrapped at 80 bytes
/// (roff joins them again when filling).
fn tidy(page: &str) -> String {
    let page = page.replace(".br\n\n.br\n", ".sp\n");
    let mut out = String::with_capacity(page.len());
    for line in page.lines() {
        let line = line.trim_end();
        if line.starts_with('.') || line.len() <= 80 {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut cur = String::new();
        for word in line.split(' ') {
            if !cur.is_empty() && cur.len() + 1 + word.len() > 80 {
                out.push_str(&cur);
                out.push('\n');
                cur.clear();
            }
            if cur.is_empty() {
                // A continuation must not read as a control line.
                if word.starts_with('.') || word.starts_with('\'') {
                    cur.push_str("\\&");
                }
            } else {
                cur.push(' ');
            }
            cur.push_str(word);
        }
        out.push_str(&cur);
        out.push('\n');
    }
    out
}

/// The examples of a command are the indented lines after "Examples:" in
/// its `after_help` (the same text `--help` shows).
fn examples(roff: &mut Roff, cmd: &clap::Command) {
    let Some(help) = cmd.get_after_help().map(|h| h.to_string()) else {
        return;
    };
    let Some((_, ex)) = help.split_once("Examples:") else {
        return;
    };
    let lines: Vec<&str> = ex.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        return;
    }
    roff.control("SH", ["EXAMPLES"]);
    for l in lines {
        let (command, comment) = match l.split_once("  #") {
            Some((c, k)) => (c.trim(), Some(k.trim())),
            None => (l, None),
        };
        roff.control("TP", []).text([bold(command)]);
        roff.text([roman(comment.unwrap_or(""))]);
    }
}

fn exit_status(roff: &mut Roff, name: &str) {
    roff.control("SH", ["EXIT STATUS"]);
    let mut codes = vec![
        ("0", "Success. A closed pipe (mqctl list | head) is success too."),
        (
            "1",
            if name == "mqctl-undo" {
                "Something was not taken back: a change that cannot be undone, an entry changed since by someone else, or a failure."
            } else {
                "Some entries could not be handled (the rest were), or an id named nothing."
            },
        ),
        (
            "2",
            "Usage error: a wrong flag or value, or a change with no ids and no filter without --all.",
        ),
        (
            "3",
            "The queue is unusable: missing, not a queue, a symlink, unreadable, group or world writable, or someone else's.",
        ),
    ];
    if name == "mqctl" || name == "mqctl-check" {
        codes.push(("4", "check found problems (or some are left after --repair)."));
    }
    codes.push((
        "130",
        "Interrupted by SIGINT or SIGTERM; the entry at hand was finished and a summary printed.",
    ));
    for (code, text) in codes {
        roff.control("TP", []).text([bold(code)]);
        roff.text([roman(text)]);
    }
}

fn environment(roff: &mut Roff) {
    roff.control("SH", ["ENVIRONMENT"]);
    let vars = [
        (
            "MQCTL_QUEUE",
            "The queue root, when --queue is not given. There is no default.",
        ),
        ("NO_COLOR", "When set and not empty, --color auto means no color."),
        ("COLUMNS", "The width tables fit, instead of the terminal's."),
        (
            "RAYON_NUM_THREADS",
            "Threads for reading and changing entries. By default a scan reads with 16 threads \
(a cold cache is bound by the disk's latency, not the CPU) and changes use one thread a core.",
        ),
        (
            "COMPLETE",
            "Set by the completion scripts when they call mqctl to complete a command line.",
        ),
    ];
    for (var, text) in vars {
        roff.control("TP", []).text([bold(var)]);
        roff.text([roman(text)]);
    }
}

fn files(roff: &mut Roff) {
    roff.control("SH", ["FILES"]);
    let files = [
        ("QUEUE/data/MAIL/contents", "The message, as received."),
        ("QUEUE/data/MAIL/DEST/metadata", "One recipient's envelope (JSON)."),
        (
            "QUEUE/data/MAIL/DEST/schedule",
            "That recipient's next and last attempt (JSON).",
        ),
        (
            "QUEUE/queue/ID, inflight/ID, cleanup/ID",
            "Entries: symlinks to ../data/MAIL/DEST, one folder per state.",
        ),
        ("QUEUE/hold/ID", "Entries held by mqctl hold; no writer sees them."),
        (
            "QUEUE/quarantine/TIME/",
            "What check --repair moved aside, with notes.jsonl saying why.",
        ),
    ];
    for (path, text) in files {
        roff.control("TP", []).text([italic(path)]);
        roff.text([roman(text)]);
    }
}

fn see_also(roff: &mut Roff, name: &str, subs: &[clap::Command]) {
    roff.control("SH", ["SEE ALSO"]);
    let refs: Vec<String> = if name == "mqctl" {
        subs.iter().map(|s| format!("mqctl-{}", s.get_name())).collect()
    } else {
        vec!["mqctl".to_string()]
    };
    let mut inl = Vec::new();
    for (i, r) in refs.iter().enumerate() {
        inl.push(bold(r.as_str()));
        inl.push(roman(if i + 1 == refs.len() { "(8)" } else { "(8), " }));
    }
    roff.text(inl);
    // The pages the code relies on travel with it: in the source tree and,
    // from the .deb, under /usr/share/doc (Cargo.toml's deb assets).
    roff.control("PP", []).text([
        roman("The queue format, the writer's protocol and the hostile-queue rules mqctl follows: "),
        italic("docs/queue-format.md"),
        roman(", "),
        italic("docs/writer.md"),
        roman(" and "),
        italic("docs/security.md"),
        roman(" in the source, "),
        italic("/usr/share/doc/mqctl/docs/"),
        roman(" when installed from the Debian package."),
    ]);
}
