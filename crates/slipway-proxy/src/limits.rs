//! A route's limits: the largest request body and head it takes, how long its app may take to
//! start answering, how long a client's connection may stay idle between requests. The
//! decisions are pure functions; the request path calls them with what it has read.
//!
//! Bodies up to [`RETRY_BODY_LIMIT`] are read whole before they are sent, so a request can be
//! sent again to another target. A larger one (within `max_body`) is streamed to one target: a
//! body whose length is known is refused at once when it is too large; a chunked one is cut as
//! it passes the limit, before the bytes that pass it are sent.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Uri};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use serde::{Deserialize, Serialize};
use slipway_core::manifest::Route;

use crate::error_page::Fault;

/// Bodies up to this size are read whole and may be sent to a second target when the first
/// fails; larger ones are streamed to one target without a second try.
pub const RETRY_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// `max_body` when a route does not say: 100 MiB.
pub const DEFAULT_MAX_BODY: u64 = 100 * 1024 * 1024;
/// `max_header` when a route does not say: 32 KiB.
pub const DEFAULT_MAX_HEADER: u64 = 32 * 1024;
/// `timeout` when a route does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// `idle_timeout` when a route does not say, and for a connection before its first request.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// The range of `max_header` a route may have (slipway.toml's validation refuses the rest).
pub const MAX_HEADER_RANGE: std::ops::RangeInclusive<u64> =
    Route::MAX_HEADER_MIN..=Route::MAX_HEADER_MAX;

/// What one route allows; each limit left out takes its default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The largest request body in bytes (default [`DEFAULT_MAX_BODY`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body: Option<u64>,
    /// The largest request line and headers in bytes (default [`DEFAULT_MAX_HEADER`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_header: Option<u64>,
    /// Milliseconds the app may take to start answering (default [`DEFAULT_TIMEOUT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Milliseconds a client's connection may stay idle (default [`DEFAULT_IDLE_TIMEOUT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_ms: Option<u64>,
}

impl Limits {
    /// Whether every limit is the default one (nothing to write in the table).
    pub fn is_default(&self) -> bool {
        *self == Limits::default()
    }

    /// The largest request body in bytes.
    pub fn max_body(&self) -> u64 {
        self.max_body.unwrap_or(DEFAULT_MAX_BODY)
    }

    /// The largest request line and headers in bytes.
    pub fn max_header(&self) -> u64 {
        self.max_header.unwrap_or(DEFAULT_MAX_HEADER)
    }

    /// How long the app may take to start answering.
    pub fn timeout(&self) -> Duration {
        self.timeout_ms
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
    }

    /// How long a client's connection may stay idle between requests.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout_ms
            .map_or(DEFAULT_IDLE_TIMEOUT, Duration::from_millis)
    }

    /// Why the proxy cannot apply these limits, when it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.max_body == Some(0) {
            return Some("max_body must be above 0".into());
        }
        if let Some(size) = self.max_header
            && !MAX_HEADER_RANGE.contains(&size)
        {
            return Some(format!(
                "max_header must be from {} to {} bytes",
                MAX_HEADER_RANGE.start(),
                MAX_HEADER_RANGE.end()
            ));
        }
        if self.timeout_ms == Some(0) || self.idle_timeout_ms == Some(0) {
            return Some("timeouts must be above 0".into());
        }
        None
    }
}

/// The size of a request's head as sent over HTTP/1.1: its request line and each header line.
pub fn head_size(method: &Method, uri: &Uri, headers: &HeaderMap) -> u64 {
    // "METHOD target HTTP/1.1\r\n" and the blank line that ends the head.
    let target = uri.path_and_query().map_or(1, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    let mut size = method.as_str().len() + target + 14;
    for (name, value) in headers {
        // "name: value\r\n"
        size += name.as_str().len() + value.len() + 4;
    }
    size as u64
}

/// What a request's head already decides: a head larger than the route's `max_header`, or a
/// declared body length above its `max_body`.
pub fn check_head(
    limits: &Limits,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    content_length: Option<u64>,
) -> Option<Fault> {
    let max_header = limits.max_header();
    if head_size(method, uri, headers) > max_header {
        return Some(Fault::HeaderTooLarge(max_header));
    }
    let max_body = limits.max_body();
    match content_length {
        Some(length) if length > max_body => Some(Fault::BodyTooLarge(max_body)),
        _ => None,
    }
}

/// The largest head a connection reads before the HTTP layer refuses it on its own (431
/// without the proxy's page): twice the largest route's `max_header`, so that heads up to
/// that are refused by their route's own check, with the page.
pub fn connection_head_limit<'a>(routes: impl IntoIterator<Item = &'a Limits>) -> usize {
    let largest = routes
        .into_iter()
        .map(Limits::max_header)
        .fold(DEFAULT_MAX_HEADER, u64::max);
    (largest.min(*MAX_HEADER_RANGE.end()) * 2) as usize
}

