//! The files of a new project: a pinned base, one working app, config templates for dev, stage
//! and prod, and a .gitignore that keeps rendered env files and local state out of git.

use std::path::PathBuf;

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaffoldFile {
    pub path: PathBuf,
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

#[cfg(test)]
mod tests {
    use super::*;

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
