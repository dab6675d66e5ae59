//! Pull requests through the git host's API: GitHub, GitLab (merge requests), Gitea and
//! Forgejo. Opening is idempotent: when the branch already has an open pull request into the
//! same base, that one is kept and its reviewers are asked again, so a branch pipeline that runs
//! on every push never opens a second one.
//! The token travels only in a request header; no message of this module carries it.

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use slipway_core::manifest::{GitHost, GitHostKind};

use crate::changes::git;
use crate::{PipelineError, Result};

/// What a pull request is opened with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestDraft {
    /// The branch to merge.
    pub branch: String,
    /// The branch it merges into.
    pub base: String,
    pub title: String,
    pub body: String,
}

/// The pull request as the host has it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PullRequest {
    /// GitHub's and Gitea's number, GitLab's `iid`.
    pub number: u64,
    pub url: String,
    /// `false` when it was open already.
    pub created: bool,
    /// The logins asked to review it.
    pub reviewers: Vec<String>,
}

pub fn host_name(kind: GitHostKind) -> &'static str {
    match kind {
        GitHostKind::Github => "GitHub",
        GitHostKind::Gitlab => "GitLab",
        GitHostKind::Gitea => "Gitea",
        GitHostKind::Forgejo => "Forgejo",
    }
}

/// A client of one repository on one git host.
pub struct GitHostClient {
    kind: GitHostKind,
    api: String,
    repository: String,
    token: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for GitHostClient {
    // Without the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHostClient")
            .field("kind", &self.kind)
            .field("api", &self.api)
            .field("repository", &self.repository)
            .finish_non_exhaustive()
    }
}

