//! Loading slipway.toml: every problem of a file at once, each located and explained.

use slipway_core::manifest::{ProblemKind, Strategy, Target, load_manifest};

/// (kind, field path, message, help, (line, column)) of each problem.
type Found = (ProblemKind, String, String, Option<String>, (usize, usize));

fn problems(source: &str) -> Vec<Found> {
    let error = load_manifest(source).expect_err("the manifest should be rejected");
    error
        .problems()
        .iter()
        .map(|p| {
            let span = p.span.clone().expect("every problem is located");
            let (line, col) = slipway_core::diagnostic::line_col(source, span.start);
            (
                p.kind,
                p.path.to_string(),
                p.message.clone(),
                p.help.clone(),
                (line, col),
            )
        })
        .collect()
}

const VALID: &str = r#"
[project]
name = "shop"

[registries.team]
url = "127.0.0.1:5000"
mirror_of = ["docker.io"]

[bases.python]
image = "shop/base-python"
tags = ["{date}-{git_sha}", "stable"]
test = ["python3 -c 'import psycopg2'"]

[apps.api]
base = "python"
cmd = ["python3", "-m", "api"]
port = 8000
health = { path = "/health", interval = "2s" }
route = { path = "/api" }

[services.db]
image = "postgres:16.4-bookworm"
volumes = ["db-data:/var/lib/postgresql/data"]

[environments.dev]
mount = true

[environments.prod]
registry = "team"
strategy = { kind = "canary", steps = [10, 50, 100], pause = "2m", max_error_rate = "1%" }

[pipelines.release]
on = { push = { branches = ["main"], paths = ["app/**"] } }
steps = ["build", "push", "up dev", "approve", "deploy prod"]
"#;

#[test]
fn a_valid_manifest_loads_with_defaults() {
    let manifest = load_manifest(VALID).expect("valid");
    assert_eq!(manifest.project.name, "shop");
    assert_eq!(manifest.app_dir("api"), "app/api");
    assert_eq!(manifest.base_dockerfile("python"), "base/python/Dockerfile");
    match &manifest.environments["prod"].strategy {
        Strategy::Canary {
            steps,
            max_error_rate,
            ..
        } => {
            assert_eq!(steps, &[10, 50, 100]);
            assert_eq!(max_error_rate.unwrap().0, 1.0);
        }
        other => panic!("expected canary, got {other:?}"),
    }
    assert!(manifest.service_runs_in("db", "dev"));
}

#[test]
fn a_misspelt_strategy_points_at_kind_with_a_suggestion() {
    let source = VALID.replace(
        "kind = \"canary\", steps = [10, 50, 100], pause = \"2m\", max_error_rate = \"1%\"",
        "kind = \"blue-gren\"",
    );
    let found = problems(&source);
    assert_eq!(found.len(), 1, "{found:#?}");
    let (kind, path, message, help, (line, col)) = &found[0];
    assert_eq!(*kind, ProblemKind::BadValue);
    assert_eq!(path, "environments.prod.strategy.kind");
    assert_eq!(message, "unknown strategy `blue-gren`");
    assert_eq!(
        help.as_deref(),
        Some(
            "did you mean `blue-green`? allowed values: `rolling`, `blue-green`, `canary`, `recreate`"
        )
    );
    let expected_line = source
        .lines()
        .position(|l| l.contains("blue-gren"))
        .unwrap()
        + 1;
    assert_eq!(*line, expected_line);
    assert_eq!(
        *col,
        source
            .lines()
            .nth(expected_line - 1)
            .unwrap()
            .find("\"blue-gren\"")
            .unwrap()
            + 1
    );
}

