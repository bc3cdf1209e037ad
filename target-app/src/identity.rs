//! What the app says about itself (`/api/version`, and the head of `/api/info`): its name,
//! version, build and environment.

use serde_json::{Value, json};

use crate::config::Settings;
use crate::rendered::RenderedJson;

/// Build identifier, set at compile time through `GAUNTLET_BUILD` (e.g. a git hash).
const BUILD: &str = match option_env!("GAUNTLET_BUILD") {
    Some(build) => build,
    None => "dev",
};

/// The identity fields.
pub fn identity(settings: &Settings) -> Value {
    json!({
        "name": settings.app.name,
        "version": env!("CARGO_PKG_VERSION"),
        "build": BUILD,
        "environment": settings.app.environment,
    })
}

/// The body of `/api/version`, which changes only with the settings.
pub fn version_body(settings: &Settings) -> RenderedJson {
    RenderedJson::of(&identity(settings))
}
