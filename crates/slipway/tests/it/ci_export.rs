//! `slipway ci export`: the example's pipelines as GitHub Actions workflows, a GitLab CI file and
//! a CodePipeline with a buildspec per step. Snapshot-tested, and checked by independent tools:
//! the GitHub and GitLab files against their published JSON schemas (the copies check-jsonschema
//! carries), every GitHub workflow with actionlint (shellcheck on its `run:` scripts) and zizmor
//! (its most thorough persona), the CloudFormation template with cfn-lint. `--check` catches
//! files out of date.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::{Receiver, copy_example, git, run, slipway, write};

fn tool(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: run the tests through scripts/test"))
}

fn export(root: &Path, system: &str, extra: &[&str]) -> Vec<(String, String)> {
    let mut command = slipway(root);
    command
        .args(["ci", "export", system, "--output", "json"])
        .args(extra);
    let result = run(&mut command);
    assert_eq!(result.code, 0, "{result:?}");
    let report: Value = serde_json::from_str(&result.stdout).unwrap();
    report
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["path"].as_str().unwrap().to_owned(),
                entry["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn check_schema(schema: &str, transform: Option<&str>, files: &[PathBuf]) {
    let mut command = Command::new(tool("SLIPWAY_CHECK_JSONSCHEMA"));
    command.args(["--builtin-schema", schema]);
    if let Some(transform) = transform {
        command.args(["--data-transform", transform]);
    }
    let output = command.args(files).output().expect("check-jsonschema runs");
    assert!(
        output.status.success(),
        "{schema}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// zizmor findings an exported workflow may carry, each with why it is right there: (audit,
/// end of the workflow's path, reason). Everything else fails the test.
const ZIZMOR_ALLOWED: &[(&str, &str, &str)] = &[(
    "secrets-outside-env",
    ".yml",
    // An auditor-persona audit (zizmor's regular persona does not report it): it wants every
    // job that reads a secret to run in a GitHub environment, so that environment-scoped
    // secrets can fence it. The jobs before a gate run in none on purpose: an environment on a
    // job makes it a deployment and subjects it to that environment's protection rules, which
    // are the approval gate itself. Each secret is given to the steps that read it and no
    // others (the test below checks which), as slipway's own runner does.
    "jobs before an approval gate are not deployments; their secrets are passed per step",
)];

/// What GitHub's own linters say of exported workflows: actionlint (with shellcheck for the
/// `run:` scripts) finds nothing, and zizmor, offline and with its auditor persona (every audit,
/// false positives included), finds nothing outside ZIZMOR_ALLOWED.
fn lint_workflows(files: &[PathBuf]) {
    assert!(!files.is_empty());
    let actionlint = Command::new(tool("SLIPWAY_ACTIONLINT"))
        .arg("-no-color")
        .arg(format!("-shellcheck={}", tool("SLIPWAY_SHELLCHECK")))
        .arg("-pyflakes=")
        .args(files)
        .output()
        .expect("actionlint runs");
    assert!(
        actionlint.status.success(),
        "actionlint: {}{}",
        String::from_utf8_lossy(&actionlint.stdout),
        String::from_utf8_lossy(&actionlint.stderr)
    );

    let zizmor = Command::new(tool("SLIPWAY_ZIZMOR"))
        .args([
            "--offline",
            "--no-config",
            "--persona",
            "auditor",
            "--format",
            "json",
        ])
        .args(files)
        .output()
        .expect("zizmor runs");
    let findings: Vec<Value> = serde_json::from_slice(&zizmor.stdout).unwrap_or_else(|_| {
        panic!(
            "zizmor printed no findings list: {}{}",
            String::from_utf8_lossy(&zizmor.stdout),
            String::from_utf8_lossy(&zizmor.stderr)
        )
    });
    let unexplained: Vec<String> = findings
        .iter()
        .filter(|finding| {
            let audit = finding["ident"].as_str().unwrap_or_default();
            let file = finding["locations"][0]["symbolic"]["key"]["Local"]["verbatim_path"]
                .as_str()
                .unwrap_or_default();
            !ZIZMOR_ALLOWED
                .iter()
                .any(|(allowed, name, _)| *allowed == audit && file.ends_with(name))
        })
        .map(|finding| {
            format!(
                "{} in {}: {}",
                finding["ident"],
                finding["locations"][0]["symbolic"]["key"]["Local"]["verbatim_path"],
                finding["locations"][0]["concrete"]["feature"]
            )
        })
        .collect();
    assert!(unexplained.is_empty(), "zizmor: {unexplained:#?}");
    // Its exit code agrees: findings make it fail, so the linter was not silently skipped.
    assert_eq!(
        zizmor.status.success(),
        findings.is_empty(),
        "{}",
        String::from_utf8_lossy(&zizmor.stderr)
    );
}

/// Valid against the CloudFormation resource specification (cfn-lint, from PyPI).
fn cfn_lint(template: &Path) {
    let lint = Command::new(tool("SLIPWAY_CFN_LINT"))
        .arg(template)
        .output()
        .expect("cfn-lint runs");
    assert!(
        lint.status.success(),
        "{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
}

#[test]
fn the_example_exports_to_github_gitlab_and_codebuild_and_each_validates() {
    let dir = tempfile::tempdir().unwrap();
    let shop = copy_example(dir.path());

    let github = export(&shop, "github", &[]);
    assert_eq!(
        github,
        [
            (
                ".github/workflows/slipway-base.yml".into(),
                "written".into()
            ),
            (
                ".github/workflows/slipway-branch.yml".into(),
                "written".into()
            ),
            (
                ".github/workflows/slipway-release.yml".into(),
                "written".into()
            ),
        ]
    );
    let gitlab = export(&shop, "gitlab", &[]);
    assert_eq!(gitlab, [(".gitlab-ci.yml".into(), "written".into())]);
    let codebuild = export(&shop, "codebuild", &["--pipeline", "release"]);
    let paths: Vec<&str> = codebuild.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "ci/codebuild/release/01-build.yml",
            "ci/codebuild/release/02-push.yml",
            "ci/codebuild/release/03-up-stage.yml",
            "ci/codebuild/release/04-test-stage.yml",
            "ci/codebuild/release/05-deploy-prod.yml",
            "ci/codebuild/release/pipeline.yml",
        ]
    );

    for (path, _) in github.iter().chain(&gitlab).chain(&codebuild) {
        let text = std::fs::read_to_string(shop.join(path)).unwrap();
        insta::assert_snapshot!(
            format!(
                "ci_export_{}",
                path.trim_start_matches('.').replace(['/', '.'], "_")
            ),
            text
        );
    }

    let workflows: Vec<PathBuf> = github.iter().map(|(p, _)| shop.join(p)).collect();
    check_schema("vendor.github-workflows", None, &workflows);
    lint_workflows(&workflows);
    check_schema(
        "vendor.gitlab-ci",
        Some("gitlab-ci"),
        &[shop.join(".gitlab-ci.yml")],
    );
    cfn_lint(&shop.join("ci/codebuild/release/pipeline.yml"));

    // The schemas are no pushover: a job without `runs-on` is refused.
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&workflows[2])
            .unwrap()
            .replace("runs-on: ubuntu-latest", "runs-onn: ubuntu-latest"),
    )
    .unwrap();
    let refused = Command::new(tool("SLIPWAY_CHECK_JSONSCHEMA"))
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!refused.status.success());
}

