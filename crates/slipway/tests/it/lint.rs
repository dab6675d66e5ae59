use crate::{repo_root, run, slipway, write};

const BAD_DOCKERFILE: &str = "\
FROM python:latest
ENV API_TOKEN=abc123
RUN apt-get update && apt-get install -y curl
RUN cd /srv && pip install flask
# slipway-ignore DF016: the vendored installer needs its own directory
RUN cd /opt && ./install.sh
CMD python3 -m api
";

#[test]
fn text_output_shows_code_frames_and_exits_1_on_errors() {
    let temp = tempfile::tempdir().unwrap();
    write(temp.path(), "Dockerfile", BAD_DOCKERFILE);
    let result = run(slipway(temp.path()).args(["lint", "Dockerfile"]));
    assert_eq!(result.code, 1);
    assert!(
        !result.stdout.contains("abc123"),
        "a secret's value is never shown in a code frame"
    );
    insta::assert_snapshot!("lint_text", result.stdout);
}

#[test]
fn json_output_lists_every_finding_with_its_position() {
    let temp = tempfile::tempdir().unwrap();
    write(temp.path(), "Dockerfile", BAD_DOCKERFILE);
    let result = run(slipway(temp.path()).args(["lint", "--format", "json", "Dockerfile"]));
    assert_eq!(result.code, 1);
    let json: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
    let found: Vec<(String, u64)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64)> = [
        ("DF002", 1),
        ("DF010", 1),
        ("DF021", 1),
        ("DF011", 2),
        ("DF013", 3),
        ("DF014", 3),
        ("DF022", 3),
        ("DF016", 4),
        ("DF023", 4),
        ("DF018", 7),
    ]
    .iter()
    .map(|(r, l)| ((*r).to_owned(), *l))
    .collect();
    let mut found_sorted = found.clone();
    found_sorted.sort_by_key(|(r, l)| (*l, r.clone()));
    let mut expected_sorted = expected.clone();
    expected_sorted.sort_by_key(|(r, l)| (*l, r.clone()));
    assert_eq!(
        found_sorted, expected_sorted,
        "the suppressed DF016 on line 6 must not appear"
    );
    assert_eq!(json["files_checked"], 1);
    assert_eq!(json["errors"], 2);
}

#[test]
fn sarif_output_is_sarif_2_1_0() {
    let temp = tempfile::tempdir().unwrap();
    write(temp.path(), "Dockerfile", BAD_DOCKERFILE);
    let result = run(slipway(temp.path()).args(["lint", "--format", "sarif", "Dockerfile"]));
    assert_eq!(result.code, 1);
    let sarif: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run0 = &sarif["runs"][0];
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    for result in run0["results"].as_array().unwrap() {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(
            rules[index]["id"], result["ruleId"],
            "ruleIndex must point at the rule"
        );
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], "Dockerfile");
        assert!(location["region"]["startLine"].as_u64().unwrap() >= 1);
        assert!(["error", "warning", "note"].contains(&result["level"].as_str().unwrap()));
    }
    crate::sarif_schema::validate(&result.stdout);
}

#[test]
fn strict_fails_on_warnings_and_clean_input_exits_0() {
    let temp = tempfile::tempdir().unwrap();
    write(
        temp.path(),
        "Dockerfile",
        "FROM debian:bookworm-20251117-slim\nRUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*\nWORKDIR /srv\nCMD bash\n",
    );
    assert_eq!(
        run(slipway(temp.path()).args(["lint", "Dockerfile"])).code,
        0
    );
    assert_eq!(
        run(slipway(temp.path()).args(["lint", "--strict", "Dockerfile"])).code,
        1
    );
    assert_eq!(
        run(slipway(temp.path()).args([
            "lint",
            "--strict",
            "--ignore",
            "DF018",
            "--ignore",
            "DF010",
            "Dockerfile"
        ]))
        .code,
        0
    );
}

