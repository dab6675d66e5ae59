//! Pull requests through the git host's API: GitHub, GitLab (merge requests), Gitea and
//! Forgejo. Opening is idempotent: when the branch already has an open pull request into the
//! same base, that one is kept and its reviewers are asked again, so a branch pipeline that runs
//! on every push never opens a second one.
//!
//! The flow ([`GitHostClient::open`]) is written once over the [`GitHost`] trait, which sends
//! one API request: [`HttpGitHost`] sends it with reqwest and the host's token header,
//! [`RecordingGitHost`] records it and answers from a script, for unit tests. The hosts' replies
//! are read into serde structs, and the request bodies written from them ([`wire`]).
//!
//! The token travels only in a request header; no message of this crate carries it.

#![warn(missing_docs)]

pub mod recording;
pub mod wire;

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use slipway_core::manifest::{GitHost as GitHostSettings, GitHostKind};

pub use recording::RecordingGitHost;
use wire::{GitlabMergeRequest, GitlabUser, Pull};

/// What went wrong talking to a git host. Each message starts with the host's name and says
/// what to check; none carries the token.
#[derive(Debug, thiserror::Error)]
pub enum GitHostError {
    /// `[git]` in slipway.toml cannot be used as it is (a token variable unset, no API address,
    /// no repository).
    #[error("{host}: {message}")]
    Settings {
        /// `GitHub`, `GitLab`, `Gitea` or `Forgejo`.
        host: &'static str,
        /// What is missing and how to give it.
        message: String,
    },
    /// The request did not get an answer (connection refused, timeout, TLS).
    #[error("{host}: {method} {url}: {message}")]
    Unreachable {
        /// The host's name.
        host: &'static str,
        /// The request's method.
        method: Method,
        /// The URL asked for (no credentials are ever in it).
        url: String,
        /// What the HTTP client said.
        message: String,
    },
    /// The host answered with an error status.
    #[error("{host}: {method} {path} answered {status}{said}{hint}")]
    Refused {
        /// The host's name.
        host: &'static str,
        /// The request's method.
        method: Method,
        /// The API path asked for.
        path: String,
        /// The status, e.g. `422 Unprocessable Entity`.
        status: Status,
        /// What the host's error body says, as ` (message; detail)`, or nothing.
        said: String,
        /// What to check, as `: ...`, or nothing.
        hint: &'static str,
    },
    /// The host answered, but not with what its API answers (the address is not the API's).
    #[error("{host}: {method} {path} answered {status} with {what}: is git.api the API's address?")]
    Unexpected {
        /// The host's name.
        host: &'static str,
        /// The request's method.
        method: Method,
        /// The API path asked for.
        path: String,
        /// The status.
        status: Status,
        /// What came instead.
        what: String,
    },
    /// A reviewer of `git.reviewers` has no account on the GitLab instance.
    #[error(
        "GitLab: no GitLab user `{login}` (git.reviewers): check the login, or that the token may see users"
    )]
    UnknownReviewer {
        /// The login.
        login: String,
    },
}

/// The result of a git host operation.
pub type Result<T, E = GitHostError> = std::result::Result<T, E>;

/// The HTTP methods the flow uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        })
    }
}

/// An HTTP status as the host sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u16);

impl Status {
    fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match reqwest::StatusCode::from_u16(self.0) {
            Ok(status) => write!(f, "{status}"),
            Err(_) => write!(f, "{}", self.0),
        }
    }
}

/// One request to a git host's REST API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiRequest {
    /// The method.
    pub method: Method,
    /// The path below the API's base URL (`/repos/acme/shop/pulls`).
    pub path: String,
    /// Query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The JSON body, when there is one.
    pub body: Option<serde_json::Value>,
}

/// A git host's answer: its status and body text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiReply {
    /// The HTTP status.
    pub status: Status,
    /// The body as text.
    pub body: String,
}

/// A git host's REST API: sends one request and returns the answer, whatever its status.
/// [`HttpGitHost`] is the real one, [`RecordingGitHost`] the double for tests.
pub trait GitHost: Send + Sync {
    /// Which host this is; the flow differs between GitHub, GitLab and Gitea/Forgejo.
    fn kind(&self) -> GitHostKind;

    /// Sends `request`. An error only when no answer came.
    fn send(&self, request: &ApiRequest) -> impl Future<Output = Result<ApiReply>> + Send;
}

