//! One app, several Dockerfiles: a project that builds `Dockerfile` in development and
//! `Dockerfile.prod` for production (and a React or Vite frontend whose `REACT_APP_*` / `VITE_*`
//! build arguments differ per environment) gets `[apps.NAME.environments.ENV]` tables.

use std::path::Path;

use slipway_core::manifest::{BuildKind, Manifest};

/// Sibling suffixes and the environments that build with them. Stage builds what prod builds:
/// it is where the production image is tested.
const VARIANTS: &[(&str, &[&str])] = &[
    (".prod", &["stage", "prod"]),
    (".production", &["stage", "prod"]),
    (".dev", &["dev"]),
    (".development", &["dev"]),
];

/// Whether a build argument is baked into a frontend bundle at build time.
pub fn is_frontend_build_arg(name: &str) -> bool {
    name.starts_with("REACT_APP_") || name.starts_with("VITE_") || name.starts_with("NEXT_PUBLIC_")
}

/// Whether a value names this machine (a development URL).
fn points_at_this_machine(value: &str) -> bool {
    ["localhost", "127.0.0.1", "0.0.0.0", "[::1]"]
        .iter()
        .any(|host| value.contains(host))
}

/// `ARG NAME[=default]` lines of a Dockerfile.
fn declared_args(dockerfile: &str) -> Vec<String> {
    dockerfile
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .get(..4)
                .filter(|k| k.eq_ignore_ascii_case("ARG "))
                .map(|_| line[4..].trim())?;
            let name = rest.split(['=', ' ']).next()?;
            (!name.is_empty()).then(|| name.to_owned())
        })
        .collect()
}

/// Adds each Dockerfile app's per-environment Dockerfiles (siblings `Dockerfile.prod`,
/// `Dockerfile.dev`, ...) and the frontend build arguments those declare. `read` reads a file
/// relative to the project root.
pub fn adopt_dockerfile_variants(
    manifest: &mut Manifest,
    read: &dyn Fn(&Path) -> Option<String>,
    notes: &mut Vec<String>,
) {
    let names: Vec<String> = manifest.apps.keys().cloned().collect();
    for name in names {
        let Some(dockerfile) = manifest.app_dockerfile(&name) else {
            continue;
        };
        if manifest.apps[&name].build != BuildKind::Dockerfile {
            continue;
        }
        let app_args = manifest.apps[&name].build_args.clone();
        for (suffix, environments) in VARIANTS {
            let variant = format!("{dockerfile}{suffix}");
            let Some(text) = read(Path::new(&variant)) else {
                continue;
            };
            let frontend: Vec<String> = declared_args(&text)
                .into_iter()
                .filter(|arg| is_frontend_build_arg(arg))
                .collect();
            for environment in *environments {
                if !manifest.environments.contains_key(*environment) {
                    continue;
                }
                let entry = manifest.apps[&name]
                    .environments
                    .get(*environment)
                    .cloned()
                    .unwrap_or_default();
                if entry.dockerfile.is_some() {
                    // `.prod` and `.production` both exist: the first one found wins.
                    continue;
                }
                let mut entry = entry;
                entry.dockerfile = Some(variant.clone());
                for arg in &frontend {
                    // A development value (compose's `args`) that points at this machine is no
                    // use to a production bundle: that one is left for the team to fill in.
                    let value = app_args
                        .get(arg)
                        .filter(|v| !points_at_this_machine(v))
                        .cloned()
                        .unwrap_or_default();
                    entry.build_args.insert(arg.clone(), value);
                }
                manifest
                    .apps
                    .get_mut(&name)
                    .expect("listed")
                    .environments
                    .insert((*environment).to_owned(), entry);
            }
            notes.push(format!(
                "app `{name}`: {} {} from {variant} (see [apps.{name}.environments])",
                environments.join(" and "),
                if environments.len() > 1 {
                    "build"
                } else {
                    "builds"
                }
            ));
            if !frontend.is_empty() && environments.contains(&"prod") {
                notes.push(format!(
                    "app `{name}`: {variant} bakes {} into the bundle at build time; set their values per environment under [apps.{name}.environments.stage] and [apps.{name}.environments.prod] `build_args`{}",
                    frontend.join(", "),
                    if app_args.keys().any(|k| is_frontend_build_arg(k)) {
                        " (the compose file's values are for development)"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::manifest::{App, Environment};

    #[test]
    fn prod_and_dev_siblings_become_per_environment_dockerfiles() {
        let mut manifest = Manifest::default();
        for env in ["dev", "stage", "prod"] {
            manifest
                .environments
                .insert(env.into(), Environment::default());
        }
        manifest.apps.insert(
            "frontend-react-js".into(),
            App {
                dir: Some("frontend-react-js".into()),
                build: BuildKind::Dockerfile,
                build_args: [
                    ("REACT_APP_BACKEND_URL", "http://localhost:4567"),
                    ("REACT_APP_REGION", "ca-central-1"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
                ..App::default()
            },
        );
        manifest.apps.insert(
            "backend-flask".into(),
            App {
                dir: Some("backend-flask".into()),
                build: BuildKind::Dockerfile,
                ..App::default()
            },
        );
        let files = |path: &Path| -> Option<String> {
            match path.to_str()? {
                "frontend-react-js/Dockerfile" => Some("FROM node:16\n".into()),
                "frontend-react-js/Dockerfile.prod" => Some(
                    "FROM node:16 AS build\nARG REACT_APP_BACKEND_URL\nARG REACT_APP_REGION\narg VITE_X=1\nARG NODE_ENV=production\n"
                        .into(),
                ),
                "backend-flask/Dockerfile.prod" => Some("FROM python:3.10\n".into()),
                "backend-flask/Dockerfile.dev" => Some("FROM python:3.10\n".into()),
                _ => None,
            }
        };
        let mut notes = Vec::new();
        adopt_dockerfile_variants(&mut manifest, &files, &mut notes);
        let frontend = &manifest.apps["frontend-react-js"];
        assert!(!frontend.environments.contains_key("dev"));
        let prod = &frontend.environments["prod"];
        assert_eq!(
            prod.dockerfile.as_deref(),
            Some("frontend-react-js/Dockerfile.prod")
        );
        assert_eq!(
            prod.build_args.keys().collect::<Vec<_>>(),
            vec!["REACT_APP_BACKEND_URL", "REACT_APP_REGION", "VITE_X"]
        );
        assert_eq!(prod.build_args["REACT_APP_REGION"], "ca-central-1");
        assert_eq!(frontend.environments["stage"], *prod);
        let backend = &manifest.apps["backend-flask"];
        assert_eq!(
            backend.environments["dev"].dockerfile.as_deref(),
            Some("backend-flask/Dockerfile.dev")
        );
        assert_eq!(
            backend.environments["prod"].dockerfile.as_deref(),
            Some("backend-flask/Dockerfile.prod")
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("bakes REACT_APP_BACKEND_URL, REACT_APP_REGION, VITE_X"))
        );
        // What the build uses per environment.
        let (dockerfile, _, args) = manifest
            .app_build_for("frontend-react-js", Some("prod"))
            .unwrap();
        assert_eq!(dockerfile, "frontend-react-js/Dockerfile.prod");
        assert_eq!(args["REACT_APP_BACKEND_URL"], "");
        let (dockerfile, _, args) = manifest
            .app_build_for("frontend-react-js", Some("dev"))
            .unwrap();
        assert_eq!(dockerfile, "frontend-react-js/Dockerfile");
        assert_eq!(args["REACT_APP_BACKEND_URL"], "http://localhost:4567");
    }
}
