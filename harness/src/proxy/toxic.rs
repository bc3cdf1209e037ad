//! Toxics: what a proxy does to the bytes of one direction of a connection, with Toxiproxy's
//! names, attributes and JSON (`{name, type, stream, toxicity, attributes}`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which way the bytes flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Client to server.
    Upstream,
    /// Server to client.
    Downstream,
}

impl Stream {
    /// Parses `upstream`/`downstream`, case-insensitive as in Toxiproxy.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "upstream" => Some(Self::Upstream),
            "downstream" => Some(Self::Downstream),
            _ => None,
        }
    }

    /// The name in JSON and toxic names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Upstream => "upstream",
            Self::Downstream => "downstream",
        }
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
    /// The Toxiproxy type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Latency { .. } => "latency",
            Self::Bandwidth { .. } => "bandwidth",
            Self::SlowClose { .. } => "slow_close",
            Self::Timeout { .. } => "timeout",
            Self::ResetPeer { .. } => "reset_peer",
            Self::LimitData { .. } => "limit_data",
            Self::Slicer { .. } => "slicer",
            Self::Noop {} => "noop",
        }
    }

    /// Every type name, for error messages.
    pub const TYPES: &'static str = "latency, bandwidth, slow_close, timeout, reset_peer, limit_data, slicer, noop";

    /// The delay a latency toxic adds to one chunk.
    pub fn latency(latency: u64, jitter: u64) -> Duration {
        let jitter = jitter.min(latency) as i64;
        let offset = if jitter == 0 { 0 } else { rand::random_range(-jitter..=jitter) };
        Duration::from_millis((latency as i64 + offset).max(0) as u64)
    }

    /// How long `bytes` take at `rate` KB/s (Toxiproxy's KB is 1,000 bytes); zero when unlimited.
    pub fn bandwidth(rate: u64, bytes: usize) -> Duration {
        if rate == 0 { Duration::ZERO } else { Duration::from_secs_f64(bytes as f64 / (rate as f64 * 1000.0)) }
    }

    /// The sizes a slicer cuts `len` bytes into.
    pub fn slices(len: usize, average: usize, variation: usize) -> Vec<usize> {
        let average = average.max(1);
        let variation = variation.min(average - 1);
        let mut sizes = Vec::new();
        let mut left = len;
        while left > 0 {
            let size =
                if variation == 0 { average } else { rand::random_range(average - variation..=average + variation) };
            let size = size.min(left);
            sizes.push(size);
            left -= size;
        }
        sizes
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
    fn slices_cover_the_chunk_within_the_variation() {
        let sizes = Kind::slices(1000, 100, 20);
        assert_eq!(sizes.iter().sum::<usize>(), 1000);
        assert!(sizes[..sizes.len() - 1].iter().all(|s| (80..=120).contains(s)), "{sizes:?}");
    }

    #[test]
    fn latency_stays_within_its_jitter_and_bandwidth_follows_the_rate() {
        for _ in 0..100 {
            let d = Kind::latency(300, 50).as_millis();
            assert!((250..=350).contains(&d), "{d}");
        }
        assert_eq!(Kind::bandwidth(100, 50_000), Duration::from_millis(500));
        assert_eq!(Kind::bandwidth(0, 50_000), Duration::ZERO);
    }
}
