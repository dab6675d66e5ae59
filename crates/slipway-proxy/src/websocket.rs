//! WebSockets (any HTTP/1.1 `Upgrade`) through the proxy: the handshake goes to a target of the
//! live release on a connection of its own, and after `101 Switching Protocols` the two sides
//! are joined byte for byte. A tunnel counts as in flight on its target, so a release switch
//! waits for it up to the drain time; then the proxy closes it itself, with a WebSocket close
//! frame (1001, going away) to each side, written between two frames, never inside one.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use http::HeaderMap;
use http::header;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use crate::error_page::Fault;

/// The status of the proxy's own close frame: the server is going away.
pub(crate) const GOING_AWAY: u16 = 1001;
/// How long a tunnel asked to close may go on to reach the end of a frame in each direction.
const FRAME_END_WAIT: Duration = Duration::from_secs(1);

/// Whether a request asks to switch protocols (`Connection: upgrade` and an `Upgrade` header).
pub(crate) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// Where WebSocket frames begin in one direction of a tunnel: fed every byte that passes, it
/// knows whether the next byte starts a frame.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    /// Bytes of a frame header read so far (at most 14).
    header: Vec<u8>,
    /// Payload bytes of the current frame still to pass.
    payload_left: u64,
}

impl Frames {
    /// Takes note of `bytes` passing.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let take = (self.payload_left.min(bytes.len() as u64)) as usize;
                self.payload_left -= take as u64;
                bytes = &bytes[take..];
                continue;
            }
            self.header.push(bytes[0]);
            bytes = &bytes[1..];
            if let Some(payload) = header_complete(&self.header) {
                self.header.clear();
                self.payload_left = payload;
            }
        }
    }

    /// Whether the next byte starts a frame.
    pub(crate) fn at_boundary(&self) -> bool {
        self.header.is_empty() && self.payload_left == 0
    }
}

/// The payload length of a frame whose header is `header`, once the header is complete.
fn header_complete(header: &[u8]) -> Option<u64> {
    if header.len() < 2 {
        return None;
    }
    let masked = header[1] & 0x80 != 0;
    let short = u64::from(header[1] & 0x7f);
    let extended = match short {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let total = 2 + extended + if masked { 4 } else { 0 };
    if header.len() < total {
        return None;
    }
    Some(match extended {
        0 => short,
        _ => header[2..2 + extended]
            .iter()
            .fold(0u64, |n, b| (n << 8) | u64::from(*b)),
    })
}

/// A close frame with `code`: unmasked from the server's side, masked (as RFC 6455 requires of
/// a client) towards the app.
pub(crate) fn close_frame(code: u16, masked: bool) -> Vec<u8> {
    let payload = code.to_be_bytes();
    if !masked {
        return vec![0x88, 0x02, payload[0], payload[1]];
    }
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(slipway_core::time::now_nanos());
    let key = (hasher.finish() as u32).to_be_bytes();
    vec![
        0x88,
        0x82,
        key[0],
        key[1],
        key[2],
        key[3],
        payload[0] ^ key[0],
        payload[1] ^ key[1],
    ]
}

/// The open tunnels of each target, so a switch can close those of the targets it drained.
#[derive(Debug, Default)]
pub(crate) struct Tunnels {
    by_target: Mutex<HashMap<String, Vec<Weak<Notify>>>>,
}

impl Tunnels {
    /// A new tunnel to `target`: the signal that asks it to close.
    pub(crate) fn open(&self, target: &str) -> Arc<Notify> {
        let close = Arc::new(Notify::new());
        let mut by_target = self.by_target.lock().expect("not poisoned");
        let list = by_target.entry(target.to_owned()).or_default();
        list.retain(|t| t.strong_count() > 0);
        list.push(Arc::downgrade(&close));
        close
    }

    /// Asks every open tunnel to `target` to close; how many there were.
    pub(crate) fn close(&self, target: &str) -> usize {
        let list = self
            .by_target
            .lock()
            .expect("not poisoned")
            .remove(target)
            .unwrap_or_default();
        let mut closed = 0;
        for tunnel in list.iter().filter_map(Weak::upgrade) {
            // A permit is kept when the tunnel is not waiting at this moment.
            tunnel.notify_one();
            closed += 1;
        }
        closed
    }
}

/// Joins the client's and the app's upgraded connections until either side ends, or until
/// `close` is signalled: then, at the next frame boundary in both directions (or after
/// [`FRAME_END_WAIT`]), each side gets a close frame and the tunnel ends.
pub(crate) async fn join<C, U>(client: C, upstream: U, close: Arc<Notify>)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    U: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut upstream_read, mut upstream_write) = tokio::io::split(upstream);
    let mut to_upstream = Frames::default();
    let mut to_client = Frames::default();
    let mut from_client = vec![0u8; 16 * 1024];
    let mut from_upstream = vec![0u8; 16 * 1024];
    let mut closing: Option<tokio::time::Instant> = None;
    loop {
        if let Some(since) = closing
            && ((to_upstream.at_boundary() && to_client.at_boundary())
                || since.elapsed() >= FRAME_END_WAIT)
        {
            let _ = client_write
                .write_all(&close_frame(GOING_AWAY, false))
                .await;
            let _ = upstream_write
                .write_all(&close_frame(GOING_AWAY, true))
                .await;
            let _ = client_write.shutdown().await;
            let _ = upstream_write.shutdown().await;
            return;
        }
        let wait_for_frame_end = async {
            match closing {
                Some(since) => tokio::time::sleep_until(since + FRAME_END_WAIT).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = client_read.read(&mut from_client) => match read {
                Ok(0) | Err(_) => {
                    let _ = upstream_write.shutdown().await;
                    return;
                }
                Ok(n) => {
                    if upstream_write.write_all(&from_client[..n]).await.is_err() {
                        return;
                    }
                    to_upstream.feed(&from_client[..n]);
                }
            },
            read = upstream_read.read(&mut from_upstream) => match read {
                Ok(0) | Err(_) => {
                    let _ = client_write.shutdown().await;
                    return;
                }
                Ok(n) => {
                    if client_write.write_all(&from_upstream[..n]).await.is_err() {
                        return;
                    }
                    to_client.feed(&from_upstream[..n]);
                }
            },
            () = close.notified(), if closing.is_none() => {
                closing = Some(tokio::time::Instant::now());
            }
            () = wait_for_frame_end => {}
        }
    }
}

