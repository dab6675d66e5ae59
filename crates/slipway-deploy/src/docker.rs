//! The Docker hosts as a [`Target`]: replicas are containers started through each host's
//! engine, gated and weighted by the host's proxy, and compared, in a canary, by the proxy's
//! per-release counters.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use slipway_core::plan::{Capabilities, Replacement, Replicas, Share, Traffic, Watched};
use slipway_proxy::admin::Command;
use slipway_proxy::limits::Limits;
use slipway_proxy::metrics::Snapshot;
use slipway_proxy::table::Group;

use crate::host::{Host, container_name};
use crate::lock::DeployLock;
use crate::rollout::{Rollout, now};
use crate::store::Release;
use crate::target::Target;
use crate::{DeployError, Result};

/// The hosts of one environment, for one plan.
pub(crate) struct DockerTarget<'r, 'a> {
    rollout: &'r Rollout<'a>,
    capabilities: Capabilities,
    /// The release the plan starts (a deploy's new one, a rollback's target).
    release: &'r Release,
    /// The config its containers start with.
    config: slipway_config::RenderedEnvironment,
    /// The deploy's lock: let go when the release is live, taken again after a bake.
    lock: Mutex<Option<DeployLock>>,
    /// A rollback: containers still running are kept (and gated once), missing ones are
    /// started from the image the release's tag kept.
    restoring: bool,
    /// `(host, app)` whose replicas were found running by a rollback.
    kept: Mutex<BTreeSet<(String, String)>>,
}

impl<'r, 'a> DockerTarget<'r, 'a> {
    pub(crate) fn new(
        rollout: &'r Rollout<'a>,
        capabilities: Capabilities,
        release: &'r Release,
        config: slipway_config::RenderedEnvironment,
        lock: Option<DeployLock>,
    ) -> Self {
        DockerTarget {
            rollout,
            capabilities,
            release,
            config,
            lock: Mutex::new(lock),
            restoring: false,
            kept: Mutex::new(BTreeSet::new()),
        }
    }

    /// For a rollback.
    pub(crate) fn restoring(mut self) -> Self {
        self.restoring = true;
        self
    }

    fn host(&self, place: &str) -> Result<&'r Host> {
        self.rollout
            .hosts
            .iter()
            .find(|h| h.name == place)
            .ok_or_else(|| DeployError::Plan(format!("no host `{place}` in this environment")))
    }

    fn the_release(&self, release: &str) -> Result<&'r Release> {
        if self.release.name() == release {
            Ok(self.release)
        } else {
            Err(DeployError::Plan(format!(
                "release {release} is not the one this plan starts ({})",
                self.release.name()
            )))
        }
    }

    fn names(&self, app: &str, release: &str, replicas: Replicas) -> Vec<String> {
        let ctx = &self.rollout.ctx;
        (replicas.from..=replicas.to)
            .map(|n| container_name(ctx.manifest, ctx.environment, app, release, n))
            .collect()
    }

    /// The proxy's targets of those replicas of `release` that run on `host`.
    async fn running_targets(
        &self,
        host: &Host,
        app: &str,
        release: &str,
        replicas: Replicas,
    ) -> Vec<String> {
        let port = self.rollout.ctx.manifest.apps[app].port.unwrap_or(80);
        let mut targets = Vec::new();
        for name in self.names(app, release, replicas) {
            if host.engine.is_running(&name).await {
                targets.push(format!("{name}:{port}"));
            }
        }
        targets
    }

    async fn hooks(&self, app: &str, when: &str) -> Result<()> {
        let ctx = &self.rollout.ctx;
        let env = &ctx.manifest.environments[ctx.environment];
        let hooks = match when {
            "before_deploy" => &env.hooks.before_deploy,
            _ => &env.hooks.after_deploy,
        };
        for hook in hooks.iter().filter(|h| h.app == app) {
            self.rollout.run_hook(self.release, hook, when).await?;
        }
        Ok(())
    }
}

