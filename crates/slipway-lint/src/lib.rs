//! `slipway lint`: Dockerfiles, compose files, slipway.toml and the repository layout.

#![warn(missing_docs)]

pub mod compose_rules;
pub mod dockerfile_rules;
#[allow(missing_docs)]
pub mod image;
pub mod layout;
pub mod output;
pub mod rules;

mod project;

/// The Dockerfile parser the rules read, from `slipway-dockerfile`.
pub use slipway_dockerfile as dockerfile;
/// The shell splitter the rules read RUN scripts with, from `slipway-dockerfile`.
pub use slipway_dockerfile::shell;

pub use dockerfile_rules::{DockerfileContext, Role};
pub use project::{LintReport, Settings, lint_paths};
pub use rules::{RULES, Rule, rule};

/// Why `slipway lint` could not read its input.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The project's slipway.toml, read for a file inside the project, is not UTF-8 text.
    #[error("{path}:{}:{}: not UTF-8 text: {}", reason.line, reason.column, reason.message)]
    NotText {
        /// The file.
        path: std::path::PathBuf,
        /// Where the text stops being UTF-8.
        reason: slipway_core::text::NotText,
    },
}

/// The candidate closest to `input`, for did-you-mean hints.
pub(crate) fn suggest_from<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    slipway_core::suggest::closest(input, candidates.iter().copied())
}
