//! The server's routes: pages, the buttons behind them, webhooks, the JSON API and metrics.
//! Pages need a login unless `public_read` is set; every change needs a login (a session with
//! its CSRF token on the form, or HTTP basic auth for scripts).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use slipway_pipeline::PipelineError;
use slipway_pipeline::changes;
use slipway_pipeline::runner;
use slipway_pipeline::store::{ApprovalState, LogLine, RunState, StepState};

use crate::App;
use crate::hooks::{self, GitHost, HookError, HookEvent};
use crate::html::{button, esc, page, short, state, time};
use crate::listener::ClientAddr;
use crate::security::{self, Guesser};

type Shared = State<Arc<App>>;

const COOKIE: &str = "slipway_session";

/// How often the audit notes a refused webhook.
const REFUSED_WEBHOOK_NOTE_EVERY: Duration = Duration::from_secs(60);

/// Who is asking.
struct Viewer {
    user: Option<String>,
    /// The session's CSRF token; `None` for basic auth (no cookie a browser could replay).
    csrf: Option<String>,
}

/// The session cookie a request carries, if any.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            pair.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_owned)
        })
}

/// `Set-Cookie` for session `token` (an empty token ends the session in the browser).
fn cookie(app: &App, token: &str) -> String {
    let secure = if app.settings.https() { "; Secure" } else { "" };
    if token.is_empty() {
        return format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}");
    }
    format!(
        "{COOKIE}={token}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        app.settings.session_lifetime.as_secs()
    )
}

fn password_matches(app: &App, user: &str, password: &str) -> bool {
    app.settings
        .users
        .iter()
        .any(|(name, secret)| name == user && hooks::same_secret(secret, password))
}

/// The session `token` names, if it has not ended; using it keeps it from going idle.
fn session(app: &App, token: &str) -> Option<crate::Session> {
    let now = Instant::now();
    let mut sessions = app.sessions.lock().unwrap_or_else(|e| e.into_inner());
    let session = sessions.get_mut(token)?;
    if security::session_ended(
        session.created,
        session.last_seen,
        now,
        app.settings.session_idle,
        app.settings.session_lifetime,
    ) {
        sessions.remove(token);
        return None;
    }
    session.last_seen = now;
    Some(session.clone())
}

fn viewer(app: &App, headers: &HeaderMap) -> Viewer {
    if let Some(token) = session_cookie(headers)
        && let Some(session) = session(app, &token)
    {
        return Viewer {
            user: Some(session.user),
            csrf: Some(session.csrf),
        };
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| {
            base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .ok()
        })
        .and_then(|v| String::from_utf8(v).ok());
    // Basic auth is a login too: guesses through it are braked per user name (a script's
    // request carries no form to answer 429 on, so a braked one is simply not logged in). A
    // success does not clear the count: a script polling with the right password would
    // otherwise reset the brake for whoever is guessing.
    if let Some((user, password)) = basic.as_deref().and_then(|b| b.split_once(':')) {
        let guesser = [Guesser::User(security::submitted_user(user))];
        let now = Instant::now();
        let mut brake = app.login_brake.lock().unwrap_or_else(|e| e.into_inner());
        if brake.must_wait(&guesser, now).is_none() {
            if password_matches(app, user, password) {
                return Viewer {
                    user: Some(user.to_owned()),
                    csrf: None,
                };
            }
            brake.failed(&guesser, now);
            drop(brake);
            app.count("slipway_server_logins_total{outcome=\"refused\"}".into());
            let _ = app.runs.audit(
                &security::submitted_user(user),
                "login-refused",
                None,
                Some("basic auth"),
            );
        }
    }
    Viewer {
        user: None,
        csrf: None,
    }
}

fn can_read(app: &App, viewer: &Viewer) -> bool {
    app.settings.public_read || viewer.user.is_some()
}

fn error_page(app: &App, viewer: &Viewer, status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<section class=error><h2>{}</h2><p>{}</p><p><a href=/>Back to the dashboard</a></p></section>",
        status,
        esc(message)
    );
    (
        status,
        Html(page(
            app.project(),
            "error",
            viewer.user.as_deref(),
            viewer.csrf.as_deref(),
            &body,
        )),
    )
        .into_response()
}

