//! Every enum-valued field of slipway.toml answers a misspelt value with the allowed values and
//! the one meant, at the value, in words a person editing TOML uses. The fields are found in the
//! JSON schema `slipway schema` prints, so a new enum is covered as soon as it exists.

use serde_json::{Map, Value};
use slipway_core::manifest::{json_schema, load_manifest};

/// Words of serde's own vocabulary that must never reach a user.
const JARGON: &[&str] = &[
    "internally tagged",
    "variant",
    "enum",
    "struct",
    "a map",
    "untagged",
    "identifier",
    "newtype",
];

/// A field whose value is one of a fixed set of strings.
#[derive(Debug)]
struct EnumField {
    /// TOML keys from the root to the field (map entries and array items get a sample name).
    path: Vec<PathStep>,
    allowed: Vec<String>,
    /// Fixed `kind` values of the tables on the way (a field inside `{ kind = "canary", ... }`).
    context: Vec<(usize, String)>,
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    Item,
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            resolve(root, &root["$defs"][name])
        }
        None => schema,
    }
}

/// The constant `kind` of each branch of a tagged `oneOf`, when the schema is one.
fn tagged_branches<'a>(root: &'a Value, schema: &'a Value) -> Option<Vec<(String, &'a Value)>> {
    let branches = schema.get("oneOf")?.as_array()?;
    branches
        .iter()
        .map(|branch| {
            let branch = resolve(root, branch);
            let kind = branch.get("properties")?.get("kind")?;
            let kind = kind
                .get("const")
                .or_else(|| kind.get("enum").and_then(|e| e.get(0)))?
                .as_str()?
                .to_owned();
            Some((kind, branch))
        })
        .collect()
}

fn string_enum(schema: &Value) -> Option<Vec<String>> {
    let values = schema.get("enum")?;
    values
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// A documented string enum: `oneOf` of `{ enum: [one] }` / `{ const: one }` branches.
fn documented_string_enum(schema: &Value) -> Option<Vec<String>> {
    let branches = schema.get("oneOf")?.as_array()?;
    let mut values = Vec::new();
    for branch in branches {
        if let Some(value) = branch.get("const").and_then(Value::as_str) {
            values.push(value.to_owned());
        } else {
            values.extend(string_enum(branch)?);
        }
    }
    Some(values)
}

fn collect(
    root: &Value,
    schema: &Value,
    path: Vec<PathStep>,
    context: Vec<(usize, String)>,
    found: &mut Vec<EnumField>,
    depth: usize,
) {
    if depth > 12 {
        return;
    }
    let schema = resolve(root, schema);
    if let Some(values) = string_enum(schema).or_else(|| documented_string_enum(schema)) {
        found.push(EnumField {
            path,
            allowed: values,
            context,
        });
        return;
    }
    if let Some(branches) = tagged_branches(root, schema) {
        let mut kind_path = path.clone();
        kind_path.push(PathStep::Key("kind".into()));
        found.push(EnumField {
            path: kind_path,
            allowed: branches.iter().map(|(k, _)| k.clone()).collect(),
            context: context.clone(),
        });
        for (kind, branch) in branches {
            let mut context = context.clone();
            context.push((path.len(), kind));
            collect_object(root, branch, &path, &context, found, depth);
        }
        return;
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            for option in options {
                collect(
                    root,
                    option,
                    path.clone(),
                    context.clone(),
                    found,
                    depth + 1,
                );
            }
            return;
        }
    }
    if let Some(items) = schema.get("items") {
        let mut path = path.clone();
        path.push(PathStep::Item);
        collect(root, items, path, context, found, depth + 1);
        return;
    }
    collect_object(root, schema, &path, &context, found, depth);
}

fn collect_object(
    root: &Value,
    schema: &Value,
    path: &[PathStep],
    context: &[(usize, String)],
    found: &mut Vec<EnumField>,
    depth: usize,
) {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (key, property) in properties {
            if key == "kind" && context.iter().any(|(at, _)| *at == path.len()) {
                continue;
            }
            let mut path = path.to_vec();
            path.push(PathStep::Key(key.clone()));
            collect(root, property, path, context.to_vec(), found, depth + 1);
        }
    }
    if let Some(entries) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        let mut path = path.to_vec();
        path.push(PathStep::Key(sample_name(path.last())));
        collect(root, entries, path, context.to_vec(), found, depth + 1);
    }
}

fn sample_name(parent: Option<&PathStep>) -> String {
    match parent {
        Some(PathStep::Key(key)) if key == "severity" => "DF001".into(),
        _ => "web".into(),
    }
}

