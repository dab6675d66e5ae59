//! A recording double of [`Target`] and [`Journal`] for unit tests of the executor and the
//! runners: it records every call, and can be told to fail a step, fail a health gate, report
//! a canary's bad metrics, or see a rollback take over during a bake. It never sleeps.

use std::sync::Mutex;
use std::time::Duration;

use slipway_core::plan::{Capabilities, Entry, Replacement, Replicas, Share, Traffic, Watched};

use crate::target::{Journal, Target};
use crate::{DeployError, Result};

/// The double.
#[derive(Debug)]
pub struct Recording {
    capabilities: Capabilities,
    calls: Mutex<Vec<String>>,
    /// A call whose description starts with this fails.
    pub fail: Option<String>,
    /// Gates of this app's release fail.
    pub unhealthy: Option<(String, String)>,
    /// What the new release's window shows (the old one's is clean).
    pub new_traffic: Traffic,
    /// What a bake finds: whether the release is still live afterwards.
    pub still_live_after_bake: bool,
    /// Durations waited, in order.
    pub waited: Mutex<Vec<Duration>>,
}

impl Recording {
    /// A double with these capabilities that does everything asked.
    pub fn new(capabilities: Capabilities) -> Recording {
        Recording {
            capabilities,
            calls: Mutex::new(Vec::new()),
            fail: None,
            unhealthy: None,
            new_traffic: Traffic {
                requests: 100.0,
                errors: 0.0,
                latency: Some(Duration::from_millis(5)),
                latency_is_mean: false,
            },
            still_live_after_bake: true,
            waited: Mutex::new(Vec::new()),
        }
    }

    /// The calls so far, each as `op place app release from-to`.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn call(&self, description: String) -> Result<()> {
        let failing = self
            .fail
            .as_deref()
            .is_some_and(|f| description.starts_with(f));
        self.calls.lock().unwrap().push(description.clone());
        if failing {
            return Err(DeployError::Plan(format!("{description} failed")));
        }
        Ok(())
    }
}

fn range(replicas: Replicas) -> String {
    format!("{}-{}", replicas.from, replicas.to)
}

impl Target for Recording {
    type Window = ();

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn log(&self, _line: &str) {}

    async fn start(&self, place: &str, app: &str, release: &str, replicas: Replicas) -> Result<()> {
        self.call(format!("start {place} {app} {release} {}", range(replicas)))
    }

    async fn gate(&self, place: &str, app: &str, release: &str, replicas: Replicas) -> Result<()> {
        self.call(format!("gate {place} {app} {release} {}", range(replicas)))?;
        if self
            .unhealthy
            .as_ref()
            .is_some_and(|(a, r)| a == app && r == release)
        {
            return Err(DeployError::Gate {
                app: app.to_owned(),
                message: "503 from /health".into(),
            });
        }
        Ok(())
    }

    async fn replace(
        &self,
        app: &str,
        release: &str,
        replicas: u32,
        how: &Replacement,
    ) -> Result<()> {
        self.call(format!(
            "replace {app} {release} {replicas} {:?}/{:?}",
            how.minimum_healthy_percent, how.maximum_percent
        ))
    }

    async fn before_deploy(&self, app: &str) -> Result<()> {
        self.call(format!("before_deploy {app}"))
    }

    async fn after_deploy(&self, app: &str) -> Result<()> {
        self.call(format!("after_deploy {app}"))
    }

    async fn set_weights(&self, place: &str, app: &str, split: &[Share]) -> Result<()> {
        let split: Vec<String> = split
            .iter()
            .map(|s| format!("{}={}", s.release, s.weight))
            .collect();
        self.call(format!("weights {place} {app} {}", split.join(",")))
    }

    async fn unroute(&self, place: &str, app: &str) -> Result<()> {
        self.call(format!("unroute {place} {app}"))
    }

    async fn retire(
        &self,
        place: &str,
        app: &str,
        release: &str,
        replicas: Replicas,
    ) -> Result<()> {
        self.call(format!(
            "retire {place} {app} {release} {}",
            range(replicas)
        ))
    }

    async fn open_window(&self, watched: &Watched) -> Result<()> {
        self.call(format!("window {} {}", watched.place, watched.app))
    }

    async fn close_window(&self, _watched: &Watched, _window: ()) -> Result<(Traffic, Traffic)> {
        let old = Traffic {
            requests: 100.0,
            errors: 0.0,
            latency: Some(Duration::from_millis(5)),
            latency_is_mean: false,
        };
        Ok((old, self.new_traffic))
    }

    async fn wait(&self, duration: Duration) {
        self.waited.lock().unwrap().push(duration);
    }

    async fn went_live(&self) -> Result<()> {
        self.call("live".into())
    }

    async fn bake(&self, duration: Duration) -> Result<bool> {
        self.waited.lock().unwrap().push(duration);
        self.call("bake".into())?;
        Ok(self.still_live_after_bake)
    }
}

/// A journal in memory.
#[derive(Debug, Default)]
pub struct Memory {
    /// Entries recorded.
    pub entries: Mutex<Vec<Entry>>,
    /// Whether the release was marked live.
    pub live: Mutex<bool>,
}

impl Memory {
    /// The entries so far.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries.lock().unwrap().clone()
    }
}

impl Journal for Memory {
    fn record(&self, entry: Entry) -> Result<()> {
        self.entries.lock().unwrap().push(entry);
        Ok(())
    }

    fn mark_live(&self) -> Result<()> {
        *self.live.lock().unwrap() = true;
        Ok(())
    }
}
