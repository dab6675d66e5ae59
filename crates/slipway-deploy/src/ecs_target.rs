//! Amazon ECS as a [`Target`]: an app's replicas are the tasks of its service (or of one of its
//! two colours, `<service>-blue` and `<service>-green`), a gate is the service's steady state,
//! weights are the ALB listener's forward weights between the colours' target groups, and a
//! canary's windows come from CloudWatch.
//!
//! One executor serves both targets: ECS's own deployments (rolling, recreate, and its native
//! blue-green and canary) are a single `Replace` step per app, which this target turns into
//! one service update, so nothing of them needs a second executor.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use slipway_aws::ecs::{Native, Rolling};
use slipway_core::plan::{Capabilities, Replacement, Replicas, Share, Shift, Traffic, Watched};

use crate::ecs::{COLOURS, EcsRollout, native_duration};
use crate::store::Release;
use crate::target::Target;
use crate::{DeployError, Result};

/// One environment's ECS services, for one plan.
pub(crate) struct EcsTarget<'r, 'a> {
    rollout: &'r EcsRollout<'a>,
    capabilities: Capabilities,
    /// The releases the plan names, by name.
    releases: BTreeMap<String, &'r Release>,
    /// The release the plan brings in, if any (its apps go to the idle colour).
    incoming: Option<String>,
    /// `(app, release)` → the service that runs it, as found or chosen on the way.
    services: Mutex<BTreeMap<(String, String), Placed>>,
}

/// Where a release of an app runs.
#[derive(Debug, Clone)]
struct Placed {
    service: String,
    colour: Option<usize>,
    /// How long its steady state may take.
    timeout: Duration,
}

/// How a plan's replacement becomes ECS's deployment configuration.
pub(crate) fn rolling(how: &Replacement, alarms: &[String]) -> Rolling {
    let defaults = Rolling::default();
    Rolling {
        minimum_healthy_percent: how
            .minimum_healthy_percent
            .unwrap_or(defaults.minimum_healthy_percent),
        maximum_percent: how.maximum_percent.unwrap_or(defaults.maximum_percent),
        native: how.shift.map(|shift| match shift {
            Shift::BlueGreen { bake_minutes } => Native::BlueGreen { bake_minutes },
            Shift::Canary {
                percent,
                bake_minutes,
            } => Native::Canary {
                percent,
                bake_minutes,
            },
            Shift::Linear {
                step_percent,
                bake_minutes,
            } => Native::Linear {
                step_percent,
                bake_minutes,
            },
        }),
        alarms: alarms.to_vec(),
    }
}

impl<'r, 'a> EcsTarget<'r, 'a> {
    pub(crate) fn new(
        rollout: &'r EcsRollout<'a>,
        releases: &[&'r Release],
        incoming: Option<&Release>,
    ) -> Self {
        EcsTarget {
            capabilities: rollout.capabilities(),
            rollout,
            releases: releases.iter().map(|r| (r.name(), *r)).collect(),
            incoming: incoming.map(Release::name),
            services: Mutex::new(BTreeMap::new()),
        }
    }

    /// The service each app of the incoming release ended on.
    pub(crate) fn services_of(&self, release: &str) -> BTreeMap<String, String> {
        self.services
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|((_, r), _)| r == release)
            .map(|((app, _), placed)| (app.clone(), placed.service.clone()))
            .collect()
    }

    fn release(&self, release: &str) -> Result<&'r Release> {
        self.releases
            .get(release)
            .copied()
            .ok_or_else(|| DeployError::Plan(format!("release {release} is not part of this plan")))
    }

    fn arn(&self, app: &str, release: &str) -> Result<String> {
        self.release(release)?
            .apps
            .get(app)
            .and_then(|entry| entry.task_definition.clone())
            .ok_or_else(|| {
                DeployError::Plan(format!(
                    "{release} has no ECS task definition for `{app}`; deploy it again with --image"
                ))
            })
    }

    fn remember(&self, app: &str, release: &str, placed: Placed) {
        self.services
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((app.to_owned(), release.to_owned()), placed);
    }

    /// Where a release of an app runs: as placed in this plan, else as its release recorded.
    fn placed(&self, app: &str, release: &str) -> Option<Placed> {
        if let Some(placed) = self
            .services
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(app.to_owned(), release.to_owned()))
        {
            return Some(placed.clone());
        }
        let service = self.releases.get(release)?.apps.get(app)?.service.clone()?;
        Some(Placed {
            colour: colour_of(&service),
            service,
            timeout: self.rollout.steady_timeout(),
        })
    }
}

/// The colour a service name ends with.
fn colour_of(service: &str) -> Option<usize> {
    COLOURS
        .iter()
        .position(|c| service.ends_with(&format!("-{c}")))
}

impl Target for EcsTarget<'_, '_> {
    type Window = SystemTime;

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn log(&self, line: &str) {
        self.rollout.log(line);
    }

    /// The idle colour for the incoming release; a release's own service (or colour) for
    /// another (an undo, a rollback).
    async fn start(&self, _: &str, app: &str, release: &str, replicas: Replicas) -> Result<()> {
        let arn = self.arn(app, release)?;
        let desired = replicas.count() as i32;
        let recorded = self.placed(app, release);
        let colour = match (&self.incoming, &recorded) {
            (Some(incoming), _) if incoming == release => {
                Some(self.rollout.live_colour(app).await?.map_or(0, |c| 1 - c))
            }
            (_, Some(placed)) => placed.colour,
            (_, None) => None,
        };
        match colour {
            Some(colour) => {
                let service = self
                    .rollout
                    .point_colour(app, colour, &arn, desired)
                    .await?;
                self.remember(
                    app,
                    release,
                    Placed {
                        service,
                        colour: Some(colour),
                        timeout: self.rollout.steady_timeout(),
                    },
                );
            }
            None => {
                // One service: back on this release's revision, as the environment deploys.
                let service = recorded
                    .map(|p| p.service)
                    .unwrap_or_else(|| self.rollout.service_name(app));
                let how = self.rollout.replacement(desired as u32);
                let deployment = rolling(&how, &self.rollout.target.alarms);
                let timeout = self.rollout.steady_timeout() + native_duration(deployment.native);
                self.log(&format!("{app}: service {service} back to {arn}"));
                self.rollout
                    .ecs
                    .update_service(
                        &self.rollout.target.cluster,
                        &service,
                        Some(&arn),
                        desired,
                        deployment,
                    )
                    .await?;
                self.remember(
                    app,
                    release,
                    Placed {
                        service,
                        colour: None,
                        timeout,
                    },
                );
            }
        }
        Ok(())
    }

