//! The project a command works on: the nearest `slipway.toml` at or above a directory, loaded
//! and validated, with the places its state lives; and environments looked up by name, so a
//! caller with a name that is not in the file gets an error with a suggestion, never a panic.

use std::path::{Path, PathBuf};

use crate::lock::Lock;
use crate::manifest::{Environment, Manifest, ManifestError, load_manifest};

/// The file a project is found by.
pub const MANIFEST_FILE: &str = "slipway.toml";

/// The file bases are pinned in, beside the manifest.
pub const LOCK_FILE: &str = "slipway.lock";

/// Where a project keeps its state when slipway.toml does not say (`project.state_dir`).
pub const DEFAULT_STATE_DIR: &str = ".slipway";

/// A loaded, valid project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory holding slipway.toml.
    pub root: PathBuf,
    /// slipway.toml, loaded and valid.
    pub manifest: Manifest,
}

/// An environment of the manifest, found by name.
#[derive(Debug, Clone, Copy)]
pub struct EnvironmentRef<'m> {
    /// Its name in slipway.toml.
    pub name: &'m str,
    /// Its definition.
    pub environment: &'m Environment,
}

impl std::ops::Deref for EnvironmentRef<'_> {
    type Target = Environment;

    fn deref(&self) -> &Environment {
        self.environment
    }
}

impl EnvironmentRef<'_> {
    /// The apps that run here: those it lists, else every app of the project.
    pub fn apps<'a>(&'a self, manifest: &'a Manifest) -> Vec<&'a String> {
        match &self.environment.apps {
            Some(listed) => listed.iter().collect(),
            None => manifest.apps.keys().collect(),
        }
    }
}

impl Manifest {
    /// Environment `name`, or an error that names it and suggests the closest one (or lists
    /// them all).
    pub fn environment(&self, name: &str) -> Result<EnvironmentRef<'_>, ManifestError> {
        match self.environments.get_key_value(name) {
            Some((name, environment)) => Ok(EnvironmentRef { name, environment }),
            None => {
                let known: Vec<&str> = self.environments.keys().map(String::as_str).collect();
                let hint = crate::suggest::did_you_mean(name, known.iter().copied())
                    .unwrap_or_else(|| format!("environments: {}", known.join(", ")));
                Err(ManifestError::UnknownEnvironment {
                    name: name.to_owned(),
                    hint,
                })
            }
        }
    }
}

impl Project {
    /// The nearest slipway.toml at or above `start`, loaded and valid. A manifest with problems
    /// is [`ManifestError::Located`], which keeps the text so each problem can be shown in it.
    pub fn find(start: &Path) -> Result<Project, ManifestError> {
        let start = std::path::absolute(start).map_err(|source| ManifestError::Read {
            path: start.to_path_buf(),
            source,
        })?;
        let Some(root) = start.ancestors().find(|d| d.join(MANIFEST_FILE).is_file()) else {
            return Err(ManifestError::NotFound { start });
        };
        let path = root.join(MANIFEST_FILE);
        let bytes = std::fs::read(&path).map_err(|source| ManifestError::Read {
            path: path.clone(),
            source,
        })?;
        let text = crate::text::decode_utf8(&bytes).map_err(|not_text| ManifestError::NotText {
            path: path.clone(),
            line: not_text.line,
            column: not_text.column,
            message: not_text.message,
        })?;
        match load_manifest(&text) {
            Ok(manifest) => Ok(Project {
                root: root.to_path_buf(),
                manifest,
            }),
            Err(error) => Err(ManifestError::Located {
                path,
                text,
                error: Box::new(error),
            }),
        }
    }

    /// Environment `name` of the project (see [`Manifest::environment`]).
    pub fn environment(&self, name: &str) -> Result<EnvironmentRef<'_>, ManifestError> {
        self.manifest.environment(name)
    }

    /// The path of slipway.toml.
    pub fn manifest_path(&self) -> PathBuf {
        self.root.join(MANIFEST_FILE)
    }

    /// The path of slipway.lock.
    pub fn lock_path(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }

    /// The project's own state dir: `project.state_dir`, else `.slipway`, under the root.
    pub fn own_state_dir(&self) -> PathBuf {
        self.root.join(
            self.manifest
                .project
                .state_dir
                .as_deref()
                .unwrap_or(DEFAULT_STATE_DIR),
        )
    }

    /// slipway.lock, or `None` when there is none yet.
    pub fn lock(&self) -> Result<Option<Lock>, ManifestError> {
        let path = self.lock_path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(None);
        };
        Lock::parse(&text)
            .map(Some)
            .map_err(|message| ManifestError::Lock { path, message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
[project]
name = "shop"

[apps.api]
build = "dockerfile"

[environments.dev]
mount = true

[environments.prod]
"#;

    fn write(dir: &Path, text: &str) {
        std::fs::write(dir.join(MANIFEST_FILE), text).unwrap();
    }

    #[test]
    fn a_project_is_found_from_a_directory_below_it() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), MANIFEST);
        let below = dir.path().join("app/api");
        std::fs::create_dir_all(&below).unwrap();
        let project = Project::find(&below).unwrap();
        assert_eq!(project.root, dir.path());
        assert_eq!(project.manifest.project.name, "shop");
        assert_eq!(project.own_state_dir(), dir.path().join(".slipway"));
    }

    #[test]
    fn a_misspelt_environment_is_an_error_with_a_suggestion() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), MANIFEST);
        let project = Project::find(dir.path()).unwrap();
        assert!(project.environment("dev").unwrap().mount);
        assert_eq!(project.environment("prod").unwrap().name, "prod");
        let error = project.environment("prd").unwrap_err();
        assert_eq!(
            error.to_string(),
            "no environment `prd` in slipway.toml; did you mean `prod`?"
        );
        let error = project.environment("kubernetes").unwrap_err();
        assert_eq!(
            error.to_string(),
            "no environment `kubernetes` in slipway.toml; environments: dev, prod"
        );
    }

    #[test]
    fn no_manifest_says_to_run_init() {
        let dir = tempfile::tempdir().unwrap();
        let error = Project::find(dir.path()).unwrap_err();
        assert!(matches!(error, ManifestError::NotFound { .. }));
        assert!(error.to_string().contains("run `slipway init` first"));
    }

    #[test]
    fn an_invalid_manifest_keeps_its_text_for_located_problems() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "[project]\nname = \"shop\"\nsurprise = 1\n");
        let error = Project::find(dir.path()).unwrap_err();
        let ManifestError::Located {
            text, error: inner, ..
        } = &error
        else {
            panic!("not located: {error}");
        };
        assert!(text.contains("surprise"));
        assert_eq!(inner.problems().len(), 1);
        assert_eq!(error.problems().len(), 1);
        assert!(
            error
                .to_string()
                .ends_with("has 1 problem(s); `slipway lint` shows them all")
        );
        let diagnostics = error.located_diagnostics();
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].location.as_ref().unwrap().line, 3);
    }

    #[test]
    fn a_manifest_that_is_not_text_is_located() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            b"[project]\nname = \"\xff\"\n",
        )
        .unwrap();
        let error = Project::find(dir.path()).unwrap_err();
        assert!(
            matches!(error, ManifestError::NotText { line: 2, .. }),
            "{error}"
        );
    }
}
