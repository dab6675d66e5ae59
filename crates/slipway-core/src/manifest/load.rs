use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::DeTable;

use super::Manifest;
use super::path::{FieldPath, Segment, locate, remove};
use super::validate::validate;
use crate::diagnostic::{Diagnostic, Severity, SourceLocation};
use crate::suggest;

/// What is wrong with one place of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What kind of problem, which decides its rule ID.
    pub kind: ProblemKind,
    /// The value at the location is a secret: never shown.
    pub secret: bool,
    /// The field the problem is at, e.g. `environments.prod.strategy.kind`.
    pub path: FieldPath,
    /// Byte range of the offending text in the file, when it can be found.
    pub span: Option<Range<usize>>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, e.g. the key that was probably meant.
    pub help: Option<String>,
}

/// The kinds of problem a manifest can have, each reported under its own rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// The text is not valid TOML.
    Syntax,
    /// A key slipway.toml does not have at that place.
    UnknownKey,
    /// A value of the wrong type (a string where a table belongs).
    WrongType,
    /// A value of the right type that the key does not allow.
    BadValue,
    /// A name that refers to nothing defined (an unknown registry, app or channel).
    DanglingReference,
    /// A file or directory named by the manifest that does not exist.
    MissingPath,
}

impl ProblemKind {
    /// The rule ID and rule name the problem is reported under, e.g. `("MF001", "unknown-key")`.
    pub fn rule(self) -> (&'static str, &'static str) {
        match self {
            ProblemKind::Syntax => ("MF000", "manifest-syntax"),
            ProblemKind::UnknownKey => ("MF001", "unknown-key"),
            ProblemKind::WrongType => ("MF002", "wrong-type"),
            ProblemKind::BadValue => ("MF003", "bad-value"),
            ProblemKind::DanglingReference => ("MF004", "dangling-reference"),
            ProblemKind::MissingPath => ("MF005", "missing-path"),
        }
    }
}

impl Problem {
    /// The problem as a diagnostic of `file`, located in its text `source`.
    pub fn to_diagnostic(&self, file: &Path, source: &str) -> Diagnostic {
        let (rule, name) = self.kind.rule();
        Diagnostic {
            rule: rule.into(),
            name: name.into(),
            severity: Severity::Error,
            file: file.to_path_buf(),
            location: self
                .span
                .clone()
                .map(|span| SourceLocation::from_span(source, span)),
            field: (!self.path.is_root()).then(|| self.path.to_string()),
            message: self.message.clone(),
            help: self.help.clone(),
            redacted: self.secret,
        }
    }
}

/// Why slipway.toml could not be loaded: every problem found, each located.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The text is not TOML; nothing could be checked beyond that.
    #[error("slipway.toml is not valid TOML ({} problem(s))", problems.len())]
    Syntax {
        /// Every syntax error found.
        problems: Vec<Problem>,
    },
    /// The TOML does not describe a valid project. `partial` is what could be read once the
    /// offending parts were cut out, so callers can still act on the rest.
    #[error("slipway.toml has {} problem(s)", problems.len())]
    Invalid {
        /// Every problem found.
        problems: Vec<Problem>,
        /// What could be read once the offending parts were cut out.
        partial: Option<Box<Manifest>>,
    },
    /// A project's slipway.toml with problems: the file and its text, so each problem is shown
    /// where it is ([`ManifestError::located_diagnostics`]).
    #[error("{} has {} problem(s); `slipway lint` shows them all", path.display(), error.problems().len())]
    Located {
        /// The file.
        path: std::path::PathBuf,
        /// Its text.
        text: String,
        /// What is wrong in it (not its source: this error's message already says it, and a
        /// chain printed cause by cause would say it twice).
        error: Box<ManifestError>,
    },
    /// No slipway.toml at or above the directory a project was looked for in.
    #[error("no slipway.toml in {} or above it: run `slipway init` first", start.display())]
    NotFound {
        /// Where the search started.
        start: std::path::PathBuf,
    },
    /// A project file that cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// slipway.toml is not UTF-8 text (UTF-16, Latin-1, binary).
    #[error("{}:{line}:{column}: slipway.toml is not UTF-8 text: {message}", path.display())]
    NotText {
        /// The file.
        path: std::path::PathBuf,
        /// 1-based line of the first byte that is not text.
        line: usize,
        /// 1-based column of that byte.
        column: usize,
        /// What the file is and what to do.
        message: String,
    },
    /// A directory of a new project's files cannot be created.
    #[error("cannot create {}", path.display())]
    CreateDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A project file cannot be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// slipway.lock cannot be read as a lock file.
    #[error("{}: {message}", path.display())]
    Lock {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An environment name that slipway.toml does not define.
    #[error("no environment `{name}` in slipway.toml; {hint}")]
    UnknownEnvironment {
        /// The name asked for.
        name: String,
        /// The closest name, or the list of names.
        hint: String,
    },
}

