//! slipway's reverse proxy. One runs on each Docker host, owns the public port of the apps on
//! that host and forwards each request to a container of the release its service's split picks.
//! Releases change only through the admin socket: a health gate first, then a new split; the
//! targets that lose their traffic are drained before the answer comes back, so the caller can
//! stop them without cutting a request. The table is persisted on every change, so a restarted
//! proxy routes as before, whether slipway runs or not.

#![warn(missing_docs)]

pub mod access_log;
pub mod acme;
pub mod admin;
pub mod error_page;
pub mod limits;
pub mod maintenance;
pub mod metrics;
mod passthrough;
pub mod table;
pub mod tls;
mod upstream;
mod websocket;
pub mod x509;

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener};

use crate::admin::{Answer, Command, HealthCheck, ReleaseStatus, ServiceStatus, Status};
use crate::error_page::Fault;
use crate::limits::{IdleWatch, ReadBody};
use crate::metrics::{ReleaseMetrics, Snapshot};
use crate::table::{Service, Table};
use crate::upstream::Upstreams;

/// What stops the proxy, or a command to it, from working.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A socket could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address asked for.
        address: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The admin socket's exchange went wrong in a way described by the text.
    #[error("{0}")]
    Protocol(String),
    /// A command to the admin socket that does not serialize.
    #[error("{0}")]
    Encode(#[source] serde_json::Error),
    /// The proxy's answer on the admin socket is not what it should be.
    #[error("the proxy answered `{answer}`: {source}")]
    Answer {
        /// The line the proxy answered.
        answer: String,
        /// Why it does not read as an answer.
        #[source]
        source: serde_json::Error,
    },
    /// The routing table's state file does not read.
    #[error("{path}: {source}")]
    State {
        /// The state file.
        path: PathBuf,
        /// Why it does not read as a routing table.
        #[source]
        source: serde_json::Error,
    },
}

/// The outcome of a proxy operation.
pub type Result<T, E = ProxyError> = std::result::Result<T, E>;

/// Where the proxy listens and keeps its state.
#[derive(Debug, Clone)]
pub struct Config {
    /// The public address, e.g. `0.0.0.0:80`.
    pub listen: SocketAddr,
    /// The public HTTPS address, e.g. `0.0.0.0:443`, for hosts with a certificate.
    pub listen_tls: Option<SocketAddr>,
    /// Where `/metrics` is served; never the public address.
    pub metrics: Option<SocketAddr>,
    /// The Unix socket slipway sends `admin::Command`s to.
    pub admin_socket: PathBuf,
    /// Where the routing table is kept across restarts.
    pub state_file: PathBuf,
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

#[derive(Debug)]
struct Shared {
    table: RwLock<Table>,
    inflight: Mutex<HashMap<String, Arc<AtomicUsize>>>,
    /// service → release → counters
    metrics: Mutex<HashMap<String, HashMap<String, Arc<ReleaseMetrics>>>>,
    requests: AtomicU64,
    client: Client<HttpConnector, Full<Bytes>>,
    state_file: PathBuf,
    /// The hosts' certificates, picked by SNI on the TLS port.
    certificates: Arc<tls::Certificates>,
    /// One admin command at a time: a split is never computed from a stale table.
    admin: tokio::sync::Mutex<()>,
    /// Open WebSocket tunnels by target, closed by the switch that drains their target.
    tunnels: websocket::Tunnels,
    /// Where each request's line goes, when requests are logged.
    access_log: Option<access_log::AccessLog>,
    /// What a new client connection takes from the table's limits.
    connections: limits::Connections,
    /// ACME hosts → their failed orders, for back-off and `status`.
    acme: Mutex<HashMap<String, acme::AcmeStatus>>,
    /// One ACME order at a time, whether the renewal loop or a deploy asks for it.
    acme_orders: tokio::sync::Mutex<()>,
    /// Wakes the renewal loop when a host's certificate starts coming from ACME.
    acme_wake: tokio::sync::Notify,
}

/// A proxy with its sockets bound, ready to run.
#[derive(Debug)]
pub struct Proxy {
    shared: Arc<Shared>,
    public: TcpListener,
    public_tls: Option<TcpListener>,
    metrics: Option<TcpListener>,
    admin: UnixListener,
}

impl Proxy {
    /// Loads the persisted table and binds every socket, so a bad address fails before serving.
    pub async fn bind(config: &Config) -> Result<Proxy> {
        let shared = Arc::new(Shared::load(&config.state_file)?);
        let public = bind_tcp(config.listen).await?;
        let public_tls = match config.listen_tls {
            Some(address) => Some(bind_tcp(address).await?),
            None => None,
        };
        let metrics = match config.metrics {
            Some(address) => Some(bind_tcp(address).await?),
            None => None,
        };
        if let Some(parent) = config.admin_socket.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ProxyError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let _ = std::fs::remove_file(&config.admin_socket);
        let admin = UnixListener::bind(&config.admin_socket).map_err(|source| ProxyError::Io {
            path: config.admin_socket.clone(),
            source,
        })?;
        Ok(Proxy {
            shared,
            public,
            public_tls,
            metrics,
            admin,
        })
    }

    /// Logs every request on the public port to `log`, one JSON line each.
    pub fn with_access_log(mut self, log: access_log::AccessLog) -> Proxy {
        Arc::get_mut(&mut self.shared)
            .expect("the proxy has not started")
            .access_log = Some(log);
        self
    }

    /// The address the public listener is bound to (with the port the OS chose for port 0).
    pub fn public_address(&self) -> SocketAddr {
        self.public
            .local_addr()
            .expect("a bound socket has an address")
    }

    /// The address HTTPS is served on, when it is served.
    pub fn tls_address(&self) -> Option<SocketAddr> {
        self.public_tls
            .as_ref()
            .map(|l| l.local_addr().expect("a bound socket has an address"))
    }

