//! A YAML tree that remembers where every node was written, with anchors, aliases and merge
//! keys (`<<: *defaults`) resolved.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// 1-based line and column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// A YAML value, anchors, aliases and merge keys already resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string (quoted or plain).
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in the file's order (a repeated key appears twice; the last wins).
    Map(Vec<(Key, Node)>),
}

/// A value and where it starts in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where it starts.
    pub pos: Pos,
}

/// A mapping's key and where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key's text.
    pub name: String,
    /// Where it is written.
    pub pos: Pos,
}

impl Node {
    /// The value of `key` in a mapping (the last one when repeated); `None` for other values.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .rev()
                .find(|(k, _)| k.name == key)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Where `key` is written in a mapping.
    pub fn key_pos(&self, key: &str) -> Option<Pos> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .rev()
                .find(|(k, _)| k.name == key)
                .map(|(k, _)| k.pos),
            _ => None,
        }
    }

    /// A mapping's entries; empty for other values.
    pub fn entries(&self) -> &[(Key, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    /// A sequence's items; empty for other values.
    pub fn items(&self) -> &[Node] {
        match &self.value {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    /// The scalar as text (numbers and booleans too), None for collections and null.
    pub fn as_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A boolean as such; `None` for other values.
    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Bool(b) => Some(*b),
            Value::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
            _ => None,
        }
    }

    /// Whether the value is null.
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }
}

/// Text that is not YAML this reader takes, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// What is wrong.
    pub message: String,
    /// Where, when known.
    pub pos: Option<Pos>,
    /// What to do, when it is not "fix the syntax" (a limit of the reader).
    pub help: Option<String>,
}

/// Parses one YAML document.
pub fn parse(source: &str) -> Result<Node, YamlError> {
    if source.trim().is_empty() {
        return Ok(Node {
            value: Value::Map(Vec::new()),
            pos: Pos { line: 1, column: 1 },
        });
    }
    let spanned: Spanned<Node> = serde_saphyr::from_str(source).map_err(|error| {
        let text = error.to_string();
        let first_line = clean_message(text.lines().next().unwrap_or("invalid YAML"));
        let (message, help) = match limit_message(&first_line) {
            Some(message) => (message, Some(LIMIT_HELP.to_owned())),
            None => (first_line, None),
        };
        YamlError {
            pos: position_in(&text),
            message,
            help,
        }
    })?;
    let mut node = spanned.value;
    node.pos = pos_of(&spanned.defined);
    Ok(node)
}

const LIMIT_HELP: &str =
    "a compose file never comes near this limit; it is fixed, it cannot be raised";

/// The reader's limits (anchors, aliases and merge keys that expand without end: a "billion
/// laughs" file) in words: the parser says `budget breached: MergeKeys { merge_keys: 10001 }`.
fn limit_message(message: &str) -> Option<String> {
    let breach = message.strip_prefix("budget breached: ")?;
    let name = breach
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default();
    let numbers: Vec<usize> = breach
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let limits = serde_saphyr::Budget::default();
    let what = match name {
        "Events" => format!("more than {} YAML events", limits.max_events),
        "Aliases" => format!("more than {} aliases (`*name`)", limits.max_aliases),
        "Anchors" => format!("more than {} anchors (`&name`)", limits.max_anchors),
        "Depth" => format!("values nested more than {} deep", limits.max_depth),
        "Documents" => format!("more than {} documents", limits.max_documents),
        "Nodes" => format!(
            "more than {} values once its aliases are expanded",
            limits.max_nodes
        ),
        "ScalarBytes" => format!(
            "more than {} MiB of text once its aliases are expanded",
            limits.max_total_scalar_bytes / (1024 * 1024)
        ),
        "MergeKeys" => format!("more than {} merge keys (`<<`)", limits.max_merge_keys),
        "AliasAnchorRatio" => match numbers[..] {
            [aliases, anchors, ..] => format!(
                "{aliases} aliases of only {anchors} anchors (more than {} uses of each)",
                limits.alias_anchor_ratio_multiplier
            ),
            _ => "far more aliases than anchors".to_owned(),
        },
        "SequenceUnbalanced" => return Some("the file ends inside a list or a mapping".into()),
        "InputBytes" => "more bytes than the reader takes".to_owned(),
        "RecordedAnchorEvents" | "RecordedAnchorBytes" => {
            "anchors that copy more than the reader keeps".to_owned()
        }
        _ => "more than the YAML reader allows".to_owned(),
    };
    Some(format!(
        "the file holds {what}: over the YAML reader's limit (an alias bomb or a merge-key loop?); remove the repetition"
    ))
}

