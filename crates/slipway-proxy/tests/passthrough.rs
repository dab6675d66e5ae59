//! What a client and an app see of the proxy's HTTP/1.1 pass-through: every way an answer's
//! body can end, interim answers, pipelined requests, and a connection that moves to the
//! general path in the middle, against an app that writes its answers byte by byte as scripted.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use support::{route_everything_to, start_proxy};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// An app whose answers are scripted by path; `/echo` answers with the head it received.
/// Counts its connections.
async fn scripted_app() -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let connections = Arc::new(AtomicU64::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve_scripted(stream));
        }
    });
    (address, connections)
}

async fn serve_scripted(stream: TcpStream) {
    let mut stream = BufReader::new(stream);
    loop {
        let mut head = String::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            let end = line == "\r\n";
            head.push_str(&line);
            if end {
                break;
            }
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.unwrap();
        let (method, path) = {
            let mut words = head.split_whitespace();
            (
                words.next().unwrap().to_owned(),
                words.next().unwrap().to_owned(),
            )
        };
        let parts: Vec<Vec<u8>> = match path.split('?').next().unwrap() {
            "/health" | "/length" => vec![b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec()],
            "/echo" => {
                let mut answer =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", head.len() + body.len())
                        .into_bytes();
                answer.extend_from_slice(head.as_bytes());
                answer.extend_from_slice(&body);
                vec![answer]
            }
            // Chunks and a trailer, written in pieces that cut through the framing.
            "/chunked" => vec![
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n5\r".to_vec(),
                b"\nhel".to_vec(),
                b"lo\r\n6;x=y\r\n world\r\n0\r\nX-Sum: 11\r".to_vec(),
                b"\n\r\n".to_vec(),
            ],
            "/early" => vec![
                b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n".to_vec(),
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate".to_vec(),
            ],
            "/empty" => vec![b"HTTP/1.1 204 No Content\r\nX-Note: none\r\n\r\n".to_vec()],
            "/head" if method == "HEAD" => {
                vec![b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n".to_vec()]
            }
            "/until-close" => vec![
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nstreamed ".to_vec(),
                b"until the end".to_vec(),
            ],
            _ => vec![b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()],
        };
        for part in parts {
            stream.get_mut().write_all(&part).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if path == "/until-close" {
            return;
        }
    }
}

/// A proxy routing every path to `app`.
async fn start(dir: &Path, app: &str) -> (String, tokio::task::JoinHandle<()>) {
    let proxy = start_proxy(dir).await;
    route_everything_to(&proxy.socket, app, Default::default()).await;
    (proxy.address, proxy.task)
}

/// Reads one answer off `stream`: its head (lower-cased names) and its body, de-chunked.
async fn read_answer(stream: &mut BufReader<TcpStream>, head_request: bool) -> (String, Vec<u8>) {
    let mut head = String::new();
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        assert!(
            stream.read_line(&mut line).await.unwrap() > 0,
            "the connection closed"
        );
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = Some(value.trim().parse::<usize>().unwrap());
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
        head.push_str(&lower);
        if line == "\r\n" {
            break;
        }
    }
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = Vec::new();
    if head_request || status == 204 || (100..200).contains(&status) {
        return (head, body);
    }
    if chunked {
        loop {
            let mut size = String::new();
            stream.read_line(&mut size).await.unwrap();
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap(), 16).unwrap();
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    let mut line = String::new();
                    stream.read_line(&mut line).await.unwrap();
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line.to_ascii_lowercase());
                }
                return (head, body);
            }
            let mut chunk = vec![0; size + 2];
            stream.read_exact(&mut chunk).await.unwrap();
            body.extend_from_slice(&chunk[..size]);
        }
    }
    match length {
        Some(length) => {
            body.resize(length, 0);
            stream.read_exact(&mut body).await.unwrap();
        }
        None => {
            stream.read_to_end(&mut body).await.unwrap();
        }
    }
    (head, body)
}

