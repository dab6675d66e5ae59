//! `slipway serve`: one project's pipelines started by webhooks from its git host (or by
//! watching its repository), carried out in this process, and a dashboard where people see
//! environments, runs and their live logs, and press Deploy, Reject and Rollback. Everything it
//! shows and decides goes through the same run history and release history as the CLI, so a
//! person may approve from a terminal or from a browser, and a restart loses nothing: runs that
//! wait on a person wait again, runs cut mid-step are shown interrupted with a Resume button.

#![warn(missing_docs)]

pub mod hooks;
pub mod html;
mod listener;
mod pages;
pub mod security;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use slipway_core::Manifest;
use slipway_core::terminal::printable;
use slipway_pipeline::changes::{self, Change};
use slipway_pipeline::runner;
use slipway_pipeline::store::{Run, RunState, RunStore};
use slipway_pipeline::{Scheduler, SchedulerSettings};

/// Why the server could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listening socket could not be opened (the port is taken, or the address is not this
    /// machine's).
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address asked for.
        address: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
    /// The run history or the runner failed.
    #[error(transparent)]
    Pipeline(#[from] slipway_pipeline::PipelineError),
    /// The release history could not be read.
    #[error(transparent)]
    History(#[from] slipway_history::HistoryError),
    /// slipway.toml's `[server]` cannot be used as written; the message says why.
    #[error("{0}")]
    Settings(String),
}

/// The result of the server's functions, failing with a [`ServerError`] unless told otherwise.
pub type Result<T, E = ServerError> = std::result::Result<T, E>;

/// What the server is started with: slipway.toml's `[server]`, resolved.
#[derive(Clone)]
pub struct Settings {
    /// The address and port to listen on.
    pub listen: SocketAddr,
    /// Where people reach it, for links in notifications.
    pub url: String,
    /// Login name → password.
    pub users: Vec<(String, String)>,
    /// Whether pages may be read without a login (changes always need one).
    pub public_read: bool,
    /// The secret webhook deliveries are signed or authenticated with; `None` turns webhooks off.
    pub webhook_secret: Option<String>,
    /// The bearer token `/metrics` accepts besides a login.
    pub metrics_token: Option<String>,
    /// Connections served at once.
    pub max_connections: usize,
    /// A session ends after this long without a request...
    pub session_idle: Duration,
    /// ...or this long after the login, whichever comes first.
    pub session_lifetime: Duration,
    /// Where session and CSRF tokens come from.
    pub random: security::Random,
    /// How often to look for new commits on the repository's branches; `None` waits for webhooks
    /// only.
    pub poll: Option<Duration>,
    /// The project's directory (where slipway.toml is), which polling reads with git.
    pub project_root: PathBuf,
    /// The project's state dir: the run and release histories, the worktrees runs use.
    pub state_dir: PathBuf,
    /// The slipway binary pipeline steps and rollbacks run.
    pub exe: PathBuf,
    /// The project's slipway.toml as loaded at start.
    pub manifest: Manifest,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Passwords and the webhook secret stay out of any output.
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("url", &self.url)
            .field(
                "users",
                &self.users.iter().map(|(u, _)| u).collect::<Vec<_>>(),
            )
            .field("public_read", &self.public_read)
            .field("max_connections", &self.max_connections)
            .field("session_idle", &self.session_idle)
            .field("session_lifetime", &self.session_lifetime)
            .field("project_root", &self.project_root)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Connections served at once when slipway.toml does not say.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
    /// How long a session lasts without a request when slipway.toml does not say (two hours).
    pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(2 * 60 * 60);
    /// How long a session lasts after its login at most when slipway.toml does not say (a day).
    pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

    /// Whether people reach the server over HTTPS, so its cookies travel only that way.
    fn https(&self) -> bool {
        self.url
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    }
}

#[derive(Debug, Clone)]
struct Session {
    user: String,
    csrf: String,
    created: Instant,
    last_seen: Instant,
}

/// Wakes the live logs of a run when its runner in this process writes a line or changes its
/// state.
#[derive(Debug, Default)]
struct Wakers(Mutex<HashMap<i64, tokio::sync::watch::Sender<u64>>>);

impl Wakers {
    fn wake(&self, run: i64) {
        if let Some(sender) = self.0.lock().unwrap_or_else(|e| e.into_inner()).get(&run) {
            sender.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    fn subscribe(&self, run: i64) -> tokio::sync::watch::Receiver<u64> {
        let mut senders = self.0.lock().unwrap_or_else(|e| e.into_inner());
        senders.retain(|_, sender| sender.receiver_count() > 0);
        senders
            .entry(run)
            .or_insert_with(|| tokio::sync::watch::channel(0).0)
            .subscribe()
    }
}

/// Why a push started no run of a release pipeline it passes.
const NOT_NEWER: &str = "is not newer than the commit it last ran for on";

/// The server's shared state.
pub(crate) struct App {
    settings: Settings,
    runs: Arc<RunStore>,
    releases: slipway_history::ReleaseStore,
    sessions: Mutex<HashMap<String, Session>>,
    /// `slipway status ENV --output json`, refreshed in the background when it is older than
    /// a few seconds, so pages never wait on the hosts.
    status: Mutex<HashMap<String, (Instant, serde_json::Value)>>,
    refreshing: Mutex<std::collections::HashSet<String>>,
    counters: Mutex<BTreeMap<String, u64>>,
    /// The pipeline scheduler (the same one `slipway pipeline run` uses): carries runs here,
    /// none twice.
    scheduler: Arc<Scheduler>,
    started: Instant,
    login_brake: Mutex<security::LoginBrake>,
    wakers: Arc<Wakers>,
    /// When the audit last noted a refused webhook.
    last_refused_webhook: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// How often the server looks for runs whose runner is gone.
const ADOPT_EVERY: Duration = Duration::from_secs(5);

/// Wakes a run's live logs when the server stops carrying it, however that ends.
struct WakeOnEnd(Arc<Wakers>, i64);

impl Drop for WakeOnEnd {
    fn drop(&mut self) {
        self.0.wake(self.1);
    }
}

impl App {
    fn count(&self, key: String) {
        *self
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default() += 1;
    }

    fn project(&self) -> &str {
        &self.settings.manifest.project.name
    }

    /// Carries out run `id` in the background, in a worktree when it is not the checked-out
    /// commit.
    fn carry(self: &Arc<Self>, id: i64) {
        let Some(claim) = self.scheduler.claim(id) else {
            return;
        };
        let app = self.clone();
        tokio::spawn(async move {
            let _claim = claim;
            let _wake = WakeOnEnd(app.wakers.clone(), id);
            let Ok(Some(run)) = app.runs.get(id) else {
                return;
            };
            let scheduler = app.scheduler.clone();
            let to_check_out = run.clone();
            let checkout =
                tokio::task::spawn_blocking(move || scheduler.check_out(&to_check_out)).await;
            let checkout = match checkout {
                Ok(Ok(checkout)) => checkout,
                Ok(Err(error)) => {
                    let _ = app
                        .runs
                        .finish(id, RunState::Failed, Some(&error.to_string()));
                    return;
                }
                Err(error) => {
                    let _ = app
                        .runs
                        .finish(id, RunState::Failed, Some(&error.to_string()));
                    return;
                }
            };
            match app.scheduler.carry_in(&run, &checkout).await {
                Ok(finished) => match app.scheduler.follow_ups(&finished) {
                    Ok(started) => started.iter().for_each(|run| app.carry(run.id)),
                    Err(error) => eprintln!("run {id}: {}", printable(&error.to_string())),
                },
                Err(error) => {
                    eprintln!("run {id}: {}", printable(&error.to_string()));
                    let _ = app
                        .runs
                        .finish(id, RunState::Failed, Some(&error.to_string()));
                }
            }
            app.count(format!(
                "slipway_pipeline_runs_finished_total{{pipeline=\"{}\"}}",
                run.pipeline
            ));
            drop(tokio::task::spawn_blocking(move || drop(checkout)));
        });
    }

    /// Runs whose runner is gone: those waiting on a person (or never started) go on here;
    /// those cut mid-step are marked interrupted and wait for someone to press Resume.
    fn adopt_orphans(self: &Arc<Self>) -> Result<()> {
        for run in self.scheduler.orphans()? {
            self.carry(run.id);
        }
        Ok(())
    }

    /// Starts `pipeline` at `change`.
    fn start(
        self: &Arc<Self>,
        pipeline: &str,
        change: &Change,
        trigger: &str,
        by: &str,
    ) -> Result<Run> {
        let run = runner::create_run(
            &self.settings.manifest,
            &self.runs,
            pipeline,
            change,
            trigger,
            by,
        )?;
        self.carry(run.id);
        Ok(run)
    }

    /// A push of `rev` to `branch`: starts the pipelines its changes pass, and says why it
    /// started none of a release pipeline it passes. The commit is fetched first when the
    /// project's repository does not have it yet.
    fn on_push(
        self: &Arc<Self>,
        branch: &str,
        rev: &str,
        trigger: &str,
    ) -> Result<(Vec<Run>, Vec<String>)> {
        let root = &self.settings.project_root;
        if changes::resolve_rev(root, rev).is_err() {
            let _ = changes::git(root, &["fetch", "--all", "--quiet"]);
        }
        let rev = changes::resolve_rev(root, rev)?;
        let mut started = Vec::new();
        let mut skipped = Vec::new();
        for (name, change) in changes::pushed(
            &self.settings.manifest,
            &self.runs,
            root,
            Some(branch),
            &rev,
        )? {
            if let Some(why) = self.stale_release(&name, branch, &rev)? {
                // The branch name is the webhook's text: escaped for the terminal.
                eprintln!("{trigger}: {}", why.escape_debug());
                let _ = self.runs.audit(trigger, "push-ignored", None, Some(&why));
                skipped.push(why);
                continue;
            }
            started.push(self.start(&name, &change, trigger, &format!("{trigger} of {branch}"))?);
        }
        Ok((started, skipped))
    }

    /// Why a push of `rev` to `branch` must not start release pipeline `pipeline`: the
    /// pipeline already ran for `rev` or a newer commit of that branch (a replayed or
    /// reordered webhook, a branch reset to an old commit). A person may still run it.
    fn stale_release(&self, pipeline: &str, branch: &str, rev: &str) -> Result<Option<String>> {
        let Some(definition) = self.settings.manifest.pipelines.get(pipeline) else {
            return Ok(None);
        };
        if slipway_pipeline::steps::kind_of(pipeline, definition)
            != slipway_core::manifest::PipelineKind::Release
        {
            return Ok(None);
        }
        let Some(last) = self.runs.last_rev_on_branch(pipeline, branch)? else {
            return Ok(None);
        };
        // When git cannot tell (the last commit is gone from the repository), fail closed.
        let not_newer =
            last == rev || is_ancestor(&self.settings.project_root, rev, &last).unwrap_or(true);
        Ok(not_newer.then(|| {
            format!(
                "`{pipeline}` did not start: {} {NOT_NEWER} `{branch}` ({}); a person can still run it",
                short(rev),
                short(&last)
            )
        }))
    }

    /// A pull request opened or given new commits (never one from a fork: `hooks::parse` drops
    /// those): starts the `on.pull_request` pipelines its changes pass. Its head is fetched
    /// when the repository lacks it, through the host's pull request ref if need be.
    fn on_pull_request(
        self: &Arc<Self>,
        host: crate::hooks::GitHost,
        number: u64,
        event: changes::PullRequestEvent,
        trigger: &str,
    ) -> Result<Vec<Run>> {
        let root = &self.settings.project_root;
        if changes::resolve_rev(root, &event.rev).is_err() {
            let _ = changes::git(root, &["fetch", "--all", "--quiet"]);
        }
        if changes::resolve_rev(root, &event.rev).is_err() {
            let reference = match host {
                crate::hooks::GitHost::GitLab => format!("refs/merge-requests/{number}/head"),
                _ => format!("refs/pull/{number}/head"),
            };
            let _ = changes::git(root, &["fetch", "--quiet", "origin", &reference]);
        }
        let rev = changes::resolve_rev(root, &event.rev)?;
        let event = changes::PullRequestEvent { rev, ..event };
        let mut started = Vec::new();
        for (name, change) in changes::pull_requested(&self.settings.manifest, root, &event)? {
            started.push(self.start(
                &name,
                &change,
                trigger,
                &format!(
                    "{trigger} of #{number} ({} into {})",
                    event.branch, event.into
                ),
            )?);
        }
        Ok(started)
    }

    /// The cached status of `environment`, refreshing it in the background when stale.
    fn status(self: &Arc<Self>, environment: &str) -> Option<serde_json::Value> {
        let cached = self
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(environment)
            .cloned();
        let stale = cached
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() > Duration::from_secs(5));
        if stale {
            self.refresh_status(environment);
        }
        cached.map(|(_, value)| value)
    }

    fn refresh_status(self: &Arc<Self>, environment: &str) {
        if !self
            .refreshing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(environment.to_owned())
        {
            return;
        }
        let app = self.clone();
        let environment = environment.to_owned();
        tokio::spawn(async move {
            let output = tokio::process::Command::new(&app.settings.exe)
                .args(["status", &environment, "--output", "json"])
                .current_dir(&app.settings.project_root)
                .env(
                    slipway_pipeline::variables::STATE_DIR,
                    &app.settings.state_dir,
                )
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output();
            let value = match tokio::time::timeout(Duration::from_secs(20), output).await {
                Ok(Ok(output)) if output.status.success() => {
                    serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null)
                }
                Ok(Ok(output)) => serde_json::json!({
                    "error": String::from_utf8_lossy(&output.stderr).trim().to_owned()
                }),
                _ => serde_json::json!({ "error": "the hosts did not answer" }),
            };
            app.status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(environment.clone(), (Instant::now(), value));
            app.refreshing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&environment);
        });
    }

    /// Drops the cached status of `environment` (after a deploy or rollback).
    fn forget_status(&self, environment: &str) {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(environment);
    }
}

/// Whether commit `older` is an ancestor of commit `newer`; `None` when git cannot tell.
fn is_ancestor(root: &std::path::Path, older: &str, newer: &str) -> Option<bool> {
    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["merge-base", "--is-ancestor", older, newer])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    match status.code() {
        Some(0) => Some(true),
        Some(1) => Some(false),
        _ => None,
    }
}