    /// The address `/metrics` is served on, when it is served.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .map(|m| m.local_addr().expect("a bound socket has an address"))
    }

    /// Serves until the task is dropped.
    pub async fn run(self) {
        let Proxy {
            shared,
            public,
            public_tls,
            metrics,
            admin,
        } = self;
        if let Some(listener) = metrics {
            tokio::spawn(serve_metrics(listener, shared.clone()));
        }
        let _abort_tls = public_tls
            .map(|listener| AbortOnDrop(tokio::spawn(serve_tls(listener, shared.clone()))));
        let admin_task = tokio::spawn(serve_admin(admin, shared.clone()));
        let _abort_admin = AbortOnDrop(admin_task);
        let _abort_renewals = AbortOnDrop(tokio::spawn(renew_certificates(shared.clone())));
        // Every request arms a timeout. Arming a timer that is due before the timer driver's
        // next wake-up makes the runtime wake its driver (an eventfd write and one more epoll
        // round per request); a tick that is always due sooner than any request's timeout
        // takes that cost away from the hot path.
        let tick_task = tokio::spawn(async {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let _abort_tick = AbortOnDrop(tick_task);
        loop {
            let Ok((stream, remote)) = public.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(passthrough::serve(stream, remote, shared.clone(), false));
        }
    }
}

/// The hyper service of a client connection: each request through [`Shared::forward`], busy
/// on the connection's idle watch until answered.
fn forwarding(
    shared: Arc<Shared>,
    remote: SocketAddr,
    upstreams: Arc<Upstreams>,
    idle: Arc<IdleWatch>,
    https: bool,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<ProxyBody>,
    Error = Infallible,
    Future = impl Future<Output = std::result::Result<Response<ProxyBody>, Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |request| {
        let shared = shared.clone();
        let upstreams = upstreams.clone();
        let idle = idle.clone();
        async move {
            let _busy = idle.enter();
            Ok::<_, Infallible>(
                shared
                    .forward(request, remote, &upstreams, &idle, https)
                    .await,
            )
        }
    })
}

/// Serves an HTTP/1 client connection with hyper, every request through [`Shared::forward`]:
/// the requests the pass-through path (`passthrough`) leaves to the general one.
async fn serve_http1<IO>(io: IO, remote: SocketAddr, shared: Arc<Shared>, https: bool)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let upstreams = Arc::new(Upstreams::default());
    let idle = Arc::new(shared.connections.watch());
    let head_limit = shared.connections.head_limit();
    let service = forwarding(shared, remote, upstreams.clone(), idle.clone(), https);
    let served = limits::http1(head_limit)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let served = limits::close_when_idle(served, &idle, |c| c.graceful_shutdown());
    upstream::drive(served, &upstreams).await;
}

#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn bind_tcp(address: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ProxyError::Listen {
            address: address.to_string(),
            source,
        })
}

impl Shared {
    fn load(state_file: &Path) -> Result<Shared> {
        let table = match std::fs::read(state_file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| ProxyError::State {
                path: state_file.to_path_buf(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Table::default(),
            Err(source) => {
                return Err(ProxyError::Io {
                    path: state_file.to_path_buf(),
                    source,
                });
            }
        };
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(3)));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let certificates = Arc::new(tls::Certificates::default());
        let tls_dir = tls::directory(state_file);
        for host in table.tls.keys() {
            match tls::load_file(&tls::installed_file(&tls_dir, host), host) {
                Ok(key) => certificates.insert(host, key),
                Err(error) => eprintln!("slipway proxy: {host} is not served over HTTPS: {error}"),
            }
        }
        let connections = limits::Connections::new(table.services.values().map(|s| &s.limits));
        Ok(Shared {
            certificates,
            connections,
            table: RwLock::new(table),
            inflight: Mutex::default(),
            metrics: Mutex::default(),
            requests: AtomicU64::new(0),
            client,
            state_file: state_file.to_path_buf(),
            admin: tokio::sync::Mutex::new(()),
            tunnels: websocket::Tunnels::default(),
            access_log: None,
            acme: Mutex::default(),
            acme_orders: tokio::sync::Mutex::new(()),
            acme_wake: tokio::sync::Notify::new(),
        })
    }

    fn persist(&self, table: &Table) -> Result<()> {
        let io = |source| ProxyError::Io {
            path: self.state_file.clone(),
            source,
        };
        if let Some(parent) = self.state_file.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let bytes = serde_json::to_vec_pretty(table).expect("the table serializes");
        slipway_core::files::write_atomic(&self.state_file, slipway_core::files::PRIVATE, &bytes)
            .map_err(io)
    }

    // Both run for every request: a lookup first, an allocation only the first time.
    fn counter(&self, target: &str) -> Arc<AtomicUsize> {
        let mut inflight = self.inflight.lock().expect("not poisoned");
        if let Some(counter) = inflight.get(target) {
            return counter.clone();
        }
        inflight.entry(target.to_owned()).or_default().clone()
    }

    fn metrics_of(&self, service: &str, release: &str) -> Arc<ReleaseMetrics> {
        let mut metrics = self.metrics.lock().expect("not poisoned");
        let releases = match metrics.get_mut(service) {
            Some(releases) => releases,
            None => metrics.entry(service.to_owned()).or_default(),
        };
        if let Some(release) = releases.get(release) {
            return release.clone();
        }
        releases.entry(release.to_owned()).or_default().clone()
    }

