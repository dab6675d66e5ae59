//! The admin protocol: one JSON command per connection on a unix socket, one JSON answer.
//! Only processes that can reach the socket (slipway, through `docker exec` into the proxy's
//! container) give orders; the public port never takes any.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::metrics::Snapshot;
use crate::table::Group;
use crate::{ProxyError, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Command {
    /// Wait until every target answered `healthy` consecutive checks; afterwards they may be routed to.
    Gate {
        targets: Vec<String>,
        check: HealthCheck,
    },
    /// Replace a service's route and split; targets that lose their traffic are drained.
    Set {
        service: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        path: String,
        groups: Vec<Group>,
        #[serde(default)]
        drain_ms: u64,
    },
    /// Forget a service (after draining it).
    Remove {
        service: String,
        #[serde(default)]
        drain_ms: u64,
    },
    /// Routes, weights, in-flight requests and counters.
    Status,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthCheck {
    /// e.g. `/health`
    pub path: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    /// Consecutive successes needed.
    pub healthy: u32,
    /// Give up after this long.
    pub deadline_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Answer {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `Gate`: milliseconds each target took to pass.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gated_ms: BTreeMap<String, u64>,
    /// `Set`/`Remove`: targets whose in-flight requests did not finish within the drain time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undrained: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    pub services: BTreeMap<String, ServiceStatus>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServiceStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub path: String,
    pub releases: Vec<ReleaseStatus>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReleaseStatus {
    pub release: String,
    pub weight: u32,
    pub targets: Vec<String>,
    pub inflight: usize,
    pub metrics: Snapshot,
}

impl Answer {
    pub fn failed(error: impl Into<String>) -> Answer {
        Answer {
            ok: false,
            error: Some(error.into()),
            ..Default::default()
        }
    }
}

/// Sends one command to a proxy's admin socket and waits for its answer.
pub async fn send(socket: &Path, command: &Command) -> Result<Answer> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|source| ProxyError::Io {
            path: socket.to_path_buf(),
            source,
        })?;
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_string(command).map_err(ProxyError::Encode)?;
    line.push('\n');
    let io = |source| ProxyError::Io {
        path: socket.to_path_buf(),
        source,
    };
    write.write_all(line.as_bytes()).await.map_err(io)?;
    let mut answer = String::new();
    BufReader::new(read)
        .read_line(&mut answer)
        .await
        .map_err(io)?;
    serde_json::from_str(&answer).map_err(|source| ProxyError::Answer {
        answer: answer.clone(),
        source,
    })
}
