use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use slipway_compose::{ComposeSource, import};
use slipway_core::scaffold::{self, GITIGNORE, ScaffoldFile};

use super::Output;

/// Scaffold a project: slipway.toml, a pinned base Dockerfile, a working app, config
/// templates for dev, stage and prod, and a .gitignore.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway init shop\n  slipway init --from-compose docker-compose.yml --from-compose docker-compose.override.yml\n  slipway init . --name shop --force"
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
    let (files, notes) = if args.from_compose.is_empty() {
        (scaffold::files(&name), Vec::new())
    } else {
        from_compose(&name, &args.from_compose)?
    };

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
    let created = write_project(dir, &files)?;

    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "project": name, "created": created, "not_carried_over": notes })
            )?
        ),
        Output::Text => {
            for path in &created {
                println!("created {path}");
            }
            for note in &notes {
                eprintln!("not carried over: {note}");
            }
            println!(
                "\nNext: cd {} && slipway lint",
                shell_quote(&dir.display().to_string())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn from_compose(name: &str, paths: &[PathBuf]) -> Result<(Vec<ScaffoldFile>, Vec<String>)> {
    let mut sources = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        sources.push(ComposeSource {
            path: path.clone(),
            text,
        });
    }
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    let imported = import(name, &sources, &read)?;
    let manifest =
        toml::to_string_pretty(&imported.manifest).context("cannot write slipway.toml")?;
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
        contents: header + &manifest,
    }];
    for (path, contents) in imported.templates {
        files.push(ScaffoldFile { path, contents });
    }
    for env in scaffold::ENVIRONMENTS {
        let values = PathBuf::from(format!("config/{env}/values.toml"));
        files.push(ScaffoldFile {
            path: values,
            contents: format!(
                "# Non-secret values for the {env} templates (`{{{{ vars.NAME }}}}`).\n"
            ),
        });
    }
    Ok((files, imported.notes))
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
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
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
