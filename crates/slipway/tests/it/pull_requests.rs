//! The branch pipeline's `pull-request` step against in-process fakes of the GitHub, GitLab and
//! Gitea APIs. Each fake keeps its pull requests and checks what a real host checks: the token
//! in the host's own header, the fields a create needs, that the branch exists, and that nobody
//! opens a second pull request for the same branch. A second push to the branch keeps the one
//! pull request and asks its reviewers again.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::{Receiver, git, run, slipway, unique, write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Github,
    Gitlab,
    Gitea,
}

const TOKEN: &str = "tok-3c0ffee-do-not-print";
/// The login the token belongs to: the author of every pull request it opens.
const BOT: &str = "dev";

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query as sent.
    target: String,
    body: Value,
}

#[derive(Debug, Default)]
struct State {
    seen: Vec<Seen>,
    /// (number, head, base, title, body, reviewers)
    pulls: Vec<Value>,
}

/// A git host API on loopback.
#[derive(Debug)]
struct FakeHost {
    api: String,
    state: Arc<Mutex<State>>,
}

impl FakeHost {
    fn start(kind: Kind, repository: &'static str, branches: &'static [&'static str]) -> FakeHost {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let prefix = match kind {
            Kind::Github => "",
            Kind::Gitlab => "/api/v4",
            Kind::Gitea => "/api/v1",
        };
        let api = format!("{origin}{prefix}");
        let state: Arc<Mutex<State>> = Arc::default();
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut words = request_line.split_whitespace();
                let method = words.next().unwrap_or("").to_owned();
                let target = words.next().unwrap_or("").to_owned();
                let mut headers = Vec::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        let (name, value) = (name.to_ascii_lowercase(), value.trim().to_owned());
                        if name == "content-length" {
                            length = value.parse().unwrap_or(0);
                        }
                        headers.push((name, value));
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let header = |name: &str| {
                    headers
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.as_str())
                };
                let authorised = match kind {
                    Kind::Github => header("authorization") == Some(&format!("Bearer {TOKEN}")),
                    Kind::Gitlab => header("private-token") == Some(TOKEN),
                    Kind::Gitea => header("authorization") == Some(&format!("token {TOKEN}")),
                };
                let (status, answer) = {
                    let mut state = shared.lock().unwrap();
                    state.seen.push(Seen {
                        method: method.clone(),
                        target: target.clone(),
                        body: body.clone(),
                    });
                    if !authorised {
                        (401, json!({ "message": "Bad credentials" }))
                    } else {
                        let path = target.split('?').next().unwrap_or("");
                        let query: Vec<(String, String)> =
                            serde_urlencoded::from_str(target.split_once('?').map_or("", |q| q.1))
                                .unwrap_or_default();
                        let q = |name: &str| {
                            query
                                .iter()
                                .find(|(n, _)| n == name)
                                .map(|(_, v)| v.clone())
                        };
                        let path = path.strip_prefix(prefix).unwrap_or("");
                        answer(
                            kind, &origin, repository, branches, &mut state, &method, path, &q,
                            &body,
                        )
                    }
                };
                let text = answer.to_string();
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        FakeHost { api, state }
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    fn pulls(&self) -> Vec<Value> {
        self.state.lock().unwrap().pulls.clone()
    }
}

