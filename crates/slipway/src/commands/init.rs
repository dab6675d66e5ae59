use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use slipway_compose::ComposeSource;
use slipway_compose::convert::{self, Conversion};
use slipway_core::scaffold::{self, ScaffoldFile};

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
    let created = scaffold::write_project(dir, files)?;
    let mut changed = Vec::new();
    for (path, contents) in &conversion.changed {
        scaffold::write_file(path, contents)?;
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
    let mut sources = Vec::new();
    for path in &args.from_compose {
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
    let options = convert::Options {
        registry: args.registry.clone(),
        mirror_of: args.mirror_of.clone(),
        pin: args.pin,
        adopt_bases: args.adopt_bases,
        loopback_ports: args.loopback_ports,
    };
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    let draft = convert::draft(name, &sources, &options, &read)?;
    let resolved = if args.pin && !draft.to_resolve().is_empty() {
        let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        let results = draft
            .to_resolve()
            .iter()
            .map(|(_, image)| runtime.block_on(slipway_oci::pin::pin(draft.manifest(), image)))
            .collect();
        Some(results)
    } else {
        None
    };
    Ok(draft.finish(resolved)?)
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
