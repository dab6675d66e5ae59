//! Which files a lint run covers, what role each plays, and how settings shape the findings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use slipway_compose::yaml;
use slipway_core::manifest::{FieldPath, Manifest, RuleLevel, field_span, load_manifest};
use slipway_core::text::{NotText, decode_utf8};
use slipway_core::{Diagnostic, ManifestError, Severity, SourceLocation};

use crate::dockerfile_rules::{DockerfileContext, RawFinding, Role};
use crate::{LintError, compose_rules, dockerfile, dockerfile_rules, layout, rules};

/// Project-wide settings from `[lint]` of slipway.toml (and the command line).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Rule IDs not to report.
    pub ignore: Vec<String>,
    /// Rule ID → the severity it is reported at instead of its default (or off).
    pub levels: BTreeMap<String, RuleLevel>,
    /// What the Dockerfile rules know of the project.
    pub context: DockerfileContext,
}

impl Settings {
    /// The settings of `[lint]`, with the project's bases and registries.
    pub fn from_manifest(manifest: &Manifest) -> Settings {
        let official = manifest.official_registries();
        Settings {
            ignore: manifest.lint.ignore.clone(),
            levels: manifest
                .lint
                .severity
                .iter()
                .map(|(k, v)| (k.to_ascii_uppercase(), *v))
                .collect(),
            context: DockerfileContext {
                base_repositories: manifest.bases.values().map(|b| b.image.clone()).collect(),
                official_registries: official,
            },
        }
    }

