//! The `/` filter: the CLI's selection flags (`--to '*@gmail.com' --not-due`)
//! typed as one line, split like a shell would; words that are not flags are
//! free text over addresses, subject and id.

use clap::Parser;
use jiff::Timestamp;

use crate::select::Selection;
use crate::select::args::SelectArgs;

#[derive(Debug, Parser)]
#[command(
    name = "filter",
    no_binary_name = true,
    disable_help_flag = true,
    disable_version_flag = true
)]
struct FilterLine {
    #[command(flatten)]
    select: SelectArgs,
}

/// Parses a filter line into the selection the CLI would build from the
/// same flags. An empty line selects everything.
pub fn parse(line: &str, now: Timestamp, stuck_after: jiff::SignedDuration) -> Result<Selection, String> {
    let words = shell_words::split(line).map_err(|e| format!("{e} (close the quote)"))?;
    let mut args = FilterLine::try_parse_from(&words)
        .map_err(|e| {
            e.to_string()
                .lines()
                .next()
                .unwrap_or("bad filter")
                .trim_start_matches("error: ")
                .to_string()
        })?
        .select;
    let text = std::mem::take(&mut args.ids).join(" ");
    let mut no_stdin = || {
        Err(std::io::Error::other(
            "`-` (ids from stdin) is for the command line, not the filter",
        ))
    };
    let mut sel = args
        .selection(now, stuck_after, &mut no_stdin)
        .map_err(|e| e.to_string())?;
    if !text.is_empty() {
        sel.text = Some(text);
    }
    Ok(sel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::State;

    const H: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

    fn now() -> Timestamp {
        "2026-11-23T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn flags_and_free_text_combine() {
        let s = parse("--to '*@gmail.com' --state hold lottery win", now(), H).unwrap();
        assert_eq!(s.to.unwrap().as_str(), "*@gmail.com");
        assert_eq!(s.states, vec![State::Held]);
        assert_eq!(s.text.as_deref(), Some("lottery win"));
    }

    #[test]
    fn empty_filter_selects_everything() {
        assert!(parse("  ", now(), H).unwrap().is_everything());
    }

    #[test]
    fn bad_flags_say_why() {
        let e = parse("--older-than banana", now(), H).unwrap_err();
        assert!(e.contains("older-than"), "{e}");
        assert!(parse("--bogus", now(), H).is_err());
        assert!(parse("--to 'unclosed", now(), H).is_err());
    }
}
