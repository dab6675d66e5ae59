//! Per-release counters: requests, errors (5xx and failed connections) and a latency histogram,
//! read by the strategies' analysis and exposed in Prometheus' text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Upper bounds of the latency buckets, in microseconds.
const BUCKETS_US: [u64; 16] = [
    500, 1_000, 2_000, 3_000, 5_000, 7_500, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000,
    1_000_000, 2_000_000, 5_000_000, 10_000_000,
];

/// A release's counters, updated by every request it serves.
#[derive(Debug, Default)]
pub struct ReleaseMetrics {
    requests: AtomicU64,
    errors: AtomicU64,
    latency_sum_us: AtomicU64,
    /// One more than the bounds: the last counts everything slower.
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
}

/// A copy of the counters at one moment; subtract two to get a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Requests answered (or failed).
    pub requests: u64,
    /// Requests that failed: no answer from a target, or a 5xx status.
    pub errors: u64,
    /// The sum of every request's latency, in microseconds.
    pub latency_sum_us: u64,
    /// Requests per latency bucket; the last counts everything slower than the largest bound.
    pub buckets: Vec<u64>,
}

impl ReleaseMetrics {
    /// Counts one request that took `latency`; `error` when it failed.
    pub fn record(&self, latency: Duration, error: bool) {
        let micros = latency.as_micros().min(u128::from(u64::MAX)) as u64;
        self.requests.fetch_add(1, Ordering::Relaxed);
        if error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.latency_sum_us.fetch_add(micros, Ordering::Relaxed);
        let index = BUCKETS_US
            .iter()
            .position(|bound| micros <= *bound)
            .unwrap_or(BUCKETS_US.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters as they are now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            latency_sum_us: self.latency_sum_us.load(Ordering::Relaxed),
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

impl Snapshot {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        Snapshot {
            requests: self.requests.saturating_sub(earlier.requests),
            errors: self.errors.saturating_sub(earlier.errors),
            latency_sum_us: self.latency_sum_us.saturating_sub(earlier.latency_sum_us),
            buckets: self
                .buckets
                .iter()
                .enumerate()
                .map(|(i, b)| b.saturating_sub(earlier.buckets.get(i).copied().unwrap_or(0)))
                .collect(),
        }
    }

    /// The share of requests that failed, 0 when there were none.
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }

    /// The latency below which `quantile` of the requests fell, interpolated within its bucket.
    pub fn quantile(&self, quantile: f64) -> Option<Duration> {
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = quantile.clamp(0.0, 1.0) * total as f64;
        let mut seen = 0u64;
        for (index, count) in self.buckets.iter().enumerate() {
            if *count > 0 && (seen + count) as f64 >= rank {
                let lower = if index == 0 { 0 } else { BUCKETS_US[index - 1] };
                let upper = BUCKETS_US.get(index).copied().unwrap_or(lower * 2);
                let within = (rank - seen as f64) / *count as f64;
                let micros = lower as f64 + (upper - lower) as f64 * within.clamp(0.0, 1.0);
                return Some(Duration::from_micros(micros as u64));
            }
            seen += count;
        }
        None
    }
}

/// Prometheus text exposition of every release's counters.
pub fn prometheus(
    releases: &BTreeMap<(String, String), Snapshot>,
    weights: &BTreeMap<(String, String), u32>,
    inflight: &BTreeMap<(String, String), usize>,
) -> String {
    let mut out = String::new();
    let labels = |(service, release): &(String, String)| {
        format!(
            "service=\"{}\",release=\"{}\"",
            escape(service),
            escape(release)
        )
    };
    out.push_str("# HELP slipway_proxy_requests_total Requests forwarded to a release.\n");
    out.push_str("# TYPE slipway_proxy_requests_total counter\n");
    for (key, s) in releases {
        let _ = writeln!(
            out,
            "slipway_proxy_requests_total{{{}}} {}",
            labels(key),
            s.requests
        );
    }
    out.push_str(
        "# HELP slipway_proxy_errors_total Requests that got a 5xx or no answer from a release.\n",
    );
    out.push_str("# TYPE slipway_proxy_errors_total counter\n");
    for (key, s) in releases {
        let _ = writeln!(
            out,
            "slipway_proxy_errors_total{{{}}} {}",
            labels(key),
            s.errors
        );
    }
    out.push_str("# HELP slipway_proxy_request_duration_seconds Time to the response headers.\n");
    out.push_str("# TYPE slipway_proxy_request_duration_seconds histogram\n");
    for (key, s) in releases {
        let mut cumulative = 0;
        for (index, count) in s.buckets.iter().enumerate() {
            cumulative += count;
            let le = BUCKETS_US
                .get(index)
                .map_or("+Inf".to_owned(), |us| format!("{}", *us as f64 / 1e6));
            let _ = writeln!(
                out,
                "slipway_proxy_request_duration_seconds_bucket{{{},le=\"{le}\"}} {cumulative}",
                labels(key)
            );
        }
        let _ = writeln!(
            out,
            "slipway_proxy_request_duration_seconds_sum{{{}}} {}",
            labels(key),
            s.latency_sum_us as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "slipway_proxy_request_duration_seconds_count{{{}}} {}",
            labels(key),
            s.requests
        );
    }
    out.push_str("# HELP slipway_proxy_weight A release's share of its service's traffic.\n");
    out.push_str("# TYPE slipway_proxy_weight gauge\n");
    for (key, weight) in weights {
        let _ = writeln!(out, "slipway_proxy_weight{{{}}} {weight}", labels(key));
    }
    out.push_str("# HELP slipway_proxy_inflight Requests a release is answering now.\n");
    out.push_str("# TYPE slipway_proxy_inflight gauge\n");
    for (key, count) in inflight {
        let _ = writeln!(out, "slipway_proxy_inflight{{{}}} {count}", labels(key));
    }
    out
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_counts_only_what_happened_in_it() {
        let metrics = ReleaseMetrics::default();
        for _ in 0..10 {
            metrics.record(Duration::from_millis(1), false);
        }
        let before = metrics.snapshot();
        for i in 0..100 {
            metrics.record(Duration::from_millis(40), i % 10 == 0);
        }
        let window = metrics.snapshot().since(&before);
        assert_eq!(window.requests, 100);
        assert_eq!(window.errors, 10);
        assert!((window.error_rate() - 0.1).abs() < 1e-9);
        let p50 = window.quantile(0.5).unwrap();
        assert!(
            p50 > Duration::from_millis(20) && p50 <= Duration::from_millis(50),
            "{p50:?}"
        );
    }

    #[test]
    fn the_exposition_is_cumulative_per_bucket() {
        let metrics = ReleaseMetrics::default();
        metrics.record(Duration::from_micros(100), false);
        metrics.record(Duration::from_secs(20), true);
        let key = ("shop/prod/api".to_owned(), "r2".to_owned());
        let text = prometheus(
            &BTreeMap::from([(key.clone(), metrics.snapshot())]),
            &BTreeMap::from([(key.clone(), 100)]),
            &BTreeMap::new(),
        );
        assert!(
            text.contains(
                "slipway_proxy_requests_total{service=\"shop/prod/api\",release=\"r2\"} 2"
            )
        );
        assert!(text.contains("le=\"0.0005\"} 1"));
        assert!(text.contains("le=\"+Inf\"} 2"));
        assert!(
            text.contains("slipway_proxy_errors_total{service=\"shop/prod/api\",release=\"r2\"} 1")
        );
    }
}