/// The shortest idle timeout of any route (the default when none is shorter): how often a
/// connection's idle watch looks at it at least, so that it sees in time a shorter timeout
/// that a request for another route gives it.
pub fn shortest_idle_timeout<'a>(routes: impl IntoIterator<Item = &'a Limits>) -> Duration {
    routes
        .into_iter()
        .map(Limits::idle_timeout)
        .fold(DEFAULT_IDLE_TIMEOUT, Duration::min)
}

/// What every new client connection takes from the routing table, kept up to date by each
/// change of the table.
#[derive(Debug)]
pub(crate) struct Connections {
    head_limit: AtomicUsize,
    shortest_idle_ms: AtomicU64,
}

impl Connections {
    pub(crate) fn new<'a>(routes: impl IntoIterator<Item = &'a Limits> + Clone) -> Connections {
        let connections = Connections {
            head_limit: AtomicUsize::new(0),
            shortest_idle_ms: AtomicU64::new(0),
        };
        connections.update(routes);
        connections
    }

    /// Takes the limits of a new table's routes.
    pub(crate) fn update<'a>(&self, routes: impl IntoIterator<Item = &'a Limits> + Clone) {
        self.head_limit
            .store(connection_head_limit(routes.clone()), Ordering::Relaxed);
        let shortest = shortest_idle_timeout(routes).as_millis() as u64;
        self.shortest_idle_ms.store(shortest, Ordering::Relaxed);
    }

    /// The largest head a new connection reads.
    pub(crate) fn head_limit(&self) -> usize {
        self.head_limit.load(Ordering::Relaxed)
    }

    /// The idle watch of a connection accepted now.
    pub(crate) fn watch(&self) -> IdleWatch {
        let shortest = self.shortest_idle_ms.load(Ordering::Relaxed);
        IdleWatch {
            accepted: Instant::now(),
            busy: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
            idle_ms: AtomicU64::new(DEFAULT_IDLE_TIMEOUT.as_millis() as u64),
            shortest_ms: shortest,
        }
    }
}

/// hyper's own read buffer limit; a connection's head limit above it needs a larger buffer.
const HYPER_DEFAULT_BUFFER: usize = 8192 + 4096 * 100;

/// The HTTP/1 settings of a client connection whose heads may be up to `head_limit` bytes.
pub(crate) fn http1(head_limit: usize) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_header_size(head_limit);
    if head_limit > HYPER_DEFAULT_BUFFER {
        builder.max_buf_size(head_limit);
    }
    builder
}

/// What reading a request body before sending it came to.
#[derive(Debug)]
pub(crate) enum ReadBody<B> {
    /// The whole body, which can be sent again.
    Whole(Bytes),
    /// Larger than [`RETRY_BODY_LIMIT`], within `max_body`: streamed to one target.
    Streamed(Box<Streamed<B>>),
    /// Larger than `max_body`; nothing of it was sent. The rest of it, to [`drain`].
    TooLarge(B),
    /// The client's body broke off or was malformed.
    Failed,
}