impl crate::Shared {
    /// Passes an upgrade request to a target of the live release and, on `101`, joins the two
    /// connections; any other answer goes back as it came.
    pub(crate) async fn upgrade(
        &self,
        mut request: http::Request<hyper::body::Incoming>,
        remote: std::net::SocketAddr,
        host: Option<String>,
        path: &str,
        https: bool,
        timeout: std::time::Duration,
    ) -> http::Response<crate::ProxyBody> {
        use http_body_util::BodyExt;
        use std::sync::atomic::Ordering;

        let picked = {
            let table = self.table.read().expect("not poisoned");
            table
                .route(host.as_deref(), path)
                .and_then(|(name, service)| {
                    let n = self.requests.fetch_add(1, Ordering::Relaxed);
                    service.pick(n, &[]).map(|(release, target)| {
                        let inflight = crate::InFlight::enter(self.counter(target));
                        (
                            name.to_owned(),
                            release.to_owned(),
                            target.to_owned(),
                            inflight,
                        )
                    })
                })
        };
        let Some((service, release, target, inflight)) = picked else {
            return crate::error_page::response(Fault::NoRelease, request.headers());
        };
        let close = self.tunnels.open(&target);
        let on_client = hyper::upgrade::on(&mut request);
        let (mut parts, _) = request.into_parts();
        // Hop-by-hop headers go, but this request's own upgrade is asked of the app again.
        let upgrade = parts.headers.get(header::UPGRADE).cloned();
        crate::strip_hop_by_hop(&mut parts.headers);
        if let Some(upgrade) = upgrade {
            parts.headers.insert(header::UPGRADE, upgrade);
            parts.headers.insert(
                header::CONNECTION,
                http::HeaderValue::from_static("upgrade"),
            );
        }
        crate::forwarded_headers(&mut parts.headers, remote, host.as_deref(), https);
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/".to_owned(), |p| p.to_string());
        let Ok(uri) = path_and_query.parse::<http::Uri>() else {
            return crate::error_page::response(Fault::BadRequest, &parts.headers);
        };
        parts.uri = uri;
        let accept = parts.headers.get(header::ACCEPT).cloned();
        let metrics = self.metrics_of(&service, &release);
        let started = std::time::Instant::now();
        let answered = tokio::time::timeout(timeout, async {
            let stream = tokio::net::TcpStream::connect(&target)
                .await
                .map_err(|e| e.to_string())?;
            let _ = stream.set_nodelay(true);
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(connection.with_upgrades());
            let upstream =
                http::Request::from_parts(parts, http_body_util::Empty::<bytes::Bytes>::new());
            sender
                .send_request(upstream)
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        let mut response = match answered {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => {
                metrics.record(started.elapsed(), true);
                eprintln!("{service}: {target} refused an upgrade of {path}: {error}");
                return crate::error_page::answer(Fault::Unreachable, accept.as_ref());
            }
            Err(_) => {
                metrics.record(started.elapsed(), true);
                return crate::error_page::answer(Fault::Timeout, accept.as_ref());
            }
        };
        metrics.record(started.elapsed(), response.status().is_server_error());
        if response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
            let (parts, body) = response.into_parts();
            let mut response = http::Response::from_parts(
                parts,
                crate::Tracked {
                    inner: body,
                    _inflight: inflight,
                    // The access log takes the proxy's answer, written by its caller.
                    log: None,
                }
                .boxed(),
            );
            crate::strip_hop_by_hop(response.headers_mut());
            return response;
        }
        let on_upstream = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            // The tunnel is in flight on its target until it ends.
            let _inflight = inflight;
            if let (Ok(client), Ok(upstream)) = (on_client.await, on_upstream.await) {
                join(
                    hyper_util::rt::TokioIo::new(client),
                    hyper_util::rt::TokioIo::new(upstream),
                    close,
                )
                .await;
            }
        });
        let (parts, _) = response.into_parts();
        http::Response::from_parts(
            parts,
            http_body_util::Empty::new()
                .map_err(|never| match never {})
                .boxed(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload_len: usize, masked: bool) -> Vec<u8> {
        let mut out = vec![0x82];
        let mask_bit = if masked { 0x80 } else { 0 };
        match payload_len {
            0..=125 => out.push(mask_bit | payload_len as u8),
            126..=65535 => {
                out.push(mask_bit | 126);
                out.extend((payload_len as u16).to_be_bytes());
            }
            _ => {
                out.push(mask_bit | 127);
                out.extend((payload_len as u64).to_be_bytes());
            }
        }
        if masked {
            out.extend([1, 2, 3, 4]);
        }
        out.extend(std::iter::repeat_n(7u8, payload_len));
        out
    }

    #[test]
    fn frame_boundaries_are_found_whatever_the_chunks() {
        let mut stream = frame(5, true);
        stream.extend(frame(300, false));
        stream.extend(frame(70_000, true));
        stream.extend(frame(0, false));
        for chunk in [1, 2, 3, 7, 100, 4096, stream.len()] {
            let mut frames = Frames::default();
            let mut boundaries = Vec::new();
            let mut at = 0;
            for piece in stream.chunks(chunk) {
                frames.feed(piece);
                at += piece.len();
                if frames.at_boundary() {
                    boundaries.push(at);
                }
            }
            let ends = [11, 11 + 304, 11 + 304 + 70_014, 11 + 304 + 70_014 + 2];
            assert!(frames.at_boundary(), "chunk {chunk}");
            for end in ends {
                if end % chunk == 0 || end == stream.len() {
                    assert!(
                        boundaries.contains(&end),
                        "chunk {chunk}: {end} in {boundaries:?}"
                    );
                }
            }
            assert!(
                boundaries.iter().all(|b| ends.contains(b)),
                "chunk {chunk}: {boundaries:?}"
            );
        }
    }

    #[test]
    fn close_frames_carry_going_away_and_are_masked_towards_the_app() {
        assert_eq!(close_frame(GOING_AWAY, false), [0x88, 0x02, 0x03, 0xE9]);
        let masked = close_frame(GOING_AWAY, true);
        assert_eq!(masked[..2], [0x88, 0x82]);
        let key = &masked[2..6];
        assert_eq!([masked[6] ^ key[0], masked[7] ^ key[1]], [0x03, 0xE9]);
    }

    #[test]
    fn upgrades_are_recognised_by_their_connection_token() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, "websocket".parse().unwrap());
        headers.insert(header::CONNECTION, "keep-alive, Upgrade".parse().unwrap());
        assert!(is_upgrade(&headers));
        headers.insert(header::CONNECTION, "keep-alive".parse().unwrap());
        assert!(!is_upgrade(&headers));
    }

    #[tokio::test]
    async fn a_closed_tunnel_ends_with_a_close_frame_each_way_after_the_frame_in_hand() {
        let (client, mut client_far) = tokio::io::duplex(64 * 1024);
        let (upstream, mut upstream_far) = tokio::io::duplex(64 * 1024);
        let tunnels = Tunnels::default();
        let close = tunnels.open("10.0.0.1:8000");
        let joined = tokio::spawn(join(client, upstream, close));
        // Half a frame from the app reaches the client; then the proxy is asked to close.
        let whole = frame(10, false);
        upstream_far.write_all(&whole[..6]).await.unwrap();
        let mut got = vec![0u8; 6];
        client_far.read_exact(&mut got).await.unwrap();
        assert_eq!(tunnels.close("10.0.0.1:8000"), 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The rest of the frame still passes, and only then the close frame.
        upstream_far.write_all(&whole[6..]).await.unwrap();
        let mut rest = Vec::new();
        client_far.read_to_end(&mut rest).await.unwrap();
        assert_eq!(
            rest,
            [&whole[6..], &close_frame(GOING_AWAY, false)[..]].concat()
        );
        let mut to_app = Vec::new();
        upstream_far.read_to_end(&mut to_app).await.unwrap();
        assert_eq!(to_app[..2], [0x88, 0x82]);
        joined.await.unwrap();
    }
}
