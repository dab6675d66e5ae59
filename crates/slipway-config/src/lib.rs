//! Config templates → env files. Each environment's `config/<env>/<name>.env.j2` is a minijinja
//! template rendered strictly (an undefined value is an error) with:
//! - `environment` and `project`;
//! - `vars.NAME`: from `--set NAME=...`, else the process environment, else the environment's
//!   `values.toml`, else the template's own `| default(...)`;
//! - `secret.NAME`: from `--set`, else the source named in `[environments.<env>.secrets]`
//!   (`env:VAR`, `file:PATH`, `cmd:COMMAND`).
//!
//! Secret values are never part of an error; explanations and diffs mask them.

#![warn(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use minijinja::{Environment, UndefinedBehavior, context};
use slipway_core::Manifest;

pub mod taint;

/// Why an environment's config could not be rendered, checked or written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The environment named is not in slipway.toml.
    #[error("no environment `{0}` in slipway.toml")]
    UnknownEnvironment(String),
    /// Templates use keys that have no value; each names its place and how to give it one.
    #[error("{}", missing_message(.0))]
    Missing(Vec<MissingKey>),
    /// A template does not parse or fails to render.
    #[error("{file}:{line}:{column}: {message}")]
    Template {
        /// The template, relative to the project.
        file: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong (never a secret's value).
        message: String,
    },
    /// A secret's source could not give its value.
    #[error("secret `{name}` ({source_ref}): {message}")]
    Secret {
        /// The secret's name in slipway.toml.
        name: String,
        /// Where it is read from (`env:VAR`, `file:PATH`, `cmd:...`).
        source_ref: String,
        /// Why the source gave nothing.
        message: String,
    },
    /// The environment's `values.toml` is not valid TOML.
    #[error("{path}: {source}")]
    Values {
        /// The `values.toml` file.
        path: PathBuf,
        /// The TOML parser's error, with its position.
        #[source]
        source: toml::de::Error,
    },
    /// The directory env files would be rendered into is tracked by git.
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
                "  {}:{}:{}: `{}.{}` has no value ({})",
                m.file.display(),
                m.line,
                m.column,
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
    /// The template that uses the key.
    pub file: PathBuf,
    /// 1-based line of the use.
    pub line: usize,
    /// 1-based column of the use.
    pub column: usize,
    /// `vars` or `secret`.
    pub namespace: String,
    /// The key's name.
    pub key: String,
    /// How to give the key a value.
    pub hint: String,
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--set NAME=VALUE` on the command line.
    Set,
    /// The environment of the process running slipway.
    ProcessEnvironment,
    /// A secret, by its source reference (`env:VAR`, `ssm:/path`).
    Secret(String),
    /// The environment's `values.toml`.
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
    /// The template it was rendered from.
    pub template: PathBuf,
    /// The env file's text, secrets included: write it, never print it.
    pub text: String,
    /// KEY → (value, the variables it was made from).
    pub keys: BTreeMap<String, (String, Vec<(String, Origin)>)>,
    /// KEY → what is shown instead of the value: keys a secret contributed to (see
    /// [`taint`]) and keys named like a secret.
    pub masked: BTreeMap<String, String>,
}

/// Every env file of one environment, with what is needed to mask their secrets when shown.
#[derive(Debug, Clone)]
pub struct RenderedEnvironment {
    /// The environment's name.
    pub environment: String,
    /// One entry per template, sorted by name.
    pub files: Vec<Rendered>,
    /// Values of secrets used, and values made from them or named like one, for masking.
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
                    masked: BTreeMap::new(),
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

    /// `text` with every secret value (and every value made from one) replaced by `****`.
    pub fn mask(&self, text: &str) -> String {
        let mut masked = text.to_owned();
        for secret in &self.secrets {
            if !secret.is_empty() {
                masked = masked.replace(secret, "****");
            }
        }
        masked
    }

    /// A key's value as `config explain` and `config diff` show it: masked where a secret
    /// contributed to it or its name says it is one.
    pub fn shown(&self, file: &Rendered, key: &str) -> Option<String> {
        let (value, _) = file.keys.get(key)?;
        Some(match file.masked.get(key) {
            Some(masked) => self.mask(masked),
            None => taint::mask_url_password(&self.mask(value)),
        })
    }
}

/// Inputs beyond the manifest.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `--set NAME=VALUE` pairs, which win over every other source.
    pub set: BTreeMap<String, String>,
    /// The variables of the process running slipway, read for `vars.NAME` and `env:` secrets.
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
    /// Inputs with this process's environment and no outside secrets fetched.
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
    if !path.exists() {
        return Ok((path, BTreeMap::new()));
    }
    let text = read_text(root, &path)?;
    let table: toml::Table = toml::from_str(&text).map_err(|source| ConfigError::Values {
        path: path.clone(),
        source,
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
            let stdout = run_secret_command(root, what, SECRET_COMMAND_TIMEOUT).map_err(fail)?;
            Ok(String::from_utf8_lossy(&stdout)
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

/// A reference `namespace.NAME` inside `{{ }}` or `{% %}` of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    line: usize,
    column: usize,
    namespace: String,
    key: String,
    /// `| default(...)` follows it.
    defaulted: bool,
}

/// How long a `cmd:` secret source may run before it is killed.
pub const SECRET_COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs a `cmd:` source; its output is the secret, so an error names only its exit status.
fn run_secret_command(
    root: &Path,
    command: &str,
    timeout: std::time::Duration,
) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run the command: {e}"))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = send.send(stdout.read_to_end(&mut bytes).map(|_| bytes));
    });
    let deadline = std::time::Instant::now() + timeout;
    let too_slow = || {
        format!(
            "the command did not finish within {}s and was stopped",
            timeout.as_secs()
        )
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(too_slow());
            }
            Err(e) => return Err(format!("cannot wait for the command: {e}")),
        }
    };
    if !status.success() {
        return Err(format!("the command exited with {status}"));
    }
    // Something it left running in the background may hold its output open.
    let remaining = deadline.saturating_duration_since(std::time::Instant::now());
    match receive.recv_timeout(remaining) {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(format!("cannot read the command's output: {e}")),
        Err(_) => Err(too_slow()),
    }
}

/// References `vars.NAME` and `secret.NAME` of a template, with their line and column.
fn references(source: &str) -> Vec<Reference> {
    let mut found = Vec::new();
    for (index, full_line) in source.lines().enumerate() {
        // The expressions of the line, each with its byte offset in the line.
        let mut expressions: Vec<(usize, &str)> = Vec::new();
        let mut offset = 0;
        while let Some(open) = ["{{", "{%"]
            .iter()
            .filter_map(|o| full_line[offset..].find(o))
            .min()
        {
            let start = offset + open + 2;
            let closer = if full_line[offset + open..].starts_with("{{") {
                "}}"
            } else {
                "%}"
            };
            let Some(close) = full_line[start..].find(closer) else {
                break;
            };
            expressions.push((start, &full_line[start..start + close]));
            offset = start + close + 2;
        }
        for (start, expression) in expressions {
            for namespace in ["vars", "secret"] {
                let needle = format!("{namespace}.");
                let mut from = 0;
                while let Some(at) = expression[from..].find(&needle) {
                    let absolute = from + at;
                    let preceded = expression[..absolute]
                        .chars()
                        .last()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
                    let after = &expression[absolute + needle.len()..];
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
                        found.push(Reference {
                            line: index + 1,
                            column: full_line[..start + absolute].chars().count() + 1,
                            namespace: namespace.to_owned(),
                            key: after[..len].to_owned(),
                            defaulted,
                        });
                    }
                    from = absolute + needle.len();
                }
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
        let source = read_text(root, template)?;
        for Reference {
            line,
            column,
            namespace,
            key,
            defaulted,
        } in references(&source)
        {
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
                    None => {
                        let known = values.keys().chain(inputs.set.keys()).map(String::as_str);
                        let suggestion = slipway_core::suggest::closest(&key, known)
                            .map(|c| format!("did you mean `vars.{c}`? or "))
                            .unwrap_or_default();
                        missing.push(MissingKey {
                            file: relative,
                            line,
                            column,
                            namespace,
                            key: key.clone(),
                            hint: format!(
                                "{suggestion}set `{key}` in {}, the environment, or --set {key}=...",
                                values_path
                                    .strip_prefix(root)
                                    .unwrap_or(&values_path)
                                    .display()
                            ),
                        })
                    }
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
                    None => {
                        let known = env_config.secrets.keys().map(String::as_str);
                        let hint = match slipway_core::suggest::closest(&key, known) {
                            Some(c) => format!(
                                "did you mean `secret.{c}`? or name its source under [environments.{environment}.secrets]"
                            ),
                            None => format!(
                                "name its source under [environments.{environment}.secrets], e.g. {key} = \"env:{key}\""
                            ),
                        };
                        missing.push(MissingKey {
                            file: relative,
                            line,
                            column,
                            namespace,
                            key: key.clone(),
                            hint,
                        })
                    }
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
    // Certificates and keys of the routes are read the same way, for the deploy to hand over.
    let names = manifest.secret_file_names(environment);
    for name in names.iter().chain(&manifest.tls_secret_names(environment)) {
        let name = name.clone();
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

    let engine = engine();
    let vars_values: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect();
    let secret_values: BTreeMap<String, String> = secrets
        .iter()
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect();
    let context_with = |secret_values: &BTreeMap<String, String>| {
        context! {
            environment => environment,
            project => manifest.project.name.clone(),
            vars => vars_values.clone(),
            secret => secret_values.clone(),
        }
    };
    let known = KnownNames {
        vars: vars_values.keys().cloned().collect(),
        secrets: secret_values.keys().cloned().collect(),
    };
    let stand_ins: Vec<BTreeMap<String, String>> = taint::STAND_IN_SHIFTS
        .iter()
        .map(|shift| {
            secret_values
                .iter()
                .map(|(k, v)| (k.clone(), taint::stand_in(v, *shift)))
                .collect()
        })
        .collect();
    let punctuation_stand_ins: BTreeMap<String, String> = secret_values
        .iter()
        .map(|(k, v)| (k.clone(), taint::stand_in_with_punctuation(v)))
        .collect();
    let mut files = Vec::new();
    let mut derived = Vec::new();
    for (template, source) in sources {
        let name = template
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".j2").to_owned())
            .unwrap_or_default();
        let relative = template
            .strip_prefix(root)
            .unwrap_or(&template)
            .to_path_buf();
        let mut text =
            match render_template(&engine, &relative, &source, context_with(&secret_values)) {
                Ok(text) => text,
                Err(Failure::Limit(error)) => return Err(error),
                Err(Failure::Engine(error)) => {
                    // minijinja's detail can quote a value (`unable to calculate hunter2 - 1`): it
                    // is shown only when the template fails with the same words with stand-ins
                    // for the secrets, so nothing in it came from one.
                    let same_with_stand_ins = stand_ins.first().is_none_or(|values| {
                        match render_template(&engine, &relative, &source, context_with(values)) {
                            Err(Failure::Engine(other)) => {
                                other.kind() == error.kind() && other.detail() == error.detail()
                            }
                            _ => false,
                        }
                    });
                    return Err(template_error(
                        &relative,
                        &source,
                        &error,
                        &known,
                        same_with_stand_ins,
                    ));
                }
            };
        if source.ends_with('\n') && !text.ends_with('\n') {
            text.push('\n');
        }
        // The same template with every secret replaced by stand-ins: what changes with them
        // is what the secrets contributed to. A render that fails with stand-ins fails closed
        // (everything in the file is masked).
        // Not only templates that name `secret`: `debug()` prints the whole context.
        let alternatives: Vec<Option<String>> = if !secret_values.is_empty() {
            let render_with = |values: &BTreeMap<String, String>| {
                render_template(&engine, &relative, &source, context_with(values)).ok()
            };
            let mut alternatives: Vec<Option<String>> = stand_ins.iter().map(render_with).collect();
            // Only counted when the template can render it (see `taint`).
            if let Some(text) = render_with(&punctuation_stand_ins) {
                alternatives.push(Some(text));
            }
            alternatives
        } else {
            Vec::new()
        };
        let alternative_keys: Vec<Option<BTreeMap<String, String>>> = alternatives
            .iter()
            .map(|text| text.as_deref().map(|t| env_keys(t).into_iter().collect()))
            .collect();
        let mut keys = BTreeMap::new();
        let mut masked = BTreeMap::new();
        let template_lines: Vec<&str> = source
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && l.contains('='))
            .collect();
        for (key, value) in env_keys(&text) {
            let used: Vec<(String, Origin)> = template_lines
                .iter()
                .find(|t| t.split_once('=').is_some_and(|(k, _)| k.trim() == key))
                .map(|t| {
                    references(t)
                        .into_iter()
                        .filter_map(|r| {
                            let origin = if r.namespace == "vars" {
                                vars.get(&r.key).map(|(_, o)| o.clone())
                            } else {
                                secrets.get(&r.key).map(|(_, o)| o.clone())
                            };
                            origin.map(|o| (format!("{}.{}", r.namespace, r.key), o))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let others: Vec<Option<&str>> = alternative_keys
                .iter()
                .map(|keys| match keys {
                    Some(keys) => keys.get(&key).map(String::as_str),
                    None => None,
                })
                .collect();
            if let Some(shown) = taint::masked_value(&value, &others) {
                masked.insert(key.clone(), shown);
                derived.push(value.clone());
            } else if taint::names_a_secret(&key, &value) {
                masked.insert(key.clone(), "****".to_owned());
                derived.push(value.clone());
            }
            keys.insert(key, (value, used));
        }
        files.push(Rendered {
            name,
            template: relative,
            text,
            keys,
            masked,
        });
    }
    let mut masked_values: Vec<String> = secrets.into_values().map(|(v, _)| v).collect();
    masked_values.extend(secret_files.values().cloned());
    masked_values.extend(
        derived
            .into_iter()
            .filter(|v| v.trim().len() >= taint::MIN_DERIVED_MASK_LEN),
    );
    // Longest first, so a value that contains another is masked whole.
    masked_values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    masked_values.dedup();
    Ok(RenderedEnvironment {
        environment: environment.into(),
        files,
        secrets: masked_values,
        secret_files,
    })
}

/// How much work one template may make the engine do, in minijinja's fuel: one unit per
/// instruction and one per 64 bytes of data it makes. Any env file takes a tiny part of it;
/// loops nested without end, or a string doubled until memory runs out, stop here.
pub const TEMPLATE_FUEL: u64 = 1_000_000;

/// The largest env file one template may render.
pub const MAX_ENV_FILE_BYTES: usize = 1024 * 1024;

fn engine() -> Environment<'static> {
    let mut engine = Environment::new();
    engine.set_undefined_behavior(UndefinedBehavior::Strict);
    engine.set_fuel(Some(TEMPLATE_FUEL));
    engine
}

/// Names a template may use, for suggestions when it uses another.
struct KnownNames {
    vars: Vec<String>,
    secrets: Vec<String>,
}

/// Why a template did not render.
enum Failure {
    /// The engine's error, turned into a located one by [`template_error`].
    Engine(minijinja::Error),
    /// The output limit, located.
    Limit(ConfigError),
}

/// Renders one template within [`TEMPLATE_FUEL`] and [`MAX_ENV_FILE_BYTES`].
fn render_template(
    engine: &Environment<'static>,
    relative: &Path,
    source: &str,
    context: minijinja::Value,
) -> Result<String, Failure> {
    let name = relative.to_string_lossy();
    let rendered = engine
        .template_from_named_str(&name, source)
        .and_then(|template| template.render_with_spans(context));
    let (text, spans) = rendered.map_err(Failure::Engine)?;
    if text.len() > MAX_ENV_FILE_BYTES {
        let at = spans
            .iter()
            .find(|span| span.output_range().end > MAX_ENV_FILE_BYTES)
            .map(|span| span.source_range().start)
            .unwrap_or(0);
        let (line, column) = slipway_core::diagnostic::line_col(source, at);
        return Err(Failure::Limit(ConfigError::Template {
            file: relative.to_path_buf(),
            line,
            column,
            message: format!(
                "the rendered env file is over the size limit ({} bytes; it was {} bytes): an env file holds settings, not data; the limit is fixed, so make the template produce less here",
                MAX_ENV_FILE_BYTES,
                text.len()
            ),
        }));
    }
    Ok(text)
}

/// The engine's error located (file:line:column), the undefined name with a suggestion; the
/// engine's detail only with `show_detail` (see where it is decided).
fn template_error(
    relative: &Path,
    source: &str,
    error: &minijinja::Error,
    known: &KnownNames,
    show_detail: bool,
) -> ConfigError {
    use minijinja::ErrorKind;
    let range = error.range();
    let (line, column) = match &range {
        Some(range) => slipway_core::diagnostic::line_col(source, range.start),
        None => (error.line().unwrap_or(0), 1),
    };
    let expression = range
        .as_ref()
        .and_then(|r| source.get(r.clone()))
        .map(str::trim)
        .unwrap_or_default();
    let message = match error.kind() {
        ErrorKind::OutOfFuel => format!(
            "the template ran over its work limit ({TEMPLATE_FUEL} steps of the template engine): a loop or a string that grows without end? An env file needs a tiny part of it; the limit is fixed, so make the template do less here"
        ),
        ErrorKind::UndefinedError => {
            let candidates: Vec<String> = ["environment", "project", "vars", "secret"]
                .iter()
                .map(|n| (*n).to_owned())
                .chain(known.vars.iter().map(|k| format!("vars.{k}")))
                .chain(known.secrets.iter().map(|k| format!("secret.{k}")))
                .collect();
            let name = expression
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                .next()
                .unwrap_or(expression);
            let suggestion =
                slipway_core::suggest::did_you_mean(name, candidates.iter().map(String::as_str))
                    .map(|s| format!("; {s}"))
                    .unwrap_or_else(|| {
                        "; templates know `environment`, `project`, `vars.NAME` and `secret.NAME`"
                            .into()
                    });
            if name.is_empty() {
                format!("an undefined value is used{suggestion}")
            } else {
                format!("`{name}` is undefined{suggestion}")
            }
        }
        kind => match error.detail() {
            Some(detail) if show_detail => format!("{kind}: {detail}"),
            _ => kind.to_string(),
        },
    };
    ConfigError::Template {
        file: relative.to_path_buf(),
        line,
        column,
        message,
    }
}

/// `KEY=VALUE` lines of an env file (comments and other lines skipped), in order.
fn env_keys(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.to_owned()))
        .collect()
}

/// A template or values file as text, or where it stops being UTF-8.
fn read_text(root: &Path, path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    slipway_core::text::decode_utf8(&bytes).map_err(|not_text| ConfigError::Template {
        file: path.strip_prefix(root).unwrap_or(path).to_path_buf(),
        line: not_text.line,
        column: not_text.column,
        message: format!("not UTF-8 text: {}", not_text.message),
    })
}

/// Writes the rendered env files under `out_dir` (a 0700 directory; files 0600, each written
/// whole or not at all, never through a link planted in the directory), refusing a path git
/// tracks; returns the paths written.
pub fn write(
    rendered: &RenderedEnvironment,
    root: &Path,
    out_dir: &Path,
) -> Result<Vec<PathBuf>, ConfigError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(out_dir)
        .map_err(|source| ConfigError::Io {
            path: out_dir.to_path_buf(),
            source,
        })?;
    let mut written = Vec::new();
    for file in &rendered.files {
        let path = out_dir.join(&file.name);
        if is_tracked(root, &path) {
            return Err(ConfigError::Tracked(path));
        }
        slipway_core::files::write_atomic(
            &path,
            slipway_core::files::PRIVATE,
            file.text.as_bytes(),
        )
        .map_err(|source| ConfigError::Io {
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
                        .keys()
                        .filter_map(|k| Some((env.mask(k), env.shown(f, k)?)))
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