impl ManifestError {
    /// The problems found in the text (none for a file that could not be read or found).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ManifestError::Syntax { problems } | ManifestError::Invalid { problems, .. } => {
                problems
            }
            ManifestError::Located { error, .. } => error.problems(),
            ManifestError::NotFound { .. }
            | ManifestError::Read { .. }
            | ManifestError::CreateDir { .. }
            | ManifestError::Write { .. }
            | ManifestError::NotText { .. }
            | ManifestError::Lock { .. }
            | ManifestError::UnknownEnvironment { .. } => &[],
        }
    }

    /// Each problem of a [`ManifestError::Located`] error, located in its file (none for the
    /// other kinds, which say everything in their message).
    pub fn located_diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            ManifestError::Located { path, text, error } => error.diagnostics(path, text),
            _ => Vec::new(),
        }
    }

    /// The parts of the manifest that could be read despite the problems.
    pub fn partial(&self) -> Option<&Manifest> {
        match self {
            ManifestError::Invalid { partial, .. } => partial.as_deref(),
            ManifestError::Located { error, .. } => error.partial(),
            _ => None,
        }
    }

    /// Every problem as a diagnostic of `file`, located in its text `source`.
    pub fn diagnostics(&self, file: &Path, source: &str) -> Vec<Diagnostic> {
        self.problems()
            .iter()
            .map(|p| p.to_diagnostic(file, source))
            .collect()
    }
}

/// Cap on the retry loop, far above any real file's count of problems.
const MAX_STRUCTURAL_PROBLEMS: usize = 200;

/// Parses and validates a manifest, reporting every problem at once.
pub fn load_manifest(source: &str) -> Result<Manifest, ManifestError> {
    let (root, syntax_errors) = DeTable::parse_recoverable(source);
    if !syntax_errors.is_empty() {
        let problems = syntax_errors
            .into_iter()
            .map(|error| Problem {
                secret: false,
                kind: ProblemKind::Syntax,
                path: FieldPath::root(),
                span: error.span(),
                message: first_line(error.message()),
                help: Some("fix the TOML syntax; see docs/manifest.md for the format".into()),
            })
            .collect::<Vec<_>>();
        let mut problems = problems;
        problems.dedup();
        return Err(ManifestError::Syntax { problems });
    }

    let (manifest, mut problems, cut) = deserialize_collecting(&root);
    if let Some(manifest) = &manifest {
        problems.extend(validate(manifest, &root, &cut));
    }
    problems.sort_by_key(|p| p.span.as_ref().map_or(usize::MAX, |s| s.start));
    problems.dedup();
    match manifest {
        Some(manifest) if problems.is_empty() => Ok(manifest),
        partial => Err(ManifestError::Invalid {
            problems,
            partial: partial.map(Box::new),
        }),
    }
}

/// The manifest with the offending parts cut out, the problems found, and the paths cut.
fn deserialize_collecting(
    original: &Spanned<DeTable<'_>>,
) -> (Option<Manifest>, Vec<Problem>, HashSet<FieldPath>) {
    let mut root = original.clone();
    let mut problems = Vec::new();
    let mut removed: HashSet<FieldPath> = HashSet::new();
    for _ in 0..MAX_STRUCTURAL_PROBLEMS {
        let deserializer = toml::de::Deserializer::from(root.clone());
        let error = match serde_path_to_error::deserialize::<_, Manifest>(deserializer) {
            Ok(manifest) => return (Some(manifest), problems, removed),
            Err(error) => error,
        };
        let path = FieldPath::from_serde(error.path());
        let inner = error.into_inner();
        let message = first_line(inner.message());
        let outcome = classify(&message, &path, inner.span(), original, &removed);
        let target = outcome.remove.clone();
        if let Some(problem) = outcome.problem {
            problems.push(problem);
        }
        if !remove(&mut root, &target) {
            // Nothing left to cut out (the root itself is wrong): stop here.
            break;
        }
        removed.insert(target);
    }
    (None, problems, removed)
}

struct Outcome {
    problem: Option<Problem>,
    remove: FieldPath,
}

