//! `slipway test ENV`: the environment's checks against the running environment. HTTP checks go
//! to the published app whose route matches; `run` checks run in a one-off container of an app
//! (its image, env and mounts) on the environment's internal network; `host` checks run here
//! with the environment's URLs in `SLIPWAY_URL` and `SLIPWAY_URL_<APP>`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use serde::Serialize;
use slipway_core::Manifest;
use slipway_core::manifest::TestCheck;

use crate::Engine;
use crate::environment::container_name;

/// The outcome of one of an environment's checks, as `slipway test` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// The check's name, or a description of what it runs when it has none.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What it found: the answer or output on success, the reason on failure.
    pub detail: String,
    /// How long it took, in milliseconds.
    pub millis: u128,
}

/// Published URLs of an environment's apps: app → `http://ip:port`.
pub fn published_urls(manifest: &Manifest, environment: &str) -> HashMap<String, String> {
    let Some(env) = manifest.environments.get(environment) else {
        return HashMap::new();
    };
    env.publish
        .iter()
        .filter_map(|(app, address)| {
            let (ip, port) = slipway_core::manifest::parse_publish(address)?;
            Some((
                app.clone(),
                format!("http://{}:{port}", ip.unwrap_or_else(|| "127.0.0.1".into())),
            ))
        })
        .collect()
}

/// The published app that answers `path`: the longest route prefix that matches.
fn url_for(manifest: &Manifest, urls: &HashMap<String, String>, path: &str) -> Option<String> {
    let mut candidates: Vec<(usize, &String)> = urls
        .keys()
        .map(|app| {
            let prefix = manifest
                .apps
                .get(app)
                .and_then(|a| a.route.as_ref())
                .and_then(|r| r.path.clone())
                .unwrap_or_else(|| "/".into());
            (
                if path.starts_with(&prefix) {
                    prefix.len()
                } else {
                    0
                },
                app,
            )
        })
        .collect();
    candidates.sort();
    candidates
        .last()
        .and_then(|(_, app)| urls.get(*app))
        .cloned()
}

/// The name a check is reported under: its `name`, else what it requests or runs.
pub fn check_name(check: &TestCheck) -> String {
    if let Some(name) = &check.name {
        return name.clone();
    }
    match (&check.http, &check.run, &check.host) {
        (Some(http), _, _) => http.clone(),
        (_, Some(run), _) => format!(
            "run in {}: {}",
            check.app.as_deref().unwrap_or("app"),
            run.argv().join(" ")
        ),
        (_, _, Some(host)) => format!("on the host: {}", host.argv().join(" ")),
        _ => "check".into(),
    }
}

/// The checks of `environment` (`tests = [...]`); an error that says how to add them when it
/// has none.
pub fn tests_of<'m>(manifest: &'m Manifest, environment: &str) -> crate::Result<&'m [TestCheck]> {
    let checks = &manifest.environment(environment)?.environment.tests;
    if checks.is_empty() {
        return Err(crate::DockerError::NoTests {
            environment: environment.to_owned(),
        });
    }
    Ok(checks)
}

/// Runs `checks` one after the other, each result given to `done` as it comes.
pub async fn run_checks(
    engine: &Engine,
    manifest: &Manifest,
    environment: &str,
    checks: &[TestCheck],
    done: &mut dyn FnMut(&CheckResult),
) -> Vec<CheckResult> {
    let mut results = Vec::new();
    for check in checks {
        let result = run_check(engine, manifest, environment, check).await;
        done(&result);
        results.push(result);
    }
    results
}

/// Runs one check of `environment` (an HTTP request, a one-off container or a command on this host)
/// within its timeout; a failure is a result, never an error.
pub async fn run_check(
    engine: &Engine,
    manifest: &Manifest,
    environment: &str,
    check: &TestCheck,
) -> CheckResult {
    let started = Instant::now();
    let name = check_name(check);
    let timeout = check.timeout.map_or(Duration::from_secs(30), |d| d.0);
    let outcome = if let Some(http) = &check.http {
        http_check(manifest, environment, check, http, timeout).await
    } else if let Some(run) = &check.run {
        let app = check
            .app
            .clone()
            .or_else(|| manifest.apps.keys().next().cloned())
            .unwrap_or_default();
        one_off(engine, manifest, environment, &app, &run.argv(), timeout).await
    } else if let Some(host) = &check.host {
        host_check(manifest, environment, &host.argv(), timeout).await
    } else {
        Err("a check needs http, run or host".into())
    };
    let (passed, detail) = match outcome {
        Ok(detail) => (true, detail),
        Err(detail) => (false, detail),
    };
    CheckResult {
        name,
        passed,
        detail,
        millis: started.elapsed().as_millis(),
    }
}

