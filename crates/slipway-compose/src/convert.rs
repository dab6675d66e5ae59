//! `slipway init --from-compose`: an imported compose project turned into the files of a new
//! project, with the user's files changed only with consent (`--adopt-bases`,
//! `--loopback-ports`), and every other change named as an edit to make.
//!
//! A conversion is made in two steps around the one thing it cannot decide without a
//! network: [`draft`] builds the manifest and lists the moving images to pin; the caller
//! resolves them (or not) and [`Draft::finish`] writes the result. Files are read through the
//! caller's `read`, so nothing here touches the disk.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use slipway_core::manifest::{Base, Manifest, Registry};
use slipway_core::scaffold::{self, ScaffoldFile};
use slipway_image_ref::ImageRef;

use crate::{ComposeError, ComposeSource, Edit, adopt, import};

/// What the person asked of a conversion.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The team's registry (`host[:port][/prefix]`), written as `[registries.main]`.
    pub registry: Option<String>,
    /// Registries it mirrors (e.g. `docker.io`).
    pub mirror_of: Vec<String>,
    /// Whether moving images are to be resolved to their tag and digest, and the images new
    /// bases build FROM to their digest.
    pub pin: bool,
    /// Whether apps building FROM a public image move onto a project base (their Dockerfiles
    /// change).
    pub adopt_bases: bool,
    /// Whether the compose files' ports are published on 127.0.0.1 (the files change).
    pub loopback_ports: bool,
}

/// What a conversion writes and reports.
#[derive(Debug, Default)]
pub struct Conversion {
    /// New files, relative to the project.
    pub files: Vec<ScaffoldFile>,
    /// The user's files changed with consent (`--adopt-bases`, `--loopback-ports`): path →
    /// new text.
    pub changed: IndexMap<PathBuf, String>,
    /// Why each changed file changed, one line per change.
    pub change_reasons: IndexMap<PathBuf, Vec<String>>,
    /// What could not be carried over, one line each.
    pub notes: Vec<String>,
    /// Edits to the user's files that init does not make, each with the exact change.
    pub edits: Vec<String>,
    /// Images still to pin: (where it is written, the image, why it is not pinned yet).
    pub to_pin: Vec<(String, String, String)>,
}

/// A conversion whose manifest is made and whose images are not resolved yet.
#[derive(Debug)]
pub struct Draft {
    manifest: Manifest,
    conversion: Conversion,
    to_resolve: Vec<(String, String)>,
    paths: Vec<PathBuf>,
    compose_texts: IndexMap<PathBuf, String>,
    import_edits: Vec<Edit>,
    templates: Vec<(PathBuf, String)>,
    values: IndexMap<String, IndexMap<String, String>>,
    loopback_ports: bool,
}