#[test]
fn unparseable_input_exits_2_with_a_located_message() {
    let temp = tempfile::tempdir().unwrap();
    write(temp.path(), "Dockerfile", "FROM debian:12\nRUNN echo hi\n");
    let result = run(slipway(temp.path()).args(["lint", "Dockerfile"]));
    assert_eq!(result.code, 2);
    assert!(
        result.stdout.contains("Dockerfile:2:1"),
        "{}",
        result.stdout
    );
    assert!(
        result.stdout.contains("did you mean `RUN`?"),
        "{}",
        result.stdout
    );

    write(
        temp.path(),
        "docker-compose.yml",
        "services:\n  web: [unclosed\n",
    );
    let result = run(slipway(temp.path()).args(["lint", "docker-compose.yml"]));
    assert_eq!(result.code, 2);
    assert!(result.stdout.contains("CP000"), "{}", result.stdout);

    let missing = run(slipway(temp.path()).args(["lint", "nope/Dockerfile"]));
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("nope/Dockerfile"),
        "{}",
        missing.stderr
    );
}

#[test]
fn the_bundled_example_lints_clean() {
    let root = repo_root();
    let result = run(slipway(&root).args(["lint", "--strict", "examples/shop"]));
    assert_eq!(result.code, 0, "{}", result.stdout);
}

#[test]
fn project_layout_problems_are_reported() {
    let temp = tempfile::tempdir().unwrap();
    assert_eq!(
        run(slipway(temp.path()).args(["init", ".", "--name", "shop"])).code,
        0
    );
    // A package.json with runtime dependencies is an app's.
    write(
        temp.path(),
        "package.json",
        "{\"dependencies\": {\"express\": \"4.19.2\"}}\n",
    );
    write(temp.path(), "config/prod/web.env", "SECRET_KEY=abc\n");
    std::fs::remove_dir_all(temp.path().join("config/stage")).unwrap();
    std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(temp.path())
        .status()
        .unwrap();
    std::process::Command::new("git")
        .args(["add", "-f", "."])
        .current_dir(temp.path())
        .status()
        .unwrap();
    let result = run(slipway(temp.path()).args(["lint", "--format", "json"]));
    assert_eq!(result.code, 1, "{}", result.stdout);
    let json: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
    let rules: Vec<(&str, &str)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["file"].as_str().unwrap()))
        .collect();
    assert!(rules.contains(&("LY001", "package.json")), "{rules:?}");
    assert!(
        rules.contains(&("LY002", "config/prod/web.env")),
        "{rules:?}"
    );
    assert!(rules.contains(&("LY003", "slipway.toml")), "{rules:?}");
}

#[test]
fn compose_findings_respect_inline_suppression() {
    let temp = tempfile::tempdir().unwrap();
    write(
        temp.path(),
        "docker-compose.yml",
        "services:\n  db:\n    image: postgres\n    ports:\n      - \"5432:5432\"\n    # slipway-ignore CP002: the test rig needs it\n    privileged: true\n",
    );
    let result = run(slipway(temp.path()).args(["lint", "--format", "json", "docker-compose.yml"]));
    let json: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
    let found: Vec<(&str, u64)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(found, vec![("CP001", 3), ("CP003", 5)]);
}

#[test]
fn an_unknown_rule_on_the_command_line_is_an_error() {
    let temp = tempfile::tempdir().unwrap();
    let result = run(slipway(temp.path()).args(["lint", "--ignore", "DF0013"]));
    assert_eq!(result.code, 2);
    assert!(
        result.stderr.contains("did you mean `DF003`?"),
        "{}",
        result.stderr
    );
}

