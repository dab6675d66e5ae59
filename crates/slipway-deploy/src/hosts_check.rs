//! `slipway hosts check ENV`: whether each Docker host of an environment can take a deploy.
//! Per host: the engine answers (and its version), free disk under the engine's data root,
//! the proxy's ports free or held by slipway's own proxy, the engine's clock against this
//! machine's, and the environment's registry answering the engine. Every measurement is made
//! through the engine, so remote hosts (`ssh://`, `tcp://`) are checked like the local one:
//! the disk and the ports by a throwaway container of the proxy's image on the host's network
//! (`slipway proxy probe`), the registry by the engine asking it for a manifest. What each
//! measurement means is decided by the pure `*_row` functions.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use slipway_core::Manifest;
use slipway_core::manifest::Target;

use crate::host::{Host, PROXY_CONTAINER, PROXY_IMAGE, ProxyPlan};
use crate::{DeployError, Result};

/// How a row ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Fine.
    Ok,
    /// Worth a look; a deploy still works.
    Warn,
    /// A deploy would fail or misbehave: `hosts check` exits 1.
    Fail,
}

/// One check of one host.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The host's name as slipway.toml writes it, or `local`.
    pub host: String,
    /// `engine`, `disk`, `port`, `clock` or `registry`.
    pub check: String,
    /// How it ended.
    pub level: Level,
    /// What was found, and for a problem what to do.
    pub detail: String,
}

/// What a probe container found on its host (`slipway proxy probe` prints it as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Free and total bytes of the filesystem under the path asked for, or why not.
    pub disk: std::result::Result<(u64, u64), String>,
    /// Each address asked for → `None` when it could be bound (it is free), or the error.
    pub binds: BTreeMap<String, Option<String>>,
}

/// Measures `disk` and tries to bind each of `binds`, on the machine this runs on.
pub fn probe_here(disk: &Path, binds: &[String]) -> Probe {
    let disk = free_space(disk);
    let binds = binds
        .iter()
        .map(|address| {
            let outcome = std::net::TcpListener::bind(address.as_str())
                .map(drop)
                .err()
                .map(|e| e.to_string());
            (address.clone(), outcome)
        })
        .collect();
    Probe { disk, binds }
}

fn free_space(path: &Path) -> std::result::Result<(u64, u64), String> {
    let stats = rustix::fs::statvfs(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((
        stats.f_bavail * stats.f_frsize,
        stats.f_blocks * stats.f_frsize,
    ))
}

const GIB: u64 = 1 << 30;

/// The engine row: its version, or why it cannot be reached (which blocks everything else).
pub fn engine_row(facts: std::result::Result<(&str, &str, &str), &str>) -> (Level, String) {
    match facts {
        Ok((version, api, os)) => (
            Level::Ok,
            format!("Docker Engine {version} (API {api}) on {os}"),
        ),
        Err(error) => (
            Level::Fail,
            format!("cannot reach the engine: {error}; the other checks of this host did not run"),
        ),
    }
}

/// The disk row: below 2 GiB or 5% free under the data root fails (images and containers of
/// a release would not fit), below 10 GiB or 15% warns.
pub fn disk_row(root: &str, measured: std::result::Result<(u64, u64), &str>) -> (Level, String) {
    let (free, total) = match measured {
        Ok(sizes) => sizes,
        Err(error) => return (Level::Fail, format!("cannot measure {root}: {error}")),
    };
    let gib = |bytes: u64| bytes as f64 / GIB as f64;
    let share = if total == 0 {
        0.0
    } else {
        free as f64 * 100.0 / total as f64
    };
    let text = format!(
        "{:.1} GiB free of {:.1} GiB ({share:.0}%) under {root}",
        gib(free),
        gib(total)
    );
    if free < 2 * GIB || share < 5.0 {
        (
            Level::Fail,
            format!(
                "{text}: too little for a release's images; prune (`docker system prune`) or grow the disk"
            ),
        )
    } else if free < 10 * GIB || share < 15.0 {
        (Level::Warn, format!("{text}: getting low"))
    } else {
        (Level::Ok, text)
    }
}

/// Who holds one of the proxy's ports on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortHolder {
    /// Nothing: the proxy can take it.
    Free,
    /// slipway's proxy.
    OurProxy,
    /// Another container publishes it.
    Container(String),
    /// Something else listens there (the bind's error).
    OtherProcess(String),
}

