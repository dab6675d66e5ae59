//! Which files a lint run covers, what role each plays, and how settings shape the findings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use slipway_compose::yaml;
use slipway_core::manifest::{FieldPath, Manifest, RuleLevel, field_span, load_manifest};
use slipway_core::{Diagnostic, ManifestError, Severity, SourceLocation};

use crate::dockerfile_rules::{DockerfileContext, RawFinding, Role};
use crate::{LintError, compose_rules, dockerfile, dockerfile_rules, layout, rules};

/// Project-wide settings from `[lint]` of slipway.toml (and the command line).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub ignore: Vec<String>,
    pub levels: BTreeMap<String, RuleLevel>,
    pub context: DockerfileContext,
}

impl Settings {
    pub fn from_manifest(manifest: &Manifest) -> Settings {
        let mut official = manifest.lint.official_registries.clone();
        for registry in manifest.registries.values() {
            if registry
                .mirror_of
                .iter()
                .any(|m| m == "docker.io" || m == "registry-1.docker.io")
            {
                official.push(format!("{}/library", registry.url.trim_end_matches('/')));
            }
        }
        Settings {
            ignore: manifest.lint.ignore.clone(),
            levels: manifest
                .lint
                .severity
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            context: DockerfileContext {
                base_repositories: manifest.bases.values().map(|b| b.image.clone()).collect(),
                official_registries: official,
            },
        }
    }

    fn severity_of(&self, rule_id: &str) -> Option<Severity> {
        if self.ignore.iter().any(|i| i == rule_id) {
            return None;
        }
        match self.levels.get(rule_id) {
            Some(RuleLevel::Off) => None,
            Some(RuleLevel::Error) => Some(Severity::Error),
            Some(RuleLevel::Warning) => Some(Severity::Warning),
            Some(RuleLevel::Info) => Some(Severity::Info),
            None => rules::rule(rule_id).map(|r| r.severity),
        }
    }
}

#[derive(Debug, Default)]
pub struct LintReport {
    pub diagnostics: Vec<Diagnostic>,
    pub files_checked: usize,
    /// Some input could not be read or parsed (exit code 2).
    pub unreadable: bool,
    /// Sources by file, for code frames.
    pub sources: BTreeMap<PathBuf, String>,
}

impl LintReport {
    pub fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dockerfile(Role),
    Compose,
    Manifest,
}

/// Lints files and project directories. A directory with a slipway.toml is checked as a
/// project (manifest, layout, every Dockerfile and compose file in it); other directories are
/// searched for Dockerfiles and compose files.
pub fn lint_paths(paths: &[PathBuf], base_settings: &Settings) -> Result<LintReport, LintError> {
    let mut report = LintReport::default();
    for path in paths {
        if path.is_dir() {
            lint_directory(path, base_settings, &mut report)?;
        } else {
            let kind = classify(path).unwrap_or(Kind::Dockerfile(role_from_path(path)));
            lint_file(path, kind, base_settings, &mut report)?;
        }
    }
    report
        .diagnostics
        .sort_by(|a, b| (&a.file, &a.location, &a.rule).cmp(&(&b.file, &b.location, &b.rule)));
    Ok(report)
}

