use std::process::ExitCode;

use anyhow::Result;

/// Print the JSON Schema of slipway.toml, for editor completion.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway schema > .slipway.schema.json\n  # Taplo / Even Better TOML: add `#:schema ./.slipway.schema.json` as the first line of slipway.toml"
)]
pub struct SchemaArgs {}

pub fn run(_: SchemaArgs) -> Result<ExitCode> {
    let schema = slipway_core::manifest::json_schema();
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitCode::SUCCESS)
}