/// The name a person knows the host by.
pub fn host_name(kind: GitHostKind) -> &'static str {
    match kind {
        GitHostKind::Github => "GitHub",
        GitHostKind::Gitlab => "GitLab",
        GitHostKind::Gitea => "Gitea",
        GitHostKind::Forgejo => "Forgejo",
    }
}

/// What a pull request is opened with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestDraft {
    /// The branch to merge.
    pub branch: String,
    /// The branch it merges into.
    pub base: String,
    /// Its title.
    pub title: String,
    /// Its description.
    pub body: String,
}

/// The pull request as the host has it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PullRequest {
    /// GitHub's and Gitea's number, GitLab's `iid`.
    pub number: u64,
    /// Its page on the host.
    pub url: String,
    /// `false` when it was open already.
    pub created: bool,
    /// The logins asked to review it.
    pub reviewers: Vec<String>,
}

/// The real git host: HTTPS requests with the token in the host's header.
pub struct HttpGitHost {
    kind: GitHostKind,
    api: String,
    token: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for HttpGitHost {
    // Without the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpGitHost")
            .field("kind", &self.kind)
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

impl HttpGitHost {
    /// The host `[git]` describes: the token from its variable, the API's address from
    /// `git.api` or the host's public one.
    pub fn new(settings: &GitHostSettings) -> Result<HttpGitHost> {
        let host = host_name(settings.host);
        let var = settings
            .token
            .strip_prefix("env:")
            .unwrap_or(&settings.token);
        let token = std::env::var(var)
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| GitHostError::Settings {
                host,
                message: format!(
                    "the environment variable {var} (git.token) is not set: set it to a {host} API token that may open pull requests"
                ),
            })?;
        let api = match (&settings.api, settings.host) {
            (Some(api), _) => api.trim_end_matches('/').to_owned(),
            (None, GitHostKind::Github) => "https://api.github.com".to_owned(),
            (None, GitHostKind::Gitlab) => "https://gitlab.com/api/v4".to_owned(),
            (None, _) => {
                return Err(GitHostError::Settings {
                    host,
                    message: "git.api is not set: add the API's base URL, e.g. `https://git.example.com/api/v1`".into(),
                });
            }
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| GitHostError::Settings {
                host,
                message: format!("cannot make an HTTP client: {error}"),
            })?;
        Ok(HttpGitHost {
            kind: settings.host,
            api,
            token,
            http,
        })
    }
}

impl GitHost for HttpGitHost {
    fn kind(&self) -> GitHostKind {
        self.kind
    }

    async fn send(&self, request: &ApiRequest) -> Result<ApiReply> {
        let mut url = format!("{}{}", self.api, request.path);
        if !request.query.is_empty() {
            url.push('?');
            url.push_str(&serde_urlencoded::to_string(&request.query).unwrap_or_default());
        }
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
        };
        let mut http = self.http.request(method, &url);
        http = match self.kind {
            GitHostKind::Github => http
                .bearer_auth(&self.token)
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28"),
            GitHostKind::Gitlab => http.header("PRIVATE-TOKEN", &self.token),
            GitHostKind::Gitea | GitHostKind::Forgejo => {
                http.header("Authorization", format!("token {}", self.token))
            }
        };
        if let Some(body) = &request.body {
            http = http.json(body);
        }
        let answer = http
            .send()
            .await
            .map_err(|error| GitHostError::Unreachable {
                host: host_name(self.kind),
                method: request.method,
                url: url.clone(),
                message: error.without_url().to_string().trim_end().to_owned(),
            })?;
        let status = Status(answer.status().as_u16());
        let body = answer.text().await.unwrap_or_default();
        Ok(ApiReply { status, body })
    }
}

/// A client of one repository on one git host.
#[derive(Debug)]
pub struct GitHostClient<H = HttpGitHost> {
    host: H,
    repository: String,
}

impl GitHostClient<HttpGitHost> {
    /// The client `[git]` describes: the repository from `git.repository`, or else from the
    /// URL of the project's `origin` remote (`None` when it has none).
    pub fn new(settings: &GitHostSettings, origin: Option<&str>) -> Result<GitHostClient> {
        // The token and the API's address are checked first, as they always were.
        let api = HttpGitHost::new(settings)?;
        let host = host_name(settings.host);
        let repository = match (&settings.repository, origin) {
            (Some(repository), _) => repository.clone(),
            (None, None) => {
                return Err(GitHostError::Settings {
                    host,
                    message:
                        "the repository has no `origin` remote: set git.repository = \"owner/name\""
                            .into(),
                });
            }
            (None, Some(url)) => {
                repository_of_remote(url).ok_or_else(|| GitHostError::Settings {
                    host,
                    message: format!(
                        "cannot tell owner/name from the `origin` remote ({}): set git.repository",
                        without_credentials(url)
                    ),
                })?
            }
        };
        Ok(GitHostClient::with_host(api, repository))
    }
}