#[test]
fn a_file_inside_a_project_is_linted_with_the_project_roles() {
    let temp = tempfile::tempdir().unwrap();
    assert_eq!(
        run(slipway(temp.path()).args(["init", ".", "--name", "shop"])).code,
        0
    );
    write(
        temp.path(),
        "base/python/Dockerfile",
        "FROM bitnami/python:3.12.1\nUSER 1001\n",
    );
    for dir in [temp.path().to_path_buf(), temp.path().join("base/python")] {
        let target = if dir == temp.path() {
            "base/python/Dockerfile"
        } else {
            "Dockerfile"
        };
        let result = run(slipway(&dir).args(["lint", "--format", "json", target]));
        let json: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
        let rules: Vec<&str> = json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap())
            .collect();
        assert!(
            rules.contains(&"DF001"),
            "from {}: {rules:?}",
            dir.display()
        );
        assert!(
            !rules.contains(&"DF021"),
            "bases need no HEALTHCHECK: {rules:?}"
        );
    }
}

#[test]
fn a_file_that_is_not_utf8_is_reported_and_the_rest_still_linted() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(
        temp.path().join("Dockerfile.latin1"),
        b"FROM debian:12\n# caf\xe9\n",
    )
    .unwrap();
    write(temp.path(), "Dockerfile", "FROM python:latest\n");
    let result = run(slipway(temp.path()).args(["lint", "--format", "json", "."]));
    assert_eq!(result.code, 2);
    let json: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
    let found: Vec<(&str, &str)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["file"].as_str().unwrap()))
        .collect();
    assert!(found.contains(&("DF000", "Dockerfile.latin1")), "{found:?}");
    assert!(found.contains(&("DF002", "Dockerfile")), "{found:?}");
}

/// A slipway.toml that is not UTF-8 used to be skipped: exit 0, "0 files checked", its
/// `[lint]` settings dropped. Every encoding is refused, located, with what to do.
#[test]
fn a_manifest_that_is_not_utf8_is_a_located_error_for_lint_and_every_command() {
    let manifest = "[project]\nname = \"enc\"\n\n[lint]\nignore = [\"DF002\"]\n";
    let utf16le =
        |text: &str| -> Vec<u8> { text.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let mut with_bom = vec![0xff, 0xfe];
    with_bom.extend(utf16le(manifest));
    let mut big_endian_with_bom = vec![0xfe, 0xff];
    big_endian_with_bom.extend(manifest.encode_utf16().flat_map(u16::to_be_bytes));
    let latin1 = b"[project]\nname = \"enc\"\n# caf\xe9\n".to_vec();
    for (bytes, position, what) in [
        (
            with_bom,
            "slipway.toml:1:1",
            "UTF-16 (little-endian, with a byte-order mark)",
        ),
        (
            big_endian_with_bom,
            "slipway.toml:1:1",
            "UTF-16 (big-endian, with a byte-order mark)",
        ),
        (
            utf16le(manifest),
            "slipway.toml:1:2",
            "UTF-16 (little-endian, without a byte-order mark)",
        ),
        (latin1, "slipway.toml:3:6", "byte 0xe9 is not UTF-8"),
    ] {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("slipway.toml"), &bytes).unwrap();
        write(temp.path(), "Dockerfile", "FROM python:latest\n");

        let lint = run(slipway(temp.path()).arg("lint"));
        assert_eq!(lint.code, 2, "{what}: {}{}", lint.stdout, lint.stderr);
        for needle in ["MF000", position, what, "save it as UTF-8"] {
            assert!(
                lint.stdout.contains(needle),
                "{what}: no {needle:?} in {}",
                lint.stdout
            );
        }

        // A file inside the project is linted with its settings, so it cannot go on without.
        let one_file = run(slipway(temp.path()).args(["lint", "Dockerfile"]));
        assert_eq!(one_file.code, 2, "{what}: {}", one_file.stdout);
        assert!(
            one_file.stderr.contains(position) && one_file.stderr.contains("save it as UTF-8"),
            "{what}: {}",
            one_file.stderr
        );

        for args in [
            &["config", "check"][..],
            &["pipeline", "list"],
            &["ps", "dev"],
        ] {
            let result = run(slipway(temp.path()).args(args));
            assert_eq!(result.code, 2, "{args:?}, {what}: {}", result.stderr);
            assert!(
                result.stderr.contains(position)
                    && result.stderr.contains(what)
                    && result.stderr.contains("save it as UTF-8"),
                "{args:?}, {what}: {}",
                result.stderr
            );
        }
    }
}

