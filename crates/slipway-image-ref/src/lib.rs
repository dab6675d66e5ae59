//! Image references as Docker and OCI registries read them:
//! `[registry[:port]/]repository[:tag][@algorithm:digest]`.
//!
//! [`ImageRef::parse`] checks a reference against the distribution grammar and normalises it
//! the way `docker pull` does: a reference without a registry host is Docker Hub's
//! (`docker.io`), and a Docker Hub repository of one component is an official image
//! (`library/debian`). [`ImageRef`]'s `Display` writes the full, normalised form, which parses
//! back to the same value; [`ImageRef::familiar`] writes the short form people type.
//!
//! No I/O: what a reference points at is the registry client's business.

#![warn(missing_docs)]

use std::fmt;

/// Docker Hub's registry host, as references name it after normalisation.
pub const DOCKER_HUB: &str = "docker.io";

/// Docker Hub's namespace of official images.
const OFFICIAL_NAMESPACE: &str = "library/";

/// The longest repository name a registry takes (the distribution grammar's limit on a name).
const MAX_NAME_LEN: usize = 255;

/// The longest tag.
const MAX_TAG_LEN: usize = 128;

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Why a text is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference `{text}`: {problem}; write [registry/]repository[:tag][@digest]")]
pub struct ImageRefError {
    text: String,
    problem: Problem,
}

impl ImageRefError {
    /// The text that was given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// What is wrong with it.
    pub fn problem(&self) -> Problem {
        self.problem
    }
}

/// What is wrong with a text that is not an image reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Nothing was given.
    #[error("it is empty")]
    Empty,
    /// A reference has no spaces or control characters.
    #[error("it contains whitespace or a control character")]
    Whitespace,
    /// The registry part is not a host name, an IPv4 or bracketed IPv6 address, with an
    /// optional port.
    #[error("the registry is not a host name with an optional port")]
    Registry,
    /// Registries take repository names in lower case only.
    #[error("the repository name must be lowercase")]
    Uppercase,
    /// A repository path component is empty or is not lowercase letters and digits joined
    /// by `.`, `_`, `__` or dashes.
    #[error(
        "each part of the repository must be lowercase letters and digits, joined by `.`, `_`, `__` or `-`"
    )]
    Repository,
    /// The registry and repository together are over 255 characters.
    #[error("the repository name is longer than 255 characters")]
    TooLong,
    /// A tag is 1 to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`.
    #[error(
        "the tag must be 1 to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
    )]
    Tag,
    /// A digest is `algorithm:hex`, e.g. `sha256:` and 64 lowercase hex digits.
    #[error(
        "the digest must be `sha256:` followed by 64 lowercase hex digits (or another algorithm's)"
    )]
    Digest,
}