#[test]
fn check_fails_on_files_out_of_date_and_export_brings_them_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let shop = copy_example(dir.path());
    export(&shop, "gitlab", &[]);
    let unchanged = run(slipway(&shop).args(["ci", "export", "gitlab", "--check"]));
    assert_eq!(unchanged.code, 0, "{unchanged:?}");
    assert!(unchanged.stdout.contains("unchanged  .gitlab-ci.yml"));

    // A new step in slipway.toml: the exported file is stale until exported again.
    let manifest = std::fs::read_to_string(shop.join("slipway.toml")).unwrap();
    write(
        &shop,
        "slipway.toml",
        &manifest.replace(
            "steps = [\"build\", \"push\", \"up stage\", \"test stage\", \"approve\", \"deploy prod\"]",
            "steps = [\"build\", \"push\", \"up stage\", \"test stage\", \"approve\", \"deploy prod\", { name = \"smoke\", run = \"curl -fsS http://127.0.0.1:8090/health\" }]",
        ),
    );
    let before = std::fs::read_to_string(shop.join(".gitlab-ci.yml")).unwrap();
    let stale = run(slipway(&shop).args(["ci", "export", "gitlab", "--check"]));
    assert_eq!(stale.code, 1, "{stale:?}");
    assert!(
        stale.stdout.contains("differs  .gitlab-ci.yml"),
        "{}",
        stale.stdout
    );
    assert!(stale.stderr.contains("out of date with slipway.toml"));
    assert_eq!(
        std::fs::read_to_string(shop.join(".gitlab-ci.yml")).unwrap(),
        before,
        "--check writes nothing"
    );
    assert_eq!(
        export(&shop, "gitlab", &[]),
        [(".gitlab-ci.yml".into(), "updated".into())]
    );
    let after = std::fs::read_to_string(shop.join(".gitlab-ci.yml")).unwrap();
    assert!(
        after.contains("    - curl -fsS http://127.0.0.1:8090/health\n"),
        "{after}"
    );
}