    async fn gate(&self, _: &str, app: &str, release: &str, replicas: Replicas) -> Result<()> {
        let arn = self.arn(app, release)?;
        let placed = self
            .placed(app, release)
            .ok_or_else(|| DeployError::Plan(format!("no service of `{app}` runs {release}")))?;
        self.rollout
            .ecs
            .wait_steady(
                &self.rollout.target.cluster,
                &placed.service,
                &arn,
                placed.timeout,
                self.rollout.give_up(replicas.count() as i32),
                self.rollout.ctx.log,
            )
            .await?;
        Ok(())
    }

    async fn replace(
        &self,
        app: &str,
        release: &str,
        replicas: u32,
        how: &Replacement,
    ) -> Result<()> {
        let arn = self.arn(app, release)?;
        let deployment = rolling(how, &self.rollout.target.alarms);
        let timeout = self.rollout.steady_timeout() + native_duration(deployment.native);
        let service = self
            .rollout
            .update_one(app, &arn, replicas as i32, deployment)
            .await?;
        self.remember(
            app,
            release,
            Placed {
                service,
                colour: None,
                timeout,
            },
        );
        Ok(())
    }

    async fn before_deploy(&self, _: &str) -> Result<()> {
        Ok(())
    }

    async fn after_deploy(&self, _: &str) -> Result<()> {
        Ok(())
    }

    /// The listener's weights: the share of the incoming release (or of the only release
    /// named) on its colour, the rest on the other.
    async fn set_weights(&self, _: &str, app: &str, split: &[Share]) -> Result<()> {
        let total: u32 = split.iter().map(|s| s.weight).sum();
        let Some(share) = split
            .iter()
            .find(|s| Some(&s.release) == self.incoming.as_ref())
            .or(split.first())
        else {
            return Ok(());
        };
        let Some(colour) = self.placed(app, &share.release).and_then(|p| p.colour) else {
            // One service: no listener weights to move.
            return Ok(());
        };
        let percent = (share.weight * 100).checked_div(total).unwrap_or(100) as i32;
        self.rollout.set_split(app, colour, percent).await
    }

    async fn unroute(&self, _: &str, _: &str) -> Result<()> {
        Ok(())
    }

    /// Every service of the app that runs the release's revision, scaled to zero.
    async fn retire(&self, _: &str, app: &str, release: &str, _: Replicas) -> Result<()> {
        let Ok(arn) = self.arn(app, release) else {
            return Ok(());
        };
        let base = self.rollout.service_name(app);
        for name in [
            base.clone(),
            format!("{base}-blue"),
            format!("{base}-green"),
        ] {
            let Some(service) = self
                .rollout
                .ecs
                .service(&self.rollout.target.cluster, &name)
                .await?
            else {
                continue;
            };
            if service.task_definition.as_deref() == Some(arn.as_str()) && service.desired > 0 {
                self.rollout
                    .ecs
                    .update_service(
                        &self.rollout.target.cluster,
                        &name,
                        None,
                        0,
                        Rolling::default(),
                    )
                    .await?;
                self.log(&format!("{app}: scaled {name} to 0"));
            }
        }
        Ok(())
    }

    async fn open_window(&self, _: &Watched) -> Result<SystemTime> {
        Ok(SystemTime::now())
    }

    async fn close_window(
        &self,
        watched: &Watched,
        since: SystemTime,
    ) -> Result<(Traffic, Traffic)> {
        let settings = self.rollout.settings(&watched.app);
        let listener = settings
            .listener
            .as_deref()
            .ok_or_else(|| DeployError::Plan(format!("app `{}` has no listener", watched.app)))?;
        let new_colour = self
            .placed(&watched.app, &watched.new)
            .and_then(|p| p.colour)
            .unwrap_or(0);
        let groups = &settings.target_groups;
        let until = SystemTime::now();
        let metrics = &self.rollout.metrics;
        let new = metrics
            .traffic(listener, &groups[new_colour], since, until)
            .await?;
        let old = metrics
            .traffic(listener, &groups[1 - new_colour], since, until)
            .await?;
        if new.requests == 0.0 {
            self.log(&format!(
                "{}: CloudWatch has no requests of the new release yet (ALB metrics arrive a minute or more late; a pause of 5m or more gives the analysis data); nothing to compare",
                watched.app
            ));
        }
        let traffic = |t: slipway_aws::metrics::Traffic| Traffic {
            requests: t.requests,
            errors: t.errors,
            latency: t.mean_latency,
            latency_is_mean: true,
        };
        Ok((traffic(old), traffic(new)))
    }

    async fn wait(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    async fn went_live(&self) -> Result<()> {
        if let Some(release) = &self.incoming {
            self.log(&format!("release {release} is live"));
        }
        Ok(())
    }

    async fn bake(&self, _: Duration) -> Result<bool> {
        // ECS plans keep the old colour with a hold before going live.
        Ok(true)
    }
}
