//! ERB env templates (`backend-flask.env.erb`, rendered with `erb` before `docker compose up`)
//! → slipway config templates (minijinja). Pure: text in, template and problems out.
//!
//! Converted: plain text; `<%= ENV['X'] %>` and `<%= ENV["X"] %>` → `{{ vars.X }}` (required;
//! inside an `if` block `{{ vars.X | default("") }}`, as ERB reads an unset variable as empty);
//! `<%= ENV.fetch('X', 'd') %>` and `<%= ENV.fetch('X') { 'd' } %>` → `{{ vars.X | default("d") }}`;
//! `<% if COND %>` / `elsif` / `else` / `unless` / `end` blocks, where COND is made of
//! `ENV['X']`, string literals, `==`, `!=`, `!`, `&&`, `||`, `and`, `or`, `not`, `.nil?`,
//! `.empty?` and parentheses; `<%# comments %>`; `<%%`. A name that looks like a secret becomes
//! `secret.X`. A line holding anything else is kept as a comment and named in `problems`.

use std::path::{Path, PathBuf};

use slipway_core::manifest::{Manifest, looks_secret};
use slipway_core::scaffold::ENVIRONMENTS;

use crate::yaml::{Node, Value as YamlValue};

/// The converted template.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErbTemplate {
    /// minijinja text for `config/<env>/<name>.env.j2`.
    pub text: String,
    /// What could not be converted, located in the ERB source.
    pub problems: Vec<ErbProblem>,
    /// Variables read as secrets (`secret.X`), in order of first use.
    pub secrets: Vec<String>,
}

/// An ERB tag that cannot become a config template, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErbProblem {
    /// 1-based line and column of the tag in the ERB source.
    pub line: usize,
    /// 1-based column of the tag.
    pub column: usize,
    /// Why it cannot be carried over, and what to do instead.
    pub message: String,
}

/// Converts one ERB env template.
pub fn convert(source: &str) -> ErbTemplate {
    let mut converter = Converter::default();
    converter.run(source);
    converter.finish()
}

/// Where a project keeps the ERB template of a generated env file `file` (relative to the
/// compose file): `file.erb`, or `erb/<name>.erb` / `templates/<name>.erb` beside the compose file.
pub fn template_candidates(compose_dir: &Path, file: &str) -> Vec<PathBuf> {
    let mut candidates = vec![compose_dir.join(format!("{file}.erb"))];
    if let Some(name) = Path::new(file).file_name() {
        let erb_name = format!("{}.erb", name.to_string_lossy());
        candidates.push(compose_dir.join("erb").join(&erb_name));
        candidates.push(compose_dir.join("templates").join(&erb_name));
    }
    candidates
}

/// The `env_file` entries of a compose service (short form, or long form's `path`).
pub(crate) fn env_files(service: &Node) -> Vec<String> {
    match service.get("env_file") {
        Some(node) => match &node.value {
            YamlValue::Seq(items) => items
                .iter()
                .filter_map(|i| {
                    i.as_text()
                        .or_else(|| i.get("path").and_then(Node::as_text))
                })
                .collect(),
            _ => node.as_text().into_iter().collect(),
        },
        None => Vec::new(),
    }
}

/// Keys an env template (ERB or converted) assigns, whatever its tags.
fn assigned_keys(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (key, _) = line.split_once('=')?;
            let key = key.trim();
            (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .then(|| key.to_owned())
        })
        .collect()
}