#[test]
fn a_project_below_the_repository_top_gets_its_paths_and_directory_in_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("mono");
    std::fs::create_dir_all(&repo).unwrap();
    let shop = copy_example(&repo);
    std::fs::remove_dir_all(shop.join(".git")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "mono"]);

    let written = export(&shop, "github", &["--pipeline", "release"]);
    assert_eq!(
        written,
        [(
            ".github/workflows/slipway-release.yml".into(),
            "written".into()
        )]
    );
    // Written at the repository's top, where GitHub looks.
    let workflow =
        std::fs::read_to_string(repo.join(".github/workflows/slipway-release.yml")).unwrap();
    assert!(!shop.join(".github").exists());
    for expected in [
        "      - shop/app/**\n",
        "      - shop/config/**\n",
        "        working-directory: shop\n",
        "          path: shop/.slipway/\n",
    ] {
        assert!(workflow.contains(expected), "{expected:?} in\n{workflow}");
    }
    check_schema(
        "vendor.github-workflows",
        None,
        &[repo.join(".github/workflows/slipway-release.yml")],
    );
    lint_workflows(&[repo.join(".github/workflows/slipway-release.yml")]);
}

#[test]
fn an_unknown_pipeline_is_an_error_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let shop = copy_example(dir.path());
    let result = run(slipway(&shop).args(["ci", "export", "github", "--pipeline", "relase"]));
    assert_eq!(result.code, 2);
    assert!(
        result
            .stderr
            .contains("no pipeline `relase` in slipway.toml; it has base, branch, release"),
        "{}",
        result.stderr
    );
    assert!(!shop.join(".github").exists());
}

#[test]
fn a_ci_job_tells_the_pipelines_channels_what_its_notify_step_would() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Receiver::start(&[("/dev", &[200])]);
    let shop = copy_example(dir.path());
    let result = run(slipway(&shop)
        .args(["pipeline", "notify", "release", "--event", "run-failed"])
        .env("SHOP_NOTIFY_URL", format!("{}/dev", hook.address))
        .env("SLIPWAY_RUN", "4711")
        .env("SLIPWAY_COMMIT", "0123456789abcdef0123")
        .env("SLIPWAY_BRANCH", "main"));
    assert_eq!(result.code, 0, "{result:?}");
    let told = hook.bodies("/dev");
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["event"], "run-failed");
    assert_eq!(told[0]["title"], "shop: run 4711 of release failed");
    assert_eq!(told[0]["facts"]["run"], "4711");
    assert_eq!(told[0]["facts"]["commit"], "0123456789ab");
    assert_eq!(told[0]["facts"]["branch"], "main");
    // Nothing of a local run history is made.
    assert!(!shop.join(".slipway/pipelines.db").exists());
}

