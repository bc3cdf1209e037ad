//! `${VAR}` and `${VAR:-default}` expansion of scenario text, remembering secret values.

/// The variable every run of one harness process shares, unique to that process: names for
/// things a run creates (queues, keys) that runs side by side must not share.
pub const RUN_ID: &str = "GAUNTLET_RUN_ID";

/// The variable holding the shop administrator's password (chosen by the harness per run
/// unless the environment sets it); scenarios log in with `${SHOP_ADMIN_PASSWORD}`.
pub const SHOP_ADMIN_PASSWORD: &str = "SHOP_ADMIN_PASSWORD";

/// A variable the harness defines itself when the environment does not: [`RUN_ID`], and the
/// password of the shop administrator the harness keeps when it hosts the shop.
pub fn built_in(name: &str) -> Option<String> {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static ADMIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    match name {
        RUN_ID => Some(ID.get_or_init(|| format!("{:08x}", rand::random::<u32>())).clone()),
        SHOP_ADMIN_PASSWORD => Some(
            ADMIN
                .get_or_init(|| format!("gauntlet-{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>()))
                .clone(),
        ),
        _ => None,
    }
}

/// Why a scenario `written` like this cannot log in to a shop the harness did not start: it
/// uses `${SHOP_ADMIN_PASSWORD}` and the environment does not set it (the harness would invent
/// one that shop does not know).
pub fn unset_admin_password(written: &str) -> Option<String> {
    (written.contains(&format!("${{{SHOP_ADMIN_PASSWORD}}}")) && std::env::var_os(SHOP_ADMIN_PASSWORD).is_none()).then(
        || {
            format!(
                "the scenario logs in with ${{{SHOP_ADMIN_PASSWORD}}}, which is not set: set it to that shop's \
                 administrator password (docker compose's is dev-shop-admin-pw)"
            )
        },
    )
}

/// A variable's value: the environment's, or else the harness's own ([`built_in`]).
pub fn variable(name: &str) -> Option<String> {
    std::env::var(name).ok().or_else(|| built_in(name))
}

/// Expands `${VAR}` and `${VAR:-default}` from `lookup`; an unset variable without default is an
/// error. Names in `runtime` (captures, filled during the run: [`crate::variables`]) are left
/// as written. The values of variables named like secrets ([`crate::redact::is_secret_name`])
/// are pushed to `secrets`.
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
    runtime: &std::collections::BTreeSet<String>,
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
        if default.is_none() && runtime.contains(name) {
            out.push_str(&rest[start..start + 2 + end + 1]);
            offset += start + 2 + end + 1;
            rest = &after[end + 1..];
            continue;
        }
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

/// The built-in per-user name.
pub const USER: &str = "user";

/// The names a scenario file declares under any `capture:`, plus [`USER`]: the `${name}`s
/// reading the file leaves for the run to fill. Text that is not YAML declares none (reading
/// it will say why).
pub fn declared(raw: &str) -> std::collections::BTreeSet<String> {
    fn walk(value: &serde_yaml::Value, names: &mut std::collections::BTreeSet<String>) {
        match value {
            serde_yaml::Value::Mapping(map) => {
                for (key, item) in map {
                    if key.as_str() == Some("capture")
                        && let Some(captures) = item.as_mapping()
                    {
                        names.extend(captures.keys().filter_map(|k| k.as_str().map(str::to_owned)));
                    }
                    walk(item, names);
                }
            }
            serde_yaml::Value::Sequence(items) => items.iter().for_each(|item| walk(item, names)),
            _ => {}
        }
    }
    let mut names = std::collections::BTreeSet::from([USER.to_owned()]);
    if let Ok(value) = serde_yaml::from_str::<serde_yaml::Value>(raw) {
        walk(&value, &mut names);
    }
    names
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
        let (mut secrets, none) = (Vec::new(), std::collections::BTreeSet::new());
        assert_eq!(interpolate("a ${HOST} b ${PORT:-80}", lookup, &none, &mut secrets).unwrap(), "a example b 80");
        assert!(secrets.is_empty());
        assert_eq!(interpolate("t: ${API_TOKEN:-s3cr3t}", lookup, &none, &mut secrets).unwrap(), "t: s3cr3t");
        assert_eq!(secrets, ["s3cr3t"], "a secret-named variable's value is remembered for redaction");
        let (at, message) = interpolate("x: ${MISSING}", lookup, &none, &mut secrets).unwrap_err();
        assert_eq!(at, 3);
        assert!(message.contains("MISSING"));
    }

    #[test]
    fn captured_names_are_left_for_the_run_to_fill() {
        let lookup = |name: &str| (name == "HOST").then(|| "example".to_owned());
        let runtime = std::collections::BTreeSet::from(["token".to_owned()]);
        let text = interpolate("${HOST}/${token}/${HOST}", lookup, &runtime, &mut Vec::new()).unwrap();
        assert_eq!(text, "example/${token}/example");
    }

    #[test]
    fn declared_names_come_from_every_capture_in_the_file() {
        let names = declared(
            "phases:\n- requests: [{path: /a, capture: {token: /t}}]\n  before: [{http: {path: /b, capture: {product_id: /id}}}]\n",
        );
        assert_eq!(
            names,
            std::collections::BTreeSet::from(["product_id".to_owned(), "token".to_owned(), "user".to_owned()])
        );
    }
}
