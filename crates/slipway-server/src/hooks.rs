//! Webhooks from git hosts: who signed the request, and what was pushed. GitHub and
//! Gitea/Forgejo sign the body with HMAC-SHA256 (`X-Hub-Signature-256: sha256=<hex>`,
//! `X-Gitea-Signature: <hex>`); GitLab sends the shared secret itself (`X-Gitlab-Token`). A
//! request that fails the check is refused before its body is read as JSON.

pub mod payload;

use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use payload::{MergeRequestEvent, PullRequestEvent, Push};

/// The git host a webhook comes from (its path: `/hooks/github|gitlab|gitea`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitHost {
    /// GitHub (and GitHub Enterprise Server).
    GitHub,
    /// GitLab.
    GitLab,
    /// Gitea and Forgejo, which send the same events.
    Gitea,
}

impl GitHost {
    /// Its name in paths, metrics and triggers (`webhook:github`).
    pub fn name(self) -> &'static str {
        match self {
            GitHost::GitHub => "github",
            GitHost::GitLab => "gitlab",
            GitHost::Gitea => "gitea",
        }
    }
}

/// What a verified webhook asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookEvent {
    /// A push (a merge lands as a push too): the branch and the commit it now points at.
    Push {
        /// The branch (no `refs/heads/`).
        branch: String,
        /// The commit it points at.
        rev: String,
    },
    /// A pull request opened, or given new commits: its number, branch and head commit, and
    /// the branch it merges into.
    PullRequest {
        /// Its number on the host (`#7`, GitLab's `!7`).
        number: u64,
        /// The branch with the changes.
        branch: String,
        /// The branch's head commit.
        rev: String,
        /// The branch it merges into.
        into: String,
    },
    /// A branch deleted, a tag, a ping: nothing to run.
    Ignored(String),
}

/// Why a webhook is refused; the text is the answer's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookError {
    /// 401: no signature, or the wrong one.
    Unauthorized(String),
    /// 400: signed, but not a body we understand.
    BadRequest(String),
}

type HmacSha256 = Hmac<Sha256>;

/// Checks that `body` was sent by someone who knows `secret`. `header` finds a request
/// header by (lower-case) name.
pub fn verify<'h>(
    host: GitHost,
    secret: &str,
    body: &[u8],
    header: impl Fn(&str) -> Option<&'h str>,
) -> Result<(), HookError> {
    let missing = |name: &str| HookError::Unauthorized(format!("no {name} header"));
    match host {
        GitHost::GitLab => {
            let token = header("x-gitlab-token").ok_or_else(|| missing("X-Gitlab-Token"))?;
            if !same_secret(secret, token) {
                return Err(HookError::Unauthorized("wrong X-Gitlab-Token".into()));
            }
            Ok(())
        }
        GitHost::GitHub | GitHost::Gitea => {
            let (name, signature) = match host {
                GitHost::GitHub => {
                    let value = header("x-hub-signature-256")
                        .ok_or_else(|| missing("X-Hub-Signature-256"))?;
                    (
                        "X-Hub-Signature-256",
                        value.strip_prefix("sha256=").ok_or_else(|| {
                            HookError::Unauthorized(
                                "X-Hub-Signature-256 is not `sha256=<hex>`".into(),
                            )
                        })?,
                    )
                }
                _ => (
                    "X-Gitea-Signature",
                    header("x-gitea-signature")
                        .or_else(|| header("x-forgejo-signature"))
                        .ok_or_else(|| missing("X-Gitea-Signature"))?,
                ),
            };
            let expected = hex::decode(signature.trim())
                .map_err(|_| HookError::Unauthorized(format!("{name} is not hex")))?;
            let mut mac =
                HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length works");
            mac.update(body);
            mac.verify_slice(&expected)
                .map_err(|_| HookError::Unauthorized(format!("{name} does not match the body")))
        }
    }
}

/// Whether `given` is `secret`, compared through an HMAC of both so the time taken says nothing
/// of the secret (passwords, CSRF tokens, GitLab's token).
pub fn same_secret(secret: &str, given: &str) -> bool {
    let key = HmacSha256::new_from_slice(b"slipway-compare").expect("any key length works");
    let mut mac = key.clone();
    mac.update(secret.as_bytes());
    let expected = mac.finalize().into_bytes();
    let mut mac = key;
    mac.update(given.as_bytes());
    mac.verify_slice(&expected).is_ok()
}