#[test]
fn pull_request_triggers_map_to_each_systems_own_and_still_validate() {
    let dir = tempfile::tempdir().unwrap();
    let shop = copy_example(dir.path());
    let manifest = std::fs::read_to_string(shop.join("slipway.toml")).unwrap();
    write(
        &shop,
        "slipway.toml",
        &format!(
            "{manifest}\n[pipelines.preview]\nkind = \"release\"\non = {{ pull_request = {{ branches = [\"main\"], paths = [\"app/**\"] }} }}\nsteps = [\"build\", \"up stage\", \"test stage\"]\n"
        ),
    );
    write(
        &shop,
        "slipway.toml",
        &std::fs::read_to_string(shop.join("slipway.toml")).unwrap().replace(
            "steps = [\"build\", \"up stage\", \"test stage\"]",
            // A step's shell line that happens to hold what GitHub reads as an expression.
            "steps = [\"build\", \"up stage\", \"test stage\", { name = \"title ${{ github.event.pull_request.title }}\", run = \"echo '${{ github.event.pull_request.title }}'\" }]",
        ),
    );
    export(&shop, "github", &["--pipeline", "preview"]);
    export(&shop, "gitlab", &[]);
    export(&shop, "codebuild", &["--pipeline", "preview"]);
    let workflow =
        std::fs::read_to_string(shop.join(".github/workflows/slipway-preview.yml")).unwrap();
    assert!(
        workflow
            .contains("  pull_request:\n    branches:\n      - main\n    paths:\n      - app/**\n"),
        "{workflow}"
    );
    // The pull request's title (anyone's to write) never becomes part of the script: the shell
    // gets the line as written, from the environment.
    assert!(
        workflow.contains(
            "        run: /bin/sh -c \"$SLIPWAY_STEP_SCRIPT\"\n        env:\n          SLIPWAY_STEP_SCRIPT: echo '${{ '${{' }} github.event.pull_request.title }}'\n"
        ),
        "{workflow}"
    );
    let gitlab = std::fs::read_to_string(shop.join(".gitlab-ci.yml")).unwrap();
    assert!(
        gitlab.contains("    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\" && $CI_MERGE_REQUEST_TARGET_BRANCH_NAME =~ /^(main)$/\n"),
        "{gitlab}"
    );
    let template = std::fs::read_to_string(shop.join("ci/codebuild/preview/pipeline.yml")).unwrap();
    assert!(
        template.contains("            PullRequest:\n"),
        "{template}"
    );
    assert!(
        template.contains("                  - OPEN\n"),
        "{template}"
    );

    check_schema(
        "vendor.github-workflows",
        None,
        &[shop.join(".github/workflows/slipway-preview.yml")],
    );
    lint_workflows(&[shop.join(".github/workflows/slipway-preview.yml")]);
    check_schema(
        "vendor.gitlab-ci",
        Some("gitlab-ci"),
        &[shop.join(".gitlab-ci.yml")],
    );
    cfn_lint(&shop.join("ci/codebuild/preview/pipeline.yml"));
}