#[test]
fn all_problems_of_a_file_are_reported_at_once() {
    let source = r#"
[project]
name = "shop"
colour = "blue"

[apps.api]
base = "pyhton"
port = "eight thousand"
cmd = ["python3", "-m", "api"]

[bases.python]
image = "shop/base-python"

[environments.stage]
services = ["db"]
registry = "team"
strategy = { kind = "recreate" }
"#;
    let found = problems(source);
    let summary: Vec<(ProblemKind, &str)> = found.iter().map(|p| (p.0, p.1.as_str())).collect();
    assert_eq!(
        summary,
        vec![
            (ProblemKind::UnknownKey, "project.colour"),
            (ProblemKind::DanglingReference, "apps.api.base"),
            (ProblemKind::WrongType, "apps.api.port"),
            (ProblemKind::BadValue, "bases.python"),
            (
                ProblemKind::DanglingReference,
                "environments.stage.services[0]"
            ),
            (
                ProblemKind::DanglingReference,
                "environments.stage.registry"
            ),
            (ProblemKind::BadValue, "environments.stage.strategy"),
        ],
        "{found:#?}"
    );
    assert_eq!(found[1].3.as_deref(), Some("did you mean `python`?"));
    assert_eq!(found[0].4, (4, 1));
    assert_eq!(found[2].4, (8, 8));
}

#[test]
fn unknown_keys_suggest_the_key_meant() {
    let source = VALID.replace("port = 8000", "prot = 8000");
    let found = problems(&source);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(found[0].0, ProblemKind::UnknownKey);
    assert_eq!(found[0].1, "apps.api.prot");
    assert_eq!(found[0].3.as_deref(), Some("did you mean `port`?"));
    // Without a port the HTTP health check has nothing to call.
    assert_eq!(found[1].1, "apps.api.health.path");
}

#[test]
fn a_missing_required_key_names_the_table() {
    let found = problems("[project]\n\n[bases.python]\ntags = []\n");
    let paths: Vec<&str> = found.iter().map(|p| p.1.as_str()).collect();
    assert!(paths.contains(&"bases.python.image"), "{found:#?}");
    assert!(paths.contains(&"project.name"), "{found:#?}");
}

#[test]
fn syntax_errors_are_located() {
    let error = load_manifest("[project]\nname = \"shop\nx = 1\n").unwrap_err();
    assert!(matches!(error, slipway_core::ManifestError::Syntax { .. }));
    let problem = &error.problems()[0];
    assert_eq!(problem.kind, ProblemKind::Syntax);
    assert!(problem.span.is_some());
}

#[test]
fn bad_values_are_explained() {
    let source = VALID
        .replace("interval = \"2s\"", "interval = \"2 seconds\"")
        .replace("\"deploy prod\"", "\"deploy production\"")
        + "\n[environments.prod.secrets]\nDB_PASSWORD = \"ssn:/shop/db\"\n";
    let found = problems(&source);
    let by_path = |p: &str| {
        found
            .iter()
            .find(|f| f.1 == p)
            .unwrap_or_else(|| panic!("{p} in {found:#?}"))
    };
    assert!(
        by_path("apps.api.health.interval")
            .2
            .contains("invalid duration `2 seconds`")
    );
    assert_eq!(
        by_path("pipelines.release.steps[4]").0,
        ProblemKind::DanglingReference
    );
    assert_eq!(
        by_path("environments.prod.secrets.DB_PASSWORD")
            .3
            .as_deref(),
        Some("did you mean `ssm`?")
    );
}

mod never_panics {
    use proptest::prelude::*;
    use slipway_core::load_manifest;