/// Signs `body` as GitHub and Gitea do: the hex HMAC-SHA256 under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length works");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// How long a delivery is remembered. GitHub lets a person redeliver for three days; a replay
/// after this still cannot start a release of an older commit (see the server's `on_push`).
pub const DELIVERY_WINDOW: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 60 * 60);

/// What identifies a verified delivery: the host's delivery id when it sends one (GitHub's
/// `X-GitHub-Delivery`, GitLab's `X-Gitlab-Event-UUID`, Gitea's `X-Gitea-Delivery`, Forgejo's
/// `X-Forgejo-Delivery`) and the SHA-256 of the body, since the signature covers only the body:
/// a captured body replayed under a fresh id is the same delivery.
pub fn delivery_keys<'h>(
    host: GitHost,
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
) -> Vec<String> {
    let id = match host {
        GitHost::GitHub => header("x-github-delivery"),
        GitHost::GitLab => header("x-gitlab-event-uuid"),
        GitHost::Gitea => header("x-gitea-delivery").or_else(|| header("x-forgejo-delivery")),
    };
    let mut keys = Vec::new();
    if let Some(id) = id.map(str::trim).filter(|id| !id.is_empty()) {
        // Bounded: the id is the host's, but the header is the sender's.
        let id: String = id.chars().take(128).collect();
        keys.push(format!("{} delivery {id}", host.name()));
    }
    keys.push(format!(
        "{} body sha256:{}",
        host.name(),
        hex::encode(Sha256::digest(body))
    ));
    keys
}

/// Reads a verified body: `event` is the host's event header.
pub fn parse(host: GitHost, event: Option<&str>, body: &[u8]) -> Result<HookEvent, HookError> {
    let is_push = match (host, event) {
        (GitHost::GitHub, Some("push")) | (GitHost::Gitea, Some("push")) => true,
        (GitHost::GitLab, Some("Push Hook")) => true,
        (GitHost::GitHub | GitHost::Gitea, Some("pull_request"))
        | (GitHost::GitLab, Some("Merge Request Hook")) => false,
        (_, Some(other)) => {
            return Ok(HookEvent::Ignored(format!(
                "`{other}` events start nothing"
            )));
        }
        (_, None) => {
            return Err(HookError::BadRequest(
                "no event header (X-GitHub-Event, X-Gitlab-Event or X-Gitea-Event)".into(),
            ));
        }
    };
    if !is_push {
        return match host {
            GitHost::GitLab => merge_request(decode(body, "merge request event")?),
            GitHost::GitHub | GitHost::Gitea => pull_request(decode(body, "pull request event")?),
        };
    }
    let push: Push = decode(body, "push")?;
    let reference = push
        .reference
        .ok_or_else(|| HookError::BadRequest("no `ref` in the push".into()))?;
    let rev = match host {
        GitHost::GitLab => push.checkout_sha.or(push.after),
        _ => push.after,
    }
    .ok_or_else(|| HookError::BadRequest("no `after` commit in the push".into()))?;
    let Some(branch) = reference.strip_prefix("refs/heads/") else {
        return Ok(HookEvent::Ignored(format!("`{reference}` is not a branch")));
    };
    if rev.chars().all(|c| c == '0') {
        return Ok(HookEvent::Ignored(format!("branch `{branch}` was deleted")));
    }
    if !is_commit_id(&rev) {
        return Err(HookError::BadRequest(format!("`{rev}` is not a commit id")));
    }
    Ok(HookEvent::Push {
        branch: branch.to_owned(),
        rev,
    })
}

/// `body` as the payload type `T`: a body that is not JSON, or JSON of another shape, is a bad
/// request that says which (`what` names the event) and, for a shape, where.
fn decode<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, HookError> {
    let not_json =
        |error: serde_json::Error| HookError::BadRequest(format!("the body is not JSON: {error}"));
    let mut reader = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut reader).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_data() && path == "." {
            HookError::BadRequest(format!("the {what}: {inner}"))
        } else if inner.is_data() {
            HookError::BadRequest(format!("the {what} at `{path}`: {inner}"))
        } else {
            not_json(inner)
        }
    })?;
    reader.end().map_err(not_json)?;
    Ok(value)
}

fn is_commit_id(rev: &str) -> bool {
    rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit())
}

fn missing(what: &str) -> HookError {
    HookError::BadRequest(format!("no {what} in the pull request event"))
}

