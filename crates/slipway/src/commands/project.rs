//! Finding and loading the project a command works on.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The project a command works on: the library's [`slipway_core::Project`] (loader, state
/// dir, environments by name) plus what needs the binary's other crates (AWS secrets, git).
pub struct Project {
    inner: slipway_core::Project,
}

impl std::ops::Deref for Project {
    type Target = slipway_core::Project;

    fn deref(&self) -> &slipway_core::Project {
        &self.inner
    }
}

impl Project {
    /// The nearest slipway.toml at or above `start`, loaded and valid; its problems, if any,
    /// are shown located in the file before the error.
    pub fn find(start: &Path) -> Result<Project> {
        match slipway_core::Project::find(start) {
            Ok(inner) => Ok(Project { inner }),
            Err(error) => {
                if let slipway_core::ManifestError::Located { text, .. } = &error {
                    for diagnostic in error.located_diagnostics() {
                        eprint!("{}", diagnostic.render(Some(text), false));
                    }
                }
                Err(error.into())
            }
        }
    }

    /// Renders an environment's config. Secrets kept in AWS are fetched for Docker targets;
    /// an ECS environment gets references instead (its tasks read them at start).
    pub fn render_config(
        &self,
        environment: &str,
        set: std::collections::BTreeMap<String, String>,
    ) -> Result<slipway_config::RenderedEnvironment> {
        let mut inputs = slipway_config::Inputs::from_process(set);
        if let Some(env) = self.manifest.environments.get(environment) {
            let external: Vec<&String> = env
                .secrets
                .values()
                .filter(|r| slipway_config::is_external_provider(r))
                .collect();
            inputs.external = if env.target.is_ecs() {
                slipway_config::ExternalSecrets::References
            } else if external.is_empty() {
                slipway_config::ExternalSecrets::Unavailable
            } else {
                slipway_config::ExternalSecrets::Values(fetch_aws_secrets(&external)?)
            };
        }
        Ok(slipway_config::render(
            &self.root,
            &self.manifest,
            environment,
            &inputs,
        )?)
    }

    /// Refuses, located in slipway.toml, the secret files of `apps` (all when empty) that an ECS
    /// environment cannot deliver; nothing is rendered or sent before this passes.
    pub fn refuse_file_secrets_on_ecs(&self, environment: &str, apps: &[String]) -> Result<()> {
        let refused: Vec<slipway_core::manifest::Problem> =
            slipway_core::manifest::ecs_secret_file_refusals(&self.manifest, environment)
                .into_iter()
                .filter(|p| {
                    apps.is_empty()
                        || apps.iter().any(|a| {
                            p.path.0.get(1)
                                == Some(&slipway_core::manifest::Segment::Key(a.clone()))
                        })
                })
                .collect();
        if refused.is_empty() {
            return Ok(());
        }
        let path = self.manifest_path();
        let source = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        for mut problem in refused.iter().cloned() {
            problem.span = slipway_core::manifest::field_span(&source, &problem.path);
            eprint!(
                "{}",
                problem
                    .to_diagnostic(&path, &source)
                    .render(Some(&source), false)
            );
        }
        bail!(
            "{} secret file(s) cannot reach a task in ECS environment `{environment}`",
            refused.len()
        )
    }

    /// The project's state dir; a pipeline running another commit in a worktree points its
    /// steps at the project's own (`SLIPWAY_STATE_DIR`), so images and releases stay in one place.
    pub fn state_dir(&self) -> PathBuf {
        slipway_pipeline::variables::StepVariables::from_env()
            .state_dir
            .unwrap_or_else(|| self.own_state_dir())
    }

    pub fn store_dir(&self) -> PathBuf {
        self.state_dir().join("oci")
    }

    fn git(&self, args: &[&str]) -> Option<String> {
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args(args)
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    /// What `up` and `compose export` need beyond the manifest: the project's places and its
    /// pinned bases.
    pub fn up_options(&self, keep: bool) -> Result<slipway_docker::environment::UpOptions> {
        Ok(slipway_docker::environment::UpOptions {
            root: self.root.clone(),
            store_dir: self.store_dir(),
            state_dir: self.state_dir(),
            pinned_bases: self.pinned_bases()?,
            keep,
        })
    }

    /// SOURCE_DATE_EPOCH when set; otherwise builds take commit times, never the clock.
    pub fn source_date_epoch(&self) -> Option<u64> {
        std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.parse().ok())
    }

    pub fn branch(&self) -> Option<String> {
        self.git(&["rev-parse", "--abbrev-ref", "HEAD"])
            .filter(|b| b != "HEAD")
    }

    /// Bases pinned in slipway.lock.
    pub fn pinned_bases(&self) -> Result<std::collections::BTreeMap<String, slipway_oci::Digest>> {
        let Some(lock) = self.lock()? else {
            return Ok(Default::default());
        };
        lock.bases
            .into_iter()
            .map(|(name, base)| {
                slipway_oci::Digest::parse(&base.digest)
                    .map(|d| (name.clone(), d))
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "{}: the digest of `{name}` is not a sha256 digest",
                            self.lock_path().display()
                        )
                    })
            })
            .collect()
    }

    pub fn revision(&self) -> Option<String> {
        self.git(&["rev-parse", "HEAD"])
    }
}

/// Fetches each `ssm:`/`secretsmanager:` reference's value with the default AWS credentials.
fn fetch_aws_secrets(references: &[&String]) -> Result<std::collections::BTreeMap<String, String>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let config = slipway_aws::load_config(None).await;
        let secrets = slipway_aws::secrets::Secrets::new(&config);
        let mut values = std::collections::BTreeMap::new();
        for reference in references {
            let source = slipway_aws::secrets::SecretSource::parse(reference)
                .expect("filtered to AWS providers");
            let value = secrets
                .value(&source)
                .await
                .with_context(|| format!("reading secret `{reference}` from AWS"))?;
            values.insert((*reference).clone(), value);
        }
        Ok(values)
    })
}