    fn toml_like() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "project",
            "name",
            "apps",
            "api",
            "base",
            "port",
            "bases",
            "image",
            "environments",
            "prod",
            "strategy",
            "kind",
            "steps",
            "services",
            "db",
            "health",
            "path",
            "tests",
            "http",
            "secrets",
            "x",
        ]);
        let value = prop::sample::select(vec![
            "\"canary\"",
            "1",
            "-5",
            "99999",
            "[10, 50, 100]",
            "{ kind = \"rolling\" }",
            "true",
            "\"\"",
            "[]",
            "{}",
            "\"1h\"",
            "\"2 x\"",
            "1979-05-27",
            "3.5",
            "[\"a\", 1]",
            "{ path = 1 }",
        ]);
        let line = prop_oneof![
            (key.clone(), key.clone()).prop_map(|(a, b)| format!("[{a}.{b}]")),
            key.clone().prop_map(|a| format!("[{a}]")),
            (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        ];
        prop::collection::vec(line, 0..30).prop_map(|lines| lines.join("\n"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn on_arbitrary_text(text in "\\PC{0,400}") {
            let _ = load_manifest(&text);
        }

        #[test]
        fn on_toml_shaped_text(text in toml_like()) {
            match load_manifest(&text) {
                Ok(_) => {}
                Err(error) => {
                    for problem in error.problems() {
                        if let Some(span) = &problem.span {
                            prop_assert!(span.start <= text.len() && span.end <= text.len());
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn the_reference_example_is_a_valid_manifest() {
    let reference = std::fs::read_to_string(manifest_dir().join("../../docs/manifest.md")).unwrap();
    let blocks: Vec<&str> = reference
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("\n```").next())
        .collect();
    let example = blocks
        .iter()
        .copied()
        .max_by_key(|b| b.len())
        .expect("docs/manifest.md has a TOML example");
    assert!(
        example.contains("[project]"),
        "the largest TOML block is the complete example"
    );
    if let Err(error) = load_manifest(example) {
        panic!(
            "docs/manifest.md's example is rejected: {:#?}",
            error.problems()
        );
    }
}

#[test]
fn a_base_needs_a_registry_to_be_pushed_to() {
    let source = VALID
        .replace(
            "[registries.team]",
            "[registries.ecr]\nurl = \"1.dkr.ecr.eu-central-1.amazonaws.com\"\n[registries.team]",
        )
        .replace("registry = \"team\"\n", "");
    let found = problems(&source);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].1, "bases.python");
    assert!(found[0].2.contains("no registry"), "{found:#?}");
}

#[test]
fn http_only_keys_are_rejected_on_command_checks() {
    let source = VALID.replace(
        "[environments.dev]\n",
        "[environments.dev]\ntests = [{ app = \"api\", run = [\"true\"], expect = 200 }]\n",
    );
    let found = problems(&source);
    assert_eq!(
        found.iter().map(|f| f.1.as_str()).collect::<Vec<_>>(),
        vec!["environments.dev.tests[0].expect"],
        "{found:#?}"
    );
}

/// The package's directory as the test runner gives it when it runs the test: a test binary
/// reused from a cached target directory may have been compiled in another checkout.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

#[test]
fn a_pipeline_may_not_pass_the_servers_secrets_to_its_steps() {
    let source = VALID
        .replace(
            "steps = [\"build\", \"push\", \"up dev\", \"approve\", \"deploy prod\"]",
            "env = [\"NPM_TOKEN\", \"SHOP_ADA_PASSWORD\"]\nsteps = [\"build\", { name = \"smoke\", run = \"true\", env = [\"SHOP_HOOK_SECRET\", \"not a name\"] }]",
        )
        + "\n[server]\nusers = { ada = \"env:SHOP_ADA_PASSWORD\" }\nwebhook_secret = \"env:SHOP_HOOK_SECRET\"\n";
    let found = problems(&source);
    let paths: Vec<(&str, &str)> = found.iter().map(|f| (f.1.as_str(), f.2.as_str())).collect();
    assert_eq!(
        paths,
        [
            (
                "pipelines.release.env[1]",
                "`SHOP_ADA_PASSWORD` holds the password of the server's user `ada`: a pipeline step never gets it"
            ),
            (
                "pipelines.release.steps[1].env[0]",
                "`SHOP_HOOK_SECRET` holds the server's webhook secret: a pipeline step never gets it"
            ),
            (
                "pipelines.release.steps[1].env[1]",
                "`not a name` is not an environment variable's name"
            ),
        ]
    );
    assert!(found.iter().all(|f| f.4.0 > 1), "located: {found:#?}");
}

const SECRET_FILES: &str = r#"
[project]
name = "shop"

[apps.api]
build = "dockerfile"
secret_files = { "api-key" = "API_KEY", "../escape" = "API_KEY" }

[services.db]
image = "postgres:16.4-bookworm"
env = { POSTGRES_PASSWORD_FILE = "/run/secrets/db-password", DATABASE_PASSWORD = "/run/secrets/db-password" }
secret_files = { "db-password" = "DB_PASWORD" }

[environments.dev.secrets]
API_KEY = "env:API_KEY"
DB_PASSWORD = "file:secrets/db-password"

[environments.stage]
apps = []
secrets = { DB_PASSWORD = "env:DB_PASSWORD" }
"#;

#[test]
fn secret_files_name_a_secret_of_every_environment_they_run_in() {
    let found = problems(SECRET_FILES);
    let paths: Vec<&str> = found.iter().map(|f| f.1.as_str()).collect();
    // The app runs only in dev (stage lists no apps); the service runs in both, and its secret
    // is misspelt: each environment says so, with the near name.
    assert_eq!(
        paths,
        [
            "apps.api.secret_files.\"../escape\"",
            "services.db.secret_files.db-password",
            "services.db.secret_files.db-password",
        ],
        "{found:#?}"
    );
    assert!(found[0].2.contains("not a plain file name"), "{found:#?}");
    assert_eq!(
        found[0].3.as_deref(),
        Some("name the file without `/` or `..`, e.g. `escape`")
    );
    assert_eq!(found[1].0, ProblemKind::DanglingReference);
    assert!(
        found[1].2.contains("`DB_PASWORD`") && found[1].2.contains("`dev`"),
        "{found:#?}"
    );
    assert!(
        found[1].3.as_deref().unwrap().contains("DB_PASSWORD"),
        "{found:#?}"
    );
    assert!(found[2].2.contains("`stage`"), "{found:#?}");
    // Located on the key inside the inline table's line.
    assert_eq!(found[1].4.0, 12);
    // `/run/secrets/...` values and `*_FILE` keys are not literal secrets.
    assert!(!paths.iter().any(|p| p.contains(".env.")), "{found:#?}");
}

#[test]
fn a_password_inside_a_url_in_env_is_refused() {
    let source = r#"
[project]
name = "shop"

[apps.api]
build = "dockerfile"
env = { DATABASE_URL = "mysql://root:hunter2@db/shop", CACHE_URL = "redis://cache:6379/0" }
"#;
    let found = problems(source);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].1, "apps.api.env.DATABASE_URL");
    assert!(found[0].2.contains("password inside its URL"), "{found:#?}");
}

#[test]
fn file_secrets_of_apps_on_ecs_are_refused_with_what_to_do_instead() {
    let source = r#"
[project]
name = "shop"

[apps.api]
build = "dockerfile"
secret_files = { "db-password" = "DB_PASSWORD" }

[apps.worker]
build = "dockerfile"

[services.db]
image = "postgres:16.4-bookworm"
secret_files = { "db-password" = "DB_PASSWORD" }

[environments.dev]
secrets = { DB_PASSWORD = "env:DB_PASSWORD" }

[environments.prod]
target = { kind = "ecs", cluster = "shop", execution_role_arn = "arn:aws:iam::123456789012:role/x" }
secrets = { DB_PASSWORD = "ssm:/shop/prod/db" }
"#;
    let manifest = load_manifest(source).expect("valid: only the ECS render refuses");
    assert!(slipway_core::manifest::ecs_secret_file_refusals(&manifest, "dev").is_empty());
    let refused = slipway_core::manifest::ecs_secret_file_refusals(&manifest, "prod");
    // The app's file only: services do not run on ECS.
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(
        refused[0].path.to_string(),
        "apps.api.secret_files.db-password"
    );
    assert!(
        refused[0]
            .message
            .contains("cannot mount a file from a secret")
    );
    assert!(
        refused[0]
            .help
            .as_deref()
            .unwrap()
            .contains("`DB_PASSWORD={{ secret.DB_PASSWORD }}`"),
        "{refused:#?}"
    );
    let span = slipway_core::manifest::field_span(source, &refused[0].path).unwrap();
    assert_eq!(&source[span], "\"db-password\"");
}

#[test]
fn a_stop_signal_must_be_one_a_container_can_be_stopped_with() {
    let good = VALID.replace(
        "port = 8000",
        "port = 8000\nstop_signal = \"SIGQUIT\"\nstop_grace_period = \"45s\"",
    );
    let manifest = load_manifest(&good).unwrap();
    assert_eq!(manifest.apps["api"].stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(
        manifest.apps["api"]
            .stop_grace_period
            .map(|d| d.0.as_secs()),
        Some(45)
    );

    let bad = VALID.replace("port = 8000", "port = 8000\nstop_signal = \"QUIT\"");
    let found = problems(&bad);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].1, "apps.api.stop_signal");
    assert!(found[0].2.contains("`QUIT`"), "{found:#?}");
    assert!(
        found[0]
            .3
            .as_deref()
            .unwrap_or_default()
            .contains("SIGQUIT"),
        "{found:#?}"
    );
    let line = bad
        .lines()
        .position(|l| l.starts_with("stop_signal"))
        .unwrap()
        + 1;
    assert_eq!(found[0].4.0, line, "located on its line");
}

#[test]
fn a_scheduled_job_names_an_app_and_a_schedule_that_parses() {
    let good = format!(
        "{VALID}\n[jobs.report]\napp = \"api\"\nrun = [\"python3\", \"-m\", \"api.report\"]\n\
         schedule = \"0 3 * * *\"\ntimezone = \"Europe/Paris\"\nenvironments = [\"prod\"]\n"
    );
    let manifest = load_manifest(&good).unwrap();
    assert_eq!(manifest.jobs["report"].app, "api");
    assert_eq!(manifest.jobs["report"].schedule, "0 3 * * *");

    // The error points at the hour inside the schedule, on its line and column.
    let bad = format!(
        "{VALID}\n[jobs.report]\napp = \"apj\"\nrun = \"python3 -m api.report\"\n\
         schedule = \"0 27 * * *\"\ntimezone = \"Europe/Parys\"\n"
    );
    let found = problems(&bad);
    assert_eq!(found.len(), 3, "{found:#?}");
    let app = found.iter().find(|f| f.1 == "jobs.report.app").unwrap();
    assert_eq!(app.0, ProblemKind::DanglingReference);
    assert!(
        app.3.as_deref().unwrap_or_default().contains("api"),
        "{app:#?}"
    );
    let schedule = found
        .iter()
        .find(|f| f.1 == "jobs.report.schedule")
        .unwrap();
    assert!(schedule.2.contains("hour"), "{schedule:#?}");
    let line = bad.lines().position(|l| l.starts_with("schedule")).unwrap() + 1;
    assert_eq!(
        schedule.4,
        (line, "schedule = \"0 ".len() + 1),
        "{schedule:#?}"
    );
    let zone = found
        .iter()
        .find(|f| f.1 == "jobs.report.timezone")
        .unwrap();
    assert!(zone.2.contains("Europe/Parys"), "{zone:#?}");
}

#[test]
fn a_job_in_an_environment_that_does_not_run_its_app_is_refused() {
    let bad = VALID.replace("mount = true", "mount = true\napps = []")
        + "\n[jobs.report]\napp = \"api\"\nrun = \"true\"\nschedule = \"@daily\"\nenvironments = [\"dev\", \"qa\"]\n";
    let found = problems(&bad);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(found[0].1, "jobs.report.environments[0]");
    assert!(found[0].2.contains("does not run in `dev`"), "{found:#?}");
    assert_eq!(found[1].0, ProblemKind::DanglingReference);
    assert_eq!(found[1].1, "jobs.report.environments[1]");
}

#[test]
fn tls_on_a_route_needs_its_host_and_known_sources() {
    let with_host = VALID.replace(
        "route = { path = \"/api\" }",
        "route = { host = \"shop.example.com\", path = \"/api\", tls = { cert = \"file:certs/shop.pem\", key = \"secret:shop_key\" }, hsts = true }",
    );
    assert!(load_manifest(&with_host).is_ok());

    let without_host = VALID.replace(
        "route = { path = \"/api\" }",
        "route = { path = \"/api\", tls = { cert = \"file:certs/shop.pem\", key = \"file:certs/shop.key\" } }",
    );
    let found = problems(&without_host);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].1, "apps.api.route.tls");
    assert!(
        found[0].2.contains("needs the route's `host`"),
        "{found:#?}"
    );
    assert_eq!(found[0].4, (19, 32), "{found:#?}");

    let bad_source = VALID.replace(
        "route = { path = \"/api\" }",
        "route = { host = \"shop.example.com\", tls = { cert = \"https://x/cert.pem\", key = \"file:k.pem\" } }",
    );
    let found = problems(&bad_source);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].1, "apps.api.route.tls.cert");
    assert!(
        found[0].3.as_deref().unwrap().contains("file:PATH"),
        "{found:#?}"
    );

    let hsts_alone = VALID.replace(
        "route = { path = \"/api\" }",
        "route = { host = \"shop.example.com\", hsts = true }",
    );
    let found = problems(&hsts_alone);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].1, "apps.api.route.hsts");
}