/// What a pull request (or merge request) event says, host by host.
struct Request {
    number: u64,
    action: String,
    branch: String,
    rev: String,
    into: String,
    /// False for an update that changed the title or labels, not the code.
    new_commits: bool,
    /// Why it counts as coming from a fork; `None` when it provably comes from the repository
    /// itself.
    from_fork: Option<String>,
}

fn pull_request(event: PullRequestEvent) -> Result<HookEvent, HookError> {
    let pull = event.pull_request.unwrap_or_default();
    let head = pull.head.unwrap_or_default();
    let base = pull.base.unwrap_or_default();
    // A pull request from a fork carries code and a slipway.toml nobody here has vetted: it
    // would run with the server's secrets. When the event does not say where the head comes
    // from (a deleted fork's `head.repo` is null), it is taken for a fork.
    let from_fork = match (
        head.repo.and_then(|repo| repo.full_name),
        base.repo.and_then(|repo| repo.full_name),
    ) {
        (Some(head), Some(base)) if head == base => None,
        (Some(head), Some(_)) => Some(format!("head repository {head}")),
        (None, _) => Some("its head repository is unknown, perhaps deleted".into()),
        (Some(_), None) => Some("the event names no base repository".into()),
    };
    decide(Request {
        number: event
            .number
            .or(pull.number)
            .ok_or_else(|| missing("number"))?,
        action: event.action.ok_or_else(|| missing("action"))?,
        branch: head
            .reference
            .ok_or_else(|| missing("pull_request.head.ref"))?,
        rev: head.sha.ok_or_else(|| missing("pull_request.head.sha"))?,
        into: base
            .reference
            .ok_or_else(|| missing("pull_request.base.ref"))?,
        new_commits: true,
        from_fork,
    })
}

fn merge_request(event: MergeRequestEvent) -> Result<HookEvent, HookError> {
    let request = event.object_attributes.unwrap_or_default();
    // Only a request whose source and target project are both named, and the same, comes from
    // the project itself.
    let from_fork = match (request.source_project_id, request.target_project_id) {
        (Some(source), Some(target)) if source == target => None,
        (Some(source), Some(target)) => {
            Some(format!("source project {source}, target project {target}"))
        }
        _ => Some("the event names no source or target project".into()),
    };
    decide(Request {
        number: request
            .iid
            .ok_or_else(|| missing("object_attributes.iid"))?,
        action: request
            .action
            .ok_or_else(|| missing("object_attributes.action"))?,
        branch: request
            .source_branch
            .ok_or_else(|| missing("object_attributes.source_branch"))?,
        rev: request
            .last_commit
            .and_then(|commit| commit.id)
            .ok_or_else(|| missing("object_attributes.last_commit.id"))?,
        into: request
            .target_branch
            .ok_or_else(|| missing("object_attributes.target_branch"))?,
        new_commits: request.oldrev.is_some(),
        from_fork,
    })
}

