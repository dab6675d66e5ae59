//! The git hosts' wire formats, as far as the pull-request flow reads and writes them: the
//! replies (unknown fields ignored, fields a host may leave out defaulted) and the request
//! bodies.

use serde::{Deserialize, Serialize};

/// A pull request as GitHub, Gitea and Forgejo return it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Pull {
    /// Its number in the repository.
    pub number: u64,
    /// Its page.
    #[serde(default)]
    pub html_url: String,
    /// Who opened it (the token's account, for ours).
    #[serde(default)]
    pub user: Option<Account>,
    /// The branch it merges.
    #[serde(default)]
    pub head: BranchRef,
    /// The branch it merges into.
    #[serde(default)]
    pub base: BranchRef,
}

/// An account on GitHub, Gitea or Forgejo.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Account {
    /// Its login.
    pub login: String,
}

/// One side of a pull request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct BranchRef {
    /// The branch's name.
    #[serde(rename = "ref", default)]
    pub reference: String,
}

/// A GitLab user, as `/users?username=` and a merge request's `reviewers` list them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GitlabUser {
    /// The user's id, which `reviewer_ids` takes.
    pub id: u64,
}

/// A GitLab merge request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GitlabMergeRequest {
    /// Its number in the project.
    pub iid: u64,
    /// Its page.
    #[serde(default)]
    pub web_url: String,
    /// Who is asked to review it.
    #[serde(default)]
    pub reviewers: Option<Vec<GitlabUser>>,
}

impl GitlabMergeRequest {
    /// The ids of its reviewers.
    pub fn reviewer_ids(&self) -> Vec<u64> {
        self.reviewers.iter().flatten().map(|r| r.id).collect()
    }
}

/// A new pull request on GitHub, Gitea or Forgejo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewPull<'a> {
    /// Its title.
    pub title: &'a str,
    /// The branch to merge.
    pub head: &'a str,
    /// The branch it merges into.
    pub base: &'a str,
    /// Its description.
    pub body: &'a str,
    /// GitHub's draft flag (Gitea and Forgejo mark drafts in the title instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft: Option<bool>,
}

/// A new GitLab merge request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewMergeRequest<'a> {
    /// The branch to merge.
    pub source_branch: &'a str,
    /// The branch it merges into.
    pub target_branch: &'a str,
    /// Its title.
    pub title: &'a str,
    /// Its description.
    pub description: &'a str,
    /// Its reviewers' ids.
    pub reviewer_ids: &'a [u64],
}

/// The reviewers of a GitLab merge request, replacing the ones it had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewerIds {
    /// The ids.
    pub reviewer_ids: Vec<u64>,
}

/// Reviewers asked of a GitHub, Gitea or Forgejo pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reviewers<'a> {
    /// Their logins.
    pub reviewers: &'a [String],
}

/// An error reply: GitHub's `message` and `errors`, GitLab's `message` (text or list) and
/// `error`, Gitea's `message`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ErrorReply {
    /// The main message.
    #[serde(default)]
    pub message: Option<Said>,
    /// GitLab's other field for it.
    #[serde(default)]
    pub error: Option<Said>,
    /// GitHub's details.
    #[serde(default)]
    pub errors: Vec<ErrorDetail>,
}

/// A message in whatever form a host gives it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Said {
    /// A sentence.
    Text(String),
    /// Several (GitLab's validation errors).
    List(Vec<Said>),
    /// Anything else, shown as its JSON text.
    Other(serde_json::Value),
}

/// One of GitHub's error details.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ErrorDetail {
    /// A sentence.
    Text(String),
    /// An object with a message (and a resource and a code, not shown).
    Object {
        /// The message, when the detail has one.
        #[serde(default)]
        message: Option<String>,
    },
    /// Anything else: not shown.
    Other(serde::de::IgnoredAny),
}

impl ErrorReply {
    /// What the reply says, in order: the message, the error, the details.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for said in [&self.message, &self.error].into_iter().flatten() {
            match said {
                Said::Text(text) => out.push(text.clone()),
                Said::List(items) => out.extend(items.iter().map(|item| match item {
                    Said::Text(text) => text.clone(),
                    Said::List(_) | Said::Other(_) => json_text(item),
                })),
                Said::Other(serde_json::Value::Null) => {}
                Said::Other(value) => out.push(value.to_string()),
            }
        }
        for detail in &self.errors {
            match detail {
                ErrorDetail::Text(text) => out.push(text.clone()),
                ErrorDetail::Object {
                    message: Some(message),
                } => out.push(message.clone()),
                ErrorDetail::Object { message: None } | ErrorDetail::Other(_) => {}
            }
        }
        out
    }
}

fn json_text(said: &Said) -> String {
    match said {
        Said::Text(text) => serde_json::Value::String(text.clone()).to_string(),
        Said::List(items) => format!(
            "[{}]",
            items.iter().map(json_text).collect::<Vec<_>>().join(",")
        ),
        Said::Other(value) => value.to_string(),
    }
}
