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
        "config/dev/api.env.j2:3:13: `vars.GREETING`",
        "config/dev/worker.env.j2:1:10: `vars.QUEUE_URL`",
        "config/dev/worker.env.j2:2:11: `secret.WORKER_SECRET`",
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

/// Masking used to be literal only: a secret through a filter, a slice or a concatenation
/// was shown. Whatever the template does with a secret, what comes of it is masked; so is a
/// plain value whose key is named like a secret.
#[test]
fn explain_and_diff_mask_whatever_a_secret_contributed_to() {
    let temp = tempfile::tempdir().unwrap();
    project(temp.path());
    write(
        temp.path(),
        "config/dev/derived.env.j2",
        concat!(
            "UPPER={{ secret.DB_PASSWORD | upper }}\n",
            "REVERSED={{ secret.DB_PASSWORD | reverse }}\n",
            "SLICED={{ secret.DB_PASSWORD[2:] }}\n",
            "REPLACED={{ secret.DB_PASSWORD | replace('-', '+') }}\n",
            "JOINED={{ 'x' ~ secret.API_TOKEN ~ 'y' }}\n",
            "{% set alias = secret.SIGNING_KEY %}ALIASED={{ alias | title }}\n",
            "LOOPED={% for c in secret.API_TOKEN %}{{ c }}.{% endfor %}\n",
            "LISTED={{ secret.DB_PASSWORD | list | join(',') }}\n",
            "LENGTH={{ secret.DB_PASSWORD | length }}\n",
            "URL=https://{{ secret.API_TOKEN }}@api.example.com/v1\n",
            "API_KEY=plain-key-4711\n",
            "SESSION_SECRET=plain-secret-0815\n",
            "POSTGRES_PASSWORD_FILE=/run/secrets/db-password\n",
            "STRIPE_PUBLISHABLE_KEY=pk_test_public\n",
            "CACHE_URL=redis://cache:plain-pw-77@redis:6379/0\n",
            "GREETING={{ vars.GREETING }}\n",
        ),
    );
    write(
        temp.path(),
        "config/prod/derived.env.j2",
        "UPPER=fixed\nAPI_KEY=other-key-1\nGREETING=same\n",
    );
    let secret = "Pw-9f3q";
    let mut shown_forms: Vec<String> = vec![
        secret.to_uppercase(),
        secret.chars().rev().collect(),
        secret[2..].to_owned(),
        secret.replace('-', "+"),
        "xtok-123y".to_owned(),
        "K-42".to_owned(),
        "t.o.k.-.1.2.3.".to_owned(),
        "P,w,-,9,f,3,q".to_owned(),
        "tok-123".to_owned(),
        "plain-key-4711".to_owned(),
        "plain-secret-0815".to_owned(),
        "plain-pw-77".to_owned(),
        "other-key-1".to_owned(),
    ];
    shown_forms.push(secret.to_owned());

    let explain = run(slipway(temp.path())
        .args(["config", "explain", "dev"])
        .env("CFG_DB_PASSWORD", secret));
    assert_eq!(explain.code, 0, "{}", explain.stderr);
    for form in &shown_forms {
        assert!(
            !explain.stdout.contains(form.as_str()),
            "{form} shown: {}",
            explain.stdout
        );
    }
    for line in [
        "derived.env UPPER=****",
        "derived.env SLICED=****",
        "derived.env LENGTH=****",
        "derived.env URL=https://****@api.example.com/v1",
        "derived.env API_KEY=****",
        "derived.env SESSION_SECRET=****",
        "derived.env CACHE_URL=redis://cache:****@redis:6379/0",
        // Paths to secrets, public keys and values no secret touched stay visible.
        "derived.env POSTGRES_PASSWORD_FILE=/run/secrets/db-password",
        "derived.env STRIPE_PUBLISHABLE_KEY=pk_test_public",
        "derived.env GREETING=hello from values",
    ] {
        assert!(
            explain.stdout.contains(line),
            "no {line:?} in {}",
            explain.stdout
        );
    }

    let json = run(slipway(temp.path())
        .args(["config", "explain", "dev", "--output", "json"])
        .env("CFG_DB_PASSWORD", secret));
    assert_eq!(json.code, 0, "{}", json.stderr);
    for form in &shown_forms {
        assert!(
            !json.stdout.contains(form.as_str()),
            "{form} shown: {}",
            json.stdout
        );
    }

    for output in ["text", "json"] {
        let diff = run(slipway(temp.path())
            .args(["config", "diff", "dev", "prod", "--output", output])
            .env("CFG_DB_PASSWORD", secret));
        assert_eq!(diff.code, 0, "{}", diff.stderr);
        for form in &shown_forms {
            assert!(
                !diff.stdout.contains(form.as_str()),
                "{form} shown: {}",
                diff.stdout
            );
        }
        assert!(
            diff.stdout.contains("UPPER") && diff.stdout.contains("fixed"),
            "{}",
            diff.stdout
        );
    }

    // The env file itself has the real values.
    let render = run(slipway(temp.path())
        .args(["config", "render", "dev"])
        .env("CFG_DB_PASSWORD", secret));
    assert_eq!(render.code, 0, "{}", render.stderr);
    let text =
        std::fs::read_to_string(temp.path().join(".slipway/config/dev/derived.env")).unwrap();
    assert!(
        text.contains("UPPER=PW-9F3Q\n") && text.contains("API_KEY=plain-key-4711\n"),
        "{text}"
    );
}

