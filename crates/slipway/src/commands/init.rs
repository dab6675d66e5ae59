use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use indexmap::IndexMap;
use slipway_compose::{ComposeSource, adopt, import};
use slipway_core::manifest::{Base, Manifest, Registry};
use slipway_core::scaffold::{self, GITIGNORE, ScaffoldFile};

use super::Output;

/// Scaffold a project: slipway.toml, a pinned base Dockerfile, a working app, config
/// templates for dev, stage and prod, and a .gitignore.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway init shop\n  slipway init --from-compose docker-compose.yml --from-compose docker-compose.override.yml\n  slipway init --from-compose docker-compose.yml --registry registry.example.internal:5000 --mirror-of docker.io --pin --adopt-bases --loopback-ports\n  slipway init . --name shop --force"
)]
pub struct InitArgs {
    /// Directory of the project (created if missing).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Project name; default the directory's name.
    #[arg(long)]
    name: Option<String>,
    /// Convert existing compose files (later files override earlier ones, as with `docker compose -f`).
    #[arg(long = "from-compose", value_name = "FILE")]
    from_compose: Vec<PathBuf>,
    /// With --from-compose: the team's registry (`host[:port][/prefix]`), written as
    /// `[registries.main]`; bases are pushed there and --pin resolves images through it.
    #[arg(long, value_name = "HOST", requires = "from_compose")]
    registry: Option<String>,
    /// With --registry: registries it mirrors (e.g. `docker.io`), so their images resolve through it.
    #[arg(long = "mirror-of", value_name = "REGISTRY", requires = "registry")]
    mirror_of: Vec<String>,
    /// With --from-compose: resolve each image without a tag or with `latest` to its current
    /// tag and digest through the registry that serves it.
    #[arg(long, requires = "from_compose")]
    pin: bool,
    /// With --from-compose: put each app whose Dockerfile builds FROM a public image on a
    /// project base: writes base/<name>/Dockerfile FROM that image and changes the app's FROM
    /// to `${SLIPWAY_BASE}` (this changes your Dockerfiles; needs --registry).
    #[arg(long, requires = "from_compose")]
    adopt_bases: bool,
    /// With --from-compose: publish the compose files' ports on 127.0.0.1 (this changes your
    /// compose files).
    #[arg(long, requires = "from_compose")]
    loopback_ports: bool,
    /// Overwrite files that already exist.
    #[arg(long)]
    force: bool,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub fn run(args: InitArgs) -> Result<ExitCode> {
    let dir = &args.dir;
    let dir_name = std::path::absolute(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "app".into());
    let name = match &args.name {
        Some(name) => {
            let valid = scaffold::project_name_from(name);
            if &valid != name {
                bail!(
                    "project name `{name}` must be lower-case letters, digits and `-`; try `--name {valid}`"
                );
            }
            valid
        }
        None => scaffold::project_name_from(&dir_name),
    };
    let conversion = if args.from_compose.is_empty() {
        Conversion {
            files: scaffold::files(&name),
            ..Conversion::default()
        }
    } else {
        from_compose(&name, &args)?
    };
    let files = &conversion.files;

    let existing: Vec<&ScaffoldFile> = files
        .iter()
        .filter(|f| dir.join(&f.path).exists())
        .collect();
    if !existing.is_empty() && !args.force {
        let list: Vec<String> = existing
            .iter()
            .map(|f| dir.join(&f.path).display().to_string())
            .collect();
        bail!(
            "refusing to overwrite existing files (use --force to replace them):\n  {}",
            list.join("\n  ")
        );
    }
    let created = write_project(dir, files)?;
    let mut changed = Vec::new();
    for (path, contents) in &conversion.changed {
        write_file(path, contents)?;
        changed.push(path.display().to_string());
    }
    let notes = &conversion.notes;
    let edits = &conversion.edits;
    let to_pin: Vec<String> = conversion
        .to_pin
        .iter()
        .map(|(field, image, why)| format!("{field}: {image} ({why})"))
        .collect();
    let pin_command = (!to_pin.is_empty()).then(|| pin_command(&args));

    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "project": name,
                "created": created,
                "changed": changed,
                "not_carried_over": notes,
                "edits_to_make": edits,
                "images_to_pin": to_pin,
                "pin_command": pin_command,
            }))?
        ),
        Output::Text => {
            for path in &created {
                println!("created {path}");
            }
            for path in conversion.changed.keys() {
                println!("changed {}", path.display());
                for why in conversion.change_reasons.get(path).into_iter().flatten() {
                    println!("  {why}");
                }
            }
            for note in notes {
                eprintln!("note: {note}");
            }
            if !edits.is_empty() {
                eprintln!("\nEdits to make in your files (init does not change them):");
                for edit in edits {
                    eprintln!("  {edit}");
                }
            }
            if let Some(command) = &pin_command {
                eprintln!("\nImages to pin (slipway runs no image without a fixed tag):");
                for line in &to_pin {
                    eprintln!("  {line}");
                }
                eprintln!("Pin them all with:\n  {command}");
            }
            println!(
                "\nNext: cd {} && slipway lint",
                shell_quote(&dir.display().to_string())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a conversion writes and reports.
#[derive(Default)]
struct Conversion {
    /// New files, relative to the project.
    files: Vec<ScaffoldFile>,
    /// The user's files changed with consent (--adopt-bases, --loopback-ports), and why.
    changed: IndexMap<PathBuf, String>,
    change_reasons: IndexMap<PathBuf, Vec<String>>,
    notes: Vec<String>,
    edits: Vec<String>,
    /// (field, image, why it is not pinned yet)
    to_pin: Vec<(String, String, String)>,
}

/// The same init again, resolving the images (and overwriting what it wrote).
fn pin_command(args: &InitArgs) -> String {
    let mut words = vec!["slipway".to_owned(), "init".to_owned()];
    words.push(shell_quote(&args.dir.display().to_string()));
    if let Some(name) = &args.name {
        words.extend(["--name".to_owned(), shell_quote(name)]);
    }
    for file in &args.from_compose {
        words.extend([
            "--from-compose".to_owned(),
            shell_quote(&file.display().to_string()),
        ]);
    }
    match &args.registry {
        Some(registry) => words.extend(["--registry".to_owned(), shell_quote(registry)]),
        None => words.extend(["--registry".to_owned(), "<your registry>".to_owned()]),
    }
    let mirrors = if args.mirror_of.is_empty() && args.registry.is_none() {
        vec!["docker.io".to_owned()]
    } else {
        args.mirror_of.clone()
    };
    for mirror in mirrors {
        words.extend(["--mirror-of".to_owned(), shell_quote(&mirror)]);
    }
    for (set, flag) in [
        (args.adopt_bases, "--adopt-bases"),
        (args.loopback_ports, "--loopback-ports"),
    ] {
        if set {
            words.push(flag.to_owned());
        }
    }
    words.extend(["--pin".to_owned(), "--force".to_owned()]);
    words.join(" ")
}

fn from_compose(name: &str, args: &InitArgs) -> Result<Conversion> {
    let paths = &args.from_compose;
    let mut sources = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        sources.push(ComposeSource {
            path: path.clone(),
            text,
        });
    }
    if args.adopt_bases && args.registry.is_none() {
        bail!("--adopt-bases needs --registry HOST: bases are built and pushed to a registry");
    }
    let compose_dir = paths
        .first()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    let imported = import(name, &sources, &read)?;
    let mut manifest = imported.manifest;
    let mut conversion = Conversion {
        notes: imported.notes,
        ..Conversion::default()
    };
    if let Some(url) = &args.registry {
        manifest.registries.insert(
            "main".into(),
            Registry {
                url: url.clone(),
                mirror_of: args.mirror_of.clone(),
                ..Registry::default()
            },
        );
        manifest.project.registry = Some("main".into());
    }

    // Bases: each app Dockerfile FROM a public image moves onto a base, or is named.
    let mut base_files: Vec<ScaffoldFile> = Vec::new();
    let mut texts: IndexMap<PathBuf, String> = IndexMap::new();
    let mut base_of_file: IndexMap<PathBuf, String> = IndexMap::new();
    // Each app's Dockerfile, then the other Dockerfiles its environments build from
    // (`Dockerfile.prod`): an app has one base, so they all move onto the same one.
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
    for (app_name, relative, target, variant) in dockerfiles {
        let path = compose_dir.join(&relative);
        let text = match texts.get(&path) {
            Some(text) => text.clone(),
            None => match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(_) => {
                    conversion.notes.push(format!("app `{app_name}`: its Dockerfile `{relative}` cannot be read; its base was not checked"));
                    continue;
                }
            },
        };
        let bases: Vec<String> = manifest.bases.values().map(|b| b.image.clone()).collect();
        match adopt::adopt(&text, target.as_deref(), &bases) {
            Ok(adoption) if args.adopt_bases => {
                let base_name = match manifest.bases.iter().find(|(_, b)| {
                    b.build_args.get("FROM_IMAGE") == Some(&adoption.image)
                }) {
                    Some((existing, _)) => existing.clone(),
                    None => {
                        let official = slipway_lint::Settings::from_manifest(&manifest)
                            .context
                            .official_registries;
                        if slipway_lint::image::parse(&adoption.image)
                            .is_some_and(|image| !slipway_lint::image::is_official(&image, &official))
                        {
                            let registry = adoption.image.split('/').next().unwrap_or_default();
                            conversion.edits.push(format!(
                                "slipway.toml: a base builds FROM `{}`, which is not an official image (DF001): if it is your registry's copy of one, add `official_registries = [\"{registry}\"]` under [lint]; otherwise change its base/<name>/Dockerfile to build FROM the official image it is made from",
                                adoption.image
                            ));
                        }
                        let mut base_name = adopt::base_name_for(&adoption.image);
                        while manifest.bases.contains_key(&base_name) {
                            base_name.push_str("-2");
                        }
                        manifest.bases.insert(
                            base_name.clone(),
                            Base {
                                image: format!("{name}/base-{base_name}"),
                                tags: vec!["stable".into(), "{date}-{git_sha}".into()],
                                build_args: [("FROM_IMAGE".to_owned(), adoption.image.clone())]
                                    .into_iter()
                                    .collect(),
                                ..Base::default()
                            },
                        );
                        base_name
                    }
                };
                set_base(&mut manifest, &app_name, &relative, variant, &base_name);
                conversion.change_reasons.entry(path.clone()).or_default().push(format!(
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
                    set_base(&mut manifest, &app_name, &relative, variant, base);
                }
            }
            Err(adopt::Skip::Unresolved(image)) => conversion.notes.push(format!(
                "app `{app_name}`: its Dockerfile builds FROM `{image}`, which depends on a build argument without a default; its base was not adopted"
            )),
            Err(adopt::Skip::Scratch | adopt::Skip::NoFrom) => {}
        }
    }

    // Pinning: services' images and the images the new bases build FROM.
    let mut to_resolve: Vec<(String, String)> = Vec::new();
    for (service_name, service) in &manifest.services {
        if let Some(image) = &service.image
            && slipway_oci::pin::is_unpinned(image)
        {
            to_resolve.push((format!("services.{service_name}.image"), image.clone()));
        }
    }
    for (base_name, base) in &manifest.bases {
        // A base's FROM also gains its digest when --pin can reach a registry.
        if let Some(image) = base.build_args.get("FROM_IMAGE")
            && (slipway_oci::pin::is_unpinned(image) || (args.pin && !image.contains('@')))
        {
            to_resolve.push((format!("base/{base_name}/Dockerfile FROM"), image.clone()));
        }
    }
    let mut pinned: IndexMap<String, String> = IndexMap::new();
    if args.pin && !to_resolve.is_empty() {
        let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        for (field, image) in &to_resolve {
            match runtime.block_on(slipway_oci::pin::pin(&manifest, image)) {
                Ok(reference) => {
                    pinned.insert(image.clone(), reference);
                }
                // A fixed tag without its digest still runs; only moving ones are listed.
                Err(why) if slipway_oci::pin::is_unpinned(image) => {
                    conversion.to_pin.push((field.clone(), image.clone(), why))
                }
                Err(_) => {}
            }
        }
    } else {
        for (field, image) in to_resolve {
            conversion
                .to_pin
                .push((field, image, "pin it with --pin".into()));
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
    let mut compose_texts: IndexMap<PathBuf, String> = sources
        .iter()
        .map(|s| (s.path.clone(), s.text.clone()))
        .collect();
    for edit in imported.edits {
        let applied = args
            .loopback_ports
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
    let manifest_text = toml::to_string_pretty(&manifest).context("cannot write slipway.toml")?;
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
    for (path, contents) in imported.templates {
        files.push(ScaffoldFile { path, contents });
    }
    for env in scaffold::ENVIRONMENTS {
        let values = PathBuf::from(format!("config/{env}/values.toml"));
        let mut contents =
            format!("# Non-secret values for the {env} templates (`{{{{ vars.NAME }}}}`).\n");
        if let Some(imported_values) = imported.values.get(*env) {
            contents.push_str("# From the compose project's .env file.\n");
            let table: toml::Table = imported_values
                .iter()
                .map(|(k, v)| (k.clone(), toml::Value::String(v.clone())))
                .collect();
            contents.push_str(&toml::to_string(&table).context("cannot write values.toml")?);
        }
        files.push(ScaffoldFile {
            path: values,
            contents,
        });
    }
    conversion.files = files;
    Ok(conversion)
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

/// Writes the project's files and merges its .gitignore: all of them or, when one fails (a
/// full disk), none of the files and directories this run created (files it replaced with
/// `--force` keep their new contents).
fn write_project(dir: &Path, files: &[ScaffoldFile]) -> Result<Vec<String>> {
    let mut new_paths: Vec<PathBuf> = Vec::new();
    let mut created = Vec::new();
    let mut write_all = || -> Result<()> {
        for file in files {
            let path = dir.join(&file.path);
            let mut missing = Vec::new();
            for ancestor in path.ancestors().skip(1) {
                if ancestor.as_os_str().is_empty() || ancestor.exists() {
                    break;
                }
                missing.push(ancestor.to_path_buf());
            }
            let existed = path.exists();
            new_paths.extend(missing.into_iter().rev());
            let result = write_file(&path, &file.contents);
            if !existed && path.exists() {
                new_paths.push(path.clone());
            }
            result?;
            created.push(path.display().to_string());
        }
        let gitignore = dir.join(".gitignore");
        let existed = gitignore.exists();
        if merge_gitignore(&gitignore)? {
            if !existed {
                new_paths.push(gitignore.clone());
            }
            created.push(gitignore.display().to_string());
        }
        Ok(())
    };
    if let Err(error) = write_all() {
        for path in new_paths.iter().rev() {
            let _ = std::fs::remove_file(path).or_else(|_| std::fs::remove_dir(path));
        }
        return Err(error);
    }
    Ok(created)
}

/// Writes through a temporary file so an interrupted run leaves no half-written file.
fn write_file(path: &Path, contents: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    slipway_core::files::write_atomic(path, slipway_core::files::SHARED, contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn shell_quote(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Adds the lines slipway needs to a .gitignore, keeping the user's; true when it wrote.
fn merge_gitignore(path: &Path) -> Result<bool> {
    let current = std::fs::read_to_string(path).unwrap_or_default();
    let missing: Vec<&str> = GITIGNORE
        .lines()
        .filter(|line| !current.lines().any(|l| l.trim() == line.trim()))
        .collect();
    if missing.iter().all(|l| l.starts_with('#') || l.is_empty()) {
        return Ok(false);
    }
    let mut text = current.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&missing.join("\n"));
    text.push('\n');
    write_file(path, &text)?;
    Ok(true)
}