    async fn forward(
        &self,
        request: Request<Incoming>,
        remote: SocketAddr,
        upstreams: &Upstreams,
        idle: &IdleWatch,
        https: bool,
    ) -> Response<ProxyBody> {
        let Some(log) = &self.access_log else {
            return self
                .route(request, remote, upstreams, idle, https, &mut None)
                .await;
        };
        let mut pending = Some(Pending {
            log: log.clone(),
            arrived: Instant::now(),
            unix_ms: unix_ms(),
            host: host_of(&request),
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
            status: 0,
            service: None,
            release: None,
            target: None,
            bytes: 0,
        });
        let response = self
            .route(request, remote, upstreams, idle, https, &mut pending)
            .await;
        // Not taken by a forwarded body: the answer is the proxy's own, logged now.
        if let Some(mut pending) = pending {
            pending.status = response.status().as_u16();
            pending.bytes = response.body().size_hint().exact().unwrap_or(0);
        }
        response
    }

    /// A release and a target for a request to `host` and `path`, avoiding `failed`; the
    /// request counts as in flight for the target before the table's read lock is let go, so
    /// that a switch (which takes the write lock) waits for it and a drained target is never
    /// picked after its drain ended.
    fn pick(&self, host: Option<&str>, path: &str, failed: &[String]) -> Option<Picked> {
        let table = self.table.read().expect("not poisoned");
        self.pick_in(&table, host, path, failed)
    }

    /// [`Shared::pick`] on a table already read.
    fn pick_in(
        &self,
        table: &Table,
        host: Option<&str>,
        path: &str,
        failed: &[String],
    ) -> Option<Picked> {
        let (name, service) = table.route(host, path)?;
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let (release, target) = service.pick(n, failed)?;
        Some(Picked {
            service: name.to_owned(),
            release: release.to_owned(),
            target: target.to_owned(),
            inflight: InFlight::enter(self.counter(target)),
        })
    }

