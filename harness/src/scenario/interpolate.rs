//! `${VAR}` and `${VAR:-default}` expansion of scenario text, remembering secret values.

/// The variable every run of one harness process shares, unique to that process: names for
/// things a run creates (queues, keys) that runs side by side must not share.
pub const RUN_ID: &str = "GAUNTLET_RUN_ID";

/// A variable the harness defines itself when the environment does not: [`RUN_ID`].
pub fn built_in(name: &str) -> Option<String> {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    (name == RUN_ID).then(|| ID.get_or_init(|| format!("{:08x}", rand::random::<u32>())).clone())
}

/// Expands `${VAR}` and `${VAR:-default}` from `lookup`; an unset variable without default is an
/// error. The values of variables named like secrets ([`crate::redact::is_secret_name`]) are
/// pushed to `secrets`.
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
    secrets: &mut Vec<String>,
) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or((offset + start, "unterminated ${".to_owned()))?;
        let expression = &after[..end];
        let (name, default) = match expression.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (expression, None),
        };
        let value = match (lookup(name), default) {
            (Some(value), _) => value,
            (None, Some(default)) => default.to_owned(),
            (None, None) => {
                return Err((
                    offset + start,
                    format!("environment variable {name} is not set (use ${{{name}:-default}})"),
                ));
            }
        };
        if crate::redact::is_secret_name(name) {
            secrets.push(value.clone());
        }
        out.push_str(&value);
        offset += start + 2 + end + 1;
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_id_is_built_in_and_the_same_within_one_process() {
        let id = built_in(RUN_ID).unwrap();
        assert_eq!(id.len(), 8);
        assert_eq!(built_in(RUN_ID), Some(id));
        assert_eq!(built_in("HOME_MADE"), None);
    }

    #[test]
    fn interpolation_expands_defaults_and_rejects_unset() {
        let lookup = |name: &str| (name == "HOST").then(|| "example".to_owned());
        let mut secrets = Vec::new();
        assert_eq!(interpolate("a ${HOST} b ${PORT:-80}", lookup, &mut secrets).unwrap(), "a example b 80");
        assert!(secrets.is_empty());
        assert_eq!(interpolate("t: ${API_TOKEN:-s3cr3t}", lookup, &mut secrets).unwrap(), "t: s3cr3t");
        assert_eq!(secrets, ["s3cr3t"], "a secret-named variable's value is remembered for redaction");
        let (at, message) = interpolate("x: ${MISSING}", lookup, &mut secrets).unwrap_err();
        assert_eq!(at, 3);
        assert!(message.contains("MISSING"));
    }
}
