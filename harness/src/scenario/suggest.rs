//! Error locations and "did you mean" hints for scenario files.

/// Adds "did you mean `x`?" to serde's unknown-field and unknown-variant errors.
pub fn with_suggestion(message: &str) -> String {
    let unknown = ["unknown field `", "unknown variant `"].iter().find_map(|prefix| {
        let start = message.find(prefix)? + prefix.len();
        let end = message[start..].find('`')? + start;
        Some(&message[start..end])
    });
    let expected: Vec<&str> = message
        .split_once("expected one of ")
        .map(|(_, list)| {
            list.split(", ").map(|s| s.trim_matches(|c: char| c == '`' || c.is_whitespace() || c == ',')).collect()
        })
        .unwrap_or_default();
    let nearest = unknown.and_then(|unknown| {
        expected
            .iter()
            .map(|candidate| (strsim::damerau_levenshtein(unknown, candidate), *candidate))
            .filter(|(distance, candidate)| *distance <= 3.max(candidate.len() / 3))
            .min()
            .map(|(_, candidate)| candidate)
    });
    match nearest {
        Some(candidate) => format!("{message} (did you mean `{candidate}`?)"),
        None => message.to_owned(),
    }
}

/// 1-based line and column of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |n| before.len() - n - 1) + 1;
    (line, column)
}

/// The 1-based line of the first line containing `needle`.
pub fn find_line(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|line| line.contains(needle)).map(|n| n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestion_names_the_nearest_key() {
        let message = "phases[0]: unknown field `requets`, expected one of `name`, `before`, `load`, `requests`, `expect`, `after`";
        assert!(with_suggestion(message).ends_with("(did you mean `requests`?)"), "{}", with_suggestion(message));
        assert!(!with_suggestion("unknown field `zzzzzzzzzz`, expected one of `name`").contains("did you mean"));
    }
}
