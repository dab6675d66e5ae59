//! The base-image pipeline: build a base's Dockerfile through the engine (official images
//! resolved through the Docker Hub mirror), run its tests in a container, push every tag,
//! record the published digest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use slipway_core::Manifest;
use slipway_dockerfile as dockerfile;
use slipway_image_ref::ImageRef;
use slipway_oci::app::{default_registry, fixed_tag, registry};

use crate::api::ImageEngine;
use crate::{DockerError, Result};

/// What varies between runs of the pipeline and goes into tags.
#[derive(Debug, Clone)]
pub struct TagContext {
    /// Unix seconds: the moment `{date}` and `{timestamp}` stand for.
    pub now: u64,
    /// The commit the project is at, for `{git_sha}` (its first 7 characters); `None` outside a git
    /// repository.
    pub git_sha: Option<String>,
    /// The branch checked out, for `{branch}`; `None` when detached.
    pub branch: Option<String>,
}

/// `{date}-{git_sha}` → `2026-11-25-ab12cd3`.
pub fn expand_tag(scheme: &str, context: &TagContext) -> Result<String> {
    let stamp = slipway_oci::image::rfc3339(context.now);
    let date = &stamp[..10];
    let timestamp: String = stamp.chars().filter(char::is_ascii_digit).collect();
    let mut tag = scheme
        .replace("{date}", date)
        .replace("{timestamp}", &timestamp);
    if tag.contains("{git_sha}") {
        let sha = context.git_sha.as_deref().ok_or_else(|| {
            DockerError::Engine(format!(
                "tag `{scheme}` needs {{git_sha}}, but the project is not in a git repository"
            ))
        })?;
        tag = tag.replace("{git_sha}", &sha[..sha.len().min(7)]);
    }
    if tag.contains("{branch}") {
        let branch = context.branch.as_deref().unwrap_or("detached");
        let clean: String = branch
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        tag = tag.replace("{branch}", &clean);
    }
    Ok(tag)
}

/// A base image the engine built, with every name it was tagged with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuiltBase {
    /// The base's name in slipway.toml (`[bases.NAME]`).
    pub name: String,
    /// The engine's image ID (`sha256:...` of its config).
    pub image_id: String,
    /// Full references, `registry/repository:tag`.
    pub references: Vec<String>,
}

/// Where a base is pushed: `registry-host[/prefix]/image`.
pub fn base_repository(manifest: &Manifest, name: &str) -> Result<(String, String)> {
    let base = &manifest.bases[name];
    let registry_name = default_registry(manifest, base.registry.as_deref()).ok_or_else(|| {
        DockerError::Engine(format!("base `{name}` has no registry to be pushed to"))
    })?;
    let url = manifest.registries[&registry_name]
        .url
        .trim_end_matches('/')
        .to_owned();
    Ok((registry_name, format!("{url}/{}", base.image)))
}

/// Makes the official images a Dockerfile builds FROM available to the engine: when the engine
/// lacks one, it is pulled from the registry that mirrors Docker Hub and tagged with its
/// official name, the way Docker's registry-mirrors setting resolves it.
async fn resolve_official_images(
    engine: &impl ImageEngine,
    manifest: &Manifest,
    dockerfile_path: &Path,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<()> {
    let source = std::fs::read_to_string(dockerfile_path).map_err(|source| DockerError::Io {
        path: dockerfile_path.to_path_buf(),
        source,
    })?;
    let parsed = dockerfile::parse(&source).map_err(|e| DockerError::Build {
        image: dockerfile_path.display().to_string(),
        message: format!("line {}: {}", e.line, e.message),
    })?;
    let mirror = manifest
        .registries
        .iter()
        .find(|(_, r)| r.mirror_of.iter().any(|m| m == "docker.io"));
    let mut stages: Vec<String> = Vec::new();
    for instruction in parsed.instructions.iter().filter(|i| i.keyword == "FROM") {
        let mut words = instruction.args.split_whitespace();
        let image = words.next().unwrap_or_default().to_owned();
        if let (Some(as_kw), Some(name)) = (words.next(), words.next())
            && as_kw.eq_ignore_ascii_case("as")
        {
            stages.push(name.to_ascii_lowercase());
        }
        if image.contains('$') || image == "scratch" || stages.contains(&image.to_ascii_lowercase())
        {
            continue;
        }
        let Ok(reference) = ImageRef::parse(&image) else {
            continue;
        };
        if !reference.is_official_image() || engine.has_image(&image).await {
            continue;
        }
        let Some((mirror_name, mirror)) = mirror else {
            continue;
        };
        let mut from = format!(
            "{}/{}",
            mirror.url.trim_end_matches('/'),
            reference.repository()
        );
        if let Some(tag) = reference.tag() {
            from.push(':');
            from.push_str(tag);
        }
        log(&format!("pulling {image} through the mirror {from}"));
        let client = registry(manifest, mirror_name).map_err(DockerError::Image)?;
        let credential = client.client.credential();
        engine.pull_as(&from, &image, credential.as_ref()).await?;
    }
    Ok(())
}

/// Builds base `name` through the engine: official images it builds FROM are pulled through the
/// mirror first, then its Dockerfile is built with its build arguments and tagged with each of its
/// tag schemes expanded. `log` is given the build's output.
pub async fn build_base(
    engine: &impl ImageEngine,
    manifest: &Manifest,
    root: &Path,
    name: &str,
    tags: &TagContext,
    log: &mut (dyn FnMut(&str) + Send),
) -> Result<BuiltBase> {
    let base = &manifest.bases[name];
    let dockerfile_path = root.join(manifest.base_dockerfile(name));
    let context: PathBuf = match &base.context {
        Some(context) => root.join(context),
        None => dockerfile_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| root.to_path_buf()),
    };
    if !dockerfile_path.is_file() {
        return Err(DockerError::Io {
            path: dockerfile_path,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the base's Dockerfile does not exist",
            ),
        });
    }
    resolve_official_images(engine, manifest, &dockerfile_path, log).await?;
    let (_, repository) = base_repository(manifest, name)?;
    let references: Vec<String> = base
        .tags
        .iter()
        .map(|scheme| expand_tag(scheme, tags).map(|tag| format!("{repository}:{tag}")))
        .collect::<Result<_>>()?;
    let build_args: HashMap<String, String> = base
        .build_args
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let image_id = engine
        .build(&context, &dockerfile_path, &references, &build_args, log)
        .await?;
    Ok(BuiltBase {
        name: name.into(),
        image_id,
        references,
    })
}