/// Imports `sources` as project `project` and moves apps onto bases as `options` asks. `read`
/// reads the Dockerfiles and env files the compose files name (`None` when one cannot be read).
pub fn draft(
    project: &str,
    sources: &[ComposeSource],
    options: &Options,
    read: &dyn Fn(&Path) -> Option<String>,
) -> Result<Draft, ComposeError> {
    let compose_dir = sources
        .first()
        .and_then(|s| s.path.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let imported = import(project, sources, read)?;
    let mut manifest = imported.manifest;
    let mut conversion = Conversion {
        notes: imported.notes,
        ..Conversion::default()
    };
    if let Some(url) = &options.registry {
        manifest.registries.insert(
            "main".into(),
            Registry {
                url: url.clone(),
                mirror_of: options.mirror_of.clone(),
                ..Registry::default()
            },
        );
        manifest.project.registry = Some("main".into());
    }
    adopt_bases(
        project,
        &mut manifest,
        &mut conversion,
        &compose_dir,
        options.adopt_bases,
        read,
    );
    let to_resolve = images_to_resolve(&manifest, options.pin);
    Ok(Draft {
        manifest,
        conversion,
        to_resolve,
        paths: sources.iter().map(|s| s.path.clone()).collect(),
        compose_texts: sources
            .iter()
            .map(|s| (s.path.clone(), s.text.clone()))
            .collect(),
        import_edits: imported.edits,
        templates: imported.templates,
        values: imported.values,
        loopback_ports: options.loopback_ports,
    })
}

/// Each app's Dockerfile, then the other Dockerfiles its environments build from
/// (`Dockerfile.prod`): an app has one base, so they all move onto the same one. Each is
/// (app, Dockerfile, target, whether it is an environment's).
fn dockerfiles(manifest: &Manifest) -> Vec<(String, String, Option<String>, bool)> {
    let mut dockerfiles: Vec<(String, String, Option<String>, bool)> = Vec::new();
    for (app_name, app) in &manifest.apps {
        let Some(relative) = manifest.app_dockerfile(app_name) else {
            continue;
        };
        dockerfiles.push((
            app_name.clone(),
            relative.clone(),
            app.target.clone(),
            false,
        ));
        for variant in app.environments.values() {
            if let Some(other) = &variant.dockerfile
                && *other != relative
                && !dockerfiles
                    .iter()
                    .any(|(a, d, _, _)| a == app_name && d == other)
            {
                let target = variant.target.clone().or_else(|| app.target.clone());
                dockerfiles.push((app_name.clone(), other.clone(), target, true));
            }
        }
    }
    dockerfiles
}

/// Bases: each app Dockerfile FROM a public image moves onto a base (with `adopt`), or the
/// edit that would do it is named.
fn adopt_bases(
    project: &str,
    manifest: &mut Manifest,
    conversion: &mut Conversion,
    compose_dir: &Path,
    adopt: bool,
    read: &dyn Fn(&Path) -> Option<String>,
) {
    let mut texts: IndexMap<PathBuf, String> = IndexMap::new();
    let mut base_of_file: IndexMap<PathBuf, String> = IndexMap::new();
    for (app_name, relative, target, variant) in dockerfiles(manifest) {
        let path = compose_dir.join(&relative);
        let text = match texts.get(&path) {
            Some(text) => text.clone(),
            None => match read(&path) {
                Some(text) => text,
                None => {
                    conversion.notes.push(format!("app `{app_name}`: its Dockerfile `{relative}` cannot be read; its base was not checked"));
                    continue;
                }
            },
        };
        let bases: Vec<String> = manifest.bases.values().map(|b| b.image.clone()).collect();
        match adopt::adopt(&text, target.as_deref(), &bases) {
            Ok(adoption) if adopt => {
                let base_name = match manifest.bases.iter().find(|(_, b)| {
                    b.build_args.get("FROM_IMAGE") == Some(&adoption.image)
                }) {
                    Some((existing, _)) => existing.clone(),
                    None => new_base(project, manifest, conversion, &adoption.image),
                };
                set_base(manifest, &app_name, &relative, variant, &base_name);
                conversion
                    .change_reasons
                    .entry(path.clone())
                    .or_default()
                    .push(format!(
                        "line {}: `{}` → `{}` (app `{app_name}` builds on base `{base_name}`)",
                        adoption.line, adoption.from_before, adoption.from_after
                    ));
                texts.insert(path.clone(), adoption.text.clone());
                conversion.changed.insert(path.clone(), adoption.text);
                base_of_file.insert(path, base_name);
            }
            Ok(adoption) => conversion.edits.push(format!(
                "{}:{}: app `{app_name}` builds FROM `{}`, not a project base (DF003): run init with `--adopt-bases --registry HOST`, or write `ARG SLIPWAY_BASE={}` before the first FROM, change this line to `{}` and add the base to slipway.toml",
                path.display(),
                adoption.line,
                adoption.image,
                adoption.image,
                adoption.from_after
            )),
            Err(adopt::Skip::OnBase) => {
                if let Some(base) = base_of_file.get(&path) {
                    set_base(manifest, &app_name, &relative, variant, base);
                }
            }
            Err(adopt::Skip::Unresolved(image)) => conversion.notes.push(format!(
                "app `{app_name}`: its Dockerfile builds FROM `{image}`, which depends on a build argument without a default; its base was not adopted"
            )),
            Err(adopt::Skip::Scratch | adopt::Skip::NoFrom) => {}
        }
    }
}

/// Adds a base that builds FROM `image` (named after it, kept apart from the bases already
/// there) and returns its name; a FROM image that is not official is named as an edit.
fn new_base(
    project: &str,
    manifest: &mut Manifest,
    conversion: &mut Conversion,
    image: &str,
) -> String {
    let official = manifest.official_registries();
    if ImageRef::parse(image.trim()).is_ok_and(|image| !image.is_official_under(&official)) {
        let registry = image.split('/').next().unwrap_or_default();
        conversion.edits.push(format!(
            "slipway.toml: a base builds FROM `{image}`, which is not an official image (DF001): if it is your registry's copy of one, add `official_registries = [\"{registry}\"]` under [lint]; otherwise change its base/<name>/Dockerfile to build FROM the official image it is made from"
        ));
    }
    let mut base_name = adopt::base_name_for(image);
    while manifest.bases.contains_key(&base_name) {
        base_name.push_str("-2");
    }
    manifest.bases.insert(
        base_name.clone(),
        Base {
            image: format!("{project}/base-{base_name}"),
            tags: vec!["stable".into(), "{date}-{git_sha}".into()],
            build_args: [("FROM_IMAGE".to_owned(), image.to_owned())]
                .into_iter()
                .collect(),
            ..Base::default()
        },
    );
    base_name
}

/// Puts `app` on `base`: the app itself for its own Dockerfile; for the Dockerfile its
/// environments build from (`variant`), those environments, when the base is not the app's.
fn set_base(manifest: &mut Manifest, app: &str, dockerfile: &str, variant: bool, base: &str) {
    let app = &mut manifest.apps[app];
    if !variant {
        app.base = Some(base.to_owned());
    } else if app.base.as_deref() != Some(base) {
        for environment in app.environments.values_mut() {
            if environment.dockerfile.as_deref() == Some(dockerfile) {
                environment.base = Some(base.to_owned());
            }
        }
    }
}

/// Whether an image reference moves: no tag and no digest, or the tag `latest`.
fn moves(image: &str) -> bool {
    ImageRef::parse(image).is_ok_and(|reference| reference.moves())
}

/// Services' moving images, and the images new bases build FROM that move (or, when pinning,
/// that have no digest yet): (where it is written, the image).
fn images_to_resolve(manifest: &Manifest, pin: bool) -> Vec<(String, String)> {
    let mut to_resolve: Vec<(String, String)> = Vec::new();
    for (service_name, service) in &manifest.services {
        if let Some(image) = &service.image
            && moves(image)
        {
            to_resolve.push((format!("services.{service_name}.image"), image.clone()));
        }
    }
    for (base_name, base) in &manifest.bases {
        if let Some(image) = base.build_args.get("FROM_IMAGE")
            && (moves(image) || (pin && !image.contains('@')))
        {
            to_resolve.push((format!("base/{base_name}/Dockerfile FROM"), image.clone()));
        }
    }
    to_resolve
}

impl Draft {
    /// The manifest as converted so far (its registries route the images to resolve).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The images to resolve: (where it is written, the image), in order.
    pub fn to_resolve(&self) -> &[(String, String)] {
        &self.to_resolve
    }

    /// The conversion, given what resolving [`Draft::to_resolve`] gave for each image, in the
    /// same order (the pinned reference, or why not), or `None` when nothing was resolved: then
    /// every image is listed to pin.
    pub fn finish(
        self,
        resolved: Option<Vec<Result<String, String>>>,
    ) -> Result<Conversion, ComposeError> {
        let Draft {
            mut manifest,
            mut conversion,
            to_resolve,
            paths,
            mut compose_texts,
            import_edits,
            templates,
            values,
            loopback_ports,
        } = self;
        let mut pinned: IndexMap<String, String> = IndexMap::new();
        match resolved {
            Some(results) => {
                for ((field, image), result) in to_resolve.into_iter().zip(results) {
                    match result {
                        Ok(reference) => {
                            pinned.insert(image, reference);
                        }
                        // A fixed tag without its digest still runs; only moving ones are listed.
                        Err(why) if moves(&image) => conversion.to_pin.push((field, image, why)),
                        Err(_) => {}
                    }
                }
            }
            None => {
                for (field, image) in to_resolve {
                    conversion
                        .to_pin
                        .push((field, image, "pin it with --pin".into()));
                }
            }
        }
        for (service_name, service) in &mut manifest.services {
            if let Some(reference) = service.image.as_ref().and_then(|i| pinned.get(i)) {
                conversion.notes.push(format!(
                    "`{service_name}`: image `{}` is pinned as `{reference}`, through the registry that serves it",
                    service.image.as_deref().unwrap_or_default()
                ));
                service.image = Some(reference.clone());
            }
        }
        let mut base_files: Vec<ScaffoldFile> = Vec::new();
        for (base_name, base) in &mut manifest.bases {
            let Some(image) = base.build_args.shift_remove("FROM_IMAGE") else {
                continue;
            };
            let from = pinned.get(&image).cloned().unwrap_or(image.clone());
            base_files.push(ScaffoldFile {
                path: PathBuf::from(format!("base/{base_name}/Dockerfile")),
                contents: format!(
                    "# Base of the apps that built FROM {image}; `slipway base release` builds and pushes it.\nFROM {from}\n"
                ),
            });
        }

        // Ports published on every interface: changed with consent, named otherwise.
        for edit in import_edits {
            let applied = loopback_ports
                .then(|| edit.apply(&compose_texts[&edit.file]))
                .flatten();
            match applied {
                Some(text) => {
                    conversion
                        .change_reasons
                        .entry(edit.file.clone())
                        .or_default()
                        .push(format!("line {}: {}", edit.line, edit.message));
                    compose_texts.insert(edit.file.clone(), text.clone());
                    conversion.changed.insert(edit.file.clone(), text);
                }
                None => conversion.edits.push(edit.to_string()),
            }
        }
        let manifest_text =
            toml::to_string_pretty(&manifest).map_err(|source| ComposeError::Write {
                file: "slipway.toml".into(),
                source,
            })?;
        let header = format!(
            "# slipway.toml, converted from {} by `slipway init --from-compose`.\n# Reference: docs/manifest.md\n\n",
            paths
                .iter()
                .map(|p| p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut files = vec![ScaffoldFile {
            path: "slipway.toml".into(),
            contents: header + &manifest_text,
        }];
        files.extend(base_files);
        for (path, contents) in templates {
            files.push(ScaffoldFile { path, contents });
        }
        for env in scaffold::ENVIRONMENTS {
            let values_path = PathBuf::from(format!("config/{env}/values.toml"));
            let mut contents =
                format!("# Non-secret values for the {env} templates (`{{{{ vars.NAME }}}}`).\n");
            if let Some(imported_values) = values.get(*env) {
                contents.push_str("# From the compose project's .env file.\n");
                let table: toml::Table = imported_values
                    .iter()
                    .map(|(k, v)| (k.clone(), toml::Value::String(v.clone())))
                    .collect();
                contents.push_str(&toml::to_string(&table).map_err(|source| {
                    ComposeError::Write {
                        file: "values.toml".into(),
                        source,
                    }
                })?);
            }
            files.push(ScaffoldFile {
                path: values_path,
                contents,
            });
        }
        conversion.files = files;
        Ok(conversion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(compose: &str) -> Vec<ComposeSource> {
        vec![ComposeSource {
            path: "/p/docker-compose.yml".into(),
            text: compose.to_owned(),
        }]
    }

    fn reader(files: &[(&str, &str)]) -> impl Fn(&Path) -> Option<String> {
        let files: Vec<(PathBuf, String)> = files
            .iter()
            .map(|(p, t)| (Path::new("/p").join(p), (*t).to_owned()))
            .collect();
        move |path: &Path| {
            files
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, t)| t.clone())
        }
    }

    const COMPOSE: &str = "services:\n  web:\n    build: .\n    ports:\n      - \"8000:8000\"\n  cache:\n    image: redis\n";

    fn file<'a>(conversion: &'a Conversion, path: &str) -> &'a str {
        &conversion
            .files
            .iter()
            .find(|f| f.path == Path::new(path))
            .unwrap_or_else(|| panic!("no {path}"))
            .contents
    }

    #[test]
    fn without_consent_the_users_files_are_named_not_changed() {
        let read = reader(&[("Dockerfile", "FROM python:3.12-slim\nCOPY . /app\n")]);
        let draft = draft("shop", &sources(COMPOSE), &Options::default(), &read).unwrap();
        assert_eq!(
            draft.to_resolve(),
            [("services.cache.image".to_owned(), "redis".to_owned())]
        );
        let conversion = draft.finish(None).unwrap();
        assert!(conversion.changed.is_empty());
        assert_eq!(
            conversion.to_pin,
            [(
                "services.cache.image".to_owned(),
                "redis".to_owned(),
                "pin it with --pin".to_owned()
            )]
        );
        assert!(
            conversion.edits.iter().any(|e| e.contains("(DF003)")),
            "{:?}",
            conversion.edits
        );
        assert!(
            conversion.edits.iter().any(|e| e.contains("127.0.0.1")),
            "{:?}",
            conversion.edits
        );
        assert!(file(&conversion, "slipway.toml").starts_with(
            "# slipway.toml, converted from docker-compose.yml by `slipway init --from-compose`."
        ));
        assert!(file(&conversion, "config/prod/values.toml").starts_with("# Non-secret values"));
    }

    #[test]
    fn adopting_bases_and_loopback_ports_change_the_users_files() {
        let read = reader(&[("Dockerfile", "FROM python:3.12-slim\nCOPY . /app\n")]);
        let options = Options {
            registry: Some("registry.example.internal:5000".into()),
            mirror_of: vec!["docker.io".into()],
            pin: true,
            adopt_bases: true,
            loopback_ports: true,
        };
        let draft = draft("shop", &sources(COMPOSE), &options, &read).unwrap();
        let base = draft.manifest().apps["web"].base.clone().unwrap();
        assert_eq!(
            draft.manifest().bases[&base].image,
            format!("shop/base-{base}")
        );
        // With --pin, a fixed tag without its digest is resolved too.
        assert_eq!(draft.to_resolve().len(), 2, "{:?}", draft.to_resolve());
        let digest = format!("@sha256:{}", "a".repeat(64));
        let conversion = draft
            .finish(Some(vec![
                Ok(format!("redis:7.4.1{digest}")),
                Err("unreachable".into()),
            ]))
            .unwrap();
        let dockerfile = Path::new("/p/Dockerfile");
        assert!(conversion.changed[dockerfile].contains("${SLIPWAY_BASE}"));
        assert!(conversion.change_reasons[dockerfile][0].starts_with("line "));
        assert!(
            conversion.changed[Path::new("/p/docker-compose.yml")].contains("127.0.0.1:8000:8000")
        );
        // The base's fixed tag that could not be resolved still runs: not listed.
        assert!(conversion.to_pin.is_empty(), "{:?}", conversion.to_pin);
        assert_eq!(
            file(&conversion, &format!("base/{base}/Dockerfile"))
                .lines()
                .nth(1),
            Some("FROM python:3.12-slim")
        );
        assert!(file(&conversion, "slipway.toml").contains(&format!("redis:7.4.1{digest}")));
        assert!(
            conversion
                .notes
                .iter()
                .any(|n| n.starts_with("`cache`: image `redis` is pinned as"))
        );
        // A mirror of Docker Hub makes python an official image: no DF001 edit.
        assert!(!conversion.edits.iter().any(|e| e.contains("DF001")));
    }

    #[test]
    fn a_base_from_another_registry_is_named_and_an_unresolved_moving_image_listed() {
        let read = reader(&[("Dockerfile", "FROM ghcr.io/org/python:3.12\n")]);
        let options = Options {
            registry: Some("registry.example.internal:5000".into()),
            pin: true,
            adopt_bases: true,
            ..Options::default()
        };
        let draft = draft("shop", &sources(COMPOSE), &options, &read).unwrap();
        let results = draft
            .to_resolve()
            .iter()
            .map(|_| Err("no registry serves it".to_owned()))
            .collect();
        let conversion = draft.finish(Some(results)).unwrap();
        assert!(
            conversion
                .edits
                .iter()
                .any(|e| e.contains("(DF001)") && e.contains("[\"ghcr.io\"]")),
            "{:?}",
            conversion.edits
        );
        assert_eq!(conversion.to_pin.len(), 1);
        assert_eq!(conversion.to_pin[0].2, "no registry serves it");
    }

    #[test]
    fn an_unreadable_dockerfile_is_noted() {
        let draft = draft("shop", &sources(COMPOSE), &Options::default(), &reader(&[])).unwrap();
        let conversion = draft.finish(None).unwrap();
        assert!(
            conversion
                .notes
                .iter()
                .any(|n| n.contains("cannot be read; its base was not checked")),
            "{:?}",
            conversion.notes
        );
    }
}
