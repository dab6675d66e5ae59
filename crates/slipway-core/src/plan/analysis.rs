//! A canary step's verdict: the new release's window of traffic against the old one's.

use std::time::Duration;

use crate::manifest::Limits;

/// A window of one release's traffic, as a target measured it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Traffic {
    /// Requests answered in the window.
    pub requests: f64,
    /// Of which errors (5xx, failed connections).
    pub errors: f64,
    /// The latency the target measures (see `latency_is_mean`), when there were requests.
    pub latency: Option<Duration>,
    /// Whether `latency` is a mean (CloudWatch) rather than the 95th percentile (the proxy).
    pub latency_is_mean: bool,
}

impl Traffic {
    /// Errors per request (0 without requests).
    pub fn error_rate(&self) -> f64 {
        if self.requests > 0.0 {
            self.errors / self.requests
        } else {
            0.0
        }
    }
}

/// Fewer requests than this in either window say nothing about latency.
const LATENCY_SAMPLE: f64 = 20.0;

/// Whether a canary step at `percent` passes: the new release's error rate within the limit,
/// and its latency not more than the allowed increase over the old one's. The error says what
/// was breached, in numbers.
pub fn judge(percent: u8, old: &Traffic, new: &Traffic, limits: &Limits) -> Result<(), String> {
    if new.requests > 0.0 && new.error_rate() > limits.max_error_rate {
        return Err(format!(
            "at {percent}% the new release's error rate was {:.1}% ({} of {} requests), above {:.1}%",
            new.error_rate() * 100.0,
            new.errors,
            new.requests,
            limits.max_error_rate * 100.0
        ));
    }
    if let (Some(limit), Some(old_latency), Some(new_latency)) =
        (limits.max_latency_increase, old.latency, new.latency)
        && old.requests >= LATENCY_SAMPLE
        && new.requests >= LATENCY_SAMPLE
        && new_latency.as_secs_f64() > old_latency.as_secs_f64() * (1.0 + limit)
    {
        let measure = if new.latency_is_mean {
            "mean response time"
        } else {
            "p95 latency"
        };
        return Err(format!(
            "at {percent}% the new release's {measure} was {} ms against {} ms, more than {:.0}% slower",
            new_latency.as_millis(),
            old_latency.as_millis(),
            limit * 100.0
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(requests: u32, errors: u32, latency_ms: u64) -> Traffic {
        Traffic {
            requests: f64::from(requests),
            errors: f64::from(errors),
            latency: Some(Duration::from_millis(latency_ms)),
            latency_is_mean: false,
        }
    }

    #[test]
    fn a_canary_with_too_many_errors_or_too_slow_is_stopped() {
        let limits = Limits {
            max_error_rate: 0.01,
            max_latency_increase: Some(0.2),
        };
        let old = window(200, 0, 5);
        assert!(judge(10, &old, &window(40, 0, 5), &limits).is_ok());
        let error = judge(10, &old, &window(40, 4, 5), &limits).unwrap_err();
        assert_eq!(
            error,
            "at 10% the new release's error rate was 10.0% (4 of 40 requests), above 1.0%"
        );
        let error = judge(25, &old, &window(40, 0, 60), &limits).unwrap_err();
        assert!(
            error.contains("p95 latency was 60 ms against 5 ms"),
            "{error}"
        );
        // Too few requests say nothing about latency.
        assert!(judge(25, &old, &window(5, 0, 60), &limits).is_ok());
        // Without a latency limit only errors count.
        let errors_only = Limits {
            max_latency_increase: None,
            ..limits
        };
        assert!(judge(25, &old, &window(40, 0, 600), &errors_only).is_ok());
        let mean = Traffic {
            latency_is_mean: true,
            ..window(40, 0, 60)
        };
        let error = judge(25, &old, &mean, &limits).unwrap_err();
        assert!(error.contains("mean response time"), "{error}");
    }
}
