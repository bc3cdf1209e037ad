//! Values taken from responses and used in later requests: `capture: {product_id: /id}` on a
//! request or an `http` action stores the JSON at that pointer under the name, and `${product_id}`
//! in a later path, query, header or body is replaced with it. A request's captures belong to
//! its user (each user logs in and keeps its own token); an action's to the run, seen by every
//! user and by `state` checks. `${user}` is built in: a name unique to each user of the run.
//!
//! These `${name}`s are left alone when the scenario file is read
//! ([`crate::scenario::interpolate`]): only names that some `capture:` declares, and `user`, are.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::plan::Request;

/// Captured values by name.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Variables(BTreeMap<String, String>);

impl Variables {
    /// Sets `name`.
    pub fn set(&mut self, name: &str, value: String) {
        self.0.insert(name.to_owned(), value);
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Stores the value at each pointer of `captures` in `body`. A pointer with nothing there
    /// is an error naming it; the values found before it are kept.
    pub fn capture(&mut self, captures: &BTreeMap<String, String>, body: &[u8]) -> Result<(), String> {
        if captures.is_empty() {
            return Ok(());
        }
        let json: Value = serde_json::from_slice(body).map_err(|_| "capture: the answer is not JSON".to_owned())?;
        for (name, pointer) in captures {
            let value = match json.pointer(pointer) {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Null) | None => return Err(format!("capture {name}: nothing at {pointer}")),
                Some(other) => other.to_string(),
            };
            self.set(name, value);
        }
        Ok(())
    }

    /// `text` with every `${name}` replaced, looking in `self` then `fallback`; an unset name
    /// is an error naming it.
    pub fn render(&self, text: &str, fallback: &Variables) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return Ok(out);
            };
            let name = &after[..end];
            let value = self
                .get(name)
                .or_else(|| fallback.get(name))
                .ok_or_else(|| format!("${{{name}}} was never captured"))?;
            out.push_str(value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `spec` with its path, query values, header values and body strings rendered.
    pub fn render_request(&self, spec: &Request, fallback: &Variables) -> Result<Request, String> {
        let mut rendered = spec.clone();
        rendered.path = self.render(&spec.path, fallback)?;
        for value in rendered.query.values_mut().chain(rendered.headers.values_mut()) {
            *value = self.render(value, fallback)?;
        }
        if let Some(body) = &mut rendered.body {
            self.render_json(body, fallback)?;
        }
        Ok(rendered)
    }

    /// Renders every string in `value`, keys included.
    pub fn render_json(&self, value: &mut Value, fallback: &Variables) -> Result<(), String> {
        match value {
            Value::String(text) => *text = self.render(text, fallback)?,
            Value::Array(items) => {
                for item in items {
                    self.render_json(item, fallback)?;
                }
            }
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut item) in entries {
                    self.render_json(&mut item, fallback)?;
                    map.insert(self.render(&key, fallback)?, item);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Whether `spec` uses a `${name}` (and so is rendered per send).
pub fn uses_variables(spec: &Request) -> bool {
    let body = spec.body.as_ref().map(Value::to_string).unwrap_or_default();
    [spec.path.as_str(), body.as_str()]
        .into_iter()
        .chain(spec.query.values().map(String::as_str))
        .chain(spec.headers.values().map(String::as_str))
        .any(|text| text.contains("${"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_read_pointers_and_renders_prefer_the_users_values() {
        let mut run = Variables::default();
        run.capture(&BTreeMap::from([("product_id".into(), "/id".into())]), br#"{"id":"p-1"}"#).unwrap();
        let mut user = Variables::default();
        user.capture(
            &BTreeMap::from([("token".into(), "/access_token".into()), ("n".into(), "/n".into())]),
            br#"{"access_token":"t","n":3}"#,
        )
        .unwrap();
        assert_eq!(user.render("/x/${product_id}?t=${token}&n=${n}", &run).unwrap(), "/x/p-1?t=t&n=3");
        user.set("product_id", "mine".into());
        assert_eq!(user.render("${product_id}", &run).unwrap(), "mine");
        assert_eq!(user.render("${missing}", &run).unwrap_err(), "${missing} was never captured");
        let error = user.capture(&BTreeMap::from([("id".into(), "/nope".into())]), br#"{"id":1}"#).unwrap_err();
        assert_eq!(error, "capture id: nothing at /nope");
        assert!(user.capture(&BTreeMap::from([("id".into(), "/id".into())]), b"<html>").is_err());
    }

    #[test]
    fn requests_render_path_query_headers_and_body_strings() {
        let spec: Request = serde_yaml::from_str(
            "{method: POST, path: '/orders/${p}', query: {q: '${p}'}, headers: {authorization: 'Bearer ${t}'}, body: {items: [{product_id: '${p}', quantity: 1}]}}",
        )
        .unwrap();
        assert!(uses_variables(&spec));
        let mut vars = Variables::default();
        vars.set("p", "P".into());
        vars.set("t", "T".into());
        let rendered = vars.render_request(&spec, &Variables::default()).unwrap();
        assert_eq!((rendered.path.as_str(), rendered.query["q"].as_str()), ("/orders/P", "P"));
        assert_eq!(rendered.headers["authorization"], "Bearer T");
        assert_eq!(rendered.body.unwrap()["items"][0]["product_id"], "P");
    }
}
