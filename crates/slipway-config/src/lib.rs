//! Config templates → env files. Each environment's `config/<env>/<name>.env.j2` is a minijinja
//! template rendered strictly (an undefined value is an error) with:
//! - `environment` and `project`;
//! - `vars.NAME`: from `--set NAME=...`, else the process environment, else the environment's
//!   `values.toml`, else the template's own `| default(...)`;
//! - `secret.NAME`: from `--set`, else the source named in `[environments.<env>.secrets]`
//!   (`env:VAR`, `file:PATH`, `cmd:COMMAND`).
//!
//! Secret values are never part of an error; explanations and diffs mask them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use minijinja::{Environment, UndefinedBehavior, context};
use slipway_core::Manifest;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no environment `{0}` in slipway.toml")]
    UnknownEnvironment(String),
    #[error("{}", missing_message(.0))]
    Missing(Vec<MissingKey>),
    #[error("{file}:{line}: {message}")]
    Template {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("secret `{name}` ({source_ref}): {message}")]
    Secret {
        name: String,
        source_ref: String,
        message: String,
    },
    #[error("{path}: {message}")]
    Values { path: PathBuf, message: String },
    #[error(
        "{0} is tracked by git: rendered env files hold secrets and never go into a tracked path"
    )]
    Tracked(PathBuf),
}

fn missing_message(missing: &[MissingKey]) -> String {
    let lines: Vec<String> = missing
        .iter()
        .map(|m| {
            format!(
                "  {}:{}: `{}.{}` has no value ({})",
                m.file.display(),
                m.line,
                m.namespace,
                m.key,
                m.hint
            )
        })
        .collect();
    format!("{} missing key(s):\n{}", missing.len(), lines.join("\n"))
}

/// A template reference with no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingKey {
    pub file: PathBuf,
    pub line: usize,
    pub namespace: String,
    pub key: String,
    pub hint: String,
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Set,
    ProcessEnvironment,
    Secret(String),
    ValuesFile(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Set => f.write_str("--set"),
            Origin::ProcessEnvironment => f.write_str("process environment"),
            Origin::Secret(source) => write!(f, "secret {source}"),
            Origin::ValuesFile(path) => write!(f, "{}", path.display()),
        }
    }
}

/// One rendered env file.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// e.g. `api.env`
    pub name: String,
    pub template: PathBuf,
    pub text: String,
    /// KEY → (value, the variables it was made from).
    pub keys: BTreeMap<String, (String, Vec<(String, Origin)>)>,
}

#[derive(Debug, Clone)]
pub struct RenderedEnvironment {
    pub environment: String,
    pub files: Vec<Rendered>,
    /// Values of secrets used, for masking.
    secrets: Vec<String>,
    /// Secret name → value, for the secrets apps and services receive as files
    /// (`secret_files`); never written with the env files.
    secret_files: BTreeMap<String, String>,
}

impl RenderedEnvironment {
    /// The same secrets (for masking) with other files: a release's config as it was deployed.
    pub fn with_files(&self, files: Vec<(String, String)>) -> RenderedEnvironment {
        RenderedEnvironment {
            environment: self.environment.clone(),
            files: files
                .into_iter()
                .map(|(name, text)| Rendered {
                    template: PathBuf::from(&name),
                    name,
                    text,
                    keys: BTreeMap::new(),
                })
                .collect(),
            secrets: self.secrets.clone(),
            // Secrets are rotated apart from releases: a release started again gets today's.
            secret_files: self.secret_files.clone(),
        }
    }

    /// The value of a secret delivered as a file (`secret_files`), by the secret's name.
    pub fn secret_file(&self, name: &str) -> Option<&str> {
        self.secret_files.get(name).map(String::as_str)
    }

    /// No files: for commands that only read what runs (status), never start anything.
    pub fn empty(environment: &str) -> RenderedEnvironment {
        RenderedEnvironment {
            environment: environment.to_owned(),
            files: Vec::new(),
            secrets: Vec::new(),
            secret_files: BTreeMap::new(),
        }
    }

    /// `text` with every secret value replaced by `****`.
    pub fn mask(&self, text: &str) -> String {
        let mut masked = text.to_owned();
        for secret in &self.secrets {
            if !secret.is_empty() {
                masked = masked.replace(secret, "****");
            }
        }
        masked
    }
}

/// Inputs beyond the manifest.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub set: BTreeMap<String, String>,
    pub process_environment: BTreeMap<String, String>,
    /// Secrets of the providers this crate cannot read itself (`ssm:`, `secretsmanager:`).
    pub external: ExternalSecrets,
}

