//! Which pipelines a change starts, over real git history in a temporary repository: a
//! docs-only commit starts nothing, changes are measured from a base, a project below the
//! repository's top sees its own paths, and a pull request is measured from where it forked.
//! (The same through the CLI and the run history is in the integration tier's `pipelines.rs`.)

use std::path::Path;

use slipway_core::Manifest;
use slipway_pipeline::changes::{
    PullRequestEvent, changed_paths, matching_pipelines, pull_requested,
};

const MANIFEST: &str = r#"schema = 1
[project]
name = "shop"

[pipelines.release]
on = { push = { branches = ["main"], paths = ["app/**", "slipway.toml"] } }
steps = ["build"]

[pipelines.review]
kind = "branch"
on = { pull_request = { branches = ["main"], paths = ["app/**"] } }
steps = ["lint"]

[pipelines.hotfix-review]
kind = "branch"
on = { pull_request = { branches = ["release/*"] } }
steps = ["lint"]
"#;

fn manifest() -> Manifest {
    slipway_core::manifest::load_manifest(MANIFEST).unwrap()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .args([
            "-c",
            "user.email=dev@slipway.invalid",
            "-c",
            "user.name=dev",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Writes `files` under `dir` and commits them; the new commit's id.
fn commit(dir: &Path, files: &[(&str, &str)], message: &str) -> String {
    for (path, contents) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", message]);
    git(dir, &["rev-parse", "HEAD"])
}

fn names(found: Vec<(String, Vec<String>)>) -> Vec<String> {
    found.into_iter().map(|(name, _)| name).collect()
}

/// The pipelines a push to `branch` starts, its paths measured from `base` to `rev`.
fn started_by_push(root: &Path, branch: &str, base: Option<&str>, rev: &str) -> Vec<String> {
    names(
        matching_pipelines(&manifest(), Some(branch), |_| {
            changed_paths(root, base, rev)
        })
        .unwrap(),
    )
}

#[test]
fn a_docs_only_commit_starts_nothing_and_a_code_change_since_the_base_does() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path();
    git(root, &["init", "-q"]);
    let first = commit(
        root,
        &[
            ("slipway.toml", MANIFEST),
            ("app/api/main.py", "print('v1')\n"),
            ("docs/deploy.md", "# Deploying\n"),
        ],
        "first",
    );
    // A first commit changes everything it holds.
    assert_eq!(
        changed_paths(root, None, &first).unwrap(),
        ["app/api/main.py", "docs/deploy.md", "slipway.toml"]
    );
    assert_eq!(started_by_push(root, "main", None, &first), ["release"]);

    let docs = commit(root, &[("docs/deploy.md", "# Deploying, again\n")], "docs");
    assert_eq!(
        started_by_push(root, "main", Some(&first), &docs),
        Vec::<String>::new()
    );
    let code = commit(root, &[("app/api/main.py", "print('v2')\n")], "code");
    assert_eq!(
        started_by_push(root, "main", Some(&docs), &code),
        ["release"]
    );
    // Measured from the last success, the docs commit in between does not hide the code.
    assert_eq!(
        changed_paths(root, Some(&first), &code).unwrap(),
        ["app/api/main.py", "docs/deploy.md"]
    );
    // The same change on another branch starts nothing: release is for main only.
    assert_eq!(
        started_by_push(root, "feature/x", Some(&docs), &code),
        Vec::<String>::new()
    );
    // Nothing changed since the base: nothing to run.
    assert!(changed_paths(root, Some(&code), &code).unwrap().is_empty());
}

#[test]
fn a_project_below_the_repository_top_sees_its_own_paths() {
    let temp = tempfile::tempdir().unwrap();
    let repository = temp.path();
    git(repository, &["init", "-q"]);
    let first = commit(
        repository,
        &[
            ("shop/slipway.toml", MANIFEST),
            ("shop/app/api/main.py", "print('v1')\n"),
            ("other/app/main.py", "print('other')\n"),
        ],
        "first",
    );
    let other = commit(
        repository,
        &[("other/app/main.py", "print('other v2')\n")],
        "another project",
    );
    let shop = repository.join("shop");
    // Another project's `app/` is not this one's.
    assert!(
        changed_paths(&shop, Some(&first), &other)
            .unwrap()
            .is_empty()
    );
    let ours = commit(
        repository,
        &[("shop/app/api/main.py", "print('v2')\n")],
        "ours",
    );
    assert_eq!(
        changed_paths(&shop, Some(&other), &ours).unwrap(),
        ["app/api/main.py"]
    );
    assert_eq!(
        started_by_push(&shop, "main", Some(&other), &ours),
        ["release"]
    );
}

#[test]
fn a_pull_request_is_measured_from_where_it_forked_and_filtered_by_its_target() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path();
    git(root, &["init", "-q"]);
    let fork_point = commit(
        root,
        &[
            ("slipway.toml", MANIFEST),
            ("app/api/main.py", "print('v1')\n"),
            ("docs/deploy.md", "# Deploying\n"),
        ],
        "first",
    );
    git(root, &["checkout", "-q", "-b", "feature/prices"]);
    let head = commit(
        root,
        &[("app/api/prices.py", "ROUND = 2\n")],
        "round prices",
    );
    // main moves on after the fork: its changes are not the pull request's.
    git(root, &["checkout", "-q", "main"]);
    commit(
        root,
        &[("docs/deploy.md", "# Deploying v2\n")],
        "docs on main",
    );

    let request = |into: &str, rev: &str| PullRequestEvent {
        branch: "feature/prices".into(),
        rev: rev.to_owned(),
        into: into.to_owned(),
    };
    let started = pull_requested(&manifest(), root, &request("main", &head)).unwrap();
    assert_eq!(started.len(), 1, "{started:?}");
    let (name, change) = &started[0];
    assert_eq!(name, "review");
    assert_eq!(change.rev, head);
    assert_eq!(change.branch.as_deref(), Some("feature/prices"));
    assert_eq!(change.base_rev.as_deref(), Some(fork_point.as_str()));
    assert_eq!(change.paths, ["app/api/prices.py"]);

    // Into a release branch, only the pipelines that review those start.
    git(root, &["branch", "release/1.4", &fork_point]);
    let into_release = pull_requested(&manifest(), root, &request("release/1.4", &head)).unwrap();
    assert_eq!(
        into_release
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>(),
        ["hotfix-review"]
    );

    // A pull request that changes only docs starts no pipeline that filters on app/.
    git(root, &["checkout", "-q", "-b", "feature/docs", &fork_point]);
    let docs_head = commit(root, &[("docs/prices.md", "Prices\n")], "docs only");
    assert!(
        pull_requested(&manifest(), root, &request("main", &docs_head))
            .unwrap()
            .is_empty()
    );
}
