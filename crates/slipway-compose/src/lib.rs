//! docker-compose files: a located YAML tree for linting, and the conversion of a compose
//! project into slipway.toml.

pub mod import;
pub mod yaml;

pub use import::{ComposeError, ComposeSource, Imported, import};