#[test]
fn route_limits_load_and_bad_ones_say_what_to_write() {
    let good = VALID.replace(
        "route = { path = \"/api\" }",
        "route = { path = \"/api\", max_body = \"10MB\", max_header = \"64KB\", timeout = \"30s\", idle_timeout = \"2m\" }",
    );
    let manifest = load_manifest(&good).expect("valid");
    let route = manifest.apps["api"].route.clone().unwrap();
    assert_eq!(route.max_body.unwrap().0, 10 * 1024 * 1024);
    assert_eq!(route.max_header.unwrap().0, 64 * 1024);
    assert_eq!(route.timeout.unwrap().0.as_secs(), 30);
    assert_eq!(route.idle_timeout.unwrap().0.as_secs(), 120);

    let bad = VALID.replace(
        "route = { path = \"/api\" }",
        "route = { path = \"/api\", max_body = \"ten\", max_header = \"100B\", timeout = \"0s\", idle_timeout = 30 }",
    );
    let found = problems(&bad);
    let by_path = |p: &str| {
        found
            .iter()
            .find(|f| f.1 == p)
            .unwrap_or_else(|| panic!("{p} in {found:#?}"))
    };
    let max_body = by_path("apps.api.route.max_body");
    assert!(max_body.2.contains("invalid size `ten`"), "{max_body:?}");
    assert!(max_body.2.contains("`10MB`"), "{max_body:?}");
    assert_eq!(max_body.4.0, 19, "located on the route's line");
    let max_header = by_path("apps.api.route.max_header");
    assert!(
        max_header.2.contains("outside 1KB to 1MB"),
        "{max_header:?}"
    );
    assert!(
        max_header
            .3
            .as_deref()
            .unwrap()
            .contains("max_header = \"64KB\""),
        "{max_header:?}"
    );
    let timeout = by_path("apps.api.route.timeout");
    assert!(timeout.2.contains("504"), "{timeout:?}");
    assert!(
        timeout.3.as_deref().unwrap().contains("timeout = \"30s\""),
        "{timeout:?}"
    );
    let idle = by_path("apps.api.route.idle_timeout");
    assert!(idle.3.as_deref().unwrap().contains("\"30s\""), "{idle:?}");
    assert_eq!(found.len(), 4, "{found:#?}");

    let zero_body = VALID.replace(
        "route = { path = \"/api\" }",
        "route = { path = \"/api\", max_body = \"0MB\" }",
    );
    let found = problems(&zero_body);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].1, "apps.api.route.max_body");
    assert!(
        found[0].3.as_deref().unwrap().contains("100MB"),
        "{found:#?}"
    );
}