/// What the host answers an authorised request.
#[allow(clippy::too_many_arguments)]
fn answer(
    kind: Kind,
    origin: &str,
    repository: &str,
    branches: &[&str],
    state: &mut State,
    method: &str,
    path: &str,
    q: &dyn Fn(&str) -> Option<String>,
    body: &Value,
) -> (u16, Value) {
    let web = |number: u64| match kind {
        Kind::Gitlab => format!("{origin}/{repository}/-/merge_requests/{number}"),
        _ => format!("{origin}/{repository}/pull/{number}"),
    };
    let users = ["ada", "bob", BOT];
    let user_id = |login: &str| {
        users
            .iter()
            .position(|u| *u == login)
            .map(|i| i as u64 + 10)
    };
    match kind {
        Kind::Github | Kind::Gitea => {
            let pulls = format!("/repos/{repository}/pulls");
            if path == pulls && method == "GET" {
                let open: Vec<Value> = state
                    .pulls
                    .iter()
                    .filter(|p| match kind {
                        // GitHub filters by `owner:branch` and base itself.
                        Kind::Github => {
                            let owner = repository.split('/').next().unwrap();
                            q("head").is_none_or(|h| {
                                format!("{owner}:{}", p["head"]["ref"].as_str().unwrap()) == h
                            }) && q("base").is_none_or(|b| p["base"]["ref"] == b.as_str())
                        }
                        _ => true,
                    })
                    .cloned()
                    .collect();
                return (200, Value::Array(open));
            }
            if path == pulls && method == "POST" {
                let (Some(head), Some(base), Some(title)) = (
                    body["head"].as_str(),
                    body["base"].as_str(),
                    body["title"].as_str(),
                ) else {
                    return (
                        422,
                        json!({ "message": "Validation Failed", "errors": [{ "message": "head, base and title are required" }] }),
                    );
                };
                if !branches.contains(&head) || !branches.contains(&base) {
                    return (
                        422,
                        json!({ "message": "Validation Failed", "errors": [{ "message": format!("no branch {head}") }] }),
                    );
                }
                if state
                    .pulls
                    .iter()
                    .any(|p| p["head"]["ref"] == head && p["base"]["ref"] == base)
                {
                    return (
                        422,
                        json!({ "message": "Validation Failed", "errors": [{ "message": format!("A pull request already exists for {head}.") }] }),
                    );
                }
                let number = state.pulls.len() as u64 + 1;
                let pull = json!({
                    "number": number,
                    "html_url": web(number),
                    "title": title,
                    "body": body["body"],
                    "draft": body["draft"],
                    "head": { "ref": head },
                    "base": { "ref": base },
                    "user": { "login": BOT },
                    "requested_reviewers": [],
                });
                state.pulls.push(pull.clone());
                return (201, pull);
            }
            if let Some(rest) = path.strip_prefix(&format!("{pulls}/"))
                && let Some(number) = rest.strip_suffix("/requested_reviewers")
                && method == "POST"
            {
                let Some(pull) = state
                    .pulls
                    .iter_mut()
                    .find(|p| p["number"].as_u64() == number.parse().ok())
                else {
                    return (404, json!({ "message": "Not Found" }));
                };
                let reviewers = body["reviewers"].as_array().cloned().unwrap_or_default();
                for reviewer in &reviewers {
                    let login = reviewer.as_str().unwrap_or("");
                    if login == BOT {
                        return (
                            422,
                            json!({ "message": "Review cannot be requested from pull request author." }),
                        );
                    }
                    if !users.contains(&login) {
                        return (
                            422,
                            json!({ "message": format!("Reviews may only be requested from collaborators: {login}") }),
                        );
                    }
                    let list = pull["requested_reviewers"].as_array_mut().unwrap();
                    if !list.iter().any(|r| r["login"] == login) {
                        list.push(json!({ "login": login }));
                    }
                }
                return (201, pull.clone());
            }
            (404, json!({ "message": "Not Found" }))
        }
        Kind::Gitlab => {
            let project = format!("/projects/{}", repository.replace('/', "%2F"));
            let requests = format!("{project}/merge_requests");
            if path == "/users" && method == "GET" {
                let login = q("username").unwrap_or_default();
                return match user_id(&login) {
                    Some(id) => (200, json!([{ "id": id, "username": login }])),
                    None => (200, json!([])),
                };
            }
            if path == requests && method == "GET" {
                let open: Vec<Value> = state
                    .pulls
                    .iter()
                    .filter(|p| {
                        q("source_branch").is_none_or(|b| p["source_branch"] == b.as_str())
                            && q("target_branch").is_none_or(|b| p["target_branch"] == b.as_str())
                    })
                    .cloned()
                    .collect();
                return (200, Value::Array(open));
            }
            let reviewers_of = |ids: &Value| -> Value {
                Value::Array(
                    ids.as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|id| {
                            let id = id.as_u64()?;
                            Some(json!({ "id": id, "username": users[(id - 10) as usize] }))
                        })
                        .collect(),
                )
            };
            if path == requests && method == "POST" {
                let (Some(source), Some(target), Some(title)) = (
                    body["source_branch"].as_str(),
                    body["target_branch"].as_str(),
                    body["title"].as_str(),
                ) else {
                    return (
                        400,
                        json!({ "error": "source_branch, target_branch, title are missing" }),
                    );
                };
                if !branches.contains(&source) {
                    return (422, json!({ "message": ["Source branch does not exist"] }));
                }
                if state
                    .pulls
                    .iter()
                    .any(|p| p["source_branch"] == source && p["target_branch"] == target)
                {
                    return (
                        409,
                        json!({ "message": ["Another open merge request already exists for this source branch"] }),
                    );
                }
                let iid = state.pulls.len() as u64 + 1;
                let request = json!({
                    "id": 900 + iid,
                    "iid": iid,
                    "web_url": web(iid),
                    "title": title,
                    "description": body["description"],
                    "source_branch": source,
                    "target_branch": target,
                    "reviewers": reviewers_of(&body["reviewer_ids"]),
                });
                state.pulls.push(request.clone());
                return (201, request);
            }
            if let Some(iid) = path.strip_prefix(&format!("{requests}/"))
                && method == "PUT"
            {
                let Some(request) = state
                    .pulls
                    .iter_mut()
                    .find(|p| p["iid"].as_u64() == iid.parse().ok())
                else {
                    return (404, json!({ "message": "404 Not found" }));
                };
                if !body["reviewer_ids"].is_null() {
                    request["reviewers"] = reviewers_of(&body["reviewer_ids"]);
                }
                return (200, request.clone());
            }
            (404, json!({ "message": "404 Not found" }))
        }
    }
}

