//! The server on loopback with its random source failing on demand (a fault the real source
//! will not produce when asked): a login then gets a 500 and no session, never a guessable one.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const PASSWORD: &str = "ada-pw-for-randomness";

fn post_login(address: &str) -> (u16, String) {
    let body = format!("user=ada&password={PASSWORD}");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /login HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

fn session_cookie(answer: &str) -> Option<String> {
    answer.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("set-cookie")
            .then(|| value.trim().split(';').next().unwrap_or("").to_owned())
    })
}

#[test]
fn a_login_while_the_random_source_fails_gets_no_session() {
    let dir = tempfile::tempdir().unwrap();
    let manifest =
        slipway_core::load_manifest("schema = 1\n[project]\nname = \"randomness\"\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let failing = Arc::new(AtomicBool::new(true));
    let random: slipway_server::security::Random = {
        let failing = failing.clone();
        let os = slipway_server::security::os_random();
        Arc::new(move |buffer: &mut [u8]| {
            if failing.load(Ordering::SeqCst) {
                Err("Too many open files (os error 24)".to_owned())
            } else {
                os(buffer)
            }
        })
    };
    let settings = slipway_server::Settings {
        listen: address.parse().unwrap(),
        url: format!("http://{address}"),
        users: vec![("ada".into(), PASSWORD.into())],
        public_read: false,
        webhook_secret: None,
        metrics_token: None,
        max_connections: slipway_server::Settings::DEFAULT_MAX_CONNECTIONS,
        session_idle: slipway_server::Settings::DEFAULT_SESSION_IDLE,
        session_lifetime: slipway_server::Settings::DEFAULT_SESSION_LIFETIME,
        random,
        poll: None,
        project_root: dir.path().to_path_buf(),
        state_dir: dir.path().join(".slipway"),
        exe: std::path::PathBuf::from("/bin/false"),
        manifest,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime
            .block_on(slipway_server::serve(settings, async {
                let _ = stopped.await;
            }))
            .unwrap();
    });
    let start = Instant::now();
    while TcpStream::connect(&address).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the server answers"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let (status, answer) = post_login(&address);
    assert_eq!(status, 500, "{answer}");
    assert_eq!(session_cookie(&answer), None, "{answer}");
    assert!(answer.contains("random source failed"), "{answer}");

    // The source works again: so do logins, each with its own token.
    failing.store(false, Ordering::SeqCst);
    let (status, first) = post_login(&address);
    assert_eq!(status, 303, "{first}");
    let (_, second) = post_login(&address);
    let (first, second) = (
        session_cookie(&first).unwrap(),
        session_cookie(&second).unwrap(),
    );
    assert_ne!(first, second);
    let token = first.strip_prefix("slipway_session=").unwrap();
    assert_eq!(token.len(), 64);
    assert_ne!(token, "0".repeat(64));

    stop.send(()).unwrap();
    server.join().unwrap();
}
