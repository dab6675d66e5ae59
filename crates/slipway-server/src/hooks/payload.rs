//! The parts of the git hosts' webhook deliveries slipway reads, as serde types. Hosts send much
//! more; unknown fields are ignored. A field slipway needs is an `Option` so that its absence is
//! reported by name (and, for where a pull request comes from, taken for a fork) rather than
//! as a parser's message.
//!
//! - GitHub: `push` and `pull_request` events
//!   (<https://docs.github.com/en/webhooks/webhook-events-and-payloads>).
//! - Gitea and Forgejo: the same shapes as GitHub for `push` and `pull_request`.
//! - GitLab: `Push Hook` and `Merge Request Hook`
//!   (<https://docs.gitlab.com/user/project/integrations/webhook_events/>).

use serde::Deserialize;

/// A push, from any of the three hosts: the ref that moved and the commit it now points at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(expecting = "an object")]
pub struct Push {
    /// The full ref, `refs/heads/BRANCH` or `refs/tags/TAG`.
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// The commit the ref points at after the push; all zeros when the ref was deleted.
    pub after: Option<String>,
    /// GitLab: the commit to check out (null when the branch was deleted); preferred to `after`.
    pub checkout_sha: Option<String>,
}

/// A GitHub, Gitea or Forgejo `pull_request` event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(expecting = "an object")]
pub struct PullRequestEvent {
    /// `opened`, `reopened`, `synchronize` (GitHub), `synchronized` (Gitea), `closed`, ...
    pub action: Option<String>,
    /// The pull request's number (also inside `pull_request` on some hosts).
    pub number: Option<u64>,
    /// The pull request itself.
    pub pull_request: Option<PullRequest>,
}

/// The pull request of a [`PullRequestEvent`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(expecting = "an object")]
pub struct PullRequest {
    /// The pull request's number.
    pub number: Option<u64>,
    /// The branch with the changes, and the repository it is in.
    pub head: Option<PullRequestBranch>,
    /// The branch the changes merge into.
    pub base: Option<PullRequestBranch>,
}

/// One side of a pull request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(expecting = "an object")]
pub struct PullRequestBranch {
    /// The branch name (no `refs/heads/`).
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// Its commit.
    pub sha: Option<String>,
    /// The repository the branch is in: null when that repository (a fork) was deleted.
    pub repo: Option<Repository>,
}

/// A repository as the host names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(expecting = "an object")]
pub struct Repository {
    /// `OWNER/NAME`.
    pub full_name: Option<String>,
}

/// A GitLab `Merge Request Hook`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(expecting = "an object")]
pub struct MergeRequestEvent {
    /// The merge request.
    pub object_attributes: Option<MergeRequest>,
}

/// The merge request of a [`MergeRequestEvent`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(expecting = "an object")]
pub struct MergeRequest {
    /// Its number within the project (`!7`).
    pub iid: Option<u64>,
    /// `open`, `reopen`, `update`, `close`, `merge`, `approved`, ...
    pub action: Option<String>,
    /// The branch with the changes.
    pub source_branch: Option<String>,
    /// The branch they merge into.
    pub target_branch: Option<String>,
    /// The newest commit of the source branch.
    pub last_commit: Option<Commit>,
    /// On an `update`, the commit the source branch pointed at before: present only when the
    /// update brought new commits (not for a new title or labels).
    pub oldrev: Option<String>,
    /// The project the source branch is in.
    pub source_project_id: Option<u64>,
    /// The project the merge request merges into.
    pub target_project_id: Option<u64>,
}

/// A commit as GitLab names it in a merge request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(expecting = "an object")]
pub struct Commit {
    /// The commit id.
    pub id: Option<String>,
}