/// The port row: free or our proxy's is fine; anything else would keep the proxy from starting.
pub fn port_row(role: &str, address: &str, holder: &PortHolder) -> (Level, String) {
    match holder {
        PortHolder::Free => (Level::Ok, format!("{address} ({role}) is free")),
        PortHolder::OurProxy => (
            Level::Ok,
            format!("{address} ({role}) is held by slipway's proxy"),
        ),
        PortHolder::Container(name) => (
            Level::Fail,
            format!(
                "{address} ({role}) is published by the container {name}: stop it, or give the proxy another address in slipway.toml"
            ),
        ),
        PortHolder::OtherProcess(error) => (
            Level::Fail,
            format!(
                "{address} ({role}) is held by another process ({error}): stop it, or give the proxy another address in slipway.toml"
            ),
        ),
    }
}

/// The clock row: the engine's clock against this machine's. Over 60 s apart fails (registry
/// tokens and release times go wrong), over 5 s warns.
pub fn clock_row(skew_ms: Option<i64>) -> (Level, String) {
    let Some(skew) = skew_ms else {
        return (
            Level::Warn,
            "the engine did not say its time; the clock was not compared".into(),
        );
    };
    let seconds = skew as f64 / 1000.0;
    let text = format!(
        "the engine's clock is {:.1}s {} this machine's",
        seconds.abs(),
        if skew >= 0 { "ahead of" } else { "behind" }
    );
    if skew.abs() > 60_000 {
        (
            Level::Fail,
            format!("{text}: set up time sync (NTP) on the host"),
        )
    } else if skew.abs() > 5_000 {
        (Level::Warn, text)
    } else {
        (Level::Ok, text)
    }
}

/// The registry row: any answer of the registry (an image it does not have, a login it wants)
/// means the engine reaches it; no answer (refused, unknown name, TLS, timeout) fails.
pub fn registry_row(registry: &str, answer: std::result::Result<(), &str>) -> (Level, String) {
    const ANSWERED: [&str; 8] = [
        "no basic auth credentials",
        "unauthorized",
        "authentication required",
        "manifest unknown",
        "name unknown",
        "denied",
        "not found",
        "does not exist",
    ];
    match answer {
        Ok(()) => (Level::Ok, format!("{registry} answers the engine")),
        Err(error) if ANSWERED.iter().any(|a| error.to_lowercase().contains(a)) => {
            (Level::Ok, format!("{registry} answers the engine"))
        }
        Err(error) => (
            Level::Fail,
            format!("the engine cannot reach {registry}: {error}"),
        ),
    }
}

/// `hosts check` as a table.
pub fn table(rows: &[Row]) -> String {
    let width = rows.iter().map(|r| r.host.len()).max().unwrap_or(4).max(4);
    let mut out = format!(
        "{:<width$}  {:<8}  {:<6}  DETAIL\n",
        "HOST", "CHECK", "RESULT"
    );
    for row in rows {
        let level = match row.level {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        out.push_str(&format!(
            "{:<width$}  {:<8}  {level:<6}  {}\n",
            row.host, row.check, row.detail
        ));
    }
    let failed = rows.iter().filter(|r| r.level == Level::Fail).count();
    let warned = rows.iter().filter(|r| r.level == Level::Warn).count();
    out.push_str(&format!("{failed} failed, {warned} to look at\n"));
    out
}

/// Whether any row blocks a deploy.
pub fn blocks(rows: &[Row]) -> bool {
    rows.iter().any(|r| r.level == Level::Fail)
}

/// What `check` needs from the project.
#[derive(Debug, Clone, Copy)]
pub struct CheckContext<'a> {
    /// The project's slipway.toml.
    pub manifest: &'a Manifest,
    /// The environment whose hosts are checked.
    pub environment: &'a str,
    /// The project's state dir (where the proxy's image is assembled).
    pub state_dir: &'a Path,
    /// The project's image store.
    pub store_dir: &'a Path,
}

const PROBE_ROOT: &str = "/slipway-engine-root";