impl<H: GitHost> GitHostClient<H> {
    /// A client of `repository` (`owner/name`) on `host`.
    pub fn with_host(host: H, repository: String) -> GitHostClient<H> {
        GitHostClient { host, repository }
    }

    /// The repository, `owner/name`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The host it talks to.
    pub fn host(&self) -> &H {
        &self.host
    }

    /// Opens the pull request of `draft.branch` into `draft.base` (or finds the open one) and
    /// asks `reviewers` to review it.
    pub async fn open(
        &self,
        draft: &PullRequestDraft,
        reviewers: &[String],
        as_draft: bool,
    ) -> Result<PullRequest> {
        match self.host.kind() {
            GitHostKind::Github => self.open_on_github(draft, reviewers, as_draft).await,
            GitHostKind::Gitlab => self.open_on_gitlab(draft, reviewers, as_draft).await,
            GitHostKind::Gitea | GitHostKind::Forgejo => {
                self.open_on_gitea(draft, reviewers, as_draft).await
            }
        }
    }

    async fn open_on_github(
        &self,
        draft: &PullRequestDraft,
        reviewers: &[String],
        as_draft: bool,
    ) -> Result<PullRequest> {
        let repo = &self.repository;
        let owner = repo.split('/').next().unwrap_or_default();
        let open: Vec<Pull> = self
            .call(
                Method::Get,
                &format!("/repos/{repo}/pulls"),
                &[
                    ("state", "open"),
                    ("head", &format!("{owner}:{}", draft.branch)),
                    ("base", &draft.base),
                ],
                None::<()>,
            )
            .await?;
        let (pull, created) = match open.into_iter().next() {
            Some(pull) => (pull, false),
            None => {
                let body = wire::NewPull {
                    title: &draft.title,
                    head: &draft.branch,
                    base: &draft.base,
                    body: &draft.body,
                    draft: Some(as_draft),
                };
                (self.create_pull(&body).await?, true)
            }
        };
        self.ask_reviewers(&pull, created, reviewers).await
    }

    async fn open_on_gitlab(
        &self,
        draft: &PullRequestDraft,
        reviewers: &[String],
        as_draft: bool,
    ) -> Result<PullRequest> {
        let project = format!("/projects/{}", self.repository.replace('/', "%2F"));
        let mut reviewer_ids = Vec::with_capacity(reviewers.len());
        for login in reviewers {
            let users: Vec<GitlabUser> = self
                .call(Method::Get, "/users", &[("username", login)], None::<()>)
                .await?;
            let user = users
                .into_iter()
                .next()
                .ok_or_else(|| GitHostError::UnknownReviewer {
                    login: login.clone(),
                })?;
            reviewer_ids.push(user.id);
        }
        let open: Vec<GitlabMergeRequest> = self
            .call(
                Method::Get,
                &format!("{project}/merge_requests"),
                &[
                    ("state", "opened"),
                    ("source_branch", &draft.branch),
                    ("target_branch", &draft.base),
                ],
                None::<()>,
            )
            .await?;
        let (request, created) = match open.into_iter().next() {
            Some(request) => {
                // Reviewers set by hand stay; ours are added.
                let mut ids = request.reviewer_ids();
                for id in &reviewer_ids {
                    if !ids.contains(id) {
                        ids.push(*id);
                    }
                }
                let updated: GitlabMergeRequest = self
                    .call(
                        Method::Put,
                        &format!("{project}/merge_requests/{}", request.iid),
                        &[],
                        Some(wire::ReviewerIds { reviewer_ids: ids }),
                    )
                    .await?;
                (updated, false)
            }
            None => {
                let title = if as_draft {
                    format!("Draft: {}", draft.title)
                } else {
                    draft.title.clone()
                };
                let body = wire::NewMergeRequest {
                    source_branch: &draft.branch,
                    target_branch: &draft.base,
                    title: &title,
                    description: &draft.body,
                    reviewer_ids: &reviewer_ids,
                };
                let request: GitlabMergeRequest = self
                    .call(
                        Method::Post,
                        &format!("{project}/merge_requests"),
                        &[],
                        Some(body),
                    )
                    .await?;
                (request, true)
            }
        };
        Ok(PullRequest {
            number: request.iid,
            url: request.web_url,
            created,
            reviewers: reviewers.to_vec(),
        })
    }