    /// Routes a request and sends it to a target. `pending` (when requests are logged) gets
    /// the pick of each attempt, and moves into the body of a forwarded answer.
    async fn route(
        &self,
        request: Request<Incoming>,
        remote: SocketAddr,
        upstreams: &Upstreams,
        idle: &limits::IdleWatch,
        https: bool,
        pending: &mut Option<Pending>,
    ) -> Response<ProxyBody> {
        let host = host_of(&request);
        let path = request.uri().path().to_owned();
        if !https
            && let Some(token) = path.strip_prefix(tls::ACME_CHALLENGE_PREFIX)
            && let Some(answer) = self.certificates.challenges.http(token)
        {
            return plain(StatusCode::OK, answer);
        }
        let (hsts, limits) = {
            let table = self.table.read().expect("not poisoned");
            if !https
                && !table.tls.is_empty()
                && let Some(location) = tls::redirect(
                    &table.tls,
                    host.as_deref(),
                    request.uri().path_and_query().map_or("/", |p| p.as_str()),
                )
            {
                return moved_permanently(&location);
            }
            let Some((name, service)) = table.route(host.as_deref(), &path) else {
                return error_page::response(Fault::NoRoute, request.headers());
            };
            if let Some(maintenance) = table.maintenance_of(name) {
                if let Some(pending) = pending.as_mut() {
                    pending.service = Some(name.to_owned());
                }
                let accept = request
                    .headers()
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok());
                return in_maintenance(maintenance, accept);
            }
            (
                https && tls::hsts(&table.tls, host.as_deref()),
                service.limits,
            )
        };
        idle.set_idle_timeout(limits.idle_timeout());
        if let Some(fault) = limits::check_head(
            &limits,
            request.method(),
            request.uri(),
            request.headers(),
            request.body().size_hint().exact(),
        ) {
            self.log_service(pending, host.as_deref(), &path);
            let (parts, body) = request.into_parts();
            // A client waiting for `100 Continue` has not sent its body, and never will.
            if !limits::expects_continue(&parts.headers) {
                limits::drain(body).await;
            }
            return error_page::response(fault, &parts.headers);
        }
        if websocket::is_upgrade(request.headers()) {
            return self
                .upgrade(request, remote, host, &path, https, limits.timeout())
                .await;
        }
        let (mut parts, body) = request.into_parts();
        // Upstream is HTTP/1.1 whatever the client spoke; an HTTP/2 request names its host
        // in the authority only.
        parts.version = http::Version::HTTP_11;
        if !parts.headers.contains_key(header::HOST)
            && let Some(value) = host.as_deref().and_then(|h| HeaderValue::from_str(h).ok())
        {
            parts.headers.insert(header::HOST, value);
        }
        // A body read whole can be sent again; a streamed one goes to one target only.
        let (whole, mut streamed) = match limits::read_body(body, limits.max_body()).await {
            ReadBody::Whole(bytes) => (bytes, None),
            ReadBody::Streamed(streamed) => (Bytes::new(), Some(streamed)),
            ReadBody::TooLarge(rest) => {
                self.log_service(pending, host.as_deref(), &path);
                limits::drain(rest).await;
                let fault = Fault::BodyTooLarge(limits.max_body());
                return error_page::response(fault, &parts.headers);
            }
            ReadBody::Failed => return error_page::response(Fault::BadRequest, &parts.headers),
        };
        let progress = streamed.as_ref().map(|s| s.progress());
        strip_hop_by_hop(&mut parts.headers);
        forwarded_headers(&mut parts.headers, remote, host.as_deref(), https);
        let idempotent = idempotent(parts.method.as_str().as_bytes());
        // Origin form: the connection already names the target.
        parts.uri = origin_form(&parts.uri);
        let mut failed: Vec<String> = Vec::new();
        let mut last_error = None;
        let mut service_name = String::new();
        for attempt in 0..3 {
            // Each attempt routes on the current table.
            let picked = self.pick(host.as_deref(), &path, &failed);
            let Some(Picked {
                service: name,
                release,
                target,
                inflight,
            }) = picked
            else {
                if attempt == 0 {
                    self.log_service(pending, host.as_deref(), &path);
                    return error_page::response(Fault::NoRelease, &parts.headers);
                }
                break;
            };
            if let Some(pending) = pending.as_mut() {
                pending.service = Some(name.clone());
                pending.release = Some(release.clone());
                pending.target = Some(target.clone());
            }
            service_name = name;
            let body = match streamed.take() {
                Some(streamed) => limits::Outgoing::Streamed(streamed),
                None => limits::Outgoing::whole(whole.clone()),
            };
            let upstream = Request::from_parts(parts.clone(), body);
            let metrics = self.metrics_of(&service_name, &release);
            let started = Instant::now();
            let answer = limits::within(
                limits.timeout(),
                progress.as_deref(),
                upstreams.send(&target, upstream),
            );
            match answer.await {
                Some(Ok(response)) => {
                    metrics.record(started.elapsed(), response.status().is_server_error());
                    let (parts, body) = response.into_parts();
                    let status = parts.status.as_u16();
                    let mut response = Response::from_parts(
                        parts,
                        Tracked {
                            inner: body,
                            _inflight: inflight,
                            log: pending.take().map(|mut pending| {
                                pending.status = status;
                                pending
                            }),
                        }
                        .boxed(),
                    );
                    strip_hop_by_hop(response.headers_mut());
                    if hsts {
                        response.headers_mut().insert(
                            header::STRICT_TRANSPORT_SECURITY,
                            HeaderValue::from_static(tls::HSTS_VALUE),
                        );
                    }
                    return response;
                }
                Some(Err(error)) => {
                    if progress.as_ref().is_some_and(|p| p.over_limit()) {
                        // The client's body, not the app, was at fault.
                        return error_page::response(
                            Fault::BodyTooLarge(limits.max_body()),
                            &parts.headers,
                        );
                    }
                    metrics.record(started.elapsed(), true);
                    last_error = Some(format!("{target}: {error}"));
                    let retry = progress.is_none() && (idempotent || error.is_connect());
                    failed.push(target);
                    if !retry {
                        break;
                    }
                }
                None => {
                    metrics.record(started.elapsed(), true);
                    return error_page::response(Fault::Timeout, &parts.headers);
                }
            }
        }
        let last_error = last_error.as_deref().unwrap_or("no target");
        eprintln!("{service_name}: no target answered {path}: {last_error}");
        error_page::response(Fault::Unreachable, &parts.headers)
    }

    /// Names the service of a request the proxy refused itself in its access-log line (a
    /// refusal is rare: the route is looked up again rather than kept for every request).
    fn log_service(&self, pending: &mut Option<Pending>, host: Option<&str>, path: &str) {
        if let Some(pending) = pending.as_mut() {
            let table = self.table.read().expect("not poisoned");
            pending.service = table.route(host, path).map(|(name, _)| name.to_owned());
        }
    }

    async fn command(&self, command: Command) -> Answer {
        // An ACME order takes seconds: it holds no lock other commands wait for.
        match command {
            Command::Tls {
                host,
                site: Some(site),
                ..
            } if site.acme.is_some() => return self.set_acme(&host, site).await,
            Command::AcmeCheck { acme } => {
                return match acme::account(&self.acme_dir(), &acme).await {
                    Ok(_) => Answer::ok(),
                    Err(error) => Answer::failed(error),
                };
            }
            _ => {}
        }
        let _one_at_a_time = self.admin.lock().await;
        match command {
            Command::Gate { targets, check } => self.gate(targets, check).await,
            Command::Set {
                service,
                host,
                path,
                groups,
                drain_ms,
                limits,
            } => {
                if groups.iter().any(|g| g.weight > 0 && g.targets.is_empty()) {
                    return Answer::failed("a release with weight above 0 needs targets");
                }
                if let Some(problem) = limits.problem() {
                    return Answer::failed(problem);
                }
                let normal = |p: &str| p.trim_end_matches('/').to_owned();
                if let Some((other, _)) = self
                    .table
                    .read()
                    .expect("not poisoned")
                    .services
                    .iter()
                    .find(|(name, s)| {
                        **name != service && s.host == host && normal(&s.path) == normal(&path)
                    })
                {
                    return Answer::failed(format!(
                        "{} {path} is already routed to {other}; give one of them its own `route = {{ host = \"...\" }}`",
                        host.as_deref().unwrap_or("any host,")
                    ));
                }
                let next = {
                    let table = self.table.read().expect("not poisoned");
                    let mut next = table.clone();
                    next.services.insert(
                        service,
                        Service {
                            host,
                            path,
                            groups,
                            limits,
                        },
                    );
                    next
                };
                if let Some(ungated) = next
                    .routable_targets()
                    .into_iter()
                    .find(|t| !next.gated.contains(t))
                {
                    return Answer::failed(format!(
                        "{ungated} has not passed a health gate; it is never routed to before it does"
                    ));
                }
                self.switch(next, drain_ms).await
            }
            Command::Remove { service, drain_ms } => {
                let next = {
                    let mut next = self.table.read().expect("not poisoned").clone();
                    next.services.remove(&service);
                    next
                };
                self.switch(next, drain_ms).await
            }
            Command::MaintenanceOn { scope, maintenance } => {
                if maintenance
                    .page
                    .as_ref()
                    .is_some_and(|p| p.len() > maintenance::PAGE_LIMIT)
                {
                    return Answer::failed(format!(
                        "the maintenance page is larger than {} KiB",
                        maintenance::PAGE_LIMIT / 1024
                    ));
                }
                let mut next = self.table.read().expect("not poisoned").clone();
                next.maintenance.insert(scope, maintenance);
                self.install(next)
            }
            Command::MaintenanceOff { scope, within } => {
                let mut next = self.table.read().expect("not poisoned").clone();
                let ended = next.maintenance_ended_by(&scope, within);
                for scope in &ended {
                    next.maintenance.remove(scope);
                }
                Answer {
                    ended,
                    ..self.install(next)
                }
            }
            Command::Status => Answer {
                ok: true,
                status: Some(self.status()),
                ..Default::default()
            },
            Command::Tls {
                host,
                site,
                certificate,
            } => self.set_tls(&host, site, certificate),
            Command::AcmeCheck { .. } => unreachable!("answered above"),
        }
    }

    fn acme_dir(&self) -> PathBuf {
        tls::directory(&self.state_file).join("acme")
    }

    /// Serves a host with a certificate from ACME: ordered now when the host has none, or none
    /// from this directory, then renewed by `renew_certificates`. A failed order keeps the
    /// certificate the host has, with a warning; without one it is an error.
    async fn set_acme(&self, host: &str, site: tls::TlsSite) -> Answer {
        let host = tls::host_name(host);
        let spec = site.acme.clone().expect("an ACME site");
        let changed_source = {
            let _one_at_a_time = self.admin.lock().await;
            let mut next = self.table.read().expect("not poisoned").clone();
            let before = next.tls.insert(host.clone(), site.clone());
            if before.as_ref() != Some(&site) {
                if let Err(error) = self.persist(&next) {
                    return Answer::failed(error.to_string());
                }
                *self.table.write().expect("not poisoned") = next;
            }
            before.and_then(|b| b.acme) != Some(spec.clone())
        };
        let answer = if changed_source || !self.certificates.has(&host) {
            self.acme.lock().expect("not poisoned").remove(&host);
            match self.renew(&host, &spec, false).await {
                Ok(()) => Answer::ok(),
                Err(error) if self.certificates.has(&host) => Answer {
                    warning: Some(format!("{error}; {host} keeps the certificate it has")),
                    ..Answer::ok()
                },
                Err(error) => Answer::failed(error),
            }
        } else {
            Answer::ok()
        };
        self.acme_wake.notify_one();
        answer
    }

    /// Orders a certificate for `host` and serves it; a failure is counted for the back-off
    /// and kept for `status`, and the host keeps the certificate it has.
    async fn renew(
        &self,
        host: &str,
        spec: &acme::AcmeSpec,
        only_if_due: bool,
    ) -> std::result::Result<(), String> {
        let _one_order_at_a_time = self.acme_orders.lock().await;
        if only_if_due {
            // A deploy may have ordered it while this waited for the lock.
            let status = self
                .acme
                .lock()
                .expect("not poisoned")
                .get(host)
                .cloned()
                .unwrap_or_default();
            if acme::next_attempt(self.validity(host), &status, unix_now()) > unix_now() {
                return Ok(());
            }
        }
        let obtained = acme::obtain(&self.acme_dir(), spec, host, &self.certificates.challenges)
            .await
            .and_then(|issued| acme::keep(&tls::directory(&self.state_file), host, &issued));
        let mut statuses = self.acme.lock().expect("not poisoned");
        match obtained {
            Ok(key) => {
                self.certificates.insert(host, key);
                statuses.remove(host);
                eprintln!(
                    "slipway proxy: {host}: a new certificate from {}",
                    spec.directory
                );
                Ok(())
            }
            Err(error) => {
                let status = statuses.entry(host.to_owned()).or_default();
                status.failures = status.failures.saturating_add(1);
                status.next_attempt = Some(unix_now() + acme::retry_delay(status.failures));
                status.last_error = Some(error.clone());
                eprintln!("slipway proxy: {host}: {error}");
                Err(error)
            }
        }
    }

    /// The ACME hosts, each with when its certificate expires and when it is next ordered.
    fn acme_statuses(&self, table: &Table, now: i64) -> BTreeMap<String, acme::AcmeStatus> {
        let failures = self.acme.lock().expect("not poisoned").clone();
        table
            .tls
            .iter()
            .filter(|(_, site)| site.acme.is_some())
            .map(|(host, _)| {
                let validity = self.validity(host);
                let mut status = failures.get(host).cloned().unwrap_or_default();
                status.next_attempt = Some(acme::next_attempt(validity, &status, now));
                status.not_after = validity.map(|v| v.not_after);
                (host.clone(), status)
            })
            .collect()
    }

    fn validity(&self, host: &str) -> Option<x509::Validity> {
        let key = self.certificates.get(host)?;
        x509::validity(key.end_entity_cert().ok()?)
    }

    /// Installs a host's new certificate (checked first) and how it is served, or takes the
    /// host off HTTPS.
    fn set_tls(&self, host: &str, site: Option<tls::TlsSite>, certificate: bool) -> Answer {
        let host = tls::host_name(host);
        let dir = tls::directory(&self.state_file);
        let installed = tls::installed_file(&dir, &host);
        let Some(site) = site else {
            let mut next = self.table.read().expect("not poisoned").clone();
            if next.tls.remove(&host).is_none() {
                return Answer::ok();
            }
            if let Err(error) = self.persist(&next) {
                return Answer::failed(error.to_string());
            }
            *self.table.write().expect("not poisoned") = next;
            self.certificates.remove(&host);
            let _ = std::fs::remove_file(&installed);
            return Answer::ok();
        };
        if certificate {
            let incoming = tls::incoming_file(&dir, &host);
            let key = match tls::load_file(&incoming, &host) {
                Ok(key) => key,
                Err(error) => {
                    let _ = std::fs::remove_file(&incoming);
                    return Answer::failed(format!("the certificate for {host}: {error}"));
                }
            };
            // Only the proxy reads it, whatever mode it arrived with.
            use std::os::unix::fs::PermissionsExt;
            let private = std::fs::Permissions::from_mode(0o600);
            if let Err(error) = std::fs::set_permissions(&incoming, private)
                .and_then(|()| std::fs::rename(&incoming, &installed))
            {
                return Answer::failed(format!("{}: {error}", installed.display()));
            }
            self.certificates.insert(&host, key);
        } else if !self.certificates.has(&host) {
            return Answer::failed(format!(
                "{host} has no certificate yet: send one with the order"
            ));
        }
        let mut next = self.table.read().expect("not poisoned").clone();
        if next.tls.get(&host) != Some(&site) {
            next.tls.insert(host, site);
            if let Err(error) = self.persist(&next) {
                return Answer::failed(error.to_string());
            }
            *self.table.write().expect("not poisoned") = next;
        }
        Answer::ok()
    }

    /// Persists and installs a table whose routes and targets are unchanged (nothing drains).
    fn install(&self, next: Table) -> Answer {
        if let Err(error) = self.persist(&next) {
            return Answer::failed(error.to_string());
        }
        *self.table.write().expect("not poisoned") = next;
        Answer {
            ok: true,
            status: Some(self.status()),
            ..Default::default()
        }
    }

    /// Installs `next`, then waits until the targets that lost their traffic have no request in flight.
    async fn switch(&self, mut next: Table, drain_ms: u64) -> Answer {
        let (before, known_before) = {
            let table = self.table.read().expect("not poisoned");
            (table.routable_targets(), table.all_targets())
        };
        // A target that leaves the table must pass a new gate to come back; one gated for a
        // split not yet installed keeps its pass.
        let known = next.all_targets();
        next.gated
            .retain(|t| known.contains(t) || !known_before.contains(t));
        if let Err(error) = self.persist(&next) {
            return Answer::failed(error.to_string());
        }
        let after = next.routable_targets();
        self.connections
            .update(next.services.values().map(|s| &s.limits));
        *self.table.write().expect("not poisoned") = next;
        let draining: Vec<String> = before.difference(&after).cloned().collect();
        let deadline = Instant::now() + Duration::from_millis(drain_ms);
        loop {
            let busy: Vec<String> = draining
                .iter()
                .filter(|t| self.counter(t).load(Ordering::SeqCst) > 0)
                .cloned()
                .collect();
            if busy.is_empty() || Instant::now() >= deadline {
                // Tunnels still open on a drained target are closed now, cleanly; the answer
                // waits a moment for them to say so.
                if busy.iter().map(|t| self.tunnels.close(t)).sum::<usize>() > 0 {
                    let closing = Instant::now() + Duration::from_millis(1_500);
                    while Instant::now() < closing
                        && busy
                            .iter()
                            .any(|t| self.counter(t).load(Ordering::SeqCst) > 0)
                    {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                let busy: Vec<String> = busy
                    .into_iter()
                    .filter(|t| self.counter(t).load(Ordering::SeqCst) > 0)
                    .collect();
                return Answer {
                    ok: true,
                    undrained: busy,
                    ..Default::default()
                };
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn gate(&self, targets: Vec<String>, check: HealthCheck) -> Answer {
        let started = Instant::now();
        let checks = targets.iter().map(|target| {
            let check = check.clone();
            async move {
                let result = self.gate_one(target, &check).await;
                (target.clone(), result)
            }
        });
        let results = futures_util::future::join_all(checks).await;
        let mut answer = Answer {
            ok: true,
            ..Default::default()
        };
        let mut failures = Vec::new();
        for (target, result) in results {
            match result {
                Ok(elapsed) => {
                    answer.gated_ms.insert(target, elapsed.as_millis() as u64);
                }
                Err(reason) => failures.push(format!("{target}: {reason}")),
            }
        }
        if !failures.is_empty() {
            return Answer::failed(format!(
                "health gate failed after {:.1}s: {}",
                started.elapsed().as_secs_f64(),
                failures.join("; ")
            ));
        }
        let mut table = self.table.write().expect("not poisoned");
        table.gated.extend(targets);
        let snapshot = table.clone();
        drop(table);
        if let Err(error) = self.persist(&snapshot) {
            return Answer::failed(error.to_string());
        }
        answer
    }

    async fn gate_one(&self, target: &str, check: &HealthCheck) -> Result<Duration, String> {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(check.deadline_ms);
        let mut consecutive = 0;
        let mut last = String::from("no check ran");
        let Ok(uri) = format!("http://{target}{}", check.path).parse::<http::Uri>() else {
            return Err(format!("`{}` is not a path", check.path));
        };
        loop {
            let request = Request::get(uri.clone())
                .header(header::USER_AGENT, "slipway-proxy health gate")
                .body(Full::new(Bytes::new()))
                .expect("a GET request builds");
            let outcome = tokio::time::timeout(
                Duration::from_millis(check.timeout_ms),
                self.client.request(request),
            )
            .await;
            match outcome {
                Ok(Ok(response))
                    if response.status().is_success() || response.status().is_redirection() =>
                {
                    consecutive += 1;
                    if consecutive >= check.healthy.max(1) {
                        return Ok(started.elapsed());
                    }
                }
                Ok(Ok(response)) => {
                    consecutive = 0;
                    last = format!("{} answered {}", check.path, response.status());
                }
                Ok(Err(error)) => {
                    consecutive = 0;
                    last = format!("{error}");
                }
                Err(_) => {
                    consecutive = 0;
                    last = format!("no answer within {} ms", check.timeout_ms);
                }
            }
            if Instant::now() >= deadline {
                return Err(last);
            }
            // The first checks come quickly: a container usually becomes healthy soon after it starts.
            let pause = if consecutive > 0 {
                check.interval_ms
            } else {
                check.interval_ms.min(250)
            };
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }

    fn status(&self) -> Status {
        let table = self.table.read().expect("not poisoned").clone();
        let mut status = Status {
            tls: table.tls.clone(),
            maintenance: table.maintenance.clone(),
            acme: self.acme_statuses(&table, unix_now()),
            ..Status::default()
        };
        for (name, service) in &table.services {
            let releases = service
                .groups
                .iter()
                .map(|group| ReleaseStatus {
                    release: group.release.clone(),
                    weight: group.weight,
                    targets: group.targets.clone(),
                    inflight: group
                        .targets
                        .iter()
                        .map(|t| self.counter(t).load(Ordering::SeqCst))
                        .sum(),
                    metrics: self.metrics_of(name, &group.release).snapshot(),
                })
                .collect();
            status.services.insert(
                name.clone(),
                ServiceStatus {
                    host: service.host.clone(),
                    path: service.path.clone(),
                    releases,
                    limits: service.limits,
                },
            );
        }
        status
    }
}

async fn serve_admin(listener: UnixListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(read).read_line(&mut line).await.is_err() {
                return;
            }
            let answer = match serde_json::from_str::<Command>(&line) {
                Ok(command) => shared.command(command).await,
                Err(error) => Answer::failed(format!("not a command: {error}")),
            };
            let mut text = serde_json::to_string(&answer).expect("an answer serializes");
            text.push('\n');
            let _ = write.write_all(text.as_bytes()).await;
        });
    }
}

/// The TLS port: a handshake (SNI picks the certificate), then HTTP/2 or HTTP/1.1 as ALPN
/// agreed, each request forwarded like a plain one.
async fn serve_tls(listener: TcpListener, shared: Arc<Shared>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls::server_config(shared.certificates.clone()));
    loop {
        let Ok((stream, remote)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
            else {
                return;
            };
            let protocol = stream.get_ref().1.alpn_protocol();
            if protocol == Some(acme::ACME_TLS_ALPN) {
                // A CA's TLS-ALPN-01 check ends with the handshake.
                return;
            }
            if protocol != Some(b"h2") {
                passthrough::serve(stream, remote, shared, true).await;
                return;
            }
            // HTTP/2 runs each request in a task of its own, outside this connection's task:
            // their upstream connections are spawned rather than driven here.
            let upstreams = Arc::new(Upstreams::spawning());
            let idle = Arc::new(shared.connections.watch());
            let head_limit = shared.connections.head_limit();
            let service = forwarding(shared, remote, upstreams.clone(), idle.clone(), true);
            let served = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .max_header_list_size(head_limit as u32)
                .serve_connection(TokioIo::new(stream), service);
            let _ = limits::close_when_idle(served, &idle, |c| c.graceful_shutdown()).await;
        });
    }
}

