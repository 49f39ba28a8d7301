//! Man pages and completion scripts are generated from the clap definition
//! and committed; these tests fail when they drift from the code.

mod common;

use std::path::Path;
use std::process::Command;

use clap::CommandFactory;
use common::*;

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in ["man", "completions"] {
        let mut names: Vec<_> = std::fs::read_dir(dir.join(sub))
            .unwrap_or_else(|e| panic!("{}/{sub}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        for n in names {
            let bytes = std::fs::read(dir.join(sub).join(&n)).unwrap();
            out.push((format!("{sub}/{n}"), bytes));
        }
    }
    out
}

#[test]
fn committed_man_pages_and_completions_match_the_code() {
    let tmp = tempfile::tempdir().unwrap();
    mqctl(["generate"]).arg(tmp.path()).run().success();
    let fresh = files(tmp.path());
    let committed = files(Path::new(env!("CARGO_MANIFEST_DIR")));
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&committed),
        names(&fresh),
        "the set of generated files changed: run `cargo run -- generate .` and commit man/ and completions/"
    );
    for ((name, want), (_, have)) in fresh.iter().zip(&committed) {
        assert!(
            want == have,
            "{name} is out of date: run `cargo run -- generate .` and commit man/ and completions/"
        );
    }
}

#[test]
fn every_subcommand_has_a_man_page() {
    let cmd = mqctl::cli::Cli::command();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let page = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("man/mqctl-{}.8", sub.get_name()));
        let text = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
        for section in [".SH EXAMPLES", ".SH \"EXIT STATUS\"", ".SH ENVIRONMENT", ".SH FILES"] {
            assert!(text.contains(section), "{} lacks {section}", page.display());
        }
    }
}

#[test]
fn man_pages_are_mandoc_lint_clean() {
    let Ok(out) = Command::new("mandoc")
        .arg("-Tlint")
        .args(
            std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("man"))
                .unwrap()
                .map(|e| e.unwrap().path()),
        )
        .output()
    else {
        eprintln!("skipped: mandoc is not installed (.ci/run installs it)");
        return;
    };
    let report = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(report.trim().is_empty(), "mandoc -Tlint:\n{report}");
}

#[test]
fn clap_definition_is_consistent() {
    mqctl::cli::Cli::command().debug_assert();
}

#[test]
fn every_command_help_has_examples() {
    let cmd = mqctl::cli::Cli::command();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let out = mqctl([sub.get_name(), "--help"]).run();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains("Examples:"),
            "`mqctl {} --help` shows no examples",
            sub.get_name()
        );
    }
}

#[test]
fn completions_command_prints_the_committed_scripts() {
    for (shell, file) in mqctl::cmd::generate::SHELLS {
        let out = mqctl(["completions", shell]).run();
        assert_eq!(out.code, 0, "completions {shell}: {out:?}");
        let committed = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("completions").join(file)).unwrap();
        assert_eq!(
            out.stdout, committed,
            "completions {shell} differs from completions/{file}"
        );
    }
}

/// Asks mqctl for completions the way the bash script does.
fn complete(queue: Option<&Path>, words: &[&str]) -> (bool, Vec<String>) {
    let mut c = mqctl(["--"])
        .args(words)
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
        .env("_CLAP_IFS", "\n");
    if let Some(q) = queue {
        c = c.env("MQCTL_QUEUE", q);
    }
    let out = c.run();
    let text = String::from_utf8_lossy(&out.stdout);
    (
        out.code == 0,
        text.split('\n').filter(|s| !s.is_empty()).map(str::to_string).collect(),
    )
}

#[test]
fn ids_complete_from_the_current_queue() {
    let q = TestQueue::new();
    let root = q.root();
    let id = q.entry().create().id;
    let (ok, got) = complete(Some(root), &["mqctl", "show", &id[..3]]);
    assert!(ok);
    assert_eq!(got, vec![id.clone()], "a unique prefix completes to the full id");
    let (ok, got) = complete(None, &["mqctl", "--queue", root.to_str().unwrap(), "drop", &id[..2]]);
    assert!(ok);
    assert_eq!(got, vec![id], "--queue on the command line is used");
}

#[test]
fn completion_never_fails_on_a_bad_queue() {
    let (ok, got) = complete(Some(Path::new("/nonexistent/queue")), &["mqctl", "show", "ab"]);
    assert!(ok, "completion must not fail");
    assert!(got.is_empty());
    let (ok, got) = complete(None, &["mqctl", "dro"]);
    assert!(ok);
    assert_eq!(got, vec!["drop".to_string()]);
}
