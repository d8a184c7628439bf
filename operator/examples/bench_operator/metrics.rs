//! The operator's Prometheus metrics: a scrape, and the differences between two scrapes that the
//! rest window reports (counter deltas, histogram quantiles over the window only).

use std::collections::BTreeMap;

/// One scrape of `/metrics`, parsed into `(name, labels) -> value`.
#[derive(Debug, Default, Clone)]
pub struct Scrape {
    samples: BTreeMap<Series, f64>,
}

/// A metric name and its labels.
type Series = (String, BTreeMap<String, String>);

pub const RECONCILES: &str = "tweetpipe_operator_reconciles_total";
pub const DURATION: &str = "tweetpipe_operator_reconcile_duration_seconds";
pub const PHASES: &str = "tweetpipe_operator_reconcile_phase_duration_seconds";
pub const ERRORS: &str = "tweetpipe_operator_reconcile_errors_total";

impl Scrape {
    /// Parses the text exposition format (comments and malformed lines are skipped).
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|l| l.starts_with("tweetpipe_"))
            .filter_map(parse_line)
            .collect();
        Scrape { samples }
    }

    /// Sum of every series of `name` whose labels include `filter`.
    pub fn sum(&self, name: &str, filter: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|((n, labels), _)| n == name && matches(labels, filter))
            .map(|(_, v)| v)
            .sum()
    }

    /// Values of one label over the series of `name` (e.g. every `phase`, every `reason`).
    pub fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        let mut values: Vec<String> = self
            .samples
            .keys()
            // A histogram's series are `<name>_bucket`, `_sum` and `_count`.
            .filter(|(n, _)| n == name || n.strip_prefix(name).is_some_and(|r| r.starts_with('_')))
            .filter_map(|(_, labels)| labels.get(label).cloned())
            .collect();
        values.sort();
        values.dedup();
        values
    }

    /// Total of histogram `name`'s observations (its `_sum` series) restricted to `filter`.
    pub fn total(&self, name: &str, filter: &[(&str, &str)]) -> f64 {
        self.sum(&format!("{name}_sum"), filter)
    }

    /// Cumulative buckets `(le, count)` of histogram `name` restricted to `filter`, sorted by le.
    pub fn buckets(&self, name: &str, filter: &[(&str, &str)]) -> Vec<(f64, f64)> {
        let bucket_name = format!("{name}_bucket");
        let mut buckets: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter(|((n, labels), _)| *n == bucket_name && matches(labels, filter))
            .filter_map(|((_, labels), v)| {
                let le = labels.get("le")?;
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((bound, *v))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        buckets
    }
}

fn matches(labels: &BTreeMap<String, String>, filter: &[(&str, &str)]) -> bool {
    filter
        .iter()
        .all(|(k, v)| labels.get(*k).is_some_and(|x| x == v))
}

fn parse_line(line: &str) -> Option<(Series, f64)> {
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.trim().parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)),
        None => (series, BTreeMap::new()),
    };
    Some(((name.to_string(), labels), value))
}

/// `a="x",b="y"` (label values here never contain quotes or commas).
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    text.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        })
        .collect()
}

/// Bucket counts observed between two scrapes of the same histogram.
pub fn window(before: &[(f64, f64)], after: &[(f64, f64)]) -> Vec<(f64, f64)> {
    after
        .iter()
        .map(|&(bound, count)| {
            let earlier = before
                .iter()
                .find(|(b, _)| *b == bound)
                .map_or(0.0, |(_, c)| *c);
            (bound, count - earlier)
        })
        .collect()
}

/// Quantile estimate from cumulative buckets (linear within a bucket, as Prometheus does).
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut previous = (0.0, 0.0);
    for &(bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                return Some(previous.0);
            }
            let within = if count > previous.1 {
                (rank - previous.1) / (count - previous.1)
            } else {
                1.0
            };
            return Some(previous.0 + (bound - previous.0) * within);
        }
        previous = (bound, count);
    }
    None
}

/// `GET /metrics` from the operator's ops address; an empty scrape when it does not answer.
pub async fn scrape(port: u16) -> Scrape {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return Scrape::default();
    };
    let request = b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
    if stream.write_all(request).await.is_err() {
        return Scrape::default();
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Scrape::parse(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE x counter\n\
        tweetpipe_operator_reconciles_total 7\n\
        tweetpipe_operator_reconcile_phase_duration_seconds_bucket{phase=\"apply\",le=\"0.001\"} 1\n\
        tweetpipe_operator_reconcile_phase_duration_seconds_bucket{phase=\"apply\",le=\"+Inf\"} 4\n\
        tweetpipe_operator_reconcile_errors_total{reason=\"kafka\"} 2\n";

    #[test]
    fn parses_counters_labels_and_buckets() {
        let s = Scrape::parse(TEXT);
        assert_eq!(s.sum(RECONCILES, &[]), 7.0);
        assert_eq!(s.sum(ERRORS, &[("reason", "kafka")]), 2.0);
        assert_eq!(s.label_values(PHASES, "phase"), vec!["apply".to_string()]);
        let b = s.buckets(PHASES, &[("phase", "apply")]);
        assert_eq!(b, vec![(0.001, 1.0), (f64::INFINITY, 4.0)]);
    }

    #[test]
    fn window_quantiles_ignore_what_came_before() {
        let before = [(0.1, 10.0), (0.2, 10.0), (f64::INFINITY, 10.0)];
        let after = [(0.1, 10.0), (0.2, 20.0), (f64::INFINITY, 20.0)];
        let w = window(&before, &after);
        assert_eq!(w, vec![(0.1, 0.0), (0.2, 10.0), (f64::INFINITY, 10.0)]);
        let p50 = quantile(&w, 0.5).unwrap();
        assert!((p50 - 0.15).abs() < 1e-9, "{p50}");
    }
}
