//! The compose-project corpus (tests/corpus/compose-projects): every project converts with
//! `init --from-compose`, lints with no errors, agrees with what Debian's docker-compose makes
//! of it (`docker-compose config`) on every field both express unless the report names the
//! difference, and the projects whose images exist on the test bed come up with `up dev`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use slipway_compose::yaml::{self, Node, Value};
use slipway_core::manifest::{CommandLine, Manifest};

use crate::{git_commit_all, repo_root, run, slipway, unique};

fn registry() -> String {
    std::env::var("SLIPWAY_TEST_REGISTRY").expect("SLIPWAY_TEST_REGISTRY is not set: run the tests through scripts/test, which starts the test bed")
}

/// Each project and its compose files in the order compose reads them: the base file, the
/// override, then the others.
fn projects() -> Vec<(String, PathBuf, Vec<String>)> {
    let root = repo_root().join("tests/corpus/compose-projects");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap().flatten() {
        let mut files: Vec<String> = std::fs::read_dir(entry.path())
            .unwrap()
            .flatten()
            .map(|f| f.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("docker-compose") && n.ends_with(".yml"))
            .collect();
        files.sort_by_key(|n| {
            (
                n != "docker-compose.yml",
                n != "docker-compose.override.yml",
                n.clone(),
            )
        });
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
            files,
        ));
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// The test bed's registry mirrors Docker Hub: give its Debian stand-in the moving `latest`
/// tag a mirror would have, so --pin has something to resolve.
fn tag_debian_latest() {
    let credentials = format!(
        "{}:{}",
        std::env::var("SLIPWAY_TEST_REGISTRY_USER").unwrap(),
        std::env::var("SLIPWAY_TEST_REGISTRY_PASSWORD").unwrap()
    );
    let debian = std::env::var("SLIPWAY_TEST_DEBIAN_IMAGE").unwrap();
    let tag = debian.split_once(':').unwrap().1;
    let output = std::process::Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--src-creds",
            &credentials,
            "--dest-creds",
            &credentials,
        ])
        .arg(format!("docker://{}/library/debian:{tag}", registry()))
        .arg(format!("docker://{}/library/debian:latest", registry()))
        .output()
        .expect("skopeo runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `docker-compose config` of the project, run with nothing from this process's environment
/// but PATH, as a user's shell with only the project's `.env` would.
fn compose_config(dir: &Path, files: &[String]) -> Node {
    let mut command = std::process::Command::new("docker-compose");
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .current_dir(dir);
    for file in files {
        command.args(["-f", file]);
    }
    let output = command.arg("config").output().expect("docker-compose runs");
    assert!(
        output.status.success(),
        "{}: docker-compose config failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    // The printed file escapes a literal `$` as `$$` again; the values compose runs have one.
    let text = String::from_utf8(output.stdout).unwrap().replace("$$", "$");
    yaml::parse(&text).expect("compose prints YAML")
}

/// How Python's shlex (what docker-compose 1.29 splits a string command with) splits `text`.
fn shlex_split(text: &str) -> Vec<String> {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, shlex, sys; print(json.dumps(shlex.split(sys.argv[1])))",
            text,
        ])
        .output()
        .expect("python3 runs");
    assert!(output.status.success());
    serde_json::from_slice(&output.stdout).unwrap()
}

fn words(node: &Node) -> Vec<String> {
    match &node.value {
        Value::Seq(items) => items.iter().filter_map(Node::as_text).collect(),
        _ => shlex_split(&node.as_text().unwrap_or_default()),
    }
}

/// A difference between compose and the conversion, accepted only when the report names the
/// service and the field.
struct Differences<'n> {
    project: String,
    notes: &'n [String],
    unnamed: Vec<String>,
}

impl Differences<'_> {
    fn check(&mut self, service: &str, field: &str, same: bool, detail: String) {
        let named = self
            .notes
            .iter()
            .any(|n| n.contains(&format!("`{service}`")) && n.contains(field));
        if !same && !named {
            self.unnamed
                .push(format!("{}: {service}.{field}: {detail}", self.project));
        }
    }
}

fn argv(command: Option<&CommandLine>) -> Option<Vec<String>> {
    match command {
        Some(CommandLine::Exec(words)) => Some(words.clone()),
        // A shell command the conversion wrapped (a secret read at run time) differs on
        // purpose; the report must say so.
        Some(CommandLine::Shell(script)) => Some(vec![script.clone()]),
        None => None,
    }
}