async fn serve_metrics(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let shared = shared.clone();
                async move {
                    if request.uri().path() != "/metrics" {
                        return Ok::<_, Infallible>(plain(StatusCode::NOT_FOUND, "see /metrics\n"));
                    }
                    let status = shared.status();
                    let mut snapshots = BTreeMap::new();
                    let mut weights = BTreeMap::new();
                    let mut inflight = BTreeMap::new();
                    for (name, service) in &status.services {
                        for release in &service.releases {
                            let key = (name.clone(), release.release.clone());
                            snapshots.insert(key.clone(), release.metrics.clone());
                            weights.insert(key.clone(), release.weight);
                            inflight.insert(key, release.inflight);
                        }
                    }
                    let mut response = plain(
                        StatusCode::OK,
                        metrics::prometheus(&snapshots, &weights, &inflight),
                    );
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; version=0.0.4"),
                    );
                    Ok(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn plain(status: StatusCode, text: impl Into<String>) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(text.into()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// `X-Forwarded-For` (appended to), `-Proto` and `-Host` of a request passed to an app.
fn forwarded_headers(
    headers: &mut http::HeaderMap,
    remote: SocketAddr,
    host: Option<&str>,
    https: bool,
) {
    use std::fmt::Write as _;
    let mut forwarded_for = String::with_capacity(48);
    if let Some(earlier) = headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        forwarded_for.push_str(earlier);
        forwarded_for.push_str(", ");
    }
    let _ = write!(forwarded_for, "{}", remote.ip());
    // The text is visible ASCII (an earlier value that read as text, and an address): it moves
    // into the header value without a copy.
    if let Ok(value) = HeaderValue::from_maybe_shared(Bytes::from(forwarded_for)) {
        headers.insert(X_FORWARDED_FOR, value);
    }
    headers.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(if https { "https" } else { "http" }),
    );
    // The Host header's own value when it is the host (no copy), else the host's text.
    let value = match headers.get(header::HOST) {
        Some(value) if host.is_some_and(|h| value.as_bytes() == h.as_bytes()) => {
            Some(value.clone())
        }
        _ => host.and_then(|h| HeaderValue::from_str(h).ok()),
    };
    if let Some(value) = value {
        headers.insert(X_FORWARDED_HOST, value);
    }
}

/// Whether a request with `method` may be sent again after a target failed it.
fn idempotent(method: &[u8]) -> bool {
    matches!(method, b"GET" | b"HEAD" | b"OPTIONS" | b"PUT" | b"DELETE")
}

fn moved_permanently(location: &str) -> Response<ProxyBody> {
    let mut response = plain(
        StatusCode::PERMANENT_REDIRECT,
        format!("this site is served over HTTPS: {location}\n"),
    );
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// 503 with `Retry-After`, in the body the client asked for; never cached.
fn in_maintenance(maintenance: &table::Maintenance, accept: Option<&str>) -> Response<ProxyBody> {
    let reply = maintenance::reply(maintenance, accept);
    let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, reply.body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    headers.insert(
        header::RETRY_AFTER,
        HeaderValue::from(maintenance.retry_after),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// The headers that concern one connection only, never passed on.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    header::TRANSFER_ENCODING,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

/// Whether `name` (in any case) is one of the hop-by-hop headers.
fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|hop| hop.as_str().eq_ignore_ascii_case(name))
}

fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    // Most messages carry none of them but `Connection`: one pass over the names tells.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    // The headers `Connection` names go too (those of the fixed list go below anyway).
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|token| !is_hop_by_hop(token))
        .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
        .collect();
    for name in &named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The request target in origin form (path and query), as an upstream connection takes it.
fn origin_form(uri: &http::Uri) -> http::Uri {
    if uri.scheme().is_none() && uri.authority().is_none() {
        return uri.clone();
    }
    let mut parts = http::uri::Parts::default();
    parts.path_and_query = Some(
        uri.path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
    );
    http::Uri::from_parts(parts).expect("a path alone is a URI")
}

/// The release and target picked for a request, which counts as in flight until dropped.
#[derive(Debug)]
struct Picked {
    /// `project/env/app`.
    service: String,
    release: String,
    target: String,
    inflight: InFlight,
}

/// Counts a request as in flight until its response body is finished or dropped.
#[derive(Debug)]
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(counter: Arc<AtomicUsize>) -> InFlight {
        counter.fetch_add(1, Ordering::SeqCst);
        InFlight(counter)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug)]
