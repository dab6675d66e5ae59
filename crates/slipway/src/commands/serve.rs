//! `slipway serve`: the dashboard and webhooks of one project, with its pipelines carried out in
//! this process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::project::Project;

/// Serve the dashboard: runs and their live logs, the Deploy/Reject buttons of approval gates,
/// environments with their live release and Rollback; webhooks from GitHub, GitLab and Gitea
/// start the pipelines a push or a pull request passes.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  SHOP_ADA_PASSWORD=... slipway serve                 on [server] listen (default 127.0.0.1:8300)\n  slipway serve --listen 0.0.0.0:8300\n\nslipway.toml:\n  [server]\n  users = { ada = \"env:SHOP_ADA_PASSWORD\" }\n  webhook_secret = \"env:SHOP_WEBHOOK_SECRET\"   # POST /hooks/github|gitlab|gitea\n  metrics_token = \"env:SHOP_METRICS_TOKEN\"     # GET /metrics with `Authorization: Bearer ...`\n  poll = \"30s\"                                  # or watch the repository's branches"
)]
pub struct ServeArgs {
    /// Address to listen on (default: [server] listen, else 127.0.0.1:8300).
    #[arg(long)]
    listen: Option<String>,
    #[arg(long, default_value = ".")]
    project: PathBuf,
}

/// The value of `env:VAR` for the field at `path`.
fn from_env(reference: &str, path: &str) -> Result<String> {
    let Some(var) = reference.strip_prefix("env:") else {
        bail!("slipway.toml {path}: write `env:VAR`, never the secret itself");
    };
    std::env::var(var).ok().filter(|v| !v.is_empty()).with_context(|| {
        format!("slipway.toml {path} reads the environment variable {var}, which is not set: set it where `slipway serve` runs")
    })
}

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    let server = project.manifest.server.clone();
    let listen_text = args
        .listen
        .or(server.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8300".to_owned());
    let listen: SocketAddr = listen_text.parse().with_context(|| {
        format!("--listen {listen_text}: write ADDRESS:PORT, e.g. 127.0.0.1:8300")
    })?;
    let mut users = Vec::new();
    for (name, reference) in &server.users {
        users.push((
            name.clone(),
            from_env(reference, &format!("server.users.{name}"))?,
        ));
    }
    let webhook_secret = server
        .webhook_secret
        .as_deref()
        .map(|r| from_env(r, "server.webhook_secret"))
        .transpose()?;
    let metrics_token = server
        .metrics_token
        .as_deref()
        .map(|r| from_env(r, "server.metrics_token"))
        .transpose()?;
    let url = server
        .url
        .clone()
        .unwrap_or_else(|| format!("http://{listen}"));
    let state_dir = std::path::absolute(project.state_dir())?;
    let settings = slipway_server::Settings {
        listen,
        url: url.clone(),
        users,
        public_read: server.public_read,
        webhook_secret,
        metrics_token,
        max_connections: server
            .max_connections
            .map_or(slipway_server::Settings::DEFAULT_MAX_CONNECTIONS, |n| {
                n as usize
            }),
        session_idle: server
            .session_idle
            .map_or(slipway_server::Settings::DEFAULT_SESSION_IDLE, |d| d.0),
        session_lifetime: server
            .session_lifetime
            .map_or(slipway_server::Settings::DEFAULT_SESSION_LIFETIME, |d| d.0),
        random: slipway_server::security::os_random(),
        poll: server.poll.map(|d| d.0),
        project_root: project.root.clone(),
        state_dir,
        exe: std::env::current_exe().context("cannot find the slipway binary")?,
        manifest: project.manifest.clone(),
    };
    if settings.users.is_empty() {
        eprintln!(
            "warning: no [server] users: nobody can log in, so nothing can be approved from the dashboard"
        );
    }
    eprintln!(
        "slipway serve: {url} (project {}; webhooks {}; {})",
        project.manifest.project.name,
        if settings.webhook_secret.is_some() {
            "on at /hooks/github|gitlab|gitea"
        } else {
            "off"
        },
        match settings.poll {
            Some(every) => format!("polling the repository every {}s", every.as_secs()),
            None => "not polling".to_owned(),
        }
    );
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(slipway_server::serve(settings, async {
        let _ = tokio::signal::ctrl_c().await;
    }))?;
    Ok(ExitCode::SUCCESS)
}