/// The user allowed to make a change, or the response refusing it.
fn may_change(
    app: &App,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<String, Box<Response>> {
    let viewer = viewer(app, headers);
    let Some(user) = viewer.user.clone() else {
        app.count("slipway_server_refused_total{reason=\"login\"}".into());
        return Err(Box::new(error_page(
            app,
            &viewer,
            StatusCode::UNAUTHORIZED,
            "log in to change anything",
        )));
    };
    if let Some(csrf) = &viewer.csrf
        && form
            .get("csrf")
            .is_none_or(|given| !hooks::same_secret(csrf, given))
    {
        app.count("slipway_server_refused_total{reason=\"csrf\"}".into());
        return Err(Box::new(error_page(
            app,
            &viewer,
            StatusCode::FORBIDDEN,
            "the form is stale or came from another site: reload the page and try again",
        )));
    }
    Ok(user)
}

/// The fields of a form body; an empty or missing body (a script's POST) has none.
fn form_of(body: &[u8]) -> HashMap<String, String> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

fn login_redirect() -> Response {
    Redirect::to("/login").into_response()
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct Flash {
    msg: Option<String>,
}

fn flash(flash: &Flash) -> String {
    flash
        .msg
        .as_deref()
        .map(|m| format!("<section class=flash>{}</section>", esc(m)))
        .unwrap_or_default()
}

pub(crate) async fn login_form(State(app): Shared) -> Html<String> {
    let note = if app.settings.users.is_empty() {
        "<p class=note>No users are configured: add <code>[server] users = { name = \"env:VAR\" }</code> to slipway.toml.</p>"
    } else {
        ""
    };
    Html(page(
        app.project(),
        "log in",
        None,
        None,
        &format!(
            "<section><h2>Log in</h2>{note}<form method=post action=/login><p><label>User<br><input type=text name=user autocomplete=username></label></p><p><label>Password<br><input type=password name=password autocomplete=current-password></label></p><p><button class=go>Log in</button></p></form></section>"
        ),
    ))
}

pub(crate) async fn login(
    State(app): Shared,
    ConnectInfo(ClientAddr(client)): ConnectInfo<ClientAddr>,
    body: Bytes,
) -> Response {
    let form = form_of(&body);
    let user = form.get("user").map(String::as_str).unwrap_or_default();
    let password = form.get("password").map(String::as_str).unwrap_or_default();
    let nobody = Viewer {
        user: None,
        csrf: None,
    };
    // Guesses are braked per address and per user name: many addresses guessing one user's
    // password wait as one address guessing many users' do.
    let guessers = [
        Guesser::Address(client.ip()),
        Guesser::User(security::submitted_user(user)),
    ];
    let now = Instant::now();
    let wait = app
        .login_brake
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .must_wait(&guessers, now);
    if let Some(wait) = wait {
        app.count("slipway_server_logins_total{outcome=\"throttled\"}".into());
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut refused = error_page(
            &app,
            &nobody,
            StatusCode::TOO_MANY_REQUESTS,
            &format!("too many failed logins: try again in {seconds} s"),
        );
        refused
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        return refused;
    }
    if !password_matches(&app, user, password) {
        app.count("slipway_server_logins_total{outcome=\"refused\"}".into());
        app.login_brake
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failed(&guessers, now);
        let _ = app.runs.audit(
            &security::submitted_user(user),
            "login-refused",
            None,
            Some(&format!("from {}", client.ip())),
        );
        return error_page(
            &app,
            &nobody,
            StatusCode::UNAUTHORIZED,
            "wrong user or password",
        );
    }
    // Without unpredictable tokens there is no session worth having: refuse the login.
    let tokens = security::token(&app.settings.random)
        .and_then(|token| Ok((token, security::token(&app.settings.random)?)));
    let (token, csrf) = match tokens {
        Ok(tokens) => tokens,
        Err(error) => {
            // The user name is the client's text: shown escaped, never obeyed by a terminal.
            eprintln!(
                "login of {}: cannot read the OS random source: {error}",
                security::submitted_user(user).escape_debug()
            );
            app.count("slipway_server_logins_total{outcome=\"no-randomness\"}".into());
            return error_page(
                &app,
                &nobody,
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server cannot make a session token now (its random source failed): try again later",
            );
        }
    };
    app.count("slipway_server_logins_total{outcome=\"ok\"}".into());
    app.login_brake
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .succeeded(&guessers);
    {
        let mut sessions = app.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let settings = &app.settings;
        sessions.retain(|_, s| {
            !security::session_ended(
                s.created,
                s.last_seen,
                now,
                settings.session_idle,
                settings.session_lifetime,
            )
        });
        sessions.insert(
            token.clone(),
            crate::Session {
                user: user.to_owned(),
                csrf,
                created: now,
                last_seen: now,
            },
        );
    }
    (
        [(header::SET_COOKIE, cookie(&app, &token))],
        Redirect::to("/"),
    )
        .into_response()
}

pub(crate) async fn logout(State(app): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let form = form_of(&body);
    if let Err(refused) = may_change(&app, &headers, &form) {
        return *refused;
    }
    if let Some(token) = session_cookie(&headers) {
        app.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&token);
    }
    (
        [(header::SET_COOKIE, cookie(&app, ""))],
        Redirect::to("/login"),
    )
        .into_response()
}

pub(crate) async fn dashboard(
    State(app): Shared,
    headers: HeaderMap,
    Query(query): Query<Flash>,
) -> Response {
    let viewer = viewer(&app, &headers);
    if !can_read(&app, &viewer) {
        return login_redirect();
    }
    let csrf = viewer.csrf.as_deref();
    let mut body = flash(&query);

    let unfinished = app.runs.unfinished().unwrap_or_default();
    let waiting: Vec<_> = unfinished
        .iter()
        .filter(|r| r.state == RunState::Waiting)
        .collect();
    if !waiting.is_empty() {
        body.push_str("<section><h2>Waiting for approval</h2><table>");
        for run in waiting {
            let approval = app.runs.pending_approval(run.id).ok().flatten();
            let guards = approval
                .as_ref()
                .and_then(|a| a.environment.clone())
                .map(|e| format!("to deploy <b>{}</b>", esc(&e)))
                .unwrap_or_else(|| "to go on".into());
            let decide = if viewer.user.is_some() {
                format!(
                    "{} {}",
                    button(
                        &format!("/runs/{}/approve", run.id),
                        "Deploy",
                        "go",
                        csrf,
                        true
                    ),
                    button(
                        &format!("/runs/{}/reject", run.id),
                        "Reject",
                        "stop",
                        csrf,
                        false
                    )
                )
            } else {
                "<a href=/login>log in to decide</a>".into()
            };
            let _ = write!(
                body,
                "<tr><td><a href=/runs/{0}>run {0}</a> of {1} at <code>{2}</code> waits {guards}</td><td>{decide}</td></tr>",
                run.id,
                esc(&run.pipeline),
                short(&run.rev)
            );
        }
        body.push_str("</table></section>");
    }

    body.push_str("<section><h2>Environments</h2><table><tr><th>Environment</th><th>Live release</th><th>Images</th><th>Health</th><th>Traffic</th></tr>");
    for name in app.settings.manifest.environments.keys() {
        let live = app.releases.live(name).ok().flatten();
        let (release, images) = match &live {
            Some(release) => (
                format!(
                    "{} <span class=note>{} · {}</span>",
                    esc(&release.name()),
                    esc(&release.started_by),
                    time(release.started_at)
                ),
                release
                    .apps
                    .iter()
                    .map(|(app_name, a)| {
                        let digest = a.digest.as_deref().unwrap_or(&a.image_id);
                        format!(
                            "{} <code>{}</code>",
                            esc(app_name),
                            esc(short(digest.trim_start_matches("sha256:")))
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("<br>"),
            ),
            None => ("<span class=note>none</span>".into(), String::new()),
        };
        let (health, traffic) = match live.as_ref().and_then(|_| app.status(name)) {
            Some(status) => health_and_traffic(&status),
            None if live.is_some() => ("<span class=note>checking…</span>".into(), String::new()),
            None => (String::new(), String::new()),
        };
        let _ = write!(
            body,
            "<tr><td><a href=\"/environments/{0}\">{1}</a></td><td>{release}</td><td>{images}</td><td>{health}</td><td>{traffic}</td></tr>",
            esc(name),
            esc(name)
        );
    }
    body.push_str("</table></section>");

    if !app.settings.manifest.pipelines.is_empty() {
        body.push_str("<section><h2>Pipelines</h2><table>");
        for (name, pipeline) in &app.settings.manifest.pipelines {
            let steps: Vec<String> =
                slipway_pipeline::steps::plan(&app.settings.manifest, pipeline)
                    .map(|p| p.into_iter().map(|s| s.name).collect())
                    .unwrap_or_default();
            let start = if viewer.user.is_some() {
                button(&format!("/pipelines/{name}/run"), "Run", "", csrf, false)
            } else {
                String::new()
            };
            let _ = write!(
                body,
                "<tr><td><b>{}</b></td><td class=note>{}</td><td>{start}</td></tr>",
                esc(name),
                esc(&steps.join(" → "))
            );
        }
        body.push_str("</table></section>");
    }

    body.push_str(&runs_table(&app, 20));
    Html(page(
        app.project(),
        "dashboard",
        viewer.user.as_deref(),
        csrf,
        &body,
    ))
    .into_response()
}

/// Health (containers running/healthy) and the traffic split, from `slipway status --output json`.
fn health_and_traffic(status: &serde_json::Value) -> (String, String) {
    if let Some(error) = status.get("error").and_then(|e| e.as_str()) {
        return (
            format!("<span class=note>{}</span>", esc(error)),
            String::new(),
        );
    }
    let mut health = Vec::new();
    let mut traffic = Vec::new();
    for host in status["hosts"].as_array().into_iter().flatten() {
        for scope in host["maintenance"].as_array().into_iter().flatten() {
            let what = scope["app"]
                .as_str()
                .map_or("everything".to_owned(), |app| format!("{} only", esc(app)));
            health.push(format!(
                "<strong>in maintenance</strong> ({what}, since {}): {}",
                time(scope["since"].as_i64().unwrap_or(0)),
                esc(scope["message"].as_str().unwrap_or(""))
            ));
        }
        for certificate in host["certificates"].as_array().into_iter().flatten() {
            let name = esc(certificate["host"].as_str().unwrap_or("?"));
            let mut line = match certificate["not_after"].as_i64() {
                Some(until) => format!("https {name}: certificate until {}", time(until)),
                None if certificate["source"] == "acme" => {
                    format!("https {name}: no certificate yet")
                }
                None => format!("https {name}: the project's certificate"),
            };
            if let Some(error) = certificate["last_error"].as_str() {
                let _ = write!(line, "; <strong>last order failed</strong>: {}", esc(error));
            }
            health.push(line);
        }
        for (app_name, releases) in host["apps"].as_object().into_iter().flatten() {
            for release in releases.as_array().into_iter().flatten() {
                let containers = release["containers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let up = containers
                    .iter()
                    .filter(|c| {
                        c["state"] == "running"
                            && !c["status"].as_str().unwrap_or("").contains("unhealthy")
                    })
                    .count();
                let name = release["release"].as_str().unwrap_or("?");
                health.push(format!(
                    "{} {name}: {up}/{} up",
                    esc(app_name),
                    containers.len()
                ));
                if let Some(weight) = release["weight"].as_u64() {
                    traffic.push(format!("{} {name}: {weight}%", esc(app_name)));
                }
            }
        }
    }
    (health.join("<br>"), traffic.join("<br>"))
}

fn runs_table(app: &App, limit: usize) -> String {
    let mut out = String::from(
        "<section><h2>Runs</h2><table><tr><th>Run</th><th>Pipeline</th><th>State</th><th>Commit</th><th>Trigger</th><th>Started</th><th>Step</th></tr>",
    );
    for run in app.runs.list(None, limit).unwrap_or_default() {
        let step = if run.state == RunState::Succeeded {
            String::new()
        } else {
            run.current_step().map(|s| esc(&s.name)).unwrap_or_default()
        };
        let _ = write!(
            out,
            "<tr><td><a href=/runs/{0}>{0}</a></td><td>{1}</td><td>{2}</td><td><code>{3}</code> {4}</td><td>{5}</td><td>{6}</td><td>{step}</td></tr>",
            run.id,
            esc(&run.pipeline),
            state(run.state.as_str()),
            short(&run.rev),
            esc(run.branch.as_deref().unwrap_or("")),
            esc(&run.trigger),
            time(run.created_at),
        );
    }
    out.push_str("</table></section>");
    out
}

pub(crate) async fn run_page(
    State(app): Shared,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(query): Query<Flash>,
) -> Response {
    let viewer = viewer(&app, &headers);
    if !can_read(&app, &viewer) {
        return login_redirect();
    }
    let Ok(Some(run)) = app.runs.get(id) else {
        return error_page(
            &app,
            &viewer,
            StatusCode::NOT_FOUND,
            &format!("no run {id}"),
        );
    };
    let csrf = viewer.csrf.as_deref();
    let mut body = flash(&query);
    let branch = run
        .branch
        .as_deref()
        .map(|b| format!(" on {}", esc(b)))
        .unwrap_or_default();
    let _ = write!(
        body,
        "<section><h2>Run {} of {} {}</h2><p>commit <code>{}</code>{branch} · {} by {} · {}</p>",
        run.id,
        esc(&run.pipeline),
        state(run.state.as_str()),
        short(&run.rev),
        esc(&run.trigger),
        esc(&run.started_by),
        time(run.created_at)
    );
    if let Some(note) = &run.note {
        let _ = write!(body, "<p>{}</p>", esc(note));
    }
    let pending = app.runs.pending_approval(id).ok().flatten();
    if let Some(approval) = &pending {
        let guards = approval
            .environment
            .as_deref()
            .map(|e| format!(" to deploy <b>{}</b>", esc(e)))
            .unwrap_or_default();
        let lapses = approval
            .expires_at
            .map(|at| format!(" (lapses {})", time(at)))
            .unwrap_or_default();
        let decide = if viewer.user.is_some() {
            format!(
                "{} {}",
                button(&format!("/runs/{id}/approve"), "Deploy", "go", csrf, true),
                button(&format!("/runs/{id}/reject"), "Reject", "stop", csrf, false)
            )
        } else {
            "<a href=/login>Log in</a> to decide.".into()
        };
        let _ = write!(
            body,
            "<p><b>Waiting for approval</b>{guards}{lapses}.</p><p id=decide>{decide}</p>"
        );
    }
    if run.state == RunState::Interrupted && viewer.user.is_some() {
        let _ = write!(
            body,
            "<p>The run was cut mid-step. {}</p>",
            button(&format!("/runs/{id}/resume"), "Resume", "go", csrf, false)
        );
    }
    body.push_str("<table><tr><th>Step</th><th>State</th><th>Took</th></tr>");
    for step in &run.steps {
        let took = match (step.started_at, step.finished_at) {
            (Some(a), Some(b)) => format!("{}s", b - a),
            _ => String::new(),
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{took}</td></tr>",
            esc(&step.name),
            state(step.state.as_str())
        );
    }
    body.push_str("</table></section>");
    for approval in app.runs.approvals(id).unwrap_or_default() {
        if approval.state == ApprovalState::Pending {
            continue;
        }
        let comment = approval
            .comment
            .as_deref()
            .map(|c| format!(": “{}”", esc(c)))
            .unwrap_or_default();
        let _ = write!(
            body,
            "<section><p>{} by <b>{}</b> at {}{comment}</p></section>",
            state(approval.state.as_str()),
            esc(approval.decided_by.as_deref().unwrap_or("")),
            approval.decided_at.map(time).unwrap_or_default()
        );
    }
    let logs = app.runs.logs(id, 0).unwrap_or_default();
    let last = logs.last().map_or(0, |l| l.seq);
    // Live while unfinished: /static/run.js appends new lines and reloads on a change of state.
    let live = if run.state.is_finished() {
        ""
    } else {
        " data-live=1"
    };
    let _ = write!(
        body,
        "<section><h2>Log</h2><pre id=log data-run={id} data-after={last}{live}>"
    );
    let mut step = None;
    for line in &logs {
        if step != Some(line.step) {
            step = Some(line.step);
            let name = run.steps.get(line.step).map_or("?", |s| s.name.as_str());
            let _ = writeln!(body, "==> {}", esc(name));
        }
        let _ = writeln!(body, "{}", esc(&line.line));
    }
    body.push_str("</pre></section>");
    if !run.state.is_finished() {
        body.push_str("<script src=/static/run.js defer></script>");
    }
    body.push_str("<section><h2>Audit</h2><table>");
    for entry in app
        .runs
        .audit_log(Some(id), 50)
        .unwrap_or_default()
        .iter()
        .rev()
    {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=note>{}</td></tr>",
            time(entry.at),
            esc(&entry.actor),
            esc(&entry.action),
            esc(entry.detail.as_deref().unwrap_or(""))
        );
    }
    body.push_str("</table></section>");
    Html(page(
        app.project(),
        &format!("run {id}"),
        viewer.user.as_deref(),
        csrf,
        &body,
    ))
    .into_response()
}

#[derive(serde::Deserialize)]
pub(crate) struct After {
    #[serde(default)]
    after: i64,
}

/// How often live logs look for lines of a run another process carries (a `slipway pipeline
/// run` in a terminal): its lines reach this server only through the run history.
const ELSEWHERE_EVERY: Duration = Duration::from_secs(2);
/// How often live logs look anyway when this server carries the run (its runner wakes them on
/// every line and change of state): a safety net, not the way lines arrive.
const CARRIED_EVERY: Duration = Duration::from_secs(30);

/// Where a live log stream is.
struct Follow {
    app: Arc<App>,
    id: i64,
    after: i64,
    /// The run's state when the stream began: a change ends the stream.
    first: RunState,
    pending: VecDeque<LogLine>,
    wake: tokio::sync::watch::Receiver<u64>,
    done: bool,
}

impl Follow {
    /// The next event: a line not yet sent, else the run's new state (the last event), else
    /// waits for the runner to say something happened.
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Follow)> {
        if self.done {
            return None;
        }
        loop {
            if let Some(line) = self.pending.pop_front() {
                self.after = line.seq;
                let event = Event::default()
                    .event("line")
                    .id(line.seq.to_string())
                    .data(line.line);
                return Some((Ok(event), self));
            }
            // Seen before looking, so a wake while looking is not lost.
            self.wake.borrow_and_update();
            let lines = self.app.runs.logs(self.id, self.after).unwrap_or_default();
            if !lines.is_empty() {
                self.pending.extend(lines);
                continue;
            }
            let now = self
                .app
                .runs
                .get(self.id)
                .ok()
                .flatten()
                .map_or(RunState::Failed, |r| r.state);
            if now != self.first || now.is_finished() {
                self.done = true;
                return Some((Ok(Event::default().event("state").data(now.as_str())), self));
            }
            let carried_here = self.app.scheduler.carries(self.id);
            let every = if carried_here {
                CARRIED_EVERY
            } else {
                ELSEWHERE_EVERY
            };
            tokio::select! {
                woken = self.wake.changed() => {
                    if woken.is_err() {
                        tokio::time::sleep(every).await;
                    }
                }
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}

/// Server-sent events of run `id`: `line` for each log line after `after`, then `state` when the
/// run's state changes or when it has ended, and the stream closes. Lines of a run this server
/// carries arrive as its runner writes them; those of a run carried elsewhere are looked for
/// every few seconds.
pub(crate) async fn run_events(
    State(app): Shared,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(after): Query<After>,
) -> Response {
    let viewer = viewer(&app, &headers);
    if !can_read(&app, &viewer) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(Some(run)) = app.runs.get(id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let follow = Follow {
        wake: app.wakers.subscribe(id),
        app,
        id,
        after: after.after,
        first: run.state,
        pending: VecDeque::new(),
        done: false,
    };
    let stream = futures_util::stream::unfold(follow, Follow::next);
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn decision_error(app: &App, headers: &HeaderMap, error: PipelineError) -> Response {
    let viewer = viewer(app, headers);
    let status = match &error {
        PipelineError::UnknownRun(_) => StatusCode::NOT_FOUND,
        PipelineError::NotAnApprover { .. } => StatusCode::FORBIDDEN,
        _ => StatusCode::CONFLICT,
    };
    error_page(app, &viewer, status, &error.to_string())
}

async fn decide(
    app: Arc<App>,
    headers: HeaderMap,
    id: i64,
    form: HashMap<String, String>,
    approve: bool,
) -> Response {
    let user = match may_change(&app, &headers, &form) {
        Ok(user) => user,
        Err(refused) => return *refused,
    };
    let comment = form
        .get("comment")
        .map(|c| c.trim())
        .filter(|c| !c.is_empty());
    match runner::decide(
        &app.settings.manifest,
        &app.runs,
        id,
        &user,
        approve,
        comment,
    ) {
        Ok(_) => {
            if approve
                && let Ok(Some(run)) = app.runs.get(id)
                && !runner::carried_elsewhere(&run)
                && run.runner.is_none()
            {
                app.carry(id);
            }
            let verb = if approve { "approved" } else { "rejected" };
            Redirect::to(&format!("/runs/{id}?msg={verb}+by+{user}")).into_response()
        }
        Err(error) => decision_error(&app, &headers, error),
    }
}

pub(crate) async fn approve(
    State(app): Shared,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let form = form_of(&body);
    decide(app, headers, id, form, true).await
}

pub(crate) async fn reject(
    State(app): Shared,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let form = form_of(&body);
    decide(app, headers, id, form, false).await
}

pub(crate) async fn resume(
    State(app): Shared,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let form = form_of(&body);
    let user = match may_change(&app, &headers, &form) {
        Ok(user) => user,
        Err(refused) => return *refused,
    };
    match app.runs.get(id) {
        Ok(Some(run)) if run.state == RunState::Interrupted => {
            let _ = app.runs.audit(&user, "resumed", Some(id), None);
            app.carry(id);
            Redirect::to(&format!("/runs/{id}")).into_response()
        }
        Ok(Some(run)) => error_page(
            &app,
            &viewer(&app, &headers),
            StatusCode::CONFLICT,
            &format!(
                "run {id} is {}: only an interrupted run can be resumed",
                run.state
            ),
        ),
        _ => error_page(
            &app,
            &viewer(&app, &headers),
            StatusCode::NOT_FOUND,
            &format!("no run {id}"),
        ),
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

pub(crate) async fn run_pipeline(
    State(app): Shared,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let form = form_of(&body);
    let user = match may_change(&app, &headers, &form) {
        Ok(user) => user,
        Err(refused) => return *refused,
    };
    let started = {
        let app = app.clone();
        let name = name.clone();
        tokio::task::spawn_blocking(move || -> Result<_, PipelineError> {
            let root = &app.settings.project_root;
            let rev = changes::resolve_rev(root, "HEAD")?;
            let branch = changes::current_branch(root);
            let change = changes::change_for(root, &app.runs, &name, &rev, branch.as_deref())?;
            let run = runner::create_run(
                &app.settings.manifest,
                &app.runs,
                &name,
                &change,
                "manual",
                &user,
            )?;
            Ok(run)
        })
        .await
    };
    match started {
        Ok(Ok(run)) => {
            app.carry(run.id);
            if wants_json(&headers) {
                let url = format!("{}/runs/{}", app.settings.url.trim_end_matches('/'), run.id);
                return (
                    StatusCode::CREATED,
                    Json(serde_json::json!({ "id": run.id, "url": url })),
                )
                    .into_response();
            }
            Redirect::to(&format!("/runs/{}", run.id)).into_response()
        }
        Ok(Err(error)) => {
            let status = match error {
                PipelineError::UnknownPipeline { .. } => StatusCode::NOT_FOUND,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            error_page(&app, &viewer(&app, &headers), status, &error.to_string())
        }
        Err(error) => error_page(
            &app,
            &viewer(&app, &headers),
            StatusCode::INTERNAL_SERVER_ERROR,
            &error.to_string(),
        ),
    }
}

pub(crate) async fn environment_page(
    State(app): Shared,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<Flash>,
) -> Response {
    let viewer = viewer(&app, &headers);
    if !can_read(&app, &viewer) {
        return login_redirect();
    }
    if !app.settings.manifest.environments.contains_key(&name) {
        return error_page(
            &app,
            &viewer,
            StatusCode::NOT_FOUND,
            &format!("no environment `{name}`"),
        );
    }
    let csrf = viewer.csrf.as_deref();
    let releases = app.releases.list(&name, 50).unwrap_or_default();
    let mut body = flash(&query);
    let _ = write!(body, "<section><h2>{}</h2>", esc(&name));
    let live = releases
        .iter()
        .find(|r| r.outcome == slipway_history::Outcome::Live);
    if let Some(status) = live.and_then(|_| app.status(&name)) {
        let (health, traffic) = health_and_traffic(&status);
        let _ = write!(body, "<p>{health}</p><p>{traffic}</p>");
    }
    if live.is_some() && releases.len() > 1 && viewer.user.is_some() {
        let _ = write!(
            body,
            "<p>{} <span class=note>back to the release live before this one, with the images already on the hosts</span></p>",
            button(
                &format!("/environments/{name}/rollback"),
                "Rollback",
                "stop",
                csrf,
                false
            )
        );
    }
    body.push_str("<table><tr><th>Release</th><th>Outcome</th><th>Strategy</th><th>Started by</th><th>Started</th><th>Images</th></tr>");
    for release in &releases {
        let images = release
            .apps
            .iter()
            .map(|(app_name, a)| {
                format!(
                    "{} <code>{}</code>",
                    esc(app_name),
                    esc(short(
                        a.digest
                            .as_deref()
                            .unwrap_or(&a.image_id)
                            .trim_start_matches("sha256:")
                    ))
                )
            })
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{images}</td></tr>",
            esc(&release.name()),
            state(release.outcome.as_str()),
            esc(release.strategy.name()),
            esc(&release.started_by),
            time(release.started_at)
        );
    }
    body.push_str("</table></section>");
    Html(page(
        app.project(),
        &name,
        viewer.user.as_deref(),
        csrf,
        &body,
    ))
    .into_response()
}

pub(crate) async fn rollback(
    State(app): Shared,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let form = form_of(&body);
    let user = match may_change(&app, &headers, &form) {
        Ok(user) => user,
        Err(refused) => return *refused,
    };
    if !app.settings.manifest.environments.contains_key(&name) {
        return error_page(
            &app,
            &viewer(&app, &headers),
            StatusCode::NOT_FOUND,
            &format!("no environment `{name}`"),
        );
    }
    let output = tokio::process::Command::new(&app.settings.exe)
        .args(["rollback", &name])
        .current_dir(&app.settings.project_root)
        .env(
            slipway_pipeline::variables::STATE_DIR,
            &app.settings.state_dir,
        )
        .env(
            slipway_pipeline::variables::STARTED_BY,
            format!("{user} (dashboard)"),
        )
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await;
    app.forget_status(&name);
    let (ok, said) = match output {
        Ok(output) => (
            output.status.success(),
            String::from_utf8_lossy(if output.status.success() {
                &output.stdout
            } else {
                &output.stderr
            })
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim()
            .to_owned(),
        ),
        Err(error) => (false, error.to_string()),
    };
    let _ = app.runs.audit(
        &user,
        if ok { "rolled-back" } else { "rollback-failed" },
        None,
        Some(&format!("{name}: {said}")),
    );
    if !ok {
        return error_page(
            &app,
            &viewer(&app, &headers),
            StatusCode::CONFLICT,
            &format!("rollback of {name} failed: {said}"),
        );
    }
    let message = format!("rolled back by {user}: {said}");
    let query: String = message
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Redirect::to(&format!("/environments/{name}?msg={query}")).into_response()
}

pub(crate) async fn webhook(
    State(app): Shared,
    headers: HeaderMap,
    Path(host): Path<String>,
    body: Bytes,
) -> Response {
    let host = match host.as_str() {
        "github" => GitHost::GitHub,
        "gitlab" => GitHost::GitLab,
        "gitea" | "forgejo" => GitHost::Gitea,
        other => {
            return (
                StatusCode::NOT_FOUND,
                format!(
                    "no webhook for `{other}`: use /hooks/github, /hooks/gitlab or /hooks/gitea\n"
                ),
            )
                .into_response();
        }
    };
    let count = |outcome: &str| {
        app.count(format!(
            "slipway_webhooks_total{{host=\"{}\",outcome=\"{outcome}\"}}",
            host.name()
        ))
    };
    let Some(secret) = app.settings.webhook_secret.clone() else {
        count("refused");
        return (
            StatusCode::UNAUTHORIZED,
            "webhooks are off: set `[server] webhook_secret` in slipway.toml\n",
        )
            .into_response();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(HookError::Unauthorized(why) | HookError::BadRequest(why)) =
        hooks::verify(host, &secret, &body, header)
    {
        count("refused");
        // Anyone may send unsigned requests: the audit notes them at most once a minute (the
        // metrics count every one), so they cannot fill the history.
        let now = Instant::now();
        let note = {
            let mut last = app
                .last_refused_webhook
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let due = last.is_none_or(|at| now.duration_since(at) >= REFUSED_WEBHOOK_NOTE_EVERY);
            if due {
                *last = Some(now);
            }
            due
        };
        if note {
            let _ = app
                .runs
                .audit(host.name(), "webhook-refused", None, Some(&why));
        }
        return (StatusCode::UNAUTHORIZED, format!("{why}\n")).into_response();
    }
    let event = match host {
        GitHost::GitHub => header("x-github-event"),
        GitHost::GitLab => header("x-gitlab-event"),
        GitHost::Gitea => header("x-gitea-event").or_else(|| header("x-forgejo-event")),
    };
    // A signed delivery is acted on once: the host's delivery id and the body itself are
    // remembered, so neither a repeated delivery nor the same body under a new id starts
    // anything. The answer is a success, so the host does not send it again and again.
    let keys = hooks::delivery_keys(host, header, &body);
    let mut repeated = None;
    for key in &keys {
        match app
            .runs
            .remember_delivery(key, hooks::DELIVERY_WINDOW.as_secs() as i64)
        {
            Ok(true) => {}
            Ok(false) => repeated = Some(key.clone()),
            Err(error) => {
                count("failed");
                return (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")).into_response();
            }
        }
    }
    if let Some(key) = repeated {
        count("duplicate");
        let _ = app
            .runs
            .audit(host.name(), "webhook-duplicate", None, Some(&key));
        return (
            StatusCode::OK,
            Json(serde_json::json!({
                "started": [],
                "duplicate": format!("this delivery was already received ({key}): it starts nothing"),
            })),
        )
            .into_response();
    }
    let forget = |app: &App| {
        for key in &keys {
            let _ = app.runs.forget_delivery(key);
        }
    };
    match hooks::parse(host, event, &body) {
        Err(HookError::BadRequest(why) | HookError::Unauthorized(why)) => {
            count("bad");
            forget(&app);
            (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response()
        }
        Ok(HookEvent::Ignored(why)) => {
            count("ignored");
            eprintln!("webhook from {}: {}", host.name(), why.escape_debug());
            (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "started": [], "ignored": why })),
            )
                .into_response()
        }
        Ok(event) => {
            let trigger = format!("webhook:{}", host.name());
            let app2 = app.clone();
            let started = tokio::task::spawn_blocking(move || match event {
                HookEvent::PullRequest {
                    number,
                    branch,
                    rev,
                    into,
                } => app2
                    .on_pull_request(
                        host,
                        number,
                        changes::PullRequestEvent { branch, rev, into },
                        &trigger,
                    )
                    .map(|runs| (runs, Vec::new())),
                HookEvent::Push { branch, rev } => app2.on_push(&branch, &rev, &trigger),
                HookEvent::Ignored(_) => Ok((Vec::new(), Vec::new())),
            })
            .await;
            match started {
                Ok(Ok((runs, skipped))) => {
                    count("accepted");
                    let ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
                    let mut answer = serde_json::json!({ "started": ids });
                    if !skipped.is_empty() {
                        answer["skipped"] = serde_json::json!(skipped);
                    }
                    (StatusCode::ACCEPTED, Json(answer)).into_response()
                }
                // Nothing started: the host may deliver it again once the cause is fixed.
                Ok(Err(error)) => {
                    count("failed");
                    forget(&app);
                    (StatusCode::UNPROCESSABLE_ENTITY, format!("{error}\n")).into_response()
                }
                Err(error) => {
                    forget(&app);
                    (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")).into_response()
                }
            }
        }
    }
}

pub(crate) async fn api_runs(State(app): Shared, headers: HeaderMap) -> Response {
    if !can_read(&app, &viewer(&app, &headers)) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(app.runs.list(None, 50).unwrap_or_default()).into_response()
}

pub(crate) async fn api_run(
    State(app): Shared,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if !can_read(&app, &viewer(&app, &headers)) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match app.runs.get(id) {
        Ok(Some(run)) => Json(serde_json::json!({
            "run": run,
            "approvals": app.runs.approvals(id).unwrap_or_default(),
        }))
        .into_response(),
        _ => (StatusCode::NOT_FOUND, format!("no run {id}\n")).into_response(),
    }
}

/// Whether `headers` carry `Authorization: Bearer <metrics_token>`.
fn has_metrics_token(app: &App, headers: &HeaderMap) -> bool {
    let Some(token) = &app.settings.metrics_token else {
        return false;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| hooks::same_secret(token, given.trim()))
}

/// Prometheus text format: runs by state, webhooks, logins, refusals, uptime. Read with
/// `[server] metrics_token` as a bearer token, or logged in; `public_read` does not open it.
pub(crate) async fn metrics(State(app): Shared, headers: HeaderMap) -> Response {
    if !has_metrics_token(&app, &headers) && viewer(&app, &headers).user.is_none() {
        app.count("slipway_server_refused_total{reason=\"metrics\"}".into());
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"slipway metrics\"")],
            "send `Authorization: Bearer <[server] metrics_token>`, or log in\n",
        )
            .into_response();
    }
    let mut out = String::new();
    out.push_str("# TYPE slipway_pipeline_runs gauge\n");
    for (pipeline, run_state, n) in app.runs.count_by_state().unwrap_or_default() {
        let _ = writeln!(
            out,
            "slipway_pipeline_runs{{pipeline=\"{pipeline}\",state=\"{run_state}\"}} {n}"
        );
    }
    let waiting = app
        .runs
        .unfinished()
        .unwrap_or_default()
        .iter()
        .filter(|r| r.steps.iter().any(|s| s.state == StepState::Waiting))
        .count();
    let _ = writeln!(
        out,
        "# TYPE slipway_approvals_waiting gauge\nslipway_approvals_waiting {waiting}"
    );
    for (key, n) in app
        .counters
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        let _ = writeln!(out, "{key} {n}");
    }
    let _ = writeln!(
        out,
        "# TYPE slipway_server_uptime_seconds gauge\nslipway_server_uptime_seconds {}",
        app.started.elapsed().as_secs()
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

pub(crate) async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        crate::html::STYLE,
    )
        .into_response()
}

pub(crate) async fn run_script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        crate::html::RUN_SCRIPT,
    )
        .into_response()
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct AuditQuery {
    /// Only entries of this action, e.g. `login-refused`.
    action: Option<String>,
}

/// The audit log: who started, approved, rejected, resumed and rolled back what, refused
/// webhooks and logins (with the address they came from), newest first.
pub(crate) async fn audit_page(
    State(app): Shared,
    headers: HeaderMap,
    Query(query): Query<AuditQuery>,
) -> Response {
    let viewer = viewer(&app, &headers);
    if !can_read(&app, &viewer) {
        return login_redirect();
    }
    let entries = app.runs.audit_log(None, 1000).unwrap_or_default();
    let refused = entries
        .iter()
        .filter(|e| e.action == "login-refused")
        .count();
    let mut body = format!(
        "<section><h2>Audit</h2><p class=note>{refused} failed login{} among the last {} entries. <a href=/audit?action=login-refused>Only failed logins</a> · <a href=/audit>Everything</a></p><table><tr><th>When</th><th>Who</th><th>What</th><th>Run</th><th>Detail</th></tr>",
        if refused == 1 { "" } else { "s" },
        entries.len()
    );
    for entry in entries
        .iter()
        .filter(|e| query.action.as_deref().is_none_or(|a| e.action == a))
        .take(200)
    {
        let run = entry
            .run_id
            .map(|id| format!("<a href=/runs/{id}>{id}</a>"))
            .unwrap_or_default();
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{run}</td><td class=note>{}</td></tr>",
            time(entry.at),
            esc(&entry.actor),
            state(&entry.action),
            esc(entry.detail.as_deref().unwrap_or(""))
        );
    }
    body.push_str("</table></section>");
    Html(page(
        app.project(),
        "audit",
        viewer.user.as_deref(),
        viewer.csrf.as_deref(),
        &body,
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_and_a_failed_certificate_order_show_beside_health() {
        let status = serde_json::json!({
            "hosts": [{
                "apps": { "web": [{ "release": "r3", "weight": 100, "containers": [
                    { "state": "running", "status": "Up 2 minutes (healthy)" }
                ] }] },
                "maintenance": [{ "app": null, "message": "Back at <14:00>", "since": 1_767_225_600 }],
                "certificates": [{
                    "host": "shop.example.com", "source": "acme", "not_after": 1_775_001_600,
                    "last_error": "the CA refused shop.example.com: blocked (rejectedIdentifier)"
                }]
            }]
        });
        let (health, traffic) = health_and_traffic(&status);
        assert!(
            health.contains("<strong>in maintenance</strong> (everything, since "),
            "{health}"
        );
        assert!(health.contains("Back at &lt;14:00&gt;"), "{health}");
        assert!(
            health.contains("https shop.example.com: certificate until "),
            "{health}"
        );
        assert!(
            health.contains("last order failed</strong>: the CA refused"),
            "{health}"
        );
        assert!(health.contains("web r3: 1/1 up"), "{health}");
        assert_eq!(traffic, "web r3: 100%");
    }
}
