//! Compose's variable interpolation (`${X}`, `${X:-default}`, `${X:?error}`, `${X:+alt}`, `$X`,
//! `$$`) for the fields slipway.toml writes as plain values. Values come from the project's
//! `.env` file, as compose reads them; a variable named like a secret is never resolved into
//! a value: the caller keeps it a reference.

use indexmap::IndexMap;
use slipway_core::manifest::looks_secret;

/// What a text became.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// The text with every non-secret variable replaced; secret ones are left as `${NAME}`.
    pub text: String,
    /// Variables named like secrets, left as references.
    pub secrets: Vec<String>,
    /// Variables with no value and no default (compose would use an empty string).
    pub unset: Vec<String>,
    /// `${X:?message}` whose X has no value: compose would refuse to start.
    pub required: Vec<(String, String)>,
    /// Whether any variable was read at all.
    pub used_variables: bool,
}

/// The variables compose would interpolate with: the `.env` file beside the compose file.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    /// Variable name → value.
    pub values: IndexMap<String, String>,
}

impl Variables {
    /// `text` with `${VAR}`, `$VAR` and their defaults and errors expanded as compose does, with what was read.
    pub fn resolve(&self, text: &str) -> Resolved {
        let mut resolved = Resolved::default();
        resolved.text = self.expand(text, &mut resolved);
        resolved
    }

    fn expand(&self, text: &str, out: &mut Resolved) -> String {
        let mut result = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            result.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(escaped) = after.strip_prefix('$') {
                result.push('$');
                rest = escaped;
                continue;
            }
            if let Some(inner) = after.strip_prefix('{') {
                let Some(close) = matching_brace(inner) else {
                    // Not a variable compose could read either; kept as written.
                    result.push('$');
                    rest = after;
                    continue;
                };
                result.push_str(&self.variable(&inner[..close], out));
                rest = &inner[close + 1..];
                continue;
            }
            let len = name_length(after);
            if len == 0 {
                result.push('$');
                rest = after;
                continue;
            }
            result.push_str(&self.variable(&after[..len], out));
            rest = &after[len..];
        }
        result.push_str(rest);
        result
    }

    /// One `${...}` body (or a bare `$NAME`).
    fn variable(&self, body: &str, out: &mut Resolved) -> String {
        out.used_variables = true;
        let len = name_length(body);
        let (name, operator) = body.split_at(len);
        if looks_secret(name) {
            if !out.secrets.iter().any(|s| s == name) {
                out.secrets.push(name.to_owned());
            }
            return format!("${{{name}}}");
        }
        let value = self.values.get(name);
        let set_nonempty = value.is_some_and(|v| !v.is_empty());
        let operand = |op: &str| operator.strip_prefix(op);
        if let Some(default) = operand(":-") {
            return match value.filter(|v| !v.is_empty()) {
                Some(v) => v.clone(),
                None => self.expand(default, out),
            };
        }
        if let Some(default) = operand("-") {
            return match value {
                Some(v) => v.clone(),
                None => self.expand(default, out),
            };
        }
        if let Some(message) = operand(":?").or_else(|| operand("?")) {
            let strict = operator.starts_with(":?");
            let missing = if strict {
                !set_nonempty
            } else {
                value.is_none()
            };
            if missing {
                out.required.push((name.to_owned(), message.to_owned()));
            }
            return value.cloned().unwrap_or_default();
        }
        if let Some(alternative) = operand(":+") {
            return if set_nonempty {
                self.expand(alternative, out)
            } else {
                String::new()
            };
        }
        if let Some(alternative) = operand("+") {
            return if value.is_some() {
                self.expand(alternative, out)
            } else {
                String::new()
            };
        }
        match value {
            Some(v) => v.clone(),
            None => {
                if !out.unset.iter().any(|u| u == name) {
                    out.unset.push(name.to_owned());
                }
                String::new()
            }
        }
    }
}

fn name_length(text: &str) -> usize {
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        return 0;
    }
    text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len())
}

/// Where the `}` closing a `${` is, counting nested `${...}` in defaults.
fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        Variables {
            values: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn resolves_like_compose() {
        let v = vars(&[("TAG", "1.2"), ("EMPTY", "")]);
        assert_eq!(v.resolve("app:${TAG}").text, "app:1.2");
        assert_eq!(v.resolve("app:$TAG-x").text, "app:1.2-x");
        assert_eq!(v.resolve("${EMPTY:-d}").text, "d");
        assert_eq!(v.resolve("${EMPTY-d}").text, "");
        assert_eq!(v.resolve("${NOPE-d}").text, "d");
        assert_eq!(v.resolve("${NOPE:-${TAG}}").text, "1.2");
        assert_eq!(v.resolve("${TAG:+yes}").text, "yes");
        assert_eq!(v.resolve("${NOPE:+yes}").text, "");
        assert_eq!(v.resolve("$$HOME").text, "$HOME");
        assert_eq!(v.resolve("5$").text, "5$");
        let unset = v.resolve("${NOPE}");
        assert_eq!(unset.unset, ["NOPE"]);
        let required = v.resolve("${NOPE:?set NOPE first}");
        assert_eq!(
            required.required,
            [("NOPE".to_owned(), "set NOPE first".to_owned())]
        );
    }

    #[test]
    fn secrets_stay_references() {
        let v = vars(&[("DB_PASSWORD", "hunter2")]);
        let resolved = v.resolve("--requirepass ${DB_PASSWORD}");
        assert_eq!(resolved.text, "--requirepass ${DB_PASSWORD}");
        assert_eq!(resolved.secrets, ["DB_PASSWORD"]);
    }
}