/// YAML limits surfaced as `budget breached: MergeKeys {...}`.
#[test]
fn a_compose_file_over_the_yaml_limits_is_named_in_words_located_with_what_to_do() {
    let temp = tempfile::tempdir().unwrap();
    let mut bomb = String::from(
        "services:\n  web:\n    image: nginx:1.27\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let aliases = vec![format!("*a{}", i - 1); 9].join(", ");
        bomb.push_str(&format!("x{i}: &a{i} [{aliases}]\n"));
    }
    write(temp.path(), "docker-compose.yml", &bomb);
    let mut merges = String::from("services:\n  web:\n    image: nginx:1.27\nbase: &b {k: 1}\n");
    for i in 0..10_001 {
        merges.push_str(&format!("m{i}: {{<<: *b}}\n"));
    }
    write(temp.path(), "compose.merge.yml", &merges);
    for (file, what, position) in [
        (
            "docker-compose.yml",
            "more than 250000 values once its aliases are expanded",
            "docker-compose.yml:",
        ),
        (
            "compose.merge.yml",
            "more than 10000 merge keys (`<<`)",
            "compose.merge.yml:10005:",
        ),
    ] {
        let lint = run(slipway(temp.path()).args(["lint", file]));
        assert_eq!(lint.code, 2, "{}", lint.stdout);
        for needle in [what, position, "remove the repetition", "cannot be raised"] {
            assert!(
                lint.stdout.contains(needle),
                "no {needle:?} in {}",
                lint.stdout
            );
        }
        assert!(!lint.stdout.contains("budget breached"), "{}", lint.stdout);

        let init = run(slipway(temp.path()).args(["init", "--from-compose", file, "converted"]));
        assert_eq!(init.code, 2, "{}", init.stderr);
        assert!(
            init.stderr.contains(what) && init.stderr.contains(position),
            "{}",
            init.stderr
        );
        assert!(!temp.path().join("converted").exists(), "nothing written");
    }
}

#[test]
fn an_entrypoint_script_in_the_build_context_that_drops_root_makes_root_an_info() {
    let temp = tempfile::tempdir().unwrap();
    let dockerfile = "\
FROM debian:trixie-20251117-slim
COPY docker-entrypoint.sh /usr/local/bin/
ENTRYPOINT [\"docker-entrypoint.sh\"]
CMD [\"mongod\"]
";
    write(temp.path(), "db/Dockerfile", dockerfile);
    write(
        temp.path(),
        "db/docker-entrypoint.sh",
        "#!/bin/bash\nset -e\nif [ \"$(id -u)\" = 0 ]; then\n\texec gosu mongodb \"$BASH_SOURCE\" \"$@\"\nfi\nexec \"$@\"\n",
    );
    // The same Dockerfile naming a script outside its build context is not taken at its word.
    write(
        temp.path(),
        "web/Dockerfile",
        &dockerfile.replace(
            "COPY docker-entrypoint.sh",
            "COPY ../db/docker-entrypoint.sh",
        ),
    );
    let result = run(slipway(temp.path()).args(["lint", "--format", "json", "db", "web"]));
    let json: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
    let rules_of = |file: &str| -> Vec<(String, String)> {
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["file"].as_str().unwrap().ends_with(file))
            .filter(|f| matches!(f["rule"].as_str(), Some("DF010" | "DF025")))
            .map(|f| {
                (
                    f["rule"].as_str().unwrap().to_owned(),
                    f["severity"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        rules_of("db/Dockerfile"),
        vec![("DF025".to_owned(), "info".to_owned())],
        "{}",
        result.stdout
    );
    assert_eq!(
        rules_of("web/Dockerfile"),
        vec![("DF010".to_owned(), "warning".to_owned())],
        "{}",
        result.stdout
    );
}