fn short(rev: &str) -> &str {
    &rev[..rev.len().min(12)]
}

/// Watches the project's repository: a branch whose head moved is a push.
async fn poll(app: Arc<App>, every: Duration) {
    let mut seen: Option<HashMap<String, String>> = None;
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let root = app.settings.project_root.clone();
        let heads = tokio::task::spawn_blocking(move || {
            let _ = changes::git(&root, &["fetch", "--all", "--quiet"]);
            changes::git(
                &root,
                &[
                    "for-each-ref",
                    "--format=%(refname:short) %(objectname)",
                    "refs/heads",
                ],
            )
        })
        .await;
        let Ok(Ok(listing)) = heads else { continue };
        let heads: HashMap<String, String> = listing
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(b, r)| (b.to_owned(), r.to_owned()))
            .collect();
        // The first look only learns where the branches are: starting the server runs nothing.
        if let Some(before) = &seen {
            for (branch, rev) in &heads {
                if before.get(branch) != Some(rev) {
                    let app = app.clone();
                    let (branch, rev) = (branch.clone(), rev.clone());
                    let started =
                        tokio::task::spawn_blocking(move || app.on_push(&branch, &rev, "poll"))
                            .await;
                    if let Ok(Err(error)) = started {
                        eprintln!("poll: {}", printable(&error.to_string()));
                    }
                }
            }
        }
        seen = Some(heads);
    }
}

