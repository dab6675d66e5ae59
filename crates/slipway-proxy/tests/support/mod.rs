//! What the proxy's test binaries share: a proxy on loopback with its state in a temporary
//! directory, and the admin commands that route every path to one app.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use slipway_proxy::admin::{Answer, Command, HealthCheck, send};
use slipway_proxy::limits::Limits;
use slipway_proxy::table::Group;
use slipway_proxy::{Config, Proxy};

/// A proxy serving plain HTTP on a port the OS chose.
pub struct Running {
    pub url: String,
    pub address: String,
    pub socket: PathBuf,
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts a proxy whose socket and table are in `dir` (a restart in the same `dir` finds its
/// routes again).
pub async fn start_proxy(dir: &Path) -> Running {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        listen_tls: None,
        metrics: None,
        admin_socket: dir.join("admin.sock"),
        state_file: dir.join("routes.json"),
    };
    let proxy = Proxy::bind(&config).await.unwrap();
    let address = proxy.public_address().to_string();
    let task = tokio::spawn(proxy.run());
    Running {
        url: format!("http://{address}"),
        address,
        socket: config.admin_socket,
        task,
    }
}

/// Sends `command` and asserts that the proxy took it.
pub async fn ok(socket: &Path, command: Command) -> Answer {
    let answer = send(socket, &command).await.unwrap();
    assert!(answer.ok, "{command:?} failed: {:?}", answer.error);
    answer
}

/// Gates `target` (its `/health` answering once) and routes every path of `shop/prod/web` to
/// it, release `r1`, with `limits`.
pub async fn route_everything_to(socket: &Path, target: &str, limits: Limits) {
    let check = HealthCheck {
        path: "/health".into(),
        interval_ms: 50,
        timeout_ms: 500,
        healthy: 1,
        deadline_ms: 5_000,
    };
    let gate = Command::Gate {
        targets: vec![target.into()],
        check,
    };
    ok(socket, gate).await;
    let set = Command::Set {
        service: "shop/prod/web".into(),
        host: None,
        path: "/".into(),
        groups: vec![Group {
            release: "r1".into(),
            weight: 100,
            targets: vec![target.into()],
        }],
        drain_ms: 0,
        limits,
    };
    ok(socket, set).await;
}