    async fn open_on_gitea(
        &self,
        draft: &PullRequestDraft,
        reviewers: &[String],
        as_draft: bool,
    ) -> Result<PullRequest> {
        let repo = &self.repository;
        let mut found = None;
        // The list cannot be filtered by branch; a repository rarely has pages of open ones.
        for page in 1..=20 {
            let page = page.to_string();
            let open: Vec<Pull> = self
                .call(
                    Method::Get,
                    &format!("/repos/{repo}/pulls"),
                    &[("state", "open"), ("limit", "50"), ("page", &page)],
                    None::<()>,
                )
                .await?;
            // Servers may cap a page below the asked-for size: only an empty page is the end.
            let last = open.is_empty();
            if let Some(pull) = open.into_iter().find(|pull| {
                pull.head.reference == draft.branch && pull.base.reference == draft.base
            }) {
                found = Some(pull);
                break;
            }
            if last {
                break;
            }
        }
        let (pull, created) = match found {
            Some(pull) => (pull, false),
            None => {
                // Gitea and Forgejo mark drafts by a title prefix.
                let title = if as_draft {
                    format!("WIP: {}", draft.title)
                } else {
                    draft.title.clone()
                };
                let body = wire::NewPull {
                    title: &title,
                    head: &draft.branch,
                    base: &draft.base,
                    body: &draft.body,
                    draft: None,
                };
                (self.create_pull(&body).await?, true)
            }
        };
        self.ask_reviewers(&pull, created, reviewers).await
    }

    /// Opens a pull request (GitHub's and Gitea's API alike); the host's answer.
    async fn create_pull(&self, body: &wire::NewPull<'_>) -> Result<Pull> {
        let repo = &self.repository;
        self.call(
            Method::Post,
            &format!("/repos/{repo}/pulls"),
            &[],
            Some(body),
        )
        .await
    }

    /// Asks `reviewers` to review `pull` (GitHub's and Gitea's API alike), leaving out its
    /// author, whom both hosts refuse.
    async fn ask_reviewers(
        &self,
        pull: &Pull,
        created: bool,
        reviewers: &[String],
    ) -> Result<PullRequest> {
        let repo = &self.repository;
        let number = pull.number;
        let author = pull.user.as_ref().map_or("", |user| user.login.as_str());
        let reviewers: Vec<String> = reviewers
            .iter()
            .filter(|r| !r.eq_ignore_ascii_case(author))
            .cloned()
            .collect();
        if !reviewers.is_empty() {
            let _: serde::de::IgnoredAny = self
                .call(
                    Method::Post,
                    &format!("/repos/{repo}/pulls/{number}/requested_reviewers"),
                    &[],
                    Some(wire::Reviewers {
                        reviewers: &reviewers,
                    }),
                )
                .await?;
        }
        Ok(PullRequest {
            number,
            url: pull.html_url.clone(),
            created,
            reviewers,
        })
    }

    /// One API call; its answer read as `T`, or an error that says what the host said.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<impl Serialize>,
    ) -> Result<T> {
        let host = host_name(self.host.kind());
        let request = ApiRequest {
            method,
            path: path.to_owned(),
            query: query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.map(|b| serde_json::to_value(b).expect("request bodies serialize")),
        };
        let reply = self.host.send(&request).await?;
        let status = reply.status;
        if !status.is_success() {
            let hint = match status.0 {
                401 => ": check the token in git.token's variable",
                403 => ": the token may not do this; it needs write access to pull requests",
                404 => {
                    ": check git.repository and git.api (a token that may not see the repository gets 404 too)"
                }
                _ => "",
            };
            return Err(GitHostError::Refused {
                host,
                method,
                path: path.to_owned(),
                status,
                said: said(&reply.body),
                hint,
            });
        }
        serde_json::from_str(&reply.body).map_err(|error| GitHostError::Unexpected {
            host,
            method,
            path: path.to_owned(),
            status,
            what: if serde_json::from_str::<serde::de::IgnoredAny>(&reply.body).is_ok() {
                format!("JSON of another shape ({error})")
            } else {
                "something other than JSON".to_owned()
            },
        })
    }
}