/// The importer's part for env files generated from ERB templates: each such compose service
/// gets the converted template (its `if` blocks kept) in every environment's config, and its
/// `config` names it. A service whose only env file is generated shares the template under the
/// env file's name (`backend-flask.env` → `config/<env>/backend-flask.env.j2`); one that also has
/// `environment:` keys or plain env files gets a template of its own with those keys after the
/// converted ones. What cannot be converted is named in `notes` as `file:line:col`.
pub fn adopt_env_templates(
    services: &Node,
    compose_dir: &Path,
    read: &dyn Fn(&Path) -> Option<String>,
    manifest: &mut Manifest,
    templates: &mut Vec<(PathBuf, String)>,
    notes: &mut Vec<String>,
) {
    for (key, service) in services.entries() {
        let name = slipway_core::scaffold::project_name_from(&key.name);
        let files = env_files(service);
        let mut converted = Vec::new();
        let mut plain = false;
        for file in &files {
            if read(&compose_dir.join(file)).is_some() {
                plain = true;
                continue;
            }
            let Some((path, source)) = template_candidates(compose_dir, file)
                .into_iter()
                .find_map(|path| read(&path).map(|text| (path, text)))
            else {
                continue;
            };
            let shown = path
                .strip_prefix(compose_dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            let template = convert(&source);
            for problem in &template.problems {
                notes.push(format!(
                    "{shown}:{}:{}: {} (the line is kept as a comment in the converted template)",
                    problem.line, problem.column, problem.message
                ));
            }
            converted.push((file.clone(), shown, source, template));
        }
        if converted.is_empty() {
            continue;
        }
        let own_keys: Vec<String> = service
            .get("environment")
            .map(|env| match &env.value {
                YamlValue::Map(entries) => entries.iter().map(|(k, _)| k.name.clone()).collect(),
                YamlValue::Seq(items) => items
                    .iter()
                    .filter_map(Node::as_text)
                    .map(|item| {
                        item.split_once('=')
                            .map_or(item.clone(), |(k, _)| k.to_owned())
                    })
                    .collect(),
                _ => Vec::new(),
            })
            .unwrap_or_default();
        let erb_keys: Vec<String> = converted
            .iter()
            .flat_map(|(_, _, source, _)| assigned_keys(source))
            .collect();
        let shared = converted.len() == 1 && !plain && own_keys.is_empty();
        let template_name = if shared {
            let file = &converted[0].0;
            let base = Path::new(file)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| name.clone());
            let stem = base.strip_suffix(".env").unwrap_or(&base);
            let stem = slipway_core::scaffold::project_name_from(stem);
            if stem.is_empty() { name.clone() } else { stem }
        } else {
            name.clone()
        };
        let mut text = String::new();
        for (file, shown, _, template) in &converted {
            text.push_str(&format!(
                "# `{file}`, converted from its ERB template {shown}.\n{}",
                template.text
            ));
            if !text.ends_with('\n') {
                text.push('\n');
            }
            for secret in &template.secrets {
                for environment in manifest.environments.values_mut() {
                    environment
                        .secrets
                        .entry(secret.clone())
                        .or_insert_with(|| format!("env:{secret}"));
                }
            }
        }
        for env in ENVIRONMENTS {
            let own = PathBuf::from(format!("config/{env}/{name}.env.j2"));
            // The importer's own template read the ERB line by line; keep only the keys the ERB
            // templates do not assign (and those `environment:` sets, which win in compose).
            let kept: Vec<String> = templates
                .iter()
                .find(|(path, _)| *path == own)
                .map(|(_, existing)| {
                    existing
                        .lines()
                        .filter(|line| {
                            assigned_keys(line).first().is_some_and(|key| {
                                own_keys.contains(key) || !erb_keys.contains(key)
                            })
                        })
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            templates.retain(|(path, _)| *path != own);
            let mut contents = text.clone();
            if !kept.is_empty() {
                contents.push_str(&format!(
                    "# `{name}`'s own environment from the compose file.\n{}\n",
                    kept.join("\n")
                ));
            }
            let path = PathBuf::from(format!("config/{env}/{template_name}.env.j2"));
            if !templates.iter().any(|(existing, _)| *existing == path) {
                templates.push((path, contents));
            }
        }
        if template_name != name {
            if let Some(app) = manifest.apps.get_mut(&name) {
                app.config = Some(template_name.clone());
            } else if let Some(svc) = manifest.services.get_mut(&name) {
                svc.config = Some(template_name.clone());
            }
        }
    }
}

#[derive(Default)]
struct Converter {
    out: String,
    problems: Vec<ErbProblem>,
    secrets: Vec<String>,
    /// Output offsets of lines to comment out.
    broken_lines: Vec<usize>,
    /// Open blocks: the position of their opening tag.
    blocks: Vec<(usize, usize)>,
}

/// 1-based line and column of byte `offset` in `source`.
fn locate(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before[nl + 1..].chars().count()
    }) + 1;
    (line, column)
}

