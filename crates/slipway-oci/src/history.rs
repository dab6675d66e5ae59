//! When an app's sources last changed in git, and in which commit: a layer takes that commit's
//! time, and the image's revision label that commit, so an app whose directory a commit leaves
//! alone keeps its digest across that commit.
//!
//! The answer to `git log -1 -- PATH` depends only on the commit HEAD points at, so it is kept
//! per HEAD in a small file beside the layer cache: a build at a commit already seen starts no
//! git process at all. HEAD itself is read from the repository's files (a branch's loose or
//! packed ref, a detached HEAD, a linked worktree); anything unusual there falls back to asking
//! git, and a project outside a repository has no commits (time 0, no revision).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The last commit that changed a path: its id and its committer time (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastChange {
    /// The commit's full id.
    pub commit: String,
    /// Its committer time, Unix seconds.
    pub time: u64,
}

/// What is kept between builds: the HEAD the answers belong to, and each path's answer
/// (`None`: the path was never committed).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    head: String,
    paths: BTreeMap<String, Option<LastChange>>,
}

/// The last changes of paths of one repository at its current HEAD.
#[derive(Debug)]
pub struct SourceHistory {
    root: PathBuf,
    cache_path: PathBuf,
    head: Option<String>,
    saved: Saved,
    changed: bool,
}

impl SourceHistory {
    /// The history of the repository holding `root`, with answers kept in `cache_path`.
    pub fn open(root: &Path, cache_path: &Path) -> SourceHistory {
        let head = head_commit(root);
        let saved = std::fs::read(cache_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Saved>(&bytes).ok())
            .filter(|saved| Some(&saved.head) == head.as_ref())
            .unwrap_or_default();
        SourceHistory {
            root: root.to_path_buf(),
            cache_path: cache_path.to_path_buf(),
            head,
            saved,
            changed: false,
        }
    }

    /// The commit HEAD points at, when `root` is in a repository with commits.
    pub fn head(&self) -> Option<&str> {
        self.head.as_deref()
    }

    /// The last commit that changed `path` (a path under the root), or `None` outside a
    /// repository or for a path never committed.
    pub fn last_change(&mut self, path: &Path) -> Option<LastChange> {
        let head = self.head.clone()?;
        let key = path
            .strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned();
        if let Some(known) = self.saved.paths.get(&key) {
            return known.clone();
        }
        let answer = ask_git(&self.root, path);
        self.saved.head = head;
        self.saved.paths.insert(key, answer.clone());
        self.changed = true;
        answer
    }

    /// Keeps what was learnt for the next build; a cache that cannot be written only costs the
    /// next build its git processes.
    pub fn save(&self) {
        if !self.changed {
            return;
        }
        if let Ok(bytes) = serde_json::to_vec(&self.saved) {
            let _ = crate::store::write_atomic(&self.cache_path, &bytes);
        }
    }
}

/// `git log -1 --format='%H %ct' -- path`.
fn ask_git(root: &Path, path: &Path) -> Option<LastChange> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["log", "-1", "--format=%H %ct", "--"])
        .arg(path)
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    parse_log_line(&String::from_utf8_lossy(&output.stdout))
}

/// Reads `<commit> <time>` as git printed it.
fn parse_log_line(text: &str) -> Option<LastChange> {
    let (commit, time) = text.trim().split_once(' ')?;
    Some(LastChange {
        commit: commit.to_owned(),
        time: time.parse().ok()?,
    })
}

/// The commit HEAD points at: read from the repository's files, else asked of git.
fn head_commit(root: &Path) -> Option<String> {
    read_head(root).or_else(|| {
        let output = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["rev-parse", "--verify", "-q", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        let id = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        is_object_id(&id).then_some(id)
    })
}

/// HEAD from the files of the repository above `root`: `None` when anything is not as expected
/// (the caller then asks git).
fn read_head(root: &Path) -> Option<String> {
    let (git_dir, common_dir) = find_git_dir(root)?;
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref: ") else {
        return is_object_id(head).then(|| head.to_owned());
    };
    // Refs are written as loose files, and packed together by `git pack-refs`/`gc`; a loose
    // ref wins over a packed one. Other ref stores (reftable) are left to git.
    if !reference.starts_with("refs/") || reference.contains("..") {
        return None;
    }
    for dir in [&git_dir, &common_dir] {
        if let Ok(text) = std::fs::read_to_string(dir.join(reference)) {
            let id = text.trim();
            return is_object_id(id).then(|| id.to_owned());
        }
    }
    let packed = std::fs::read_to_string(common_dir.join("packed-refs")).ok()?;
    packed_ref(&packed, reference)
}

/// The id `reference` has in a packed-refs file.
fn packed_ref(packed: &str, reference: &str) -> Option<String> {
    packed
        .lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with('^'))
        .find_map(|line| {
            let (id, name) = line.split_once(' ')?;
            (name == reference && is_object_id(id)).then(|| id.to_owned())
        })
}

/// The repository's git dir and common dir (they differ in a linked worktree), found from
/// `start` upwards.
fn find_git_dir(start: &Path) -> Option<(PathBuf, PathBuf)> {
    let start = std::path::absolute(start).ok()?;
    for dir in start.ancestors() {
        let dot_git = dir.join(".git");
        if dot_git.is_dir() {
            // A reftable repository keeps a stub HEAD; leave it to git.
            if dot_git.join("reftable").exists() {
                return None;
            }
            return Some((dot_git.clone(), dot_git));
        }
        if dot_git.is_file() {
            let text = std::fs::read_to_string(&dot_git).ok()?;
            let git_dir = dir.join(text.trim().strip_prefix("gitdir: ")?);
            let common_dir = match std::fs::read_to_string(git_dir.join("commondir")) {
                Ok(common) => git_dir.join(common.trim()),
                Err(_) => git_dir.clone(),
            };
            return Some((git_dir, common_dir));
        }
    }
    None
}

