//! Field rules from the contract: allowed characters and lengths of names and keys.

use kit::error::{ApiError, ApiResult};

/// Checks `value` against `^[a-zA-Z0-9<extra>]+$` and `1..=max` characters, naming `field`.
pub fn name(field: &str, value: &str, max: usize, extra: &str) -> ApiResult<()> {
    if value.is_empty() || value.chars().count() > max {
        return Err(ApiError::invalid(field, format!("must be 1-{max} characters long")));
    }
    if let Some(bad) = value.chars().find(|c| !c.is_ascii_alphanumeric() && !extra.contains(*c)) {
        return Err(ApiError::invalid(
            field,
            format!("character {bad:?} is not allowed (letters, digits and {extra:?} only)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_contract_patterns() {
        assert!(name("key", "user:123.a-b_c", 200, "_:.-").is_ok());
        assert!(name("key", "", 200, "_:.-").is_err());
        assert!(name("key", &"a".repeat(201), 200, "_:.-").is_err());
        assert!(name("service_name", "a/b", 50, "_-").is_err());
        assert!(name("service_name", "ünï", 50, "_-").is_err());
    }
}
