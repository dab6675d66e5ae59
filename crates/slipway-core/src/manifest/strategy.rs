//! The strategies by name: one list of kinds (what `--strategy` takes and the release history
//! records), each kind's defaults, and the canary's defaults, kept here and nowhere else.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::model::Strategy;

/// Which strategy, without its settings: what the CLI names and a release records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    /// Replace replicas a few at a time.
    Rolling,
    /// Start the whole new set, switch all traffic at once.
    BlueGreen,
    /// Move traffic in steps, analysing each one.
    Canary,
    /// Stop the old release, then start the new one (downtime).
    Recreate,
}

impl StrategyKind {
    /// Every kind, in the order help texts list them.
    pub const ALL: [StrategyKind; 4] = [
        StrategyKind::Rolling,
        StrategyKind::BlueGreen,
        StrategyKind::Canary,
        StrategyKind::Recreate,
    ];

    /// Every kind's name, in the order of [`StrategyKind::ALL`].
    pub const NAMES: [&'static str; 4] = ["rolling", "blue-green", "canary", "recreate"];

    /// The name slipway.toml's `kind`, the CLI and the release history use.
    pub fn name(self) -> &'static str {
        Self::NAMES[Self::ALL.iter().position(|k| *k == self).expect("listed")]
    }

    /// Whether the strategy keeps the old and the new release side by side and moves traffic
    /// between them by weight (two colours on ECS).
    pub fn splits_traffic(self) -> bool {
        matches!(self, StrategyKind::BlueGreen | StrategyKind::Canary)
    }
}

impl std::fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a strategy; the message lists them and suggests the nearest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown strategy `{name}`; {hint}")]
pub struct UnknownStrategy {
    /// What was written.
    pub name: String,
    /// "did you mean ..." or the list of kinds.
    pub hint: String,
}

impl std::str::FromStr for StrategyKind {
    type Err = UnknownStrategy;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match Self::NAMES.iter().position(|n| *n == name) {
            Some(i) => Ok(Self::ALL[i]),
            None => Err(UnknownStrategy {
                name: name.to_owned(),
                hint: crate::suggest::did_you_mean(name, Self::NAMES).unwrap_or_else(|| {
                    format!(
                        "use {} or {}",
                        Self::NAMES[..Self::NAMES.len() - 1].join(", "),
                        Self::NAMES[Self::NAMES.len() - 1]
                    )
                }),
            }),
        }
    }
}

/// The canary's steps when none are given on the command line.
pub const CANARY_STEPS: [u8; 3] = [10, 50, 100];
/// How long each canary step is watched when `pause` is not set.
pub const CANARY_PAUSE: Duration = Duration::from_secs(30);
/// The error rate (a fraction) above which a canary step fails when `max_error_rate` is not set.
pub const CANARY_MAX_ERROR_RATE: f64 = 0.01;

/// A canary's settings with the defaults filled in: what a plan and an analysis read.
#[derive(Debug, Clone, PartialEq)]
pub struct CanarySettings {
    /// Percent of traffic at each step, ending at 100.
    pub steps: Vec<u8>,
    /// How long each step is watched before it is analysed.
    pub pause: Duration,
    /// The limits the new release's window is held to.
    pub limits: Limits,
}

/// What a canary's new release may not exceed during a step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// The error rate, as a fraction (0.01 for 1%).
    pub max_error_rate: f64,
    /// How much slower than the old release it may be, as a fraction (0.2 for 20%).
    pub max_latency_increase: Option<f64>,
}

impl Strategy {
    /// Which kind this is.
    pub fn kind(&self) -> StrategyKind {
        match self {
            Strategy::Rolling { .. } => StrategyKind::Rolling,
            Strategy::BlueGreen { .. } => StrategyKind::BlueGreen,
            Strategy::Canary { .. } => StrategyKind::Canary,
            Strategy::Recreate { .. } => StrategyKind::Recreate,
        }
    }

    /// A strategy of `kind` with its default settings (recreate without consent to downtime,
    /// so a deploy still refuses it until slipway.toml allows it).
    pub fn defaults(kind: StrategyKind) -> Strategy {
        match kind {
            StrategyKind::Rolling => Strategy::default(),
            StrategyKind::BlueGreen => Strategy::BlueGreen { bake: None },
            StrategyKind::Canary => Strategy::Canary {
                steps: CANARY_STEPS.to_vec(),
                pause: None,
                max_error_rate: None,
                max_latency_increase: None,
            },
            StrategyKind::Recreate => Strategy::Recreate {
                allow_downtime: false,
            },
        }
    }

    /// The strategy a `--strategy KIND` override means: the configured one when it is of that
    /// kind (its settings kept), else the kind's defaults.
    pub fn overridden(configured: &Strategy, kind: StrategyKind) -> Strategy {
        if configured.kind() == kind {
            configured.clone()
        } else {
            Strategy::defaults(kind)
        }
    }

    /// A canary's settings with the defaults filled in; `None` for the other kinds.
    pub fn canary(&self) -> Option<CanarySettings> {
        let Strategy::Canary {
            steps,
            pause,
            max_error_rate,
            max_latency_increase,
        } = self
        else {
            return None;
        };
        Some(CanarySettings {
            steps: steps.clone(),
            pause: pause.map_or(CANARY_PAUSE, |d| d.0),
            limits: Limits {
                max_error_rate: max_error_rate.map_or(CANARY_MAX_ERROR_RATE, |p| p.0 / 100.0),
                max_latency_increase: max_latency_increase.map(|p| p.0 / 100.0),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_name_that_reads_back() {
        for kind in StrategyKind::ALL {
            assert_eq!(kind.name().parse::<StrategyKind>(), Ok(kind));
            assert_eq!(Strategy::defaults(kind).kind(), kind);
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind.name())
            );
            // slipway.toml's `kind` and the list of names are the same words.
            assert_eq!(
                serde_json::to_value(Strategy::defaults(kind)).unwrap()["kind"],
                kind.name()
            );
        }
        let error = "blue_green".parse::<StrategyKind>().unwrap_err();
        assert!(error.to_string().contains("blue-green"), "{error}");
        let error = "zzz".parse::<StrategyKind>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown strategy `zzz`; use rolling, blue-green, canary or recreate"
        );
    }

    #[test]
    fn an_override_keeps_the_configured_settings_of_its_kind() {
        let configured = Strategy::Canary {
            steps: vec![25, 100],
            pause: None,
            max_error_rate: None,
            max_latency_increase: None,
        };
        let kept = Strategy::overridden(&configured, StrategyKind::Canary);
        assert_eq!(kept.canary().unwrap().steps, vec![25, 100]);
        let other = Strategy::overridden(&configured, StrategyKind::Recreate);
        assert!(matches!(
            other,
            Strategy::Recreate {
                allow_downtime: false
            }
        ));
        let canary = Strategy::defaults(StrategyKind::Canary).canary().unwrap();
        assert_eq!(canary.steps, vec![10, 50, 100]);
        assert_eq!(canary.pause, Duration::from_secs(30));
        assert_eq!(canary.limits.max_error_rate, 0.01);
    }
}
