//! The shape of a compose file, checked before anything is converted: a field of the wrong
//! type is an error located at the field, as compose itself would refuse the file.

use crate::yaml::{Node, Pos, Value};

/// A field that has the wrong type: where, its path (`services.web.ports`) and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError {
    /// Where the field is.
    pub pos: Pos,
    /// The field's path, e.g. `services.web.ports`.
    pub path: String,
    /// What it must be, e.g. `a list of strings`.
    pub expected: &'static str,
}

#[derive(Clone, Copy)]
enum Shape {
    Map,
    List,
    ListOrMap,
    Text,
    TextOrList,
    TextOrMap,
    Scalar,
}

impl Shape {
    fn accepts(self, node: &Node) -> bool {
        let scalar = matches!(
            node.value,
            Value::Str(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_)
        );
        // An empty key (`volumes:`) is null, which compose takes as empty.
        if node.is_null() {
            return true;
        }
        match self {
            Shape::Map => matches!(node.value, Value::Map(_)),
            Shape::List => matches!(node.value, Value::Seq(_)),
            Shape::ListOrMap => matches!(node.value, Value::Seq(_) | Value::Map(_)),
            Shape::Text => matches!(node.value, Value::Str(_)),
            Shape::TextOrList => matches!(node.value, Value::Str(_) | Value::Seq(_)),
            Shape::TextOrMap => matches!(node.value, Value::Str(_) | Value::Map(_)),
            Shape::Scalar => scalar,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Shape::Map => "a mapping (key: value)",
            Shape::List => "a list",
            Shape::ListOrMap => "a list or a mapping",
            Shape::Text => "a string",
            Shape::TextOrList => "a string or a list",
            Shape::TextOrMap => "a string or a mapping",
            Shape::Scalar => "a single value",
        }
    }
}

const SERVICE_FIELDS: &[(&str, Shape)] = &[
    ("build", Shape::TextOrMap),
    ("image", Shape::Text),
    ("command", Shape::TextOrList),
    ("entrypoint", Shape::TextOrList),
    ("environment", Shape::ListOrMap),
    ("env_file", Shape::TextOrList),
    ("ports", Shape::List),
    ("expose", Shape::List),
    ("volumes", Shape::List),
    ("healthcheck", Shape::Map),
    ("depends_on", Shape::ListOrMap),
    ("profiles", Shape::List),
    ("secrets", Shape::List),
    ("networks", Shape::ListOrMap),
    ("labels", Shape::ListOrMap),
    ("deploy", Shape::Map),
    ("container_name", Shape::Text),
    ("hostname", Shape::Text),
    ("user", Shape::Scalar),
    ("working_dir", Shape::Text),
    ("restart", Shape::Text),
    ("extends", Shape::TextOrMap),
];

/// Checks the top level and every service's common fields.
pub fn check(root: &Node) -> Result<(), ShapeError> {
    let fail = |node: &Node, path: String, shape: Shape| ShapeError {
        pos: node.pos,
        path,
        expected: shape.describe(),
    };
    if !Shape::Map.accepts(root) {
        return Err(fail(root, "the file".into(), Shape::Map));
    }
    for (key, shape) in [
        ("services", Shape::Map),
        ("networks", Shape::Map),
        ("volumes", Shape::Map),
        ("secrets", Shape::Map),
        ("configs", Shape::Map),
    ] {
        if let Some(node) = root.get(key)
            && !shape.accepts(node)
        {
            return Err(fail(node, key.into(), shape));
        }
    }
    let Some(services) = root.get("services") else {
        return Ok(());
    };
    for (name, service) in services.entries() {
        let path = format!("services.{}", name.name);
        if !Shape::Map.accepts(service) {
            return Err(fail(service, path, Shape::Map));
        }
        for (field, shape) in SERVICE_FIELDS {
            if let Some(node) = service.get(field)
                && !shape.accepts(node)
            {
                return Err(fail(node, format!("{path}.{field}"), *shape));
            }
        }
        if let Some(test) = service.get("healthcheck").and_then(|c| c.get("test"))
            && !Shape::TextOrList.accepts(test)
        {
            return Err(fail(
                test,
                format!("{path}.healthcheck.test"),
                Shape::TextOrList,
            ));
        }
        if let Some(build) = service.get("build") {
            for (field, shape) in [
                ("context", Shape::Text),
                ("dockerfile", Shape::Text),
                ("target", Shape::Text),
                ("args", Shape::ListOrMap),
            ] {
                if let Some(node) = build.get(field)
                    && !shape.accepts(node)
                {
                    return Err(fail(node, format!("{path}.build.{field}"), shape));
                }
            }
        }
        if let Some(deploy) = service.get("deploy")
            && let Some(replicas) = deploy.get("replicas")
            && !matches!(replicas.value, Value::Int(_) | Value::Null)
        {
            return Err(ShapeError {
                pos: replicas.pos,
                path: format!("{path}.deploy.replicas"),
                expected: "a whole number",
            });
        }
    }
    Ok(())
}
