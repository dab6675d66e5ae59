//! Maintenance mode on Docker hosts: each host's proxy answers an environment's routes (or one
//! app's) with 503, `Retry-After` and a message instead of forwarding them, while the
//! containers keep running. The proxy keeps it in its persisted table, so a restart of the
//! proxy or the next deploy keeps it until it is turned off.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use slipway_core::Manifest;
use slipway_proxy::admin::Command;
use slipway_proxy::table::Maintenance;

use crate::host::Host;
use crate::{DeployError, Result};

/// The file in an environment's config directory served as the maintenance page.
pub const PAGE_FILE: &str = "maintenance.html";
/// What visitors read when no `--message` is given.
pub const DEFAULT_MESSAGE: &str =
    "This site is down for maintenance. Please try again in a few minutes.";
/// What clients are told to wait (`Retry-After`) when not given, in seconds.
pub const DEFAULT_RETRY_AFTER: u32 = 120;

/// `maintenance on`: what to answer, and for which app (all the environment's when `None`).
#[derive(Debug, Clone, Default)]
pub struct TurnOn {
    /// One app, or the whole environment.
    pub app: Option<String>,
    /// Shown to visitors; [`DEFAULT_MESSAGE`] when `None`.
    pub message: Option<String>,
    /// `Retry-After` in seconds; [`DEFAULT_RETRY_AFTER`] when `None`.
    pub retry_after: Option<u32>,
}

/// A scope in maintenance as `slipway status` and `slipway maintenance` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaintenanceState {
    /// The app in maintenance; `None` for the whole environment.
    pub app: Option<String>,
    /// What visitors read.
    pub message: String,
    /// `Retry-After`, in seconds.
    pub retry_after: u32,
    /// Whether the project's own page (`maintenance.html`) is served to browsers.
    pub own_page: bool,
    /// When it was turned on, in Unix seconds.
    pub since: u64,
}

/// What one host's proxy has in maintenance after a change.
#[derive(Debug, Clone, Serialize)]
pub struct HostMaintenance {
    /// The host's name as slipway.toml writes it, or `local`.
    pub host: String,
    /// The environment's scopes in maintenance on this host.
    pub maintenance: Vec<MaintenanceState>,
}

/// The proxy's scope for an environment (`project/env`) or one of its apps (`project/env/app`).
pub fn scope(manifest: &Manifest, environment: &str, app: Option<&str>) -> String {
    match app {
        Some(app) => format!("{}/{environment}/{app}", manifest.project.name),
        None => format!("{}/{environment}", manifest.project.name),
    }
}

/// The environment's scopes among a proxy's, as people read them: the whole environment
/// first, then each app by name.
pub fn states_of(
    scopes: &BTreeMap<String, Maintenance>,
    manifest: &Manifest,
    environment: &str,
) -> Vec<MaintenanceState> {
    let whole = scope(manifest, environment, None);
    let mut states: Vec<MaintenanceState> = scopes
        .iter()
        .filter_map(|(key, m)| {
            let app = if *key == whole {
                None
            } else {
                let app = key.strip_prefix(&whole)?.strip_prefix('/')?;
                if app.is_empty() || app.contains('/') {
                    return None;
                }
                Some(app.to_owned())
            };
            Some(MaintenanceState {
                app,
                message: m.message.clone(),
                retry_after: m.retry_after,
                own_page: m.page.is_some(),
                since: m.since,
            })
        })
        .collect();
    states.sort_by(|a, b| a.app.cmp(&b.app));
    states
}