/// What slipway.toml's route says of its limits, as the proxy takes them (each one left out
/// takes the proxy's default).
fn route_limits(route: &slipway_core::manifest::Route) -> Limits {
    let millis = |d: Option<slipway_core::manifest::Duration>| {
        d.map(|d| u64::try_from(d.0.as_millis()).unwrap_or(u64::MAX))
    };
    Limits {
        max_body: route.max_body.map(|size| size.0),
        max_header: route.max_header.map(|size| size.0),
        timeout_ms: millis(route.timeout),
        idle_timeout_ms: millis(route.idle_timeout),
    }
}

fn traffic(window: &Snapshot) -> Traffic {
    Traffic {
        requests: window.requests as f64,
        errors: window.errors as f64,
        latency: window.quantile(0.95),
        latency_is_mean: false,
    }
}

impl Target for DockerTarget<'_, '_> {
    type Window = (Snapshot, Snapshot);

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn log(&self, line: &str) {
        self.rollout.log(line);
    }

    async fn start(&self, place: &str, app: &str, release: &str, replicas: Replicas) -> Result<()> {
        let host = self.host(place)?;
        let entry = self.the_release(release)?;
        if self.restoring {
            let running = self.running_targets(host, app, release, replicas).await;
            if running.len() >= replicas.count() as usize {
                self.kept
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert((place.to_owned(), app.to_owned()));
                return Ok(());
            }
            let tag = self.rollout.release_tag(app, release);
            if host.engine.image_id(&tag).await.is_none() {
                return Err(DeployError::Image {
                    app: app.to_owned(),
                    message: format!(
                        "the image of {release} ({tag}) is no longer on {}; deploy it again with --image",
                        host.name
                    ),
                });
            }
        }
        self.rollout
            .start_with(host, entry, app, replicas.from..=replicas.to, &self.config)
            .await?;
        Ok(())
    }

