pub mod base;
pub mod build;
pub mod completions;
pub mod images;
pub mod init;
pub mod lint;
pub mod project;
pub mod promote;
pub mod push;
pub mod schema;

/// `--output text|json` for commands a script may read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    #[default]
    Text,
    Json,
}
