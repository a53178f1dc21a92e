//! Aligned text tables, as the `mariadb` client prints them, for result sets and reports.

use mysql_async::Value;

/// A table: a header and rows of cells, printed with columns padded to the widest cell.
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Per column: right-align (numbers) or left-align (text).
    right: Vec<bool>,
}

impl Table {
    /// A table with these column names; every column left-aligned until told otherwise.
    pub(crate) fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Table {
        let header: Vec<String> = header.into_iter().map(Into::into).collect();
        let right = vec![false; header.len()];
        Table {
            header,
            rows: Vec::new(),
            right,
        }
    }

    /// Right-aligns every column after the first `labels` ones (the shape of a report).
    pub(crate) fn numeric(mut self, labels: usize) -> Table {
        for r in self.right.iter_mut().skip(labels) {
            *r = true;
        }
        self
    }

    /// Adds a row; missing cells are blank, extra ones are dropped.
    pub(crate) fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut cells: Vec<String> = cells.into_iter().map(Into::into).collect();
        cells.resize(self.header.len(), String::new());
        self.rows.push(cells);
    }

    /// Number of rows (the header not counted).
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The table as text, with a `+---+` frame like the `mariadb` client.
    pub(crate) fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .chain([self.header[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let rule: String = widths
            .iter()
            .map(|w| format!("+{}", "-".repeat(w + 2)))
            .collect::<String>()
            + "+\n";
        let line = |cells: &[String], align: bool| -> String {
            let mut s = String::new();
            for (c, cell) in cells.iter().enumerate() {
                let pad = widths[c] - cell.chars().count();
                if align && self.right[c] {
                    s += &format!("| {}{} ", " ".repeat(pad), cell);
                } else {
                    s += &format!("| {}{} ", cell, " ".repeat(pad));
                }
            }
            s + "|\n"
        };
        let mut out = rule.clone();
        out += &line(&self.header, false);
        out += &rule;
        for r in &self.rows {
            out += &line(r, true);
        }
        out += &rule;
        out
    }
}

/// A cell as the `mariadb` client shows it: `NULL` for SQL NULL, text as text.
pub(crate) fn cell(value: &Value) -> String {
    match value {
        Value::NULL => "NULL".to_owned(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(d) => d.to_string(),
        Value::Date(y, mo, d, h, mi, s, us) => {
            let mut t = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
            if *us > 0 {
                t += &format!(".{us:06}");
            }
            t
        }
        Value::Time(neg, days, h, mi, s, us) => {
            let sign = if *neg { "-" } else { "" };
            let hours = u32::from(*h) + days * 24;
            let mut t = format!("{sign}{hours:02}:{mi:02}:{s:02}");
            if *us > 0 {
                t += &format!(".{us:06}");
            }
            t
        }
    }
}

/// A float with three significant decimals, for reports.
pub(crate) fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_columns_and_shows_null() {
        let mut t = Table::new(["id", "name"]);
        t.row(["1", &cell(&Value::NULL)]);
        t.row(["22", "bob"]);
        let text = t.render();
        assert!(text.contains("| id | name |"), "{text}");
        assert!(text.contains("| 1  | NULL |"), "{text}");
        assert!(text.contains("| 22 | bob  |"), "{text}");
    }

    #[test]
    fn numeric_columns_align_right() {
        let mut t = Table::new(["host", "qps"]).numeric(1);
        t.row(["a", "5"]);
        t.row(["b", "500"]);
        assert!(t.render().contains("| a    |   5 |"), "{}", t.render());
    }
}
