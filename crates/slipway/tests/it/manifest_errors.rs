use crate::{run, slipway, write};

const BROKEN: &str = r#"[project]
name = "shop"
colour = "blue"

[bases.python]
image = "shop/base-python"

[apps.api]
base = "pyhton"
port = "8000"
health = { path = "/health" }

[environments.prod]
registry = "ecr"
services = ["db"]
strategy = { kind = "blue-gren" }
"#;

#[test]
fn every_manifest_error_is_located_and_explained_at_once() {
    let temp = tempfile::tempdir().unwrap();
    write(temp.path(), "slipway.toml", BROKEN);
    let result = run(slipway(temp.path()).args(["lint", "slipway.toml"]));
    assert_eq!(result.code, 1);
    insta::assert_snapshot!("manifest_errors", result.stdout);
    for needle in [
        "slipway.toml:3:1",
        "unknown key `colour`",
        "slipway.toml:9:8",
        "base `pyhton` is not defined",
        "did you mean `python`?",
        "slipway.toml:10:8",
        "wrong type",
        "slipway.toml:14:12",
        "registry `ecr` is not defined",
        "slipway.toml:15:13",
        "service `db` is not defined",
        "slipway.toml:16:21",
        "unknown strategy `blue-gren`",
        "did you mean `blue-green`?",
    ] {
        assert!(
            result.stdout.contains(needle),
            "missing {needle:?} in\n{}",
            result.stdout
        );
    }
}

#[test]
fn a_toml_syntax_error_exits_2() {
    let temp = tempfile::tempdir().unwrap();
    write(temp.path(), "slipway.toml", "[project\nname = 1\n");
    let result = run(slipway(temp.path()).args(["lint"]));
    assert_eq!(result.code, 2, "{}", result.stdout);
    assert!(
        result.stdout.contains("slipway.toml:1:"),
        "{}",
        result.stdout
    );
    assert!(result.stdout.contains("MF000"), "{}", result.stdout);
}

#[test]
fn schema_describes_the_manifest() {
    let temp = tempfile::tempdir().unwrap();
    let result = run(slipway(temp.path()).args(["schema"]));
    assert_eq!(result.code, 0);
    let schema: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(schema["title"], "slipway.toml");
    let properties = schema["properties"].as_object().unwrap();
    for key in [
        "project",
        "registries",
        "bases",
        "apps",
        "services",
        "environments",
        "pipelines",
        "notifications",
        "lint",
    ] {
        assert!(properties.contains_key(key), "schema lacks {key}");
    }
    let text = result.stdout;
    for kind in ["blue-green", "canary", "recreate", "rolling"] {
        assert!(
            text.contains(&format!("\"{kind}\"")),
            "strategy {kind} missing"
        );
    }
}

#[test]
fn every_command_has_help_with_an_example() {
    let temp = tempfile::tempdir().unwrap();
    for command in [
        "init",
        "lint",
        "schema",
        "completions",
        "base",
        "build",
        "push",
        "promote",
        "images",
        "inspect",
    ] {
        let result = run(slipway(temp.path()).args([command, "--help"]));
        assert_eq!(result.code, 0);
        assert!(
            result.stdout.contains("Examples:"),
            "{command} --help has no example"
        );
    }
}

#[test]
fn lint_settings_must_name_real_rules() {
    let temp = tempfile::tempdir().unwrap();
    assert_eq!(
        run(slipway(temp.path()).args(["init", ".", "--name", "shop"])).code,
        0
    );
    let manifest = std::fs::read_to_string(temp.path().join("slipway.toml")).unwrap()
        + "\n[lint]\nignore = [\"DF031\"]\n";
    write(temp.path(), "slipway.toml", &manifest);
    let result = run(slipway(temp.path()).args(["lint"]));
    assert_eq!(result.code, 1, "{}", result.stdout);
    assert!(
        result.stdout.contains("no lint rule has the ID `DF031`"),
        "{}",
        result.stdout
    );
    assert!(
        result.stdout.contains("field: lint.ignore[0]"),
        "{}",
        result.stdout
    );
}

const BAD_ENUM_VALUES: &str = r#"[project]
name = "shop"

[apps.api]
build = "dockerfle"

[environments.stage]
strategy = "blue-gren"

[environments.prod.target]
kind = "ecs"
cluster = "shop"
deployments = "ecss"

[lint.severity]
DF001 = "warnig"
"#;

#[test]
fn a_misspelt_enum_value_lists_the_allowed_values_and_the_one_meant() {
    let temp = tempfile::tempdir().unwrap();
    write(temp.path(), "slipway.toml", BAD_ENUM_VALUES);
    // Only the misspelt values are wrong: the directories the manifest names exist.
    for dir in ["app/api", "config/stage", "config/prod"] {
        std::fs::create_dir_all(temp.path().join(dir)).unwrap();
    }
    let result = run(slipway(temp.path()).args(["lint", "slipway.toml"]));
    assert_eq!(result.code, 1, "{}", result.stdout);
    insta::assert_snapshot!("bad_enum_values", result.stdout);
    for needle in [
        "slipway.toml:5:9",
        "did you mean `dockerfile`?",
        "slipway.toml:8:12",
        "unknown strategy `blue-gren`",
        "did you mean `blue-green`?",
        "slipway.toml:13:15",
        "did you mean `ecs`?",
        "`slipway`, `ecs`",
        "slipway.toml:16:9",
        "did you mean `warning`?",
    ] {
        assert!(
            result.stdout.contains(needle),
            "missing {needle:?} in\n{}",
            result.stdout
        );
    }
    for jargon in ["variant", "enum", "struct", "a map"] {
        assert!(
            !result.stdout.contains(jargon),
            "{jargon} in\n{}",
            result.stdout
        );
    }
}

#[test]
fn a_wrong_type_for_a_strategy_shows_its_table_form() {
    let temp = tempfile::tempdir().unwrap();
    write(
        temp.path(),
        "slipway.toml",
        "[project]\nname = \"shop\"\n\n[environments.stage]\nstrategy = 2\n",
    );
    std::fs::create_dir_all(temp.path().join("config/stage")).unwrap();
    let result = run(slipway(temp.path()).args(["lint", "slipway.toml"]));
    assert_eq!(result.code, 1, "{}", result.stdout);
    insta::assert_snapshot!("strategy_wrong_type", result.stdout);
    assert!(
        result.stdout.contains("slipway.toml:5:12"),
        "{}",
        result.stdout
    );
    assert!(
        result
            .stdout
            .contains("a table like `{ kind = \"blue-green\" }` or its kind alone"),
        "{}",
        result.stdout
    );
}