/// A project whose branch pipeline lints nothing and opens a pull request on `kind`'s fake; a
/// feature branch with two commits checked out.
fn project(dir: &Path, kind: Kind, api: &str, repository: Option<&str>, hook: &str) -> PathBuf {
    let root = dir.join("shop");
    let host = match kind {
        Kind::Github => "github",
        Kind::Gitlab => "gitlab",
        Kind::Gitea => "gitea",
    };
    let repository = repository
        .map(|r| format!("repository = \"{r}\"\n"))
        .unwrap_or_default();
    write(
        &root,
        "slipway.toml",
        &format!(
            r#"schema = 1
[project]
name = "{}"

[git]
host = "{host}"
api = "{api}"
{repository}token = "env:SHOP_GIT_TOKEN"
reviewers = ["ada", "{BOT}"]

[notifications.team]
kind = "webhook"
url = "{hook}/team"
events = ["pull-request-opened"]

[pipelines.branch]
steps = [{{ name = "unit tests", run = "true" }}, "pull-request"]
"#,
            unique("prs")
        ),
    );
    write(&root, ".gitignore", ".slipway/\n");
    write(&root, "app/api/main.py", "print('hello')\n");
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "first"]);
    git(&root, &["checkout", "-qb", "feature/prices"]);
    write(&root, "app/api/prices.py", "EURO = True\n");
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "Show prices in euros"]);
    write(&root, "app/api/prices.py", "EURO = True\nROUND = 2\n");
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "Round prices to cents"]);
    root
}

fn run_branch(root: &Path, token: Option<&str>) -> crate::Run {
    let mut command = slipway(root);
    command.args(["pipeline", "run", "branch"]);
    match token {
        Some(token) => command.env("SHOP_GIT_TOKEN", token),
        None => command.env_remove("SHOP_GIT_TOKEN"),
    };
    run(&mut command)
}

fn logs(root: &Path, id: &str) -> String {
    run(slipway(root).args(["pipeline", "logs", id])).stdout
}

fn assert_token_hidden(texts: &[&str]) {
    for text in texts {
        assert!(!text.contains(TOKEN), "the token leaked: {text}");
    }
}

