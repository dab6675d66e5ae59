//! Types and decisions without I/O: the `slipway.toml` model and its validation, diagnostics
//! shared by every checker, and the scaffold of a new project.

pub mod diagnostic;
pub mod lock;
pub mod manifest;
pub mod scaffold;
pub mod suggest;
pub mod time;

pub use diagnostic::{Diagnostic, Severity, SourceLocation};
pub use manifest::{Manifest, ManifestError, load_manifest};
