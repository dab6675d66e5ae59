//! Types and decisions without I/O: the `slipway.toml` model and its validation, diagnostics
//! shared by every checker, and the scaffold of a new project; and the one file helper every
//! store shares (`private`: state only its owner reads).

pub mod diagnostic;
pub mod lock;
pub mod manifest;
pub mod private;
pub mod scaffold;
pub mod suggest;
pub mod terminal;
pub mod time;

pub use diagnostic::{Diagnostic, Severity, SourceLocation};
pub use manifest::{Manifest, ManifestError, load_manifest};