/// Literal text with anything minijinja would read as syntax escaped.
fn literal(text: &str) -> String {
    text.replace("{{", "{{ '{{' }}")
        .replace("{%", "{{ '{%' }}")
        .replace("{#", "{{ '{#' }}")
}

impl Converter {
    fn run(&mut self, source: &str) {
        let mut rest_start = 0;
        let mut trim_next_newline = false;
        while let Some(found) = source[rest_start..].find("<%") {
            let open = rest_start + found;
            let mut text = &source[rest_start..open];
            if trim_next_newline {
                text = text.strip_prefix('\n').unwrap_or(text);
                trim_next_newline = false;
            }
            let after_open = &source[open + 2..];
            if let Some(rest) = after_open.strip_prefix('%') {
                // `<%%` is a literal `<%`.
                self.out.push_str(&literal(text));
                self.out.push_str("<%");
                rest_start = source.len() - rest.len();
                continue;
            }
            let Some(close_rel) = after_open.find("%>") else {
                self.out.push_str(&literal(text));
                let (line, column) = locate(source, open);
                self.problem(
                    line,
                    column,
                    "an ERB tag that is never closed with `%>`".into(),
                );
                self.out.push_str(&source[open..]);
                return;
            };
            let mut body = &after_open[..close_rel];
            let trim_before = body.starts_with('-');
            if trim_before {
                body = &body[1..];
                // `<%-` removes the indentation before the tag.
                let trimmed = text.trim_end_matches([' ', '\t']);
                if trimmed.is_empty() || trimmed.ends_with('\n') {
                    text = trimmed;
                }
            }
            if let Some(stripped) = body.strip_suffix('-') {
                body = stripped;
                trim_next_newline = true;
            }
            self.out.push_str(&literal(text));
            let (line, column) = locate(source, open);
            self.tag(body, line, column);
            rest_start = open + 2 + close_rel + 2;
        }
        let mut text = &source[rest_start..];
        if trim_next_newline {
            text = text.strip_prefix('\n').unwrap_or(text);
        }
        self.out.push_str(&literal(text));
    }

    fn problem(&mut self, line: usize, column: usize, message: String) {
        self.problems.push(ErbProblem {
            line,
            column,
            message,
        });
        let start = self.out.rfind('\n').map_or(0, |nl| nl + 1);
        if !self.broken_lines.contains(&start) {
            self.broken_lines.push(start);
        }
    }