/// A SHA-1 or SHA-256 object id in hex.
fn is_object_id(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let output = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "Ada")
            .env("GIT_AUTHOR_EMAIL", "ada@example.invalid")
            .env("GIT_COMMITTER_NAME", "Ada")
            .env("GIT_COMMITTER_EMAIL", "ada@example.invalid")
            .output()
            .unwrap();
        assert!(output.status.success(), "git {args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    fn commit_file(dir: &Path, file: &str, text: &str, date: &str) {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        git(dir, &["add", "-A"]);
        let output = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["commit", "-q", "-m", file])
            .env("GIT_AUTHOR_NAME", "Ada")
            .env("GIT_AUTHOR_EMAIL", "ada@example.invalid")
            .env("GIT_COMMITTER_NAME", "Ada")
            .env("GIT_COMMITTER_EMAIL", "ada@example.invalid")
            .env("GIT_COMMITTER_DATE", date)
            .env("GIT_AUTHOR_DATE", date)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
    }

    #[test]
    fn each_path_keeps_the_commit_that_last_changed_it() {
        let repo = tempfile::tempdir().unwrap();
        let root = repo.path();
        git(root, &["init", "-q", "-b", "main"]);
        commit_file(root, "app/api/main.py", "v1", "@1700000000 +0000");
        let api_commit = git(root, &["rev-parse", "HEAD"]);
        commit_file(root, "app/web/index.js", "v1", "@1700000100 +0000");
        commit_file(root, "app/web/index.js", "v2", "@1700000200 +0000");
        let head = git(root, &["rev-parse", "HEAD"]);
        let cache = root.join(".cache.json");

        let mut history = SourceHistory::open(root, &cache);
        assert_eq!(history.head(), Some(head.as_str()));
        assert_eq!(
            history.last_change(&root.join("app/api")),
            Some(LastChange {
                commit: api_commit.clone(),
                time: 1_700_000_000
            })
        );
        assert_eq!(
            history.last_change(&root.join("app/web")).unwrap().time,
            1_700_000_200
        );
        assert_eq!(history.last_change(&root.join("app/none")), None);
        history.save();

        // The same HEAD answers from the file (no git needed), another HEAD asks again.
        let saved: Saved = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
        assert_eq!(saved.head, head);
        assert_eq!(saved.paths.len(), 3);
        commit_file(root, "app/web/index.js", "v3", "@1700000300 +0000");
        let mut later = SourceHistory::open(root, &cache);
        assert_eq!(
            later.last_change(&root.join("app/api")).unwrap().commit,
            api_commit
        );
        assert_eq!(
            later.last_change(&root.join("app/web")).unwrap().time,
            1_700_000_300
        );
    }

    #[test]
    fn head_is_read_from_loose_and_packed_refs_detached_heads_and_worktrees() {
        let repo = tempfile::tempdir().unwrap();
        let root = repo.path();
        git(root, &["init", "-q", "-b", "main"]);
        commit_file(root, "a", "1", "@1700000000 +0000");
        let first = git(root, &["rev-parse", "HEAD"]);
        assert_eq!(read_head(root), Some(first.clone()));
        // From a subdirectory of the repository.
        std::fs::create_dir_all(root.join("app/api")).unwrap();
        assert_eq!(read_head(&root.join("app/api")), Some(first.clone()));
        // Packed.
        git(root, &["pack-refs", "--all"]);
        assert!(!root.join(".git/refs/heads/main").exists());
        assert_eq!(read_head(root), Some(first.clone()));
        // Detached.
        commit_file(root, "a", "2", "@1700000100 +0000");
        git(root, &["checkout", "-q", "--detach", &first]);
        assert_eq!(read_head(root), Some(first.clone()));
        git(root, &["checkout", "-q", "main"]);
        let second = git(root, &["rev-parse", "HEAD"]);
        assert_eq!(read_head(root), Some(second.clone()));
        // A linked worktree on its own branch.
        let other = tempfile::tempdir().unwrap();
        let tree = other.path().join("tree");
        git(
            root,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "side",
                tree.to_str().unwrap(),
                &first,
            ],
        );
        assert_eq!(read_head(&tree), Some(first));
        // An unborn branch has no HEAD commit, and no repository none at all.
        let empty = tempfile::tempdir().unwrap();
        git(empty.path(), &["init", "-q"]);
        assert_eq!(head_commit(empty.path()), None);
    }

    #[test]
    fn packed_refs_and_log_lines_are_read_exactly() {
        let id = "0123456789abcdef0123456789abcdef01234567";
        let packed = format!(
            "# pack-refs with: peeled fully-peeled sorted\n{id} refs/heads/main\n^{id}\n{id} refs/tags/v1\n"
        );
        assert_eq!(packed_ref(&packed, "refs/heads/main").as_deref(), Some(id));
        assert_eq!(packed_ref(&packed, "refs/heads/mai"), None);
        assert_eq!(
            parse_log_line(&format!("{id} 1700000000\n")),
            Some(LastChange {
                commit: id.to_owned(),
                time: 1_700_000_000
            })
        );
        assert_eq!(parse_log_line(""), None);
        assert!(!is_object_id("HEAD"));
    }
}
