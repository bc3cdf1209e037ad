//! [`RequestLabel`]: how reports and live metrics name a request.

/// What the report names a request by, and how it was sent.
#[derive(Clone, Debug)]
pub struct RequestLabel {
    /// Name in reports (`METHOD path` unless given).
    pub name: String,
    /// HTTP method.
    pub method: String,
    /// Path and query as sent.
    pub path: String,
}
