//! Toxics: what a fault proxy does to the bytes of one direction of a connection, with
//! Toxiproxy's names, attributes and JSON (`{name, type, stream, toxicity, attributes}`). The
//! harness's proxies apply them, its Toxiproxy API and client speak them, and scenarios name
//! them in `network:` actions.

use serde::{Deserialize, Serialize};

names!(
    /// A toxic's type, as Toxiproxy names it.
    ToxicType {
        /// Delays each chunk.
        Latency = "latency",
        /// Limits throughput.
        Bandwidth = "bandwidth",
        /// Delays the close.
        SlowClose = "slow_close",
        /// Drops all data, closes after a while (or never).
        Timeout = "timeout",
        /// Resets the connection.
        ResetPeer = "reset_peer",
        /// Closes after a number of bytes.
        LimitData = "limit_data",
        /// Cuts chunks into small pieces.
        Slicer = "slicer",
        /// Does nothing.
        Noop = "noop",
    }
);

names!(
    /// Which way the bytes flow.
    Stream {
        /// Client to server.
        Upstream = "upstream",
        /// Server to client.
        Downstream = "downstream",
    }
);

impl Stream {
    /// Parses `upstream`/`downstream`, case-insensitive as in Toxiproxy.
    pub fn parse(text: &str) -> Option<Self> {
        text.to_ascii_lowercase().parse().ok()
    }
}

/// A toxic's behaviour and attributes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "attributes", rename_all = "snake_case")]
pub enum Kind {
    /// Delays each chunk by `latency` ms, plus or minus up to `jitter` ms.
    Latency {
        /// Milliseconds.
        #[serde(default)]
        latency: u64,
        /// Milliseconds either way.
        #[serde(default)]
        jitter: u64,
    },
    /// Limits throughput to `rate` KB/s.
    Bandwidth {
        /// KB/s (1,000 bytes); 0 is unlimited.
        #[serde(default)]
        rate: u64,
    },
    /// Delays the close by `delay` ms.
    SlowClose {
        /// Milliseconds.
        #[serde(default)]
        delay: u64,
    },
    /// Drops all data, and closes the connection after `timeout` ms (never when 0: a blackhole).
    Timeout {
        /// Milliseconds; 0 never closes.
        #[serde(default)]
        timeout: u64,
    },
    /// Resets the connection (TCP RST) `timeout` ms after the first data.
    ResetPeer {
        /// Milliseconds after the first data.
        #[serde(default)]
        timeout: u64,
    },
    /// Closes the connection once `bytes` bytes have passed.
    LimitData {
        /// Bytes that pass before the close.
        #[serde(default)]
        bytes: u64,
    },
    /// Splits chunks into pieces of `average_size` ± `size_variation` bytes, `delay` µs apart.
    Slicer {
        /// Bytes.
        #[serde(default)]
        average_size: usize,
        /// Bytes, less than `average_size`.
        #[serde(default)]
        size_variation: usize,
        /// Microseconds between slices.
        #[serde(default)]
        delay: u64,
    },
    /// Does nothing.
    Noop {},
}

impl Kind {
    /// Its type.
    pub fn toxic_type(&self) -> ToxicType {
        match self {
            Self::Latency { .. } => ToxicType::Latency,
            Self::Bandwidth { .. } => ToxicType::Bandwidth,
            Self::SlowClose { .. } => ToxicType::SlowClose,
            Self::Timeout { .. } => ToxicType::Timeout,
            Self::ResetPeer { .. } => ToxicType::ResetPeer,
            Self::LimitData { .. } => ToxicType::LimitData,
            Self::Slicer { .. } => ToxicType::Slicer,
            Self::Noop {} => ToxicType::Noop,
        }
    }
}

/// A named toxic on one stream, applied to a share (`toxicity`) of the proxy's connections.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Toxic {
    /// Unique within its proxy; defaults to `<type>_<stream>`.
    pub name: String,
    /// Which direction it acts on.
    pub stream: Stream,
    /// The probability, drawn once per connection, that it applies to that connection.
    pub toxicity: f32,
    /// What it does.
    #[serde(flatten)]
    pub kind: Kind,
}

impl Toxic {
    /// The name a toxic gets when none is given, as in Toxiproxy: `<type>_<stream>`.
    pub fn default_name(toxic_type: ToxicType, stream: Stream) -> String {
        format!("{toxic_type}_{stream}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toxiproxy_json_round_trips() {
        let json = serde_json::json!({"name": "lag", "type": "latency", "stream": "downstream", "toxicity": 1.0,
            "attributes": {"latency": 300, "jitter": 50}});
        let toxic: Toxic = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(toxic.kind, Kind::Latency { latency: 300, jitter: 50 });
        assert_eq!(serde_json::to_value(&toxic).unwrap(), json);
    }

    #[test]
    fn every_kind_serializes_under_its_type_name() {
        let kinds = [
            Kind::Latency { latency: 1, jitter: 0 },
            Kind::Bandwidth { rate: 1 },
            Kind::SlowClose { delay: 1 },
            Kind::Timeout { timeout: 1 },
            Kind::ResetPeer { timeout: 1 },
            Kind::LimitData { bytes: 1 },
            Kind::Slicer { average_size: 1, size_variation: 0, delay: 0 },
            Kind::Noop {},
        ];
        assert_eq!(kinds.len(), ToxicType::ALL.len());
        for kind in kinds {
            assert_eq!(serde_json::to_value(&kind).unwrap()["type"], kind.toxic_type().name());
        }
        assert_eq!(Stream::parse("UpStream"), Some(Stream::Upstream));
    }
}
