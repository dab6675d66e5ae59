//! Block-style YAML from a JSON value, for files people read and CI systems parse: mappings
//! keep their order, strings are plain where YAML 1.1 and 1.2 read them back the same, else
//! double-quoted (JSON's escapes are YAML's), and multi-line strings are literal blocks.

use serde::Serialize;
use serde_json::Value;

/// `value` as a YAML document (no `---`), ending in a newline: the CI files' types serialize
/// through serde's data model, in their fields' order.
pub(crate) fn to_yaml<T: Serialize>(value: &T) -> String {
    let value = serde_json::to_value(value)
        .expect("the CI files' types have text keys and serialize without failing");
    value_to_yaml(&value)
}

fn value_to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => mapping(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => sequence(&mut out, items, 0),
        scalar => {
            out.push_str(&inline(scalar, 0));
            out.push('\n');
        }
    }
    out
}

fn mapping(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (index, (key, value)) in map.iter().enumerate() {
        // The first key of a mapping inside a sequence item sits after the `- `.
        if index > 0 || !out.ends_with("- ") {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&key_text(key));
        out.push(':');
        entry(out, value, indent);
    }
}

fn sequence(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => mapping(out, map, indent + 2),
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                sequence(out, inner, indent + 2);
            }
            scalar => {
                out.push_str(&inline(scalar, indent + 2));
                out.push('\n');
            }
        }
    }
}

/// What follows `key:`: a nested block on the next lines, or a scalar on the same one.
fn entry(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            mapping(out, map, indent + 2);
        }
        // Sequences under a key are indented, as GitHub's and GitLab's documentation write them.
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            sequence(out, items, indent + 2);
        }
        scalar => {
            out.push(' ');
            out.push_str(&inline(scalar, indent + 2));
            out.push('\n');
        }
    }
}

fn inline(value: &Value, indent: usize) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        Value::String(s) if s.contains('\n') && literal_block_fits(s) => {
            let chomp = if s.ends_with('\n') { "|" } else { "|-" };
            let mut text = chomp.to_owned();
            for line in s.trim_end_matches('\n').split('\n') {
                text.push('\n');
                if !line.is_empty() {
                    text.push_str(&" ".repeat(indent));
                    text.push_str(line);
                }
            }
            text
        }
        Value::String(s) if plain(s) => s.clone(),
        Value::String(s) => quoted(s),
    }
}

/// A literal block cannot start with a space-led line (it would set the indentation) or carry
/// tabs or trailing blanks that a reader would lose.
fn literal_block_fits(s: &str) -> bool {
    !s.trim_start_matches('\n').starts_with(' ')
        && !s.contains('\t')
        && !s.contains('\r')
        && !s.ends_with("\n\n")
        && s.split('\n').all(|line| line == line.trim_end())
}

/// `s` double-quoted: JSON's escapes, and YAML's for DEL and the C1 controls, which JSON
/// leaves bare and YAML does not allow.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in Value::String(s.to_owned()).to_string().chars() {
        if c == '\u{7f}' || ('\u{80}'..='\u{9f}').contains(&c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn key_text(key: &str) -> String {
    let simple = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '.' || c == '$')
        && !key.ends_with(':')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '$' | ':'));
    if simple { key.to_owned() } else { quoted(key) }
}

/// Whether `s` reads back as this same string when written bare.
fn plain(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
    ];
    let Some(first) = s.chars().next() else {
        return false;
    };
    if RESERVED.contains(&s.to_ascii_lowercase().as_str()) {
        return false;
    }
    // Anything number-like (1, 1.5, 0x1f, .inf, 1e3, 08:30) stays a string only when quoted.
    if first.is_ascii_digit() || matches!(first, '.' | '+' | '-') && s.len() > 1 {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if s.starts_with(' ')
        || s.ends_with(' ')
        || s.ends_with(':')
        || s.contains(": ")
        || s.contains(" #")
    {
        return false;
    }
    !s.chars().any(|c| c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_mappings_and_sequences_are_block_style() {
        let value = json!({
            "on": { "push": { "branches": ["main"], "paths": ["app/**", "!docs/**"] } },
            "jobs": { "build": { "steps": [
                { "uses": "actions/checkout@v4", "with": { "fetch-depth": 0 } },
                { "name": "build", "run": "slipway build" },
                { "run": "echo one\necho two\n" },
            ], "needs": [] } }
        });
        assert_eq!(
            to_yaml(&value),
            r#"on:
  push:
    branches:
      - main
    paths:
      - app/**
      - "!docs/**"
jobs:
  build:
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - name: build
        run: slipway build
      - run: |
          echo one
          echo two
    needs: []
"#
        );
    }

    #[test]
    fn strings_that_would_read_back_otherwise_are_quoted() {
        for (text, written) in [
            ("yes", "\"yes\""),
            ("On", "\"On\""),
            ("1.10", "\"1.10\""),
            ("08:30", "\"08:30\""),
            ("", "\"\""),
            ("a: b", "\"a: b\""),
            ("run # now", "\"run # now\""),
            ("*.md", "\"*.md\""),
            (
                "$CI_COMMIT_BRANCH == \"main\"",
                "$CI_COMMIT_BRANCH == \"main\"",
            ),
            ("${{ secrets.TOKEN }}", "${{ secrets.TOKEN }}"),
            ("slipway deploy prod --yes", "slipway deploy prod --yes"),
            (" leading", "\" leading\""),
            ("del\u{7f}", "\"del\\u007f\""),
        ] {
            assert_eq!(
                to_yaml(&json!({ "k": text })),
                format!("k: {written}\n"),
                "{text}"
            );
        }
    }
}
