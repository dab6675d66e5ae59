//! Which pipelines a change starts. A change is a commit on a branch and the paths that changed
//! since the pipeline last succeeded (or, the first time, in the commit itself). The filters of
//! `on.push` decide: branch globs, path globs a change must touch, and paths that never count
//! (a commit touching only `docs/` starts no release).

use std::path::{Path, PathBuf};
use std::process::Command;

use globset::{Glob, GlobBuilder, GlobMatcher};
use slipway_core::Manifest;
use slipway_core::manifest::{GitFilter, PipelineKind};

use crate::steps::kind_of;
use crate::store::RunStore;
use crate::{PipelineError, Result};

/// A commit that may start pipelines: what it is, on which branch, and which paths it changed since
/// the last successful run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The full commit id.
    pub rev: String,
    /// The branch the commit was pushed to; `None` for a detached commit.
    pub branch: Option<String>,
    /// The commit changes are measured from; `None` for a pipeline's first run.
    pub base_rev: Option<String>,
    /// The paths changed since `base_rev`, relative to the project (what the pipelines' path
    /// filters match).
    pub paths: Vec<String>,
}

/// Runs `git -C root ARGS` and returns its trimmed standard output; a failure carries git's own
/// message.
pub fn git(root: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(|source| PipelineError::GitNotRun {
            command: args.join(" "),
            source,
        })?;
    if !output.status.success() {
        return Err(PipelineError::Git {
            command: args.join(" "),
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The full commit id `rev` names.
pub fn resolve_rev(root: &Path, rev: &str) -> Result<String> {
    git(
        root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .map_err(|_| PipelineError::Git {
        command: format!("rev-parse {rev}"),
        message: format!("`{rev}` is not a commit of {}", root.display()),
    })
}

/// The branch checked out in `root`, if any.
pub fn current_branch(root: &Path) -> Option<String> {
    git(root, &["rev-parse", "--abbrev-ref", "HEAD"])
        .ok()
        .filter(|b| b != "HEAD")
}

/// The paths, relative to the project at `root` (which may sit below the repository's top),
/// that differ between `base` and `rev`; without a base, the paths `rev` itself changed (all of
/// them for a first commit).
pub fn changed_paths(root: &Path, base: Option<&str>, rev: &str) -> Result<Vec<String>> {
    let listing = match base {
        Some(base) if base != rev => git(
            root,
            &[
                "diff",
                "--name-only",
                "--no-renames",
                "--relative",
                base,
                rev,
            ],
        )?,
        Some(_) => String::new(),
        None => git(
            root,
            &[
                "diff-tree",
                "--no-commit-id",
                "--name-only",
                "--no-renames",
                "--relative",
                "-r",
                "--root",
                rev,
            ],
        )?,
    };
    Ok(listing
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect())
}

/// Where a run's steps see the project at its commit: the project itself when it is at that
/// commit with nothing uncommitted, else a detached worktree of the commit, removed on drop.
#[derive(Debug)]
pub struct Checkout {
    /// The directory the steps run in.
    pub root: PathBuf,
    worktree: Option<(PathBuf, PathBuf)>,
}

/// The worktree of run `run` carried by process `pid`: two runs of one commit (one push
/// starting two pipelines) never share one, nor do two processes.
fn worktree_name(run: i64, pid: u32) -> String {
    format!("run-{run}-{pid}")
}

/// The pid in a worktree's name, for worktrees named by [`worktree_name`].
fn worktree_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("run-")?;
    let (run, pid) = rest.split_once('-')?;
    run.parse::<i64>().ok()?;
    pid.parse().ok()
}

impl Checkout {
    /// The checkout run `run` of `rev` carries its steps out in.
    pub fn of(project_root: &Path, rev: &str, worktrees: &Path, run: i64) -> Result<Checkout> {
        let head = resolve_rev(project_root, "HEAD").ok();
        if head.as_deref() == Some(rev) && !is_dirty(project_root)? {
            return Ok(Checkout {
                root: project_root.to_path_buf(),
                worktree: None,
            });
        }
        let prefix = git(project_root, &["rev-parse", "--show-prefix"])?;
        let top = PathBuf::from(git(project_root, &["rev-parse", "--show-toplevel"])?);
        std::fs::create_dir_all(worktrees).map_err(|source| PipelineError::Io {
            path: worktrees.to_path_buf(),
            source,
        })?;
        remove_abandoned(&top, worktrees);
        let path = worktrees.join(worktree_name(run, std::process::id()));
        if path.exists() {
            // Left by an earlier process with this pid that died carrying the same run.
            remove_worktree(&top, &path);
        }
        let path_text = path.to_string_lossy().into_owned();
        git(
            &top,
            &["worktree", "add", "--detach", "--force", &path_text, rev],
        )?;
        Ok(Checkout {
            root: path.join(prefix),
            worktree: Some((top, path)),
        })
    }

    /// Whether the steps run in a worktree rather than in the project.
    pub fn is_worktree(&self) -> bool {
        self.worktree.is_some()
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if let Some((top, path)) = &self.worktree {
            remove_worktree(top, path);
        }
    }
}

fn remove_worktree(top: &Path, path: &Path) {
    let _ = git(
        top,
        &["worktree", "remove", "--force", &path.to_string_lossy()],
    );
    if path.exists() {
        let _ = std::fs::remove_dir_all(path);
        let _ = git(top, &["worktree", "prune"]);
    }
}

/// Removes the worktrees of processes that died before removing theirs.
fn remove_abandoned(top: &Path, worktrees: &Path) {
    let Ok(entries) = std::fs::read_dir(worktrees) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(worktree_pid) else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            remove_worktree(top, &entry.path());
        }
    }
}

/// Whether the working tree at `root` has uncommitted changes to tracked files.
pub fn is_dirty(root: &Path) -> Result<bool> {
    Ok(!git(root, &["status", "--porcelain", "--untracked-files=no"])?.is_empty())
}

fn path_glob(pattern: &str) -> Option<GlobMatcher> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .ok()
        .map(|g| g.compile_matcher())
}

fn branch_glob(pattern: &str) -> Option<GlobMatcher> {
    Glob::new(pattern).ok().map(|g| g.compile_matcher())
}

/// Whether a push of `paths` to `branch` passes `filter`.
pub fn filter_accepts(filter: &GitFilter, branch: Option<&str>, paths: &[String]) -> bool {
    if !filter.branches.is_empty() {
        let Some(branch) = branch else { return false };
        if !filter
            .branches
            .iter()
            .filter_map(|b| branch_glob(b))
            .any(|g| g.is_match(branch))
        {
            return false;
        }
    }
    let ignored: Vec<GlobMatcher> = filter
        .ignore_paths
        .iter()
        .filter_map(|p| path_glob(p))
        .collect();
    let wanted: Vec<GlobMatcher> = filter.paths.iter().filter_map(|p| path_glob(p)).collect();
    paths
        .iter()
        .filter(|path| !ignored.iter().any(|g| g.is_match(path)))
        .any(|path| wanted.is_empty() || wanted.iter().any(|g| g.is_match(path)))
}

/// The pipelines of `manifest` a push of `change` starts, in slipway.toml's order. The change's
/// paths are those since each pipeline's own last success, so `paths_for` is asked per pipeline.
pub fn matching_pipelines(
    manifest: &Manifest,
    branch: Option<&str>,
    mut paths_for: impl FnMut(&str) -> Result<Vec<String>>,
) -> Result<Vec<(String, Vec<String>)>> {
    let default_branch = manifest.project.default_branch();
    let mut out = Vec::new();
    for (name, pipeline) in &manifest.pipelines {
        let Some(filter) = &pipeline.on.push else {
            continue;
        };
        // A branch pipeline prepares a pull request: never for the branch it would merge into.
        if kind_of(name, pipeline) == PipelineKind::Branch && branch == Some(default_branch) {
            continue;
        }
        let paths = paths_for(name)?;
        if filter_accepts(filter, branch, &paths) {
            out.push((name.clone(), paths));
        }
    }
    Ok(out)
}

/// What pipeline `pipeline` would run at `rev` (a full commit id): the paths changed since its
/// last successful run.
pub fn change_for(
    root: &Path,
    store: &RunStore,
    pipeline: &str,
    rev: &str,
    branch: Option<&str>,
) -> Result<Change> {
    let base_rev = store.last_succeeded_rev(pipeline)?;
    Ok(Change {
        paths: changed_paths(root, base_rev.as_deref(), rev)?,
        rev: rev.to_owned(),
        branch: branch.map(str::to_owned),
        base_rev,
    })
}

/// The pipelines a push of `rev` (a full commit id) to `branch` starts, each with its change.
pub fn pushed(
    manifest: &Manifest,
    store: &RunStore,
    root: &Path,
    branch: Option<&str>,
    rev: &str,
) -> Result<Vec<(String, Change)>> {
    let mut changes = std::collections::HashMap::new();
    let matching = matching_pipelines(manifest, branch, |name| {
        let change = change_for(root, store, name, rev, branch)?;
        let paths = change.paths.clone();
        changes.insert(name.to_owned(), change);
        Ok(paths)
    })?;
    Ok(matching
        .into_iter()
        .filter_map(|(name, _)| changes.remove(&name).map(|change| (name, change)))
        .collect())
}

/// A pull request: its branch and newest commit, and the branch it would merge into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestEvent {
    /// The pull request's own branch.
    pub branch: String,
    /// The full commit id of the pull request's head.
    pub rev: String,
    /// The branch it would merge into (the pipelines' `on.pull_request` branches are matched
    /// against it).
    pub into: String,
}

