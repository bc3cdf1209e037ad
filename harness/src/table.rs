//! Plain-text tables for people at a terminal: a header row, then left-aligned columns as
//! wide as their widest cell. Written here rather than taken from a crate (comfy-table,
//! tabled): nothing needs borders, colour or wrapping, and this is one function.

/// `headers` and `rows` as aligned columns, one line each; "(none)" under the header when
/// there are no rows.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut lines = vec![line(headers.to_vec())];
    lines.extend(rows.iter().map(|row| line(row.iter().map(String::as_str).collect())));
    if rows.is_empty() {
        lines.push("(none)".to_owned());
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let rows = vec![vec!["a-long-name".to_owned(), "1".to_owned()], vec!["b".to_owned(), "22".to_owned()]];
        assert_eq!(render(&["name", "n"], &rows), "name         n\na-long-name  1\nb            22");
        assert_eq!(render(&["id", "kind"], &[]), "id  kind\n(none)");
    }
}
