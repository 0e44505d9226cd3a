//! The text renderer: walks the `Doc` and lays out its headings, lines and fixed-width tables.

use super::model::{baseline_summary, pct, Align, Block, Cell, Column, Doc, Span, Table};
use std::fmt::Write;

/// The widest line the text report prints, in characters: longer lines are wrapped at a space
/// (prose with a hanging indent, a table row under its last column), and long names are
/// abbreviated in their columns (the JSON has them in full).
pub const WIDTH: usize = 100;

/// The text report of a document.
pub fn render(doc: &Doc) -> String {
    let mut o = String::new();
    for item in doc.sections.iter().flat_map(|s| &s.items).filter(|i| i.show.text()) {
        block(&mut o, &item.block);
    }
    o
}

fn block(o: &mut String, b: &Block) {
    match b {
        Block::Heading(title) => {
            let title = inline(std::slice::from_ref(title));
            let _ = writeln!(o, "\n{title}\n{}", "=".repeat(title.chars().count()));
        }
        Block::Subheading(title) => {
            let _ = writeln!(o, "{}", inline(std::slice::from_ref(title)));
        }
        Block::Para(_, spans) => {
            for l in inline(spans).lines() {
                wrap_prose(o, l);
            }
        }
        Block::Bullets(items) => {
            for spans in items {
                wrap_prose(o, &format!("  {}", inline(spans)));
            }
        }
        Block::Table(t) => table(o, t),
        Block::Space => o.push('\n'),
        // Cards and charts are drawn for the page; the text states their figures in lines.
        Block::Cards(_) | Block::Chart(_) => {}
    }
}

fn inline(spans: &[Span]) -> String {
    let mut s = String::new();
    for span in spans {
        match span {
            Span::Prose(t) => s.push_str(t),
            Span::Plain(t) | Span::Strong(t) | Span::Code(t) | Span::Colored(_, t) => s.push_str(t),
            Span::List { items, sep, width } => s.push_str(&fit(items, sep, *width)),
        }
    }
    s
}

fn pad(s: &str, width: usize, align: Align) -> String {
    match align {
        Align::Left => format!("{s:<width$}"),
        Align::Right => format!("{s:>width$}"),
    }
}

fn table(o: &mut String, t: &Table) {
    let shown: Vec<usize> = (0..t.columns.len()).filter(|&i| t.columns[i].show.text()).collect();
    if t.text_header {
        let heads = shown.iter().map(|&i| {
            let c = &t.columns[i];
            pad(&c.head, c.head_width.unwrap_or(c.width), c.align)
        });
        line(o, t, &shown, heads.collect());
    }
    for row in &t.rows {
        // A row ends at its last non-empty cell.
        let n = shown.iter().rposition(|&i| !matches!(row[i], Cell::Empty)).map_or(0, |p| p + 1);
        let cells = shown[..n].iter().map(|&i| cell(&row[i], &t.columns[i]));
        line(o, t, &shown, cells.collect());
    }
}

/// One line of a table: the indent, then each cell after its column's separator. A line wider
/// than [`WIDTH`] wraps its last cell, the continuation lines starting under that cell (or
/// further left when the cell starts too far right to leave room).
fn line(o: &mut String, t: &Table, shown: &[usize], cells: Vec<String>) {
    let mut head = t.indent.to_string();
    let Some((last, first)) = cells.split_last() else {
        o.push_str(head.trim_end());
        o.push('\n');
        return;
    };
    for (k, c) in first.iter().enumerate() {
        if k > 0 {
            head.push_str(t.columns[shown[k]].sep);
        }
        head.push_str(c);
    }
    if !first.is_empty() {
        head.push_str(t.columns[shown[first.len()]].sep);
    }
    let (start, last) = (head.chars().count(), last.trim_end());
    if start + 30 <= WIDTH || start + last.chars().count() <= WIDTH {
        wrap(o, &head, last, start);
    } else {
        // Too far right to hold a wrapped cell: the cell goes on its own lines below the row.
        o.push_str(head.trim_end());
        o.push('\n');
        let hang = " ".repeat(t.indent.len() + 4);
        wrap(o, &hang, last, hang.len());
    }
}

/// A line of prose, wrapped at [`WIDTH`] with continuation lines indented two spaces past the
/// line's own indent (the report's prose, and the CLI's swarm lines).
pub fn wrap_prose(o: &mut String, l: &str) {
    let indent = l.len() - l.trim_start_matches(' ').len();
    wrap(o, &l[..indent], &l[indent..], indent + 2);
}