#[test]
fn a_branch_pipeline_opens_one_pull_request_on_github_and_asks_its_reviewers() {
    let dir = tempfile::tempdir().unwrap();
    let host = FakeHost::start(Kind::Github, "acme/shop", &["main", "feature/prices"]);
    let hook = Receiver::start(&[("/team", &[200])]);
    let root = project(
        dir.path(),
        Kind::Github,
        &host.api,
        Some("acme/shop"),
        &hook.address,
    );

    let first = run_branch(&root, Some(TOKEN));
    assert_eq!(first.code, 0, "{first:?}");
    let pulls = host.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let pull = &pulls[0];
    assert_eq!(pull["head"]["ref"], "feature/prices");
    assert_eq!(pull["base"]["ref"], "main");
    assert_eq!(pull["title"], "Round prices to cents");
    assert_eq!(pull["draft"], false);
    let body = pull["body"].as_str().unwrap();
    assert!(body.contains("- Show prices in euros ("), "{body}");
    assert!(body.contains("- Round prices to cents ("), "{body}");
    assert!(
        body.contains("of the branch pipeline passed its checks"),
        "{body}"
    );
    // The author is never asked to review their own pull request.
    assert_eq!(pull["requested_reviewers"], json!([{ "login": "ada" }]));
    let first_run = logs(&root, "1");
    assert!(
        first_run.contains(&format!("opened #1 {}/acme/shop/pull/1", host.api)),
        "{first_run}"
    );
    let told = hook.bodies("/team");
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["event"], "pull-request-opened");
    assert_eq!(
        told[0]["facts"]["pull request"],
        format!("{}/acme/shop/pull/1", host.api)
    );
    assert_eq!(told[0]["facts"]["reviewers"], "ada");

    // The next push to the branch: the same pull request, its reviewers asked again.
    write(&root, "app/api/prices.py", "EURO = True\nROUND = 3\n");
    git(&root, &["commit", "-qam", "Round to three places"]);
    let second = run_branch(&root, Some(TOKEN));
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(host.pulls().len(), 1);
    let second_run = logs(&root, "2");
    assert!(second_run.contains("already open: #1"), "{second_run}");
    let seen = host.seen();
    let creates = seen
        .iter()
        .filter(|s| s.method == "POST" && s.target == "/repos/acme/shop/pulls")
        .count();
    assert_eq!(creates, 1);
    let lookups: Vec<&Seen> = seen.iter().filter(|s| s.method == "GET").collect();
    assert_eq!(lookups.len(), 2);
    assert!(
        lookups[1]
            .target
            .contains("head=acme%3Afeature%2Fprices&base=main"),
        "{}",
        lookups[1].target
    );
    let asked: Vec<&Value> = seen
        .iter()
        .filter(|s| s.target == "/repos/acme/shop/pulls/1/requested_reviewers")
        .map(|s| &s.body)
        .collect();
    assert_eq!(asked, [&json!({ "reviewers": ["ada"] }); 2]);
    assert_token_hidden(&[
        &first.stdout,
        &first.stderr,
        &second.stdout,
        &second.stderr,
        &first_run,
        &second_run,
    ]);
}

