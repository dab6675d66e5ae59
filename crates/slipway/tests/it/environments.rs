//! `slipway up`/`down`/`ps` with the example shop on the real engine: dev with the app
//! directories mounted, stage with the built images, idempotent `up`, only what changed
//! recreated, volumes surviving `down`, and a failing service leaving nothing behind.

use std::path::Path;
use std::process::Command;

use crate::{copy_example, run, slipway, write};

fn curl(args: &[&str]) -> String {
    let output = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn shop_copy(dir: &Path, name: &str, dev_port: u16, stage_port: u16) -> std::path::PathBuf {
    let copy = copy_example(dir);
    // Its own project name and ports, so it never meets another run's containers.
    let manifest = std::fs::read_to_string(copy.join("slipway.toml"))
        .unwrap()
        .replace("name = \"shop\"", &format!("name = \"{name}\""))
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{dev_port}"))
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{stage_port}"));
    write(&copy, "slipway.toml", &manifest);
    for step in [&["base", "release"][..], &["base", "update"]] {
        let result = run(slipway(&copy).args(step));
        assert_eq!(result.code, 0, "{step:?}: {}", result.stderr);
    }
    copy
}

/// `slipway ps` lists no container of the project.
fn assert_nothing_left(shop: &Path) {
    let ps = run(slipway(shop).args(["ps", "--output", "json"]));
    assert_eq!(
        ps.stdout.trim(),
        "[]",
        "nothing of the environment is left: {}",
        ps.stdout
    );
}

fn changes(result: &crate::Run) -> Vec<(String, String)> {
    assert_eq!(
        result.code, 0,
        "stdout: {}\nstderr: {}",
        result.stdout, result.stderr
    );
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
fn dev_and_stage_come_up_change_only_what_changed_and_go_down() {
    let temp = tempfile::tempdir().unwrap();
    let shop = shop_copy(temp.path(), "itshop-updown", 18180, 18181);
    // What an earlier, failed run of this test may have left.
    for env in ["dev", "stage"] {
        let _ = run(slipway(&shop).args(["down", env, "--volumes"]));
    }
    let up = |env: &str| {
        run(slipway(&shop)
            .args(["up", env, "--output", "json"])
            .env("SHOP_DB_PASSWORD", "pw-env-test"))
    };

    let pulled = run(slipway(&shop).args(["pull", "dev"]));
    assert_eq!(pulled.code, 0, "{}", pulled.stderr);
    assert_eq!(
        pulled
            .stdout
            .lines()
            .filter(|l| l.starts_with("pulled ") && l.contains("@sha256:"))
            .count(),
        2,
        "both bases, as pinned: {}",
        pulled.stdout
    );
    let first = changes(&up("dev"));
    assert_eq!(
        first,
        vec![
            ("db".into(), "created".into()),
            ("api".into(), "created".into()),
            ("web".into(), "created".into())
        ]
    );
    let env: serde_json::Value =
        serde_json::from_str(&curl(&["http://127.0.0.1:18180/api/env"])).unwrap();
    assert_eq!(env["environment"], "dev");
    curl(&["-X", "POST", "http://127.0.0.1:18180/api/visits"]);
    assert_eq!(
        curl(&["http://127.0.0.1:18180/api/visits"]).trim(),
        "{\"visits\": 1}"
    );

    let logs = run(slipway(&shop).args(["logs", "dev", "api", "--tail", "5"]));
    assert!(
        logs.stdout.lines().any(|l| l.starts_with("api | ")),
        "{}",
        logs.stdout
    );
    let bin = assert_cmd::cargo::cargo_bin("slipway");
    let followed = Command::new("timeout")
        .arg("3")
        .arg(&bin)
        .args(["logs", "dev", "-f", "--tail", "2"])
        .current_dir(&shop)
        .output()
        .unwrap();
    assert_eq!(
        followed.status.code(),
        Some(124),
        "logs -f keeps following until stopped"
    );
    let followed = String::from_utf8_lossy(&followed.stdout);
    assert!(
        followed.contains("db | ") && followed.contains("api | "),
        "{followed}"
    );
    let again = changes(&up("dev"));
    assert!(
        again.iter().all(|(_, change)| change == "unchanged"),
        "{again:?}"
    );

    let values = std::fs::read_to_string(shop.join("config/dev/values.toml"))
        .unwrap()
        .replace("GREETING = ", "GREETING = \"changed\"\nOLD_GREETING = ");
    write(&shop, "config/dev/values.toml", &values);
    let changed = changes(&up("dev"));
    assert_eq!(
        changed,
        vec![
            ("db".into(), "unchanged".into()),
            ("api".into(), "recreated".into()),
            ("web".into(), "unchanged".into())
        ]
    );

    assert_eq!(run(slipway(&shop).args(["down", "dev"])).code, 0);
    assert_nothing_left(&shop);
    changes(&up("dev"));
    assert_eq!(
        curl(&["http://127.0.0.1:18180/api/visits"]).trim(),
        "{\"visits\": 1}",
        "the named volume survived down"
    );
    assert_eq!(
        run(slipway(&shop).args(["down", "dev", "--volumes"])).code,
        0
    );

    assert_eq!(run(slipway(&shop).args(["build"])).code, 0);
    changes(&up("stage"));
    let env: serde_json::Value =
        serde_json::from_str(&curl(&["http://127.0.0.1:18181/api/env"])).unwrap();
    assert_eq!(env["environment"], "stage");
    // The database is on the internal network only: no published port, no route from the
    // host to it, while the app reaches it (its health check queries it).
    let db = "itshop-updown-stage-db";
    let port = std::process::Command::new("docker")
        .args(["port", db])
        .output()
        .unwrap();
    assert!(port.status.success() && port.stdout.is_empty(), "{port:?}");
    let inspect = std::process::Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            db,
        ])
        .output()
        .unwrap();
    let addresses = String::from_utf8_lossy(&inspect.stdout).to_string();
    for address in addresses.split_whitespace() {
        assert!(
            !postgres_answers(&format!("{address}:5432")),
            "the host reached the database at {address}:5432"
        );
    }
    assert_eq!(curl(&["http://127.0.0.1:18181/api/health"]).trim(), "ok");
    assert_eq!(
        run(slipway(&shop).args(["down", "stage", "--volumes"])).code,
        0
    );
}