/// How secrets kept outside (in AWS) enter the rendered config.
#[derive(Debug, Clone, Default)]
pub enum ExternalSecrets {
    /// Rendering one is an error (nothing fetched them).
    #[default]
    Unavailable,
    /// Values fetched beforehand, by provider reference (`ssm:/shop/db` → value).
    Values(BTreeMap<String, String>),
    /// Each renders as [`secret_placeholder`]: the target passes a reference, never the value
    /// (ECS task definitions' `secrets`).
    References,
}

/// What a secret kept outside renders as under [`ExternalSecrets::References`]; a key whose
/// whole value is this becomes a reference to the secret.
pub fn secret_placeholder(name: &str) -> String {
    format!("\u{1}slipway-secret:{name}\u{1}")
}

/// Providers whose secrets [`ExternalSecrets`] supplies.
pub fn is_external_provider(reference: &str) -> bool {
    reference.starts_with("ssm:") || reference.starts_with("secretsmanager:")
}

impl Inputs {
    pub fn from_process(set: BTreeMap<String, String>) -> Inputs {
        Inputs {
            set,
            process_environment: std::env::vars().collect(),
            external: ExternalSecrets::Unavailable,
        }
    }
}

/// Templates of an environment, sorted by name.
pub fn templates(
    root: &Path,
    manifest: &Manifest,
    environment: &str,
) -> Result<Vec<PathBuf>, ConfigError> {
    let dir = root.join(manifest.environment_config_dir(environment));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".env.j2"))
        .collect();
    out.sort();
    Ok(out)
}