async fn http_check(
    manifest: &Manifest,
    environment: &str,
    check: &TestCheck,
    http: &str,
    timeout: Duration,
) -> std::result::Result<String, String> {
    let (method, path) = http.split_once(' ').ok_or("write `METHOD /path`")?;
    let urls = published_urls(manifest, environment);
    let base = url_for(manifest, &urls, path).ok_or_else(|| {
        format!("no app of `{environment}` is published: add `publish` to the environment")
    })?;
    let url = format!("{base}{path}");
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let response = client
        .request(method, &url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    let expected = check.expect.unwrap_or(200);
    if status != expected {
        return Err(format!(
            "{url} answered {status}, expected {expected}; body: {}",
            body.chars().take(300).collect::<String>()
        ));
    }
    if let Some(needle) = &check.body_contains
        && !body.contains(needle.as_str())
    {
        return Err(format!(
            "{url}: the body does not contain `{needle}`; body: {}",
            body.chars().take(300).collect::<String>()
        ));
    }
    if !check.json.is_empty() {
        let parsed: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| format!("{url}: the body is not JSON ({e})"))?;
        for (pointer, expected) in &check.json {
            let found = parsed.pointer(pointer);
            if found != Some(expected) {
                return Err(format!(
                    "{url}: {pointer} is {}, expected {expected}",
                    found.map_or("absent".into(), |v| v.to_string())
                ));
            }
        }
    }
    Ok(format!("{url} answered {status}"))
}

/// A one-off container of `app` (its image, env, mounts) on the internal network.
async fn one_off(
    engine: &Engine,
    manifest: &Manifest,
    environment: &str,
    app: &str,
    command: &[String],
    timeout: Duration,
) -> std::result::Result<String, String> {
    let source = container_name(manifest, environment, app);
    let inspect = engine
        .docker
        .inspect_container(&source, None)
        .await
        .map_err(|_| format!("{source} is not running: run `slipway up {environment}` first"))?;
    let config = inspect.config.unwrap_or_default();
    let binds = inspect.host_config.and_then(|h| h.binds);
    let body = ContainerCreateBody {
        image: config.image,
        cmd: Some(command.to_vec()),
        entrypoint: Some(Vec::new()),
        env: config.env,
        user: config.user,
        working_dir: config.working_dir,
        host_config: Some(HostConfig {
            binds,
            network_mode: Some(format!("{}-{environment}-internal", manifest.project.name)),
            ..Default::default()
        }),
        ..Default::default()
    };
    let created = engine
        .docker
        .create_container(Some(CreateContainerOptionsBuilder::default().build()), body)
        .await
        .map_err(|e| e.to_string())?;
    let result = tokio::time::timeout(timeout, engine.run_created(&created.id)).await;
    let _ = engine
        .docker
        .remove_container(
            &created.id,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await;
    match result {
        Err(_) => Err(format!("did not finish within {}s", timeout.as_secs())),
        Ok(Err(error)) => Err(error.to_string()),
        Ok(Ok(finished)) if finished.exit_code == 0 => Ok("exited with 0".into()),
        Ok(Ok(finished)) => Err(format!(
            "exited with {}:\n{}",
            finished.exit_code,
            finished.output.trim_end()
        )),
    }
}

async fn host_check(
    manifest: &Manifest,
    environment: &str,
    command: &[String],
    timeout: Duration,
) -> std::result::Result<String, String> {
    let urls = published_urls(manifest, environment);
    let mut child = tokio::process::Command::new(&command[0]);
    child.args(&command[1..]);
    if let Some(first) = url_for(manifest, &urls, "/") {
        child.env("SLIPWAY_URL", first);
    }
    for (app, url) in &urls {
        child.env(
            format!("SLIPWAY_URL_{}", app.to_ascii_uppercase().replace('-', "_")),
            url,
        );
    }
    child.env("SLIPWAY_ENV", environment);
    let output = tokio::time::timeout(timeout, child.output())
        .await
        .map_err(|_| format!("did not finish within {}s", timeout.as_secs()))?
        .map_err(|e| format!("cannot run {}: {e}", command[0]))?;
    if output.status.success() {
        Ok("exited with 0".into())
    } else {
        Err(format!(
            "exited with {}:\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// JUnit XML of a run, for CI systems.
pub fn junit(environment: &str, results: &[CheckResult]) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let failures = results.iter().filter(|r| !r.passed).count();
    let total: u128 = results.iter().map(|r| r.millis).sum();
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"slipway test {env}\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">\n",
        results.len(),
        total as f64 / 1000.0,
        env = escape(environment)
    );
    for result in results {
        xml.push_str(&format!(
            "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            escape(environment),
            escape(&result.name),
            result.millis as f64 / 1000.0
        ));
        if result.passed {
            xml.push_str("/>\n");
        } else {
            xml.push_str(&format!(
                ">\n    <failure message=\"{}\"/>\n  </testcase>\n",
                escape(&result.detail)
            ));
        }
    }
    xml.push_str("</testsuite>\n</testsuites>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"schema = 1
[project]
name = "shop"

[environments.dev]

[environments.stage]
tests = [{ http = "GET /health", expect = 200 }]
"#;

    #[test]
    fn an_environment_without_tests_says_how_to_add_them() {
        let manifest = slipway_core::manifest::load_manifest(MANIFEST).unwrap();
        assert_eq!(tests_of(&manifest, "stage").unwrap().len(), 1);
        assert_eq!(
            tests_of(&manifest, "dev").unwrap_err().to_string(),
            "environment `dev` has no tests: add `tests = [...]` to [environments.dev]"
        );
    }
}