fn lint_directory(
    dir: &Path,
    base_settings: &Settings,
    report: &mut LintReport,
) -> Result<(), LintError> {
    let manifest_path = dir.join("slipway.toml");
    let mut settings = base_settings.clone();
    let mut roles: BTreeMap<PathBuf, Role> = BTreeMap::new();
    if manifest_path.is_file() {
        let source = read(&manifest_path)?;
        report.files_checked += 1;
        match load_manifest(&source) {
            Ok(manifest) => {
                settings = merge(base_settings, Settings::from_manifest(&manifest));
                for name in manifest.bases.keys() {
                    roles.insert(
                        normalize(&dir.join(manifest.base_dockerfile(name))),
                        Role::Base,
                    );
                }
                for name in manifest.apps.keys() {
                    if let Some(dockerfile) = manifest.app_dockerfile(name) {
                        roles.insert(normalize(&dir.join(dockerfile)), Role::App);
                    }
                }
                for (field, id) in unknown_rule_ids(&manifest) {
                    let location = field_span(&source, &field)
                        .map(|span| SourceLocation::from_span(&source, span));
                    let ids: Vec<&str> = rules::RULES.iter().map(|r| r.id).collect();
                    let hint = crate::suggest_from(&id, &ids).map_or_else(
                        || "`slipway lint --list-rules` lists the rule IDs".to_owned(),
                        |s| format!("did you mean `{s}`?"),
                    );
                    push(
                        report,
                        &settings,
                        "MF003",
                        manifest_path.clone(),
                        location,
                        Some(field.to_string()),
                        format!("no lint rule has the ID `{id}`"),
                        &[],
                    );
                    if let Some(last) = report.diagnostics.last_mut() {
                        last.help = Some(hint);
                    }
                }
                for finding in layout::check(dir, &manifest) {
                    let file = dir.join(&finding.file);
                    let location = finding
                        .field
                        .as_ref()
                        .and_then(|field| field_span(&source, field))
                        .map(|span| SourceLocation::from_span(&source, span));
                    push(
                        report,
                        &settings,
                        finding.rule,
                        file,
                        location,
                        finding.field.map(|f| f.to_string()),
                        finding.message,
                        &[],
                    );
                }
            }
            Err(error) => {
                if matches!(error, ManifestError::Syntax { .. }) {
                    report.unreadable = true;
                }
                for diagnostic in error.diagnostics(&manifest_path, &source) {
                    push(
                        report,
                        &settings,
                        &diagnostic.rule,
                        diagnostic.file,
                        diagnostic.location,
                        diagnostic.field,
                        diagnostic.message,
                        &[],
                    );
                    if let (Some(last), Some(help)) =
                        (report.diagnostics.last_mut(), diagnostic.help)
                    {
                        last.help = Some(help);
                    }
                }
            }
        }
        report.sources.insert(manifest_path.clone(), source);
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    for file in files {
        let Some(kind) = classify(&file) else {
            continue;
        };
        let kind = match kind {
            Kind::Dockerfile(_) => Kind::Dockerfile(
                roles
                    .get(&normalize(&file))
                    .copied()
                    .unwrap_or_else(|| role_from_path(file.strip_prefix(dir).unwrap_or(&file))),
            ),
            Kind::Manifest => continue,
            other => other,
        };
        lint_file(&file, kind, &settings, report)?;
    }
    Ok(())
}

/// `[lint] ignore` and `[lint] severity` entries that name no rule.
fn unknown_rule_ids(manifest: &Manifest) -> Vec<(FieldPath, String)> {
    let lint = FieldPath::root().key("lint");
    let known = |id: &str| rules::rule(id).is_some();
    let ignored = manifest
        .lint
        .ignore
        .iter()
        .enumerate()
        .filter(|(_, id)| !known(id))
        .map(|(i, id)| (lint.key("ignore").index(i), id.clone()));
    let levels = manifest
        .lint
        .severity
        .keys()
        .filter(|id| !known(id))
        .map(|id| (lint.key("severity").key(id), id.clone()));
    ignored.chain(levels).collect()
}

fn merge(cli: &Settings, project: Settings) -> Settings {
    let mut merged = project;
    merged.ignore.extend(cli.ignore.iter().cloned());
    merged
        .levels
        .extend(cli.levels.iter().map(|(k, v)| (k.clone(), *v)));
    merged
        .context
        .official_registries
        .extend(cli.context.official_registries.iter().cloned());
    merged
}

fn lint_file(
    path: &Path,
    kind: Kind,
    settings: &Settings,
    report: &mut LintReport,
) -> Result<(), LintError> {
    let source = read(path)?;
    report.files_checked += 1;
    match kind {
        Kind::Dockerfile(role) => match dockerfile::parse(&source) {
            Ok(parsed) => {
                for finding in dockerfile_rules::check(&parsed, role, &settings.context) {
                    push_raw(report, settings, path, finding);
                }
            }
            Err(error) => {
                report.unreadable = true;
                push(
                    report,
                    settings,
                    "DF000",
                    path.to_path_buf(),
                    Some(SourceLocation::point(error.line, error.column)),
                    None,
                    error.message,
                    &[],
                );
                if let Some(last) = report.diagnostics.last_mut() {
                    last.help = Some(error.help);
                }
            }
        },
        Kind::Compose => match yaml::parse(&source) {
            Ok(root) => {
                for finding in compose_rules::check(&root, &source) {
                    push_raw(report, settings, path, finding);
                }
            }
            Err(error) => {
                report.unreadable = true;
                let location = error.pos.map(|p| SourceLocation::point(p.line, p.column));
                push(
                    report,
                    settings,
                    "CP000",
                    path.to_path_buf(),
                    location,
                    None,
                    error.message,
                    &[],
                );
            }
        },
        Kind::Manifest => {
            if let Err(error) = load_manifest(&source) {
                report.unreadable |= matches!(error, ManifestError::Syntax { .. });
                for d in error.diagnostics(path, &source) {
                    push(
                        report,
                        settings,
                        &d.rule,
                        d.file,
                        d.location,
                        d.field,
                        d.message,
                        &[],
                    );
                    if let (Some(last), Some(help)) = (report.diagnostics.last_mut(), d.help) {
                        last.help = Some(help);
                    }
                }
            }
        }
    }
    report.sources.insert(path.to_path_buf(), source);
    Ok(())
}

fn push_raw(report: &mut LintReport, settings: &Settings, path: &Path, finding: RawFinding) {
    let RawFinding {
        rule,
        line,
        column,
        message,
        suppressed,
    } = finding;
    push(
        report,
        settings,
        rule,
        path.to_path_buf(),
        Some(SourceLocation::point(line, column)),
        None,
        message,
        &suppressed,
    );
}

#[allow(clippy::too_many_arguments)]
fn push(
    report: &mut LintReport,
    settings: &Settings,
    rule_id: &str,
    file: PathBuf,
    location: Option<SourceLocation>,
    field: Option<String>,
    message: String,
    suppressed: &[String],
) {
    if suppressed.iter().any(|s| s == rule_id) {
        return;
    }
    let Some(rule) = rules::rule(rule_id) else {
        return;
    };
    // Problems that stop the input being read cannot be switched off.
    let severity = if rule_id.ends_with("000") {
        Some(Severity::Error)
    } else {
        settings.severity_of(rule_id)
    };
    let Some(severity) = severity else { return };
    report.diagnostics.push(Diagnostic {
        rule: rule.id.to_owned(),
        name: rule.name.to_owned(),
        severity,
        file,
        location,
        field,
        message,
        help: Some(rule.help.to_owned()),
    });
}

fn read(path: &Path) -> Result<String, LintError> {
    std::fs::read_to_string(path).map_err(|source| LintError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn normalize(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

fn classify(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_str()?;
    let lower = name.to_ascii_lowercase();
    if lower == "slipway.toml" {
        return Some(Kind::Manifest);
    }
    if lower == "dockerfile"
        || lower == "containerfile"
        || lower.starts_with("dockerfile.")
        || lower.ends_with(".dockerfile")
    {
        return Some(Kind::Dockerfile(Role::Other));
    }
    let yaml = lower.ends_with(".yml") || lower.ends_with(".yaml");
    if yaml && (lower.starts_with("docker-compose") || lower.starts_with("compose")) {
        return Some(Kind::Compose);
    }
    None
}

/// Without a manifest: a Dockerfile under `base/` is a base, under `app/` an app.
fn role_from_path(path: &Path) -> Role {
    let mut role = Role::Other;
    for component in path.components() {
        match component.as_os_str().to_str() {
            Some("base" | "bases") => role = Role::Base,
            Some("app" | "apps") => role = Role::App,
            _ => {}
        }
    }
    role
}

const SKIPPED_DIRS: &[&str] = &[
    ".git",
    "target",
    "node_modules",
    ".slipway",
    "vendor",
    ".venv",
    "venv",
    "__pycache__",
];

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            if !SKIPPED_DIRS.contains(&entry.file_name().to_str().unwrap_or_default()) {
                walk(&path, out);
            }
        } else if file_type.is_file() {
            out.push(path);
        }
    }
}