#[test]
fn tls_from_acme_is_the_word_acme_and_its_directory_is_checked() {
    let acme = VALID.replace(
        "route = { path = \"/api\" }",
        "route = { host = \"shop.example.com\", path = \"/api\", tls = \"acme\", hsts = true }",
    ) + "\n[environments.edge]\nregistry = \"team\"\n\
         target = { kind = \"docker\", proxy = { acme = { email = \"ops@example.com\", challenge = \"tls-alpn-01\" } } }\n";
    let manifest = load_manifest(&acme).unwrap();
    let route = manifest.apps["api"].route.as_ref().unwrap();
    assert!(route.tls.as_ref().unwrap().files().is_none());

    let misspelt = VALID.replace(
        "route = { path = \"/api\" }",
        "route = { host = \"shop.example.com\", tls = \"letsencrypt\" }",
    );
    let found = problems(&misspelt);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].1.starts_with("apps.api.route"), "{found:#?}");
    assert!(
        found[0].2.contains("unknown tls `letsencrypt`") && found[0].2.contains("tls = \"acme\""),
        "{found:#?}"
    );

    let bad = acme
        .replace("email = \"ops@example.com\"", "email = \"ops\", directory = \"http://ca.internal/dir\", ca = \"https://ca.internal/root.pem\"")
        .replace("tls-alpn-01", "dns-01");
    let found = problems(&bad);
    let paths: Vec<&str> = found.iter().map(|f| f.1.as_str()).collect();
    assert_eq!(
        paths,
        [
            "environments.edge.target.proxy.acme.email",
            "environments.edge.target.proxy.acme.directory",
            "environments.edge.target.proxy.acme.ca",
            "environments.edge.target.proxy.acme.challenge",
        ],
        "{found:#?}"
    );
    assert!(
        found[3].3.as_deref().unwrap().contains("tls-alpn-01"),
        "{found:#?}"
    );
}