#[test]
fn exported_workflows_pin_every_action_and_give_each_job_only_the_permissions_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let shop = copy_example(dir.path());
    // The pull-request step opens pull requests with the workflow's own token.
    let manifest = std::fs::read_to_string(shop.join("slipway.toml")).unwrap();
    write(
        &shop,
        "slipway.toml",
        &manifest.replace(
            "token = \"env:SHOP_GITHUB_TOKEN\"",
            "token = \"env:GITHUB_TOKEN\"",
        ),
    );
    let written = export(&shop, "github", &[]);
    let workflows: Vec<PathBuf> = written.iter().map(|(p, _)| shop.join(p)).collect();
    for path in &workflows {
        let text = std::fs::read_to_string(path).unwrap();
        // Nothing by default; each job says what it needs.
        assert!(text.contains("\npermissions: {}\n"), "{text}");
        let jobs = text.matches("\n    runs-on: ").count();
        assert_eq!(
            text.matches("\n    permissions:\n      contents: read\n")
                .count(),
            jobs,
            "{text}"
        );
        let mut checkouts = 0;
        for line in text.lines().filter(|l| l.contains("uses: ")) {
            let reference = line.split("uses: ").nth(1).unwrap();
            let (action, rest) = reference.split_once('@').unwrap();
            let (commit, version) = rest
                .split_once(" # v")
                .unwrap_or_else(|| panic!("{line}: a commit with its version as a comment"));
            assert!(action.starts_with("actions/"), "{line}");
            assert!(
                commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit()),
                "{line}: pinned by a full commit"
            );
            // Releases on Node 24: checkout 5+, upload-artifact 6+, download-artifact 7+.
            let major: u32 = version.split('.').next().unwrap().parse().unwrap();
            let node24_from = match action {
                "actions/checkout" => 5,
                "actions/upload-artifact" => 6,
                "actions/download-artifact" => 7,
                other => panic!("{other}: no Node 24 release known"),
            };
            assert!(major >= node24_from, "{line}");
            checkouts += usize::from(action == "actions/checkout");
        }
        assert_eq!(
            text.matches("persist-credentials: false").count(),
            checkouts,
            "{text}"
        );
    }
    let branch =
        std::fs::read_to_string(shop.join(".github/workflows/slipway-branch.yml")).unwrap();
    assert!(
        branch.contains(
            "    name: lint, checks, pull-request\n    permissions:\n      contents: read\n      pull-requests: write # the pull-request step opens the pull request with this token ([git] token)\n"
        ),
        "{branch}"
    );
    // The git host's token goes to the pull-request step alone, not to the workflow, the
    // checkout, lint or the other steps.
    assert_eq!(
        branch
            .matches("GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}")
            .count(),
        1,
        "{branch}"
    );
    assert!(
        branch.contains("        run: slipway pull-request\n        env:\n          GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}\n"),
        "{branch}"
    );
    // An environment's secret goes to the steps acting on it: `checks` reads every
    // environment's config, `lint` none.
    assert!(
        branch.contains("        run: slipway lint\n        env:\n          SHOP_NOTIFY_URL: ${{ secrets.SHOP_NOTIFY_URL }}\n      - name: checks\n        run: slipway config check\n        env:\n          SHOP_DB_PASSWORD: ${{ secrets.SHOP_DB_PASSWORD }}\n"),
        "{branch}"
    );
    let release =
        std::fs::read_to_string(shop.join(".github/workflows/slipway-release.yml")).unwrap();
    assert!(!release.contains("GITHUB_TOKEN"), "{release}");
    assert!(
        release.contains("        run: slipway build\n        env:\n          SHOP_NOTIFY_URL: ${{ secrets.SHOP_NOTIFY_URL }}\n      - name: push\n"),
        "{release}"
    );
    // Nothing of the secrets at the workflow's level, where every action's code could read it.
    let workflow_env = release.split("\njobs:\n").next().unwrap();
    assert!(!workflow_env.contains("secrets."), "{workflow_env}");
    // Only the job that opens the pull request may write to pull requests.
    assert_eq!(
        branch.matches("pull-requests: write").count(),
        1,
        "{branch}"
    );
    for other in ["slipway-base.yml", "slipway-release.yml"] {
        let text = std::fs::read_to_string(shop.join(".github/workflows").join(other)).unwrap();
        assert!(!text.contains("pull-requests"), "{text}");
    }
    lint_workflows(&workflows);

    // The linters are no pushover: a tag reference that leaves the token in .git/config, and a
    // workflow-wide write permission, are refused.
    let release = std::fs::read_to_string(&workflows[2]).unwrap();
    let pinned_checkout = release
        .lines()
        .find(|l| l.contains("uses: actions/checkout@"))
        .unwrap()
        .trim()
        .to_owned();
    let loose = dir
        .path()
        .join("loose/.github/workflows/slipway-release.yml");
    std::fs::create_dir_all(loose.parent().unwrap()).unwrap();
    std::fs::write(
        &loose,
        release
            .replace(&pinned_checkout, "- uses: actions/checkout@v4")
            .replace("          persist-credentials: false\n", "")
            .replace("\npermissions: {}\n", "\npermissions: write-all\n"),
    )
    .unwrap();
    let actionlint = Command::new(tool("SLIPWAY_ACTIONLINT"))
        .args(["-no-color", "-shellcheck=", "-pyflakes="])
        .arg(&loose)
        .output()
        .unwrap();
    assert!(!actionlint.status.success());
    assert!(
        String::from_utf8_lossy(&actionlint.stdout).contains("node20"),
        "{}",
        String::from_utf8_lossy(&actionlint.stdout)
    );
    let zizmor = Command::new(tool("SLIPWAY_ZIZMOR"))
        .args([
            "--offline",
            "--no-config",
            "--persona",
            "auditor",
            "--format",
            "json",
        ])
        .arg(&loose)
        .output()
        .unwrap();
    let findings: Vec<Value> = serde_json::from_slice(&zizmor.stdout).unwrap();
    let audits: Vec<&str> = findings
        .iter()
        .filter_map(|f| f["ident"].as_str())
        .collect();
    for expected in ["unpinned-uses", "artipacked", "excessive-permissions"] {
        assert!(audits.contains(&expected), "{expected} in {audits:?}");
    }
}