/// Templates used to run without limits: loops until killed, strings until memory ran out.
#[test]
fn a_template_over_its_limits_is_a_located_error_and_nothing_is_written() {
    let cases = [
        (
            "ok=1\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n",
            "config/dev/api.env.j2:2:",
            "work limit",
        ),
        (
            &format!(
                "{{% set s = 'xxxxxxxxxxxxxxxx' %}}\n{}S={{{{ s }}}}\n",
                "{% set s = s ~ s %}\n".repeat(48)
            ),
            "config/dev/api.env.j2:",
            "work limit",
        ),
        (
            "A=1\nB={% for i in range(30000) %}{{ 'y' * 60 }}{% endfor %}\n",
            "config/dev/api.env.j2:2:",
            "size limit",
        ),
    ];
    for (template, position, limit) in cases {
        let temp = tempfile::tempdir().unwrap();
        project(temp.path());
        write(temp.path(), "config/dev/api.env.j2", template);
        let result = run(slipway(temp.path())
            .args(["config", "render", "dev"])
            .env("CFG_DB_PASSWORD", "pw"));
        assert_eq!(result.code, 2, "{}", result.stderr);
        assert!(
            result.stderr.contains(position) && result.stderr.contains(limit),
            "no {position:?} and {limit:?} in {}",
            result.stderr
        );
        assert!(!temp.path().join(".slipway/config/dev/api.env").exists());
        let check = run(slipway(temp.path())
            .args(["config", "check"])
            .env("CFG_DB_PASSWORD", "pw"));
        assert_eq!(check.code, 2, "{}", check.stderr);
        assert!(check.stderr.contains(limit), "{}", check.stderr);
    }
}

/// Template errors said only "undefined value" and a line.
#[test]
fn a_template_error_names_the_place_the_variable_and_a_suggestion() {
    let temp = tempfile::tempdir().unwrap();
    project(temp.path());
    write(
        temp.path(),
        "config/dev/api.env.j2",
        "GREETING={{ vars.GREETING }}\nENV={{ enviroment }}\n",
    );
    let result = run(slipway(temp.path())
        .args(["config", "render", "dev"])
        .env("CFG_DB_PASSWORD", "pw"));
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(
        result.stderr.contains(
            "config/dev/api.env.j2:2:8: `enviroment` is undefined; did you mean `environment`?"
        ),
        "{}",
        result.stderr
    );

    // The engine's own words can quote a value: never one made from a secret.
    write(
        temp.path(),
        "config/dev/api.env.j2",
        "{% set n = secret.DB_PASSWORD | int %}\nN={{ n * n * n * n * n * n * n * n }}\n",
    );
    let result = run(slipway(temp.path())
        .args(["config", "render", "dev"])
        .env("CFG_DB_PASSWORD", "98765432101"));
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(
        result.stderr.contains("config/dev/api.env.j2:2:")
            && result.stderr.contains("invalid operation"),
        "{}",
        result.stderr
    );
    assert!(!result.stderr.contains("98765432101"), "{}", result.stderr);

    write(
        temp.path(),
        "config/dev/api.env.j2",
        "LEVEL={{ vars.LEVLE }}\nDB={{ secret.DB_PASSWROD }}\n",
    );
    let result = run(slipway(temp.path())
        .args(["config", "render", "dev"])
        .env("CFG_DB_PASSWORD", "pw"));
    assert_eq!(result.code, 2, "{}", result.stderr);
    for needle in [
        "config/dev/api.env.j2:1:10: `vars.LEVLE` has no value (did you mean `vars.LEVEL`?",
        "config/dev/api.env.j2:2:7: `secret.DB_PASSWROD` has no value (did you mean `secret.DB_PASSWORD`?",
    ] {
        assert!(
            result.stderr.contains(needle),
            "no {needle:?} in {}",
            result.stderr
        );
    }
}

