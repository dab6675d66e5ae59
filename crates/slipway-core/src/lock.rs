//! `slipway.lock`: every base pinned by digest, so app builds are reproducible. Written by
//! `slipway base update`, committed with the project.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The contents of `slipway.lock`: the digest each base is pinned to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Version of the file's format.
    pub version: u32,
    /// Base name → where it was resolved and its digest.
    #[serde(default)]
    pub bases: BTreeMap<String, LockedBase>,
}

/// One base as pinned in `slipway.lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedBase {
    /// Where it was resolved from, e.g. `127.0.0.1:5000/shop/base-python:stable`.
    pub reference: String,
    /// The manifest digest app builds use.
    pub digest: String,
}

const HEADER: &str = "# slipway.lock: the base images app builds use, pinned by digest.\n# Written by `slipway base update`; commit it.\n";

impl Lock {
    /// Reads `slipway.lock`'s text; the error is TOML's message.
    pub fn parse(text: &str) -> Result<Lock, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The file's text, with a header saying what it is and that it is committed.
    pub fn render(&self) -> String {
        format!(
            "{HEADER}{}",
            toml::to_string_pretty(self).expect("a lock serializes")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut lock = Lock {
            version: 1,
            ..Lock::default()
        };
        lock.bases.insert(
            "python".into(),
            LockedBase {
                reference: "r/shop/base-python:stable".into(),
                digest: "sha256:00".into(),
            },
        );
        assert_eq!(Lock::parse(&lock.render()).unwrap(), lock);
    }
}