#[test]
fn a_job_on_ecs_needs_the_role_eventbridge_scheduler_starts_its_tasks_with() {
    let ecs = "\n[environments.aws]\nregistry = \"team\"\n\
               target = { kind = \"ecs\", cluster = \"shop\" }\n";
    let job =
        "\n[jobs.report]\napp = \"api\"\nrun = \"python3 -m api.report\"\nschedule = \"@daily\"\n";
    let bad = format!("{VALID}{ecs}{job}");
    let found = problems(&bad);
    assert_eq!(found.len(), 1, "{found:#?}");
    let (_, path, message, help, (line, _)) = &found[0];
    assert_eq!(path, "environments.aws.target.scheduler_role_arn");
    assert!(message.contains("job `report`"), "{message}");
    assert!(
        help.as_deref()
            .unwrap_or_default()
            .contains("scheduler_role_arn = "),
        "{help:?}"
    );
    let target = bad.lines().position(|l| l.starts_with("target")).unwrap() + 1;
    assert_eq!(*line, target, "located on the environment's target");

    // With the role, or with the job kept to other environments, it loads.
    let with_role = bad.replace(
        "cluster = \"shop\"",
        "cluster = \"shop\", scheduler_role_arn = \"arn:aws:iam::123456789012:role/shop-scheduler\"",
    );
    let manifest = load_manifest(&with_role).unwrap();
    let Target::Ecs(target) = &manifest.environments["aws"].target else {
        panic!("an ECS target");
    };
    assert_eq!(
        target.scheduler_role_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/shop-scheduler")
    );
    load_manifest(&format!("{bad}environments = [\"prod\"]\n")).unwrap();
}