/// `config render` wrote through a `<name>.env.tmp` planted beside the env file.
#[test]
fn render_never_writes_through_a_planted_link() {
    use std::os::unix::fs::symlink;
    let temp = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    project(temp.path());
    let victim = outside.path().join("authorized_keys");
    std::fs::write(&victim, "ssh-ed25519 AAAA\n").unwrap();
    let dir = temp.path().join(".slipway/config/dev");
    std::fs::create_dir_all(&dir).unwrap();
    symlink(&victim, dir.join("api.env.tmp")).unwrap();
    let result = run(slipway(temp.path())
        .args(["config", "render", "dev"])
        .env("CFG_DB_PASSWORD", "pw-9f3"));
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "ssh-ed25519 AAAA\n"
    );
    let written = dir.join("api.env");
    assert!(
        std::fs::read_to_string(&written)
            .unwrap()
            .contains("pw-9f3")
    );
    assert_eq!(
        std::fs::metadata(&written).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["api.env", "api.env.tmp"]);
}

/// Runs slipway with a file size limit, as a full disk would stop it: writes past `bytes`
/// fail (EFBIG; the signal that would otherwise kill the process is ignored, as `trap` does).
fn with_file_size_limit(dir: &Path, bytes: u64, args: &[&str]) -> crate::Run {
    let binary = assert_cmd::cargo::cargo_bin("slipway");
    let mut command = assert_cmd::Command::new("sh");
    command
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("CFG_DB_PASSWORD", "pw-9f3")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; exec prlimit --fsize={bytes} \"$0\" \"$@\""
        ))
        .arg(binary)
        .args(args);
    run(&mut command)
}

#[test]
fn a_full_disk_leaves_nothing_half_written_and_says_why_once() {
    let temp = tempfile::tempdir().unwrap();
    project(temp.path());
    let dir = temp.path().join(".slipway/config/dev");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("api.env"), "PREVIOUS=1\n").unwrap();
    let result = with_file_size_limit(temp.path(), 64, &["config", "render", "dev"]);
    assert_eq!(result.code, 2, "{}", result.stderr);
    let os_text = std::io::Error::from_raw_os_error(27).to_string();
    assert!(result.stderr.contains("api.env"), "{}", result.stderr);
    assert_eq!(
        result.stderr.matches(&os_text).count(),
        1,
        "the OS error once: {}",
        result.stderr
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("api.env")).unwrap(),
        "PREVIOUS=1\n"
    );
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["api.env"]);

    let init = with_file_size_limit(temp.path(), 200, &["init", "shop"]);
    assert_eq!(init.code, 2, "{}", init.stderr);
    assert_eq!(init.stderr.matches(&os_text).count(), 1, "{}", init.stderr);
    assert!(
        !temp.path().join("shop").exists(),
        "a failed init leaves nothing behind"
    );
}

/// The pipelines' `checks` step is `config check`: a secret source that never answers
/// must not hold it (and the pipeline) forever.
#[test]
fn config_check_gives_up_after_its_timeout() {
    let temp = tempfile::tempdir().unwrap();
    project(temp.path());
    let manifest = std::fs::read_to_string(temp.path().join("slipway.toml"))
        .unwrap()
        .replace("cmd:printf 'k-%s' 42", "cmd:sleep 30");
    write(temp.path(), "slipway.toml", &manifest);
    let result = run(slipway(temp.path())
        .args(["config", "check", "--timeout", "2s"])
        .env("CFG_DB_PASSWORD", "pw"));
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(
        result
            .stderr
            .contains("config check did not finish within 2s")
            && result.stderr.contains("--timeout"),
        "{}",
        result.stderr
    );
}

#[test]
fn a_template_or_values_file_that_is_not_utf8_is_located() {
    let temp = tempfile::tempdir().unwrap();
    project(temp.path());
    std::fs::write(
        temp.path().join("config/dev/api.env.j2"),
        b"GREETING={{ vars.GREETING }}\nCITY=M\xfcnchen\n",
    )
    .unwrap();
    let result = run(slipway(temp.path())
        .args(["config", "render", "dev"])
        .env("CFG_DB_PASSWORD", "pw"));
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(
        result
            .stderr
            .contains("config/dev/api.env.j2:2:7: not UTF-8 text: byte 0xfc")
            && result.stderr.contains("save it as UTF-8"),
        "{}",
        result.stderr
    );

    project(temp.path());
    std::fs::write(
        temp.path().join("config/dev/values.toml"),
        b"GREETING = \"gr\xfc\xdf\"\n",
    )
    .unwrap();
    let result = run(slipway(temp.path())
        .args(["config", "render", "dev"])
        .env("CFG_DB_PASSWORD", "pw"));
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(
        result
            .stderr
            .contains("config/dev/values.toml:1:15: not UTF-8 text"),
        "{}",
        result.stderr
    );
}
