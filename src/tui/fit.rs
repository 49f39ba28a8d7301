//! Making text fit a width without cutting what matters: compact times and
//! durations, word wrap with a hanging indent, and lines built from parts
//! where the least useful parts go first.

use unicode_width::UnicodeWidthStr;

use crate::output::{human_duration, truncate};

/// Columns `s` takes on a terminal.
pub fn width(s: &str) -> usize {
    s.width()
}

/// A duration in its largest unit only, rounded down: `45s`, `12m`, `21h`,
/// `3d`, `2y`. At most four characters up to 9,999 years.
pub fn compact_duration(secs: i64) -> String {
    let s = secs.unsigned_abs();
    match () {
        _ if s < 60 => format!("{s}s"),
        _ if s < 3600 => format!("{}m", s / 60),
        _ if s < 86_400 => format!("{}h", s / 3600),
        _ if s < 1000 * 86_400 => format!("{}d", s / 86_400),
        _ => format!("{}y", s / (365 * 86_400)),
    }
}

/// A duration as precise as `width` allows: `21h16m`, else `21h`.
pub fn duration_in(secs: i64, width: usize) -> String {
    let precise = human_duration(secs);
    if precise.len() <= width {
        precise
    } else {
        compact_duration(secs)
    }
}

/// `t` relative to `now` (both in seconds) as precise as `width` allows:
/// `21h16m ago`, else `21h ago`; `in 3d2h`, else `in 3d`.
pub fn relative_in(t: i64, now: i64, width: usize) -> String {
    let secs = t - now;
    if secs == 0 {
        return "now".into();
    }
    let say = |d: String| {
        if secs > 0 {
            format!("in {d}")
        } else {
            format!("{d} ago")
        }
    };
    let precise = say(human_duration(secs));
    if precise.len() <= width {
        precise
    } else {
        say(compact_duration(secs))
    }
}

/// Words of `text` in lines of at most `width` columns; a word longer than
/// a line is broken. Never empty.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    // Flags like `--not-due` stay whole: no splitting at hyphens.
    let opts = textwrap::Options::new(width.max(1))
        .break_words(true)
        .word_splitter(textwrap::WordSplitter::NoHyphenation);
    let lines: Vec<String> = textwrap::wrap(text, opts).into_iter().map(|c| c.into_owned()).collect();
    if lines.is_empty() { vec![String::new()] } else { lines }
}

/// Like `wrap`, but at most `max` lines: the last one kept ends in `…`.
pub fn wrap_at_most(text: &str, width: usize, max: usize) -> Vec<String> {
    let mut lines = wrap(text, width);
    let max = max.max(1);
    if lines.len() > max {
        // The rest runs on in the last line, cut where it no longer fits.
        let rest = lines.split_off(max - 1).join(" ");
        lines.push(truncate(&rest, width).into_owned());
    }
    lines
}

/// The first of `forms` (longest first) that fits `width`, else the last
/// one cut with `…`.
pub fn first_fitting(forms: &[&str], width: usize) -> String {
    forms
        .iter()
        .find(|f| self::width(f) <= width)
        .map(|f| f.to_string())
        .unwrap_or_else(|| truncate(forms.last().copied().unwrap_or(""), width).into_owned())
}

/// Flows items (each kept whole) onto lines of at most `width` columns,
/// `sep` columns apart. Returns the items' indices per line.
pub fn flow(widths: &[usize], width: usize, sep: usize) -> Vec<Vec<usize>> {
    let mut lines: Vec<Vec<usize>> = Vec::new();
    let mut used = 0;
    for (i, &w) in widths.iter().enumerate() {
        match lines.last_mut() {
            Some(line) if used + sep + w <= width => {
                line.push(i);
                used += sep + w;
            }
            _ => {
                lines.push(vec![i]);
                used = w;
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_durations_keep_their_largest_unit() {
        assert_eq!(compact_duration(59), "59s");
        assert_eq!(compact_duration(21 * 3600 + 16 * 60), "21h");
        assert_eq!(compact_duration(-(2 * 86_400 + 23 * 3600)), "2d");
        assert_eq!(compact_duration(999 * 86_400), "999d");
        assert_eq!(compact_duration(1200 * 86_400), "3y");
    }

    #[test]
    fn relative_times_drop_precision_before_they_are_cut() {
        let t = 21 * 3600 + 16 * 60;
        assert_eq!(relative_in(0, t, 10), "21h16m ago");
        assert_eq!(relative_in(0, t, 9), "21h ago");
        assert_eq!(relative_in(t, 0, 9), "in 21h16m");
        assert_eq!(relative_in(t, 0, 8), "in 21h");
        assert_eq!(relative_in(5, 5, 8), "now");
        // The longest compact form fits eight columns.
        assert_eq!(relative_in(0, 999 * 86_400 + 3600, 8), "999d ago");
    }

    #[test]
    fn wrap_keeps_words_and_breaks_only_what_is_too_long() {
        assert_eq!(
            wrap("No writer tries a held entry", 12),
            ["No writer", "tries a held", "entry"]
        );
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
        assert_eq!(wrap("--due --not-due", 12), ["--due", "--not-due"]);
        let cut = wrap_at_most("one two three four five", 9, 2);
        assert_eq!(cut, ["one two", "three fo…"]);
    }

    #[test]
    fn flow_never_splits_an_item() {
        assert_eq!(flow(&[5, 5, 5], 12, 2), vec![vec![0, 1], vec![2]]);
        assert_eq!(flow(&[20], 10, 2), vec![vec![0]]);
    }
}