/// Reads a request body whose route takes at most `max_body` bytes: whole when it fits in
/// [`RETRY_BODY_LIMIT`], as a stream that stops at `max_body` when it does not.
pub(crate) async fn read_body<B>(mut body: B, max_body: u64) -> ReadBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    if body.is_end_stream() {
        return ReadBody::Whole(Bytes::new());
    }
    let declared = body.size_hint().exact();
    if let Some(length) = declared {
        if length > max_body {
            return ReadBody::TooLarge(body);
        }
        if length > RETRY_BODY_LIMIT as u64 {
            return ReadBody::Streamed(Box::new(Streamed::new(None, body, max_body)));
        }
    }
    let buffered_at_most = max_body.min(RETRY_BODY_LIMIT as u64);
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut read = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return ReadBody::Failed;
        };
        // Trailers are not passed on.
        let Ok(data) = frame.into_data() else {
            continue;
        };
        read += data.len() as u64;
        if read > buffered_at_most {
            if read > max_body {
                return ReadBody::TooLarge(body);
            }
            let mut prefix = joined.unwrap_or_default();
            if let Some(first) = first {
                prefix.extend_from_slice(&first);
            }
            prefix.extend_from_slice(&data);
            return ReadBody::Streamed(Box::new(Streamed::new(
                Some(prefix.freeze()),
                body,
                max_body - read,
            )));
        }
        match (&mut first, &mut joined) {
            (None, None) => first = Some(data),
            (Some(_), None) => {
                // A declared length is within the retry limit here: room for all of it at once.
                let first = first.take().expect("just matched");
                let room = declared.map_or(0, |length| length as usize);
                let mut buffer = BytesMut::with_capacity(room.max(first.len() + data.len()));
                buffer.extend_from_slice(&first);
                buffer.extend_from_slice(&data);
                joined = Some(buffer);
            }
            (_, Some(buffer)) => buffer.extend_from_slice(&data),
        }
    }
    ReadBody::Whole(match joined {
        Some(buffer) => buffer.freeze(),
        None => first.unwrap_or_default(),
    })
}

/// The most of a refused body [`drain`] reads, and how long it waits for it.
const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Whether a request waits for `100 Continue` before it sends its body.
pub(crate) fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Reads and drops what is left of a refused request's body (at most 16 MiB, for at most
/// 5 s) before the refusal is sent. A client still sending its body when the connection
/// closes would get a reset instead of the answer; one that has sent it all reads the answer,
/// and its connection can carry its next request.
pub(crate) async fn drain<B>(mut body: B)
where
    B: Body<Data = Bytes> + Unpin,
{
    if body.is_end_stream()
        || body
            .size_hint()
            .exact()
            .is_some_and(|left| left > DRAIN_LIMIT)
    {
        return;
    }
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut drained = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            drained += frame.data_ref().map_or(0, |d| d.len() as u64);
            if drained > DRAIN_LIMIT {
                return;
            }
        }
    })
    .await;
}

/// When a streamed body last moved, and whether it went past its route's `max_body`.
#[derive(Debug)]
pub(crate) struct Progress {
    started: Instant,
    last_ms: AtomicU64,
    over_limit: AtomicBool,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
            over_limit: AtomicBool::new(false),
        }
    }

    fn moved(&self) {
        self.last_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn last_moved(&self) -> Instant {
        later(
            self.started,
            Duration::from_millis(self.last_ms.load(Ordering::Relaxed)),
        )
    }

    /// Whether the body was cut for going past `max_body`.
    pub(crate) fn over_limit(&self) -> bool {
        self.over_limit.load(Ordering::Relaxed)
    }
}

/// A request body streamed to the app: what was read before it was known to be large, then
/// the rest as the client sends it, cut with an error before the first byte past `max_body`.
#[derive(Debug)]
pub(crate) struct Streamed<B> {
    prefix: Option<Bytes>,
    /// The client's body; handed to a drain once it goes past the limit.
    inner: Option<B>,
    /// Bytes of `inner` still allowed.
    left: u64,
    progress: Arc<Progress>,
}

impl<B> Streamed<B> {
    fn new(prefix: Option<Bytes>, inner: B, left: u64) -> Streamed<B> {
        let progress = Arc::new(Progress::new());
        progress.moved();
        Streamed {
            prefix,
            inner: Some(inner),
            left,
            progress,
        }
    }

    /// How the body is getting on, for the request that sends it.
    pub(crate) fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }
}

/// Why a streamed request body stopped.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// It went past the route's `max_body`.
    TooLarge,
    /// The client's side broke off.
    Client(Box<dyn StdError + Send + Sync>),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge => f.write_str("the request body is larger than the route allows"),
            BodyError::Client(error) => write!(f, "the client's request body broke off: {error}"),
        }
    }
}

impl StdError for BodyError {}

impl<B> Body for Streamed<B>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if let Some(prefix) = self.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(Some(Err(BodyError::TooLarge)));
        };
        let polled = Pin::new(inner).poll_frame(cx);
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                let length = frame.data_ref().map_or(0, |d| d.len() as u64);
                if length > self.left {
                    self.progress.over_limit.store(true, Ordering::Relaxed);
                    // What the client still sends is read and dropped (as for a refusal
                    // decided from the head): a client still writing when the connection
                    // closed would get a reset instead of the 413.
                    if let Some(rest) = self.inner.take() {
                        tokio::spawn(drain(rest));
                    }
                    return Poll::Ready(Some(Err(BodyError::TooLarge)));
                }
                self.left -= length;
                self.progress.moved();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                Poll::Ready(Some(Err(BodyError::Client(error.into()))))
            }
            Poll::Ready(None) => {
                self.progress.moved();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let prefix = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        let inner = self
            .inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint);
        match inner.exact() {
            Some(exact) => SizeHint::with_exact(prefix + exact),
            None => {
                let mut hint = SizeHint::new();
                hint.set_lower(prefix + inner.lower());
                hint
            }
        }
    }
}