    async fn gate(&self, place: &str, app: &str, release: &str, replicas: Replicas) -> Result<()> {
        let host = self.host(place)?;
        let kept = self
            .kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(place.to_owned(), app.to_owned()));
        if kept {
            // Running already: one good answer of each is enough before it takes traffic again.
            let ctx = &self.rollout.ctx;
            if let (Some(mut check), Some(_)) =
                (self.rollout.health_check(app), ctx.manifest.apps[app].port)
            {
                check.healthy = 1;
                let targets = self.running_targets(host, app, release, replicas).await;
                let answer = host.proxy(&Command::Gate { targets, check }).await?;
                if !answer.ok {
                    return Err(DeployError::Gate {
                        app: app.to_owned(),
                        message: answer.error.unwrap_or_default(),
                    });
                }
            }
            return Ok(());
        }
        self.rollout
            .gate(host, app, &self.names(app, release, replicas))
            .await
    }

    async fn replace(&self, app: &str, _: &str, _: u32, _: &Replacement) -> Result<()> {
        Err(DeployError::Plan(format!(
            "app `{app}`: Docker hosts replace containers one by one, not as a service"
        )))
    }

    async fn before_deploy(&self, app: &str) -> Result<()> {
        self.hooks(app, "before_deploy").await
    }

    async fn after_deploy(&self, app: &str) -> Result<()> {
        self.hooks(app, "after_deploy").await
    }

    async fn set_weights(&self, place: &str, app: &str, split: &[Share]) -> Result<()> {
        if !self.rollout.routed(app) {
            return Ok(());
        }
        let host = self.host(place)?;
        let mut groups = Vec::new();
        for share in split {
            groups.push(Group {
                release: share.release.clone(),
                weight: share.weight,
                targets: self
                    .running_targets(host, app, &share.release, share.replicas)
                    .await,
            });
        }
        if !groups.is_empty() && groups.iter().all(|g| g.targets.is_empty()) {
            // Nothing of it runs (an undo after its containers went): the route stays.
            return Ok(());
        }
        let ctx = &self.rollout.ctx;
        let route = ctx.manifest.apps[app].route.clone().unwrap_or_default();
        let weights: Vec<String> = groups
            .iter()
            .map(|g| format!("{} {}", g.release, g.weight))
            .collect();
        let answer = host
            .order(&Command::Set {
                service: self.rollout.service(app),
                host: route.host.clone(),
                path: route.path.clone().unwrap_or_else(|| "/".into()),
                groups,
                drain_ms: self.rollout.plan.drain.as_millis() as u64,
                limits: route_limits(&route),
            })
            .await?;
        if !answer.undrained.is_empty() {
            self.log(&format!(
                "{}: {app}: requests still running on {} after the drain time",
                host.name,
                answer.undrained.join(", ")
            ));
        }
        self.log(&format!(
            "{}: {app} traffic: {}",
            host.name,
            weights.join(", ")
        ));
        Ok(())
    }

    async fn unroute(&self, place: &str, app: &str) -> Result<()> {
        let host = self.host(place)?;
        host.order(&Command::Remove {
            service: self.rollout.service(app),
            drain_ms: self.rollout.plan.drain.as_millis() as u64,
        })
        .await?;
        Ok(())
    }

    async fn retire(
        &self,
        place: &str,
        app: &str,
        release: &str,
        replicas: Replicas,
    ) -> Result<()> {
        let host = self.host(place)?;
        // Each replica gets its stop signal and grace period: the proxy has drained its
        // requests already, and a worker finishes the job in hand.
        for name in self.names(app, release, replicas) {
            host.engine.stop_and_remove(&name).await?;
        }
        Ok(())
    }

    async fn open_window(&self, watched: &Watched) -> Result<Self::Window> {
        let host = self.host(&watched.place)?;
        self.rollout
            .counters(host, &watched.app, watched.old.as_deref(), &watched.new)
            .await
    }

    async fn close_window(
        &self,
        watched: &Watched,
        (old_before, new_before): Self::Window,
    ) -> Result<(Traffic, Traffic)> {
        let (old_after, new_after) = self.open_window(watched).await?;
        Ok((
            traffic(&old_after.since(&old_before)),
            traffic(&new_after.since(&new_before)),
        ))
    }

    async fn wait(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    async fn went_live(&self) -> Result<()> {
        self.log(&format!("release {} is live", self.release.name()));
        // The bake and the `after_deploy` hooks run without the lock, so `slipway rollback`
        // can take it meanwhile.
        self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
        Ok(())
    }

    async fn bake(&self, duration: Duration) -> Result<bool> {
        let ctx = &self.rollout.ctx;
        self.log(&format!(
            "keeping the previous release for {}s: `slipway rollback {}` switches back at once",
            duration.as_secs(),
            ctx.environment
        ));
        tokio::time::sleep(duration).await;
        let Ok(lock) = DeployLock::acquire_for(
            &ctx.state_dir,
            ctx.environment,
            &ctx.started_by,
            "deploy",
            now(),
        ) else {
            return Ok(false);
        };
        if self.rollout.store.live(ctx.environment)?.map(|r| r.id) != Some(self.release.id) {
            return Ok(false);
        }
        *self.lock.lock().unwrap_or_else(|e| e.into_inner()) = Some(lock);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_routes_limits_reach_the_proxy_in_bytes_and_milliseconds() {
        let manifest = slipway_core::load_manifest(
            "[project]\nname = \"shop\"\n\n[apps.web]\nbuild = \"dockerfile\"\nport = 8000\n\
             route = { path = \"/\", max_body = \"10MB\", timeout = \"1m30s\" }\n",
        )
        .unwrap();
        let route = manifest.apps["web"].route.clone().unwrap();
        assert_eq!(
            route_limits(&route),
            Limits {
                max_body: Some(10 * 1024 * 1024),
                max_header: None,
                timeout_ms: Some(90_000),
                idle_timeout_ms: None,
            }
        );
        assert!(route_limits(&Default::default()).is_default());
    }
}