/// The smallest value the schema accepts, for required keys around the field under test.
fn minimal(root: &Value, schema: &Value) -> Value {
    let schema = resolve(root, schema);
    if let Some(values) = string_enum(schema).or_else(|| documented_string_enum(schema)) {
        return Value::String(values[0].clone());
    }
    if let Some(branches) = tagged_branches(root, schema) {
        let (kind, branch) = &branches[0];
        let mut table = minimal_object(root, branch);
        table.insert("kind".into(), Value::String(kind.clone()));
        return Value::Object(table);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|o| o.first())
        {
            return minimal(root, first);
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec!["object"],
    };
    match types
        .iter()
        .find(|t| **t != "null")
        .copied()
        .unwrap_or("null")
    {
        "string" => Value::String("x".into()),
        "integer" | "number" => Value::from(1),
        "boolean" => Value::Bool(true),
        "array" => Value::Array(vec![]),
        _ => Value::Object(minimal_object(root, schema)),
    }
}

fn minimal_object(root: &Value, schema: &Value) -> Map<String, Value> {
    let mut table = Map::new();
    let properties = schema.get("properties").and_then(Value::as_object);
    for key in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Some(property) = properties.and_then(|p| p.get(key)) {
            table.insert(key.to_owned(), minimal(root, property));
        }
    }
    table
}

/// A manifest with `value` at the field, the required keys of every table on the way filled in.
fn manifest_with(root: &Value, field: &EnumField, value: &str) -> String {
    let mut document = Value::Object(minimal_object(root, root));
    document["project"]["name"] = Value::String("shop".into());
    let mut node = &mut document;
    for (at, step) in field.path.iter().enumerate() {
        if let Some((_, kind)) = field.context.iter().find(|(depth, _)| *depth == at) {
            node.as_object_mut()
                .unwrap()
                .insert("kind".into(), Value::String(kind.clone()));
        }
        let last = at + 1 == field.path.len();
        let placeholder = Value::Object(Map::new());
        node = match step {
            PathStep::Key(key) => {
                let table = node.as_object_mut().expect("a table on the way");
                if last {
                    table.insert(key.clone(), Value::String(value.to_owned()));
                    break;
                }
                table.entry(key.clone()).or_insert(placeholder)
            }
            PathStep::Item => {
                if !node.is_array() {
                    *node = Value::Array(vec![]);
                }
                let array = node.as_array_mut().unwrap();
                if last {
                    array.push(Value::String(value.to_owned()));
                    break;
                }
                array.push(placeholder);
                array.last_mut().unwrap()
            }
        };
    }
    toml::to_string(&document).expect("a JSON tree of tables is TOML")
}

fn field_path(path: &[PathStep]) -> String {
    let mut shown = String::new();
    for step in path {
        match step {
            PathStep::Key(key) => {
                if !shown.is_empty() {
                    shown.push('.');
                }
                shown.push_str(key);
            }
            PathStep::Item => shown.push_str("[0]"),
        }
    }
    shown
}

/// A misspelling of `value` a person could make: one letter doubled near the end.
fn near_miss(value: &str) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    let at = chars.len().saturating_sub(1);
    chars.insert(at, chars[at]);
    chars.into_iter().collect()
}

fn enum_fields() -> (Value, Vec<EnumField>) {
    let schema = json_schema();
    let mut found = Vec::new();
    collect(&schema, &schema, Vec::new(), Vec::new(), &mut found, 0);
    (schema, found)
}

#[test]
fn the_sweep_finds_the_enum_fields_users_write() {
    let (_, fields) = enum_fields();
    let paths: Vec<String> = fields.iter().map(|f| field_path(&f.path)).collect();
    for expected in [
        "environments.web.strategy.kind",
        "environments.web.target.kind",
        "environments.web.target.deployments",
        "apps.web.build",
        "lint.severity.DF001",
        "notifications.web.kind",
        "pipelines.web.kind",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} not found among {paths:#?}"
        );
    }
}

