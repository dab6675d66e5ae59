//! Field paths such as `environments.prod.strategy.kind`, and finding them in the parsed TOML.

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A table's key.
    Key(String),
    /// An array's position, from 0.
    Index(usize),
}

/// The path of a field from the top of the file, shown as `environments.prod.tests[0].http`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    /// The top of the file.
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// This path with `key` of the table it leads to appended.
    pub fn key(&self, key: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        FieldPath(segments)
    }

    /// This path with position `index` of the array it leads to appended.
    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        FieldPath(segments)
    }

    /// The path one step up; `None` at the top.
    pub fn parent(&self) -> Option<FieldPath> {
        let (_, rest) = self.0.split_last()?;
        Some(FieldPath(rest.to_vec()))
    }

    /// Whether this is the top of the file.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn from_serde(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment as S;
        FieldPath(
            path.iter()
                .filter_map(|segment| match segment {
                    S::Seq { index } => Some(Segment::Index(*index)),
                    S::Map { key } => Some(Segment::Key(key.clone())),
                    S::Enum { .. } | S::Unknown => None,
                })
                .collect(),
        )
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for segment in &self.0 {
            match segment {
                Segment::Key(key) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    let bare = !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare {
                        f.write_str(key)?;
                    } else {
                        write!(f, "{key:?}")?;
                    }
                }
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

/// Spans of the node at `path`: the key (when the node is a table entry) and the value.
pub(crate) fn locate(
    root: &Spanned<DeTable<'_>>,
    path: &FieldPath,
) -> Option<(Option<Range<usize>>, Range<usize>)> {
    let mut key_span = None;
    let mut value_span = root.span();
    let mut table = Some(root.get_ref());
    let mut array: Option<&DeArray<'_>> = None;
    for segment in &path.0 {
        let node = match segment {
            Segment::Key(key) => {
                let (k, v) = table?.iter().find(|(k, _)| k.get_ref().as_ref() == key)?;
                key_span = Some(k.span());
                v
            }
            Segment::Index(index) => {
                key_span = None;
                array?.get(*index)?
            }
        };
        value_span = node.span();
        table = None;
        array = None;
        match node.get_ref() {
            DeValue::Table(t) => table = Some(t),
            DeValue::Array(a) => array = Some(a),
            _ => {}
        }
    }
    Some((key_span, value_span))
}

/// Removes the node at `path`; false when there is nothing to remove.
pub(crate) fn remove(root: &mut Spanned<DeTable<'_>>, path: &FieldPath) -> bool {
    let Some((last, parents)) = path.0.split_last() else {
        return false;
    };
    let mut node_table: Option<&mut DeTable<'_>> = Some(root.get_mut());
    let mut node_array: Option<&mut DeArray<'_>> = None;
    for segment in parents {
        let next = match segment {
            Segment::Key(key) => node_table
                .take()
                .and_then(|t| t.iter_mut().find(|(k, _)| k.get_ref().as_ref() == key))
                .map(|(_, v)| v),
            Segment::Index(index) => node_array.take().and_then(|a| a.get_mut(*index)),
        };
        let Some(next) = next else { return false };
        node_table = None;
        node_array = None;
        match next.get_mut() {
            DeValue::Table(t) => node_table = Some(t),
            DeValue::Array(a) => node_array = Some(a),
            _ => return false,
        }
    }
    match last {
        Segment::Key(key) => match node_table {
            Some(table) => {
                let before = table.len();
                let old = std::mem::replace(table, DeTable::new());
                for (k, v) in old {
                    if k.get_ref().as_ref() != key {
                        table.insert(k, v);
                    }
                }
                table.len() != before
            }
            None => false,
        },
        Segment::Index(index) => match node_array {
            Some(array) if *index < array.len() => {
                let mut kept = DeArray::new();
                for (i, item) in array.iter().enumerate() {
                    if i != *index {
                        kept.push(item.clone());
                    }
                }
                *array = kept;
                true
            }
            _ => false,
        },
    }
}

/// The keys of a top-level table such as `apps`, as written in the file.
pub(crate) fn section_keys(root: &Spanned<DeTable<'_>>, section: &str) -> Vec<String> {
    root.get_ref()
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == section)
        .and_then(|(_, v)| match v.get_ref() {
            DeValue::Table(t) => Some(t.keys().map(|k| k.get_ref().to_string()).collect()),
            _ => None,
        })
        .unwrap_or_default()
}
