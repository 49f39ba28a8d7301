//! Tables that fit the terminal, drawn by comfy-table: a header line and
//! plain columns two spaces apart, one line per row (the look of
//! `postqueue -p` and `qshape`), or, when a table cannot fit, records: one
//! field per line, like psql's expanded mode.
//!
//! comfy-table arranges the widths (`ContentArrangement::Dynamic`) within
//! the limits set here: ids, states, times and numbers are as wide as
//! their content (never cut), addresses and subjects have a lower bound
//! and are cut with `…` (each row is capped at one line, and their cells
//! split anywhere rather than at spaces, so the cut falls where the column
//! ends). What comfy-table does not decide is done here before it draws:
//! which optional columns to leave out so that the others stay readable,
//! and when a table cannot fit at all, or would have to cut a text that
//! must stay whole (a problem the user asked for), to print records.

use std::io::{self, Write};

use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Row, Width};
use unicode_width::UnicodeWidthStr;

/// Columns between two table columns.
pub const GAP: usize = 2;

/// How a column's cells may be fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Never cut (ids, states, times, paths, problems): when it cannot fit
    /// whole, the table becomes records.
    Whole,
    /// A number: right-aligned, never cut.
    Number,
    /// Cut with `…` when the table is too wide, down to `min` columns (or
    /// its header); the optional columns are only shown while this one
    /// keeps `readable` columns.
    Cut { min: usize, readable: usize },
}

/// Whether a column may be left out on a narrow terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Keep {
    /// Always shown (when it cannot be, the table becomes records).
    Always,
    /// Shown while the table fits with every cut column at its narrowest,
    /// the lowest first.
    IfRoom(u8),
    /// Shown while the cut columns keep a readable width; after the
    /// `IfRoom` ones, the lowest first.
    IfReadable(u8),
}

/// One column: its header, how it fits, and whether it may be left out.
#[derive(Debug, Clone)]
pub struct Column {
    pub header: String,
    pub kind: Kind,
    pub keep: Keep,
}

impl Column {
    pub fn whole(header: &str) -> Column {
        Column::new(header, Kind::Whole)
    }
    pub fn number(header: &str) -> Column {
        Column::new(header, Kind::Number)
    }
    pub fn cut(header: &str, min: usize, readable: usize) -> Column {
        Column::new(header, Kind::Cut { min, readable })
    }
    pub fn new(header: &str, kind: Kind) -> Column {
        Column {
            header: header.to_string(),
            kind,
            keep: Keep::Always,
        }
    }
    /// Left out when the table is too narrow for it (see [`Keep`]).
    pub fn keep(mut self, keep: Keep) -> Column {
        self.keep = keep;
        self
    }
}

/// How a row stands out on a terminal with colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    #[default]
    Plain,
    /// Broken (red).
    Bad,
    /// Needs a look (yellow).
    Warn,
    /// A header or a total (bold).
    Strong,
}

impl Tone {
    fn sgr(self) -> Option<&'static str> {
        match self {
            Tone::Plain => None,
            Tone::Bad => Some("31"),
            Tone::Warn => Some("33"),
            Tone::Strong => Some("1"),
        }
    }
}

/// A table or records, whichever the width allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// A table; records when it cannot fit.
    #[default]
    Fit,
    /// Records, whatever the width.
    Records,
}

/// Writes `line` in `tone` when colours are on.
fn paint(out: &mut dyn Write, line: &str, tone: Tone, color: bool) -> io::Result<()> {
    match tone.sgr().filter(|_| color) {
        Some(code) => writeln!(out, "\x1b[{code}m{line}\x1b[0m"),
        None => writeln!(out, "{line}"),
    }
}

pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
    tones: Vec<Tone>,
}

impl Table {
    pub fn new(columns: Vec<Column>) -> Table {
        Table {
            columns,
            rows: Vec::new(),
            tones: Vec::new(),
        }
    }

