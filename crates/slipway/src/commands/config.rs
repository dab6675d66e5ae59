use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use slipway_config::write;

use super::Output;
use super::project::Project;

/// Render, check, explain and compare each environment's env files (config/<env>/*.env.j2).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway config render dev                    write .slipway/config/dev/*.env (mode 0600)\n  slipway config check                         every environment renders (for CI)\n  slipway config check --timeout 10m\n  slipway config explain stage                 every key, its value (secrets masked) and source\n  slipway config diff stage prod\n  slipway config render dev --set GREETING=hi"
)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
    #[arg(long, default_value = ".", global = true)]
    project: PathBuf,
    /// `NAME=VALUE`, above every other source (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", global = true)]
    set: Vec<String>,
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    output: Output,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Write the environment's env files into the state dir.
    Render { environment: String },
    /// Render every environment in memory; fail on any missing key.
    Check {
        /// Give up after this long (a `cmd:` secret source or AWS that does not answer), as
        /// the pipelines' `checks` step relies on.
        #[arg(long, default_value = "5m", value_parser = parse_timeout)]
        timeout: std::time::Duration,
    },
    /// Show every key, its value (secrets masked) and where it came from.
    Explain { environment: String },
    /// Show keys that differ between two environments, or exist in one only.
    Diff { a: String, b: String },
}

fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    slipway_core::manifest::Duration::parse(text).map(|d| d.0)
}

pub fn run(args: ConfigArgs) -> Result<ExitCode> {
    let project = Project::find(&args.project)?;
    let mut set = BTreeMap::new();
    for pair in &args.set {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("--set {pair}: write NAME=VALUE"))?;
        set.insert(name.to_owned(), value.to_owned());
    }
    let manifest = &project.manifest;
    let check_environment = |name: &str| -> Result<()> {
        if !manifest.environments.contains_key(name) {
            let known: Vec<&str> = manifest.environments.keys().map(String::as_str).collect();
            let hint = slipway_core::suggest::did_you_mean(name, known.iter().copied())
                .unwrap_or_else(|| format!("environments: {}", known.join(", ")));
            bail!("no environment `{name}` in slipway.toml; {hint}");
        }
        Ok(())
    };
    match &args.command {
        ConfigCommand::Render { environment } => {
            check_environment(environment)?;
            let rendered = project.render_config(environment, set.clone())?;
            let written = write(
                &rendered,
                &project.root,
                &project.state_dir().join("config").join(environment),
            )?;
            match args.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&written)?),
                Output::Text => {
                    for path in written {
                        println!(
                            "wrote {} (mode 0600)",
                            path.strip_prefix(&project.root).unwrap_or(&path).display()
                        );
                    }
                }
            }
        }
        ConfigCommand::Check { timeout } => {
            let timeout = *timeout;
            std::thread::spawn(move || {
                std::thread::sleep(timeout);
                eprintln!(
                    "error: config check did not finish within {}s (a `cmd:` secret source or AWS that does not answer?); raise it with --timeout",
                    timeout.as_secs()
                );
                std::process::exit(2);
            });
            let mut failures = Vec::new();
            for environment in manifest.environments.keys() {
                match project.render_config(environment, set.clone()) {
                    Ok(rendered) => {
                        if args.output == Output::Text {
                            println!("{environment}: {} file(s) render", rendered.files.len());
                        }
                    }
                    Err(error) => failures.push(format!("{environment}: {error}")),
                }
            }
            if !failures.is_empty() {
                bail!("{}", failures.join("\n"));
            }
        }
        ConfigCommand::Explain { environment } => {
            check_environment(environment)?;
            let rendered = project.render_config(environment, set.clone())?;
            let mut rows = Vec::new();
            for file in &rendered.files {
                for (key, (_, sources)) in &file.keys {
                    let from: Vec<String> = sources
                        .iter()
                        .map(|(name, origin)| format!("{name} from {origin}"))
                        .collect();
                    let value = rendered.shown(file, key).unwrap_or_default();
                    rows.push(serde_json::json!({ "file": file.name, "key": rendered.mask(key), "value": value, "from": from }));
                }
            }
            match args.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                Output::Text => {
                    for row in rows {
                        let from = row["from"]
                            .as_array()
                            .map(|f| {
                                f.iter()
                                    .filter_map(|v| v.as_str())
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            })
                            .unwrap_or_default();
                        let from = if from.is_empty() {
                            "the template".to_owned()
                        } else {
                            from
                        };
                        println!(
                            "{} {}={}    ({from})",
                            row["file"].as_str().unwrap_or_default(),
                            row["key"].as_str().unwrap_or_default(),
                            row["value"].as_str().unwrap_or_default()
                        );
                    }
                }
            }
        }
        ConfigCommand::Diff { a, b } => {
            check_environment(a)?;
            check_environment(b)?;
            let left = project.render_config(a, set.clone())?;
            let right = project.render_config(b, set.clone())?;
            let differences = slipway_config::diff(&left, &right);
            match args.output {
                Output::Json => {
                    let rows: Vec<_> = differences.iter().map(|(file, key, l, r)| serde_json::json!({ "file": file, "key": key, a: l, b: r })).collect();
                    println!("{}", serde_json::to_string_pretty(&rows)?);
                }
                Output::Text => {
                    for (file, key, l, r) in &differences {
                        let show =
                            |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".into());
                        println!("{file} {key}\n  {a}: {}\n  {b}: {}", show(l), show(r));
                    }
                    if differences.is_empty() {
                        println!("no differences");
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