/// The maintenance a `maintenance on` installs: the message or the default, and the project's
/// page when `config/<env>/maintenance.html` exists (an empty or oversized page is refused).
pub fn settings(
    manifest: &Manifest,
    root: &Path,
    environment: &str,
    request: &TurnOn,
    now: u64,
) -> Result<Maintenance> {
    if let Some(app) = &request.app
        && (!manifest.apps.contains_key(app.as_str())
            || !slipway_core::manifest::app_runs_in(manifest, app, environment))
    {
        let runs: Vec<&str> = manifest
            .apps
            .keys()
            .filter(|a| slipway_core::manifest::app_runs_in(manifest, a, environment))
            .map(String::as_str)
            .collect();
        return Err(DeployError::Plan(format!(
            "`{environment}` does not run an app `{app}`; it runs {}",
            runs.join(", ")
        )));
    }
    let message = request
        .message
        .clone()
        .unwrap_or_else(|| DEFAULT_MESSAGE.to_owned());
    if message.trim().is_empty() {
        return Err(DeployError::Plan(
            "--message is empty: give the text visitors should read, or leave it out for the default".into(),
        ));
    }
    let path = root
        .join(manifest.environment_config_dir(environment))
        .join(PAGE_FILE);
    let page = match std::fs::read(&path) {
        Ok(bytes) => {
            let shown = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            let page = String::from_utf8(bytes).map_err(|_| {
                DeployError::Plan(format!("{shown}: the maintenance page is not UTF-8 text"))
            })?;
            if page.trim().is_empty() {
                return Err(DeployError::Plan(format!(
                    "{shown}: the maintenance page is empty; write the page, or remove the file for the default page"
                )));
            }
            if page.len() > slipway_proxy::maintenance::PAGE_LIMIT {
                return Err(DeployError::Plan(format!(
                    "{shown}: the maintenance page is {} KiB, more than the {} KiB a proxy keeps; keep images and styles outside it",
                    page.len() / 1024,
                    slipway_proxy::maintenance::PAGE_LIMIT / 1024
                )));
            }
            Some(page)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(DeployError::Io { path, source }),
    };
    Ok(Maintenance {
        message,
        retry_after: request.retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        page,
        since: now,
    })
}

/// Sends `command` to every host's proxy, after checking that each one answers (so a host
/// without a proxy changes nothing anywhere), and returns what each then has in maintenance.
pub async fn apply(
    hosts: &[Host],
    manifest: &Manifest,
    environment: &str,
    command: &Command,
) -> Result<Vec<HostMaintenance>> {
    for host in hosts {
        let answers = match host.proxy(&Command::Status).await {
            Ok(answer) => answer.ok,
            Err(_) => false,
        };
        if !answers {
            return Err(DeployError::Proxy {
                host: host.name.clone(),
                message: format!(
                    "no proxy answers there: deploy `{environment}` first (`slipway deploy {environment}`); nothing was changed"
                ),
            });
        }
    }
    let mut out = Vec::new();
    for host in hosts {
        let answer = host.order(command).await?;
        let scopes = answer.status.map(|s| s.maintenance).unwrap_or_default();
        out.push(HostMaintenance {
            host: host.name.clone(),
            maintenance: states_of(&scopes, manifest, environment),
        });
    }
    Ok(out)
}

/// `slipway maintenance` as text: what each host now answers.
pub fn summary(environment: &str, hosts: &[HostMaintenance]) -> String {
    let mut out = String::new();
    for host in hosts {
        if host.maintenance.is_empty() {
            out.push_str(&format!(
                "{}: `{environment}` is served normally\n",
                host.host
            ));
        }
        for state in &host.maintenance {
            out.push_str(&format!(
                "{}: {}\n",
                host.host,
                state_line(environment, state)
            ));
        }
    }
    out
}

/// One scope in maintenance, for people: what is in maintenance, since when, and what it says.
pub fn state_line(environment: &str, state: &MaintenanceState) -> String {
    let what = match &state.app {
        Some(app) => format!("`{app}` of `{environment}`"),
        None => format!("`{environment}`"),
    };
    let page = if state.own_page {
        format!(" (browsers get {PAGE_FILE})")
    } else {
        String::new()
    };
    format!(
        "{what} is in maintenance since {}: 503, Retry-After {}s, \"{}\"{page}",
        slipway_core::time::rfc3339(state.since),
        state.retry_after,
        slipway_core::terminal::printable(&state.message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        slipway_core::load_manifest(
            "schema = 1\n[project]\nname = \"shop\"\n\
             [apps.api]\ndir = \"api\"\nbuild = \"dockerfile\"\nport = 8000\n\
             [apps.web]\ndir = \"web\"\nbuild = \"dockerfile\"\nport = 80\n\
             [apps.admin]\ndir = \"admin\"\nbuild = \"dockerfile\"\nport = 80\n\
             [environments.prod]\napps = [\"api\", \"web\"]\n",
        )
        .unwrap()
    }

    fn on(message: &str) -> Maintenance {
        Maintenance {
            message: message.into(),
            retry_after: 60,
            page: None,
            since: 1_800_000_000,
        }
    }

    #[test]
    fn status_shows_the_environments_scopes_only() {
        let manifest = manifest();
        let mut scopes = BTreeMap::new();
        scopes.insert("shop/prod/web".to_owned(), on("web"));
        scopes.insert("shop/prod".to_owned(), on("all"));
        scopes.insert("shop/production".to_owned(), on("other env"));
        scopes.insert("blog/prod".to_owned(), on("other project"));
        let states = states_of(&scopes, &manifest, "prod");
        let shown: Vec<(Option<&str>, &str)> = states
            .iter()
            .map(|s| (s.app.as_deref(), s.message.as_str()))
            .collect();
        assert_eq!(shown, vec![(None, "all"), (Some("web"), "web")]);
        assert_eq!(
            state_line("prod", &states[1]),
            "`web` of `prod` is in maintenance since 2027-01-15T08:00:00Z: 503, Retry-After 60s, \"web\""
        );
    }

    #[test]
    fn the_environments_page_is_served_when_it_exists() {
        let manifest = manifest();
        let root = tempfile::tempdir().unwrap();
        let request = TurnOn::default();
        let plain = settings(&manifest, root.path(), "prod", &request, 5).unwrap();
        assert_eq!(plain.message, DEFAULT_MESSAGE);
        assert_eq!(plain.page, None);
        assert_eq!((plain.retry_after, plain.since), (DEFAULT_RETRY_AFTER, 5));
        std::fs::create_dir_all(root.path().join("config/prod")).unwrap();
        std::fs::write(
            root.path().join("config/prod/maintenance.html"),
            "<p>ours</p>",
        )
        .unwrap();
        let own = settings(&manifest, root.path(), "prod", &request, 5).unwrap();
        assert_eq!(own.page.as_deref(), Some("<p>ours</p>"));
        std::fs::write(root.path().join("config/prod/maintenance.html"), "  \n").unwrap();
        let empty = settings(&manifest, root.path(), "prod", &request, 5).unwrap_err();
        assert!(
            empty
                .to_string()
                .starts_with("config/prod/maintenance.html: the maintenance page is empty"),
            "{empty}"
        );
    }

    #[test]
    fn an_app_the_environment_does_not_run_is_refused_with_the_ones_it_runs() {
        let manifest = manifest();
        let root = tempfile::tempdir().unwrap();
        let request = TurnOn {
            app: Some("admin".into()),
            ..Default::default()
        };
        let error = settings(&manifest, root.path(), "prod", &request, 0).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`prod` does not run an app `admin`; it runs api, web"
        );
        let blank = TurnOn {
            message: Some(" ".into()),
            ..Default::default()
        };
        assert!(settings(&manifest, root.path(), "prod", &blank, 0).is_err());
    }
}