    /// One row, a cell per column (escaped already: cells are shown as given).
    pub fn push(&mut self, row: Vec<String>, tone: Tone) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
        self.tones.push(tone);
    }

    /// Writes the table in at most `width` columns (`None`: as wide as it
    /// needs, nothing cut), or records when it cannot fit or `layout`
    /// asks for them.
    pub fn write(&self, out: &mut dyn Write, width: Option<usize>, color: bool, layout: Layout) -> io::Result<()> {
        if layout == Layout::Fit
            && let Some(lines) = self.table_lines(width)
        {
            paint(out, &lines[0], Tone::Strong, color)?;
            for (line, tone) in lines[1..].iter().zip(&self.tones) {
                paint(out, line, *tone, color)?;
            }
            return Ok(());
        }
        self.write_records(out, width, color)
    }

    /// The widest cell (or header) of each column.
    fn natural(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.columns.iter().map(|c| c.header.width()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                w[i] = w[i].max(cell.width());
            }
        }
        w
    }

    /// Which columns to show in `width`, and the lower bound of each cut
    /// column; `None` when even the columns that must be shown cannot fit.
    fn plan(&self, width: usize) -> Option<(Vec<usize>, Vec<usize>)> {
        let natural = self.natural();
        let limits = |i: usize| -> (usize, usize) {
            match self.columns[i].kind {
                Kind::Whole | Kind::Number => (natural[i], natural[i]),
                Kind::Cut { min, readable } => {
                    let min = natural[i].min(min.max(self.columns[i].header.width()));
                    (min, natural[i].min(readable.max(min)))
                }
            }
        };
        let cost = |cols: &[usize], pick: &dyn Fn((usize, usize)) -> usize| -> usize {
            cols.iter().map(|&i| pick(limits(i))).sum::<usize>() + GAP * cols.len().saturating_sub(1)
        };
        let mut shown: Vec<usize> = (0..self.columns.len())
            .filter(|&i| self.columns[i].keep == Keep::Always)
            .collect();
        if cost(&shown, &|l| l.0) > width {
            return None;
        }
        let mut optional: Vec<usize> = (0..self.columns.len())
            .filter(|&i| self.columns[i].keep != Keep::Always)
            .collect();
        optional.sort_by_key(|&i| self.columns[i].keep);
        for i in optional {
            shown.push(i);
            let fits = match self.columns[i].keep {
                Keep::IfReadable(_) => cost(&shown, &|l| l.1) <= width,
                _ => cost(&shown, &|l| l.0) <= width,
            };
            if !fits {
                shown.pop();
            }
        }
        shown.sort_unstable();
        let readable = cost(&shown, &|l| l.1) <= width;
        let lower = (0..self.columns.len())
            .map(|i| if readable { limits(i).1 } else { limits(i).0 })
            .collect();
        Some((shown, lower))
    }

    /// The header line and one line per row, or `None` when the table
    /// cannot fit `width`.
    fn table_lines(&self, width: Option<usize>) -> Option<Vec<String>> {
        let n = self.columns.len();
        let (shown, lower) = match width {
            Some(w) => self.plan(w)?,
            None => ((0..n).collect(), vec![0; n]),
        };
        let mut t = comfy_table::Table::new();
        t.load_style(comfy_table::presets::NOTHING)
            .force_no_tty()
            // Cells are split anywhere, not at spaces (no cell holds a NUL:
            // they are escaped), so a cut cell is as long as its column.
            .set_delimiter('\0')
            .set_truncation_indicator("…");
        t.set_header(self.columns.iter().map(|c| c.header.as_str()));
        for row in &self.rows {
            let mut r = Row::from(row.iter().map(String::as_str));
            r.max_height(1);
            t.add_row(r);
        }
        if let Some(w) = width {
            t.set_width(u16::try_from(w).unwrap_or(u16::MAX))
                .set_content_arrangement(ContentArrangement::Dynamic);
        }
        let last = shown.last().copied();
        for (i, (col, spec)) in t.column_iter_mut().zip(&self.columns).enumerate() {
            let gap = if Some(i) == last { 0 } else { GAP as u16 };
            col.set_padding((0, gap));
            if spec.kind == Kind::Number {
                col.set_cell_alignment(CellAlignment::Right);
            }
            let lower = u16::try_from(lower[i]).unwrap_or(u16::MAX);
            col.set_constraint(match spec.kind {
                _ if !shown.contains(&i) => ColumnConstraint::Hidden,
                Kind::Whole | Kind::Number => ColumnConstraint::ContentWidth,
                // Bounds count the padding.
                Kind::Cut { .. } => ColumnConstraint::LowerBoundary(Width::Fixed(lower + gap)),
            });
        }
        let lines: Vec<String> = t.lines().map(|l| l.trim_end().to_string()).collect();
        // One line per row, none too wide: anything else is records.
        let fits = lines.len() == self.rows.len() + 1 && width.is_none_or(|w| lines.iter().all(|l| l.width() <= w));
        fits.then_some(lines)
    }

    /// Every row as a record: `-[ RECORD n ]---` then `key | value` lines,
    /// the keys the headers in lower case; a value too long for the width
    /// goes on over more lines (`    | …`), never cut.
    fn write_records(&self, out: &mut dyn Write, width: Option<usize>, color: bool) -> io::Result<()> {
        let keys: Vec<String> = self.columns.iter().map(|c| c.header.to_lowercase()).collect();
        let kw = keys.iter().map(|k| k.width()).max().unwrap_or(0);
        let room = width.map(|w| w.saturating_sub(kw + 3).max(8));
        let records: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| {
                let mut lines = Vec::new();
                for (key, value) in keys.iter().zip(row) {
                    for (j, part) in wrap(value, room).iter().enumerate() {
                        let k = if j == 0 { key.as_str() } else { "" };
                        let pad = kw - k.width();
                        lines.push(format!("{k}{:pad$} | {part}", "").trim_end().to_string());
                    }
                }
                lines
            })
            .collect();
        let widest = records.iter().flatten().map(|l| l.width()).max().unwrap_or(0);
        for (n, (lines, tone)) in records.iter().zip(&self.tones).enumerate() {
            let title = format!("-[ RECORD {} ]", n + 1);
            let dashes = width.map_or(widest, |w| widest.min(w)).saturating_sub(title.width());
            paint(out, &format!("{title}{}", "-".repeat(dashes)), Tone::Strong, color)?;
            for line in lines {
                paint(out, line, *tone, color)?;
            }
        }
        Ok(())
    }
}

