//! LY and MF005 rules: where things are in the repository.

use std::path::Path;
use std::process::Command;

use slipway_core::Manifest;
use slipway_core::manifest::FieldPath;

/// A layout finding: a file (relative to the project) or a manifest field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutFinding {
    /// The rule's ID, e.g. `LY001`.
    pub rule: &'static str,
    /// The file, relative to the project.
    pub file: String,
    /// The manifest field, when the finding is about one.
    pub field: Option<FieldPath>,
    /// What is wrong.
    pub message: String,
}

const APP_FILES_AT_ROOT: &[&str] = &[
    "package.json",
    "package-lock.json",
    "yarn.lock",
    "composer.json",
    "composer.lock",
    "requirements.txt",
    "Pipfile",
    "pyproject.toml",
    "setup.py",
    "Gemfile",
    "go.mod",
    "Cargo.toml",
    "manage.py",
    "index.php",
    "app.py",
    "main.py",
    "wsgi.py",
    "server.js",
    "index.js",
    "app.js",
    "artisan",
    "src",
    "public",
    "node_modules",
    "vendor",
];

/// Node files that also serve a repository's own tooling (scripts, formatters, hooks): at the
/// root they belong to an app only when the package.json declares runtime dependencies or an
/// entry point.
const NODE_TOOLING: &[&str] = &[
    "package.json",
    "package-lock.json",
    "yarn.lock",
    "node_modules",
];

/// The findings of the layout rules for the project at `root`.
pub fn check(root: &Path, manifest: &Manifest) -> Vec<LayoutFinding> {
    let mut out = Vec::new();
    // An app whose directory is the repository root owns the files there.
    let root_app = manifest
        .apps
        .keys()
        .any(|name| is_root(&manifest.app_dir(name)));
    let tooling_only = root_package_is_tooling(root);
    for name in APP_FILES_AT_ROOT {
        if root_app || (tooling_only && NODE_TOOLING.contains(name)) {
            continue;
        }
        if root.join(name).exists() {
            out.push(LayoutFinding {
                rule: "LY001",
                file: (*name).to_owned(),
                field: None,
                message: format!(
                    "`{name}` at the repository root belongs to an app: move it under app/<name>/"
                ),
            });
        }
    }
    for file in tracked_env_files(root) {
        out.push(LayoutFinding {
            rule: "LY002",
            file: file.clone(),
            field: None,
            message: format!("`{file}` is an env file tracked by git; env files hold secrets and are rendered, never committed"),
        });
    }
    let envs = FieldPath::root().key("environments");
    for name in manifest.environments.keys() {
        let dir = manifest.environment_config_dir(name);
        if !root.join(&dir).is_dir() {
            out.push(LayoutFinding {
                rule: "LY003",
                file: "slipway.toml".into(),
                field: Some(envs.key(name)),
                message: format!("environment `{name}` has no config directory `{dir}/`"),
            });
        }
    }
    let mut missing = |field: FieldPath, path: String, what: &str| {
        if !root.join(&path).exists() {
            out.push(LayoutFinding {
                rule: "MF005",
                file: "slipway.toml".into(),
                field: Some(field),
                message: format!("{what} `{path}` does not exist"),
            });
        }
    };
    for name in manifest.bases.keys() {
        let field = FieldPath::root().key("bases").key(name);
        let has_key = manifest.bases[name].dockerfile.is_some();
        missing(
            if has_key {
                field.key("dockerfile")
            } else {
                field
            },
            manifest.base_dockerfile(name),
            "Dockerfile",
        );
    }
    for name in manifest.apps.keys() {
        let field = FieldPath::root().key("apps").key(name);
        let app = &manifest.apps[name];
        missing(
            if app.dir.is_some() {
                field.key("dir")
            } else {
                field.clone()
            },
            manifest.app_dir(name),
            "app directory",
        );
        for (environment, variant) in &app.environments {
            if let Some(dockerfile) = &variant.dockerfile {
                missing(
                    field.key("environments").key(environment).key("dockerfile"),
                    dockerfile.clone(),
                    "Dockerfile",
                );
            }
        }
        if let Some(dockerfile) = manifest.app_dockerfile(name) {
            missing(
                if app.dockerfile.is_some() {
                    field.key("dockerfile")
                } else {
                    field
                },
                dockerfile,
                "Dockerfile",
            );
        }
    }
    for (name, service) in &manifest.services {
        if let Some(dir) = &service.build {
            missing(
                FieldPath::root().key("services").key(name).key("build"),
                format!("{}/Dockerfile", dir.trim_end_matches('/')),
                "Dockerfile",
            );
        }
    }
    out
}

fn is_root(dir: &str) -> bool {
    matches!(dir.trim_end_matches('/'), "" | "." | "./")
}

/// A root package.json with neither runtime `dependencies` nor an entry point (`main`,
/// `start` script) only serves the repository's tooling.
fn root_package_is_tooling(root: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(root.join("package.json")) else {
        return false;
    };
    let Ok(package) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    let has_dependencies = package["dependencies"]
        .as_object()
        .is_some_and(|d| !d.is_empty());
    let has_entry = package.get("main").is_some() || package["scripts"].get("start").is_some();
    !has_dependencies && !has_entry
}

/// Env files git tracks below `root` (nothing when `root` is not in a git work tree).
fn tracked_env_files(root: &Path) -> Vec<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z", "--", "."])
        .output();
    let Ok(output) = output else {
        return Vec::new();
    };
    if !output.status.success() {
        return Vec::new();
    }
    String::from_utf8_lossy(&output.stdout)
        .split('\0')
        .filter(|path| {
            let name = path.rsplit('/').next().unwrap_or(path);
            name == ".env"
                || name.ends_with(".env")
                || name.starts_with(".env.") && !is_env_example(name)
        })
        .map(str::to_owned)
        .collect()
}

fn is_env_example(name: &str) -> bool {
    ["example", "sample", "template", "dist", "j2"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ly001(root: &Path, manifest_text: &str) -> Vec<String> {
        let manifest = slipway_core::load_manifest(manifest_text).unwrap();
        check(root, &manifest)
            .into_iter()
            .filter(|f| f.rule == "LY001")
            .map(|f| f.file)
            .collect()
    }

    const ONE_APP: &str =
        "schema = 1\n[project]\nname = \"shop\"\n[apps.web]\nbuild = \"dockerfile\"\n";

    #[test]
    fn a_package_json_that_only_serves_scripts_is_not_app_code() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(
            temp.path().join("package.json"),
            r#"{"private": true, "scripts": {"lint": "eslint ."}, "devDependencies": {"eslint": "9.0.0"}}"#,
        )
        .unwrap();
        std::fs::write(temp.path().join("package-lock.json"), "{}").unwrap();
        assert!(ly001(temp.path(), ONE_APP).is_empty());
        std::fs::write(
            temp.path().join("package.json"),
            r#"{"dependencies": {"express": "4.19.2"}}"#,
        )
        .unwrap();
        assert_eq!(
            ly001(temp.path(), ONE_APP),
            ["package.json", "package-lock.json"]
        );
    }

    #[test]
    fn an_app_whose_directory_is_the_root_owns_the_root_files() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("requirements.txt"), "flask==3.0.3\n").unwrap();
        assert_eq!(ly001(temp.path(), ONE_APP), ["requirements.txt"]);
        let root_app = format!("{ONE_APP}dir = \".\"\n");
        assert!(ly001(temp.path(), &root_app).is_empty());
    }
}