#[test]
fn a_missing_config_key_or_a_stopped_engine_is_a_clear_error_and_starts_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let shop = shop_copy(temp.path(), "itshop-badup", 18186, 18187);
    let template = shop.join("config/dev/api.env.j2");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(
        &template,
        format!("{text}MAIL_FROM={{{{ vars.MAIL_FROM }}}}\n"),
    )
    .unwrap();
    let line = text.lines().count() + 1;
    let missing = run(slipway(&shop)
        .args(["up", "dev"])
        .env("SHOP_DB_PASSWORD", "pw-env-test"));
    assert_ne!(missing.code, 0);
    assert!(
        missing
            .stderr
            .contains(&format!("config/dev/api.env.j2:{line}"))
            && missing.stderr.contains("MAIL_FROM"),
        "the error names the template, line and key: {}",
        missing.stderr
    );
    let no_secret = run(slipway(&shop)
        .args(["up", "dev"])
        .env_remove("SHOP_DB_PASSWORD"));
    assert_ne!(no_secret.code, 0);
    assert!(
        no_secret.stderr.contains("SHOP_DB_PASSWORD"),
        "{}",
        no_secret.stderr
    );
    std::fs::write(&template, text).unwrap();

    let stopped = run(slipway(&shop)
        .args(["up", "dev"])
        .env("SHOP_DB_PASSWORD", "pw-env-test")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock"));
    assert_ne!(stopped.code, 0);
    assert!(
        stopped.stderr.contains("cannot reach the Docker Engine")
            && stopped.stderr.contains("is it running?"),
        "{}",
        stopped.stderr
    );
    assert_nothing_left(&shop);
}

#[test]
fn a_service_that_never_gets_healthy_stops_up_and_leaves_nothing_running() {
    let temp = tempfile::tempdir().unwrap();
    let shop = shop_copy(temp.path(), "itshop-unhealthy", 18182, 18183);
    let manifest = std::fs::read_to_string(shop.join("slipway.toml"))
        .unwrap()
        .replace("health = { cmd = [\"pg_isready\", \"-U\", \"app\", \"-d\", \"shop\"], interval = \"2s\", retries = 30 }", "health = { cmd = [\"false\"], interval = \"1s\", timeout = \"1s\", retries = 1 }");
    write(&shop, "slipway.toml", &manifest);
    let result = run(slipway(&shop)
        .args(["up", "dev"])
        .env("SHOP_DB_PASSWORD", "pw-env-test"));
    assert_ne!(result.code, 0);
    assert!(
        result.stderr.contains("service `db`")
            && (result.stderr.contains("unhealthy")
                || result.stderr.contains("not healthy within")),
        "{}",
        result.stderr
    );
    assert!(
        result.stderr.contains("last log lines"),
        "{}",
        result.stderr
    );
    assert!(!result.stderr.contains("pw-env-test"), "{}", result.stderr);
    assert_nothing_left(&shop);
    let _ = run(slipway(&shop).args(["down", "dev", "--volumes"]));
}