    fn severity_of(&self, rule_id: &str) -> Option<Severity> {
        if self.ignore.iter().any(|i| i.eq_ignore_ascii_case(rule_id)) {
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

/// What `slipway lint` found.
#[derive(Debug, Default)]
pub struct LintReport {
    /// Every finding, each with its file, place and severity.
    pub diagnostics: Vec<Diagnostic>,
    /// How many files were checked.
    pub files_checked: usize,
    /// Some input could not be read or parsed (exit code 2).
    pub unreadable: bool,
    /// Sources by file, for code frames.
    pub sources: BTreeMap<PathBuf, String>,
}

impl LintReport {
    /// How many findings have `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dockerfile,
    Compose,
}

/// Lints files and project directories. A directory with a slipway.toml is checked as a
/// project (manifest, layout, every Dockerfile and compose file in it); other directories are
/// searched for Dockerfiles and compose files. A file or directory inside a project is checked
/// with that project's roles and `[lint]` settings.
pub fn lint_paths(paths: &[PathBuf], cli_settings: &Settings) -> Result<LintReport, LintError> {
    let mut report = LintReport::default();
    for path in paths {
        let is_manifest = path.file_name().is_some_and(|n| n == "slipway.toml");
        let start = if path.is_dir() {
            path.clone()
        } else {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        let project_root = find_project_root(&start);
        let at_root = project_root
            .as_ref()
            .is_some_and(|root| same_path(root, &start));
        // Manifest and layout findings belong to runs over the project itself.
        let report_project = (path.is_dir() && at_root) || is_manifest;
        let project = match &project_root {
            Some(root) => load_project(root, cli_settings, report_project.then_some(&mut report))?,
            None => Project {
                root: None,
                settings: cli_settings.clone(),
                roles: BTreeMap::new(),
            },
        };
        if path.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files);
            files.sort();
            for file in files {
                if let Some(kind) = classify(&file, false) {
                    lint_file(&file, kind, &project, &mut report)?;
                }
            }
        } else if !is_manifest {
            let kind = classify(path, true).unwrap_or(Kind::Dockerfile);
            lint_file(path, kind, &project, &mut report)?;
        }
    }
    report
        .diagnostics
        .sort_by(|a, b| (&a.file, &a.location, &a.rule).cmp(&(&b.file, &b.location, &b.rule)));
    report.diagnostics.dedup();
    Ok(report)
}

/// What a lint run knows about the project a file belongs to.
struct Project {
    root: Option<PathBuf>,
    settings: Settings,
    /// Dockerfile roles from slipway.toml, by absolute path.
    roles: BTreeMap<PathBuf, Role>,
}

impl Project {
    fn role_of(&self, given: &Path) -> Role {
        let file = absolute(given);
        if let Some(role) = self.roles.get(&file) {
            return *role;
        }
        // Only the part below the project counts: `/home/app/shop/Dockerfile` is not an app's.
        match &self.root {
            Some(root) => role_from_path(file.strip_prefix(root).unwrap_or(&file)),
            None => role_from_path(given),
        }
    }
}

fn find_project_root(start: &Path) -> Option<PathBuf> {
    let start = absolute(start);
    start
        .ancestors()
        .find(|dir| dir.join("slipway.toml").is_file())
        .map(Path::to_path_buf)
}

fn same_path(a: &Path, b: &Path) -> bool {
    absolute(a) == absolute(b)
}

fn absolute(path: &Path) -> PathBuf {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}

/// Reads the project's slipway.toml. Its problems (and the layout's) are added to `report`
/// when given; what could be read of it shapes the settings and roles either way, so one
/// mistake in the manifest does not switch off the rest of the checks.
fn load_project(
    root: &Path,
    cli_settings: &Settings,
    report: Option<&mut LintReport>,
) -> Result<Project, LintError> {
    let manifest_path = root.join("slipway.toml");
    let display_root = relative_display(root);
    let shown_manifest = display_root.join("slipway.toml");
    let source = match read_text(&manifest_path)? {
        Ok(source) => source,
        Err(not_text) => {
            // Nothing of it can be read, [lint] settings included: the run cannot be trusted
            // to mean what the project asked, so it fails (exit 2) instead of going on without.
            if let Some(report) = report {
                report.files_checked += 1;
                report.unreadable = true;
                push(
                    report,
                    cli_settings,
                    "MF000",
                    shown_manifest,
                    Some(SourceLocation::point(not_text.line, not_text.column)),
                    None,
                    format!("slipway.toml is not UTF-8 text: {}", not_text.message),
                    &[],
                );
            } else {
                return Err(LintError::NotText {
                    path: shown_manifest,
                    reason: not_text,
                });
            }
            return Ok(Project {
                root: None,
                settings: cli_settings.clone(),
                roles: BTreeMap::new(),
            });
        }
    };
    let mut findings: Vec<Diagnostic> = Vec::new();
    let (manifest, unreadable) = match load_manifest(&source) {
        Ok(manifest) => (Some(manifest), false),
        Err(error) => {
            findings.extend(error.diagnostics(&shown_manifest, &source));
            (
                error.partial().cloned(),
                matches!(error, ManifestError::Syntax { .. }),
            )
        }
    };
    let mut project = Project {
        root: Some(absolute(root)),
        settings: cli_settings.clone(),
        roles: BTreeMap::new(),
    };
    if let Some(manifest) = &manifest {
        project.settings = merge(cli_settings, Settings::from_manifest(manifest));
        for name in manifest.bases.keys() {
            project.roles.insert(
                absolute(&root.join(manifest.base_dockerfile(name))),
                Role::Base,
            );
        }
        for name in manifest.apps.keys() {
            if let Some(dockerfile) = manifest.app_dockerfile(name) {
                project
                    .roles
                    .insert(absolute(&root.join(dockerfile)), Role::App);
            }
            // Each environment's own Dockerfile builds the same app.
            for environment in manifest.apps[name].environments.keys() {
                if let Some((dockerfile, _, _)) = manifest.app_build_for(name, Some(environment)) {
                    project
                        .roles
                        .insert(absolute(&root.join(dockerfile)), Role::App);
                }
            }
        }
    }
    let Some(report) = report else {
        return Ok(project);
    };
    report.files_checked += 1;
    report.unreadable |= unreadable;
    for finding in findings {
        let help = finding.help.clone();
        let redacted = finding.redacted;
        push(
            report,
            &project.settings,
            &finding.rule,
            finding.file,
            finding.location,
            finding.field,
            finding.message,
            &[],
        );
        if let Some(last) = report.diagnostics.last_mut() {
            last.redacted |= redacted;
        }
        if let (Some(last), Some(help)) = (report.diagnostics.last_mut(), help) {
            last.help = Some(help);
        }
    }
    if let Some(manifest) = &manifest {
        let ids: Vec<&str> = rules::RULES.iter().map(|r| r.id).collect();
        for (field, id) in unknown_rule_ids(manifest) {
            let location =
                field_span(&source, &field).map(|span| SourceLocation::from_span(&source, span));
            let hint = crate::suggest_from(&id, &ids).map_or_else(
                || "`slipway lint --list-rules` lists the rule IDs".to_owned(),
                |s| format!("did you mean `{s}`?"),
            );
            push(
                report,
                &project.settings,
                "MF003",
                shown_manifest.clone(),
                location,
                Some(field.to_string()),
                format!("no lint rule has the ID `{id}`"),
                &[],
            );
            if let Some(last) = report.diagnostics.last_mut() {
                last.help = Some(hint);
            }
        }
        for finding in layout::check(root, manifest) {
            let file = display_root.join(&finding.file);
            let location = finding
                .field
                .as_ref()
                .and_then(|field| field_span(&source, field))
                .map(|span| SourceLocation::from_span(&source, span));
            push(
                report,
                &project.settings,
                finding.rule,
                file,
                location,
                finding.field.map(|f| f.to_string()),
                finding.message,
                &[],
            );
        }
    }
    report.sources.insert(shown_manifest, source);
    Ok(project)
}

/// `root` as the user would write it from the current directory.
fn relative_display(root: &Path) -> PathBuf {
    let cwd = std::env::current_dir()
        .map(|c| absolute(&c))
        .unwrap_or_default();
    match root.strip_prefix(&cwd) {
        Ok(relative) => relative.to_path_buf(),
        Err(_) => root.to_path_buf(),
    }
}

/// `[lint] ignore` and `[lint] severity` entries that name no rule.
fn unknown_rule_ids(manifest: &Manifest) -> Vec<(FieldPath, String)> {
    let lint = FieldPath::root().key("lint");
    let known = |id: &str| rules::rule(&id.to_ascii_uppercase()).is_some();
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

/// The file's text, or where and why it is not UTF-8 text (reported as a finding, not a
/// failure of the run).
fn read_text(path: &Path) -> Result<Result<String, NotText>, LintError> {
    let bytes = std::fs::read(path).map_err(|source| LintError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(decode_utf8(&bytes))
}

/// A file of the build context (taken as the Dockerfile's directory) named as COPY names it;
/// None for paths that leave the context, and for files that are missing, large or not text.
fn read_context_file(context_dir: &Path, relative: &str) -> Option<String> {
    let relative = Path::new(relative.trim_start_matches("./"));
    let inside = relative
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside {
        return None;
    }
    let path = context_dir.join(relative);
    let metadata = std::fs::metadata(&path).ok()?;
    if !metadata.is_file() || metadata.len() > 1024 * 1024 {
        return None;
    }
    std::fs::read_to_string(path).ok()
}

fn lint_file(
    path: &Path,
    kind: Kind,
    project: &Project,
    report: &mut LintReport,
) -> Result<(), LintError> {
    let settings = &project.settings;
    report.files_checked += 1;
    let source = match read_text(path)? {
        Ok(source) => source,
        Err(not_text) => {
            report.unreadable = true;
            let rule = if kind == Kind::Compose {
                "CP000"
            } else {
                "DF000"
            };
            push(
                report,
                settings,
                rule,
                path.to_path_buf(),
                Some(SourceLocation::point(not_text.line, not_text.column)),
                None,
                format!("not UTF-8 text: {}", not_text.message),
                &[],
            );
            return Ok(());
        }
    };
    match kind {
        Kind::Dockerfile => match dockerfile::parse(&source) {
            Ok(parsed) => {
                let context_dir = path.parent().unwrap_or(Path::new("."));
                let read_context_file = |relative: &str| read_context_file(context_dir, relative);
                for finding in dockerfile_rules::check_with_files(
                    &parsed,
                    project.role_of(path),
                    &settings.context,
                    &read_context_file,
                ) {
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
                let root = slipway_compose::resolve_extends(root);
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
                if let (Some(last), Some(help)) = (report.diagnostics.last_mut(), error.help) {
                    last.help = Some(help);
                }
            }
        },
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
        // These rules point at lines that hold a secret's value.
        redacted: matches!(rule_id, "DF011" | "CP005"),
    });
}

/// Dockerfiles found while walking: `Dockerfile`, `Containerfile`, `Dockerfile.<variant>` and
/// `<variant>.Dockerfile`; compose files: `docker-compose*.yml` and `compose*.yml`. A file named
/// on the command line is a compose file when it is YAML, a Dockerfile otherwise.
fn classify(path: &Path, named: bool) -> Option<Kind> {
    let name = path.file_name()?.to_str()?;
    let lower = name.to_ascii_lowercase();
    let yaml = lower.ends_with(".yml") || lower.ends_with(".yaml");
    if yaml && (named || lower.starts_with("docker-compose") || lower.starts_with("compose")) {
        return Some(Kind::Compose);
    }
    const NOT_DOCKERFILES: &[&str] = &[
        "rs", "go", "md", "py", "js", "ts", "txt", "json", "toml", "yml", "yaml", "sh", "snap",
        "orig", "bak", "swp",
    ];
    let variant_ok =
        |variant: &str| !NOT_DOCKERFILES.contains(&variant.to_ascii_lowercase().as_str());
    let dockerfile = lower == "dockerfile"
        || lower == "containerfile"
        || name.strip_prefix("Dockerfile.").is_some_and(variant_ok)
        || lower.ends_with(".dockerfile");
    (dockerfile || named).then_some(Kind::Dockerfile)
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