struct Tracked {
    inner: Incoming,
    _inflight: InFlight,
    /// The request's access-log line, written when the body ends or is dropped.
    log: Option<Pending>,
}

/// A request's access-log line in the making; written when dropped.
#[derive(Debug)]
struct Pending {
    log: access_log::AccessLog,
    arrived: Instant,
    unix_ms: u64,
    host: Option<String>,
    method: http::Method,
    path: String,
    status: u16,
    /// The service routed to, and the release and target of the last pick.
    service: Option<String>,
    release: Option<String>,
    target: Option<String>,
    bytes: u64,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.log.record(&access_log::Entry {
            time: &access_log::timestamp(self.unix_ms),
            host: self.host.as_deref(),
            method: self.method.as_str(),
            path: &self.path,
            status: self.status,
            service: self.service.as_deref(),
            release: self.release.as_deref(),
            target: self.target.as_deref(),
            duration_ms: access_log::millis(self.arrived.elapsed()),
            bytes: self.bytes,
        });
    }
}

/// Orders each ACME host's certificate when it has none and renews it when a third of its
/// lifetime is left, sleeping in between (at most an hour, or until a deploy adds a host).
async fn renew_certificates(shared: Arc<Shared>) {
    loop {
        let now = unix_now();
        let table = shared.table.read().expect("not poisoned").clone();
        let statuses = shared.acme_statuses(&table, now);
        let due = statuses
            .iter()
            .filter(|(_, status)| status.next_attempt.is_some_and(|at| at <= now))
            .find_map(|(host, _)| Some((host.clone(), table.tls.get(host)?.acme.clone()?)));
        if let Some((host, spec)) = due {
            let _ = shared.renew(&host, &spec, true).await;
            continue;
        }
        let next = statuses.values().filter_map(|s| s.next_attempt).min();
        tokio::select! {
            () = tokio::time::sleep(acme::nap(next, now)) => {}
            () = shared.acme_wake.notified() => {}
        }
    }
}

