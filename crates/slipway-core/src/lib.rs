//! Types and decisions without I/O: the `slipway.toml` model and its validation, diagnostics
//! shared by every checker, deciding whether bytes are text, and the scaffold of a new
//! project; plus the one function every file is written through (`files`), the one helper
//! every store shares (`private`: state only its owner reads) and the escaping of outside text
//! on terminals (`terminal`).

#![warn(missing_docs)]

pub mod diagnostic;
pub mod files;
pub mod html;
pub mod lock;
pub mod manifest;
pub mod pipeline;
pub mod plan;
pub mod private;
pub mod project;
pub mod scaffold;
pub mod schedule;
pub mod suggest;
pub mod terminal;
pub mod text;
pub mod time;

pub use diagnostic::{Diagnostic, Severity, SourceLocation};
pub use manifest::{Manifest, ManifestError, load_manifest};
pub use project::{EnvironmentRef, Project};
