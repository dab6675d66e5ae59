//! Validation against the published SARIF 2.1.0 JSON Schema. `scripts/test` fetches the schema
//! from a package registry and sets SLIPWAY_SARIF_SCHEMA and SLIPWAY_PYTHON (with jsonschema).

use std::io::Write;
use std::process::{Command, Stdio};

pub fn validate(document: &str) {
    let schema = std::env::var("SLIPWAY_SARIF_SCHEMA")
        .expect("SLIPWAY_SARIF_SCHEMA is not set: run the tests through scripts/test, which installs the SARIF schema");
    let python = std::env::var("SLIPWAY_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = crate::repo_root().join("scripts/validate-json-schema.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(&schema)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(document.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "SARIF does not validate against {schema}:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