/// The body of a request sent to an app: a whole one (sent again on a retry) or a stream.
#[derive(Debug)]
pub(crate) enum Outgoing<B> {
    /// A body read whole; `None` when empty.
    Whole(Option<Bytes>),
    /// A body streamed as the client sends it.
    Streamed(Box<Streamed<B>>),
}

impl<B> Outgoing<B> {
    /// A body read whole.
    pub(crate) fn whole(bytes: Bytes) -> Outgoing<B> {
        Outgoing::Whole((!bytes.is_empty()).then_some(bytes))
    }
}

impl<B> Body for Outgoing<B>
where
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            Outgoing::Whole(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Outgoing::Streamed(streamed) => Pin::new(streamed.as_mut()).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Outgoing::Whole(bytes) => bytes.is_none(),
            Outgoing::Streamed(streamed) => streamed.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Outgoing::Whole(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Outgoing::Streamed(streamed) => streamed.size_hint(),
        }
    }
}

/// Waits for `answer` for at most `timeout`. With a streamed body the time counts from the
/// last bytes the client sent: an app cannot be late with an answer to a body still arriving.
pub(crate) async fn within<F: Future>(
    timeout: Duration,
    progress: Option<&Progress>,
    answer: F,
) -> Option<F::Output> {
    let Some(progress) = progress else {
        return tokio::time::timeout(timeout, answer).await.ok();
    };
    let mut answer = pin!(answer);
    loop {
        let deadline = later(progress.last_moved(), timeout);
        match tokio::time::timeout_at(deadline.into(), answer.as_mut()).await {
            Ok(output) => return Some(output),
            Err(_) if later(progress.last_moved(), timeout) > Instant::now() => continue,
            Err(_) => return None,
        }
    }
}

/// `instant + duration`, or a year from now for a duration too long to add.
fn later(instant: Instant, duration: Duration) -> Instant {
    instant
        .checked_add(duration)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 86_400))
}

/// What the idle watch of a connection does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idle {
    /// The connection has been idle for its whole idle timeout: close it.
    Close,
    /// Look again this many milliseconds after the connection was accepted.
    LookAt(u64),
}

/// Whether a connection is to be closed: never while a request is in hand; otherwise once
/// `idle_ms` have passed since its last answer (or since it was accepted).
pub(crate) fn idle(busy: bool, last_ms: u64, idle_ms: u64, now_ms: u64) -> Idle {
    if busy {
        return Idle::LookAt(now_ms.saturating_add(idle_ms));
    }
    let due = last_ms.saturating_add(idle_ms);
    if now_ms >= due {
        Idle::Close
    } else {
        Idle::LookAt(due)
    }
}

/// A client connection's requests in hand, when it last answered, and the idle timeout of
/// the route it last asked for.
#[derive(Debug)]
pub(crate) struct IdleWatch {
    accepted: Instant,
    busy: AtomicUsize,
    last_ms: AtomicU64,
    idle_ms: AtomicU64,
    /// The longest the watch sleeps: the shortest idle timeout any request may give.
    shortest_ms: u64,
}

impl IdleWatch {
    /// A request arrived; it is in hand until the guard is dropped (its answer is given).
    pub(crate) fn enter(&self) -> Busy<'_> {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(self)
    }

    /// The connection's idle timeout from now on: that of the route of its latest request.
    pub(crate) fn set_idle_timeout(&self, timeout: Duration) {
        self.idle_ms
            .store(timeout.as_millis() as u64, Ordering::Relaxed);
    }

    fn look(&self) -> Idle {
        let now_ms = self.accepted.elapsed().as_millis() as u64;
        let busy = self.busy.load(Ordering::Acquire) > 0;
        idle(
            busy,
            self.last_ms.load(Ordering::Relaxed),
            self.idle_ms.load(Ordering::Relaxed),
            now_ms,
        )
    }
}

