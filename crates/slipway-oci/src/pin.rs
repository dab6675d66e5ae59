//! Pinning a moving image reference (no tag, or `latest`) to the tag it currently stands for
//! and its digest, through the project's registry for it: the registry whose host it names,
//! or the one that mirrors its registry (`mirror_of`).

use slipway_core::Manifest;

use slipway_image_ref::ImageRef;

/// Whether an image reference moves: no tag and no digest, or the tag `latest`.
pub fn is_unpinned(image: &str) -> bool {
    ImageRef::parse(image).is_ok_and(|reference| reference.moves())
}

/// The registry of the manifest an image is reached through, and the repository there.
pub fn route(manifest: &Manifest, image: &str) -> Option<(String, String)> {
    let reference = ImageRef::parse(image).ok()?;
    let docker_hub = |host: &str| {
        matches!(
            host,
            "docker.io" | "registry-1.docker.io" | "index.docker.io"
        )
    };
    for (name, registry) in &manifest.registries {
        let host = registry.url.split('/').next().unwrap_or_default();
        let serves = host == reference.registry()
            || registry.mirror_of.iter().any(|mirrored| {
                mirrored == reference.registry()
                    || (docker_hub(mirrored) && docker_hub(reference.registry()))
            });
        if serves {
            return Some((name.clone(), reference.repository().to_owned()));
        }
    }
    None
}

/// Of the tags that point at the same digest as the moving one, the one that says the most:
/// the longest (`1.27.3-bookworm` over `1.27` over `1`), then the last in order.
pub fn most_specific(tags: &[String]) -> Option<String> {
    tags.iter()
        .filter(|t| t.as_str() != "latest")
        .max_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)))
        .cloned()
}

/// Resolves `image` through the manifest's registries to `host/repository:tag@digest`: a
/// moving one to the most specific tag that points at the same image, a fixed tag to its digest.
/// The error says why it could not (no registry for it, unreachable, not found).
pub async fn pin(manifest: &Manifest, image: &str) -> Result<String, String> {
    let reference = ImageRef::parse(image).map_err(|e| e.to_string())?;
    let (registry_name, repository) = route(manifest, image).ok_or_else(|| {
        format!(
            "no registry in slipway.toml serves {} (add one with `mirror_of = [\"{}\"]`)",
            reference.registry(),
            reference.registry()
        )
    })?;
    let registry = crate::app::registry(manifest, &registry_name).map_err(|e| e.to_string())?;
    let repository = registry.repository(&repository);
    let moving = reference.tag().unwrap_or("latest").to_owned();
    let current = registry
        .client
        .get_manifest(&repository, &moving)
        .await
        .map_err(|e| e.to_string())?;
    if moving != "latest" {
        // A fixed tag only gains its digest.
        return Ok(format!(
            "{}/{repository}:{moving}@{}",
            registry.client.host(),
            current.digest
        ));
    }
    let mut tags = registry
        .client
        .list_tags(&repository)
        .await
        .map_err(|e| e.to_string())?;
    // The most specific candidates first; a repository with many tags is not read whole.
    tags.retain(|t| t != &moving && t.chars().any(|c| c.is_ascii_digit()));
    tags.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| b.cmp(a)));
    tags.truncate(100);
    let mut same = Vec::new();
    for tag in tags {
        if let Ok(found) = registry.client.get_manifest(&repository, &tag).await
            && found.digest == current.digest
        {
            same.push(tag);
        }
    }
    let tag = most_specific(&same).ok_or_else(|| {
        format!(
            "no tag but `{moving}` points at {}: pin it by hand",
            current.digest
        )
    })?;
    Ok(format!(
        "{}/{repository}:{tag}@{}",
        registry.client.host(),
        current.digest
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_moving_references_are_unpinned() {
        assert!(is_unpinned("redis"));
        assert!(is_unpinned("redis:latest"));
        assert!(is_unpinned("ghcr.io/org/tool:latest"));
        assert!(!is_unpinned("redis:7.2.4"));
        assert!(!is_unpinned(
            "redis@sha256:0000000000000000000000000000000000000000000000000000000000000000"
        ));
    }

    #[test]
    fn docker_hub_images_route_through_its_mirror() {
        let manifest = slipway_core::load_manifest(
            "schema = 1\n[project]\nname = \"shop\"\n[registries.team]\nurl = \"127.0.0.1:5000\"\nmirror_of = [\"docker.io\"]\n[registries.gh]\nurl = \"ghcr.io\"\n",
        )
        .unwrap();
        assert_eq!(
            route(&manifest, "redis"),
            Some(("team".into(), "library/redis".into()))
        );
        assert_eq!(
            route(&manifest, "ghcr.io/org/tool:latest"),
            Some(("gh".into(), "org/tool".into()))
        );
        assert_eq!(route(&manifest, "quay.io/org/tool"), None);
    }

    #[test]
    fn the_most_specific_tag_wins() {
        let tags: Vec<String> = ["7", "7.2", "7.2.4-bookworm", "7.2.4", "latest"]
            .iter()
            .map(|t| (*t).to_owned())
            .collect();
        assert_eq!(most_specific(&tags).as_deref(), Some("7.2.4-bookworm"));
    }
}