#[test]
fn gitlab_and_codebuild_run_in_an_image_pinned_by_digest_and_refuse_a_tag() {
    let dir = tempfile::tempdir().unwrap();
    let shop = copy_example(dir.path());
    let digest = "sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1";

    // By default: Rust's official image, pinned by digest.
    export(&shop, "gitlab", &[]);
    export(&shop, "codebuild", &["--pipeline", "release"]);
    let gitlab = std::fs::read_to_string(shop.join(".gitlab-ci.yml")).unwrap();
    let jobs = gitlab.matches("\n  image: ").count();
    assert!(jobs > 0, "{gitlab}");
    assert_eq!(
        gitlab
            .matches(&format!("\n  image: rust:1.95.0-bookworm@{digest}\n"))
            .count(),
        jobs,
        "{gitlab}"
    );
    let template = std::fs::read_to_string(shop.join("ci/codebuild/release/pipeline.yml")).unwrap();
    assert!(
        template.contains(&format!("    Default: rust@{digest}\n")),
        "{template}"
    );

    // A project's own CI image, by digest: GitLab keeps the tag for the reader, CodeBuild takes
    // REPOSITORY@DIGEST.
    let own = format!("registry.example.com:5000/ci/slipway:1@{digest}");
    export(&shop, "gitlab", &["--image", &own]);
    export(
        &shop,
        "codebuild",
        &["--pipeline", "release", "--image", &own],
    );
    let gitlab = std::fs::read_to_string(shop.join(".gitlab-ci.yml")).unwrap();
    assert_eq!(
        gitlab.matches(&format!("\n  image: {own}\n")).count(),
        jobs,
        "{gitlab}"
    );
    let template = std::fs::read_to_string(shop.join("ci/codebuild/release/pipeline.yml")).unwrap();
    assert!(
        template.contains(&format!(
            "    Default: registry.example.com:5000/ci/slipway@{digest}\n"
        )),
        "{template}"
    );
    check_schema(
        "vendor.gitlab-ci",
        Some("gitlab-ci"),
        &[shop.join(".gitlab-ci.yml")],
    );
    cfn_lint(&shop.join("ci/codebuild/release/pipeline.yml"));

    // A tag alone is refused, naming the flag and the form, and nothing is written.
    for system in ["gitlab", "codebuild"] {
        let before = std::fs::read_to_string(shop.join(".gitlab-ci.yml")).unwrap();
        let refused = run(slipway(&shop).args([
            "ci",
            "export",
            system,
            "--image",
            "registry.example.com/ci/slipway:1",
        ]));
        assert_eq!(refused.code, 2, "{refused:?}");
        assert!(
            refused
                .stderr
                .contains("--image registry.example.com/ci/slipway:1: not pinned by digest")
                && refused.stderr.contains("NAME:TAG@sha256:DIGEST"),
            "{}",
            refused.stderr
        );
        assert_eq!(
            std::fs::read_to_string(shop.join(".gitlab-ci.yml")).unwrap(),
            before
        );
    }

    // The template refuses a stack given a tag for its image.
    let stack = std::fs::read_to_string(shop.join("ci/codebuild/release/pipeline.yml")).unwrap();
    assert!(
        stack.contains("    AllowedPattern: ^[^@]+@sha256:[0-9a-f]{64}$\n")
            || stack.contains("    AllowedPattern: \"^[^@]+@sha256:[0-9a-f]{64}$\"\n"),
        "{stack}"
    );
}