/// `head` then `text`, broken at spaces so that no line is wider than [`WIDTH`] (a single word
/// longer than a line stays whole); continuation lines start with `hang` spaces. Runs of spaces
/// (a cell's padding) are kept as they are.
fn wrap(o: &mut String, head: &str, text: &str, hang: usize) {
    let mut line = head.to_string();
    let mut len = line.chars().count();
    let mut on_line = 0;
    for word in text.split(' ') {
        let w = word.chars().count();
        if on_line > 0 && !word.is_empty() && len + 1 + w > WIDTH && !line.trim().is_empty() {
            o.push_str(line.trim_end());
            o.push('\n');
            line = " ".repeat(hang);
            len = hang;
            on_line = 0;
        }
        if on_line > 0 {
            line.push(' ');
            len += 1;
        }
        line.push_str(word);
        len += w;
        on_line += 1;
    }
    o.push_str(line.trim_end());
    o.push('\n');
}

/// A cell padded to its column.
fn cell(c: &Cell, col: &Column) -> String {
    let clip = col.clip.unwrap_or(usize::MAX);
    let s = match c {
        Cell::Empty => String::new(),
        Cell::Text(t) | Cell::Code(t) => trunc(t, clip),
        Cell::Int(n) => n.to_string(),
        Cell::Float(v, decimals) => format!("{v:.decimals$}"),
        Cell::Percent(v) => format!("{v:.1}%"),
        Cell::Share(a, b) => pct(*a, *b),
        Cell::List(items, sep) => fit(items, sep, clip),
        Cell::Lines(items) => items.join("; "),
        Cell::Baseline(b) => baseline_summary(b),
        Cell::Suffixed(inner, suffix) => return cell(inner, col) + suffix,
        Cell::Noted(inner, _) => return cell(inner, col),
    };
    pad(&s, col.width, col.align)
}

/// `s` cut to `n` characters, the last one an ellipsis when cut.
fn trunc(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n.saturating_sub(1)).collect();
        t + "…"
    }
}

/// The items joined by `sep`, as many as fit in `width` characters, then "(+N)" for the rest.
fn fit(v: &[String], sep: &str, width: usize) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let mut s = String::new();
    for (i, item) in v.iter().enumerate() {
        let more = format!(" (+{})", v.len() - i);
        let add = if i == 0 { item.chars().count() } else { sep.chars().count() + item.chars().count() };
        let room = if i + 1 == v.len() { 0 } else { more.chars().count() };
        if i > 0 && s.chars().count() + add + room > width {
            s.push_str(&more);
            return s;
        }
        if i > 0 {
            s.push_str(sep);
        }
        s.push_str(item);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_what_fits_and_counts_the_rest() {
        let v: Vec<String> = ["alpha", "beta", "gamma", "delta"].iter().map(|s| s.to_string()).collect();
        assert_eq!(fit(&v, " ", 100), "alpha beta gamma delta");
        assert_eq!(fit(&v, " ", 16), "alpha beta (+2)");
        assert_eq!(fit(&v, ", ", 3), "alpha (+3)");
        assert_eq!(fit(&[], " ", 10), "-");
        assert_eq!(pct(1, 3), "33.3%");
        assert_eq!(pct(1, 0), "-");
        assert_eq!(trunc("abcdef", 4), "abc…");
    }

    #[test]
    fn tables_pad_clip_suffix_and_end_at_the_last_cell() {
        let columns = vec![Column::left("name", 6).clip(6), Column::right("n", 4), Column::left("note", 0).sep("  ")];
        let rows = vec![
            vec![Cell::Text("abcdefgh".into()), Cell::Suffixed(Box::new(Cell::Int(7)), " x".into()), Cell::Empty],
            vec![Cell::Text("ab".into()), Cell::Int(12), Cell::Text("tail".into())],
        ];
        let mut o = String::new();
        table(&mut o, &Table { columns, rows, text_header: true, indent: "> " });
        assert_eq!(o, "> name      n  note\n> abcde…    7 x\n> ab       12  tail\n");
    }

    #[test]
    fn long_lines_wrap_at_spaces_within_the_width() {
        let words = vec!["word"; 40].join(" ");
        let mut o = String::new();
        wrap_prose(&mut o, &format!("  {words}"));
        assert!(o.lines().all(|l| l.chars().count() <= WIDTH), "{o}");
        assert!(o.lines().skip(1).all(|l| l.starts_with("    word")), "{o}");
        assert_eq!(o.split_whitespace().count(), 40);
        // A row whose last cell starts far right: the cell goes below the row, indented.
        let columns = vec![Column::left("a", 80), Column::left("b", 0)];
        let rows = vec![vec![Cell::Text("x".into()), Cell::Text(words.clone())]];
        let mut o = String::new();
        table(&mut o, &Table { columns, rows, text_header: false, indent: "" });
        assert!(o.lines().all(|l| l.chars().count() <= WIDTH), "{o}");
        assert_eq!(o.lines().next(), Some("x"));
        assert!(o.lines().skip(1).all(|l| l.starts_with("    word")), "{o}");
        // Padding inside a row is kept; a line that fits is unchanged but for trailing spaces.
        let mut o = String::new();
        wrap(&mut o, "ab", "   12  ", 4);
        assert_eq!(o, "ab   12\n");
    }
}
