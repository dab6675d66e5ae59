//! Every rule against the project's corpus: each `bad-*` file must produce the rule exactly on
//! the instructions marked `# expect RULE`, each `good-*` file must not produce it at all.

use std::path::{Path, PathBuf};

use slipway_compose::yaml;
use slipway_lint::dockerfile_rules::{RawFinding, check_with_files};
use slipway_lint::{DockerfileContext, Role, compose_rules, dockerfile};

fn corpus(kind: &str) -> PathBuf {
    manifest_dir().join("../../tests/corpus").join(kind)
}

/// Lines that `# expect RULE` comments point at: the next line that is neither blank nor a
/// comment.
fn expected_lines(source: &str, rule: &str) -> Vec<usize> {
    let lines: Vec<&str> = source.lines().collect();
    let mut expected = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim().strip_prefix("# expect") else {
            continue;
        };
        if !rest.split([' ', ',']).any(|id| id.trim() == rule) {
            continue;
        }
        let target = lines[index + 1..]
            .iter()
            .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        expected
            .push(index + 1 + target.expect("an expect comment is followed by an instruction") + 1);
    }
    expected
}

/// Findings for a corpus file whose build context is its directory (entrypoint scripts of
/// DF010/DF025 cases live next to them).
fn dockerfile_findings(path: &Path, source: &str) -> Vec<RawFinding> {
    let role = match source.lines().next().unwrap_or_default().trim() {
        "# role: base" => Role::Base,
        "# role: app" => Role::App,
        _ => Role::Other,
    };
    let context = DockerfileContext {
        base_repositories: vec!["shop/base-python".into(), "shop/base-nginx".into()],
        official_registries: vec!["127.0.0.1:5000/library".into()],
    };
    let parsed = dockerfile::parse(source).unwrap_or_else(|e| panic!("parse error {e}"));
    let context_dir = path.parent().unwrap();
    let read = |relative: &str| std::fs::read_to_string(context_dir.join(relative)).ok();
    check_with_files(&parsed, role, &context, &read)
        .into_iter()
        .filter(|f| !f.suppressed.iter().any(|s| s == f.rule))
        .collect()
}

fn cases(kind: &str, extension: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for rule_dir in std::fs::read_dir(corpus(kind))
        .expect("corpus exists")
        .flatten()
    {
        let rule = rule_dir.file_name().to_string_lossy().into_owned();
        if !rule.chars().next().is_some_and(|c| c.is_ascii_uppercase()) || !rule_dir.path().is_dir()
        {
            continue;
        }
        for file in std::fs::read_dir(rule_dir.path()).unwrap().flatten() {
            if file.path().extension().is_some_and(|e| e == extension) {
                out.push((rule.clone(), file.path()));
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no {kind} corpus found");
    out
}

fn check_case(
    rule: &str,
    path: &Path,
    source: &str,
    findings: &[RawFinding],
    failures: &mut Vec<String>,
) {
    let name = path.file_name().unwrap().to_string_lossy();
    let mut found: Vec<usize> = findings
        .iter()
        .filter(|f| f.rule == rule)
        .map(|f| f.line)
        .collect();
    found.sort();
    found.dedup();
    if name.starts_with("bad") {
        let mut expected = expected_lines(source, rule);
        expected.sort();
        if expected.is_empty() {
            failures.push(format!(
                "{}: a bad case without `# expect {rule}`",
                path.display()
            ));
        } else if found != expected {
            failures.push(format!(
                "{}: {rule} expected on lines {expected:?}, found on {found:?}",
                path.display()
            ));
        }
    } else if !found.is_empty() {
        failures.push(format!(
            "{}: {rule} must not fire, but fired on lines {found:?}",
            path.display()
        ));
    }
}

#[test]
fn dockerfile_rules_match_the_corpus() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (rule, path) in cases("dockerfile", "Dockerfile") {
        let source = std::fs::read_to_string(&path).unwrap();
        if rule == "DF000" {
            match dockerfile::parse(&source) {
                Ok(_) => failures.push(format!("{}: should not parse", path.display())),
                Err(error) => {
                    if expected_lines(&source, "DF000") != vec![error.line] {
                        failures.push(format!(
                            "{}: parse error reported on line {}",
                            path.display(),
                            error.line
                        ));
                    }
                }
            }
            checked += 1;
            continue;
        }
        let findings = match dockerfile::parse(&source) {
            Ok(_) => dockerfile_findings(&path, &source),
            Err(e) => {
                failures.push(format!("{}: unexpected parse error {e}", path.display()));
                continue;
            }
        };
        check_case(&rule, &path, &source, &findings, &mut failures);
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn compose_rules_match_the_corpus() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (rule, path) in cases("compose", "yml") {
        let source = std::fs::read_to_string(&path).unwrap();
        let root = match yaml::parse(&source) {
            Ok(root) => root,
            Err(e) => {
                failures.push(format!("{}: unexpected YAML error {e}", path.display()));
                continue;
            }
        };
        let findings: Vec<RawFinding> = compose_rules::check(&root, &source)
            .into_iter()
            .filter(|f| !f.suppressed.iter().any(|s| s == f.rule))
            .collect();
        check_case(&rule, &path, &source, &findings, &mut failures);
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn realistic_dockerfiles_parse() {
    let dir = corpus("dockerfile").join("real");
    let mut count = 0;
    for file in std::fs::read_dir(dir).unwrap().flatten() {
        let source = std::fs::read_to_string(file.path()).unwrap();
        dockerfile::parse(&source).unwrap_or_else(|e| panic!("{}: {e}", file.path().display()));
        count += 1;
    }
    assert!(count >= 10, "only {count} realistic Dockerfiles");
}

#[test]
fn every_rule_has_a_page_with_its_default_severity() {
    let docs = manifest_dir().join("../../docs/rules");
    let index = std::fs::read_to_string(docs.join("README.md")).unwrap();
    for rule in slipway_lint::RULES {
        let page = std::fs::read_to_string(docs.join(format!("{}.md", rule.id)))
            .unwrap_or_else(|_| panic!("docs/rules/{}.md is missing", rule.id));
        assert!(
            page.starts_with(&format!("# {} {}", rule.id, rule.name)),
            "{}: title",
            rule.id
        );
        assert!(
            page.contains(&format!("**Severity:** {} (default)", rule.severity)),
            "{}: page severity",
            rule.id
        );
        assert!(
            index.contains(&format!("| {} | {} |", rule.name, rule.severity)),
            "{}: index row",
            rule.id
        );
    }
}

/// The package's directory as the test runner gives it when it runs the test: a test binary
/// reused from a cached target directory may have been compiled in another checkout.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
