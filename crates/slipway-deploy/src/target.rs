//! What a deploy needs of a target: the operations the steps of a plan
//! ([`slipway_core::plan::Step`]) are carried out with, and the journal they are recorded in.
//! Docker hosts (`docker.rs`) and ECS (`ecs.rs`) implement [`Target`]; the executor
//! (`execute.rs`) walks a plan against either.
//!
//! Adding a target: a type implementing [`Target`] (and saying its [`Capabilities`]), and the
//! code that prepares it (images, connections) before a plan runs.

use std::time::Duration;

use slipway_core::plan::{Capabilities, Entry, Replacement, Replicas, Share, Traffic, Watched};

use crate::Result;

/// A place releases run: each step of a plan becomes one of these calls.
// The executor awaits these in place (never spawned), so their futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Target {
    /// What a canary window remembers from its start (counters, or the time).
    type Window;

    /// What the target can do: its places and how it runs replicas.
    fn capabilities(&self) -> &Capabilities;

    /// Says what is happening, for the person deploying.
    fn log(&self, line: &str);

    /// Starts replicas of an app's release on a place (ECS: points the app's service, or its
    /// idle colour, at the release's revision).
    async fn start(&self, place: &str, app: &str, release: &str, replicas: Replicas) -> Result<()>;

    /// Waits until those replicas pass the health gate (ECS: a steady state).
    async fn gate(&self, place: &str, app: &str, release: &str, replicas: Replicas) -> Result<()>;

    /// Replaces a managed service's tasks with the release's revision in one update.
    async fn replace(
        &self,
        app: &str,
        release: &str,
        replicas: u32,
        how: &Replacement,
    ) -> Result<()>;

    /// Runs the app's `before_deploy` hooks.
    async fn before_deploy(&self, app: &str) -> Result<()>;

    /// Runs the app's `after_deploy` hooks.
    async fn after_deploy(&self, app: &str) -> Result<()>;

    /// Sets an app's traffic split on a place.
    async fn set_weights(&self, place: &str, app: &str, split: &[Share]) -> Result<()>;

    /// Takes an app's route away on a place.
    async fn unroute(&self, place: &str, app: &str) -> Result<()>;

    /// Removes replicas of a release of an app (ECS: scales its service to zero).
    async fn retire(&self, place: &str, app: &str, release: &str, replicas: Replicas)
    -> Result<()>;

    /// Starts a canary window for an app.
    async fn open_window(&self, watched: &Watched) -> Result<Self::Window>;

    /// Ends it: `(old, new)` release's traffic during the window.
    async fn close_window(
        &self,
        watched: &Watched,
        window: Self::Window,
    ) -> Result<(Traffic, Traffic)>;

    /// Lets `duration` pass (the canary's pause, a hold). A double returns at once.
    async fn wait(&self, duration: Duration);

    /// The release went live (the journal has recorded it): what the target does then (the
    /// Docker target lets its deploy lock go).
    async fn went_live(&self) -> Result<()>;

    /// Blue-green's bake after going live: waits `duration` while a rollback may take over;
    /// whether the steps after it (removing the old release) should still run.
    async fn bake(&self, duration: Duration) -> Result<bool>;
}

/// Where a deploy records what it did: the release's journal and its outcome.
pub trait Journal {
    /// Records an entry.
    fn record(&self, entry: Entry) -> Result<()>;

    /// Records the release as live (and the one before it as superseded).
    fn mark_live(&self) -> Result<()>;
}

/// The release history's journal of one release.
#[derive(Debug)]
pub struct StoreJournal<'a> {
    /// The release history.
    pub store: &'a crate::store::ReleaseStore,
    /// The release's id.
    pub release: i64,
}

impl Journal for StoreJournal<'_> {
    fn record(&self, entry: Entry) -> Result<()> {
        Ok(self.store.journal(self.release, &entry)?)
    }

    fn mark_live(&self) -> Result<()> {
        Ok(self
            .store
            .make_live(self.release, slipway_core::time::now() as i64)?)
    }
}

/// A journal that keeps nothing (a rollback records no steps of its own).
#[derive(Debug, Default)]
pub struct NoJournal;

impl Journal for NoJournal {
    fn record(&self, _entry: Entry) -> Result<()> {
        Ok(())
    }

    fn mark_live(&self) -> Result<()> {
        Ok(())
    }
}