impl GitHostClient {
    /// The client `git` describes, for the project at `root`: the token from its variable, the
    /// repository from `git.repository` or else the `origin` remote.
    pub fn new(git_host: &GitHost, root: &Path) -> Result<GitHostClient> {
        let host = host_name(git_host.host);
        let var = git_host
            .token
            .strip_prefix("env:")
            .unwrap_or(&git_host.token);
        let token = std::env::var(var)
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| PipelineError::GitHost {
                host,
                message: format!(
                    "the environment variable {var} (git.token) is not set: set it to a {host} API token that may open pull requests"
                ),
            })?;
        let api = match (&git_host.api, git_host.host) {
            (Some(api), _) => api.trim_end_matches('/').to_owned(),
            (None, GitHostKind::Github) => "https://api.github.com".to_owned(),
            (None, GitHostKind::Gitlab) => "https://gitlab.com/api/v4".to_owned(),
            (None, _) => {
                return Err(PipelineError::GitHost {
                    host,
                    message: "git.api is not set: add the API's base URL, e.g. `https://git.example.com/api/v1`".into(),
                });
            }
        };
        let repository = match &git_host.repository {
            Some(repository) => repository.clone(),
            None => {
                let url = git(root, &["remote", "get-url", "origin"]).map_err(|_| {
                    PipelineError::GitHost {
                        host,
                        message: "the repository has no `origin` remote: set git.repository = \"owner/name\"".into(),
                    }
                })?;
                repository_of_remote(&url).ok_or_else(|| PipelineError::GitHost {
                    host,
                    message: format!(
                        "cannot tell owner/name from the `origin` remote ({}): set git.repository",
                        without_credentials(&url)
                    ),
                })?
            }
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| PipelineError::GitHost {
                host,
                message: format!("cannot make an HTTP client: {error}"),
            })?;
        Ok(GitHostClient {
            kind: git_host.host,
            api,
            repository,
            token,
            http,
        })
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// Opens the pull request of `draft.branch` into `draft.base` (or finds the open one) and
    /// asks `reviewers` to review it.
    pub async fn open(
        &self,
        draft: &PullRequestDraft,
        reviewers: &[String],
        as_draft: bool,
    ) -> Result<PullRequest> {
        match self.kind {
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
        let open = self
            .call(
                Method::GET,
                &format!("/repos/{repo}/pulls"),
                &[
                    ("state", "open"),
                    ("head", &format!("{owner}:{}", draft.branch)),
                    ("base", &draft.base),
                ],
                None,
            )
            .await?;
        let (pull, created) = match open.as_array().and_then(|list| list.first()) {
            Some(pull) => (pull.clone(), false),
            None => {
                let body = json!({
                    "title": draft.title,
                    "head": draft.branch,
                    "base": draft.base,
                    "body": draft.body,
                    "draft": as_draft,
                });
                (self.create_pull(body).await?, true)
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
            let users = self
                .call(Method::GET, "/users", &[("username", login)], None)
                .await?;
            let id = users
                .as_array()
                .and_then(|list| list.first())
                .and_then(|user| user["id"].as_u64())
                .ok_or_else(|| PipelineError::GitHost {
                    host: host_name(self.kind),
                    message: format!(
                        "no GitLab user `{login}` (git.reviewers): check the login, or that the token may see users"
                    ),
                })?;
            reviewer_ids.push(id);
        }
        let open = self
            .call(
                Method::GET,
                &format!("{project}/merge_requests"),
                &[
                    ("state", "opened"),
                    ("source_branch", &draft.branch),
                    ("target_branch", &draft.base),
                ],
                None,
            )
            .await?;
        let (request, created) = match open.as_array().and_then(|list| list.first()) {
            Some(request) => {
                let iid = self.number(request, "iid")?;
                // Reviewers set by hand stay; ours are added.
                let mut ids: Vec<u64> = request["reviewers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["id"].as_u64())
                    .collect();
                for id in &reviewer_ids {
                    if !ids.contains(id) {
                        ids.push(*id);
                    }
                }
                let updated = self
                    .call(
                        Method::PUT,
                        &format!("{project}/merge_requests/{iid}"),
                        &[],
                        Some(json!({ "reviewer_ids": ids })),
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
                let body = json!({
                    "source_branch": draft.branch,
                    "target_branch": draft.base,
                    "title": title,
                    "description": draft.body,
                    "reviewer_ids": reviewer_ids,
                });
                let request = self
                    .call(
                        Method::POST,
                        &format!("{project}/merge_requests"),
                        &[],
                        Some(body),
                    )
                    .await?;
                (request, true)
            }
        };
        Ok(PullRequest {
            number: self.number(&request, "iid")?,
            url: request["web_url"].as_str().unwrap_or_default().to_owned(),
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
            let open = self
                .call(
                    Method::GET,
                    &format!("/repos/{repo}/pulls"),
                    &[("state", "open"), ("limit", "50"), ("page", &page)],
                    None,
                )
                .await?;
            let list = open.as_array().cloned().unwrap_or_default();
            if let Some(pull) = list.iter().find(|pull| {
                pull["head"]["ref"].as_str() == Some(&draft.branch)
                    && pull["base"]["ref"].as_str() == Some(&draft.base)
            }) {
                found = Some(pull.clone());
                break;
            }
            // Servers may cap a page below the asked-for size: only an empty page is the end.
            if list.is_empty() {
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
                let body = json!({
                    "head": draft.branch,
                    "base": draft.base,
                    "title": title,
                    "body": draft.body,
                });
                (self.create_pull(body).await?, true)
            }
        };
        self.ask_reviewers(&pull, created, reviewers).await
    }

    /// Opens a pull request (GitHub's and Gitea's API alike) with `body`; the host's answer.
    async fn create_pull(&self, body: Value) -> Result<Value> {
        let repo = &self.repository;
        self.call(
            Method::POST,
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
        pull: &Value,
        created: bool,
        reviewers: &[String],
    ) -> Result<PullRequest> {
        let repo = &self.repository;
        let number = self.number(pull, "number")?;
        let author = pull["user"]["login"].as_str().unwrap_or_default();
        let reviewers: Vec<String> = reviewers
            .iter()
            .filter(|r| !r.eq_ignore_ascii_case(author))
            .cloned()
            .collect();
        if !reviewers.is_empty() {
            self.call(
                Method::POST,
                &format!("/repos/{repo}/pulls/{number}/requested_reviewers"),
                &[],
                Some(json!({ "reviewers": reviewers })),
            )
            .await?;
        }
        Ok(PullRequest {
            number,
            url: pull["html_url"].as_str().unwrap_or_default().to_owned(),
            created,
            reviewers,
        })
    }

    fn number(&self, value: &Value, field: &str) -> Result<u64> {
        value[field].as_u64().ok_or_else(|| PipelineError::GitHost {
            host: host_name(self.kind),
            message: format!("the answer has no `{field}`: is git.api the API's address?"),
        })
    }

    /// One API call; its JSON answer, or an error that says what the host said.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Value> {
        let host = host_name(self.kind);
        let mut url = format!("{}{path}", self.api);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&serde_urlencoded::to_string(query).unwrap_or_default());
        }
        let mut request = self.http.request(method.clone(), &url);
        request = match self.kind {
            GitHostKind::Github => request
                .bearer_auth(&self.token)
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28"),
            GitHostKind::Gitlab => request.header("PRIVATE-TOKEN", &self.token),
            GitHostKind::Gitea | GitHostKind::Forgejo => {
                request.header("Authorization", format!("token {}", self.token))
            }
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request
            .send()
            .await
            .map_err(|error| PipelineError::GitHost {
                host,
                message: format!(
                    "{method} {url}: {}",
                    error.without_url().to_string().trim_end()
                ),
            })?;
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        if !status.is_success() {
            let said = said(&text);
            let hint = match status {
                StatusCode::UNAUTHORIZED => ": check the token in git.token's variable",
                StatusCode::FORBIDDEN => {
                    ": the token may not do this; it needs write access to pull requests"
                }
                StatusCode::NOT_FOUND => {
                    ": check git.repository and git.api (a token that may not see the repository gets 404 too)"
                }
                _ => "",
            };
            return Err(PipelineError::GitHost {
                host,
                message: format!("{method} {path} answered {status}{said}{hint}"),
            });
        }
        serde_json::from_str(&text).map_err(|_| PipelineError::GitHost {
            host,
            message: format!(
                "{method} {path} answered {status} with something other than JSON: is git.api the API's address?"
            ),
        })
    }
}

/// What the host's error body says, as ` (message; detail...)`.
fn said(text: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return String::new();
    };
    let mut parts: Vec<String> = Vec::new();
    for key in ["message", "error"] {
        match &value[key] {
            Value::String(s) => parts.push(s.clone()),
            Value::Array(items) => parts.extend(items.iter().map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })),
            Value::Null => {}
            other => parts.push(other.to_string()),
        }
    }
    for error in value["errors"].as_array().into_iter().flatten() {
        match error {
            Value::String(s) => parts.push(s.clone()),
            other => {
                if let Some(message) = other["message"].as_str() {
                    parts.push(message.to_owned());
                }
            }
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
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