/// A request in hand on a connection.
#[derive(Debug)]
pub(crate) struct Busy<'w>(&'w IdleWatch);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let watch = self.0;
        watch.last_ms.store(
            watch.accepted.elapsed().as_millis() as u64,
            Ordering::Relaxed,
        );
        watch.busy.fetch_sub(1, Ordering::Release);
    }
}

/// Serves `connection` until it ends, and shuts it down gracefully (`shutdown`) once it has
/// been idle for its idle timeout: an idle connection closes at once, one in the middle of an
/// exchange finishes it first.
pub(crate) async fn close_when_idle<C: Future>(
    connection: C,
    watch: &IdleWatch,
    shutdown: impl FnOnce(Pin<&mut C>),
) -> C::Output {
    let mut connection = pin!(connection);
    let mut look_at = watch.shortest_ms;
    loop {
        let at = later(watch.accepted, Duration::from_millis(look_at));
        tokio::select! {
            biased;
            output = connection.as_mut() => return output,
            () = tokio::time::sleep_until(at.into()) => {}
        }
        match watch.look() {
            // A request may give the connection a shorter timeout meanwhile: the watch looks
            // again within the shortest one any route has.
            Idle::LookAt(next) => {
                let now_ms = watch.accepted.elapsed().as_millis() as u64;
                look_at = next.min(now_ms.saturating_add(watch.shortest_ms));
            }
            Idle::Close => break,
        }
    }
    shutdown(connection.as_mut());
    connection.await
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;
    use http_body_util::{BodyExt, Full, StreamBody};
    use std::convert::Infallible;

    fn limits(max_body: u64, max_header: u64) -> Limits {
        Limits {
            max_body: Some(max_body),
            max_header: Some(max_header),
            ..Limits::default()
        }
    }

    #[test]
    fn defaults_apply_to_what_a_route_leaves_out() {
        let none = Limits::default();
        assert_eq!(none.max_body(), 100 * 1024 * 1024);
        assert_eq!(none.max_header(), 32 * 1024);
        assert_eq!(none.timeout(), Duration::from_secs(60));
        assert_eq!(none.idle_timeout(), Duration::from_secs(75));
        assert!(none.is_default());
        let some = Limits {
            timeout_ms: Some(1500),
            ..Limits::default()
        };
        assert_eq!(some.timeout(), Duration::from_millis(1500));
        assert_eq!(some.max_body(), DEFAULT_MAX_BODY);
        assert!(!some.is_default());
    }

    #[test]
    fn a_table_written_before_limits_reads_with_the_defaults() {
        let limits: Limits = serde_json::from_str("{}").unwrap();
        assert!(limits.is_default());
        assert_eq!(serde_json::to_string(&limits).unwrap(), "{}");
    }

    #[test]
    fn limits_the_proxy_cannot_apply_are_named() {
        assert!(Limits::default().problem().is_none());
        assert!(limits(0, 32 * 1024).problem().unwrap().contains("max_body"));
        assert!(limits(1, 100).problem().unwrap().contains("max_header"));
        let zero = Limits {
            idle_timeout_ms: Some(0),
            ..Limits::default()
        };
        assert!(zero.problem().unwrap().contains("timeouts"));
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn the_head_is_measured_as_sent_on_the_wire() {
        let uri: Uri = "/a?b=c".parse().unwrap();
        let wire = "GET /a?b=c HTTP/1.1\r\nhost: shop.test\r\ncookie: x=1\r\n\r\n";
        let map = headers(&[("host", "shop.test"), ("cookie", "x=1")]);
        assert_eq!(head_size(&Method::GET, &uri, &map), wire.len() as u64);
    }

    #[test]
    fn the_head_and_the_declared_length_are_checked_against_the_route() {
        let uri: Uri = "/upload".parse().unwrap();
        let small = headers(&[("host", "shop.test")]);
        let route = limits(1024 * 1024, 1024);
        assert_eq!(
            check_head(&route, &Method::POST, &uri, &small, Some(1024 * 1024)),
            None
        );
        assert_eq!(
            check_head(&route, &Method::POST, &uri, &small, Some(2 * 1024 * 1024)),
            Some(Fault::BodyTooLarge(1024 * 1024))
        );
        assert_eq!(check_head(&route, &Method::POST, &uri, &small, None), None);
        let cookie = "x".repeat(2000);
        let large = headers(&[("host", "shop.test"), ("cookie", &cookie)]);
        assert_eq!(
            check_head(&route, &Method::GET, &uri, &large, None),
            Some(Fault::HeaderTooLarge(1024))
        );
        assert_eq!(
            check_head(&limits(1, 4096), &Method::GET, &uri, &large, None),
            None
        );
    }

    #[test]
    fn a_connection_is_looked_at_within_the_shortest_idle_timeout_of_any_route() {
        let short = Limits {
            idle_timeout_ms: Some(5_000),
            ..Limits::default()
        };
        let long = Limits {
            idle_timeout_ms: Some(600_000),
            ..Limits::default()
        };
        assert_eq!(shortest_idle_timeout([]), DEFAULT_IDLE_TIMEOUT);
        assert_eq!(shortest_idle_timeout([&long]), DEFAULT_IDLE_TIMEOUT);
        assert_eq!(
            shortest_idle_timeout([&long, &short]),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn a_connection_reads_heads_up_to_twice_the_largest_route_limit() {
        assert_eq!(connection_head_limit([]), 64 * 1024);
        let small = limits(1, 4 * 1024);
        let large = limits(1, 256 * 1024);
        assert_eq!(connection_head_limit([&small]), 64 * 1024);
        assert_eq!(connection_head_limit([&small, &large]), 512 * 1024);
    }

    fn chunked(
        chunks: Vec<Vec<u8>>,
    ) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>>> {
        StreamBody::new(stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, Infallible>(Frame::data(Bytes::from(c)))),
        ))
    }

    #[tokio::test]
    async fn a_small_body_is_read_whole_and_a_declared_large_one_is_refused_unread() {
        match read_body(Full::new(Bytes::from_static(b"hello")), 1024).await {
            ReadBody::Whole(bytes) => assert_eq!(&bytes[..], b"hello"),
            other => panic!("{other:?}"),
        }
        match read_body(chunked(vec![b"ab".to_vec(), b"cd".to_vec()]), 1024).await {
            ReadBody::Whole(bytes) => assert_eq!(&bytes[..], b"abcd"),
            _ => panic!("expected the whole body"),
        }
        let declared = Full::new(Bytes::from(vec![0u8; 2048]));
        assert!(matches!(
            read_body(declared, 1024).await,
            ReadBody::TooLarge(_)
        ));
    }

    #[tokio::test]
    async fn a_chunked_body_past_the_limit_is_refused() {
        let body = chunked(vec![vec![1; 600], vec![2; 600]]);
        assert!(matches!(read_body(body, 1024).await, ReadBody::TooLarge(_)));
    }

    #[tokio::test]
    async fn a_body_above_the_retry_limit_streams_whole_when_the_route_allows_it() {
        let chunk = vec![7u8; 1024 * 1024];
        let body = chunked(vec![chunk.clone(); 10]);
        let ReadBody::Streamed(streamed) = read_body(body, 64 * 1024 * 1024).await else {
            panic!("expected a stream");
        };
        let progress = streamed.progress();
        let sent = Outgoing::Streamed(streamed)
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(sent.len(), 10 * 1024 * 1024);
        assert!(sent.iter().all(|b| *b == 7));
        assert!(!progress.over_limit());
    }

    #[tokio::test]
    async fn a_streamed_body_is_cut_before_the_first_byte_past_the_limit() {
        let chunk = vec![7u8; 1024 * 1024];
        let body = chunked(vec![chunk; 12]);
        let ReadBody::Streamed(streamed) = read_body(body, 10 * 1024 * 1024).await else {
            panic!("expected a stream");
        };
        let progress = streamed.progress();
        let mut outgoing = Outgoing::Streamed(streamed);
        let mut sent = 0;
        let mut error = None;
        while let Some(frame) = outgoing.frame().await {
            match frame {
                Ok(frame) => sent += frame.into_data().unwrap().len(),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        assert!(matches!(error, Some(BodyError::TooLarge)));
        assert_eq!(sent, 10 * 1024 * 1024);
        assert!(progress.over_limit());
    }

    #[test]
    fn an_idle_connection_closes_after_its_timeout_and_a_busy_one_never() {
        assert_eq!(idle(false, 1_000, 5_000, 3_000), Idle::LookAt(6_000));
        assert_eq!(idle(false, 1_000, 5_000, 6_000), Idle::Close);
        assert_eq!(idle(true, 1_000, 5_000, 60_000), Idle::LookAt(65_000));
        assert_eq!(idle(false, 0, u64::MAX, 60_000), Idle::LookAt(u64::MAX));
    }
}