/// What one of a base's tests ran and how it ended.
#[derive(Debug, Clone, Serialize)]
pub struct TestOutcome {
    /// The command run in the container.
    pub command: Vec<String>,
    /// The command's exit code.
    pub exit_code: i64,
    /// What it printed, standard output and error together.
    pub output: String,
}

/// Runs the base's tests in containers of `image`; the first failure is an error.
pub async fn test_base(
    engine: &impl ImageEngine,
    manifest: &Manifest,
    name: &str,
    image: &str,
) -> Result<Vec<TestOutcome>> {
    let mut outcomes = Vec::new();
    for test in &manifest.bases[name].test {
        let command = test.argv();
        let finished = engine.run_once(image, &command).await?;
        let outcome = TestOutcome {
            command: command.clone(),
            exit_code: finished.exit_code,
            output: finished.output,
        };
        if outcome.exit_code != 0 {
            let tail: Vec<&str> = outcome
                .output
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(DockerError::Engine(format!(
                "base `{name}`: test `{}` exited with {}:\n{}",
                command.join(" "),
                outcome.exit_code,
                tail.join("\n")
            )));
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// A base pushed to its registry: what `slipway base release` records and announces.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Published {
    /// The base's name in slipway.toml.
    pub base: String,
    /// The manifest digest the registry holds under the base's fixed tag.
    pub digest: String,
    /// Every reference pushed, `registry/repository:tag`.
    pub references: Vec<String>,
    /// When it was pushed, RFC 3339.
    pub published_at: String,
}

/// Pushes every tag (a tag is written even when the digest did not change) and reads back the
/// digest the registry holds.
pub async fn push_base(
    engine: &impl ImageEngine,
    manifest: &Manifest,
    built: &BuiltBase,
) -> Result<Published> {
    let (registry_name, _) = base_repository(manifest, &built.name)?;
    let target = registry(manifest, &registry_name).map_err(DockerError::Image)?;
    let credential = target.client.credential();
    let repository = target.repository(&manifest.bases[&built.name].image);
    target
        .prepare_repository(&repository)
        .map_err(DockerError::Image)?;
    for reference in &built.references {
        engine.push(reference, credential.as_ref()).await?;
    }
    let fixed = fixed_tag(manifest, &built.name).map_err(DockerError::Image)?;
    let pushed = target
        .client
        .get_manifest(&repository, fixed)
        .await
        .map_err(DockerError::Image)?;
    let now = slipway_core::time::now();
    Ok(Published {
        base: built.name.clone(),
        digest: pushed.digest.to_string(),
        references: built.references.clone(),
        published_at: slipway_oci::image::rfc3339(now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_expand_their_placeholders() {
        let context = TagContext {
            now: 1_764_028_800,
            git_sha: Some("ab12cd34ef".into()),
            branch: Some("feature/x".into()),
        };
        assert_eq!(
            expand_tag("{date}-{git_sha}", &context).unwrap(),
            "2025-11-25-ab12cd3"
        );
        assert_eq!(
            expand_tag("{branch}-{timestamp}", &context).unwrap(),
            "feature-x-20251125000000"
        );
        let no_git = TagContext {
            git_sha: None,
            ..context
        };
        assert!(expand_tag("{git_sha}", &no_git).is_err());
    }
}
