//! Image references as written in FROM lines and compose files.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host, when the reference names one (`registry.example:5000`).
    pub registry: Option<String>,
    /// Repository path without the registry, e.g. `library/debian` or `shop/base-python`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(text: &str) -> Option<ImageRef> {
        let text = text.trim();
        if text.is_empty() || text.contains(char::is_whitespace) {
            return None;
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest.to_owned())),
            None => (text, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
                (Some(first.to_owned()), path)
            }
            _ => (None, rest),
        };
        let last_slash = path.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match path[last_slash..].split_once(':') {
            Some((name, tag)) => (
                format!("{}{}", &path[..last_slash], name),
                Some(tag.to_owned()),
            ),
            None => (path.to_owned(), None),
        };
        if repository.is_empty() {
            return None;
        }
        Some(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The last path component, e.g. `debian`.
    pub fn name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    /// Whether this names a Docker Hub official image, directly or through an allowed prefix
    /// such as a mirror's `127.0.0.1:5000/library`.
    pub fn is_official(&self, allowed_prefixes: &[String]) -> bool {
        let hub = matches!(
            self.registry.as_deref(),
            None | Some("docker.io" | "index.docker.io" | "registry-1.docker.io")
        );
        if hub
            && (!self.repository.contains('/')
                || self.repository.starts_with("library/")
                    && self.repository.matches('/').count() == 1)
        {
            return true;
        }
        let full = match &self.registry {
            Some(registry) => format!("{registry}/{}", self.repository),
            None => self.repository.clone(),
        };
        allowed_prefixes.iter().any(|prefix| {
            let prefix = prefix.trim_end_matches('/');
            full.strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_registry_repository_tag_and_digest() {
        let r = ImageRef::parse("127.0.0.1:5000/library/debian:bookworm-20251117-slim").unwrap();
        assert_eq!(r.registry.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(r.repository, "library/debian");
        assert_eq!(r.tag.as_deref(), Some("bookworm-20251117-slim"));
        let r = ImageRef::parse("python@sha256:abc").unwrap();
        assert_eq!(
            (r.registry, r.tag, r.digest.as_deref()),
            (None, None, Some("sha256:abc"))
        );
        let r = ImageRef::parse("localhost/team/app").unwrap();
        assert_eq!(r.registry.as_deref(), Some("localhost"));
    }

    #[test]
    fn official_images_and_mirrors() {
        let allowed = vec!["127.0.0.1:5000/library".to_owned()];
        for official in [
            "nginx:1.27",
            "library/php:8.3-fpm",
            "docker.io/library/node:20",
            "127.0.0.1:5000/library/debian:12",
        ] {
            assert!(
                ImageRef::parse(official).unwrap().is_official(&allowed),
                "{official}"
            );
        }
        for other in [
            "bitnami/nginx:1.27",
            "ghcr.io/org/php:8",
            "127.0.0.1:5000/shop/base:1",
            "docker.io/someone/node:20",
        ] {
            assert!(
                !ImageRef::parse(other).unwrap().is_official(&allowed),
                "{other}"
            );
        }
    }
}