    /// The key of the env line being written, e.g. `DB_PASSWORD` in `DB_PASSWORD=<%= ... %>`.
    fn current_key(&self) -> Option<&str> {
        let line = &self.out[self.out.rfind('\n').map_or(0, |nl| nl + 1)..];
        let (key, _) = line.split_once('=')?;
        let key = key.trim().strip_prefix("export ").unwrap_or(key.trim());
        (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .then_some(key)
    }

    /// `vars.X`, or `secret.X` when X or the key it is written into looks like a secret.
    fn variable(&mut self, name: &str) -> String {
        if looks_secret(name) || self.current_key().is_some_and(looks_secret) {
            if !self.secrets.iter().any(|s| s == name) {
                self.secrets.push(name.to_owned());
            }
            format!("secret.{name}")
        } else {
            format!("vars.{name}")
        }
    }

    fn tag(&mut self, body: &str, line: usize, column: usize) {
        if body.starts_with('#') {
            return;
        }
        if let Some(expression) = body.strip_prefix('=') {
            match parse_value(expression.trim()) {
                Some(Value::Env { name, default }) => {
                    let target = self.variable(&name);
                    // Inside a conditional block a lookup may sit in the branch not taken, where
                    // ERB reads an unset variable as empty: it must not make rendering fail.
                    let default = default.or_else(|| (!self.blocks.is_empty()).then(String::new));
                    match default {
                        Some(default) => self.out.push_str(&format!(
                            "{{{{ {target} | default({}) }}}}",
                            jinja_string(&default)
                        )),
                        None => self.out.push_str(&format!("{{{{ {target} }}}}")),
                    }
                }
                Some(Value::Text(text)) => self.out.push_str(&literal(&text)),
                None => self.problem(
                    line,
                    column,
                    format!(
                        "`<%= {} %>` is not an ENV lookup slipway can convert; write the value in the template by hand",
                        expression.trim()
                    ),
                ),
            }
            return;
        }
        let code = body.trim();
        let (keyword, rest) = code
            .split_once(char::is_whitespace)
            .map_or((code, ""), |(k, r)| (k, r.trim()));
        match keyword {
            "if" | "unless" | "elsif" => {
                let Some(condition) = parse_condition(rest) else {
                    self.problem(
                        line,
                        column,
                        format!("the condition `{rest}` is not one slipway can convert (ENV lookups, string literals, ==, !=, !, &&, ||)"),
                    );
                    // Keep the blocks balanced so the rest of the template still converts.
                    match keyword {
                        "elsif" if !self.blocks.is_empty() => self.out.push_str("{% elif false %}"),
                        "elsif" => {}
                        _ => {
                            self.blocks.push((line, column));
                            self.out.push_str("{% if false %}");
                        }
                    }
                    return;
                };
                let condition = self.render_condition(&condition);
                match keyword {
                    "if" => {
                        self.blocks.push((line, column));
                        self.out.push_str(&format!("{{% if {condition} %}}"));
                    }
                    "unless" => {
                        self.blocks.push((line, column));
                        self.out.push_str(&format!("{{% if not ({condition}) %}}"));
                    }
                    _ if self.blocks.is_empty() => self.problem(
                        line,
                        column,
                        "`elsif` outside an `if` block".into(),
                    ),
                    _ => self.out.push_str(&format!("{{% elif {condition} %}}")),
                }
            }
            "else" if rest.is_empty() => {
                if self.blocks.is_empty() {
                    self.problem(line, column, "`else` outside an `if` block".into());
                } else {
                    self.out.push_str("{% else %}");
                }
            }
            "end" if rest.is_empty() => {
                if self.blocks.pop().is_some() {
                    self.out.push_str("{% endif %}");
                } else {
                    self.problem(line, column, "`end` without an open block".into());
                }
            }
            _ => self.problem(
                line,
                column,
                format!("`<% {code} %>` is Ruby code slipway cannot convert; write the lines it produces in the template by hand"),
            ),
        }
    }

    fn render_condition(&mut self, condition: &Condition) -> String {
        match condition {
            Condition::Set(name) => {
                let target = self.variable(name);
                format!("{target} | default(\"\")")
            }
            Condition::Compare { name, equal, text } => {
                let target = self.variable(name);
                let op = if *equal { "==" } else { "!=" };
                format!("({target} | default(\"\")) {op} {}", jinja_string(text))
            }
            Condition::Literal(value) => value.to_string(),
            Condition::Not(inner) => format!("not ({})", self.render_condition(inner)),
            Condition::And(a, b) => format!(
                "({}) and ({})",
                self.render_condition(a),
                self.render_condition(b)
            ),
            Condition::Or(a, b) => format!(
                "({}) or ({})",
                self.render_condition(a),
                self.render_condition(b)
            ),
        }
    }

    fn finish(mut self) -> ErbTemplate {
        while let Some((line, column)) = self.blocks.pop() {
            self.problems.push(ErbProblem {
                line,
                column,
                message: "this block has no `end`; it was closed at the end of the file".into(),
            });
            self.out.push_str("{% endif %}");
        }
        let mut text = self.out;
        self.broken_lines.sort_unstable();
        for start in self.broken_lines.into_iter().rev() {
            text.insert_str(start, "# not converted: ");
        }
        self.problems.sort_by_key(|p| (p.line, p.column));
        ErbTemplate {
            text,
            problems: self.problems,
            secrets: self.secrets,
        }
    }
}

fn jinja_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Env {
        name: String,
        default: Option<String>,
    },
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Set(String),
    Compare {
        name: String,
        equal: bool,
        text: String,
    },
    Literal(bool),
    Not(Box<Condition>),
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Env,
    Fetch,
    Str(String),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    OpenBrace,
    CloseBrace,
    Comma,
    Eq,
    Ne,
    Not,
    And,
    Or,
    Nil,
    Empty,
    True,
    False,
}