/// Whether a pull request event starts anything: an opened or reopened request, or new commits,
/// and never one from a fork.
fn decide(request: Request) -> Result<HookEvent, HookError> {
    let Request { number, action, .. } = &request;
    let runs = match action.as_str() {
        "opened" | "reopened" | "open" | "reopen" => true,
        "synchronize" | "synchronized" => true,
        "update" => request.new_commits,
        _ => false,
    };
    if !runs {
        return Ok(HookEvent::Ignored(format!(
            "pull request #{number} was {action}: nothing to run"
        )));
    }
    if let Some(why) = &request.from_fork {
        return Ok(HookEvent::Ignored(format!(
            "pull request #{number} comes from a fork ({why}): its code does not run here"
        )));
    }
    if !is_commit_id(&request.rev) {
        return Err(HookError::BadRequest(format!(
            "`{}` is not a commit id",
            request.rev
        )));
    }
    Ok(HookEvent::PullRequest {
        number: request.number,
        branch: request.branch,
        rev: request.rev,
        into: request.into,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "hook-secret";
    const SHA: &str = "3f2a1c0d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a49";

    fn push(reference: &str, after: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "ref": reference, "after": after, "before": SHA }))
            .unwrap()
    }

    #[test]
    fn github_and_gitea_signatures_cover_the_body() {
        let body = push("refs/heads/main", SHA);
        let good = format!("sha256={}", sign(SECRET, &body));
        let github = |value: &'static str| {
            move |name: &str| (name == "x-hub-signature-256").then_some(value)
        };
        let good: &'static str = Box::leak(good.into_boxed_str());
        assert_eq!(verify(GitHost::GitHub, SECRET, &body, github(good)), Ok(()));
        let mut tampered = body.clone();
        tampered[10] ^= 1;
        assert!(matches!(
            verify(GitHost::GitHub, SECRET, &tampered, github(good)),
            Err(HookError::Unauthorized(_))
        ));
        assert!(matches!(
            verify(GitHost::GitHub, "other", &body, github(good)),
            Err(HookError::Unauthorized(_))
        ));
        assert!(matches!(
            verify(GitHost::GitHub, SECRET, &body, |_| None),
            Err(HookError::Unauthorized(m)) if m.contains("X-Hub-Signature-256")
        ));
        let gitea_signature: &'static str = Box::leak(sign(SECRET, &body).into_boxed_str());
        assert_eq!(
            verify(GitHost::Gitea, SECRET, &body, |name| (name
                == "x-gitea-signature")
                .then_some(gitea_signature)),
            Ok(())
        );
    }

    #[test]
    fn gitlab_sends_the_token_itself() {
        let body = push("refs/heads/main", SHA);
        assert_eq!(
            verify(GitHost::GitLab, SECRET, &body, |n| (n == "x-gitlab-token")
                .then_some(SECRET)),
            Ok(())
        );
        assert!(
            verify(GitHost::GitLab, SECRET, &body, |n| (n == "x-gitlab-token")
                .then_some("guess"))
            .is_err()
        );
    }

    #[test]
    fn pushes_to_branches_start_runs_and_the_rest_is_ignored() {
        assert_eq!(
            parse(GitHost::GitHub, Some("push"), &push("refs/heads/main", SHA)),
            Ok(HookEvent::Push {
                branch: "main".into(),
                rev: SHA.into()
            })
        );
        assert!(matches!(
            parse(GitHost::GitHub, Some("push"), &push("refs/tags/v1", SHA)),
            Ok(HookEvent::Ignored(_))
        ));
        assert!(matches!(
            parse(GitHost::Gitea, Some("push"), &push("refs/heads/old", &"0".repeat(40))),
            Ok(HookEvent::Ignored(m)) if m.contains("deleted")
        ));
        assert!(matches!(
            parse(GitHost::GitHub, Some("ping"), b"{}"),
            Ok(HookEvent::Ignored(_))
        ));
        assert!(matches!(
            parse(GitHost::GitHub, Some("push"), b"{not json"),
            Err(HookError::BadRequest(m)) if m.contains("not JSON")
        ));
        assert!(matches!(
            parse(
                GitHost::GitLab,
                Some("Push Hook"),
                &push("refs/heads/main", "not-a-sha")
            ),
            Err(HookError::BadRequest(_))
        ));
    }

    #[test]
    fn pull_requests_opened_or_given_commits_start_runs_and_the_rest_is_ignored() {
        let github = |action: &str| {
            serde_json::json!({
                "action": action, "number": 7,
                "pull_request": {
                    "head": { "ref": "feature/prices", "sha": SHA, "repo": { "full_name": "acme/shop" } },
                    "base": { "ref": "main", "repo": { "full_name": "acme/shop" } }
                }
            })
            .to_string()
        };
        let wanted = HookEvent::PullRequest {
            number: 7,
            branch: "feature/prices".into(),
            rev: SHA.into(),
            into: "main".into(),
        };
        for action in ["opened", "synchronize", "reopened"] {
            assert_eq!(
                parse(
                    GitHost::GitHub,
                    Some("pull_request"),
                    github(action).as_bytes()
                ),
                Ok(wanted.clone())
            );
        }
        assert_eq!(
            parse(
                GitHost::Gitea,
                Some("pull_request"),
                github("synchronized").as_bytes()
            ),
            Ok(wanted.clone())
        );
        assert!(matches!(
            parse(GitHost::GitHub, Some("pull_request"), github("closed").as_bytes()),
            Ok(HookEvent::Ignored(why)) if why == "pull request #7 was closed: nothing to run"
        ));
        let gitlab = |action: &str, oldrev: Option<&str>| {
            serde_json::json!({
                "object_kind": "merge_request",
                "object_attributes": {
                    "iid": 7, "action": action, "source_branch": "feature/prices",
                    "target_branch": "main", "last_commit": { "id": SHA }, "oldrev": oldrev,
                    "source_project_id": 1, "target_project_id": 1
                }
            })
            .to_string()
        };
        assert_eq!(
            parse(
                GitHost::GitLab,
                Some("Merge Request Hook"),
                gitlab("open", None).as_bytes()
            ),
            Ok(wanted.clone())
        );
        assert_eq!(
            parse(
                GitHost::GitLab,
                Some("Merge Request Hook"),
                gitlab("update", Some(SHA)).as_bytes()
            ),
            Ok(wanted)
        );
        assert!(matches!(
            parse(
                GitHost::GitLab,
                Some("Merge Request Hook"),
                gitlab("update", None).as_bytes()
            ),
            Ok(HookEvent::Ignored(_))
        ));
        let forked = serde_json::json!({
            "action": "opened", "number": 8,
            "pull_request": {
                "head": { "ref": "main", "sha": SHA, "repo": { "full_name": "mallory/shop" } },
                "base": { "ref": "main", "repo": { "full_name": "acme/shop" } }
            }
        })
        .to_string();
        assert!(matches!(
            parse(GitHost::GitHub, Some("pull_request"), forked.as_bytes()),
            Ok(HookEvent::Ignored(why)) if why.contains("comes from a fork")
        ));
        let forked_request = serde_json::json!({
            "object_attributes": {
                "iid": 9, "action": "open", "source_branch": "main", "target_branch": "main",
                "last_commit": { "id": SHA }, "source_project_id": 77, "target_project_id": 1
            }
        })
        .to_string();
        assert!(matches!(
            parse(GitHost::GitLab, Some("Merge Request Hook"), forked_request.as_bytes()),
            Ok(HookEvent::Ignored(why)) if why.contains("comes from a fork")
        ));
        assert!(matches!(
            parse(GitHost::GitHub, Some("pull_request"), br#"{"action":"opened"}"#),
            Err(HookError::BadRequest(why)) if why.contains("number")
        ));
    }

    #[test]
    fn a_pull_request_that_does_not_say_where_its_head_comes_from_is_a_fork() {
        let github = |head_repo: serde_json::Value| {
            serde_json::json!({
                "action": "opened", "number": 8,
                "pull_request": {
                    "head": { "ref": "main", "sha": SHA, "repo": head_repo },
                    "base": { "ref": "main", "repo": { "full_name": "acme/shop" } }
                }
            })
            .to_string()
        };
        for unknown in [serde_json::Value::Null, serde_json::json!({})] {
            for host in [GitHost::GitHub, GitHost::Gitea] {
                assert!(matches!(
                    parse(host, Some("pull_request"), github(unknown.clone()).as_bytes()),
                    Ok(HookEvent::Ignored(why)) if why.contains("comes from a fork") && why.contains("unknown")
                ));
            }
        }
        let gitlab = |ids: serde_json::Value| {
            let mut attributes = serde_json::json!({
                "iid": 9, "action": "open", "source_branch": "feature", "target_branch": "main",
                "last_commit": { "id": SHA }
            });
            for (key, value) in ids.as_object().unwrap() {
                attributes[key] = value.clone();
            }
            serde_json::json!({ "object_attributes": attributes }).to_string()
        };
        for ids in [
            serde_json::json!({}),
            serde_json::json!({ "target_project_id": 1 }),
            serde_json::json!({ "source_project_id": 1 }),
            serde_json::json!({ "source_project_id": null, "target_project_id": 1 }),
        ] {
            assert!(
                matches!(
                    parse(GitHost::GitLab, Some("Merge Request Hook"), gitlab(ids.clone()).as_bytes()),
                    Ok(HookEvent::Ignored(why)) if why.contains("comes from a fork")
                ),
                "{ids}"
            );
        }
        assert!(matches!(
            parse(
                GitHost::GitLab,
                Some("Merge Request Hook"),
                gitlab(serde_json::json!({ "source_project_id": 1, "target_project_id": 1 }))
                    .as_bytes()
            ),
            Ok(HookEvent::PullRequest { .. })
        ));
    }

    #[test]
    fn a_delivery_is_known_by_its_id_and_by_its_body() {
        let body = push("refs/heads/main", SHA);
        let keys = delivery_keys(
            GitHost::GitHub,
            |name| (name == "x-github-delivery").then_some("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            &body,
        );
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keys[0],
            "github delivery 72d3162e-cc78-11e3-81ab-4c9367dc0958"
        );
        assert!(keys[1].starts_with("github body sha256:"));
        // Without an id header, the body alone.
        let bare = delivery_keys(GitHost::GitHub, |_| None, &body);
        assert_eq!(bare, keys[1..]);
        let gitlab = delivery_keys(
            GitHost::GitLab,
            |name| (name == "x-gitlab-event-uuid").then_some("u-1"),
            &body,
        );
        assert_eq!(gitlab[0], "gitlab delivery u-1");
        let gitea = delivery_keys(
            GitHost::Gitea,
            |name| (name == "x-gitea-delivery").then_some("g-1"),
            &body,
        );
        assert_eq!(gitea[0], "gitea delivery g-1");
    }

    /// A delivery as the host sends it (see testdata/webhooks/), edited by `change`.
    fn delivery(file: &str, change: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let text = match file {
            "github-push" => include_str!("../testdata/webhooks/github-push.json"),
            "github-pull-request-opened" => {
                include_str!("../testdata/webhooks/github-pull-request-opened.json")
            }
            "github-pull-request-deleted-fork" => {
                include_str!("../testdata/webhooks/github-pull-request-deleted-fork.json")
            }
            "gitea-pull-request-synchronized" => {
                include_str!("../testdata/webhooks/gitea-pull-request-synchronized.json")
            }
            "gitlab-push" => include_str!("../testdata/webhooks/gitlab-push.json"),
            "gitlab-push-branch-deleted" => {
                include_str!("../testdata/webhooks/gitlab-push-branch-deleted.json")
            }
            "gitlab-merge-request-update" => {
                include_str!("../testdata/webhooks/gitlab-merge-request-update.json")
            }
            other => panic!("no delivery {other}"),
        };
        let mut json: serde_json::Value = serde_json::from_str(text).unwrap();
        change(&mut json);
        serde_json::to_vec(&json).unwrap()
    }

    fn unchanged(_: &mut serde_json::Value) {}

    #[test]
    fn real_pushes_name_their_branch_and_commit() {
        assert_eq!(
            parse(
                GitHost::GitHub,
                Some("push"),
                &delivery("github-push", unchanged)
            ),
            Ok(HookEvent::Push {
                branch: "main".into(),
                rev: SHA.into()
            })
        );
        // Gitea and Forgejo send GitHub's shape.
        assert_eq!(
            parse(
                GitHost::Gitea,
                Some("push"),
                &delivery("github-push", unchanged)
            ),
            Ok(HookEvent::Push {
                branch: "main".into(),
                rev: SHA.into()
            })
        );
        // GitLab's `checkout_sha` is the commit to build, even where `after` says otherwise.
        let other = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            parse(
                GitHost::GitLab,
                Some("Push Hook"),
                &delivery("gitlab-push", |json| json["after"] = other.into())
            ),
            Ok(HookEvent::Push {
                branch: "main".into(),
                rev: SHA.into()
            })
        );
        assert_eq!(
            parse(
                GitHost::GitLab,
                Some("Push Hook"),
                &delivery("gitlab-push-branch-deleted", unchanged)
            ),
            Ok(HookEvent::Ignored(
                "branch `feature/old` was deleted".into()
            ))
        );
        assert!(matches!(
            parse(
                GitHost::GitHub,
                Some("push"),
                &delivery("github-push", |json| json["ref"] = "refs/tags/v1.4.0".into())
            ),
            Ok(HookEvent::Ignored(why)) if why == "`refs/tags/v1.4.0` is not a branch"
        ));
    }

    #[test]
    fn real_pull_requests_from_the_repository_itself_start_runs() {
        assert_eq!(
            parse(
                GitHost::GitHub,
                Some("pull_request"),
                &delivery("github-pull-request-opened", unchanged)
            ),
            Ok(HookEvent::PullRequest {
                number: 7,
                branch: "feature/prices".into(),
                rev: SHA.into(),
                into: "main".into(),
            })
        );
        assert_eq!(
            parse(
                GitHost::Gitea,
                Some("pull_request"),
                &delivery("gitea-pull-request-synchronized", unchanged)
            ),
            Ok(HookEvent::PullRequest {
                number: 12,
                branch: "feature/prices".into(),
                rev: SHA.into(),
                into: "main".into(),
            })
        );
        assert_eq!(
            parse(
                GitHost::GitLab,
                Some("Merge Request Hook"),
                &delivery("gitlab-merge-request-update", unchanged)
            ),
            Ok(HookEvent::PullRequest {
                number: 7,
                branch: "feature/prices".into(),
                rev: SHA.into(),
                into: "main".into(),
            })
        );
        // The number is also read from inside the pull request.
        assert!(matches!(
            parse(
                GitHost::Gitea,
                Some("pull_request"),
                &delivery("gitea-pull-request-synchronized", |json| {
                    json.as_object_mut().unwrap().remove("number");
                })
            ),
            Ok(HookEvent::PullRequest { number: 12, .. })
        ));
    }

    #[test]
    fn a_merge_request_update_without_new_commits_starts_nothing() {
        assert_eq!(
            parse(
                GitHost::GitLab,
                Some("Merge Request Hook"),
                &delivery("gitlab-merge-request-update", |json| {
                    json["object_attributes"]
                        .as_object_mut()
                        .unwrap()
                        .remove("oldrev");
                })
            ),
            Ok(HookEvent::Ignored(
                "pull request #7 was update: nothing to run".into()
            ))
        );
    }

    #[test]
    fn real_pull_requests_from_forks_start_nothing() {
        // A fork that was deleted: GitHub sends `head.repo: null`.
        assert!(matches!(
            parse(
                GitHost::GitHub,
                Some("pull_request"),
                &delivery("github-pull-request-deleted-fork", unchanged)
            ),
            Ok(HookEvent::Ignored(why))
                if why == "pull request #8 comes from a fork (its head repository is unknown, perhaps deleted): its code does not run here"
        ));
        assert!(matches!(
            parse(
                GitHost::Gitea,
                Some("pull_request"),
                &delivery("gitea-pull-request-synchronized", |json| {
                    json["pull_request"]["head"]["repo"]["full_name"] = "mallory/shop".into();
                })
            ),
            Ok(HookEvent::Ignored(why)) if why.contains("comes from a fork (head repository mallory/shop)")
        ));
        assert!(matches!(
            parse(
                GitHost::GitLab,
                Some("Merge Request Hook"),
                &delivery("gitlab-merge-request-update", |json| {
                    json["object_attributes"]["source_project_id"] = 77.into();
                })
            ),
            Ok(HookEvent::Ignored(why)) if why.contains("comes from a fork (source project 77, target project 15)")
        ));
        // Without both project ids it may come from a fork.
        for id in ["source_project_id", "target_project_id"] {
            for change in [None, Some(serde_json::Value::Null)] {
                let body = delivery("gitlab-merge-request-update", |json| {
                    let attributes = json["object_attributes"].as_object_mut().unwrap();
                    match &change {
                        None => {
                            attributes.remove(id);
                        }
                        Some(value) => {
                            attributes.insert(id.into(), value.clone());
                        }
                    }
                });
                assert!(
                    matches!(
                        parse(GitHost::GitLab, Some("Merge Request Hook"), &body),
                        Ok(HookEvent::Ignored(why)) if why.contains("comes from a fork")
                    ),
                    "{id} {change:?}"
                );
            }
        }
    }

    #[test]
    fn a_delivery_of_another_shape_is_refused_naming_the_field() {
        let refused = parse(
            GitHost::GitHub,
            Some("pull_request"),
            &delivery("github-pull-request-opened", |json| {
                json["pull_request"]["head"]["sha"] = 42.into();
            }),
        );
        assert!(
            matches!(&refused, Err(HookError::BadRequest(why)) if why.starts_with("the pull request event at `pull_request.head.sha`: invalid type")),
            "{refused:?}"
        );
        let refused = parse(GitHost::GitLab, Some("Push Hook"), br#""refs/heads/main""#);
        assert!(
            matches!(&refused, Err(HookError::BadRequest(why)) if why.starts_with("the push: invalid type: string \"refs/heads/main\", expected an object")),
            "{refused:?}"
        );
        let refused = parse(GitHost::GitHub, Some("push"), b"{} trailing");
        assert!(
            matches!(&refused, Err(HookError::BadRequest(why)) if why.starts_with("the body is not JSON")),
            "{refused:?}"
        );
        // Missing fields are named.
        let refused = parse(
            GitHost::GitLab,
            Some("Merge Request Hook"),
            &delivery("gitlab-merge-request-update", |json| {
                json["object_attributes"]["last_commit"] = serde_json::json!({});
            }),
        );
        assert_eq!(
            refused,
            Err(HookError::BadRequest(
                "no object_attributes.last_commit.id in the pull request event".into()
            ))
        );
    }
}
