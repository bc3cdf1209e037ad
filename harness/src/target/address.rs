//! Which targets the harness may reach (loopback, or any http(s) URL with the opt-in), from
//! which local address its own calls come, and why a target could not be used.

/// Why a target could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The URL is not on this machine, and remote targets were not allowed.
    #[error("target {url} is not a loopback address; to send to it, {opt_in}")]
    NotLoopback {
        /// The URL.
        url: String,
        /// How the command at hand opts in ([`RUN_OPT_IN`], [`MANUAL_OPT_IN`]).
        opt_in: &'static str,
    },
    /// Nothing answers at the URL.
    #[error("target {url} is unreachable: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The self-hosted target did not start or become ready.
    #[error("could not start the target: {0}")]
    Start(String),
}

/// How `run` opts in to a target off this machine.
pub const RUN_OPT_IN: &str =
    "pass --allow-remote (or set GAUNTLET_ALLOW_REMOTE=1), or set `allow_remote: true` in the scenario";

/// How `fault` and the `proxy` client commands opt in to a target off this machine.
pub const MANUAL_OPT_IN: &str = "pass --allow-remote (or set GAUNTLET_ALLOW_REMOTE=1)";

/// Refuses a URL off this machine unless remote targets are allowed; the refusal names
/// `opt_in`, the way the command at hand allows them.
pub fn check_allowed(url: &str, allow_remote: bool, opt_in: &'static str) -> Result<(), TargetError> {
    let url = url.trim_end_matches('/');
    if !allow_remote && !is_loopback(url) {
        return Err(TargetError::NotLoopback { url: url.to_owned(), opt_in });
    }
    reqwest::Url::parse(url)
        .ok()
        .filter(|u| u.scheme() == "http" || u.scheme() == "https")
        .map(|_| ())
        .ok_or_else(|| TargetError::Unreachable { url: url.to_owned(), reason: "not an http or https URL".into() })
}

/// Whether a URL points at this machine.
pub fn is_loopback(url: &str) -> bool {
    reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).is_some_and(|host| {
        host == "localhost" || host == "[::1]" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    })
}

/// The address the harness's own calls (readiness, scrapes, chaos API) come from, so they
/// never count against the per-IP rate limits the load (from 127.0.0.1) is testing.
pub const OBSERVER_ADDRESS: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

/// The address the harness's background scrapes (`/metrics` every 100 ms, `/api/info` every
/// second) come from, so they never use up the budget its actions and probes need.
pub const SCRAPER_ADDRESS: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3));