fn tokens(text: &str) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let rest: String = chars[i..].iter().collect();
        let mut take = |token: Token, len: usize| {
            out.push(token);
            i += len;
        };
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => take(Token::Open, 1),
            ')' => take(Token::Close, 1),
            '[' => take(Token::OpenBracket, 1),
            ']' => take(Token::CloseBracket, 1),
            '{' => take(Token::OpenBrace, 1),
            '}' => take(Token::CloseBrace, 1),
            ',' => take(Token::Comma, 1),
            '=' if rest.starts_with("==") => take(Token::Eq, 2),
            '!' if rest.starts_with("!=") => take(Token::Ne, 2),
            '!' => take(Token::Not, 1),
            '&' if rest.starts_with("&&") => take(Token::And, 2),
            '|' if rest.starts_with("||") => take(Token::Or, 2),
            '.' if rest.starts_with(".fetch") => take(Token::Fetch, 6),
            '.' if rest.starts_with(".nil?") => take(Token::Nil, 5),
            '.' if rest.starts_with(".empty?") => take(Token::Empty, 7),
            '\'' | '"' => {
                let mut value = String::new();
                let mut j = i + 1;
                loop {
                    let d = *chars.get(j)?;
                    if d == c {
                        break;
                    }
                    if d == '\\' {
                        value.push(*chars.get(j + 1)?);
                        j += 2;
                        continue;
                    }
                    if c == '"' && d == '#' && chars.get(j + 1) == Some(&'{') {
                        // Ruby interpolation: not a plain literal.
                        return None;
                    }
                    value.push(d);
                    j += 1;
                }
                out.push(Token::Str(value));
                i = j + 1;
            }
            _ if c.is_ascii_alphabetic() => {
                let word: String = chars[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                    .collect();
                let token = match word.as_str() {
                    "ENV" => Token::Env,
                    "and" => Token::And,
                    "or" => Token::Or,
                    "not" => Token::Not,
                    "true" => Token::True,
                    "false" => Token::False,
                    _ => return None,
                };
                i += word.len();
                out.push(token);
            }
            _ => return None,
        }
    }
    Some(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, token: &Token) -> bool {
        if self.peek() == Some(token) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn string(&mut self) -> Option<String> {
        match self.tokens.get(self.at)? {
            Token::Str(s) => {
                self.at += 1;
                Some(s.clone())
            }
            _ => None,
        }
    }

    /// `ENV['X']`, `ENV.fetch('X')`, `ENV.fetch('X', 'd')`, `ENV.fetch('X') { 'd' }`, `'text'`.
    fn value(&mut self) -> Option<Value> {
        if let Some(text) = self.string() {
            return Some(Value::Text(text));
        }
        if !self.eat(&Token::Env) {
            return None;
        }
        if self.eat(&Token::OpenBracket) {
            let name = self.string()?;
            self.eat(&Token::CloseBracket).then_some(())?;
            return Some(Value::Env {
                name,
                default: None,
            });
        }
        self.eat(&Token::Fetch).then_some(())?;
        self.eat(&Token::Open).then_some(())?;
        let name = self.string()?;
        let mut default = None;
        if self.eat(&Token::Comma) {
            default = Some(self.string()?);
        }
        self.eat(&Token::Close).then_some(())?;
        if default.is_none() && self.eat(&Token::OpenBrace) {
            default = Some(self.string()?);
            self.eat(&Token::CloseBrace).then_some(())?;
        }
        Some(Value::Env { name, default })
    }

    fn or(&mut self) -> Option<Condition> {
        let mut left = self.and()?;
        while self.eat(&Token::Or) {
            left = Condition::Or(Box::new(left), Box::new(self.and()?));
        }
        Some(left)
    }

    fn and(&mut self) -> Option<Condition> {
        let mut left = self.unary()?;
        while self.eat(&Token::And) {
            left = Condition::And(Box::new(left), Box::new(self.unary()?));
        }
        Some(left)
    }

    fn unary(&mut self) -> Option<Condition> {
        if self.eat(&Token::Not) {
            return Some(Condition::Not(Box::new(self.unary()?)));
        }
        if self.eat(&Token::Open) {
            let inner = self.or()?;
            self.eat(&Token::Close).then_some(())?;
            return Some(inner);
        }
        if self.eat(&Token::True) {
            return Some(Condition::Literal(true));
        }
        if self.eat(&Token::False) {
            return Some(Condition::Literal(false));
        }
        let Value::Env { name, default } = self.value()? else {
            return None;
        };
        if self.eat(&Token::Nil) {
            return Some(Condition::Not(Box::new(Condition::Set(name))));
        }
        if self.eat(&Token::Empty) {
            return Some(Condition::Not(Box::new(Condition::Set(name))));
        }
        for (token, equal) in [(Token::Eq, true), (Token::Ne, false)] {
            if self.eat(&token) {
                let text = self.string()?;
                return Some(Condition::Compare { name, equal, text });
            }
        }
        // A fetch with a default is always set: compare nothing, keep truth.
        Some(match default {
            Some(_) => Condition::Literal(true),
            None => Condition::Set(name),
        })
    }
}