/// `text` in lines of at most `width` columns (`None`: one line), broken
/// at spaces, and inside a word only when it is longer than a line.
pub fn wrap(text: &str, width: Option<usize>) -> Vec<String> {
    let Some(w) = width.filter(|&w| text.width() > w) else {
        return vec![text.to_string()];
    };
    let opts = textwrap::Options::new(w.max(1))
        .break_words(true)
        .word_splitter(textwrap::WordSplitter::NoHyphenation);
    textwrap::wrap(text, opts).into_iter().map(|l| l.into_owned()).collect()
}

/// Writes a line of prose in `width` columns: words that do not fit go on
/// over the next lines, indented by `indent` columns. A command in
/// backquotes is kept on one line when it fits one.
pub fn write_wrapped(out: &mut dyn Write, text: &str, width: Option<usize>, indent: usize) -> io::Result<()> {
    let Some(w) = width.filter(|&w| text.width() > w) else {
        return writeln!(out, "{text}");
    };
    let pad = " ".repeat(indent.min(w / 2));
    let opts = textwrap::Options::new(w)
        .break_words(true)
        .word_separator(textwrap::WordSeparator::Custom(words_and_commands))
        .word_splitter(textwrap::WordSplitter::NoHyphenation)
        .subsequent_indent(&pad);
    for line in textwrap::wrap(text, opts) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The words of `line` split at spaces, except inside backquotes.
fn words_and_commands(line: &str) -> Box<dyn Iterator<Item = textwrap::core::Word<'_>> + '_> {
    let mut words = Vec::new();
    let (mut start, mut quoted, mut after_space) = (0, false, false);
    for (i, c) in line.char_indices() {
        if c != ' ' && after_space {
            words.push(textwrap::core::Word::from(&line[start..i]));
            start = i;
        }
        after_space = c == ' ' && !quoted;
        if c == '`' {
            quoted = !quoted;
        }
    }
    words.push(textwrap::core::Word::from(&line[start..]));
    Box::new(words.into_iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &Table, width: Option<usize>) -> String {
        let mut out = Vec::new();
        t.write(&mut out, width, false, Layout::Fit).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn sample() -> Table {
        let mut t = Table::new(vec![
            Column::whole("ID"),
            Column::cut("TO", 8, 12),
            Column::number("SIZE"),
            Column::cut("SUBJECT", 8, 10).keep(Keep::IfReadable(0)),
        ]);
        t.push(
            vec![
                "abcd1234".into(),
                "someone.with.a.long.name@example.com".into(),
                "200K".into(),
                "Quarterly report for the board".into(),
            ],
            Tone::Plain,
        );
        t.push(
            vec!["ef567890".into(), "b@x.org".into(), "3B".into(), "hi".into()],
            Tone::Bad,
        );
        t
    }

    #[test]
    fn without_a_width_nothing_is_cut() {
        let s = render(&sample(), None);
        assert_eq!(
            s,
            "ID        TO                                    SIZE  SUBJECT\n\
             abcd1234  someone.with.a.long.name@example.com  200K  Quarterly report for the board\n\
             ef567890  b@x.org                                 3B  hi\n"
        );
    }

    #[test]
    fn cut_cells_end_in_an_ellipsis_where_the_column_ends() {
        let s = render(&sample(), Some(50));
        for line in s.lines() {
            assert!(line.width() <= 50, "{line:?}");
        }
        assert_eq!(s.lines().count(), 3, "{s}");
        let row = s.lines().nth(1).unwrap();
        assert!(row.starts_with("abcd1234  someone.with"), "{s}");
        assert!(row.contains("…  200K  Quarterly"), "{s}");
        // A cut that falls on a space is not moved back to a word's end.
        assert!(!row.contains(" …"), "{s}");
    }

    #[test]
    fn optional_columns_go_first_then_records() {
        let s = render(&sample(), Some(36));
        assert!(s.starts_with("ID        TO"), "{s}");
        assert!(!s.contains("SUBJECT"), "{s}");
        assert!(s.contains("200K"), "{s}");
        // ID 8 + TO 8 + SIZE 4 + gaps 4 = 24: a narrower table is records.
        let r = render(&sample(), Some(22));
        assert!(r.starts_with("-[ RECORD 1 ]"), "{r}");
        assert!(r.contains("to      | someone.with"), "{r}");
        for line in r.lines() {
            assert!(line.width() <= 22, "{line:?}");
        }
        let values: String = r.lines().filter_map(|l| l.split_once("| ")).map(|(_, v)| v).collect();
        assert!(values.contains("someone.with.a.long.name@example.com"), "{r}");
    }

    #[test]
    fn a_whole_column_that_cannot_fit_makes_records() {
        let mut t = Table::new(vec![Column::whole("PATH"), Column::whole("PROBLEM")]);
        t.push(
            vec!["queue/x".into(), "schedule invalid: EOF while parsing".into()],
            Tone::Plain,
        );
        assert!(render(&t, Some(60)).starts_with("PATH"));
        let r = render(&t, Some(30));
        assert_eq!(
            r,
            "-[ RECORD 1 ]--------------\n\
             path    | queue/x\n\
             problem | schedule invalid:\n        \
             | EOF while parsing\n"
        );
    }

    #[test]
    fn prose_keeps_a_command_on_one_line() {
        let mut out = Vec::new();
        let text = "3 entries with problems: see `mqctl list --broken`";
        write_wrapped(&mut out, text, Some(40), 2).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "3 entries with problems: see\n  `mqctl list --broken`\n"
        );
    }

    #[test]
    fn wide_characters_count_twice() {
        let mut t = Table::new(vec![Column::whole("ID"), Column::cut("SUBJECT", 8, 8)]);
        t.push(vec!["a".into(), "日本語テキストです".into()], Tone::Plain);
        let s = render(&t, Some(12));
        for line in s.lines() {
            assert!(line.width() <= 12, "{line:?}");
        }
        // Eight columns: 日本語テ and … would take nine.
        assert!(s.contains("日本語…"), "{s}");
    }
}
