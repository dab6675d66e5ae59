//! Image references as written in FROM lines and compose files, read with the one
//! [`ImageRef`] type, and which of them count as official images for the lint rules.

pub use slipway_image_ref::ImageRef;

/// `text` (surrounding whitespace ignored) as an image reference; `None` when it is not one,
/// so the rules that read references leave it to the build to refuse.
pub fn parse(text: &str) -> Option<ImageRef> {
    ImageRef::parse(text.trim()).ok()
}

/// Whether `image` names a Docker Hub official image, directly or through an allowed prefix
/// such as a mirror's `127.0.0.1:5000/library` (`[lint] official_registries`, and the
/// registries with `mirror_of = ["docker.io"]`).
pub fn is_official(image: &ImageRef, allowed_prefixes: &[String]) -> bool {
    image.is_official_under(allowed_prefixes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_images_and_mirrors() {
        let allowed = vec!["127.0.0.1:5000/library".to_owned(), "myorg".to_owned()];
        for official in [
            "nginx:1.27",
            "library/php:8.3-fpm",
            "docker.io/library/node:20",
            "127.0.0.1:5000/library/debian:12",
            "myorg/python:3.12",
        ] {
            assert!(
                is_official(&parse(official).unwrap(), &allowed),
                "{official}"
            );
        }
        for other in [
            "bitnami/nginx:1.27",
            "ghcr.io/org/php:8",
            "127.0.0.1:5000/shop/base:1",
            "docker.io/someone/node:20",
            "ghcr.io/myorg/python:3.12",
        ] {
            assert!(!is_official(&parse(other).unwrap(), &allowed), "{other}");
        }
    }

    #[test]
    fn what_is_not_a_reference_is_left_alone() {
        assert!(parse("  debian:12 ").is_some());
        assert!(parse("Shop/App").is_none());
        assert!(parse("").is_none());
    }
}