fn unix_now() -> i64 {
    (unix_ms() / 1000) as i64
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn host_of<B>(request: &Request<B>) -> Option<String> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(frame))), Some(log)) = (&polled, self.log.as_mut())
            && let Some(data) = frame.data_ref()
        {
            log.bytes += data.len() as u64;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The snapshot of one release's counters from a status answer.
pub fn release_metrics<'s>(
    status: &'s Status,
    service: &str,
    release: &str,
) -> Option<&'s Snapshot> {
    status
        .services
        .get(service)?
        .releases
        .iter()
        .find(|r| r.release == release)
        .map(|r| &r.metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_stripped() {
        let mut map = headers(&[
            ("connection", "Keep-Alive, X-Session, close"),
            ("keep-alive", "timeout=5"),
            ("x-session", "abc"),
            ("close", "1"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("content-type", "text/html"),
            ("x-request-id", "7"),
        ]);
        strip_hop_by_hop(&mut map);
        let mut left: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-type", "x-request-id"]);
    }

    #[test]
    fn end_to_end_headers_pass_untouched() {
        let mut map = headers(&[("content-type", "text/html"), ("x-request-id", "7")]);
        let before = map.clone();
        strip_hop_by_hop(&mut map);
        assert_eq!(map, before);
    }

    #[test]
    fn upstream_requests_name_only_the_path_and_query() {
        let absolute: http::Uri = "https://shop.test:8443/cart?item=3".parse().unwrap();
        assert_eq!(origin_form(&absolute), "/cart?item=3");
        let origin: http::Uri = "/a/b?c".parse().unwrap();
        assert_eq!(origin_form(&origin), "/a/b?c");
        let authority_only: http::Uri = "https://shop.test".parse().unwrap();
        assert_eq!(origin_form(&authority_only), "/");
    }

    #[test]
    fn forwarded_headers_append_the_client_and_name_host_and_scheme() {
        let remote: SocketAddr = "203.0.113.9:4000".parse().unwrap();
        let mut map = headers(&[("host", "shop.test"), ("x-forwarded-for", "198.51.100.1")]);
        forwarded_headers(&mut map, remote, Some("shop.test"), true);
        assert_eq!(map["x-forwarded-for"], "198.51.100.1, 203.0.113.9");
        assert_eq!(map["x-forwarded-proto"], "https");
        assert_eq!(map["x-forwarded-host"], "shop.test");
        let mut map = headers(&[]);
        forwarded_headers(&mut map, remote, Some("blog.test"), false);
        assert_eq!(map["x-forwarded-for"], "203.0.113.9");
        assert_eq!(map["x-forwarded-proto"], "http");
        assert_eq!(map["x-forwarded-host"], "blog.test");
    }
}
