//! Config templates rendered into env files: precedence, every missing key at once, secrets
//! masked or kept out of everything printed, files written 0600 outside what git tracks.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::{run, slipway, write};

fn project(dir: &Path) {
    write(
        dir,
        "slipway.toml",
        r#"[project]
name = "cfg"

[environments.dev]
secrets = { DB_PASSWORD = "env:CFG_DB_PASSWORD", API_TOKEN = "file:secrets/token", SIGNING_KEY = "cmd:printf 'k-%s' 42" }

[environments.prod]
secrets = { DB_PASSWORD = "env:CFG_DB_PASSWORD" }
"#,
    );
    write(dir, "secrets/token", "tok-123\n");
    write(
        dir,
        "config/dev/values.toml",
        "GREETING = \"hello from values\"\nLEVEL = \"debug\"\n",
    );
    write(
        dir,
        "config/dev/api.env.j2",
        "# rendered by slipway\nDATABASE_URL=postgresql://app:{{ secret.DB_PASSWORD }}@db/cfg\nGREETING={{ vars.GREETING }}\nLEVEL={{ vars.LEVEL }}\nPORT={{ vars.PORT | default(\"8000\") }}\nTOKEN={{ secret.API_TOKEN }}\nKEY={{ secret.SIGNING_KEY }}\nENV={{ environment }}\n",
    );
    write(
        dir,
        "config/prod/values.toml",
        "GREETING = \"welcome\"\nLEVEL = \"info\"\n",
    );
    write(
        dir,
        "config/prod/api.env.j2",
        "DATABASE_URL=postgresql://app:{{ secret.DB_PASSWORD }}@db/cfg\nGREETING={{ vars.GREETING }}\nLEVEL={{ vars.LEVEL }}\n",
    );
}

#[test]
fn render_writes_private_env_files_with_every_source_in_its_place() {
    let temp = tempfile::tempdir().unwrap();
    project(temp.path());
    let result = run(slipway(temp.path())
        .args(["config", "render", "dev", "--set", "LEVEL=trace"])
        .env("CFG_DB_PASSWORD", "pw-9f3")
        .env("GREETING", "hello from the environment"));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(!result.stdout.contains("pw-9f3"));
    let path = temp.path().join(".slipway/config/dev/api.env");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        "# rendered by slipway\nDATABASE_URL=postgresql://app:pw-9f3@db/cfg\nGREETING=hello from the environment\nLEVEL=trace\nPORT=8000\nTOKEN=tok-123\nKEY=k-42\nENV=dev\n"
    );
}

#[test]
fn every_missing_key_of_every_template_is_reported_at_once() {
    let temp = tempfile::tempdir().unwrap();
    project(temp.path());
    write(
        temp.path(),
        "config/dev/worker.env.j2",
        "QUEUE={{ vars.QUEUE_URL }}\nSECRET={{ secret.WORKER_SECRET }}\n",
    );
    write(temp.path(), "config/dev/values.toml", "LEVEL = \"debug\"\n");
    let result = run(slipway(temp.path())
        .args(["config", "render", "dev"])
        .env("CFG_DB_PASSWORD", "pw"));
    assert_ne!(result.code, 0);
    for needle in [
        "3 missing key(s)",
        "config/dev/api.env.j2:3: `vars.GREETING`",
        "config/dev/worker.env.j2:1: `vars.QUEUE_URL`",
        "config/dev/worker.env.j2:2: `secret.WORKER_SECRET`",
    ] {
        assert!(
            result.stderr.contains(needle),
            "missing {needle:?} in {}",
            result.stderr
        );
    }
    assert!(
        !temp.path().join(".slipway/config/dev").exists(),
        "nothing is half-written"
    );
    let check = run(slipway(temp.path())
        .args(["config", "check"])
        .env("CFG_DB_PASSWORD", "pw"));
    assert_ne!(check.code, 0);
    assert!(check.stderr.contains("vars.QUEUE_URL"), "{}", check.stderr);
}

#[test]
fn explain_and_diff_mask_secrets() {
    let temp = tempfile::tempdir().unwrap();
    project(temp.path());
    let explain = run(slipway(temp.path())
        .args(["config", "explain", "dev"])
        .env("CFG_DB_PASSWORD", "pw-9f3"));
    assert_eq!(explain.code, 0, "{}", explain.stderr);
    for secret in ["pw-9f3", "tok-123", "k-42"] {
        assert!(
            !explain.stdout.contains(secret),
            "{secret} shown: {}",
            explain.stdout
        );
    }
    assert!(explain.stdout.contains("DATABASE_URL=postgresql://app:****@db/cfg    (secret.DB_PASSWORD from secret env:CFG_DB_PASSWORD)"), "{}", explain.stdout);
    assert!(
        explain
            .stdout
            .contains("GREETING=hello from values    (vars.GREETING from config/dev/values.toml)"),
        "{}",
        explain.stdout
    );

    let diff = run(slipway(temp.path())
        .args(["config", "diff", "dev", "prod", "--output", "json"])
        .env("CFG_DB_PASSWORD", "pw-9f3"));
    assert_eq!(diff.code, 0, "{}", diff.stderr);
    let rows: serde_json::Value = serde_json::from_str(&diff.stdout).unwrap();
    let keys: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        vec!["ENV", "GREETING", "KEY", "LEVEL", "PORT", "TOKEN"],
        "DATABASE_URL is the same on both sides"
    );
    assert!(!diff.stdout.contains("tok-123") && !diff.stdout.contains("k-42"));
}

#[test]
fn a_failing_secret_command_is_named_without_its_output_and_tracked_paths_are_refused() {
    let temp = tempfile::tempdir().unwrap();
    project(temp.path());
    let manifest = std::fs::read_to_string(temp.path().join("slipway.toml"))
        .unwrap()
        .replace(
            "cmd:printf 'k-%s' 42",
            "cmd:printf 'leaked-%s' $((40 + 2)); exit 3",
        );
    write(temp.path(), "slipway.toml", &manifest);
    let result = run(slipway(temp.path())
        .args(["config", "render", "dev"])
        .env("CFG_DB_PASSWORD", "pw"));
    assert_ne!(result.code, 0);
    assert!(
        result.stderr.contains("secret `SIGNING_KEY`") && result.stderr.contains("exited with"),
        "{}",
        result.stderr
    );
    assert!(
        !result.stderr.contains("leaked-42"),
        "what the command printed is never shown: {}",
        result.stderr
    );

    project(temp.path());
    write(temp.path(), ".slipway/config/dev/api.env", "placeholder\n");
    for args in [
        &["init", "-q"][..],
        &["add", "-f", ".slipway/config/dev/api.env"],
    ] {
        assert!(
            std::process::Command::new("git")
                .args(args)
                .current_dir(temp.path())
                .status()
                .unwrap()
                .success()
        );
    }
    let result = run(slipway(temp.path())
        .args(["config", "render", "dev"])
        .env("CFG_DB_PASSWORD", "pw"));
    assert_ne!(result.code, 0);
    assert!(
        result.stderr.contains("is tracked by git"),
        "{}",
        result.stderr
    );
    assert_eq!(
        std::fs::read_to_string(temp.path().join(".slipway/config/dev/api.env")).unwrap(),
        "placeholder\n"
    );
}