/// What the host's error body says, as ` (message; detail...)`.
fn said(text: &str) -> String {
    match serde_json::from_str::<wire::ErrorReply>(text) {
        Ok(reply) => {
            let parts = reply.messages();
            if parts.is_empty() {
                String::new()
            } else {
                format!(" ({})", parts.join("; "))
            }
        }
        Err(_) => String::new(),
    }
}

/// `owner/name` from a remote's URL: `git@host:owner/name.git`, `ssh://git@host:22/owner/name`,
/// `https://host/group/sub/name.git`.
pub fn repository_of_remote(url: &str) -> Option<String> {
    let url = url.trim();
    let path = if let Some((_, rest)) = url.split_once("://") {
        let (_, path) = rest.split_once('/')?;
        path
    } else if let Some((host, path)) = url.split_once(':') {
        // scp-like syntax; a local path has no host before a colon.
        if host.contains('/') {
            return None;
        }
        path
    } else {
        return None;
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let parts: Vec<&str> = path.split('/').collect();
    (parts.len() >= 2 && parts.iter().all(|p| !p.is_empty())).then(|| path.to_owned())
}

/// A remote's URL as it may be shown: without a user or token before the host.
fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) if !rest.split('/').next().unwrap_or("").is_empty() => {
                format!("{scheme}://{host}")
            }
            _ => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    fn draft() -> PullRequestDraft {
        PullRequestDraft {
            branch: "feature/prices".into(),
            base: "main".into(),
            title: "Round prices to cents".into(),
            body: "- Round prices to cents".into(),
        }
    }

    fn pull(number: u64, head: &str) -> serde_json::Value {
        json!({
            "number": number,
            "html_url": format!("https://git.example/acme/shop/pull/{number}"),
            "user": { "login": "slipway-bot" },
            "head": { "ref": head },
            "base": { "ref": "main" },
            "title": "ignored",
        })
    }

    fn reviewers(logins: &[&str]) -> Vec<String> {
        logins.iter().map(|l| (*l).to_owned()).collect()
    }

    fn summary(request: &ApiRequest) -> String {
        let query: Vec<String> = request
            .query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{} {}?{}", request.method, request.path, query.join("&"))
    }

    #[test]
    fn github_opens_a_pull_request_once_and_never_asks_its_author_to_review() {
        let host = RecordingGitHost::new(GitHostKind::Github)
            .answer(200, json!([]))
            .answer(201, pull(7, "feature/prices"))
            .answer(201, json!({}));
        let client = GitHostClient::with_host(host, "acme/shop".into());
        let opened = run(client.open(&draft(), &reviewers(&["ada", "SLIPWAY-BOT"]), true)).unwrap();
        assert_eq!(
            opened,
            PullRequest {
                number: 7,
                url: "https://git.example/acme/shop/pull/7".into(),
                created: true,
                reviewers: reviewers(&["ada"]),
            }
        );
        let requests = client.host().requests();
        assert_eq!(
            requests.iter().map(summary).collect::<Vec<_>>(),
            [
                "GET /repos/acme/shop/pulls?state=open&head=acme:feature/prices&base=main",
                "POST /repos/acme/shop/pulls?",
                "POST /repos/acme/shop/pulls/7/requested_reviewers?",
            ]
        );
        assert_eq!(
            requests[1].body,
            Some(json!({
                "title": "Round prices to cents",
                "head": "feature/prices",
                "base": "main",
                "body": "- Round prices to cents",
                "draft": true,
            }))
        );
        assert_eq!(requests[2].body, Some(json!({ "reviewers": ["ada"] })));
    }

    #[test]
    fn an_open_pull_request_is_kept_and_its_reviewers_asked_again() {
        let host = RecordingGitHost::new(GitHostKind::Github)
            .answer(200, json!([pull(3, "feature/prices")]))
            .answer(201, json!({}));
        let client = GitHostClient::with_host(host, "acme/shop".into());
        let found = run(client.open(&draft(), &reviewers(&["ada"]), false)).unwrap();
        assert_eq!((found.number, found.created), (3, false));
        let requests = client.host().requests();
        assert_eq!(requests.len(), 2, "{requests:?}");
        assert!(
            requests
                .iter()
                .all(|r| r.path != "/repos/acme/shop/pulls" || r.method == Method::Get)
        );
    }

    #[test]
    fn gitlab_adds_its_reviewers_to_the_ones_set_by_hand() {
        let host = RecordingGitHost::new(GitHostKind::Gitlab)
            .answer(200, json!([{ "id": 10, "username": "ada" }]))
            .answer(
                200,
                json!([{ "iid": 4, "web_url": "https://gl.example/mr/4", "reviewers": [{ "id": 12 }] }]),
            )
            .answer(
                200,
                json!({ "iid": 4, "web_url": "https://gl.example/mr/4", "reviewers": [{ "id": 12 }, { "id": 10 }] }),
            );
        let client = GitHostClient::with_host(host, "group/shop".into());
        let found = run(client.open(&draft(), &reviewers(&["ada"]), false)).unwrap();
        assert_eq!(
            (found.number, found.url.as_str(), found.created),
            (4, "https://gl.example/mr/4", false)
        );
        let requests = client.host().requests();
        assert_eq!(
            requests.iter().map(summary).collect::<Vec<_>>(),
            [
                "GET /users?username=ada",
                "GET /projects/group%2Fshop/merge_requests?state=opened&source_branch=feature/prices&target_branch=main",
                "PUT /projects/group%2Fshop/merge_requests/4?",
            ]
        );
        assert_eq!(requests[2].body, Some(json!({ "reviewer_ids": [12, 10] })));
    }

    #[test]
    fn gitlab_opens_a_draft_and_refuses_an_unknown_reviewer_before_opening_anything() {
        let host = RecordingGitHost::new(GitHostKind::Gitlab)
            .answer(200, json!([{ "id": 10 }]))
            .answer(200, json!([]))
            .answer(
                201,
                json!({ "iid": 1, "web_url": "https://gl.example/mr/1" }),
            );
        let client = GitHostClient::with_host(host, "group/shop".into());
        let opened = run(client.open(&draft(), &reviewers(&["ada"]), true)).unwrap();
        assert_eq!((opened.number, opened.created), (1, true));
        assert_eq!(
            client.host().requests()[2].body,
            Some(json!({
                "source_branch": "feature/prices",
                "target_branch": "main",
                "title": "Draft: Round prices to cents",
                "description": "- Round prices to cents",
                "reviewer_ids": [10],
            }))
        );

        let host = RecordingGitHost::new(GitHostKind::Gitlab).answer(200, json!([]));
        let client = GitHostClient::with_host(host, "group/shop".into());
        let error = run(client.open(&draft(), &reviewers(&["nobody"]), false)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "GitLab: no GitLab user `nobody` (git.reviewers): check the login, or that the token may see users"
        );
        assert_eq!(client.host().requests().len(), 1);
    }

    #[test]
    fn gitea_looks_through_every_page_before_opening_one() {
        let host = RecordingGitHost::new(GitHostKind::Forgejo)
            .answer(200, json!([pull(1, "other"), pull(2, "feature/old")]))
            .answer(200, json!([pull(3, "another")]))
            .answer(200, json!([]))
            .answer(201, pull(4, "feature/prices"));
        let client = GitHostClient::with_host(host, "acme/shop".into());
        let opened = run(client.open(&draft(), &[], true)).unwrap();
        assert_eq!((opened.number, opened.created), (4, true));
        let requests = client.host().requests();
        assert_eq!(
            requests.iter().map(summary).collect::<Vec<_>>()[..3],
            [
                "GET /repos/acme/shop/pulls?state=open&limit=50&page=1",
                "GET /repos/acme/shop/pulls?state=open&limit=50&page=2",
                "GET /repos/acme/shop/pulls?state=open&limit=50&page=3",
            ]
        );
        // Gitea and Forgejo know no draft flag: the title says it.
        assert_eq!(
            requests[3].body,
            Some(json!({
                "title": "WIP: Round prices to cents",
                "head": "feature/prices",
                "base": "main",
                "body": "- Round prices to cents",
            }))
        );
        assert_eq!(requests.len(), 4, "no reviewers, no review request");
    }

    #[test]
    fn gitea_finds_the_open_one_on_a_later_page() {
        let host = RecordingGitHost::new(GitHostKind::Gitea)
            .answer(200, json!([pull(1, "other")]))
            .answer(200, json!([pull(9, "feature/prices")]))
            .answer(201, json!({}));
        let client = GitHostClient::with_host(host, "acme/shop".into());
        let found = run(client.open(&draft(), &reviewers(&["ada"]), false)).unwrap();
        assert_eq!((found.number, found.created), (9, false));
        assert_eq!(client.host().unused_answers(), 0);
    }

    #[test]
    fn a_refusal_says_what_the_host_said_and_what_to_check() {
        let host = RecordingGitHost::new(GitHostKind::Github)
            .answer(401, json!({ "message": "Bad credentials" }));
        let client = GitHostClient::with_host(host, "acme/shop".into());
        let error = run(client.open(&draft(), &[], false)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "GitHub: GET /repos/acme/shop/pulls answered 401 Unauthorized (Bad credentials): check the token in git.token's variable"
        );

        let host = RecordingGitHost::new(GitHostKind::Github).answer_text(200, "<html>");
        let client = GitHostClient::with_host(host, "acme/shop".into());
        let error = run(client.open(&draft(), &[], false)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "GitHub: GET /repos/acme/shop/pulls answered 200 OK with something other than JSON: is git.api the API's address?"
        );

        let host = RecordingGitHost::new(GitHostKind::Github)
            .answer(200, json!([]))
            .answer(201, json!({ "html_url": "x" }));
        let client = GitHostClient::with_host(host, "acme/shop".into());
        let error = run(client.open(&draft(), &[], false)).unwrap_err();
        assert!(
            matches!(&error, GitHostError::Unexpected { what, .. } if what.contains("number")),
            "{error}"
        );
    }

    #[test]
    fn the_repository_comes_from_the_settings_or_the_origin_remote() {
        // PATH stands in for a token variable that is set: nothing is sent here.
        let settings = |repository: Option<&str>| GitHostSettings {
            host: GitHostKind::Gitea,
            token: "env:PATH".into(),
            api: Some("http://127.0.0.1:1/api/v1".into()),
            repository: repository.map(str::to_owned),
            reviewers: Vec::new(),
            draft: false,
        };
        let error = GitHostClient::new(&settings(None), None).unwrap_err();
        assert!(error.to_string().contains("no `origin` remote"), "{error}");
        let error =
            GitHostClient::new(&settings(None), Some("https://ci:secret@host/shop")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Gitea: cannot tell owner/name from the `origin` remote (https://host/shop): set git.repository"
        );
        let client = GitHostClient::new(&settings(None), Some("git@host:acme/shop.git")).unwrap();
        assert_eq!(client.repository(), "acme/shop");
        let client = GitHostClient::new(&settings(Some("team/app")), None).unwrap();
        assert_eq!(client.repository(), "team/app");
        let unset = GitHostSettings {
            token: "env:SLIPWAY_GITHOST_TEST_TOKEN_THAT_IS_NEVER_SET".into(),
            ..settings(Some("acme/shop"))
        };
        let error = GitHostClient::new(&unset, None).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("SLIPWAY_GITHOST_TEST_TOKEN_THAT_IS_NEVER_SET (git.token) is not set"),
            "{error}"
        );
        // The token never shows in a debug dump.
        assert!(!format!("{client:?}").contains(&std::env::var("PATH").unwrap()));
    }

    #[test]
    fn the_repository_is_read_from_each_kind_of_remote() {
        for (url, repository) in [
            ("git@github.com:acme/shop.git", Some("acme/shop")),
            ("https://github.com/acme/shop", Some("acme/shop")),
            (
                "https://ci:secret@gitlab.com/group/sub/shop.git",
                Some("group/sub/shop"),
            ),
            (
                "ssh://git@git.example.com:2222/acme/shop.git",
                Some("acme/shop"),
            ),
            ("/srv/git/shop.git", None),
            ("../shop", None),
            ("https://github.com/shop", None),
        ] {
            assert_eq!(repository_of_remote(url).as_deref(), repository, "{url}");
        }
    }

    #[test]
    fn a_remote_is_shown_without_its_credentials() {
        assert_eq!(
            without_credentials("https://ci:secret@example.com/a/b"),
            "https://example.com/a/b"
        );
        assert_eq!(without_credentials("git@host:a/b"), "git@host:a/b");
    }

    #[test]
    fn errors_say_what_the_host_said() {
        assert_eq!(
            said(
                r#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","message":"No commits between main and feature"}]}"#
            ),
            " (Validation Failed; No commits between main and feature)"
        );
        assert_eq!(
            said(r#"{"message":["Another open merge request already exists"]}"#),
            " (Another open merge request already exists)"
        );
        assert_eq!(said("<html>"), "");
    }
}