fn template_keys(project: &Path, name: &str) -> BTreeSet<String> {
    std::fs::read_to_string(project.join(format!("config/dev/{name}.env.j2")))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_owned()))
        .collect()
}

fn compare(project: &str, dir: &Path, config: &Node, manifest: &Manifest, notes: &[String]) {
    let mut diff = Differences {
        project: project.to_owned(),
        notes,
        unnamed: Vec::new(),
    };
    let services = config.get("services").expect("compose lists services");
    for (key, service) in services.entries() {
        let name = slipway_core::scaffold::project_name_from(&key.name);
        let app = manifest.apps.get(&name);
        let svc = manifest.services.get(&name);
        diff.check(
            &name,
            "skipped",
            app.is_some() || svc.is_some(),
            "missing".into(),
        );
        let (command, entrypoint, health) = match (app, svc) {
            (Some(app), _) => (
                app.cmd.as_ref(),
                app.entrypoint.as_ref(),
                app.health.as_ref(),
            ),
            (None, Some(svc)) => (svc.command.as_ref(), None, svc.health.as_ref()),
            _ => continue,
        };
        let expected = service.get("command").map(words);
        diff.check(
            &name,
            "command",
            expected == argv(command),
            format!("compose {expected:?}, slipway {:?}", argv(command)),
        );
        let expected = service.get("entrypoint").map(words);
        diff.check(
            &name,
            "entrypoint",
            expected == argv(entrypoint),
            format!("compose {expected:?}, slipway {:?}", argv(entrypoint)),
        );
        // Health checks: the test as compose runs it.
        let compose_test = service.get("healthcheck").and_then(|h| {
            if h.get("disable").and_then(Node::as_bool) == Some(true) {
                return None;
            }
            let test = h.get("test")?;
            match &test.value {
                Value::Seq(items) => {
                    let items: Vec<String> = items.iter().filter_map(Node::as_text).collect();
                    match items.split_first() {
                        Some((first, rest)) if first == "CMD-SHELL" => {
                            Some(CommandLine::Shell(rest.join(" ")))
                        }
                        Some((first, rest)) if first == "CMD" => {
                            Some(CommandLine::Exec(rest.to_vec()))
                        }
                        Some((first, _)) if first == "NONE" => None,
                        _ => Some(CommandLine::Exec(items)),
                    }
                }
                _ => Some(CommandLine::Shell(test.as_text()?)),
            }
        });
        let slipway_test = health.and_then(|h| h.cmd.clone());
        diff.check(
            &name,
            "health",
            compose_test == slipway_test,
            format!("compose {compose_test:?}, slipway {slipway_test:?}"),
        );
        // Environment: the same keys (env files and `environment` merged).
        let compose_keys: BTreeSet<String> = service
            .get("environment")
            .map(|e| e.entries().iter().map(|(k, _)| k.name.clone()).collect())
            .unwrap_or_default();
        let slipway_keys: BTreeSet<String> = template_keys(dir, &name)
            .into_iter()
            // Variables a command reads at run time are added on purpose (named with `command`).
            .filter(|k| {
                !compose_keys.is_empty() || !manifest.environments["dev"].secrets.contains_key(k)
            })
            .collect();
        diff.check(
            &name,
            "environment",
            compose_keys.is_subset(&slipway_keys),
            format!("compose {compose_keys:?}, slipway {slipway_keys:?}"),
        );
        // Ports: the container ports compose publishes.
        let compose_ports: Vec<u16> = service
            .get("ports")
            .map(|p| {
                p.items()
                    .iter()
                    .filter_map(|i| i.get("target").and_then(Node::as_text))
                    .filter_map(|t| t.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        for port in &compose_ports {
            let carried = match (app, svc) {
                (Some(app), _) => app.port == Some(*port),
                (None, Some(svc)) => svc.ports.iter().any(|p| {
                    slipway_core::manifest::parse_port_mapping(p)
                        .is_some_and(|(_, _, c)| c == *port)
                }),
                _ => false,
            };
            diff.check(&name, "port", carried, format!("container port {port}"));
        }
        if let Some(app) = app {
            for (field, value) in [("user", &app.user), ("working_dir", &app.workdir)] {
                let expected = service.get(field).and_then(Node::as_text);
                diff.check(
                    &name,
                    field,
                    &expected == value,
                    format!("compose {expected:?}, slipway {value:?}"),
                );
            }
        } else if let Some(svc) = svc {
            let image = service
                .get("image")
                .and_then(Node::as_text)
                .unwrap_or_default();
            let written = svc.image.clone().unwrap_or_default();
            // Pinned through the mirror: the same repository with a tag and digest.
            let pinned_from = slipway_oci::pin::is_unpinned(&image) && written.contains("@sha256:");
            diff.check(
                &name,
                "image",
                written == image || pinned_from,
                format!("compose {image}, slipway {written}"),
            );
            for field in ["user", "working_dir", "entrypoint"] {
                diff.check(
                    &name,
                    field,
                    service.get(field).is_none(),
                    "not carried for services".into(),
                );
            }
        }
        // Names others use stay reachable.
        let aliases = app.map(|a| &a.aliases).or(svc.map(|s| &s.aliases)).unwrap();
        for field in ["container_name", "hostname"] {
            if let Some(value) = service.get(field).and_then(Node::as_text) {
                diff.check(
                    &name,
                    field,
                    aliases.contains(&value) || value == name,
                    format!("{value} not an alias"),
                );
            }
        }
        if let Some(replicas) = service
            .get("deploy")
            .and_then(|d| d.get("replicas"))
            .and_then(Node::as_text)
        {
            let carried = manifest.environments["dev"]
                .replicas
                .get(&name)
                .map(u32::to_string);
            diff.check(
                &name,
                "replicas",
                carried.as_deref() == Some(replicas.as_str()),
                format!("compose {replicas}, slipway {carried:?}"),
            );
        }
        // Opt-in services never reach prod.
        if service
            .get("profiles")
            .is_some_and(|p| !p.items().is_empty())
        {
            let in_prod = match (app, svc) {
                (Some(_), _) => manifest.environments["prod"]
                    .apps
                    .as_ref()
                    .is_none_or(|apps| apps.contains(&name)),
                _ => manifest.service_runs_in(&name, "prod"),
            };
            let prod_profile = service.get("profiles").is_some_and(|p| {
                p.items()
                    .iter()
                    .any(|i| i.as_text().as_deref() == Some("prod"))
            });
            assert_eq!(in_prod, prod_profile, "{project}: {name} profiles");
        }
    }
    assert!(
        diff.unnamed.is_empty(),
        "differences the report does not name:\n{}",
        diff.unnamed.join("\n")
    );
}

#[test]
fn every_compose_project_converts_lints_clean_and_agrees_with_docker_compose() {
    let projects = projects();
    assert!(projects.len() >= 30, "{}", projects.len());
    tag_debian_latest();
    let temp = tempfile::tempdir().unwrap();
    for (project, source, files) in projects {
        let dir = temp.path().join(&project);
        copy_dir(&source, &dir);
        let config = compose_config(&dir, &files);
        let mut init = slipway(&dir);
        init.args([
            "init",
            ".",
            "--registry",
            &registry(),
            "--mirror-of",
            "docker.io",
        ]);
        init.args([
            "--pin",
            "--adopt-bases",
            "--loopback-ports",
            "--output",
            "json",
        ]);
        for file in &files {
            init.args(["--from-compose", file]);
        }
        let result = run(&mut init);
        assert_eq!(result.code, 0, "{project}: {}", result.stderr);
        let report: Json = serde_json::from_str(&result.stdout).unwrap();
        assert_eq!(
            report["images_to_pin"].as_array().map(Vec::len),
            Some(0),
            "{project}: {report}"
        );
        let notes: Vec<String> = report["not_carried_over"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect();
        let lint = run(slipway(&dir).args(["lint", "--format", "json"]));
        let findings: Json = serde_json::from_str(&lint.stdout)
            .unwrap_or_else(|_| panic!("{project}: {}{}", lint.stdout, lint.stderr));
        let errors: Vec<&Json> = findings["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "error")
            .collect();
        assert!(errors.is_empty(), "{project}: lint errors {errors:#?}");
        assert_eq!(lint.code, 0, "{project}: {}", lint.stdout);
        let manifest = slipway_core::load_manifest(
            &std::fs::read_to_string(dir.join("slipway.toml")).unwrap(),
        )
        .unwrap_or_else(|e| panic!("{project}: {e}"));
        compare(&project, &dir, &config, &manifest, &notes);
    }
}

/// Projects whose every image is the test bed's Debian stand-in (services, and the images the
/// bases build FROM).
fn runs_on_the_test_bed(dir: &Path, manifest: &Manifest) -> bool {
    let debian = std::env::var("SLIPWAY_TEST_DEBIAN_IMAGE").unwrap();
    let tag = debian.split_once(':').unwrap().1.to_owned();
    let services = manifest
        .services
        .values()
        .all(|s| s.image.as_deref().is_some_and(|i| i.contains(&tag)));
    let bases = manifest.bases.keys().all(|b| {
        std::fs::read_to_string(dir.join(format!("base/{b}/Dockerfile")))
            .is_ok_and(|d| d.contains(&tag))
    });
    services && bases
}

#[test]
fn compose_projects_whose_images_are_on_the_test_bed_come_up_in_dev() {
    tag_debian_latest();
    let temp = tempfile::tempdir().unwrap();
    let mut ran = Vec::new();
    for (project, source, files) in projects() {
        let dir = temp.path().join(&project);
        copy_dir(&source, &dir);
        let name = unique("cc");
        let mut init = slipway(&dir);
        init.args(["init", ".", "--name", &name, "--registry", &registry()]);
        init.args([
            "--mirror-of",
            "docker.io",
            "--pin",
            "--adopt-bases",
            "--loopback-ports",
        ]);
        for file in &files {
            init.args(["--from-compose", file]);
        }
        assert_eq!(run(&mut init).code, 0, "{project}");
        let manifest = slipway_core::load_manifest(
            &std::fs::read_to_string(dir.join("slipway.toml")).unwrap(),
        )
        .unwrap();
        if !runs_on_the_test_bed(&dir, &manifest) {
            continue;
        }
        git_commit_all(&dir);
        if !manifest.bases.is_empty() {
            let release = run(slipway(&dir).args(["base", "release"]));
            assert_eq!(release.code, 0, "{project}: {}", release.stderr);
        }
        let mut up = slipway(&dir);
        up.args(["up", "dev"]);
        for secret in manifest.environments["dev"].secrets.values() {
            if let Some(variable) = secret.strip_prefix("env:") {
                up.env(variable, "test-value");
            }
        }
        let result = run(&mut up);
        if result.code != 0 {
            run(slipway(&dir).args(["down", "dev", "--volumes"]));
        }
        assert_eq!(
            result.code, 0,
            "{project}: {}\n{}",
            result.stdout, result.stderr
        );
        assert!(
            result.stdout.contains("environment `dev` is up"),
            "{project}"
        );
        // The dev environment as a compose file: docker-compose reads it, and Dockerfile apps
        // are built there with their code mounted where the app keeps it.
        let exported = run(slipway(&dir).args(["compose", "export", "dev"]));
        assert_eq!(exported.code, 0, "{project}: {}", exported.stderr);
        // Debian's docker-compose 1.29 predates the top-level `name`.
        let without_name: String = exported
            .stdout
            .lines()
            .filter(|l| !l.starts_with("name:"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(dir.join("exported.yml"), without_name).unwrap();
        let check = std::process::Command::new("docker-compose")
            .args(["-f", "exported.yml", "config", "-q"])
            .current_dir(&dir)
            .output()
            .unwrap();
        // Every `$` the container must see is escaped: compose interpolates nothing away.
        let warnings = String::from_utf8_lossy(&check.stderr);
        assert!(
            check.status.success() && !warnings.contains("is not set"),
            "{project}: {warnings}\n{}",
            exported.stdout
        );
        let export = yaml::parse(&exported.stdout).unwrap();
        for (name, app) in &manifest.apps {
            let service = export.get("services").and_then(|s| s.get(name)).unwrap();
            assert!(
                service
                    .get("build")
                    .and_then(|b| b.get("dockerfile"))
                    .is_some(),
                "{project}: {name} is not built in the export"
            );
            if let Some(dest) = &app.dest {
                assert!(
                    exported.stdout.contains(&format!(":{dest}\"")),
                    "{project}: {name} not mounted at {dest}"
                );
            }
        }
        let down = run(slipway(&dir).args(["down", "dev", "--volumes"]));
        assert_eq!(down.code, 0, "{project}: {}", down.stderr);
        ran.push(project);
    }
    assert!(ran.len() >= 3, "only {ran:?} ran on the test bed");
}

#[test]
fn bad_compose_input_is_a_located_error_and_writes_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let mut bomb =
        vec![r#"a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]"#.to_owned()];
    for i in 1..10 {
        let previous = vec![format!("*a{}", i - 1); 9].join(",");
        bomb.push(format!("a{i}: &a{i} [{previous}]"));
    }
    bomb.push("services:\n  web:\n    image: nginx:1.27.0\n    environment: *a9\n".into());
    let cases = [
        (
            "not-yaml",
            "services:\n  web:\n    image: [nginx\n  - what: {\n".to_owned(),
            "not-yaml.yml:",
        ),
        ("bomb", bomb.join("\n"), "bomb.yml:"),
        (
            "merge-cycle",
            "services:\n  web: &web\n    image: nginx:1.27.0\n    <<: *web\n".to_owned(),
            "merge-cycle.yml:4:",
        ),
        (
            "wrong-type",
            "services:\n  web:\n    image: nginx:1.27.0\n    ports: \"8080:80\"\n".to_owned(),
            "wrong-type.yml:4:12: `services.web.ports` must be a list",
        ),
    ];
    for (name, text, expected) in cases {
        let file = temp.path().join(format!("{name}.yml"));
        std::fs::write(&file, text).unwrap();
        let project = temp.path().join(name);
        let result = run(slipway(temp.path())
            .args(["init", name, "--from-compose"])
            .arg(&file));
        assert_eq!(result.code, 2, "{name}: {}", result.stderr);
        assert!(
            result.stderr.contains(expected),
            "{name}: {}",
            result.stderr
        );
        assert!(!project.exists(), "{name}: something was written");
    }
}

#[test]
fn without_a_reachable_registry_init_writes_the_project_and_lists_the_images_to_pin() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(
        temp.path().join("docker-compose.yml"),
        "services:\n  cache:\n    image: redis\n  db:\n    image: postgres:latest\n  web:\n    image: nginx:1.27.0\n",
    )
    .unwrap();
    // Nothing listens on port 9 of loopback.
    let result = run(slipway(temp.path()).args([
        "init",
        ".",
        "--from-compose",
        "docker-compose.yml",
        "--registry",
        "127.0.0.1:9",
        "--mirror-of",
        "docker.io",
        "--pin",
    ]));
    assert_eq!(result.code, 0, "{}", result.stderr);
    let manifest = std::fs::read_to_string(temp.path().join("slipway.toml")).unwrap();
    assert!(manifest.contains("image = \"redis\""), "{manifest}");
    let list = result
        .stderr
        .split("Images to pin")
        .nth(1)
        .expect("one list at the end");
    assert!(list.contains("services.cache.image: redis ("), "{list}");
    assert!(
        list.contains("services.db.image: postgres:latest ("),
        "{list}"
    );
    assert!(!list.contains("nginx"), "{list}");
    assert!(
        list.contains(
            "slipway init . --from-compose docker-compose.yml --registry 127.0.0.1:9 --mirror-of docker.io --pin --force"
        ),
        "{list}"
    );
}

#[test]
fn a_dockerfile_app_without_a_base_runs_in_dev_with_its_code_mounted() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("debian-stack");
    copy_dir(
        &repo_root().join("tests/corpus/compose-projects/debian-stack"),
        &dir,
    );
    let name = unique("cc-nobase");
    let init = run(slipway(&dir).args([
        "init",
        ".",
        "--name",
        &name,
        "--from-compose",
        "docker-compose.yml",
    ]));
    assert_eq!(init.code, 0, "{}", init.stderr);
    let manifest_text = std::fs::read_to_string(dir.join("slipway.toml")).unwrap();
    assert!(!manifest_text.contains("base ="), "{manifest_text}");
    assert!(
        manifest_text.contains("dest = \"/srv/app\""),
        "{manifest_text}"
    );
    let exported = run(slipway(&dir).args(["compose", "export", "dev"]));
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    assert!(
        exported.stdout.contains("      dockerfile: ") && exported.stdout.contains(":/srv/app\""),
        "{}",
        exported.stdout
    );
    // A file only the mounted directory has: the app sees the code as it is on disk.
    std::fs::write(dir.join("app/mounted-only.txt"), "yes\n").unwrap();
    let up = run(slipway(&dir).args(["up", "dev"]));
    let seen = std::process::Command::new("docker")
        .args([
            "exec",
            &format!("{name}-dev-app"),
            "cat",
            "/srv/app/mounted-only.txt",
        ])
        .output()
        .unwrap();
    let down = run(slipway(&dir).args(["down", "dev", "--volumes"]));
    assert_eq!(up.code, 0, "{}\n{}", up.stdout, up.stderr);
    assert_eq!(String::from_utf8_lossy(&seen.stdout), "yes\n");
    assert_eq!(down.code, 0, "{}", down.stderr);
}
