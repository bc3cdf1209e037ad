//! [`MetricSet`]: a parsed Prometheus text scrape, queried by name and a label subset.

use std::collections::BTreeMap;

/// Every sample of one scrape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricSet {
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl MetricSet {
    /// Parses the text exposition format (comments skipped, unparsable lines ignored).
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let value: f64 = value.trim().parse().ok()?;
                let (name, labels) = match series.split_once('{') {
                    Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)),
                    None => (series, BTreeMap::new()),
                };
                Some((name.to_owned(), labels, value))
            })
            .collect();
        Self { samples }
    }

    /// Every series named `name`: its labels and value.
    pub fn series<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a BTreeMap<String, String>, f64)> + 'a {
        self.samples.iter().filter(move |(n, _, _)| n == name).map(|(_, labels, value)| (labels, *value))
    }

    /// Sum of the samples named `name` whose labels include every pair of `labels`;
    /// `None` when no such series exists (a missing metric is never read as zero).
    pub fn sum(&self, name: &str, labels: &BTreeMap<String, String>) -> Option<f64> {
        let matching: Vec<f64> = self
            .samples
            .iter()
            .filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(k) == Some(v)))
            .map(|(_, _, value)| *value)
            .collect();
        (!matching.is_empty()).then(|| matching.iter().sum())
    }
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(if escaped == 'n' { '\n' } else { escaped });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                other => value.push(other),
            }
        }
        labels.insert(key.trim_start_matches(',').trim().to_owned(), value);
        rest = &after[end..];
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP x y\n\
        circuit_breaker_state{service=\"postgres\"} 1\n\
        circuit_breaker_state{service=\"redis\"} 0\n\
        http_requests_total{endpoint=\"/a\",method=\"GET\",status=\"200\"} 3\n\
        http_requests_total{endpoint=\"/a\",method=\"GET\",status=\"503\"} 2\n\
        app_up 1\n";

    #[test]
    fn sums_series_matching_a_label_subset() {
        let set = MetricSet::parse(TEXT);
        let labels = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(set.sum("circuit_breaker_state", &labels(&[("service", "postgres")])), Some(1.0));
        assert_eq!(set.sum("http_requests_total", &labels(&[("endpoint", "/a")])), Some(5.0));
        assert_eq!(set.sum("app_up", &BTreeMap::new()), Some(1.0));
        assert_eq!(set.sum("missing_total", &BTreeMap::new()), None);
        assert_eq!(set.sum("circuit_breaker_state", &labels(&[("service", "vault")])), None);
    }
}