fn status(head: &str) -> u16 {
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_pass_through_whole_in_every_framing_on_one_kept_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (app, connections) = scripted_app().await;
    let (address, proxy) = start(dir.path(), &app).await;
    let gate_connections = connections.load(Ordering::SeqCst);
    let mut client = BufReader::new(TcpStream::connect(&address).await.unwrap());
    let mut ask = async |method: &str, path: &str| {
        let request = format!("{method} {path} HTTP/1.1\r\nHost: shop.test\r\n\r\n");
        client
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .unwrap();
        let answer = read_answer(&mut client, method == "HEAD").await;
        if status(&answer.0) == 103 {
            let last = read_answer(&mut client, false).await;
            return (format!("{}{}", answer.0, last.0), last.1);
        }
        answer
    };

    let (head, body) = ask("GET", "/length").await;
    assert_eq!((status(&head), body.as_slice()), (200, &b"hello"[..]));

    let (head, body) = ask("GET", "/chunked").await;
    assert_eq!((status(&head), body.as_slice()), (200, &b"hello world"[..]));
    assert!(head.contains("x-sum: 11"), "the trailer passes: {head}");
    assert!(
        !head.contains("connection: keep-alive"),
        "hop-by-hop headers stay: {head}"
    );

    let (head, body) = ask("GET", "/early").await;
    assert!(
        head.starts_with("http/1.1 103 early hints\r\nlink: </style.css>; rel=preload"),
        "{head}"
    );
    assert_eq!(
        (
            status(head.split("\r\n\r\n").nth(1).unwrap()),
            body.as_slice()
        ),
        (200, &b"late"[..])
    );

    let (head, body) = ask("GET", "/empty").await;
    assert_eq!(status(&head), 204);
    assert!(head.contains("x-note: none") && body.is_empty());

    let (head, body) = ask("HEAD", "/head").await;
    assert_eq!(status(&head), 200);
    assert!(
        head.contains("content-length: 1234") && body.is_empty(),
        "{head}"
    );

    let (head, _) = ask("GET", "/missing").await;
    assert_eq!(status(&head), 404);

    // Every answer above came over one connection to the app.
    assert_eq!(connections.load(Ordering::SeqCst) - gate_connections, 1);

    // A body that ends when the app closes: it reaches the client whole, and the client's
    // connection closes after it (nothing else could tell the client where it ends).
    let (head, body) = ask("GET", "/until-close").await;
    assert_eq!(status(&head), 200);
    assert!(head.contains("connection: close"), "{head}");
    assert_eq!(body, b"streamed until the end");
    proxy.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_keep_their_order_across_the_move_to_the_general_path() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = scripted_app().await;
    let (address, proxy) = start(dir.path(), &app).await;
    let mut client = BufReader::new(TcpStream::connect(&address).await.unwrap());
    // Three requests in one write: the first two on the pass-through, the third (a chunked
    // body) moves the connection to the general path, which answers it and the fourth.
    let requests = "GET /echo HTTP/1.1\r\nHost: shop.test\r\nConnection: keep-alive\r\n\
                    X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Host: forged.test\r\n\
                    Keep-Alive: timeout=5\r\n\r\n\
                    POST /echo HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\n\r\nfirst\
                    POST /echo HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n\
                    6\r\nsecond\r\n0\r\n\r\n\
                    GET /echo?last=1 HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n";
    client
        .get_mut()
        .write_all(requests.as_bytes())
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (head, body) = read_answer(&mut client, false).await;
        assert_eq!(status(&head), 200, "{head}");
        seen.push(String::from_utf8(body).unwrap().to_ascii_lowercase());
    }
    assert!(seen[0].starts_with("get /echo http/1.1\r\n"), "{}", seen[0]);
    assert!(seen[1].starts_with("post /echo http/1.1\r\n") && seen[1].ends_with("first"));
    assert!(seen[2].starts_with("post /echo http/1.1\r\n") && seen[2].ends_with("second"));
    assert!(
        seen[3].starts_with("get /echo?last=1 http/1.1\r\n"),
        "{}",
        seen[3]
    );
    // The app sees the same forwarded headers from both paths, and no hop-by-hop ones.
    for (index, app_saw) in seen.iter().enumerate() {
        let client_ip = if index == 0 {
            "203.0.113.7, 127.0.0.1"
        } else {
            "127.0.0.1"
        };
        assert!(
            app_saw.contains(&format!("x-forwarded-for: {client_ip}\r\n")),
            "{app_saw}"
        );
        assert!(app_saw.contains("x-forwarded-proto: http\r\n"), "{app_saw}");
        assert!(
            app_saw.contains("x-forwarded-host: shop.test\r\n"),
            "{app_saw}"
        );
        assert!(
            !app_saw.contains("forged.test") && !app_saw.contains("keep-alive"),
            "{app_saw}"
        );
        assert!(!app_saw.contains("transfer-encoding"), "{app_saw}");
    }
    // The last request asked to close: the proxy closes after answering it.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest)).await;
    assert!(
        matches!(closed, Ok(Ok(0))),
        "the connection stays open: {closed:?}"
    );
    proxy.abort();
}