#[test]
fn gitlab_merge_requests_name_reviewers_by_id_and_the_project_comes_from_the_remote() {
    let dir = tempfile::tempdir().unwrap();
    let host = FakeHost::start(Kind::Gitlab, "acme/web/shop", &["main", "feature/prices"]);
    let hook = Receiver::start(&[("/team", &[200])]);
    let root = project(dir.path(), Kind::Gitlab, &host.api, None, &hook.address);
    // The remote's credentials are never shown, and its path names the project.
    git(
        &root,
        &[
            "remote",
            "add",
            "origin",
            "https://ci:remote-secret@gitlab.example/acme/web/shop.git",
        ],
    );

    let first = run_branch(&root, Some(TOKEN));
    assert_eq!(first.code, 0, "{first:?}");
    let requests = host.pulls();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["source_branch"], "feature/prices");
    assert_eq!(requests[0]["target_branch"], "main");
    assert_eq!(requests[0]["title"], "Round prices to cents");
    // On GitLab the token's own user may review: both are asked, by id.
    assert_eq!(
        requests[0]["reviewers"],
        json!([{ "id": 10, "username": "ada" }, { "id": 12, "username": BOT }])
    );
    let first_run = logs(&root, "1");
    assert!(
        first_run.contains(&format!(
            "opened #1 {}/acme/web/shop/-/merge_requests/1",
            host.api.trim_end_matches("/api/v4")
        )),
        "{first_run}"
    );

    let second = run_branch(&root, Some(TOKEN));
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(host.pulls().len(), 1);
    let updates: Vec<Seen> = host
        .seen()
        .into_iter()
        .filter(|s| s.method == "PUT")
        .collect();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(
        updates[0].target,
        "/api/v4/projects/acme%2Fweb%2Fshop/merge_requests/1"
    );
    assert_eq!(updates[0].body, json!({ "reviewer_ids": [10, 12] }));
    assert_eq!(hook.bodies("/team").len(), 2);
    assert_token_hidden(&[&first.stdout, &first.stderr, &first_run]);
}

#[test]
fn gitea_pull_requests_are_found_by_branch_and_reviewed() {
    let dir = tempfile::tempdir().unwrap();
    let host = FakeHost::start(Kind::Gitea, "acme/shop", &["main", "feature/prices"]);
    let hook = Receiver::start(&[("/team", &[200])]);
    let root = project(
        dir.path(),
        Kind::Gitea,
        &host.api,
        Some("acme/shop"),
        &hook.address,
    );
    for _ in 0..2 {
        let result = run_branch(&root, Some(TOKEN));
        assert_eq!(result.code, 0, "{result:?}");
    }
    let pulls = host.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert_eq!(pulls[0]["head"]["ref"], "feature/prices");
    assert_eq!(pulls[0]["requested_reviewers"], json!([{ "login": "ada" }]));
    assert!(logs(&root, "2").contains("already open: #1"));
}

#[test]
fn a_refused_token_fails_the_step_with_what_the_host_said_and_opens_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let host = FakeHost::start(Kind::Github, "acme/shop", &["main", "feature/prices"]);
    let hook = Receiver::start(&[("/team", &[200])]);
    let root = project(
        dir.path(),
        Kind::Github,
        &host.api,
        Some("acme/shop"),
        &hook.address,
    );

    let wrong = run_branch(&root, Some("not-the-token"));
    assert_ne!(wrong.code, 0);
    let log = logs(&root, "1");
    assert!(
        log.contains(
            "GitHub: GET /repos/acme/shop/pulls answered 401 Unauthorized (Bad credentials): check the token"
        ),
        "{log}"
    );
    assert!(host.pulls().is_empty());
    assert!(hook.bodies("/team").is_empty());

    let unset = run_branch(&root, None);
    assert_ne!(unset.code, 0);
    let log = logs(&root, "2");
    assert!(
        log.contains("the environment variable SHOP_GIT_TOKEN (git.token) is not set"),
        "{log}"
    );
    assert!(host.pulls().is_empty());

    // Not a branch to open one from.
    git(&root, &["checkout", "-q", "main"]);
    let on_main = run(slipway(&root)
        .args(["pull-request"])
        .env("SHOP_GIT_TOKEN", TOKEN));
    assert_eq!(on_main.code, 2, "{on_main:?}");
    assert!(
        on_main.stderr.contains("`main` is `main` itself"),
        "{}",
        on_main.stderr
    );
    assert!(host.pulls().is_empty());
}

#[test]
fn a_pull_request_step_without_a_git_host_is_a_manifest_error() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "slipway.toml",
        "schema = 1\n[project]\nname = \"shop\"\n\n[pipelines.branch]\nsteps = [\"lint\", \"pull-request\"]\n",
    );
    let result = run(slipway(dir.path()).args(["config", "check"]));
    assert_ne!(result.code, 0);
    assert!(
        result.stderr.contains("pipelines.branch.steps[1]")
            && result
                .stderr
                .contains("`pull-request` needs the git host it opens pull requests on"),
        "{}",
        result.stderr
    );
}