fn classify(
    message: &str,
    path: &FieldPath,
    span: Option<Range<usize>>,
    root: &Spanned<DeTable<'_>>,
    removed: &HashSet<FieldPath>,
) -> Outcome {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = split_expected(rest);
        // The path may or may not already end with the unknown key.
        let key_path = match path.0.last() {
            Some(Segment::Key(k)) if k == &field => path.clone(),
            _ => path.key(&field),
        };
        let span = locate(root, &key_path).and_then(|(k, _)| k).or(span);
        let help =
            suggest::did_you_mean(&field, expected.iter().map(String::as_str)).or_else(|| {
                (!expected.is_empty())
                    .then(|| format!("allowed keys here: {}", expected.join(", ")))
            });
        return Outcome {
            problem: Some(Problem {
                secret: false,
                kind: ProblemKind::UnknownKey,
                path: key_path.clone(),
                span,
                message: format!("unknown key `{field}`"),
                help,
            }),
            remove: key_path,
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default().to_owned();
        let parent = path.clone();
        let field_path = parent.key(&field);
        let typo_of_it = removed
            .iter()
            .any(|cut| cut.parent().as_ref() == Some(&parent) && cut != &field_path);
        if removed.contains(&field_path) || typo_of_it {
            // Already reported as wrong; drop the whole entry silently.
            return Outcome {
                problem: None,
                remove: parent,
            };
        }
        let span = locate(root, &parent).map(|(k, v)| k.unwrap_or(v));
        return Outcome {
            problem: Some(Problem {
                secret: false,
                kind: ProblemKind::BadValue,
                path: field_path,
                span,
                message: format!("missing required key `{field}`"),
                help: Some(format!(
                    "add `{field} = ...` here; see docs/manifest.md for what it takes"
                )),
            }),
            remove: parent,
        };
    }
    let located = locate(root, path);
    let value_span = located.as_ref().map(|(_, v)| v.clone()).or(span);
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (variant, expected) = split_expected(rest);
        // Internally tagged enums report at their table, also for a value deeper inside it
        // (serde buffers the table): point at the value itself, `kind` first.
        let kind_path = path.key("kind");
        let found = if root_text_is(root, &kind_path, &variant) {
            Some(kind_path)
        } else {
            text_under(root, path, &variant)
        };
        let (path_shown, span) = match found.and_then(|p| locate(root, &p).map(|(_, v)| (p, v))) {
            Some((found, found_span)) => (found, Some(found_span)),
            None => (path.clone(), value_span),
        };
        let what = variant_noun(&path_shown);
        let help = allowed_values_help(&variant, &expected);
        let message = format!("unknown {what} `{variant}`");
        return Outcome {
            problem: Some(Problem {
                secret: false,
                kind: ProblemKind::BadValue,
                path: path_shown,
                span,
                message,
                help,
            }),
            remove: path.clone(),
        };
    }
    if message.starts_with("data did not match any variant") {
        // A value that may take several forms took none of them; serde names only its type.
        // Inside a target's table serde reports at the table: the hosts are the only such value.
        let hosts_path = path.key("hosts");
        let (path, value_span) = match locate(root, &hosts_path) {
            Some((_, hosts_span)) => (&hosts_path, Some(hosts_span)),
            None => (path, value_span),
        };
        let under_hosts = path
            .0
            .iter()
            .any(|segment| matches!(segment, Segment::Key(key) if key == "hosts"));
        let help = if under_hosts {
            "expected a Docker host URL such as \"ssh://deploy@host\", or a table like \
             `{ url = \"ssh://deploy@host\", publish = \"8090\" }`"
                .to_owned()
        } else {
            format!("expected one of the forms docs/manifest.md describes for `{path}`")
        };
        return Outcome {
            problem: Some(Problem {
                secret: false,
                kind: ProblemKind::WrongType,
                path: path.clone(),
                span: value_span,
                message: "wrong type: this value takes none of the forms allowed here".into(),
                help: Some(help),
            }),
            remove: path.clone(),
        };
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let help = rest
            .split_once(", expected ")
            .map(|(_, expected)| format!("expected {}", friendly_type(expected)));
        return Outcome {
            problem: Some(Problem {
                secret: false,
                kind: ProblemKind::WrongType,
                path: path.clone(),
                span: value_span,
                message: format!(
                    "wrong type: {}",
                    friendly_found(rest.split(", expected").next().unwrap_or(rest))
                ),
                help,
            }),
            remove: path.clone(),
        };
    }
    Outcome {
        problem: Some(Problem {
            secret: false,
            kind: ProblemKind::BadValue,
            path: path.clone(),
            span: value_span,
            message: message.to_owned(),
            help: None,
        }),
        remove: path.clone(),
    }
}

