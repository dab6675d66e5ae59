use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use slipway_core::Severity;
use slipway_lint::{RULES, Settings, lint_paths, output};

/// Check Dockerfiles, compose files, slipway.toml and the repository layout.
///
/// Exit status: 0 when clean or only warnings (1 with --strict), 1 on errors, 2 when an input
/// cannot be read or parsed.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway lint                         the project in this directory\n  slipway lint examples/shop --strict\n  slipway lint base/php/Dockerfile --format json\n  slipway lint --format sarif > slipway.sarif   for GitHub code scanning\n\nSilence one finding with a comment above it: `# slipway-ignore DF013: reason`;\na whole rule with `[lint] ignore = [\"DF013\"]` in slipway.toml."
)]
pub struct LintArgs {
    /// Project directories, Dockerfiles, compose files or slipway.toml files.
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,
    /// Report format.
    #[arg(long, short = 'f', visible_alias = "output", value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    strict: bool,
    /// Ignore a rule (repeatable), on top of slipway.toml's [lint] ignore.
    #[arg(long = "ignore", value_name = "RULE")]
    ignore: Vec<String>,
    /// List the rules and exit.
    #[arg(long)]
    list_rules: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
}

pub fn run(args: LintArgs, color: bool) -> Result<ExitCode> {
    if args.list_rules {
        print_rules(args.format)?;
        return Ok(ExitCode::SUCCESS);
    }
    let ignore: Vec<String> = args
        .ignore
        .iter()
        .map(|id| id.to_ascii_uppercase())
        .collect();
    for id in &ignore {
        if slipway_lint::rule(id).is_none() {
            let ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
            let hint = slipway_core::suggest::did_you_mean(id, ids.iter().copied())
                .unwrap_or_else(|| "`slipway lint --list-rules` lists them".into());
            anyhow::bail!("--ignore {id}: no lint rule has this ID; {hint}");
        }
    }
    let settings = Settings {
        ignore,
        ..Settings::default()
    };
    for path in &args.paths {
        if !path.exists() {
            anyhow::bail!("{}: no such file or directory", path.display());
        }
    }
    let report = lint_paths(&args.paths, &settings).context("lint could not read its input")?;
    let base = std::env::current_dir().context("cannot read the current directory")?;
    match args.format {
        Format::Text => print!("{}", output::text(&report, &base, color)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&output::json(&report, &base))?
        ),
        Format::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&output::sarif(&report, &base))?
        ),
    }
    let code = if report.unreadable {
        2
    } else if report.count(Severity::Error) > 0
        || (args.strict && report.count(Severity::Warning) > 0)
    {
        1
    } else {
        0
    };
    Ok(ExitCode::from(code))
}

fn print_rules(format: Format) -> Result<()> {
    if format == Format::Text {
        for rule in RULES {
            println!(
                "{}  {:<8} {:<26} {}",
                rule.id,
                rule.severity.as_str(),
                rule.name,
                rule.summary
            );
        }
    } else {
        let rules: Vec<_> = RULES
            .iter()
            .map(|r| serde_json::json!({ "id": r.id, "name": r.name, "severity": r.severity, "summary": r.summary, "help": r.help }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rules)?);
    }
    Ok(())
}
