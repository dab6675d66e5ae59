use std::path::Path;

use crate::{repo_root, run, slipway};

fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                if entry.file_name() != ".git" {
                    stack.push(entry.path());
                }
            } else {
                out.push(
                    entry
                        .path()
                        .strip_prefix(dir)
                        .unwrap()
                        .display()
                        .to_string(),
                );
            }
        }
    }
    out.sort();
    out
}

#[test]
fn init_scaffolds_a_project_that_lints_clean() {
    let temp = tempfile::tempdir().unwrap();
    let result = run(slipway(temp.path()).args(["init", "my-shop"]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    let project = temp.path().join("my-shop");
    insta::assert_snapshot!("init_tree", tree(&project).join("\n"));
    insta::assert_snapshot!(
        "init_manifest",
        std::fs::read_to_string(project.join("slipway.toml")).unwrap()
    );
    let gitignore = std::fs::read_to_string(project.join(".gitignore")).unwrap();
    assert!(gitignore.lines().any(|l| l == ".slipway/") && gitignore.lines().any(|l| l == "*.env"));

    std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(&project)
        .status()
        .unwrap();
    let lint = run(slipway(&project).args(["lint", "--format", "json"]));
    assert_eq!(lint.code, 0, "{}", lint.stdout);
    let report: serde_json::Value = serde_json::from_str(&lint.stdout).unwrap();
    assert_eq!(report["errors"], 0, "{report:#}");
    assert_eq!(report["warnings"], 0, "{report:#}");
}

#[test]
fn init_refuses_to_overwrite_and_changes_nothing() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(temp.path().join("slipway.toml"), "# mine\n").unwrap();
    let result = run(slipway(temp.path()).args(["init", "."]));
    assert_eq!(result.code, 2);
    assert!(
        result.stderr.contains("refusing to overwrite"),
        "{}",
        result.stderr
    );
    assert!(result.stderr.contains("slipway.toml"), "{}", result.stderr);
    assert_eq!(
        tree(temp.path()),
        vec!["slipway.toml"],
        "nothing else may be written"
    );
    assert_eq!(
        std::fs::read_to_string(temp.path().join("slipway.toml")).unwrap(),
        "# mine\n"
    );

    let forced = run(slipway(temp.path()).args(["init", ".", "--force", "--name", "shop"]));
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(
        std::fs::read_to_string(temp.path().join("slipway.toml"))
            .unwrap()
            .contains("name = \"shop\"")
    );
}

#[test]
fn init_keeps_an_existing_gitignore() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(temp.path().join(".gitignore"), "node_modules/\n").unwrap();
    let result =
        run(slipway(temp.path()).args(["init", ".", "--name", "shop", "--output", "json"]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    let json: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(json["project"], "shop");
    let gitignore = std::fs::read_to_string(temp.path().join(".gitignore")).unwrap();
    assert!(gitignore.starts_with("node_modules/\n"), "{gitignore}");
    assert!(gitignore.contains(".slipway/"), "{gitignore}");
}

fn import(corpus: &str, files: &[&str]) -> (tempfile::TempDir, crate::Run) {
    let source = repo_root().join("tests/corpus/compose/import").join(corpus);
    let temp = tempfile::tempdir().unwrap();
    let mut command = slipway(temp.path());
    command.args(["init", "project", "--name", corpus]);
    for file in files {
        command.arg("--from-compose").arg(source.join(file));
    }
    let result = run(&mut command);
    (temp, result)
}

fn import_cases() -> Vec<(String, Vec<String>)> {
    let root = repo_root().join("tests/corpus/compose/import");
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(root).unwrap().flatten() {
        let mut files: Vec<String> = std::fs::read_dir(entry.path())
            .unwrap()
            .flatten()
            .map(|f| f.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                (n.starts_with("docker-compose") || n.starts_with("compose"))
                    && (n.ends_with(".yml") || n.ends_with(".yaml"))
            })
            .collect();
        // The base file first, overrides after it.
        files.sort_by_key(|n| (n.matches('.').count(), n.clone()));
        cases.push((entry.file_name().to_string_lossy().into_owned(), files));
    }
    cases.sort();
    cases
}

#[test]
fn compose_projects_convert_into_a_manifest_slipway_reads() {
    let cases = import_cases();
    assert!(cases.len() >= 3, "{cases:?}");
    for (corpus, files) in cases {
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let (temp, result) = import(&corpus, &files);
        assert_eq!(result.code, 0, "{corpus}: {}", result.stderr);
        let project = temp.path().join("project");
        let manifest_text = std::fs::read_to_string(project.join("slipway.toml")).unwrap();
        insta::assert_snapshot!(format!("import_{corpus}"), manifest_text);
        let root = repo_root().display().to_string();
        insta::with_settings!({ filters => vec![(root.as_str(), "[repo]")] }, {
            insta::assert_snapshot!(format!("import_{corpus}_notes"), result.stderr);
        });
        // Every error left is one the report lists with the command that fixes it: an
        // unpinned image.
        if let Err(error) = slipway_core::load_manifest(&manifest_text) {
            for problem in error.problems() {
                assert!(
                    problem.message.contains("is not pinned"),
                    "{corpus}: unexpected problem {problem:?}"
                );
                let field = problem.path.to_string();
                let listed = result
                    .stderr
                    .split("Images to pin")
                    .nth(1)
                    .is_some_and(|list| list.contains(&format!("{field}:")));
                assert!(listed, "{corpus}: {field} not announced");
                assert!(result.stderr.contains("--pin --force"), "{corpus}");
            }
        }
        for env in ["dev", "stage", "prod"] {
            assert!(
                project.join("config").join(env).is_dir(),
                "{corpus}: config/{env} missing"
            );
        }
        // No literal secret survives into a template.
        for entry in walk(&project.join("config")) {
            let text = std::fs::read_to_string(&entry).unwrap();
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                if let Some((key, value)) = line.split_once('=')
                    && slipway_core::manifest::looks_secret(key)
                {
                    assert_eq!(
                        value,
                        format!("{{{{ secret.{key} }}}}"),
                        "{corpus}: {}",
                        entry.display()
                    );
                }
            }
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

#[test]
fn init_rejects_a_name_slipway_cannot_use_and_writes_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let result = run(slipway(temp.path()).args(["init", "shop", "--name", "My Shop"]));
    assert_eq!(result.code, 2);
    assert!(
        result.stderr.contains("try `--name my-shop`"),
        "{}",
        result.stderr
    );
    assert!(!temp.path().join("shop").exists());
}

/// The seed course's project: its apps build with `Dockerfile` in dev and `Dockerfile.prod` in
/// stage and prod, and the frontend's prod build serves its bundle with nginx. With the user's
/// consent (`--adopt-bases`) every one of those Dockerfiles moves onto a project base (the
/// frontend's prod build on its own base for those environments), and after the one edit init
/// names (its registry's copy of python is an official image), lint finds no error.
#[test]
fn the_course_project_moves_every_dockerfile_onto_a_base_and_lints_without_errors() {
    let temp = tempfile::tempdir().unwrap();
    let project = temp.path().join("cruddur");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(repo_root().join("tests/projects/seed-course"))
        .arg(&project)
        .status()
        .unwrap();
    assert!(status.success());
    let init = run(slipway(&project).args([
        "init",
        "--from-compose",
        "docker-compose.yml",
        "--name",
        "cruddur",
        "--registry",
        "registry.example.internal:5000",
        "--mirror-of",
        "docker.io",
        "--adopt-bases",
        "--loopback-ports",
        ".",
    ]));
    assert_eq!(init.code, 0, "{}", init.stderr);
    for dockerfile in [
        "backend-flask/Dockerfile",
        "backend-flask/Dockerfile.prod",
        "frontend-react-js/Dockerfile",
        "frontend-react-js/Dockerfile.prod",
    ] {
        let text = std::fs::read_to_string(project.join(dockerfile)).unwrap();
        assert!(
            text.contains("FROM ${SLIPWAY_BASE}"),
            "{dockerfile}:\n{text}"
        );
    }
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(project.join("slipway.toml")).unwrap()).unwrap();
    let frontend = &manifest["apps"]["frontend-react-js"];
    assert_eq!(frontend["base"].as_str(), Some("node"), "{frontend:#?}");
    for env in ["stage", "prod"] {
        assert_eq!(
            frontend["environments"][env]["base"].as_str(),
            Some("nginx"),
            "{frontend:#?}"
        );
    }
    assert!(manifest["bases"].get("nginx").is_some(), "{manifest:#?}");
    let nginx_base = std::fs::read_to_string(project.join("base/nginx/Dockerfile")).unwrap();
    assert!(
        nginx_base.contains("\nFROM nginx:1.25.3-bookworm\n"),
        "{nginx_base}"
    );

    // The one edit init cannot make for the user, named with its exact text.
    let edit = "official_registries = [\"123456789012.dkr.ecr.ca-central-1.amazonaws.com\"]";
    assert!(init.stderr.contains(edit), "{}", init.stderr);
    let mut text = std::fs::read_to_string(project.join("slipway.toml")).unwrap();
    text.push_str(&format!("\n[lint]\n{edit}\n"));
    std::fs::write(project.join("slipway.toml"), text).unwrap();
    let lint = run(slipway(&project).args(["lint", "--format", "json"]));
    let report: serde_json::Value = serde_json::from_str(&lint.stdout).unwrap();
    let errors: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(lint.code, 0, "{}", lint.stdout);
}
