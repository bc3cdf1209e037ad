//! What a toxic does to bytes: the timing and slicing behind [`Kind`]'s variants. The toxics
//! themselves (types, attributes, Toxiproxy's JSON) are [`wire::toxic`]'s.

use std::time::Duration;

pub use wire::toxic::{Kind, Stream, Toxic, ToxicType};

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
        let size = if variation == 0 { average } else { rand::random_range(average - variation..=average + variation) };
        let size = size.min(left);
        sizes.push(size);
        left -= size;
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_the_chunk_within_the_variation() {
        let sizes = slices(1000, 100, 20);
        assert_eq!(sizes.iter().sum::<usize>(), 1000);
        assert!(sizes[..sizes.len() - 1].iter().all(|s| (80..=120).contains(s)), "{sizes:?}");
    }

    #[test]
    fn latency_stays_within_its_jitter_and_bandwidth_follows_the_rate() {
        for _ in 0..100 {
            let d = latency(300, 50).as_millis();
            assert!((250..=350).contains(&d), "{d}");
        }
        assert_eq!(bandwidth(100, 50_000), Duration::from_millis(500));
        assert_eq!(bandwidth(0, 50_000), Duration::ZERO);
    }
}
