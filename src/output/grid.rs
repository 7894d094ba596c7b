//! Rows and columns for the `history` commands' outputs: aligned text for a terminal, or a
//! GitHub-flavoured Markdown table for a pull-request comment. Every cell is passed through
//! [`visible`], so names from cloud data can neither steer a terminal nor break a table.

use super::escape::visible;

/// A table: a header and rows of cells, each row as long as the header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grid {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Grid {
    pub fn new(header: &[&str]) -> Self {
        Grid {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// Columns padded to their widest cell, two spaces apart, trailing spaces trimmed.
    pub fn text(&self) -> String {
        let cells: Vec<Vec<String>> = std::iter::once(&self.header)
            .chain(&self.rows)
            .map(|row| row.iter().map(|c| visible(c).into_owned()).collect())
            .collect();
        let mut widths = vec![0; self.header.len()];
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &cells {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, &width)| format!("{cell:<width$}"))
                .collect();
            out += line.join("  ").trim_end();
            out.push('\n');
        }
        out
    }

    /// A Markdown table; `|` in a cell is escaped and line breaks become spaces.
    pub fn markdown(&self) -> String {
        let line = |row: &[String]| {
            let cells: Vec<String> = row.iter().map(|c| markdown_cell(c)).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let mut out = line(&self.header);
        out += &line(&vec!["---".to_owned(); self.header.len()]);
        for row in &self.rows {
            out += &line(row);
        }
        out
    }
}

/// `text` safe inside a Markdown table cell and shown literally: visible escapes for hostile
/// characters, and a backslash before each character Markdown would act on.
pub fn markdown_cell(text: &str) -> String {
    let flat = text.replace(['\n', '\r'], " ");
    let mut out = String::with_capacity(flat.len());
    for c in visible(&flat).chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '!' | '&'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        let mut grid = Grid::new(&["RULE", "RESOURCE"]);
        grid.push(vec!["r".to_owned(), "vm|1 *x*\n\u{1b}[31m".to_owned()]);
        grid
    }

    #[test]
    fn text_is_aligned_and_escaped() {
        assert_eq!(
            grid().text(),
            "RULE  RESOURCE\nr     vm|1 *x*\\x0a\\x1b[31m\n"
        );
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        assert_eq!(
            grid().markdown(),
            "| RULE | RESOURCE |\n| --- | --- |\n| r | vm\\|1 \\*x\\* \\\\x1b\\[31m |\n"
        );
    }
}