#[test]
fn a_port_already_taken_is_a_clear_error_and_leaves_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let shop = shop_copy(temp.path(), "itshop-port", 18184, 18185);
    let _taken = std::net::TcpListener::bind("127.0.0.1:18184").unwrap();
    let result = run(slipway(&shop)
        .args(["up", "dev"])
        .env("SHOP_DB_PASSWORD", "pw-env-test"));
    assert_ne!(result.code, 0);
    assert!(
        result.stderr.contains("18184"),
        "the error names the port: {}",
        result.stderr
    );
    assert_nothing_left(&shop);
    let _ = run(slipway(&shop).args(["down", "dev", "--volumes"]));
}

#[test]
fn compose_export_writes_a_compose_file_that_lints_clean() {
    let temp = tempfile::tempdir().unwrap();
    let shop = copy_example(temp.path());
    let exported = run(slipway(&shop).args(["compose", "export", "dev"]));
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    write(&shop, "docker-compose.dev.yml", &exported.stdout);
    let root = slipway_compose::yaml::parse(&exported.stdout).expect("the export is YAML");
    let services = root.get("services").unwrap();
    let names: Vec<&str> = services
        .entries()
        .iter()
        .map(|(k, _)| k.name.as_str())
        .collect();
    assert_eq!(names, vec!["db", "api", "web"]);
    assert_eq!(
        services
            .get("api")
            .unwrap()
            .get("depends_on")
            .unwrap()
            .get("db")
            .unwrap()
            .get("condition")
            .unwrap()
            .as_text()
            .as_deref(),
        Some("service_healthy")
    );
    assert!(
        root.get("networks")
            .unwrap()
            .get("internal")
            .unwrap()
            .get("internal")
            .unwrap()
            .as_bool()
            == Some(true)
    );
    let lint = run(slipway(&shop).args(["lint", "--format", "json", "docker-compose.dev.yml"]));
    let report: serde_json::Value = serde_json::from_str(&lint.stdout).unwrap();
    assert_eq!(report["errors"], 0, "{}", lint.stdout);
    assert_eq!(report["warnings"], 0, "{}", lint.stdout);
}

#[test]
fn a_published_database_port_is_reachable_from_the_host() {
    let temp = tempfile::tempdir().unwrap();
    let shop = shop_copy(temp.path(), "itshop-dbport", 18188, 18189);
    let manifest = std::fs::read_to_string(shop.join("slipway.toml")).unwrap();
    let published = manifest.replace(
        "volumes = [\"db-data:/var/lib/postgresql/data\"]",
        "volumes = [\"db-data:/var/lib/postgresql/data\"]\nports = [\"127.0.0.1:18190:5432\"]",
    );
    assert_ne!(published, manifest, "the db service moved");
    write(&shop, "slipway.toml", &published);
    let up = run(slipway(&shop)
        .args(["up", "dev"])
        .env("SHOP_DB_PASSWORD", "pw-env-test"));
    assert_eq!(up.code, 0, "{}", up.stderr);
    let reached = postgres_answers("127.0.0.1:18190");
    let _ = run(slipway(&shop).args(["down", "dev", "--volumes"]));
    assert!(reached, "no PostgreSQL answered on the published port");
}

/// Whether a PostgreSQL server answers at `address`: its reply to an SSLRequest is `S` or `N`.
/// (A bare TCP connect is not proof: a network may accept connections for any address.)
fn postgres_answers(address: &str) -> bool {
    use std::io::{Read, Write};
    let timeout = std::time::Duration::from_secs(2);
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&address.parse().unwrap(), timeout)
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    if stream
        .write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
        .is_err()
    {
        return false;
    }
    let mut reply = [0u8; 1];
    matches!(stream.read(&mut reply), Ok(1) if reply[0] == b'S' || reply[0] == b'N')
}
