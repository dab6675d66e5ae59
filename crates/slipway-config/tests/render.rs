//! Config rendering through the library, in a temporary project: where each value comes from,
//! every missing key at once, secrets kept out of what is shown, files written private. (The
//! same behaviour through the CLI is in the integration tier's `config.rs`.)

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use slipway_config::{ConfigError, ExternalSecrets, Inputs, diff, render, secret_placeholder};
use slipway_core::Manifest;

fn write(dir: &Path, path: &str, contents: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// A project with a dev and a prod environment, each with its values and an `api.env.j2`.
fn project(dir: &Path) -> Manifest {
    let manifest = r#"schema = 1
[project]
name = "cfg"

[environments.dev]
secrets = { DB_PASSWORD = "env:CFG_DB_PASSWORD", API_TOKEN = "file:secrets/token", SIGNING_KEY = "cmd:printf 'k-%s' 42" }

[environments.prod]
secrets = { DB_PASSWORD = "env:CFG_DB_PASSWORD", API_TOKEN = "ssm:/cfg/api-token" }
"#;
    write(dir, "slipway.toml", manifest);
    write(dir, "secrets/token", "tok-123\n");
    write(
        dir,
        "config/dev/values.toml",
        "GREETING = \"hello from values\"\nLEVEL = \"debug\"\nREGION = \"eu\"\n",
    );
    write(
        dir,
        "config/dev/api.env.j2",
        "DATABASE_URL=postgresql://app:{{ secret.DB_PASSWORD }}@db/cfg\nGREETING={{ vars.GREETING }}\nLEVEL={{ vars.LEVEL }}\nREGION={{ vars.REGION }}\nPORT={{ vars.PORT | default(\"8000\") }}\nTOKEN={{ secret.API_TOKEN }}\nKEY={{ secret.SIGNING_KEY }}\nENV={{ environment }}\n",
    );
    write(
        dir,
        "config/prod/values.toml",
        "GREETING = \"welcome\"\nLEVEL = \"info\"\n",
    );
    write(
        dir,
        "config/prod/api.env.j2",
        "DATABASE_URL=postgresql://app:{{ secret.DB_PASSWORD }}@db/cfg\nGREETING={{ vars.GREETING }}\nLEVEL={{ vars.LEVEL }}\nTOKEN={{ secret.API_TOKEN }}\n",
    );
    slipway_core::manifest::load_manifest(manifest).unwrap()
}

fn inputs(set: &[(&str, &str)], process: &[(&str, &str)]) -> Inputs {
    let pairs = |list: &[(&str, &str)]| -> BTreeMap<String, String> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    Inputs {
        set: pairs(set),
        process_environment: pairs(process),
        external: ExternalSecrets::Unavailable,
    }
}

#[test]
fn each_value_comes_from_the_first_source_that_has_it() {
    let temp = tempfile::tempdir().unwrap();
    let manifest = project(temp.path());
    let rendered = render(
        temp.path(),
        &manifest,
        "dev",
        &inputs(
            &[("LEVEL", "trace")],
            &[
                ("CFG_DB_PASSWORD", "pw-9f3"),
                ("GREETING", "hello from the environment"),
                ("LEVEL", "warn"),
            ],
        ),
    )
    .unwrap();
    assert_eq!(rendered.files.len(), 1);
    let api = &rendered.files[0];
    assert_eq!(api.name, "api.env");
    // --set beats the process environment, which beats values.toml, which beats the
    // template's default; secrets come from their sources (a variable, a file, a command).
    assert_eq!(
        api.text,
        "DATABASE_URL=postgresql://app:pw-9f3@db/cfg\nGREETING=hello from the environment\nLEVEL=trace\nREGION=eu\nPORT=8000\nTOKEN=tok-123\nKEY=k-42\nENV=dev\n"
    );
}

#[test]
fn every_missing_key_of_every_template_is_reported_at_once_with_its_place() {
    let temp = tempfile::tempdir().unwrap();
    let manifest = project(temp.path());
    write(
        temp.path(),
        "config/dev/worker.env.j2",
        "QUEUE={{ vars.QUEUE_URL }}\nSECRET={{ secret.WORKER_SECRET }}\n",
    );
    write(temp.path(), "config/dev/values.toml", "LEVEL = \"debug\"\n");
    let error = render(
        temp.path(),
        &manifest,
        "dev",
        &inputs(&[], &[("CFG_DB_PASSWORD", "pw")]),
    )
    .unwrap_err();
    let ConfigError::Missing(missing) = &error else {
        panic!("{error}");
    };
    let places: Vec<String> = missing
        .iter()
        .map(|m| {
            format!(
                "{}:{}:{} {}.{}",
                m.file.display(),
                m.line,
                m.column,
                m.namespace,
                m.key
            )
        })
        .collect();
    assert_eq!(
        places,
        [
            "config/dev/api.env.j2:2:13 vars.GREETING",
            "config/dev/api.env.j2:4:11 vars.REGION",
            "config/dev/worker.env.j2:1:10 vars.QUEUE_URL",
            "config/dev/worker.env.j2:2:11 secret.WORKER_SECRET",
        ]
    );
    assert!(
        error.to_string().starts_with("4 missing key(s):\n"),
        "{error}"
    );
}

#[test]
fn an_environment_slipway_toml_does_not_have_is_named() {
    let temp = tempfile::tempdir().unwrap();
    let manifest = project(temp.path());
    let error = render(temp.path(), &manifest, "stage", &inputs(&[], &[])).unwrap_err();
    assert_eq!(error.to_string(), "no environment `stage` in slipway.toml");
}

#[test]
fn what_is_shown_never_holds_a_secret_or_anything_made_from_one() {
    let temp = tempfile::tempdir().unwrap();
    let manifest = project(temp.path());
    let dev = render(
        temp.path(),
        &manifest,
        "dev",
        &inputs(&[], &[("CFG_DB_PASSWORD", "pw-9f3")]),
    )
    .unwrap();
    let api = &dev.files[0];
    let shown: BTreeMap<&str, String> = api
        .keys
        .keys()
        .map(|key| (key.as_str(), dev.shown(api, key).unwrap()))
        .collect();
    for (key, value) in &shown {
        for secret in ["pw-9f3", "tok-123", "k-42"] {
            assert!(!value.contains(secret), "{key}={value}");
        }
    }
    assert_eq!(shown["DATABASE_URL"], "postgresql://app:****@db/cfg");
    assert_eq!(shown["GREETING"], "hello from values");
    assert_eq!(
        dev.mask("connecting with pw-9f3 and tok-123"),
        "connecting with **** and ****"
    );
}

#[test]
fn a_secret_kept_in_aws_renders_only_when_fetched_or_as_a_reference() {
    let temp = tempfile::tempdir().unwrap();
    let manifest = project(temp.path());
    let mut given = inputs(&[], &[("CFG_DB_PASSWORD", "pw-9f3")]);
    let error = render(temp.path(), &manifest, "prod", &given).unwrap_err();
    assert!(
        error.to_string().contains("API_TOKEN") && error.to_string().contains("ssm:/cfg/api-token"),
        "{error}"
    );
    given.external = ExternalSecrets::Values(BTreeMap::from([(
        "ssm:/cfg/api-token".to_owned(),
        "tok-from-ssm".to_owned(),
    )]));
    let fetched = render(temp.path(), &manifest, "prod", &given).unwrap();
    assert!(
        fetched.files[0].text.contains("TOKEN=tok-from-ssm\n"),
        "{}",
        fetched.files[0].text
    );
    given.external = ExternalSecrets::References;
    let referenced = render(temp.path(), &manifest, "prod", &given).unwrap();
    assert!(
        referenced.files[0]
            .text
            .contains(&format!("TOKEN={}\n", secret_placeholder("API_TOKEN"))),
        "{}",
        referenced.files[0].text
    );
}

#[test]
fn a_diff_names_the_keys_that_differ_with_secrets_masked() {
    let temp = tempfile::tempdir().unwrap();
    let manifest = project(temp.path());
    let process = [("CFG_DB_PASSWORD", "pw-9f3")];
    let dev = render(temp.path(), &manifest, "dev", &inputs(&[], &process)).unwrap();
    let mut prod_inputs = inputs(&[], &process);
    prod_inputs.external = ExternalSecrets::Values(BTreeMap::from([(
        "ssm:/cfg/api-token".to_owned(),
        "tok-from-ssm".to_owned(),
    )]));
    let prod = render(temp.path(), &manifest, "prod", &prod_inputs).unwrap();
    let differences = diff(&dev, &prod);
    let keys: Vec<&str> = differences
        .iter()
        .map(|(_, key, _, _)| key.as_str())
        .collect();
    // Every key only dev has, and every value that differs, is listed. Keys are compared as
    // shown: the database URL is the same on both sides, and so is TOKEN, a secret on both
    // (a diff never says whether two secret values differ).
    assert_eq!(keys, ["ENV", "GREETING", "KEY", "LEVEL", "PORT", "REGION"]);
    let text = format!("{differences:?}");
    for secret in ["pw-9f3", "tok-123", "k-42", "tok-from-ssm"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let greeting = differences.iter().find(|(_, key, _, _)| key == "GREETING");
    assert_eq!(
        greeting,
        Some(&(
            "api.env".to_owned(),
            "GREETING".to_owned(),
            Some("hello from values".to_owned()),
            Some("welcome".to_owned())
        ))
    );
}

#[test]
fn env_files_are_written_private_and_never_into_a_path_git_tracks() {
    let temp = tempfile::tempdir().unwrap();
    let manifest = project(temp.path());
    let dev = render(
        temp.path(),
        &manifest,
        "dev",
        &inputs(&[], &[("CFG_DB_PASSWORD", "pw-9f3")]),
    )
    .unwrap();
    let out = temp.path().join(".slipway/config/dev");
    let written = slipway_config::write(&dev, temp.path(), &out).unwrap();
    assert_eq!(written, [out.join("api.env")]);
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), 0o700);
    assert_eq!(mode(&written[0]), 0o600);
    assert_eq!(
        std::fs::read_to_string(&written[0]).unwrap(),
        dev.files[0].text
    );

    // A path git tracks would be committed with the secrets in it: refused.
    let tracked = temp.path().join("deploy");
    write(temp.path(), "deploy/api.env", "OLD=1\n");
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(["-c", "user.email=t@slipway.invalid", "-c", "user.name=t"])
            .args(args)
            .current_dir(temp.path())
            .output()
            .unwrap();
        assert!(status.status.success(), "git {args:?}: {status:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "deploy/api.env"]);
    git(&["commit", "-qm", "tracked"]);
    let error = slipway_config::write(&dev, temp.path(), &tracked).unwrap_err();
    assert!(matches!(error, ConfigError::Tracked(_)), "{error}");
    assert_eq!(
        std::fs::read_to_string(tracked.join("api.env")).unwrap(),
        "OLD=1\n"
    );
}