fn values_file(
    root: &Path,
    manifest: &Manifest,
    environment: &str,
) -> Result<(PathBuf, BTreeMap<String, String>), ConfigError> {
    let path = root
        .join(manifest.environment_config_dir(environment))
        .join("values.toml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok((path, BTreeMap::new()));
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Values {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let values = table
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect();
    Ok((path, values))
}

/// Reads a secret from its source. The value never appears in an error.
fn read_secret(
    root: &Path,
    name: &str,
    source_ref: &str,
    inputs: &Inputs,
) -> Result<String, ConfigError> {
    let fail = |message: String| ConfigError::Secret {
        name: name.into(),
        source_ref: source_ref.into(),
        message,
    };
    let (provider, what) = source_ref
        .split_once(':')
        .ok_or_else(|| fail("not a provider reference".into()))?;
    match provider {
        "env" => inputs
            .process_environment
            .get(what)
            .cloned()
            .ok_or_else(|| fail(format!("the environment variable {what} is not set"))),
        "file" => {
            let path = root.join(what);
            std::fs::read_to_string(&path)
                .map(|v| v.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))
        }
        "cmd" => {
            let output = Command::new("/bin/sh")
                .arg("-c")
                .arg(what)
                .current_dir(root)
                .output()
                .map_err(|e| fail(format!("cannot run the command: {e}")))?;
            if !output.status.success() {
                return Err(fail(format!("the command exited with {}", output.status)));
            }
            Ok(String::from_utf8_lossy(&output.stdout)
                .trim_end_matches(['\n', '\r'])
                .to_owned())
        }
        "ssm" | "secretsmanager" => match &inputs.external {
            ExternalSecrets::Values(values) => values
                .get(source_ref)
                .cloned()
                .ok_or_else(|| fail("it was not fetched from AWS".into())),
            ExternalSecrets::References => Ok(secret_placeholder(name)),
            ExternalSecrets::Unavailable => Err(fail(
                "AWS secrets are read only by commands that reach AWS (deploy, up, config render)"
                    .into(),
            )),
        },
        other => Err(fail(format!("unknown provider `{other}`"))),
    }
}

/// References `namespace.NAME` inside `{{ }}` and `{% %}` of a template, with their line and
/// whether a default follows.
fn references(source: &str) -> Vec<(usize, String, String, bool)> {
    let mut found = Vec::new();
    for (index, full_line) in source.lines().enumerate() {
        let mut expressions = String::new();
        let mut rest = full_line;
        while let Some(open) = rest.find("{{").or_else(|| rest.find("{%")) {
            let closer = if rest[open..].starts_with("{{") {
                "}}"
            } else {
                "%}"
            };
            let Some(close) = rest[open + 2..].find(closer) else {
                break;
            };
            expressions.push_str(&rest[open + 2..open + 2 + close]);
            expressions.push(' ');
            rest = &rest[open + 2 + close + 2..];
        }
        let line = expressions.as_str();
        for namespace in ["vars", "secret"] {
            let needle = format!("{namespace}.");
            let mut rest = line;
            let mut offset = 0;
            while let Some(at) = rest.find(&needle) {
                let absolute = offset + at;
                let preceded = line[..absolute]
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
                let after = &line[absolute + needle.len()..];
                let len = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                if !preceded && len > 0 {
                    let tail = after[len..].trim_start();
                    let defaulted = tail.starts_with('|')
                        && tail
                            .trim_start_matches('|')
                            .trim_start()
                            .starts_with("default");
                    found.push((
                        index + 1,
                        namespace.to_owned(),
                        after[..len].to_owned(),
                        defaulted,
                    ));
                }
                offset = absolute + needle.len();
                rest = &line[offset..];
            }
        }
    }
    found
}

/// Renders every template of `environment` in memory; all missing keys of all templates are
/// reported at once.
pub fn render(
    root: &Path,
    manifest: &Manifest,
    environment: &str,
    inputs: &Inputs,
) -> Result<RenderedEnvironment, ConfigError> {
    let env_config = manifest
        .environments
        .get(environment)
        .ok_or_else(|| ConfigError::UnknownEnvironment(environment.into()))?;
    let (values_path, values) = values_file(root, manifest, environment)?;
    let templates = templates(root, manifest, environment)?;

    // Which variables can be resolved, and from where.
    let mut vars: BTreeMap<String, (String, Origin)> = BTreeMap::new();
    let mut secrets: BTreeMap<String, (String, Origin)> = BTreeMap::new();
    let mut missing = Vec::new();
    let mut sources: Vec<(PathBuf, String)> = Vec::new();
    for template in &templates {
        let source = std::fs::read_to_string(template).map_err(|source| ConfigError::Io {
            path: template.clone(),
            source,
        })?;
        for (line, namespace, key, defaulted) in references(&source) {
            let relative = template
                .strip_prefix(root)
                .unwrap_or(template)
                .to_path_buf();
            if namespace == "vars" {
                if vars.contains_key(&key) {
                    continue;
                }
                let resolved = inputs
                    .set
                    .get(&key)
                    .map(|v| (v.clone(), Origin::Set))
                    .or_else(|| {
                        inputs
                            .process_environment
                            .get(&key)
                            .map(|v| (v.clone(), Origin::ProcessEnvironment))
                    })
                    .or_else(|| {
                        values.get(&key).map(|v| {
                            (
                                v.clone(),
                                Origin::ValuesFile(
                                    values_path
                                        .strip_prefix(root)
                                        .unwrap_or(&values_path)
                                        .to_path_buf(),
                                ),
                            )
                        })
                    });
                match resolved {
                    Some(value) => {
                        vars.insert(key, value);
                    }
                    None if defaulted => {}
                    None => missing.push(MissingKey {
                        file: relative,
                        line,
                        namespace,
                        key: key.clone(),
                        hint: format!(
                            "set `{key}` in {}, the environment, or --set {key}=...",
                            values_path
                                .strip_prefix(root)
                                .unwrap_or(&values_path)
                                .display()
                        ),
                    }),
                }
            } else {
                if secrets.contains_key(&key) {
                    continue;
                }
                if let Some(value) = inputs.set.get(&key) {
                    secrets.insert(key, (value.clone(), Origin::Set));
                    continue;
                }
                match env_config.secrets.get(&key) {
                    Some(source_ref) => {
                        let value = read_secret(root, &key, source_ref, inputs)?;
                        secrets.insert(key, (value, Origin::Secret(source_ref.clone())));
                    }
                    None if defaulted => {}
                    None => missing.push(MissingKey { file: relative, line, namespace, key: key.clone(), hint: format!("name its source under [environments.{environment}.secrets], e.g. {key} = \"env:{key}\"") }),
                }
            }
        }
        sources.push((template.clone(), source));
    }
    if !missing.is_empty() {
        return Err(ConfigError::Missing(missing));
    }
    // Secrets delivered as files, read from their sources like the templates' (once each).
    let mut secret_files = BTreeMap::new();
    for name in file_secret_names(manifest, environment) {
        let value = match secrets.get(&name) {
            Some((value, _)) => value.clone(),
            None => match (inputs.set.get(&name), env_config.secrets.get(&name)) {
                (Some(value), _) => value.clone(),
                (None, Some(source_ref)) => read_secret(root, &name, source_ref, inputs)?,
                // Validation refuses a file secret its environment does not name.
                (None, None) => continue,
            },
        };
        secret_files.insert(name, value);
    }

    let mut engine = Environment::new();
    engine.set_undefined_behavior(UndefinedBehavior::Strict);
    let vars_values: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect();
    let secret_values: BTreeMap<String, String> = secrets
        .iter()
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect();
    let ctx = context! { environment => environment, project => manifest.project.name.clone(), vars => vars_values, secret => secret_values };
    let mut files = Vec::new();
    for (template, source) in sources {
        let name = template
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".j2").to_owned())
            .unwrap_or_default();
        let relative = template
            .strip_prefix(root)
            .unwrap_or(&template)
            .to_path_buf();
        let mut text = engine
            .render_named_str(&relative.to_string_lossy(), &source, ctx.clone())
            .map_err(|e| ConfigError::Template {
                file: relative.clone(),
                line: e.line().unwrap_or(0),
                // minijinja's message names the construct, never a value.
                message: e.kind().to_string(),
            })?;
        if source.ends_with('\n') && !text.ends_with('\n') {
            text.push('\n');
        }
        let mut keys = BTreeMap::new();
        let template_lines: Vec<&str> = source
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && l.contains('='))
            .collect();
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let key = key.trim().to_owned();
            let used: Vec<(String, Origin)> = template_lines
                .iter()
                .find(|t| t.split_once('=').is_some_and(|(k, _)| k.trim() == key))
                .map(|t| {
                    references(t)
                        .into_iter()
                        .filter_map(|(_, namespace, name, _)| {
                            let origin = if namespace == "vars" {
                                vars.get(&name).map(|(_, o)| o.clone())
                            } else {
                                secrets.get(&name).map(|(_, o)| o.clone())
                            };
                            origin.map(|o| (format!("{namespace}.{name}"), o))
                        })
                        .collect()
                })
                .unwrap_or_default();
            keys.insert(key, (value.to_owned(), used));
        }
        files.push(Rendered {
            name,
            template: relative,
            text,
            keys,
        });
    }
    let mut masked: Vec<String> = secrets.into_values().map(|(v, _)| v).collect();
    masked.extend(secret_files.values().cloned());
    Ok(RenderedEnvironment {
        environment: environment.into(),
        files,
        secrets: masked,
        secret_files,
    })
}