/// Checks every host of a Docker environment; one row per check.
pub async fn check(ctx: CheckContext<'_>) -> Result<Vec<Row>> {
    let env = ctx.manifest.environment(ctx.environment)?.environment;
    let Target::Docker { hosts, proxy, .. } = &env.target else {
        return Err(DeployError::Plan(format!(
            "`{}` runs on ECS: `hosts check` is for environments on Docker hosts",
            ctx.environment
        )));
    };
    let plan = ProxyPlan::from_settings(proxy);
    let registry = slipway_oci::app::default_registry(ctx.manifest, env.registry.as_deref())
        .and_then(|name| ctx.manifest.registries.get(&name))
        .map(|r| r.url.clone());
    let mut tool = None;
    let mut rows = Vec::new();
    let targets: Vec<Option<&slipway_core::manifest::DockerHost>> = if hosts.is_empty() {
        vec![None]
    } else {
        hosts.iter().map(Some).collect()
    };
    for target in targets {
        let name = target.map_or("local", |h| h.url()).to_owned();
        let mut add = |check: &str, (level, detail): (Level, String)| {
            rows.push(Row {
                host: name.clone(),
                check: check.into(),
                level,
                detail,
            })
        };
        let host = match Host::connect(target).await {
            Ok(host) => host,
            Err(error) => {
                add("engine", engine_row(Err(&error.to_string())));
                continue;
            }
        };
        let before = slipway_core::time::now_nanos();
        let facts = match host.engine.facts().await {
            Ok(facts) => facts,
            Err(error) => {
                add("engine", engine_row(Err(&error.to_string())));
                continue;
            }
        };
        let after = slipway_core::time::now_nanos();
        add(
            "engine",
            engine_row(Ok((&facts.version, &facts.api_version, &facts.os))),
        );
        let skew = facts
            .system_time
            .as_deref()
            .and_then(crate::proxy_log::parse_rfc3339)
            .map(|(seconds, nanos)| {
                let engine_ms = seconds as i128 * 1000 + i128::from(nanos / 1_000_000);
                let local_ms = ((before + after) / 2 / 1_000_000) as i128;
                (engine_ms - local_ms) as i64
            });
        add("clock", clock_row(skew));

        // The disk and the ports, seen from the host itself.
        let addresses = [
            (
                "public",
                host.publish.clone().unwrap_or(plan.publish.clone()),
            ),
            (
                "metrics",
                host.metrics.clone().unwrap_or(plan.metrics.clone()),
            ),
        ];
        let probe = probe_host(&host, &ctx, &mut tool, &facts.root_dir, &addresses).await;
        let probe = match probe {
            Ok(probe) => probe,
            Err(error) => Probe {
                disk: Err(error.clone()),
                binds: addresses
                    .iter()
                    .map(|(_, (ip, port))| (format!("{ip}:{port}"), Some(error.clone())))
                    .collect(),
            },
        };
        add(
            "disk",
            disk_row(
                &facts.root_dir,
                probe.disk.as_ref().map(|s| *s).map_err(String::as_str),
            ),
        );
        let proxy_running = host.engine.is_running(PROXY_CONTAINER).await;
        for (role, (ip, port)) in &addresses {
            let address = format!("{ip}:{port}");
            let holder = match host.engine.publisher_of(ip, *port).await? {
                Some(name) if name == PROXY_CONTAINER && proxy_running => PortHolder::OurProxy,
                Some(name) => PortHolder::Container(name),
                None => match probe.binds.get(&address).cloned().flatten() {
                    None => PortHolder::Free,
                    Some(error) => PortHolder::OtherProcess(error),
                },
            };
            add("port", port_row(role, &address, &holder));
        }
        match &registry {
            Some(url) => {
                let reference = format!("{url}/slipway-hosts-check:latest");
                let answer = host.engine.registry_answer(&reference).await;
                add(
                    "registry",
                    registry_row(url, answer.as_ref().map(|_| ()).map_err(String::as_str)),
                );
            }
            None => add(
                "registry",
                (
                    Level::Warn,
                    "no registry for this environment: remote hosts could not pull images".into(),
                ),
            ),
        }
    }
    Ok(rows)
}