/// What the server does with a run's progress: wakes its live logs, and says on stderr how
/// it ended.
fn progress_to(wakers: Arc<Wakers>) -> slipway_pipeline::runner::ProgressSink {
    Arc::new(move |progress| {
        wakers.wake(progress.run());
        if let slipway_pipeline::Progress::Finished { run, state, note } = progress {
            let note = note.map(|n| format!(": {n}")).unwrap_or_default();
            // A note may quote a step's name from a branch's slipway.toml.
            eprintln!("run {run} {state}{}", printable(&note));
        }
    })
}

/// Serves until `shutdown` completes.
pub async fn serve(
    settings: Settings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let runs = Arc::new(RunStore::open(&settings.state_dir.join("pipelines.db"))?);
    let wakers: Arc<Wakers> = Arc::default();
    let scheduler = Arc::new(Scheduler::new(SchedulerSettings {
        manifest: settings.manifest.clone(),
        store: runs.clone(),
        project_root: settings.project_root.clone(),
        state_dir: settings.state_dir.clone(),
        exe: settings.exe.clone(),
        progress: progress_to(wakers.clone()),
        poll: Duration::from_millis(250),
        approval_link: Some({
            let url = settings.url.trim_end_matches('/').to_owned();
            Arc::new(move |id| format!("{url}/runs/{id}"))
        }),
    }));
    let releases =
        slipway_history::ReleaseStore::open(&slipway_history::releases::path(&settings.state_dir))?;
    if let Some(warning) =
        listener::descriptor_warning(listener::open_files_limit(), settings.max_connections)
    {
        eprintln!("{warning}");
    }
    let listener = listener::CappedListener::bind(settings.listen, settings.max_connections)
        .map_err(|source| ServerError::Listen {
            address: settings.listen,
            source,
        })?;
    let poll_every = settings.poll;
    let address = settings.listen;
    let app = Arc::new(App {
        settings,
        runs,
        releases,
        sessions: Mutex::default(),
        status: Mutex::default(),
        refreshing: Mutex::default(),
        counters: Mutex::default(),
        scheduler,
        started: Instant::now(),
        login_brake: Mutex::default(),
        wakers,
        last_refused_webhook: Mutex::default(),
    });
    app.adopt_orphans()?;
    // A runner can die after the scan above (a server still shutting down when this one
    // started, a `pipeline run` killed at a gate): its runs are taken over when it is gone.
    let adopting = app.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(ADOPT_EVERY).await;
            if let Err(error) = adopting.adopt_orphans() {
                eprintln!("taking over runs: {}", printable(&error.to_string()));
            }
        }
    });
    if let Some(every) = poll_every {
        tokio::spawn(poll(app.clone(), every));
    }
    // Forms are small: a login or a comment. Webhooks keep axum's default limit (2 MB).
    let forms = Router::new()
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/runs/{id}/approve", post(pages::approve))
        .route("/runs/{id}/reject", post(pages::reject))
        .route("/runs/{id}/resume", post(pages::resume))
        .route("/pipelines/{name}/run", post(pages::run_pipeline))
        .route("/environments/{name}/rollback", post(pages::rollback))
        .layer(axum::extract::DefaultBodyLimit::max(security::FORM_LIMIT));
    let router = Router::new()
        .route("/", get(pages::dashboard))
        .route("/audit", get(pages::audit_page))
        .route("/runs/{id}", get(pages::run_page))
        .route("/runs/{id}/events", get(pages::run_events))
        .route("/environments/{name}", get(pages::environment_page))
        .route("/hooks/{host}", post(pages::webhook))
        .route("/api/runs", get(pages::api_runs))
        .route("/api/runs/{id}", get(pages::api_run))
        .route("/metrics", get(pages::metrics))
        .route("/static/slipway.css", get(pages::style))
        .route("/static/run.js", get(pages::run_script))
        .route("/health", get(|| async { "ok" }))
        .merge(forms)
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(app);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<listener::ClientAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|source| ServerError::Listen { address, source })
}
