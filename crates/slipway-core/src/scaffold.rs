//! The files of a new project: a pinned base, one working app, config templates for dev, stage
//! and prod, and a .gitignore that keeps rendered env files and local state out of git.

use std::path::{Path, PathBuf};

use crate::ManifestError;

/// The pinned official image new projects start from.
pub const DEFAULT_OFFICIAL_IMAGE: &str = "debian:bookworm-20251117-slim";

/// The environments every new project gets.
pub const ENVIRONMENTS: &[&str] = &["dev", "stage", "prod"];

/// Lines of the .gitignore every project needs.
pub const GITIGNORE: &str = "\
# slipway's local state: image store, rendered env files, releases
.slipway/
# rendered env files hold secrets; templates are config/<env>/*.env.j2
*.env
.env
.env.*
!*.env.j2
";

/// One file of a new project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaffoldFile {
    /// Where it goes, relative to the project's directory.
    pub path: PathBuf,
    /// Its text.
    pub contents: String,
}

/// Turns a directory name into a valid project name (`My Shop` → `my-shop`).
pub fn project_name_from(dir_name: &str) -> String {
    let mut name: String = dir_name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name = name.trim_matches('-').to_owned();
    if name.is_empty() {
        "app".to_owned()
    } else {
        name
    }
}

/// The files `slipway init` writes for a new project named `project`.
pub fn files(project: &str) -> Vec<ScaffoldFile> {
    let file = |path: &str, contents: String| ScaffoldFile {
        path: PathBuf::from(path),
        contents,
    };
    let mut out = vec![
        file("slipway.toml", manifest(project)),
        file("base/python/Dockerfile", base_dockerfile(project)),
        file("app/web/main.py", APP_MAIN.to_owned()),
        file(
            "app/web/.dockerignore",
            "__pycache__/\n*.pyc\n.pytest_cache/\n".to_owned(),
        ),
    ];
    for env in ENVIRONMENTS {
        out.push(file(&format!("config/{env}/web.env.j2"), env_template()));
        out.push(file(&format!("config/{env}/values.toml"), values(env)));
    }
    out
}

fn manifest(project: &str) -> String {
    format!(
        r#"# slipway.toml: the whole workflow of {project}. Reference: docs/manifest.md
schema = 1

[project]
name = "{project}"
registry = "team"

[registries.team]
url = "127.0.0.1:5000"          # your private registry
mirror_of = ["docker.io"]       # official images resolve through it

# Base images are owned by operations: FROM an official image at a pinned tag.
[bases.python]
dockerfile = "base/python/Dockerfile"
image = "{project}/base-python"
tags = ["{{date}}-{{git_sha}}", "stable"]
test = ["python3 --version"]

# Each app is its base + its directory under app/ + this image config.
[apps.web]
dir = "app/web"
base = "python"
dest = "/srv/app"
cmd = ["python3", "/srv/app/main.py"]
port = 8000
user = "app"
health = {{ path = "/health", interval = "5s", timeout = "2s", retries = 3 }}
route = {{ path = "/" }}

[environments.dev]
mount = true                    # app/web is bind-mounted: edits show without a rebuild
publish = {{ web = "127.0.0.1:8000" }}

[environments.stage]
publish = {{ web = "127.0.0.1:8001" }}
tests = [{{ http = "GET /health", expect = 200 }}]

[environments.prod]
approval = {{ required = true }}      # a person presses "deploy" before prod changes
strategy = {{ kind = "rolling", max_surge = 1, max_unavailable = 0 }}

[pipelines.release]
on = {{ push = {{ branches = ["main"], paths = ["app/**", "config/**"] }} }}
steps = ["build", "push", "up stage", "test stage", "approve", "deploy prod"]
"#
    )
}