/// The pipelines a change of `rev` starts, each with its change, and the trigger the runs are
/// recorded with: a pull request of `(branch, into)` (its `on.pull_request` pipelines,
/// `pull-request`), else a push of `rev` to `branch` (`push`).
pub fn triggered(
    manifest: &Manifest,
    store: &RunStore,
    root: &Path,
    rev: &str,
    branch: Option<&str>,
    pull_request: Option<(&str, &str)>,
) -> Result<(Vec<(String, Change)>, &'static str)> {
    match pull_request {
        Some((branch, into)) => {
            let event = PullRequestEvent {
                branch: branch.to_owned(),
                rev: rev.to_owned(),
                into: into.to_owned(),
            };
            Ok((pull_requested(manifest, root, &event)?, "pull-request"))
        }
        None => Ok((pushed(manifest, store, root, branch, rev)?, "push")),
    }
}

/// The commit `branch` points at here: the remote's branch when there is one, else the local one.
fn branch_head(root: &Path, branch: &str) -> Option<String> {
    [
        format!("refs/remotes/origin/{branch}"),
        format!("refs/heads/{branch}"),
    ]
    .iter()
    .find_map(|reference| resolve_rev(root, reference).ok())
}

/// The pipelines a pull request starts: those whose `on.pull_request` filter takes the branch it
/// merges into and the paths it changes (since it forked from that branch), each with its change.
pub fn pull_requested(
    manifest: &Manifest,
    root: &Path,
    pull_request: &PullRequestEvent,
) -> Result<Vec<(String, Change)>> {
    let fork_point = branch_head(root, &pull_request.into)
        .and_then(|into| git(root, &["merge-base", &into, &pull_request.rev]).ok());
    let paths = changed_paths(root, fork_point.as_deref(), &pull_request.rev)?;
    let mut out = Vec::new();
    for (name, pipeline) in &manifest.pipelines {
        let Some(filter) = &pipeline.on.pull_request else {
            continue;
        };
        if filter_accepts(filter, Some(&pull_request.into), &paths) {
            out.push((
                name.clone(),
                Change {
                    rev: pull_request.rev.clone(),
                    branch: Some(pull_request.branch.clone()),
                    base_rev: fork_point.clone(),
                    paths: paths.clone(),
                },
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worktrees_are_named_by_run_and_process() {
        assert_eq!(worktree_name(12, 4242), "run-12-4242");
        assert_ne!(worktree_name(12, 4242), worktree_name(13, 4242));
        assert_eq!(worktree_pid("run-12-4242"), Some(4242));
        assert_eq!(worktree_pid("3f2a1c0b9d8e-4242"), None);
        assert_eq!(worktree_pid("run-x-4242"), None);
    }

    fn filter(branches: &[&str], paths: &[&str], ignore: &[&str]) -> GitFilter {
        let owned = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
        GitFilter {
            branches: owned(branches),
            paths: owned(paths),
            ignore_paths: owned(ignore),
        }
    }

    fn paths(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn paths_and_branches_decide() {
        let release = filter(&["main"], &["app/**", "config/**"], &[]);
        assert!(filter_accepts(
            &release,
            Some("main"),
            &paths(&["app/api/api/__main__.py"])
        ));
        assert!(!filter_accepts(
            &release,
            Some("main"),
            &paths(&["docs/deploy.md"])
        ));
        assert!(!filter_accepts(
            &release,
            Some("feature/x"),
            &paths(&["app/web/index.html"])
        ));
        assert!(!filter_accepts(
            &release,
            None,
            &paths(&["app/web/index.html"])
        ));
        assert!(!filter_accepts(&release, Some("main"), &[]));
        // `*` stays within one directory.
        let top = filter(&[], &["*.toml"], &[]);
        assert!(filter_accepts(
            &top,
            Some("main"),
            &paths(&["slipway.toml"])
        ));
        assert!(!filter_accepts(
            &top,
            Some("main"),
            &paths(&["config/prod/x.toml"])
        ));
    }

    #[test]
    fn ignored_paths_never_start_a_run_on_their_own() {
        let any = filter(&["feature/*"], &[], &["docs/**", "*.md"]);
        assert!(!filter_accepts(
            &any,
            Some("feature/login"),
            &paths(&["docs/a.md", "README.md"])
        ));
        assert!(filter_accepts(
            &any,
            Some("feature/login"),
            &paths(&["docs/a.md", "app/api/x.py"])
        ));
    }

    #[test]
    fn a_branch_pipeline_never_runs_on_the_default_branch() {
        let manifest = slipway_core::load_manifest(
            r#"
schema = 1
[project]
name = "shop"
[pipelines.branch]
on = { push = {} }
steps = ["lint"]
[pipelines.release]
on = { push = { branches = ["main"], paths = ["app/**"] } }
steps = ["build"]
"#,
        )
        .unwrap();
        let changed = |_: &str| Ok(paths(&["app/api/x.py"]));
        let names = |found: Vec<(String, Vec<String>)>| {
            found.into_iter().map(|(n, _)| n).collect::<Vec<_>>()
        };
        assert_eq!(
            names(matching_pipelines(&manifest, Some("main"), changed).unwrap()),
            ["release"]
        );
        assert_eq!(
            names(matching_pipelines(&manifest, Some("login"), changed).unwrap()),
            ["branch"]
        );
    }
}