fn parse_value(text: &str) -> Option<Value> {
    let mut parser = Parser {
        tokens: tokens(text)?,
        at: 0,
    };
    let value = parser.value()?;
    (parser.at == parser.tokens.len()).then_some(value)
}

fn parse_condition(text: &str) -> Option<Condition> {
    let text = text.strip_suffix(" then").unwrap_or(text);
    let mut parser = Parser {
        tokens: tokens(text)?,
        at: 0,
    };
    let condition = parser.or()?;
    (parser.at == parser.tokens.len()).then_some(condition)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_every_env_lookup_form() {
        let converted = convert(concat!(
            "AWS_ENDPOINT_URL=\"<%= ENV['AWS_ENDPOINT_URL'] %>\"\n",
            "FRONTEND_URL=https://3000-<%= ENV[\"GITPOD_WORKSPACE_ID\"] %>.gitpod.io\n",
            "OTEL_SERVICE_NAME=<%= ENV.fetch('OTEL_SERVICE_NAME', 'backend-flask') %>\n",
            "PORT=<%= ENV.fetch(\"PORT\") { \"4567\" } %>\n",
            "REGION=<%= ENV.fetch('AWS_DEFAULT_REGION') %>\n",
            "AWS_SECRET_ACCESS_KEY=<%= ENV['AWS_SECRET_ACCESS_KEY'] %>\n",
        ));
        assert_eq!(converted.problems, vec![]);
        assert_eq!(
            converted.text,
            concat!(
                "AWS_ENDPOINT_URL=\"{{ vars.AWS_ENDPOINT_URL }}\"\n",
                "FRONTEND_URL=https://3000-{{ vars.GITPOD_WORKSPACE_ID }}.gitpod.io\n",
                "OTEL_SERVICE_NAME={{ vars.OTEL_SERVICE_NAME | default(\"backend-flask\") }}\n",
                "PORT={{ vars.PORT | default(\"4567\") }}\n",
                "REGION={{ vars.AWS_DEFAULT_REGION }}\n",
                "AWS_SECRET_ACCESS_KEY={{ secret.AWS_SECRET_ACCESS_KEY }}\n",
            )
        );
        assert_eq!(converted.secrets, vec!["AWS_SECRET_ACCESS_KEY".to_owned()]);
    }

    #[test]
    fn converts_if_else_and_unless_blocks() {
        let converted = convert(concat!(
            "<% if ENV['GITPOD_WORKSPACE_ID'] %>\n",
            "URL=https://<%= ENV['GITPOD_WORKSPACE_ID'] %>.io\n",
            "<% elsif ENV['CODESPACE_NAME'] != '' -%>\n",
            "URL=https://<%= ENV['CODESPACE_NAME'] %>.dev\n",
            "<% else %>\n",
            "URL=http://localhost:3000\n",
            "<% end %>\n",
            "<%- unless ENV['DEBUG'].nil? && !ENV['X'] -%>\n",
            "DEBUG=1\n",
            "<% end %>\n",
        ));
        assert_eq!(converted.problems, vec![]);
        assert_eq!(
            converted.text,
            concat!(
                "{% if vars.GITPOD_WORKSPACE_ID | default(\"\") %}\n",
                "URL=https://{{ vars.GITPOD_WORKSPACE_ID | default(\"\") }}.io\n",
                "{% elif (vars.CODESPACE_NAME | default(\"\")) != \"\" %}",
                "URL=https://{{ vars.CODESPACE_NAME | default(\"\") }}.dev\n",
                "{% else %}\n",
                "URL=http://localhost:3000\n",
                "{% endif %}\n",
                "{% if not ((not (vars.DEBUG | default(\"\"))) and (not (vars.X | default(\"\")))) %}",
                "DEBUG=1\n",
                "{% endif %}\n",
            )
        );
    }

    #[test]
    fn the_converted_template_renders_like_erb_would() {
        let converted = convert(concat!(
            "<% if ENV['GITPOD_WORKSPACE_ID'] %>\n",
            "URL=https://<%= ENV['GITPOD_WORKSPACE_ID'] %>.io\n",
            "<% else %>\n",
            "URL=http://localhost\n",
            "<% end %>\n",
            "NAME=<%= ENV.fetch('NAME', 'a \"quoted\" {{ x }}') %>\n",
            "LITERAL={{ not a tag }} <%% kept\n",
        ));
        let mut engine = minijinja::Environment::new();
        engine.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let render = |vars: minijinja::Value| {
            engine
                .render_str(&converted.text, minijinja::context! { vars => vars })
                .unwrap()
        };
        let with = render(minijinja::context! { GITPOD_WORKSPACE_ID => "ws-1" });
        assert!(with.contains("URL=https://ws-1.io\n"), "{with}");
        assert!(!with.contains("localhost"), "{with}");
        let without = render(minijinja::context! {});
        assert!(without.contains("URL=http://localhost\n"), "{without}");
        assert!(without.contains("NAME=a \"quoted\" {{ x }}\n"), "{without}");
        assert!(
            without.contains("LITERAL={{ not a tag }} <% kept"),
            "{without}"
        );
    }

    #[test]
    fn names_what_it_cannot_convert_with_line_and_column() {
        let converted = convert(concat!(
            "A=1\n",
            "B=<%= ENV['B'].upcase %>\n",
            "  <% ENV.each do |k, v| %>\n",
            "C=<%= \"x#{ENV['C']}\" %>\n",
            "<% if ENV['D'] %>\n",
            "D=1\n",
        ));
        let located: Vec<(usize, usize)> = converted
            .problems
            .iter()
            .map(|p| (p.line, p.column))
            .collect();
        assert_eq!(located, vec![(2, 3), (3, 3), (4, 3), (5, 1)]);
        assert!(converted.problems[0].message.contains("ENV['B'].upcase"));
        assert!(converted.problems[3].message.contains("no `end`"));
        // The lines it could not convert are kept as comments; the rest still renders.
        assert!(
            converted.text.contains("# not converted: B=\n"),
            "{}",
            converted.text
        );
        assert!(converted.text.starts_with("A=1\n"));
        let mut engine = minijinja::Environment::new();
        engine.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        engine
            .render_str(
                &converted.text,
                minijinja::context! { vars => minijinja::context! {} },
            )
            .unwrap();
    }

    #[test]
    fn the_env_file_a_service_reads_finds_its_converted_template() {
        let compose = crate::yaml::parse(
            "services:\n  api:\n    build: ./api\n    env_file: backend.env\n  worker:\n    build: ./api\n    env_file: [backend.env]\n    environment:\n      QUEUE: jobs\n",
        )
        .unwrap();
        let mut manifest = Manifest::default();
        for env in ENVIRONMENTS {
            manifest
                .environments
                .insert((*env).to_owned(), Default::default());
        }
        for app in ["api", "worker"] {
            manifest.apps.insert(app.into(), Default::default());
        }
        let read = |path: &Path| -> Option<String> {
            (path == Path::new("project/erb/backend.env.erb"))
                .then(|| "DB_PASSWORD=<%= ENV['PGPASS'] %>\nMODE=<%= ENV.each %>\n".to_owned())
        };
        // What the importer had written for the worker from its `environment:`.
        let mut templates = vec![(
            PathBuf::from("config/dev/worker.env.j2"),
            "QUEUE=jobs\nDB_PASSWORD={{ secret.DB_PASSWORD }}\n".to_owned(),
        )];
        let mut notes = Vec::new();
        adopt_env_templates(
            compose.get("services").unwrap(),
            Path::new("project"),
            &read,
            &mut manifest,
            &mut templates,
            &mut notes,
        );
        // The api reads only the generated file: it shares the template named after it.
        assert_eq!(manifest.apps["api"].config.as_deref(), Some("backend"));
        let backend = &templates
            .iter()
            .find(|(p, _)| p == Path::new("config/prod/backend.env.j2"))
            .unwrap()
            .1;
        // A secret-looking key reads its variable as a secret.
        assert!(
            backend.contains("DB_PASSWORD={{ secret.PGPASS }}\n"),
            "{backend}"
        );
        assert_eq!(
            manifest.environments["prod"].secrets["PGPASS"],
            "env:PGPASS"
        );
        // The worker also sets its own keys: its own template, the ERB's keys first.
        assert_eq!(manifest.apps["worker"].config, None);
        let worker = &templates
            .iter()
            .find(|(p, _)| p == Path::new("config/dev/worker.env.j2"))
            .unwrap()
            .1;
        assert!(
            worker.contains("DB_PASSWORD={{ secret.PGPASS }}"),
            "{worker}"
        );
        assert!(worker.ends_with("QUEUE=jobs\n"), "{worker}");
        assert!(!worker.contains("secret.DB_PASSWORD"), "{worker}");
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("erb/backend.env.erb:2:6: ")),
            "{notes:?}"
        );
    }

    #[test]
    fn an_unclosed_tag_is_located() {
        let converted = convert("A=1\nB=<%= ENV['B']\n");
        assert_eq!(converted.problems.len(), 1);
        assert_eq!(
            (converted.problems[0].line, converted.problems[0].column),
            (2, 3)
        );
    }
}