impl ImageRef {
    /// Parses `text`. A reference without a registry host is Docker Hub's, and a Docker Hub
    /// repository of one component is in its `library/` namespace; `index.docker.io` is
    /// `docker.io`. The first component is a registry host when it contains `.` or `:`, is
    /// `localhost`, or has capital letters, as Docker reads it.
    pub fn parse(text: &str) -> Result<ImageRef, ImageRefError> {
        let fail = |problem| ImageRefError {
            text: text.to_owned(),
            problem,
        };
        if text.is_empty() {
            return Err(fail(Problem::Empty));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail(Problem::Whitespace));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                if !is_digest(digest) {
                    return Err(fail(Problem::Digest));
                }
                (rest, Some(digest.to_owned()))
            }
            None => (text, None),
        };
        // The tag is after the last `:` that follows the last `/` (a `:` before it is a port).
        let name_start = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[name_start..].rfind(':') {
            Some(at) => {
                let at = name_start + at;
                (&rest[..at], Some(&rest[at + 1..]))
            }
            None => (rest, None),
        };
        if let Some(tag) = tag
            && !is_tag(tag)
        {
            return Err(fail(Problem::Tag));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if is_registry_like(first) => (first, path),
            _ => (DOCKER_HUB, name),
        };
        if !is_registry(registry) {
            return Err(fail(Problem::Registry));
        }
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB
        } else {
            registry
        };
        if repository.is_empty() {
            return Err(fail(Problem::Repository));
        }
        if repository.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(fail(Problem::Uppercase));
        }
        if !repository.split('/').all(is_path_component) {
            return Err(fail(Problem::Repository));
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("{OFFICIAL_NAMESPACE}{repository}")
        } else {
            repository.to_owned()
        };
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(fail(Problem::TooLong));
        }
        Ok(ImageRef {
            registry: registry.to_owned(),
            repository,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The registry host, with its port when one was given (`127.0.0.1:5000`, `docker.io`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path within the registry (`library/debian`, `shop/base-python`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, when one was given.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:...`), when one was given.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The last component of the repository (`debian` of `library/debian`).
    pub fn name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    /// What to ask the registry for: the digest when pinned, else the tag (default `latest`).
    pub fn target(&self) -> &str {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest,
            (None, Some(tag)) => tag,
            (None, None) => "latest",
        }
    }

    /// Whether the reference names Docker Hub (`docker.io`, or the host its API is served
    /// from, `registry-1.docker.io`).
    pub fn is_docker_hub(&self) -> bool {
        matches!(self.registry.as_str(), DOCKER_HUB | "registry-1.docker.io")
    }

    /// Whether the reference names one of Docker Hub's official images (`library/NAME`).
    pub fn is_official_image(&self) -> bool {
        self.is_docker_hub()
            && self
                .repository
                .strip_prefix(OFFICIAL_NAMESPACE)
                .is_some_and(|name| !name.contains('/'))
    }

    /// Whether the reference names a Docker Hub official image, directly or through an allowed
    /// prefix such as a mirror's `127.0.0.1:5000/library`. A prefix written without a registry
    /// (`myorg`) is Docker Hub's namespace.
    pub fn is_official_under(&self, allowed_prefixes: &[String]) -> bool {
        if self.is_official_image() {
            return true;
        }
        let full = format!("{}/{}", self.registry, self.repository);
        let familiar = self.is_docker_hub().then(|| self.repository.clone());
        allowed_prefixes.iter().any(|prefix| {
            let prefix = prefix.trim_end_matches('/');
            [Some(&full), familiar.as_ref()]
                .into_iter()
                .flatten()
                .any(|name| {
                    name.strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('/'))
                })
        })
    }

    /// Whether the reference moves: no tag and no digest, or the tag `latest`.
    pub fn moves(&self) -> bool {
        self.digest.is_none() && self.tag.as_deref().is_none_or(|t| t == "latest")
    }

    /// The same reference with its tag replaced (the digest is kept).
    pub fn with_tag(&self, tag: &str) -> Result<ImageRef, ImageRefError> {
        if !is_tag(tag) {
            return Err(ImageRefError {
                text: format!("{}/{}:{tag}", self.registry, self.repository),
                problem: Problem::Tag,
            });
        }
        Ok(ImageRef {
            tag: Some(tag.to_owned()),
            ..self.clone()
        })
    }

    /// The same reference pinned to `digest` (the tag is kept, as a note of what it was).
    pub fn with_digest(&self, digest: &str) -> Result<ImageRef, ImageRefError> {
        if !is_digest(digest) {
            return Err(ImageRefError {
                text: format!("{self}@{digest}"),
                problem: Problem::Digest,
            });
        }
        Ok(ImageRef {
            digest: Some(digest.to_owned()),
            ..self.clone()
        })
    }

    /// The short form Docker shows: without `docker.io/`, and without `library/` for official
    /// images (`debian:12`, `bitnami/nginx`). It parses back to the same reference.
    pub fn familiar(&self) -> String {
        // `docker.io/` can only go when what is left does not read as a registry host
        // (`docker.io/a.b/app` stays as it is).
        let first = self.repository.split('/').next().unwrap_or_default();
        let name = if self.registry == DOCKER_HUB
            && !(self.repository.contains('/') && is_registry_like(first))
        {
            self.repository
                .strip_prefix(OFFICIAL_NAMESPACE)
                .filter(|name| !name.contains('/'))
                .unwrap_or(&self.repository)
                .to_owned()
        } else {
            format!("{}/{}", self.registry, self.repository)
        };
        let mut out = name;
        push_tag_and_digest(&mut out, self);
        out
    }
}

fn push_tag_and_digest(out: &mut String, reference: &ImageRef) {
    if let Some(tag) = &reference.tag {
        out.push(':');
        out.push_str(tag);
    }
    if let Some(digest) = &reference.digest {
        out.push('@');
        out.push_str(digest);
    }
}

impl fmt::Display for ImageRef {
    /// The full form: `registry/repository[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = format!("{}/{}", self.registry, self.repository);
        push_tag_and_digest(&mut out, self);
        f.write_str(&out)
    }
}

impl std::str::FromStr for ImageRef {
    type Err = ImageRefError;

    fn from_str(text: &str) -> Result<ImageRef, ImageRefError> {
        ImageRef::parse(text)
    }
}

/// Whether the first component of a name is a registry host rather than part of the
/// repository, as Docker decides it.
fn is_registry_like(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.chars().any(|c| c.is_ascii_uppercase())
}

/// `host[:port]`, the host a domain name, an IPv4 address or a bracketed IPv6 address.
fn is_registry(registry: &str) -> bool {
    let port_ok = |port: &str| {
        !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
    };
    if let Some(rest) = registry.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return false;
        };
        let address_ok = address.contains(':')
            && address
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        return address_ok && (after.is_empty() || after.strip_prefix(':').is_some_and(port_ok));
    }
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    host_ok && port.is_none_or(port_ok)
}

/// Lowercase letters and digits, joined by one `.`, one or two `_`, or any number of `-`.
fn is_path_component(component: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut chars = component.chars().peekable();
    if !chars.peek().copied().is_some_and(alnum) {
        return false;
    }
    let mut separator = String::new();
    for c in chars {
        if alnum(c) {
            let valid = separator.is_empty()
                || matches!(separator.as_str(), "." | "_" | "__")
                || separator.chars().all(|s| s == '-');
            if !valid {
                return false;
            }
            separator.clear();
        } else if matches!(c, '.' | '_' | '-') {
            separator.push(c);
        } else {
            return false;
        }
    }
    separator.is_empty()
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    tag.len() <= MAX_TAG_LEN
        && tag.chars().next().is_some_and(word)
        && tag.chars().all(|c| word(c) || c == '.' || c == '-')
}

/// `algorithm:encoded`: sha256 and sha512 with their lengths of lowercase hex, other
/// algorithms by the OCI grammar.
fn is_digest(digest: &str) -> bool {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return false;
    };
    let lower_hex = |len: usize| {
        encoded.len() == len
            && encoded
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match algorithm {
        "sha256" => lower_hex(64),
        "sha512" => lower_hex(128),
        _ => {
            let algorithm_ok = algorithm.split(['+', '.', '_', '-']).all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
            algorithm_ok
                && !encoded.is_empty()
                && encoded
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parts(text: &str) -> (String, String, Option<String>, Option<String>) {
        let r = ImageRef::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        (
            r.registry().to_owned(),
            r.repository().to_owned(),
            r.tag().map(str::to_owned),
            r.digest().map(str::to_owned),
        )
    }

    fn problem(text: &str) -> Problem {
        ImageRef::parse(text)
            .map(|r| panic!("{text} parsed as {r}"))
            .unwrap_err()
            .problem()
    }

    fn owned(
        registry: &str,
        repository: &str,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> (String, String, Option<String>, Option<String>) {
        (
            registry.into(),
            repository.into(),
            tag.map(Into::into),
            digest.map(Into::into),
        )
    }

    #[test]
    fn docker_hub_is_the_default_registry_and_library_its_official_namespace() {
        assert_eq!(
            parts("debian"),
            owned("docker.io", "library/debian", None, None)
        );
        assert_eq!(
            parts("debian:12"),
            owned("docker.io", "library/debian", Some("12"), None)
        );
        assert_eq!(
            parts("bitnami/nginx:1.27"),
            owned("docker.io", "bitnami/nginx", Some("1.27"), None)
        );
        assert_eq!(
            parts("docker.io/node"),
            owned("docker.io", "library/node", None, None)
        );
        assert_eq!(
            parts("index.docker.io/library/php:8.3-fpm"),
            owned("docker.io", "library/php", Some("8.3-fpm"), None)
        );
        assert_eq!(
            parts("library/php"),
            owned("docker.io", "library/php", None, None)
        );
    }

    #[test]
    fn registry_hosts_with_ports_and_localhost() {
        assert_eq!(
            parts("127.0.0.1:5000/shop/base-python:stable"),
            owned("127.0.0.1:5000", "shop/base-python", Some("stable"), None)
        );
        assert_eq!(
            parts("localhost/team/app"),
            owned("localhost", "team/app", None, None)
        );
        assert_eq!(
            parts("localhost:5000/app:1"),
            owned("localhost:5000", "app", Some("1"), None)
        );
        assert_eq!(
            parts("registry.example.com/app"),
            owned("registry.example.com", "app", None, None),
            "a one-component repository is only `library/` on Docker Hub"
        );
        assert_eq!(
            parts("[::1]:5000/app:v2"),
            owned("[::1]:5000", "app", Some("v2"), None)
        );
        assert_eq!(
            parts(&format!("ghcr.io/org/team/app@{DIGEST}")).1,
            "org/team/app"
        );
        // Without a `.`, `:` or `localhost`, a first component is a namespace, not a host.
        assert_eq!(
            parts("team/app:1"),
            owned("docker.io", "team/app", Some("1"), None)
        );
        // `localhost:5000` alone is the image `localhost` at tag `5000`, as Docker reads it.
        assert_eq!(
            parts("localhost:5000"),
            owned("docker.io", "library/localhost", Some("5000"), None)
        );
    }

    #[test]
    fn digests_alone_or_after_a_tag() {
        assert_eq!(
            parts(&format!("python@{DIGEST}")),
            owned("docker.io", "library/python", None, Some(DIGEST))
        );
        assert_eq!(
            parts(&format!("127.0.0.1:5000/shop/app:1.2@{DIGEST}")),
            owned("127.0.0.1:5000", "shop/app", Some("1.2"), Some(DIGEST))
        );
        let sha512 = format!("sha512:{}", "ab".repeat(64));
        assert_eq!(
            parts(&format!("app@{sha512}")).3.as_deref(),
            Some(sha512.as_str())
        );
        assert_eq!(problem("python@sha256:abc"), Problem::Digest);
        assert_eq!(
            problem(&format!("python@{}", DIGEST.to_uppercase())),
            Problem::Digest
        );
        assert_eq!(problem("python@"), Problem::Digest);
        assert_eq!(problem("python@0123"), Problem::Digest);
        assert_eq!(
            problem(&format!("python@{DIGEST}@{DIGEST}")),
            Problem::Digest
        );
    }

    #[test]
    fn uppercase_repositories_are_refused_and_uppercase_hosts_are_hosts() {
        assert_eq!(problem("Debian"), Problem::Uppercase);
        assert_eq!(problem("shop/App:1"), Problem::Uppercase);
        assert_eq!(problem("127.0.0.1:5000/Shop/app"), Problem::Uppercase);
        // A capital letter in the first component makes it a host, as Docker reads it.
        assert_eq!(
            parts("Registry.Example/app"),
            owned("Registry.Example", "app", None, None)
        );
        assert_eq!(problem("Shop/App"), Problem::Uppercase);
        // Tags may have capitals.
        assert_eq!(parts("app:V1").2.as_deref(), Some("V1"));
    }

    #[test]
    fn malformed_parts_are_named() {
        assert_eq!(problem(""), Problem::Empty);
        assert_eq!(problem("debian 12"), Problem::Whitespace);
        assert_eq!(problem("debian\n"), Problem::Whitespace);
        assert_eq!(problem("debian:"), Problem::Tag);
        assert_eq!(problem("debian:.hidden"), Problem::Tag);
        assert_eq!(
            problem(&format!("debian:{}", "a".repeat(129))),
            Problem::Tag
        );
        assert!(ImageRef::parse(&format!("debian:{}", "a".repeat(128))).is_ok());
        assert_eq!(problem("debian:a/b"), Problem::Registry);
        assert_eq!(problem("shop//app"), Problem::Repository);
        assert_eq!(problem("shop/app/"), Problem::Repository);
        assert_eq!(problem("127.0.0.1:5000/"), Problem::Repository);
        assert_eq!(problem("-app"), Problem::Repository);
        assert_eq!(problem("app-"), Problem::Repository);
        assert_eq!(problem("a..b"), Problem::Repository);
        assert_eq!(problem("a___b"), Problem::Repository);
        assert!(ImageRef::parse("a__b--c.d_e").is_ok());
        assert_eq!(problem("host:port/app"), Problem::Registry);
        assert_eq!(problem("host:123456/app"), Problem::Registry);
        assert_eq!(problem("-host.example/app"), Problem::Registry);
        assert_eq!(problem("[::1/app"), Problem::Registry);
        assert_eq!(problem("[::1]x/app"), Problem::Registry);
        assert_eq!(problem("${base}"), Problem::Repository);
        assert_eq!(problem("${BASE}"), Problem::Uppercase);
        let long = format!("shop/{}", "a".repeat(250));
        assert_eq!(problem(&long), Problem::TooLong);
    }

    #[test]
    fn the_error_names_the_text_and_what_to_write() {
        let error = ImageRef::parse("Shop/App").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid image reference `Shop/App`: the repository name must be lowercase; write [registry/]repository[:tag][@digest]"
        );
        assert_eq!(error.text(), "Shop/App");
    }

    #[test]
    fn display_writes_the_full_form_and_familiar_the_short_one() {
        for (written, full, familiar) in [
            ("debian", "docker.io/library/debian", "debian"),
            ("debian:12", "docker.io/library/debian:12", "debian:12"),
            ("bitnami/nginx", "docker.io/bitnami/nginx", "bitnami/nginx"),
            (
                "127.0.0.1:5000/library/debian:12",
                "127.0.0.1:5000/library/debian:12",
                "127.0.0.1:5000/library/debian:12",
            ),
            ("localhost/app", "localhost/app", "localhost/app"),
            (
                "docker.io/a.b/app",
                "docker.io/a.b/app",
                "docker.io/a.b/app",
            ),
            (
                "docker.io/localhost/app",
                "docker.io/localhost/app",
                "docker.io/localhost/app",
            ),
        ] {
            let r = ImageRef::parse(written).unwrap();
            assert_eq!(r.to_string(), full);
            assert_eq!(r.familiar(), familiar);
            assert_eq!(ImageRef::parse(full).unwrap(), r);
            assert_eq!(ImageRef::parse(familiar).unwrap(), r);
        }
        let pinned = ImageRef::parse(&format!("app:1@{DIGEST}")).unwrap();
        assert_eq!(
            pinned.to_string(),
            format!("docker.io/library/app:1@{DIGEST}")
        );
        assert_eq!(ImageRef::parse(&pinned.to_string()).unwrap(), pinned);
    }

    #[test]
    fn target_official_images_and_names() {
        assert_eq!(ImageRef::parse("debian").unwrap().target(), "latest");
        assert_eq!(ImageRef::parse("debian:12").unwrap().target(), "12");
        assert_eq!(
            ImageRef::parse(&format!("debian:12@{DIGEST}"))
                .unwrap()
                .target(),
            DIGEST
        );
        assert_eq!(
            ImageRef::parse("shop/base-python").unwrap().name(),
            "base-python"
        );
        for official in ["nginx", "library/php:8", "docker.io/library/node:20"] {
            assert!(
                ImageRef::parse(official).unwrap().is_official_image(),
                "{official}"
            );
        }
        for other in [
            "bitnami/nginx",
            "ghcr.io/library/php",
            "127.0.0.1:5000/library/debian",
            "docker.io/library/a/b",
        ] {
            assert!(
                !ImageRef::parse(other).unwrap().is_official_image(),
                "{other}"
            );
        }
    }

    #[test]
    fn tags_and_digests_can_be_replaced() {
        let r = ImageRef::parse("shop/app:1").unwrap();
        assert_eq!(r.with_tag("2").unwrap().to_string(), "docker.io/shop/app:2");
        assert_eq!(r.with_tag("-x").unwrap_err().problem(), Problem::Tag);
        assert_eq!(
            r.with_digest(DIGEST).unwrap().familiar(),
            format!("shop/app:1@{DIGEST}")
        );
        assert_eq!(
            r.with_digest("sha256:1").unwrap_err().problem(),
            Problem::Digest
        );
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_and_what_parses_round_trips(text in "\\PC{0,80}") {
            if let Ok(r) = ImageRef::parse(&text) {
                proptest::prop_assert_eq!(ImageRef::parse(&r.to_string()).unwrap(), r.clone());
                proptest::prop_assert_eq!(ImageRef::parse(&r.familiar()).unwrap(), r);
            }
        }

        #[test]
        fn generated_references_round_trip(
            registry in proptest::option::of("(localhost|[a-z]([a-z0-9-]{0,6}[a-z0-9])?\\.[a-z]{2,4})(:[0-9]{1,5})?"),
            // A first component with a `.` would be read as a registry host.
            path in "[a-z0-9]{1,6}((_|__|-+)[a-z0-9]{1,4}){0,2}(/[a-z0-9]{1,6}(([._]|__|-+)[a-z0-9]{1,3})?){0,2}",
            tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
            digest in proptest::option::of("[0-9a-f]{64}"),
        ) {
            let mut text = registry.clone().map_or(String::new(), |r| format!("{r}/"));
            text.push_str(&path);
            if let Some(tag) = &tag {
                text.push(':');
                text.push_str(tag);
            }
            if let Some(digest) = &digest {
                text.push_str("@sha256:");
                text.push_str(digest);
            }
            let r = ImageRef::parse(&text).unwrap();
            proptest::prop_assert_eq!(r.registry(), registry.as_deref().unwrap_or("docker.io"));
            proptest::prop_assert_eq!(r.tag(), tag.as_deref());
            proptest::prop_assert_eq!(ImageRef::parse(&r.to_string()).unwrap(), r);
        }
    }

    #[test]
    fn official_under_prefixes_and_moving_references() {
        let allowed = vec!["127.0.0.1:5000/library/".to_owned(), "myorg".to_owned()];
        let parse = |text| ImageRef::parse(text).unwrap();
        assert!(parse("nginx:1.27").is_official_under(&[]));
        assert!(parse("127.0.0.1:5000/library/debian:12").is_official_under(&allowed));
        assert!(parse("myorg/python:3.12").is_official_under(&allowed));
        assert!(!parse("ghcr.io/myorg/python:3.12").is_official_under(&allowed));
        assert!(!parse("127.0.0.1:5000/libraryx/debian").is_official_under(&allowed));
        assert!(parse("redis").moves());
        assert!(parse("redis:latest").moves());
        assert!(!parse("redis:7").moves());
        let digest = format!("redis:latest@sha256:{}", "a".repeat(64));
        assert!(!parse(&digest).moves());
    }
}
