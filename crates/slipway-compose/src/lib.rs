//! docker-compose files: a located YAML tree for linting, and the conversion of a compose
//! project into slipway.toml.

#![warn(missing_docs)]

pub mod adopt;
pub mod check;
pub mod convert;
pub mod erb;
pub mod import;
pub mod interpolate;
pub mod variants;
pub mod words;
pub mod yaml;

pub use import::{ComposeError, ComposeSource, Edit, Imported, import};

use yaml::{Node, Value};

/// Applies `extends: { service: name }` (and `extends: name`) within one file: the extended
/// service's keys, overridden by the extending one's, as compose does.
pub fn resolve_extends(mut root: Node) -> Node {
    let Value::Map(entries) = &mut root.value else {
        return root;
    };
    let Some((_, services)) = entries.iter_mut().find(|(k, _)| k.name == "services") else {
        return root;
    };
    let Value::Map(list) = &services.value else {
        return root;
    };
    let originals = list.clone();
    let mut resolved = Vec::with_capacity(list.len());
    for (key, service) in originals.iter() {
        resolved.push((key.clone(), extend(service, &originals, 0)));
    }
    services.value = Value::Map(resolved);
    root
}

fn extend(service: &Node, all: &[(yaml::Key, Node)], depth: usize) -> Node {
    let Some(extends) = service.get("extends") else {
        return service.clone();
    };
    if extends.get("file").is_some() || depth > 8 {
        return service.clone();
    }
    let Some(parent_name) = extends
        .as_text()
        .or_else(|| extends.get("service").and_then(Node::as_text))
    else {
        return service.clone();
    };
    let Some((_, parent)) = all.iter().find(|(k, _)| k.name == parent_name) else {
        return service.clone();
    };
    let parent = extend(parent, all, depth + 1);
    import::merge(parent, service.clone(), "")
}
