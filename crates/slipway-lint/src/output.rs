//! Report formats: text with code frames, JSON for scripts, SARIF 2.1.0 for code scanning.

use std::path::Path;

use serde_json::{Value, json};
use slipway_core::{Diagnostic, Severity};

use crate::LintReport;
use crate::rules::RULES;

const DOCS_BASE: &str = "https://slipway.dev/docs/rules";

fn display_path(path: &Path, base: &Path) -> String {
    let relative = path.strip_prefix(base).unwrap_or(path);
    let clean: std::path::PathBuf = relative
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    clean.to_string_lossy().replace('\\', "/")
}

fn relocated(diagnostic: &Diagnostic, base: &Path) -> Diagnostic {
    let mut d = diagnostic.clone();
    d.file = display_path(&diagnostic.file, base).into();
    d
}

/// The report for a terminal: each finding with its code frame, paths relative to `base`.
pub fn text(report: &LintReport, base: &Path, color: bool) -> String {
    let mut out = String::new();
    for diagnostic in &report.diagnostics {
        let source = report.sources.get(&diagnostic.file).map(String::as_str);
        out.push_str(&relocated(diagnostic, base).render(source, color));
        out.push('\n');
    }
    out.push_str(&summary(report));
    out.push('\n');
    out
}

/// One line: how many errors, warnings and notes in how many files.
pub fn summary(report: &LintReport) -> String {
    let (errors, warnings, infos) = (
        report.count(Severity::Error),
        report.count(Severity::Warning),
        report.count(Severity::Info),
    );
    let files = report.files_checked;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    if errors + warnings + infos == 0 {
        format!("clean: {} checked, no findings", plural(files, "file"))
    } else {
        format!(
            "{}, {}, {} in {}",
            plural(errors, "error"),
            plural(warnings, "warning"),
            plural(infos, "info"),
            plural(files, "file")
        )
    }
}

/// The report as JSON, for scripts.
pub fn json(report: &LintReport, base: &Path) -> Value {
    let findings: Vec<Value> = report
        .diagnostics
        .iter()
        .map(|d| {
            let mut value =
                serde_json::to_value(relocated(d, base)).expect("diagnostics serialize");
            if let Some(object) = value.as_object_mut() {
                object.remove("end_line");
                object.remove("end_column");
            }
            value
        })
        .collect();
    json!({
        "files_checked": report.files_checked,
        "findings": findings,
        "errors": report.count(Severity::Error),
        "warnings": report.count(Severity::Warning),
        "infos": report.count(Severity::Info),
    })
}

/// SARIF locations are URIs: everything but unreserved characters and `/` is escaped.
fn percent_encode(path: &str) -> String {
    let mut out = String::new();
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// The report as SARIF 2.1.0, for code-scanning services.
pub fn sarif(report: &LintReport, base: &Path) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "name": rule.name,
                "shortDescription": { "text": rule.summary },
                "fullDescription": { "text": format!("{}. {}", rule.summary, rule.help) },
                "help": { "text": rule.help, "markdown": format!("{}\n\n[{}]({DOCS_BASE}/{}.md)", rule.help, rule.id, rule.id) },
                "helpUri": format!("{DOCS_BASE}/{}.md", rule.id),
                "defaultConfiguration": { "level": sarif_level(rule.severity) },
                "properties": { "tags": [rule.id[..2].to_owned()] },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .diagnostics
        .iter()
        .map(|d| {
            let rule_index = RULES.iter().position(|r| r.id == d.rule).unwrap_or(0);
            let mut physical = json!({
                "artifactLocation": { "uri": percent_encode(&display_path(&d.file, base)), "uriBaseId": "%SRCROOT%" },
            });
            if let Some(loc) = &d.location {
                physical["region"] = json!({ "startLine": loc.line, "startColumn": loc.column });
            }
            let mut message = d.message.clone();
            if let Some(help) = &d.help {
                message.push_str(". ");
                message.push_str(help);
            }
            json!({
                "ruleId": d.rule,
                "ruleIndex": rule_index,
                "level": sarif_level(d.severity),
                "message": { "text": message },
                "locations": [{ "physicalLocation": physical }],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "slipway",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://slipway.dev",
                "rules": rules,
            }},
            "originalUriBaseIds": { "%SRCROOT%": { "uri": format!("file://{}/", percent_encode(&base.to_string_lossy())) } },
            "results": results,
        }],
    })
}
