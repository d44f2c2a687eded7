//! How the client subcommands print: JSON for scripts or a plain-text table or sentence for
//! people, chosen in one place ([`show`], [`show_list`]), and the small formatting helpers.

use clap::Args;
use serde::Serialize;

/// How `add` subcommands print what they created.
#[derive(Args, Clone, Copy)]
pub struct AddOutput {
    /// Print only the new id (for scripts).
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,
    /// Print the created object as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Print `text` with exactly one newline at the end.
fn print_text(text: &str) {
    if text.ends_with('\n') {
        print!("{text}");
    } else {
        println!("{text}");
    }
}

/// Print `value`: indented JSON when `json`, else what `human` writes for people (a table or
/// a sentence).
pub fn show<T: Serialize + ?Sized>(value: &T, json: bool, human: impl FnOnce(&T) -> String) {
    if json {
        println!("{}", pretty_json(value));
    } else {
        print_text(&human(value));
    }
}

/// Print a list: JSON when `json`, `empty` when there is nothing, else its `table`.
pub fn show_list<T: Serialize>(
    items: &[T],
    json: bool,
    empty: &str,
    table: impl FnOnce(&[T]) -> String,
) {
    match (json, items.is_empty()) {
        (true, _) => println!("{}", pretty_json(items)),
        (false, true) => println!("{empty}"),
        (false, false) => print_text(&table(items)),
    }
}

/// Print what an `add` created: its `id` alone (`--quiet`), JSON (`--json`), or `sentence`.
pub fn show_created<T: Serialize>(value: &T, id: &str, output: AddOutput, sentence: String) {
    if output.quiet {
        println!("{id}");
    } else {
        show(value, output.json, |_| sentence);
    }
}

/// How a table column is aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A plain-text table with a header row; columns as wide as their widest cell.
pub fn render_table(columns: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = columns.iter().map(|(h, _)| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                text += "  ";
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            match columns[i].1 {
                Align::Left => {
                    text += cell;
                    text += &" ".repeat(pad);
                }
                Align::Right => {
                    text += &" ".repeat(pad);
                    text += cell;
                }
            }
        }
        out += text.trim_end();
        out.push('\n');
    };
    line(&mut columns.iter().map(|(h, _)| *h));
    for row in rows {
        line(&mut row.iter().map(String::as_str).take(columns.len()));
    }
    out
}

/// Shorten `text` to at most `max` characters, ending with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// An RFC 3339 UTC timestamp as `YYYY-MM-DD HH:MM:SS` (anything else is shown as given).
pub fn short_time(rfc3339: &str) -> String {
    let bytes = rfc3339.as_bytes();
    if bytes.len() >= 19 && bytes[10] == b'T' && rfc3339.is_char_boundary(19) {
        format!("{} {}", &rfc3339[..10], &rfc3339[11..19])
    } else {
        rfc3339.to_string()
    }
}

/// `value` as indented JSON, for `show` subcommands and `--json`.
pub fn pretty_json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("API values always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let t = render_table(
            &[("id", Align::Left), ("n", Align::Right), ("x", Align::Left)],
            &[
                vec!["a".into(), "10".into(), "".into()],
                vec!["bbb".into(), "2".into(), "z".into()],
            ],
        );
        assert_eq!(t, "id    n  x\na    10\nbbb   2  z\n");
    }

    #[test]
    fn helpers_shorten_text_and_times() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(
            short_time("2025-01-02T03:04:05.678Z"),
            "2025-01-02 03:04:05"
        );
        assert_eq!(short_time("yesterday"), "yesterday");
    }
}
