//! `--metrics-push URL`: the live metrics sent with Prometheus remote write (the protocol k6's
//! `experimental-prometheus-rw` output uses), every second and once more when the run ends,
//! for clusters where nothing can scrape a Job's pod. Encoding (protobuf, snappy) is the
//! `prometheus-reqwest-remote-write` crate's; a push that fails is logged and the next one
//! carries the counters' current values, so nothing is queued or lost for good.
//!
//! The crate (0.5) writes a histogram's buckets under the family's bare name and leaves the
//! `+Inf` bucket out, so `histogram_quantile` over `<name>_bucket` would find nothing: the
//! buckets are renamed and `+Inf` added here before a push ([`as_scraped`]).

use std::sync::Arc;
use std::time::Duration;

use prometheus_reqwest_remote_write::{LABEL_NAME, Label, TimeSeries, WriteRequest};

use crate::live::Live;

/// How often the series are pushed.
pub const EVERY: Duration = Duration::from_secs(1);

/// Pushes `live`'s series to `url` every [`EVERY`] until the returned task is aborted.
pub fn start(live: Arc<Live>, url: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().expect("client");
        loop {
            tokio::time::sleep(EVERY).await;
            if let Err(error) = push(&client, &live, &url).await {
                tracing::warn!(%error, url, "remote write failed");
            }
        }
    })
}

/// One push of every series as it stands now.
pub async fn push(client: &reqwest::Client, live: &Live, url: &str) -> anyhow::Result<()> {
    let request = WriteRequest::from_metric_families(live.gather(), None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let request = as_scraped(request);
    let request = request.build_http_request(client.clone(), url, concat!("gauntlet/", env!("CARGO_PKG_VERSION")))?;
    let response = client.execute(request).await?;
    anyhow::ensure!(response.status().is_success(), "{} answered {}", url, response.status());
    Ok(())
}

/// `request` with its histogram series named as a scrape names them: each bucket (a series with
/// an `le` label) under `<name>_bucket`, and a `+Inf` bucket equal to `<name>_count`.
fn as_scraped(request: WriteRequest) -> WriteRequest {
    let name = |series: &TimeSeries| series.labels.iter().find(|l| l.name == LABEL_NAME).map(|l| l.value.clone());
    let mut timeseries = Vec::with_capacity(request.timeseries.len());
    for mut series in request.timeseries {
        if series.labels.iter().any(|l| l.name == "le") {
            if let Some(label) =
                series.labels.iter_mut().find(|l| l.name == LABEL_NAME && !l.value.ends_with("_bucket"))
            {
                label.value.push_str("_bucket");
            }
        } else if let Some(family) = name(&series).and_then(|n| n.strip_suffix("_count").map(str::to_owned)) {
            let mut infinite = series.clone();
            for label in &mut infinite.labels {
                if label.name == LABEL_NAME {
                    label.value = format!("{family}_bucket");
                }
            }
            infinite.labels.push(Label { name: "le".to_owned(), value: "+Inf".to_owned() });
            timeseries.push(infinite);
        }
        timeseries.push(series);
    }
    WriteRequest { timeseries }.sorted()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_named_as_a_scrape_names_them_with_an_infinite_bucket() {
        let registry = prometheus::Registry::new();
        let histogram =
            prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("lag_seconds", "h").buckets(vec![0.1]))
                .unwrap();
        registry.register(Box::new(histogram.clone())).unwrap();
        histogram.observe(0.05);
        histogram.observe(5.0);
        let request = as_scraped(WriteRequest::from_metric_families(registry.gather(), None).unwrap());
        let series: Vec<(String, Option<String>, f64)> = request
            .timeseries
            .iter()
            .map(|s| {
                let label = |n: &str| s.labels.iter().find(|l| l.name == n).map(|l| l.value.clone());
                (label(LABEL_NAME).unwrap(), label("le"), s.samples[0].value)
            })
            .collect();
        assert!(series.contains(&("lag_seconds_bucket".into(), Some("0.1".into()), 1.0)), "{series:?}");
        assert!(series.contains(&("lag_seconds_bucket".into(), Some("+Inf".into()), 2.0)), "{series:?}");
        assert!(series.contains(&("lag_seconds_count".into(), None, 2.0)), "{series:?}");
        assert!(!series.iter().any(|(name, ..)| name == "lag_seconds"), "no bare-named buckets: {series:?}");
    }
}
