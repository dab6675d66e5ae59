//! Secrets delivered as files (`secret_files`) on the real engine: `up dev` and `deploy prod`
//! put each at /run/secrets/NAME, mode 0400, owned by the container's user, on tmpfs; no value
//! is in `docker inspect`, an image, the container's writable layer or the host's /dev/shm once
//! the container is gone; a changed value recreates only its container.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{run, slipway, unique, write};

const PASSWORD_1: &str = "pw-file-4f9c2e71";
const PASSWORD_2: &str = "pw-file-0b7d5a93";
const API_KEY_1: &str = "key-env-8d13a5b0";
const API_KEY_2: &str = "key-env-61c2f7e4";

fn docker(args: &[&str]) -> String {
    docker_at(None, args)
}

/// `docker [-H host] ...`, which must succeed.
fn docker_at(host: Option<&str>, args: &[&str]) -> String {
    let mut command = Command::new("docker");
    if let Some(host) = host {
        command.args(["-H", host]);
    }
    let output = command.args(args).output().expect("docker runs");
    assert!(
        output.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A project on the test bed's Debian stand-in: a service built with a user of its own that
/// reads its password from a file (its health check too), and an app (a small HTTP server in
/// perl, healthy only when its key file is readable) running as `nobody`.
fn project(dir: &Path) -> (PathBuf, String) {
    let registry = std::env::var("SLIPWAY_TEST_REGISTRY")
        .expect("SLIPWAY_TEST_REGISTRY is not set: run the tests through scripts/test");
    // Host two of prod is remote as production hosts are: over ssh to the test bed's second
    // engine, which pulls the release image from the registry.
    let host_two = std::env::var("SLIPWAY_TEST_HOST2_SSH")
        .expect("SLIPWAY_TEST_HOST2_SSH is not set: run the tests through scripts/test");
    let name = unique("it-secrets");
    let host = format!("{name}.test");
    write(
        dir,
        "slipway.toml",
        &format!(
            r#"[project]
name = "{name}"
registry = "team"

[registries.team]
url = "{registry}"
mirror_of = ["docker.io"]

[bases.debian]
dockerfile = "base/debian/Dockerfile"
image = "library/debian"
tags = ["bookworm-20251117-slim"]

[apps.api]
base = "debian"
dest = "/srv/app"
cmd = ["perl", "/srv/app/serve.pl"]
user = "nobody"
port = 8000
health = {{ path = "/health", interval = "1s", timeout = "1s" }}
route = {{ host = "{host}", path = "/" }}
secret_files = {{ "api-key" = "API_KEY" }}
aliases = ["legacy-api"]

[services.vault]
build = "services/vault"
env = {{ VAULT_PASSWORD_FILE = "/run/secrets/db-password" }}
health = {{ cmd = "test -r \"$VAULT_PASSWORD_FILE\"", interval = "1s", retries = 20 }}
secret_files = {{ "db-password" = "DB_PASSWORD" }}

[environments.dev]
mount = true
# `up` probes the app's health path here: it answers 200 only when `nobody` reads its key.
publish = {{ api = "127.0.0.1:18231" }}
secrets = {{ API_KEY = "env:IT_API_KEY", DB_PASSWORD = "file:secrets/db-password" }}

[environments.prod]
strategy = {{ kind = "blue-green" }}
target = {{ kind = "docker", hosts = ["unix:///var/run/docker.sock", {{ url = "{host_two}", publish = "127.0.0.1:18090", metrics = "127.0.0.1:19190", publish_tls = "127.0.0.1:18443" }}], proxy = {{ publish = "127.0.0.1:8090", gate_timeout = "20s", drain = "1s" }} }}
secrets = {{ API_KEY = "env:IT_API_KEY", DB_PASSWORD = "file:secrets/db-password" }}
"#
        ),
    );
    write(
        dir,
        "base/debian/Dockerfile",
        "FROM debian:bookworm-20251117-slim\n",
    );
    write(
        dir,
        "services/vault/Dockerfile",
        "FROM debian:bookworm-20251117-slim\nRUN useradd --uid 4321 --user-group keeper\nUSER keeper\nCMD [\"sleep\", \"infinity\"]\n",
    );
    write(
        dir,
        "app/api/serve.pl",
        r#"use IO::Socket::INET;
my $server = IO::Socket::INET->new(LocalPort => 8000, Listen => 16, ReuseAddr => 1) or die "listen: $!";
while (my $client = $server->accept) {
    my $request = <$client>;
    while (my $line = <$client>) { last if $line =~ /^\r?\n$/ }
    my $ok = (-r '/run/secrets/api-key') && (-s '/run/secrets/api-key');
    print $client $ok ? "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
                      : "HTTP/1.0 503 No key\r\nContent-Length: 0\r\n\r\n";
    close $client;
}
"#,
    );
    write_password(dir, PASSWORD_1);
    write(dir, ".gitignore", ".slipway/\nsecrets/\n");
    (dir.to_path_buf(), name)
}

fn write_password(dir: &Path, value: &str) {
    use std::os::unix::fs::PermissionsExt;
    write(dir, "secrets/db-password", &format!("{value}\n"));
    std::fs::set_permissions(
        dir.join("secrets/db-password"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
}

/// (mode, uid, gid, contents) of a container's file, read inside it.
fn file_in(container: &str, path: &str) -> (String, String) {
    file_at(None, container, path)
}

fn file_at(host: Option<&str>, container: &str, path: &str) -> (String, String) {
    let stat = docker_at(
        host,
        &["exec", "-u", "0", container, "stat", "-c", "%a %u %g", path],
    );
    let contents = docker_at(host, &["exec", "-u", "0", container, "cat", path]);
    (stat.trim().to_owned(), contents)
}

/// The file system /run/secrets is on, from the container's /proc/mounts.
fn secrets_mount(container: &str) -> String {
    secrets_mount_at(None, container)
}

fn secrets_mount_at(host: Option<&str>, container: &str) -> String {
    docker_at(host, &["exec", container, "cat", "/proc/mounts"])
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("/run/secrets"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or("none")
        .to_owned()
}

/// Every regular file under `dir` whose bytes contain one of `values`.
/// Files under `dir` that hold one of `values`, in the directories of the project named `name`
/// only (the other tests of this file write the same values for their own projects at once).
fn files_containing(dir: &Path, name: &str, values: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_name().to_string_lossy().starts_with(name) {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            found.extend(files_containing(&path, "", values));
        } else if kind.is_file()
            && let Ok(bytes) = std::fs::read(&path)
        {
            let text = String::from_utf8_lossy(&bytes);
            if values.iter().any(|v| text.contains(v)) {
                found.push(path);
            }
        }
    }
    found
}

/// Nothing the engine shows of the container or its image holds a secret value, and neither
/// does the container's writable layer on disk.
fn assert_nowhere_but_the_file(container: &str, values: &[&str]) {
    assert_nowhere_but_the_file_at(None, container, values);
}

fn assert_nowhere_but_the_file_at(host: Option<&str>, container: &str, values: &[&str]) {
    let docker = |args: &[&str]| docker_at(host, args);
    let inspect = docker(&["inspect", container]);
    let image = docker(&["inspect", "-f", "{{.Image}}", container]);
    let image = image.trim();
    let shown = [
        inspect.clone(),
        docker(&["image", "inspect", image]),
        docker(&["history", "--no-trunc", image]),
        docker(&["diff", container]),
    ];
    for (text, value) in shown
        .iter()
        .flat_map(|t| values.iter().map(move |v| (t, v)))
    {
        assert!(
            !text.contains(value),
            "{container}: `{value}` shown:\n{text}"
        );
    }
    let upper = docker(&["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", container]);
    let found = files_containing(Path::new(upper.trim()), "", values);
    assert!(
        found.is_empty(),
        "{container}: in its writable layer: {found:?}"
    );
}

fn changes(result: &crate::Run) -> Vec<(String, String)> {
    assert_eq!(result.code, 0, "{}\n{}", result.stdout, result.stderr);
    let json: serde_json::Value = serde_json::from_str(&result.stdout).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["change"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn up_delivers_secret_files_on_tmpfs_owned_by_the_container_user_and_nowhere_else() {
    let temp = tempfile::tempdir().unwrap();
    let (dir, name) = project(temp.path());
    let up = |key: &str| {
        run(slipway(&dir)
            .args(["up", "dev", "--output", "json"])
            .env("IT_API_KEY", key))
    };
    let first = up(API_KEY_1);
    let down = || run(slipway(&dir).args(["down", "dev"]));
    if first.code != 0 {
        down();
    }
    assert_eq!(
        changes(&first),
        [
            ("vault".into(), "created".into()),
            ("api".into(), "created".into())
        ]
    );
    let vault = format!("{name}-dev-vault");
    let api = format!("{name}-dev-api");
    // The service's image user (`keeper`, 4321:4321, from its /etc/passwd) and the app's
    // `user` from slipway.toml (`nobody`, 65534:65534 in Debian).
    assert_eq!(
        file_in(&vault, "/run/secrets/db-password"),
        ("400 4321 4321".into(), PASSWORD_1.into())
    );
    assert_eq!(
        file_in(&api, "/run/secrets/api-key"),
        ("400 65534 65534".into(), API_KEY_1.into())
    );
    // The user itself reads it; it cannot change it.
    assert_eq!(
        docker(&["exec", &vault, "cat", "/run/secrets/db-password"]),
        PASSWORD_1
    );
    assert_eq!(secrets_mount(&vault), "tmpfs");
    assert_eq!(secrets_mount(&api), "tmpfs");
    for container in [&vault, &api] {
        assert_nowhere_but_the_file(container, &[PASSWORD_1, API_KEY_1]);
    }

    // The compose export points at a 0600 file and never holds the value.
    let exported = run(slipway(&dir)
        .args(["compose", "export", "dev"])
        .env("IT_API_KEY", API_KEY_1));
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    assert!(!exported.stdout.contains(PASSWORD_1) && !exported.stdout.contains(API_KEY_1));
    let root = slipway_compose::yaml::parse(&exported.stdout).expect("the export is YAML");
    let file = root
        .get("secrets")
        .and_then(|s| s.get("DB_PASSWORD"))
        .and_then(|s| s.get("file"))
        .and_then(|f| f.as_text())
        .expect("a top-level secret with a file")
        .to_string();
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), PASSWORD_1);
        assert!(
            file.starts_with(&dir.join(".slipway").display().to_string()),
            "{file}"
        );
    }
    assert!(
        exported.stdout.contains("target: \"db-password\""),
        "{}",
        exported.stdout
    );

    // Nothing changed: nothing recreated.
    assert_eq!(
        changes(&up(API_KEY_1)),
        [
            ("vault".into(), "unchanged".into()),
            ("api".into(), "unchanged".into())
        ]
    );
    // A host that restarted has an empty /dev/shm: the next `up` writes the files again.
    let binds = docker(&["inspect", "-f", "{{json .HostConfig.Binds}}", &vault]);
    let source = serde_json::from_str::<Vec<String>>(binds.trim())
        .unwrap()
        .into_iter()
        .find_map(|b| b.strip_suffix(":/run/secrets").map(str::to_owned))
        .expect("/run/secrets is bound from the host");
    assert!(source.starts_with("/dev/shm/slipway-secrets/"), "{source}");
    std::fs::remove_file(Path::new(&source).join("db-password")).unwrap();
    assert_eq!(
        changes(&up(API_KEY_1)),
        [
            ("vault".into(), "unchanged".into()),
            ("api".into(), "unchanged".into())
        ]
    );
    assert_eq!(
        file_in(&vault, "/run/secrets/db-password"),
        ("400 4321 4321".into(), PASSWORD_1.into())
    );
    // A new password recreates the service only; a new key the app only.
    write_password(&dir, PASSWORD_2);
    assert_eq!(
        changes(&up(API_KEY_1)),
        [
            ("vault".into(), "recreated".into()),
            ("api".into(), "unchanged".into())
        ]
    );
    assert_eq!(file_in(&vault, "/run/secrets/db-password").1, PASSWORD_2);
    assert_eq!(
        changes(&up(API_KEY_2)),
        [
            ("vault".into(), "unchanged".into()),
            ("api".into(), "recreated".into())
        ]
    );
    assert_eq!(file_in(&api, "/run/secrets/api-key").1, API_KEY_2);
    let labels = docker(&["inspect", "-f", "{{json .Config.Labels}}", &api]);
    assert!(
        labels.contains("api-key") && !labels.contains(API_KEY_2),
        "{labels}"
    );

    let result = down();
    assert_eq!(result.code, 0, "{}", result.stderr);
    // The containers are gone, and so are the values on the host's tmpfs.
    let left = files_containing(
        Path::new("/dev/shm/slipway-secrets"),
        &name,
        &[PASSWORD_1, PASSWORD_2, API_KEY_1, API_KEY_2],
    );
    assert!(left.is_empty(), "left on the host: {left:?}");
}

#[test]
fn deploy_delivers_secret_files_to_release_containers() {
    let temp = tempfile::tempdir().unwrap();
    let (dir, name) = project(temp.path());
    let built = run(slipway(&dir).args(["build"]));
    assert_eq!(built.code, 0, "{}", built.stderr);
    let deployed = run(slipway(&dir)
        .args(["deploy", "prod", "--yes"])
        .env("IT_API_KEY", API_KEY_1));
    let containers = docker(&[
        "ps",
        "--format",
        "{{.Names}}",
        "--filter",
        &format!("label=dev.slipway.project={name}"),
        "--filter",
        "label=dev.slipway.environment=prod",
    ]);
    let down = || run(slipway(&dir).args(["down", "prod"]));
    if deployed.code != 0 {
        down();
    }
    // The release passed its health gate: the app could read its key before any traffic.
    assert_eq!(deployed.code, 0, "{}", deployed.stderr);
    let api = containers
        .lines()
        .find(|c| c.starts_with(&format!("{name}-prod-api-")))
        .unwrap_or_else(|| panic!("no release container: {containers}"))
        .to_owned();
    let vault = format!("{name}-prod-vault");
    assert_eq!(
        file_in(&api, "/run/secrets/api-key"),
        ("400 65534 65534".into(), API_KEY_1.into())
    );
    assert_eq!(
        file_in(&vault, "/run/secrets/db-password"),
        ("400 4321 4321".into(), PASSWORD_1.into())
    );
    assert_eq!(secrets_mount(&api), "tmpfs");
    assert_nowhere_but_the_file(&api, &[API_KEY_1, PASSWORD_1]);
    assert_nowhere_but_the_file(&vault, &[API_KEY_1, PASSWORD_1]);
    // The release container answers to the names others used for it (a compose
    // `container_name` or alias) on the environment's network, as in `up`.
    let networks = docker(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", &api]);
    let networks: serde_json::Value = serde_json::from_str(networks.trim()).unwrap();
    let internal = &networks[format!("{name}-prod-internal")];
    let aliases: Vec<&str> = internal["Aliases"]
        .as_array()
        .unwrap_or_else(|| panic!("{networks:#}"))
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(
        aliases.contains(&"api") && aliases.contains(&"legacy-api"),
        "{networks:#}"
    );

    // Host two, over ssh: the same files, written through that engine's API.
    let host_two = std::env::var("SLIPWAY_TEST_HOST2_SSH").unwrap();
    let two = Some(host_two.as_str());
    let remote = docker_at(
        two,
        &[
            "ps",
            "--format",
            "{{.Names}}",
            "--filter",
            &format!("label=dev.slipway.project={name}"),
        ],
    );
    let remote: Vec<&str> = remote.lines().collect();
    let remote_api = remote
        .iter()
        .find(|c| c.starts_with(&format!("{name}-prod-api-")))
        .unwrap_or_else(|| panic!("no release container on host two: {remote:?}"))
        .to_string();
    let remote_file = file_at(two, &remote_api, "/run/secrets/api-key");
    let remote_mount = secrets_mount_at(two, &remote_api);
    assert_nowhere_but_the_file_at(two, &remote_api, &[API_KEY_1, PASSWORD_1]);
    // `down` takes the local host's containers; host two's are removed here (the test bed's
    // second engine shares this machine's /dev/shm, so their directories are cleared here too).
    let binds = docker_at(
        two,
        &["inspect", "-f", "{{json .HostConfig.Binds}}", &remote_api],
    );
    let _ = Command::new("docker")
        .args(["-H", &host_two, "rm", "-f"])
        .args(&remote)
        .output();
    for bind in serde_json::from_str::<Vec<String>>(binds.trim()).unwrap_or_default() {
        if let Some(source) = bind.strip_suffix(":/run/secrets")
            && source.starts_with("/dev/shm/slipway-secrets/")
        {
            let _ = std::fs::remove_dir_all(source);
        }
    }
    assert_eq!(remote_file, ("400 65534 65534".into(), API_KEY_1.into()));
    assert_eq!(remote_mount, "tmpfs");

    let result = down();
    assert_eq!(result.code, 0, "{}", result.stderr);
    let left = files_containing(
        Path::new("/dev/shm/slipway-secrets"),
        &name,
        &[API_KEY_1, PASSWORD_1],
    );
    assert!(left.is_empty(), "left on the host: {left:?}");
}

#[test]
fn ecs_refuses_secret_files_located_before_anything_is_rendered() {
    let temp = tempfile::tempdir().unwrap();
    write(
        temp.path(),
        "slipway.toml",
        r#"[project]
name = "shop"

[apps.api]
build = "dockerfile"
port = 8000
secret_files = { "db-password" = "DB_PASSWORD" }

[environments.prod]
target = { kind = "ecs", cluster = "shop", execution_role_arn = "arn:aws:iam::123456789012:role/x" }
secrets = { DB_PASSWORD = "ssm:/shop/prod/db-password" }
"#,
    );
    write(temp.path(), "app/api/Dockerfile", "FROM scratch\n");
    for command in [
        &["ecs", "render", "prod"][..],
        &["ecs", "diff", "prod"],
        &["deploy", "prod", "--yes"],
    ] {
        let result = run(slipway(temp.path())
            .args(command)
            // Nothing may reach AWS: a refused command never gets that far.
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("AWS_REGION", "eu-central-1"));
        assert_ne!(result.code, 0, "{command:?}: {}", result.stdout);
        assert!(result.stdout.is_empty(), "{command:?}: {}", result.stdout);
        assert!(
            result.stderr.contains("slipway.toml:7:18"),
            "{command:?} names the place: {}",
            result.stderr
        );
        for needed in [
            "app `api` reads secret `DB_PASSWORD` from the file /run/secrets/db-password",
            "Amazon ECS, which cannot mount a file from a secret",
            "DB_PASSWORD={{ secret.DB_PASSWORD }}",
        ] {
            assert!(
                result.stderr.contains(needed),
                "{command:?}: {}",
                result.stderr
            );
        }
        assert!(
            !temp.path().join(".slipway/releases.db").exists(),
            "{command:?}"
        );
    }
}

#[test]
fn postgres_takes_its_password_from_a_secret_file_and_the_app_logs_in_with_it() {
    let temp = tempfile::tempdir().unwrap();
    let shop = crate::copy_example(temp.path());
    let name = unique("it-pgfile");
    let manifest = std::fs::read_to_string(shop.join("slipway.toml")).unwrap();
    let service = "environments = [\"dev\", \"stage\", \"prod\"]\n";
    assert!(manifest.contains(service), "the db service moved");
    let manifest = manifest
        .replace("name = \"shop\"", &format!("name = \"{name}\""))
        .replace("127.0.0.1:8080", "127.0.0.1:18232")
        .replace("127.0.0.1:8081", "127.0.0.1:18233")
        .replace(
            service,
            &format!("{service}env = {{ DB_PASSWORD_FILE = \"/run/secrets/db-password\" }}\nsecret_files = {{ \"db-password\" = \"DB_PASSWORD\" }}\n"),
        );
    write(&shop, "slipway.toml", &manifest);
    // The database's env file no longer carries the password: only the file does.
    write(
        &shop,
        "config/dev/db.env.j2",
        "# The password reaches the database as /run/secrets/db-password.\n",
    );
    for step in [&["base", "release"][..], &["base", "update"]] {
        let result = run(slipway(&shop).args(step));
        assert_eq!(result.code, 0, "{step:?}: {}", result.stderr);
    }
    let up = run(slipway(&shop)
        .args(["up", "dev"])
        .env("SHOP_DB_PASSWORD", PASSWORD_1));
    let down = || run(slipway(&shop).args(["down", "dev", "--volumes"]));
    if up.code != 0 {
        down();
    }
    assert_eq!(up.code, 0, "{}", up.stderr);
    // The api's DATABASE_URL carries the password from its template: PostgreSQL, initialised
    // from the file, lets it in, and the visit is written to the database.
    let post = Command::new("curl")
        .args(["-s", "-X", "POST", "http://127.0.0.1:18232/api/visits"])
        .output()
        .unwrap();
    let visits = Command::new("curl")
        .args(["-s", "http://127.0.0.1:18232/api/visits"])
        .output()
        .unwrap();
    let db = format!("{name}-dev-db");
    let postgres = docker(&["exec", &db, "id", "-u"]).trim().to_owned();
    let group = docker(&["exec", &db, "id", "-g"]).trim().to_owned();
    let file = file_in(&db, "/run/secrets/db-password");
    let env = docker(&["exec", &db, "env"]);
    let mount = secrets_mount(&db);
    let nowhere = std::panic::catch_unwind(|| {
        assert_nowhere_but_the_file(&db, &[PASSWORD_1]);
    });
    down();
    assert_eq!(
        String::from_utf8_lossy(&visits.stdout).trim(),
        "{\"visits\": 1}",
        "{}",
        String::from_utf8_lossy(&post.stdout)
    );
    assert_eq!(file, (format!("400 {postgres} {group}"), PASSWORD_1.into()));
    assert_ne!(postgres, "0", "postgres runs as its own user");
    assert!(!env.contains(PASSWORD_1), "{env}");
    assert_eq!(mount, "tmpfs");
    assert!(nowhere.is_ok());
}
