//! What a self-hosted shop needs before it starts: a port per service, and the process names
//! `process:` actions may use.

use wire::ShopService;

use super::address::TargetError;
use crate::hosting::TARGET_APP;
use crate::plan::{Target as TargetSpec, Topology};

/// The port each shop service will listen on, picked before anything starts so that proxies
/// in front of a service can be started first.
#[derive(Clone, Debug)]
pub struct ShopPorts(pub(super) Vec<(&'static str, u16)>);

impl ShopPorts {
    /// A different free loopback port for every service.
    pub fn pick() -> Result<Self, TargetError> {
        let ports = super::ports::free_ports(ShopService::ALL.len())?;
        Ok(Self(ShopService::ALL.iter().map(|s| s.name()).zip(ports).collect()))
    }

    /// The port of `service`.
    pub fn port(&self, service: &str) -> Option<u16> {
        self.0.iter().find(|(name, _)| *name == service).map(|(_, port)| *port)
    }
}

/// The process names a scenario's target will have, before it starts: none for a URL,
/// `target-app`, or the shop's services.
pub fn hosted_names(spec: &TargetSpec, url_override: Option<&str>) -> Vec<String> {
    match (url_override.or(spec.url.as_deref()), spec.topology) {
        (Some(_), _) => Vec::new(),
        (None, Some(Topology::Shop)) => ShopService::NAMES.iter().map(|s| (*s).to_owned()).collect(),
        (None, None) => vec![TARGET_APP.to_owned()],
    }
}