/// The parser's message without the position (shown separately) or advice about its options.
fn clean_message(line: &str) -> String {
    let mut message = line.trim().trim_start_matches("error:").trim();
    if message.starts_with("line ")
        && let Some((_, rest)) = message.split_once(": ")
    {
        message = rest;
    }
    let message = message
        .split(", set DuplicateKeyPolicy")
        .next()
        .unwrap_or(message);
    if message.contains("recursive references") {
        return "an alias refers to the anchor it is part of (a merge key or alias cycle); YAML cannot expand it".into();
    }
    message.to_owned()
}

/// Pulls "line N column M" out of an error's text.
fn position_in(text: &str) -> Option<Pos> {
    let lower = text.to_ascii_lowercase();
    let number_after = |word: &str| -> Option<usize> {
        let at = lower.find(word)? + word.len();
        let digits: String = lower[at..]
            .trim_start_matches([' ', ':'])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    Some(Pos {
        line: number_after("line")?,
        column: number_after("column").unwrap_or(1),
    })
}

fn pos_of(location: &serde_saphyr::Location) -> Pos {
    Pos {
        line: location.line() as usize,
        column: location.column() as usize,
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = deserializer.deserialize_any(ValueVisitor)?;
        Ok(Node {
            value,
            pos: Pos::default(),
        })
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = deserializer.deserialize_any(ValueVisitor)?;
        let name = match value {
            Value::Str(s) => s,
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => "null".into(),
            Value::Seq(_) | Value::Map(_) => {
                return Err(de::Error::custom("mapping keys must be scalars"));
            }
        };
        Ok(Key {
            name,
            pos: Pos::default(),
        })
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v)
            .map(Value::Int)
            .unwrap_or(Value::Float(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            let mut node = item.value;
            node.pos = pos_of(&item.defined);
            items.push(node);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Key>>()? {
            let value: Spanned<Node> = map.next_value()?;
            let mut key_node = key.value;
            key_node.pos = pos_of(&key.defined);
            let mut node = value.value;
            node.pos = pos_of(&value.defined);
            entries.push((key_node, node));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_and_resolves_merge_keys() {
        let source = "x-defaults: &defaults\n  restart: always\n  image: nginx:1.27\nservices:\n  web:\n    <<: *defaults\n    image: nginx:1.27.3\n";
        let root = parse(source).unwrap();
        let web = root.get("services").unwrap().get("web").unwrap();
        assert_eq!(
            web.get("restart").and_then(Node::as_text).as_deref(),
            Some("always")
        );
        assert_eq!(
            web.get("image").and_then(Node::as_text).as_deref(),
            Some("nginx:1.27.3")
        );
        assert_eq!(web.key_pos("image").unwrap().line, 7);
        assert_eq!(
            root.get("services").unwrap().key_pos("web").unwrap(),
            Pos { line: 5, column: 3 }
        );
    }

    #[test]
    fn limits_are_named_in_words_with_a_position_and_what_to_do() {
        let mut bomb =
            String::from("services: {}\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let aliases = vec![format!("*a{}", i - 1); 9].join(", ");
            bomb.push_str(&format!("x{i}: &a{i} [{aliases}]\n"));
        }
        let error = parse(&bomb).unwrap_err();
        assert!(error.pos.is_some(), "{error:?}");
        assert!(
            !error.message.contains("budget breached"),
            "{}",
            error.message
        );
        assert!(
            error.message.contains("once its aliases are expanded"),
            "{}",
            error.message
        );
        assert!(error.help.as_deref().unwrap().contains("cannot be raised"));

        let mut merges = String::from("base: &b {k: 1}\n");
        for i in 0..10_001 {
            merges.push_str(&format!("m{i}: {{<<: *b}}\n"));
        }
        let error = parse(&merges).unwrap_err();
        assert_eq!(
            error.message,
            "the file holds more than 10000 merge keys (`<<`): over the YAML reader's limit (an alias bomb or a merge-key loop?); remove the repetition"
        );
        assert_eq!(error.pos.map(|p| p.line), Some(10_002));
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let error = parse("services:\n  web:\n    image: [unclosed\n").unwrap_err();
        assert!(error.pos.is_some(), "{error:?}");
    }
}