#[test]
fn every_enum_field_suggests_the_value_meant_and_lists_the_allowed_ones() {
    let (schema, fields) = enum_fields();
    let mut failures = Vec::new();
    for field in &fields {
        let path = field_path(&field.path);
        for intended in &field.allowed {
            let typo = near_miss(intended);
            if field.allowed.contains(&typo) {
                continue;
            }
            let source = manifest_with(&schema, field, &typo);
            let problems = match load_manifest(&source) {
                Ok(_) => {
                    failures.push(format!("{path} = {typo:?}: accepted\n{source}"));
                    continue;
                }
                Err(error) => error.problems().to_vec(),
            };
            let Some(problem) = problems.iter().find(|p| p.path.to_string() == path) else {
                failures.push(format!(
                    "{path} = {typo:?}: no problem at the field, only {problems:#?}\n{source}"
                ));
                continue;
            };
            let text = format!(
                "{}\n{}",
                problem.message,
                problem.help.clone().unwrap_or_default()
            );
            let located = problem
                .span
                .clone()
                .is_some_and(|span| source[span].contains(&typo));
            let lists_all = field.allowed.iter().all(|v| text.contains(v.as_str()));
            let suggests = text.contains(&format!("did you mean `{intended}`?"));
            let jargon: Vec<&str> = JARGON
                .iter()
                .copied()
                .filter(|word| text.to_lowercase().contains(word))
                .collect();
            if !located || !lists_all || !suggests || !jargon.is_empty() {
                failures.push(format!(
                    "{path} = {typo:?} (meant {intended:?}): located {located}, lists all \
                     {lists_all}, suggests {suggests}, jargon {jargon:?}:\n{text}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of the enum fields' errors fall short:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

const SHORTHAND: &str = r#"
[project]
name = "shop"

[environments.stage]
target = "docker"
strategy = "blue-green"
"#;

#[test]
fn a_kind_alone_is_short_for_its_table() {
    let manifest = load_manifest(SHORTHAND).expect("the shorthand is a valid manifest");
    let stage = &manifest.environments["stage"];
    assert!(matches!(
        stage.strategy,
        slipway_core::manifest::Strategy::BlueGreen { bake: None }
    ));
    assert!(stage.target.is_local_docker());
}

#[test]
fn the_schema_accepts_the_shorthand() {
    let schema = json_schema();
    let environment = &schema["$defs"]["Environment"]["properties"];
    for (field, kind) in [("strategy", "blue-green"), ("target", "docker")] {
        let shorthand = environment[field]["anyOf"]
            .as_array()
            .and_then(|options| options.iter().find(|o| o["type"] == "string"))
            .unwrap_or_else(|| panic!("{field} has no string form: {}", environment[field]));
        assert!(
            shorthand["enum"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v == kind),
            "{shorthand}"
        );
    }
}

#[test]
fn a_misspelt_shorthand_suggests_the_kind_at_the_value() {
    let source = SHORTHAND.replace("\"blue-green\"", "\"blue-gren\"");
    let error = load_manifest(&source).expect_err("a misspelt kind is refused");
    let problem = &error.problems()[0];
    assert_eq!(problem.path.to_string(), "environments.stage.strategy");
    assert_eq!(&source[problem.span.clone().unwrap()], "\"blue-gren\"");
    assert_eq!(problem.message, "unknown strategy `blue-gren`");
    assert!(
        problem
            .help
            .as_deref()
            .unwrap()
            .starts_with("did you mean `blue-green`?"),
        "{problem:?}"
    );
}

#[test]
fn a_kind_that_needs_settings_asks_for_the_table() {
    // canary needs its steps; recreate needs its consent to downtime.
    for kind in ["canary", "recreate"] {
        let source = SHORTHAND.replace("\"blue-green\"", &format!("\"{kind}\""));
        let error = load_manifest(&source).expect_err("the kind alone is not enough");
        let problem = &error.problems()[0];
        assert_eq!(problem.path.to_string(), "environments.stage.strategy");
        assert!(
            problem
                .message
                .contains(&format!("write `strategy = {{ kind = \"{kind}\", ... }}`")),
            "{problem:?}"
        );
    }
}

#[test]
fn wrong_types_are_named_in_plain_words() {
    for (value, expected) in [
        (
            "3",
            "a table like `{ kind = \"blue-green\" }` or its kind alone",
        ),
        ("[\"rolling\"]", "a table like `{ kind = \"blue-green\" }`"),
    ] {
        let source = SHORTHAND.replace("\"blue-green\"", value);
        let error = load_manifest(&source).expect_err("a wrong type is refused");
        let problem = &error.problems()[0];
        let text = format!(
            "{} {}",
            problem.message,
            problem.help.clone().unwrap_or_default()
        );
        assert_eq!(problem.path.to_string(), "environments.stage.strategy");
        assert!(text.contains(expected), "{text}");
        for word in JARGON {
            assert!(!text.to_lowercase().contains(word), "{word} in {text}");
        }
    }
    let source = SHORTHAND.replace("name = \"shop\"", "name = 3");
    let error = load_manifest(&source).expect_err("a number is not a name");
    let help = error.problems()[0].help.clone().unwrap_or_default();
    assert!(help.contains("expected text"), "{help}");
}

#[test]
fn a_host_in_neither_form_names_both_forms() {
    let source = SHORTHAND.replace(
        "target = \"docker\"",
        "target = { kind = \"docker\", hosts = [3] }",
    );
    let error = load_manifest(&source).expect_err("a number is not a host");
    let problem = &error.problems()[0];
    let text = format!(
        "{} {}",
        problem.message,
        problem.help.clone().unwrap_or_default()
    );
    assert!(text.contains("ssh://deploy@host"), "{text}");
    assert_eq!(problem.path.to_string(), "environments.stage.target.hosts");
    assert_eq!(&source[problem.span.clone().unwrap()], "[3]");
    for word in JARGON {
        assert!(!text.to_lowercase().contains(word), "{word} in {text}");
    }
}