/// Runs `slipway proxy probe` in a throwaway container of the proxy's image on `host` (loading
/// the image first when the host lacks it).
async fn probe_host(
    host: &Host,
    ctx: &CheckContext<'_>,
    tool: &mut Option<Manifest>,
    root_dir: &str,
    addresses: &[(&str, (String, u16)); 2],
) -> std::result::Result<Probe, String> {
    if tool.is_none() {
        let plan = match &ctx.manifest.environments[ctx.environment].target {
            Target::Docker { proxy, .. } => ProxyPlan::from_settings(proxy),
            Target::Ecs(_) => unreachable!("checked by the caller"),
        };
        *tool = Some(
            crate::host::build_proxy_image(ctx.manifest, &plan, ctx.state_dir, ctx.store_dir)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let tool = tool.as_ref().expect("set above");
    crate::host::ensure_proxy_image(host, tool, ctx.state_dir, ctx.store_dir)
        .await
        .map_err(|e| format!("the proxy's image could not be loaded: {e}"))?;
    let mut command = vec![
        "proxy".to_owned(),
        "probe".into(),
        "--disk".into(),
        PROBE_ROOT.into(),
    ];
    for (_, (ip, port)) in addresses {
        command.push("--bind".into());
        command.push(format!("{ip}:{port}"));
    }
    let finished = host
        .engine
        .probe(
            PROXY_IMAGE,
            &command,
            &[format!("{root_dir}:{PROBE_ROOT}:ro")],
        )
        .await
        .map_err(|e| format!("the probe container failed: {e}"))?;
    serde_json::from_str(finished.output.trim())
        .map_err(|_| format!("the probe container said: {}", finished.output.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_fails_below_two_gib_or_five_percent_and_warns_below_ten_or_fifteen() {
        let level = |free: u64, total: u64| disk_row("/var/lib/docker", Ok((free, total))).0;
        assert_eq!(level(50 * GIB, 100 * GIB), Level::Ok);
        assert_eq!(level(GIB, 100 * GIB), Level::Fail);
        assert_eq!(level(4 * GIB, 100 * GIB), Level::Fail);
        assert_eq!(level(8 * GIB, 20 * GIB), Level::Warn);
        assert_eq!(level(12 * GIB, 100 * GIB), Level::Warn);
        assert_eq!(
            disk_row("/var/lib/docker", Ok((50 * GIB, 100 * GIB))).1,
            "50.0 GiB free of 100.0 GiB (50%) under /var/lib/docker"
        );
        assert_eq!(disk_row("/x", Err("no such file")).0, Level::Fail);
    }

    #[test]
    fn a_port_held_by_anything_but_our_proxy_blocks() {
        let level = |holder| port_row("public", "127.0.0.1:8090", &holder).0;
        assert_eq!(level(PortHolder::Free), Level::Ok);
        assert_eq!(level(PortHolder::OurProxy), Level::Ok);
        assert_eq!(level(PortHolder::Container("nginx".into())), Level::Fail);
        let (level, detail) = port_row(
            "metrics",
            "127.0.0.1:9190",
            &PortHolder::OtherProcess("Address in use (os error 98)".into()),
        );
        assert_eq!(level, Level::Fail);
        assert!(
            detail.starts_with("127.0.0.1:9190 (metrics) is held by another process"),
            "{detail}"
        );
    }

    #[test]
    fn clocks_more_than_a_minute_apart_block() {
        assert_eq!(clock_row(Some(300)).0, Level::Ok);
        assert_eq!(clock_row(Some(-7_000)).0, Level::Warn);
        assert_eq!(clock_row(Some(90_000)).0, Level::Fail);
        assert_eq!(
            clock_row(Some(-7_000)).1,
            "the engine's clock is 7.0s behind this machine's"
        );
        assert_eq!(clock_row(None).0, Level::Warn);
    }

    #[test]
    fn a_registry_that_answers_anything_is_reachable() {
        let row = |answer| registry_row("127.0.0.1:5000", answer).0;
        assert_eq!(row(Ok(())), Level::Ok);
        assert_eq!(
            row(Err(
                "Head \"http://127.0.0.1:5000/v2/x/manifests/latest\": no basic auth credentials"
            )),
            Level::Ok
        );
        assert_eq!(row(Err("manifest unknown: manifest unknown")), Level::Ok);
        assert_eq!(
            row(Err(
                "Get \"http://127.0.0.1:5999/v2/\": dial tcp 127.0.0.1:5999: connect: connection refused"
            )),
            Level::Fail
        );
        assert_eq!(
            row(Err("x509: certificate signed by unknown authority")),
            Level::Fail
        );
    }

    #[test]
    fn an_unreachable_engine_blocks_and_the_table_counts_problems() {
        assert_eq!(engine_row(Err("connection refused")).0, Level::Fail);
        let rows = vec![
            Row {
                host: "local".into(),
                check: "engine".into(),
                level: Level::Ok,
                detail: "Docker Engine 26.1.5".into(),
            },
            Row {
                host: "ssh://deploy@two".into(),
                check: "port".into(),
                level: Level::Fail,
                detail: "held".into(),
            },
        ];
        assert!(blocks(&rows));
        assert!(!blocks(&rows[..1]));
        let text = table(&rows);
        assert!(
            text.contains("ssh://deploy@two  port      FAIL    held"),
            "{text}"
        );
        assert!(text.ends_with("1 failed, 0 to look at\n"), "{text}");
    }

    #[test]
    fn the_probe_measures_a_disk_and_finds_a_held_port() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = held.local_addr().unwrap().to_string();
        let probe = probe_here(Path::new("/"), std::slice::from_ref(&address));
        let (free, total) = probe.disk.unwrap();
        assert!(total > 0 && free <= total);
        assert!(probe.binds[&address].is_some());
        drop(held);
        let probe = probe_here(Path::new("/no/such/dir"), std::slice::from_ref(&address));
        assert!(probe.disk.is_err());
        assert_eq!(probe.binds[&address], None);
    }
}
