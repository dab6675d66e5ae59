//! What a canary's analysis reads on ECS: each target group's requests, 5xx answers and
//! response time from CloudWatch (namespace `AWS/ApplicationELB`), over the step's window.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};

use crate::{AwsError, Result, api};

/// One target group's traffic over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traffic {
    /// Requests the target group answered.
    pub requests: f64,
    /// Requests answered with a 5xx status.
    pub errors: f64,
    /// Mean target response time, when there were requests.
    pub mean_latency: Option<Duration>,
}

impl Traffic {
    /// The share of requests that failed, 0 when there were none.
    pub fn error_rate(&self) -> f64 {
        if self.requests > 0.0 {
            self.errors / self.requests
        } else {
            0.0
        }
    }
}

/// The CloudWatch client a canary reads its target groups' traffic with.
#[derive(Debug, Clone)]
pub struct Metrics {
    cloudwatch: aws_sdk_cloudwatch::Client,
}

/// `app/NAME/ID`, the load balancer's dimension, from a listener or listener rule ARN
/// (`...:listener/app/NAME/ID/...` or `...:listener-rule/app/NAME/ID/...`).
fn balancer_dimension(listener: &str) -> Option<String> {
    let rest = listener
        .split_once(":listener/")
        .or_else(|| listener.split_once(":listener-rule/"))?
        .1;
    let parts: Vec<&str> = rest.split('/').take(3).collect();
    (parts.len() == 3).then(|| parts.join("/"))
}

/// The dimension value CloudWatch uses for a target group ARN: `targetgroup/NAME/ID`.
fn dimension_of(arn: &str, marker: &str) -> Option<String> {
    arn.split_once(marker)
        .map(|(_, rest)| format!("{}{rest}", marker.trim_start_matches(':')))
}

impl Metrics {
    /// A client for the account, region and endpoint of `config`.
    pub fn new(config: &SdkConfig) -> Metrics {
        Metrics {
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
        }
    }

    /// The traffic of `target_group` behind the load balancer of `listener` (a listener or
    /// listener rule ARN, which names its load balancer) between `since` and `until`.
    pub async fn traffic(
        &self,
        listener: &str,
        target_group: &str,
        since: SystemTime,
        until: SystemTime,
    ) -> Result<Traffic> {
        let balancer = balancer_dimension(listener).ok_or_else(|| {
            AwsError::Plan(format!(
                "`{listener}` is not a listener or listener rule ARN"
            ))
        })?;
        let group = dimension_of(target_group, ":targetgroup/")
            .ok_or_else(|| AwsError::Plan(format!("`{target_group}` is not a target group ARN")))?;
        let dimensions = [
            Dimension::builder()
                .name("TargetGroup")
                .value(group)
                .build(),
            Dimension::builder()
                .name("LoadBalancer")
                .value(balancer)
                .build(),
        ];
        // ALB metrics are one-minute points: the window starts at its minute, and one period of
        // whole minutes spans it (CloudWatch refuses other periods for them).
        let since = std::time::UNIX_EPOCH
            + Duration::from_secs(
                since
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs()
                    / 60
                    * 60,
            );
        let window = until.duration_since(since).unwrap_or_default().as_secs();
        let period = window.div_ceil(60).max(1) * 60;
        let statistic = |name: &'static str, statistic: Statistic| {
            let dimensions = dimensions.clone();
            async move {
                let answer = self
                    .cloudwatch
                    .get_metric_statistics()
                    .namespace("AWS/ApplicationELB")
                    .metric_name(name)
                    .set_dimensions(Some(dimensions.to_vec()))
                    .start_time(since.into())
                    .end_time(until.into())
                    .period(period as i32)
                    .statistics(statistic.clone())
                    .send()
                    .await
                    .map_err(api("GetMetricStatistics"))?;
                let points = answer.datapoints();
                let value = match statistic {
                    Statistic::Average => {
                        let samples: f64 = points.iter().filter_map(|p| p.sample_count()).sum();
                        let weighted: f64 = points
                            .iter()
                            .filter_map(|p| Some(p.average()? * p.sample_count()?))
                            .sum();
                        (samples > 0.0).then(|| weighted / samples)
                    }
                    _ => Some(points.iter().filter_map(|p| p.sum()).sum()),
                };
                Ok::<_, AwsError>(value)
            }
        };
        let requests = statistic("RequestCount", Statistic::Sum)
            .await?
            .unwrap_or(0.0);
        let errors = statistic("HTTPCode_Target_5XX_Count", Statistic::Sum)
            .await?
            .unwrap_or(0.0);
        let mean_latency = statistic("TargetResponseTime", Statistic::Average)
            .await?
            .map(|seconds| Duration::from_secs_f64(seconds.max(0.0)));
        Ok(Traffic {
            requests,
            errors,
            mean_latency,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_become_cloudwatch_dimensions() {
        assert_eq!(
            dimension_of(
                "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/shop-api-green/21cc47870a587459",
                ":targetgroup/"
            )
            .as_deref(),
            Some("targetgroup/shop-api-green/21cc47870a587459")
        );
        assert_eq!(
            balancer_dimension(
                "arn:aws:elasticloadbalancing:eu-central-1:123456789012:listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
            )
            .as_deref(),
            Some("app/shop/50dc6c495c0c9188")
        );
        assert_eq!(
            balancer_dimension(
                "arn:aws:elasticloadbalancing:eu-central-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
            )
            .as_deref(),
            Some("app/shop/50dc6c495c0c9188")
        );
    }
}