fn base_dockerfile(project: &str) -> String {
    format!(
        r#"# Base image of {project}'s Python apps, owned by operations.
# FROM an official image at a pinned tag; change the tag here to move every app to it.
FROM {DEFAULT_OFFICIAL_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 app
USER app
"#
    )
}

fn env_template() -> String {
    "# Rendered by slipway into the state dir (mode 0600), never committed.\n\
     APP_ENV={{ environment }}\n\
     GREETING={{ vars.GREETING }}\n"
        .to_owned()
}

fn values(env: &str) -> String {
    let greeting = match env {
        "dev" => "hello from dev",
        "stage" => "hello from stage",
        _ => "hello",
    };
    format!("# Non-secret values for the {env} templates.\nGREETING = \"{greeting}\"\n")
}

const APP_MAIN: &str = r#""""A minimal web app: /health for the health check, / shows the environment."""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            self.reply(200, {"status": "ok"})
        else:
            self.reply(200, {
                "environment": os.environ.get("APP_ENV", "unknown"),
                "greeting": os.environ.get("GREETING", ""),
            })

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
"#;

/// Writes a new project's files into `dir` and merges its .gitignore: all of them or, when one
/// fails (a full disk), none of the files and directories this call created (files it replaced
/// keep their new contents). The paths written, as shown to a person.
pub fn write_project(dir: &Path, files: &[ScaffoldFile]) -> Result<Vec<String>, ManifestError> {
    let mut new_paths: Vec<PathBuf> = Vec::new();
    let mut created = Vec::new();
    let mut write_all = || -> Result<(), ManifestError> {
        for file in files {
            let path = dir.join(&file.path);
            let mut missing = Vec::new();
            for ancestor in path.ancestors().skip(1) {
                if ancestor.as_os_str().is_empty() || ancestor.exists() {
                    break;
                }
                missing.push(ancestor.to_path_buf());
            }
            let existed = path.exists();
            new_paths.extend(missing.into_iter().rev());
            let result = write_file(&path, &file.contents);
            if !existed && path.exists() {
                new_paths.push(path.clone());
            }
            result?;
            created.push(path.display().to_string());
        }
        let gitignore = dir.join(".gitignore");
        let existed = gitignore.exists();
        if merge_gitignore(&gitignore)? {
            if !existed {
                new_paths.push(gitignore.clone());
            }
            created.push(gitignore.display().to_string());
        }
        Ok(())
    };
    if let Err(error) = write_all() {
        for path in new_paths.iter().rev() {
            let _ = std::fs::remove_file(path).or_else(|_| std::fs::remove_dir(path));
        }
        return Err(error);
    }
    Ok(created)
}

/// Writes `contents` at `path` (its directory created), through a temporary file so an
/// interrupted run leaves no half-written file.
pub fn write_file(path: &Path, contents: &str) -> Result<(), ManifestError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| ManifestError::CreateDir {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    crate::files::write_atomic(path, crate::files::SHARED, contents.as_bytes()).map_err(|source| {
        ManifestError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Adds the lines slipway needs to a .gitignore, keeping the user's; true when it wrote.
pub fn merge_gitignore(path: &Path) -> Result<bool, ManifestError> {
    let current = std::fs::read_to_string(path).unwrap_or_default();
    let missing: Vec<&str> = GITIGNORE
        .lines()
        .filter(|line| !current.lines().any(|l| l.trim() == line.trim()))
        .collect();
    if missing.iter().all(|l| l.starts_with('#') || l.is_empty()) {
        return Ok(false);
    }
    let mut text = current.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&missing.join("\n"));
    text.push('\n');
    write_file(path, &text)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gitignore_keeps_its_lines_and_gains_the_missing_ones_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".gitignore");
        std::fs::write(&path, "node_modules/").unwrap();
        assert!(merge_gitignore(&path).unwrap());
        let merged = std::fs::read_to_string(&path).unwrap();
        assert!(merged.starts_with("node_modules/\n"), "{merged}");
        assert!(
            !merge_gitignore(&path).unwrap(),
            "a second merge changes nothing"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), merged);
    }

    #[test]
    fn a_project_that_cannot_be_written_whole_leaves_nothing_it_created() {
        let dir = tempfile::tempdir().unwrap();
        // `config` is a file, so the templates under it cannot be written.
        std::fs::write(dir.path().join("config"), "in the way").unwrap();
        let error = write_project(dir.path(), &files("shop")).unwrap_err();
        assert!(matches!(error, ManifestError::CreateDir { .. }), "{error}");
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["config"], "only what was there before is left");
    }

    #[test]
    fn the_scaffold_manifest_is_valid() {
        let files = files("my-shop");
        let manifest = &files
            .iter()
            .find(|f| f.path.as_os_str() == "slipway.toml")
            .unwrap()
            .contents;
        let loaded =
            crate::load_manifest(manifest).unwrap_or_else(|e| panic!("{:#?}", e.problems()));
        assert_eq!(loaded.project.name, "my-shop");
        assert_eq!(loaded.environments.len(), 3);
    }

    #[test]
    fn names_are_made_valid() {
        assert_eq!(project_name_from("My Shop!"), "my-shop");
        assert_eq!(project_name_from("__"), "app");
    }
}