/// Names of the secrets that the apps and services running in `environment` receive as files.
fn file_secret_names(manifest: &Manifest, environment: &str) -> BTreeSet<String> {
    let apps = manifest
        .apps
        .iter()
        .filter(|(name, _)| slipway_core::manifest::app_runs_in(manifest, name, environment))
        .flat_map(|(_, app)| app.secret_files.values());
    let services = manifest
        .services
        .iter()
        .filter(|(name, _)| manifest.service_runs_in(name, environment))
        .flat_map(|(_, service)| service.secret_files.values());
    apps.chain(services).cloned().collect()
}

/// Writes the rendered env files under `out_dir` (mode 0600, atomically), refusing a path git
/// tracks; returns the paths written.
pub fn write(
    rendered: &RenderedEnvironment,
    root: &Path,
    out_dir: &Path,
) -> Result<Vec<PathBuf>, ConfigError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(out_dir).map_err(|source| ConfigError::Io {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for file in &rendered.files {
        let path = out_dir.join(&file.name);
        if is_tracked(root, &path) {
            return Err(ConfigError::Tracked(path));
        }
        let temporary = path.with_extension("env.tmp");
        let io = |source| ConfigError::Io {
            path: temporary.clone(),
            source,
        };
        let mut handle = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(io)?;
        handle.write_all(file.text.as_bytes()).map_err(io)?;
        drop(handle);
        std::fs::rename(&temporary, &path).map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

fn is_tracked(root: &Path, path: &Path) -> bool {
    Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "--error-unmatch"])
        .arg(path)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Keys that differ between two rendered environments, secrets masked:
/// (file, key, value in A, value in B).
pub fn diff(
    a: &RenderedEnvironment,
    b: &RenderedEnvironment,
) -> Vec<(String, String, Option<String>, Option<String>)> {
    let mut out = Vec::new();
    let names: BTreeSet<&str> = a
        .files
        .iter()
        .chain(&b.files)
        .map(|f| f.name.as_str())
        .collect();
    for name in names {
        let keys_of = |env: &RenderedEnvironment| {
            env.files
                .iter()
                .find(|f| f.name == name)
                .map(|f| {
                    f.keys
                        .iter()
                        .map(|(k, (v, _))| (k.clone(), env.mask(v)))
                        .collect::<BTreeMap<_, _>>()
                })
                .unwrap_or_default()
        };
        let (left, right) = (keys_of(a), keys_of(b));
        let all: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
        for key in all {
            let (l, r) = (left.get(key), right.get(key));
            if l != r {
                out.push((name.to_owned(), key.clone(), l.cloned(), r.cloned()));
            }
        }
    }
    out
}