/// What a user calls the value of an enum field, e.g. `strategy` for `...strategy.kind`.
fn variant_noun(path: &FieldPath) -> String {
    let keys: Vec<&str> = path
        .0
        .iter()
        .filter_map(|s| match s {
            Segment::Key(k) => Some(k.as_str()),
            Segment::Index(_) => None,
        })
        .collect();
    match keys.as_slice() {
        [.., "strategy" | "target", "kind"] => keys[keys.len() - 2].to_owned(),
        ["notifications", _, "kind"] => "notification kind".into(),
        ["pipelines", _, "kind"] => "pipeline kind".into(),
        ["lint", "severity", _] => "level".into(),
        [.., "events"] => "event".into(),
        [.., last] => (*last).to_owned(),
        [] => "value".into(),
    }
}

/// "did you mean `x`? allowed values: a, b, c", the suggestion only for a near miss.
fn allowed_values_help(input: &str, allowed: &[String]) -> Option<String> {
    if allowed.is_empty() {
        return None;
    }
    let listed = allowed
        .iter()
        .map(|value| format!("`{value}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(
        match suggest::did_you_mean(input, allowed.iter().map(String::as_str)) {
            Some(suggestion) => format!("{suggestion} allowed values: {listed}"),
            None => format!("allowed values: {listed}"),
        },
    )
}

/// The path of the first string equal to `text` in the node at `path` (itself included).
fn text_under(root: &Spanned<DeTable<'_>>, path: &FieldPath, text: &str) -> Option<FieldPath> {
    fn search(value: &toml::de::DeValue<'_>, path: FieldPath, text: &str) -> Option<FieldPath> {
        match value {
            toml::de::DeValue::String(s) if s.as_ref() == text => Some(path),
            toml::de::DeValue::Table(table) => table
                .iter()
                .find_map(|(key, value)| search(value.get_ref(), path.key(key.get_ref()), text)),
            toml::de::DeValue::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                let mut item_path = path.clone();
                item_path.0.push(Segment::Index(i));
                search(item.get_ref(), item_path, text)
            }),
            _ => None,
        }
    }
    let mut node = toml::de::DeValue::Table(root.get_ref().clone());
    for segment in &path.0 {
        node = match (&node, segment) {
            (toml::de::DeValue::Table(table), Segment::Key(key)) => table
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == key)?
                .1
                .get_ref()
                .clone(),
            (toml::de::DeValue::Array(items), Segment::Index(i)) => {
                items.get(*i)?.get_ref().clone()
            }
            _ => return None,
        };
    }
    search(&node, path.clone(), text)
}

fn root_text_is(root: &Spanned<DeTable<'_>>, path: &FieldPath, expected: &str) -> bool {
    let mut table = root.get_ref();
    let Some((last, parents)) = path.0.split_last() else {
        return false;
    };
    for segment in parents {
        let Segment::Key(key) = segment else {
            return false;
        };
        match table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, v)| v.get_ref())
        {
            Some(toml::de::DeValue::Table(t)) => table = t,
            _ => return false,
        }
    }
    let Segment::Key(key) = last else {
        return false;
    };
    matches!(
        table.iter().find(|(k, _)| k.get_ref().as_ref() == key).map(|(_, v)| v.get_ref()),
        Some(toml::de::DeValue::String(s)) if s.as_ref() == expected
    )
}

/// Splits "x`, expected one of `a`, `b`" into ("x", ["a", "b"]).
fn split_expected(rest: &str) -> (String, Vec<String>) {
    let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
    let expected = tail
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    (name.to_owned(), expected)
}

/// serde's type names in words a person editing TOML uses.
fn friendly_type(expected: &str) -> String {
    match expected.trim() {
        "u8" => "a whole number from 0 to 255".into(),
        "u16" => "a whole number up to 65535, without quotes".into(),
        "u32" | "u64" | "usize" => "a whole number (no quotes)".into(),
        "a boolean" => "`true` or `false` (no quotes)".into(),
        "a sequence" => "an array, e.g. [\"a\", \"b\"]".into(),
        "a map" => "a table, e.g. { key = \"value\" }".into(),
        "a string" | "string" => "text (in quotes)".into(),
        other if other.starts_with("struct ") || other.starts_with("internally tagged enum") => {
            "a table".into()
        }
        other if other.starts_with("enum ") || other.starts_with("variant identifier") => {
            "one of its allowed values, in quotes".into()
        }
        other => other
            .replace("a sequence", "an array")
            .replace("a map", "a table")
            .replace("a string", "text"),
    }
}

/// What serde found, e.g. `string "8000"`, in a TOML editor's words.
fn friendly_found(found: &str) -> String {
    match found.strip_prefix("string ") {
        Some(text) => format!("text {text}"),
        None => found.replace("map", "table").replace("sequence", "array"),
    }
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_owned()
}
