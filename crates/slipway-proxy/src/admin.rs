//! The admin protocol: one JSON command per connection on a unix socket, one JSON answer.
//! Only processes that can reach the socket (slipway, through `docker exec` into the proxy's
//! container) give orders; the public port never takes any.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::limits::Limits;
use crate::metrics::Snapshot;
use crate::table::{Group, Maintenance};
use crate::{ProxyError, Result};

/// A request on the proxy's admin socket, one JSON line each way.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Command {
    /// Wait until every target answered `healthy` consecutive checks; afterwards they may be routed to.
    Gate {
        /// `host:port` of each target to check.
        targets: Vec<String>,
        /// How to check them.
        check: HealthCheck,
    },
    /// Replace a service's route and split; targets that lose their traffic are drained.
    Set {
        /// The service's name (`api`).
        service: String,
        /// The Host header it answers; `None` for any host.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        /// The path prefix it answers (`/api`).
        path: String,
        /// Its releases and their weights.
        groups: Vec<Group>,
        /// How long targets that lose their traffic may finish their requests, in milliseconds.
        #[serde(default)]
        drain_ms: u64,
        /// The route's limits; each one left out takes the proxy's default.
        #[serde(default, skip_serializing_if = "Limits::is_default")]
        limits: Limits,
    },
    /// Forget a service (after draining it).
    Remove {
        /// The service's name.
        service: String,
        /// How long its requests may finish, in milliseconds.
        #[serde(default)]
        drain_ms: u64,
    },
    /// Answer a scope's routes (`project/env`, or `project/env/app`) with 503 and a message
    /// instead of forwarding them, until `maintenance-off`; kept across restarts.
    MaintenanceOn {
        /// `project/env` or `project/env/app`.
        scope: String,
        /// What its routes answer.
        maintenance: Maintenance,
    },
    /// Forward a scope's routes again. With `within`, every scope inside it ends too (an
    /// environment's and each of its apps').
    MaintenanceOff {
        /// `project/env` or `project/env/app`.
        scope: String,
        /// Also end the scopes inside `scope`.
        #[serde(default)]
        within: bool,
    },
    /// Routes, weights, in-flight requests and counters.
    Status,
    /// Serve a host over HTTPS with the certificate and key put in `tls/incoming/<host>.pem`
    /// (checked before it replaces the one in use), or, with no `site`, stop serving it over
    /// HTTPS.
    Tls {
        /// The host name, e.g. `shop.example.com`.
        host: String,
        /// How the host is served; `None` takes it off HTTPS.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        site: Option<crate::tls::TlsSite>,
        /// Whether a new certificate waits in `incoming/`; without one the installed one stays.
        /// Ignored for a site whose certificate comes from ACME: the proxy orders one when it
        /// has none, or none from that directory, and answers once it has it.
        #[serde(default)]
        certificate: bool,
    },
    /// Sign in to an ACME directory from this proxy (registering its account there if it has
    /// none yet), so a directory that does not answer stops a deploy before it changes anything.
    AcmeCheck {
        /// The directory and account.
        acme: crate::acme::AcmeSpec,
    },
}

/// The health check a gate runs against each target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthCheck {
    /// e.g. `/health`
    pub path: String,
    /// Time between two checks of a target, in milliseconds.
    pub interval_ms: u64,
    /// How long one check may take, in milliseconds.
    pub timeout_ms: u64,
    /// Consecutive successes needed.
    pub healthy: u32,
    /// Give up after this long.
    pub deadline_ms: u64,
}

/// The proxy's reply to a `Command`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Answer {
    /// Whether the command was carried out.
    pub ok: bool,
    /// Why not, when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `Gate`: milliseconds each target took to pass.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gated_ms: BTreeMap<String, u64>,
    /// `Set`/`Remove`: targets whose in-flight requests did not finish within the drain time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undrained: Vec<String>,
    /// Carried out, but with something a person should know (an ACME order that failed while
    /// the host's current certificate still serves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// `MaintenanceOff`: the scopes whose maintenance ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ended: Vec<String>,
    /// `Status`: the routing table with its live counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

/// The routing table as `Command::Status` reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    /// Service name → its route and releases.
    pub services: BTreeMap<String, ServiceStatus>,
    /// Hosts served over HTTPS.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tls: BTreeMap<String, crate::tls::TlsSite>,
    /// Scopes in maintenance (`project/env`, `project/env/app`) → what they answer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub maintenance: BTreeMap<String, Maintenance>,
    /// Hosts whose certificate comes from ACME → its expiry, next order and last failure.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub acme: BTreeMap<String, crate::acme::AcmeStatus>,
}

/// One service's route and the releases behind it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// The Host header it answers; `None` for any host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The path prefix it answers.
    pub path: String,
    /// Its releases, each with its weight and counters.
    pub releases: Vec<ReleaseStatus>,
    /// The route's limits as set (each one left out is the proxy's default).
    #[serde(default, skip_serializing_if = "Limits::is_default")]
    pub limits: Limits,
}

/// One release of a service: its share of the traffic, targets and counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReleaseStatus {
    /// The release's name (`r3`).
    pub release: String,
    /// Its relative weight; 0 is registered but idle.
    pub weight: u32,
    /// `host:port` of its containers.
    pub targets: Vec<String>,
    /// Requests being served right now.
    pub inflight: usize,
    /// Requests, errors and latencies since the proxy started.
    pub metrics: Snapshot,
}

impl Answer {
    /// An answer that says the command was carried out, and no more.
    pub fn ok() -> Answer {
        Answer {
            ok: true,
            ..Default::default()
        }
    }

    /// An answer that says the command failed, and why.
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
