//! The HTTP/1.1 path most requests take: the proxy reads a request's head itself, rewrites it
//! (hop-by-hop headers out, `X-Forwarded-*` in) straight into the bytes sent upstream, and
//! passes the answer back as it comes, its head rewritten the same way and its body untouched.
//! No request or response object is built and nothing crosses a task: on a small response the
//! proxy's own share of the CPU time is then a fraction of what an HTTP library's costs.
//!
//! Anything else goes to the general path (`crate::serve_http1`, hyper) for the rest of the
//! connection, with the bytes read so far: requests the proxy answers itself (no route,
//! maintenance, limits, the HTTPS redirect, ACME challenges), upgrades, `Expect`, chunked or
//! large request bodies, HTTP/1.0, heads this path does not read. What a request meets is
//! the same on either path: routing, retries, draining, limits, metrics, the access log.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use crate::error_page::{self, Fault};
use crate::upstream::CONNECT_TIMEOUT;
use crate::{Pending, Shared, tls};

/// Headers a request may have on this path.
const MAX_HEADERS: usize = 64;
/// The largest head this path reads; a larger one is the general path's (it applies limits).
const HEAD_LIMIT: usize = 16 * 1024;
/// The largest request body this path carries: read whole, so that it can be sent again.
const BODY_LIMIT: u64 = 64 * 1024;
/// Room kept free in a read buffer: a read that fills it whole leaves the socket marked
/// readable, and a kept connection would then look closed.
const READ_ROOM: usize = 8 * 1024;

/// A byte range in a buffer.
type Span = (usize, usize);

/// What a request's head says, as ranges in the buffer it was read into.
#[derive(Debug, Default)]
pub(crate) struct RequestHead {
    /// The head's length, the blank line included.
    pub len: usize,
    pub method: Span,
    /// The request target (path and query).
    pub target: Span,
    /// The path alone.
    pub path: Span,
    pub host: Span,
    pub content_length: u64,
    /// The client asked to close the connection after this exchange.
    pub close: bool,
    /// The first `X-Forwarded-For` value.
    pub forwarded_for: Option<Span>,
    pub accept: Option<Span>,
    /// The end-to-end header lines passed on: name and value.
    pub kept: Vec<(Span, Span)>,
}

/// What reading a head came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parse {
    /// More bytes are needed.
    Partial,
    /// The head is complete.
    Complete,
    /// A request this path does not carry: the general path takes the connection.
    General,
}

fn span(buf: &[u8], part: &[u8]) -> Span {
    let start = part.as_ptr() as usize - buf.as_ptr() as usize;
    (start, start + part.len())
}

fn at(buf: &[u8], (start, end): Span) -> &[u8] {
    &buf[start..end]
}

/// Reads a request head from the start of `buf` into `head`.
pub(crate) fn parse_request(buf: &[u8], head: &mut RequestHead) -> Parse {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() < HEAD_LIMIT => return Parse::Partial,
        _ => return Parse::General,
    };
    let (Some(method), Some(target), Some(1)) = (request.method, request.path, request.version)
    else {
        return Parse::General;
    };
    if !target.starts_with('/') {
        return Parse::General;
    }
    head.len = len;
    head.method = span(buf, method.as_bytes());
    head.target = span(buf, target.as_bytes());
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    head.path = span(buf, path.as_bytes());
    head.content_length = 0;
    head.close = false;
    head.forwarded_for = None;
    head.accept = None;
    head.kept.clear();
    let mut host = None;
    let mut length = None;
    for header in request.headers.iter() {
        let name = header.name;
        let value = header.value;
        let is = |wanted: &str| name.eq_ignore_ascii_case(wanted);
        if is("host") {
            if host.is_some() || std::str::from_utf8(value).is_err() || value.is_empty() {
                return Parse::General;
            }
            host = Some(span(buf, value));
        } else if is("content-length") {
            let Some(declared) = digits(value) else {
                return Parse::General;
            };
            if length.is_some_and(|l| l != declared) {
                return Parse::General;
            }
            length = Some(declared);
        } else if is("connection") {
            for token in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    head.close = true;
                } else if !token.eq_ignore_ascii_case(b"keep-alive") && !token.is_empty() {
                    // It names headers to remove, or asks for an upgrade.
                    return Parse::General;
                }
            }
            continue;
        } else if is("transfer-encoding") || is("upgrade") || is("expect") {
            return Parse::General;
        } else if is("keep-alive") || is("proxy-connection") || is("te") || is("trailer") {
            continue;
        } else if is("x-forwarded-for") {
            if head.forwarded_for.is_none() && std::str::from_utf8(value).is_ok() {
                head.forwarded_for = Some(span(buf, value));
            }
            continue;
        } else if is("x-forwarded-proto") || is("x-forwarded-host") {
            continue;
        } else if is("accept") {
            head.accept = Some(span(buf, value));
        }
        head.kept
            .push((span(buf, name.as_bytes()), span(buf, value)));
    }
    let Some(host) = host else {
        return Parse::General;
    };
    head.host = host;
    head.content_length = length.unwrap_or(0);
    if head.content_length > BODY_LIMIT {
        return Parse::General;
    }
    Parse::Complete
}

/// A decimal length, nothing else.
fn digits(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// The head sent upstream for `head` (read from `buf`): origin form, HTTP/1.1, the
/// end-to-end headers as they came, and `X-Forwarded-For` (appended to), `-Proto`, `-Host`.
pub(crate) fn upstream_head(
    buf: &[u8],
    head: &RequestHead,
    client: std::net::IpAddr,
    https: bool,
    out: &mut Vec<u8>,
) {
    use std::io::Write as _;
    out.extend_from_slice(at(buf, head.method));
    out.push(b' ');
    out.extend_from_slice(at(buf, head.target));
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for &(name, value) in &head.kept {
        out.extend_from_slice(at(buf, name));
        out.extend_from_slice(b": ");
        out.extend_from_slice(at(buf, value));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"x-forwarded-for: ");
    if let Some(earlier) = head.forwarded_for {
        out.extend_from_slice(at(buf, earlier));
        out.extend_from_slice(b", ");
    }
    let _ = write!(out, "{client}");
    out.extend_from_slice(if https {
        b"\r\nx-forwarded-proto: https\r\nx-forwarded-host: "
    } else {
        b"\r\nx-forwarded-proto: http\r\nx-forwarded-host: "
    });
    out.extend_from_slice(at(buf, head.host));
    out.extend_from_slice(b"\r\n\r\n");
}

/// How a response's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (`HEAD`, 1xx, 204, 304).
    Empty,
    /// `Content-Length`.
    Length(u64),
    /// Chunked, passed on as it comes.
    Chunked,
    /// Until the connection closes.
    UntilClose,
}

/// What a response's head says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ResponseHead {
    pub len: usize,
    pub status: u16,
    pub framing: Framing,
    /// The upstream connection cannot take another request after this answer.
    pub close: bool,
}

/// Reads a response head from the start of `buf` and writes the head the client gets to
/// `out`. `Ok(None)`: more bytes are needed; `Err`: not an answer this path passes on.
pub(crate) fn parse_response(
    buf: &[u8],
    head_request: bool,
    hsts: bool,
    close_client: bool,
    out: &mut Vec<u8>,
) -> Result<Option<ResponseHead>, &'static str> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() < HEAD_LIMIT * 4 => return Ok(None),
        Ok(httparse::Status::Partial) => return Err("an answer with a head too large"),
        Err(_) => return Err("an answer that is not HTTP/1"),
    };
    let (Some(version), Some(status)) = (response.version, response.code) else {
        return Err("an answer that is not HTTP/1");
    };
    if status == 101 {
        return Err("a protocol switch nobody asked for");
    }
    let mut close = version == 0;
    let mut length = None;
    let mut chunked = false;
    let mut coded = false;
    // Headers the `Connection` header names are hop-by-hop too.
    let mut named: [&[u8]; 8] = [b""; 8];
    let mut named_count = 0;
    let mut dated = false;
    for header in response.headers.iter() {
        dated |= header.name.eq_ignore_ascii_case("date");
        if header.name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    close &= version != 0;
                } else if !token.is_empty() {
                    if named_count == named.len() {
                        return Err("an answer naming too many hop-by-hop headers");
                    }
                    named[named_count] = token;
                    named_count += 1;
                }
            }
        }
    }
    if version == 0 {
        // An HTTP/1.0 server keeps its connection only when it says so.
        close = !response.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("connection")
                && h.value
                    .split(|b| *b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"keep-alive"))
        }) || close;
    }
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa3(status).as_slice());
    out.push(b' ');
    out.extend_from_slice(response.reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for header in response.headers.iter() {
        let name = header.name;
        let is = |wanted: &str| name.eq_ignore_ascii_case(wanted);
        // Transfer-Encoding is hop-by-hop too, but passes on with the chunks it frames.
        if is("transfer-encoding") {
            coded = true;
            // Chunked when it is the last coding; the chunks pass through as they are.
            chunked = header
                .value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if crate::is_hop_by_hop(name)
            || named[..named_count]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name.as_bytes()))
        {
            continue;
        } else if is("content-length") {
            let Some(declared) = digits(header.value) else {
                return Err("an answer with a bad Content-Length");
            };
            if length.is_some_and(|l| l != declared) {
                return Err("an answer with two Content-Lengths");
            }
            length = Some(declared);
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(header.value);
        out.extend_from_slice(b"\r\n");
    }
    let framing = if head_request || (100..200).contains(&status) || status == 204 || status == 304
    {
        Framing::Empty
    } else if coded {
        if chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else if let Some(length) = length {
        Framing::Length(length)
    } else {
        Framing::UntilClose
    };
    // The length goes back in unless a transfer coding decides the body's end.
    if let (Some(length), false) = (length, coded) {
        use std::io::Write as _;
        let _ = write!(out, "content-length: {length}\r\n");
    }
    if framing == Framing::UntilClose {
        close = true;
    }
    // A proxy adds the date an answer arrived when the app sent none (RFC 9110, 6.6.1).
    if !dated && !(100..200).contains(&status) {
        out.extend_from_slice(b"date: ");
        with_http_date(|date| out.extend_from_slice(date.as_bytes()));
        out.extend_from_slice(b"\r\n");
    }
    if hsts && !(100..200).contains(&status) {
        out.extend_from_slice(b"strict-transport-security: ");
        out.extend_from_slice(tls::HSTS_VALUE.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if (close_client || framing == Framing::UntilClose) && !(100..200).contains(&status) {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(Some(ResponseHead {
        len,
        status,
        framing,
        close,
    }))
}

/// The current time as an HTTP date; each thread formats it once a second.
fn with_http_date<T>(use_it: impl FnOnce(&str) -> T) -> T {
    thread_local! {
        static LAST: std::cell::RefCell<(u64, String)> =
            const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let now = std::time::SystemTime::now();
    let second = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    LAST.with_borrow_mut(|(last, text)| {
        if *last != second {
            *text = httpdate::fmt_http_date(now);
            *last = second;
        }
        use_it(text)
    })
}

fn itoa3(status: u16) -> [u8; 3] {
    [
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ]
}

/// Finds where a chunked body ends in the bytes passed on, without changing them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunks {
    /// In a chunk-size line; the size so far and its digits.
    Size(u64, u8),
    /// In a chunk extension, up to the end of the line.
    Extension(u64),
    /// After the size line's CR.
    SizeEnd(u64),
    /// In a chunk's data; bytes left.
    Data(u64),
    /// After a chunk's data: its CR, then its LF.
    DataCr,
    DataLf,
    /// At the start of a trailer line (or of the blank line that ends the body).
    TrailerStart,
    InTrailer,
    TrailerLf,
    EndLf,
    /// The body has ended.
    Done,
}

impl Chunks {
    pub(crate) fn new() -> Chunks {
        Chunks::Size(0, 0)
    }

    /// Reads `bytes`; answers how many belong to the body (all of them, unless it ends within
    /// them) and how many of those are data, or `Err` for bytes that are not chunked framing.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<(usize, u64), ()> {
        let mut index = 0;
        let mut data = 0;
        while index < bytes.len() {
            let byte = bytes[index];
            *self = match *self {
                Chunks::Size(size, count) => match byte {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' if count < 16 => {
                        let digit = (byte as char).to_digit(16).unwrap_or(0) as u64;
                        Chunks::Size(size * 16 + digit, count + 1)
                    }
                    b';' | b' ' | b'\t' if count > 0 => Chunks::Extension(size),
                    b'\r' if count > 0 => Chunks::SizeEnd(size),
                    _ => return Err(()),
                },
                Chunks::Extension(size) => match byte {
                    b'\r' => Chunks::SizeEnd(size),
                    b'\n' => return Err(()),
                    _ => Chunks::Extension(size),
                },
                Chunks::SizeEnd(size) => match byte {
                    b'\n' if size == 0 => Chunks::TrailerStart,
                    b'\n' => Chunks::Data(size),
                    _ => return Err(()),
                },
                Chunks::Data(left) => {
                    let take = left.min((bytes.len() - index) as u64);
                    index += take as usize;
                    data += take;
                    *self = if take == left {
                        Chunks::DataCr
                    } else {
                        Chunks::Data(left - take)
                    };
                    continue;
                }
                Chunks::DataCr if byte == b'\r' => Chunks::DataLf,
                Chunks::DataLf if byte == b'\n' => Chunks::Size(0, 0),
                Chunks::DataCr | Chunks::DataLf => return Err(()),
                Chunks::TrailerStart => match byte {
                    b'\r' => Chunks::EndLf,
                    _ => Chunks::InTrailer,
                },
                Chunks::InTrailer => match byte {
                    b'\r' => Chunks::TrailerLf,
                    _ => Chunks::InTrailer,
                },
                Chunks::TrailerLf if byte == b'\n' => Chunks::TrailerStart,
                Chunks::EndLf if byte == b'\n' => Chunks::Done,
                Chunks::TrailerLf | Chunks::EndLf => return Err(()),
                Chunks::Done => return Ok((index, data)),
            };
            index += 1;
            if *self == Chunks::Done {
                return Ok((index, data));
            }
        }
        Ok((index, data))
    }
}

/// A connection's bytes read ahead of the general path, then the rest of the connection.
pub(crate) struct Rewind<IO> {
    prefix: Bytes,
    inner: IO,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Rewind<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let take = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..take]);
            self.prefix.advance(take);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Rewind<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A timer kept for a whole connection and armed again only when it fires early: arming a
/// timer for every request costs more than the rest of a small request's handling here.
struct Deadline {
    sleep: Pin<Box<Sleep>>,
    armed: Instant,
}

impl Deadline {
    fn new() -> Deadline {
        let armed = Instant::now() + Duration::from_secs(86_400);
        Deadline {
            sleep: Box::pin(tokio::time::sleep_until(armed.into())),
            armed,
        }
    }

    /// `work`'s output, or `None` when `at` comes first.
    async fn within<F: Future>(&mut self, at: Instant, work: F) -> Option<F::Output> {
        if self.armed > at {
            self.arm(at);
        }
        let mut work = std::pin::pin!(work);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(output) = work.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            while self.sleep.as_mut().poll(cx).is_ready() {
                if Instant::now() >= at {
                    return Poll::Ready(None);
                }
                self.arm(at);
            }
            Poll::Pending
        })
        .await
    }

    fn arm(&mut self, at: Instant) {
        self.armed = at;
        self.sleep.as_mut().reset(at.into());
    }
}

/// A kept connection to a target.
struct Upstream {
    target: String,
    stream: TcpStream,
    buf: BytesMut,
}

impl Upstream {
    /// Whether the target closed the connection (or sent what nobody asked for) while it was
    /// kept: the runtime has seen it readable.
    fn closed_while_kept(&self) -> bool {
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        !self.buf.is_empty() || self.stream.poll_read_ready(&mut cx).is_ready()
    }

    async fn read(&mut self) -> std::io::Result<usize> {
        self.buf.reserve(READ_ROOM);
        self.stream.read_buf(&mut self.buf).await
    }
}

#[derive(Debug)]
enum SendError {
    /// Nothing was sent: another target may take the request.
    Connect(String),
    /// Sent, then the connection failed.
    Failed(String),
    /// No answer within the route's timeout.
    Timeout,
}

/// What became of an exchange.
enum Outcome {
    /// Answered; the connection takes the next request, idle for at most this long.
    Again(Duration),
    /// The connection is done.
    Close,
    /// The general path takes the connection, this request included.
    General,
}

/// One client connection's state between requests.
struct Client<IO> {
    io: IO,
    buf: BytesMut,
    head: RequestHead,
    /// Bytes being assembled for the other side.
    out: Vec<u8>,
    upstreams: Vec<Upstream>,
    idle: Deadline,
    answer: Deadline,
}

/// Serves a client connection (plain, or TLS that chose HTTP/1.1) until it closes, handing it
/// to the general path when a request needs it.
pub(crate) async fn serve<IO>(io: IO, remote: SocketAddr, shared: Arc<Shared>, https: bool)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut client = Client {
        io,
        buf: BytesMut::with_capacity(READ_ROOM),
        head: RequestHead::default(),
        out: Vec::with_capacity(1024),
        upstreams: Vec::new(),
        idle: Deadline::new(),
        answer: Deadline::new(),
    };
    let mut idle_timeout = crate::limits::DEFAULT_IDLE_TIMEOUT;
    loop {
        match next_head(&mut client, idle_timeout).await {
            Parse::Complete => {}
            Parse::Partial => return,
            Parse::General => break,
        }
        match exchange(&shared, &mut client, remote, https).await {
            Outcome::Again(idle) => idle_timeout = idle,
            Outcome::Close => {
                let _ = client.io.shutdown().await;
                return;
            }
            Outcome::General => break,
        }
    }
    let Client { io, buf, .. } = client;
    let io = Rewind {
        prefix: buf.freeze(),
        inner: io,
    };
    crate::serve_http1(io, remote, shared, https).await;
}

/// Reads until `client.buf` starts with a whole head. `Partial`: the connection closed, or
/// stayed idle for `idle_timeout`.
async fn next_head<IO: AsyncRead + Unpin>(
    client: &mut Client<IO>,
    idle_timeout: Duration,
) -> Parse {
    let since = Instant::now();
    loop {
        if !client.buf.is_empty() {
            match parse_request(&client.buf, &mut client.head) {
                Parse::Partial => {}
                decided => return decided,
            }
        }
        client.buf.reserve(READ_ROOM);
        let read = client
            .idle
            .within(since + idle_timeout, client.io.read_buf(&mut client.buf))
            .await;
        match read {
            Some(Ok(n)) if n > 0 => {}
            _ => return Parse::Partial,
        }
    }
}

/// Carries the request at the head of `client.buf` to a target and its answer back.
async fn exchange<IO>(
    shared: &Shared,
    client: &mut Client<IO>,
    remote: SocketAddr,
    https: bool,
) -> Outcome
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let arrived = Instant::now();
    let head = &client.head;
    let buf = &client.buf[..];
    let (Ok(host), Ok(path)) = (
        std::str::from_utf8(at(buf, head.host)),
        std::str::from_utf8(at(buf, head.path)),
    ) else {
        return Outcome::General;
    };
    let method = at(buf, head.method);
    if !https && path.starts_with(tls::ACME_CHALLENGE_PREFIX) {
        return Outcome::General;
    }
    // What the table says, and the first pick, under one look at it.
    let (limits, hsts, first) = {
        let table = shared.table.read().expect("not poisoned");
        if !https && !table.tls.is_empty() {
            let target = std::str::from_utf8(at(buf, head.target)).unwrap_or("/");
            if tls::redirect(&table.tls, Some(host), target).is_some() {
                return Outcome::General;
            }
        }
        let Some((_, service)) = table.route(Some(host), path) else {
            return Outcome::General;
        };
        let limits = service.limits;
        if head.len as u64 > limits.max_header() || head.content_length > limits.max_body() {
            return Outcome::General;
        }
        let hsts = https && tls::hsts(&table.tls, Some(host));
        let Some(picked) = shared.pick_in(&table, Some(host), path, &[]) else {
            return Outcome::General;
        };
        if table.maintenance_of(&picked.service).is_some() {
            return Outcome::General;
        }
        (limits, hsts, picked)
    };
    let mut pending = shared.access_log.as_ref().map(|log| Pending {
        log: log.clone(),
        arrived,
        unix_ms: crate::unix_ms(),
        host: Some(host.to_owned()),
        method: http::Method::from_bytes(method).unwrap_or(http::Method::GET),
        path: path.to_owned(),
        status: 0,
        service: None,
        release: None,
        target: None,
        bytes: 0,
    });
    let head_request = method == b"HEAD";
    let idempotent = crate::idempotent(method);
    let host = host.to_owned();
    let path = path.to_owned();
    let accept = head.accept.map(|a| Bytes::copy_from_slice(at(buf, a)));
    let close_client = head.close;
    let whole = head.len + head.content_length as usize;
    // The body, read whole.
    while client.buf.len() < whole {
        client.buf.reserve(READ_ROOM.max(whole - client.buf.len()));
        let read = client
            .answer
            .within(
                arrived + limits.timeout(),
                client.io.read_buf(&mut client.buf),
            )
            .await;
        match read {
            Some(Ok(n)) if n > 0 => {}
            _ => return Outcome::Close,
        }
    }
    client.out.clear();
    upstream_head(
        &client.buf,
        &client.head,
        remote.ip(),
        https,
        &mut client.out,
    );
    client
        .out
        .extend_from_slice(&client.buf[client.head.len..whole]);
    client.buf.advance(whole);
    let request = std::mem::take(&mut client.out);

    let mut failed: Vec<String> = Vec::new();
    let mut picked = Some(first);
    let mut last_error = None;
    let mut service_name = String::new();
    let mut outcome = None;
    let mut fresh_tried = false;
    for _attempt in 0..3 {
        let pick = match picked.take() {
            Some(pick) => pick,
            None => match shared.pick(Some(&host), &path, &failed) {
                Some(pick) => pick,
                None => break,
            },
        };
        if let Some(pending) = pending.as_mut() {
            pending.service = Some(pick.service.clone());
            pending.release = Some(pick.release.clone());
            pending.target = Some(pick.target.clone());
        }
        let metrics = shared.metrics_of(&pick.service, &pick.release);
        let started = Instant::now();
        match send(client, &pick.target, &request, started + limits.timeout()).await {
            Ok((mut upstream, reused)) => {
                let answered = answer(
                    client,
                    &mut upstream,
                    head_request,
                    hsts,
                    close_client,
                    started + limits.timeout(),
                )
                .await;
                match answered {
                    Answered::Sent {
                        status,
                        bytes,
                        reuse,
                        close,
                    } => {
                        metrics.record(started.elapsed(), status >= 500);
                        if reuse {
                            client.upstreams.push(upstream);
                        }
                        drop(pick.inflight);
                        if let Some(mut pending) = pending.take() {
                            pending.status = status;
                            pending.bytes = bytes;
                        }
                        outcome = Some(if close || close_client {
                            Outcome::Close
                        } else {
                            Outcome::Again(limits.idle_timeout())
                        });
                        break;
                    }
                    Answered::Broken(status) => {
                        // Part of the answer went to the client: the connection cannot carry on.
                        metrics.record(started.elapsed(), true);
                        if let Some(mut pending) = pending.take() {
                            pending.status = status;
                        }
                        return Outcome::Close;
                    }
                    Answered::Nothing(SendError::Timeout) => {
                        metrics.record(started.elapsed(), true);
                        service_name = pick.service;
                        outcome = Some(
                            fault(client, Fault::Timeout, &accept, close_client, &mut pending)
                                .await,
                        );
                        break;
                    }
                    Answered::Nothing(SendError::Failed(_))
                        if reused && idempotent && !fresh_tried =>
                    {
                        // A kept connection the target closed as the request went out: the
                        // same target takes it again on a new connection.
                        fresh_tried = true;
                        picked = Some(pick);
                    }
                    Answered::Nothing(error) => {
                        metrics.record(started.elapsed(), true);
                        last_error = Some(format!("{}: {}", pick.target, describe(&error)));
                        service_name = pick.service;
                        failed.push(pick.target);
                        if !idempotent {
                            break;
                        }
                    }
                }
            }
            Err(error) => {
                metrics.record(started.elapsed(), true);
                last_error = Some(format!("{}: {}", pick.target, describe(&error)));
                let retry = idempotent || matches!(error, SendError::Connect(_));
                service_name = pick.service;
                failed.push(pick.target);
                if !retry {
                    break;
                }
            }
        }
    }
    client.out = request;
    if let Some(outcome) = outcome {
        return outcome;
    }
    let last_error = last_error.as_deref().unwrap_or("no target");
    eprintln!("{service_name}: no target answered {path}: {last_error}");
    fault(
        client,
        Fault::Unreachable,
        &accept,
        close_client,
        &mut pending,
    )
    .await
}

fn describe(error: &SendError) -> String {
    match error {
        SendError::Connect(why) => format!("cannot connect: {why}"),
        SendError::Failed(why) => why.clone(),
        SendError::Timeout => "no answer in time".into(),
    }
}

/// Writes `bytes` to the client and flushes them (a TLS stream holds written bytes back
/// until then): a streamed answer's events reach the client as they come.
async fn write_out<IO: AsyncWrite + Unpin>(io: &mut IO, bytes: &[u8]) -> std::io::Result<()> {
    io.write_all(bytes).await?;
    io.flush().await
}

/// Sends the proxy's own answer for `fault`.
async fn fault<IO: AsyncWrite + Unpin>(
    client: &mut Client<IO>,
    fault: Fault,
    accept: &Option<Bytes>,
    close: bool,
    pending: &mut Option<Pending>,
) -> Outcome {
    let accept = accept.as_deref().and_then(|a| std::str::from_utf8(a).ok());
    let reply = error_page::reply(fault, accept);
    let status = fault.status();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncache-control: no-store\r\ncontent-length: {}\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or(""),
        reply.content_type,
        reply.body.len()
    );
    if close {
        out.push_str("connection: close\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&reply.body);
    if let Some(mut pending) = pending.take() {
        pending.status = status.as_u16();
        pending.bytes = reply.body.len() as u64;
    }
    match write_out(&mut client.io, out.as_bytes()).await {
        Ok(()) if !close => Outcome::Again(crate::limits::DEFAULT_IDLE_TIMEOUT),
        _ => Outcome::Close,
    }
}

/// Sends `request` to `target` on the connection kept for it, or on a new one.
async fn send<IO>(
    client: &mut Client<IO>,
    target: &str,
    request: &[u8],
    deadline: Instant,
) -> Result<(Upstream, bool), SendError> {
    let kept = client
        .upstreams
        .iter()
        .position(|u| u.target == target)
        .map(|index| client.upstreams.swap_remove(index));
    if let Some(mut upstream) = kept
        && !upstream.closed_while_kept()
    {
        let written = client
            .answer
            .within(deadline, upstream.stream.write_all(request))
            .await;
        match written {
            Some(Ok(())) => return Ok((upstream, true)),
            Some(Err(_)) => {} // It closed before taking the request: a new one takes it.
            None => return Err(SendError::Timeout),
        }
    }
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await;
    let stream = match connected {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return Err(SendError::Connect(error.to_string())),
        Err(_) => return Err(SendError::Connect("timed out".into())),
    };
    let _ = stream.set_nodelay(true);
    let mut upstream = Upstream {
        target: target.to_owned(),
        stream,
        buf: BytesMut::with_capacity(READ_ROOM),
    };
    match client
        .answer
        .within(deadline, upstream.stream.write_all(request))
        .await
    {
        Some(Ok(())) => Ok((upstream, false)),
        Some(Err(error)) => Err(SendError::Failed(error.to_string())),
        None => Err(SendError::Timeout),
    }
}

/// What passing an answer back came to.
enum Answered {
    /// The whole answer went to the client.
    Sent {
        status: u16,
        bytes: u64,
        /// The upstream connection can take another request.
        reuse: bool,
        /// The client connection closes now.
        close: bool,
    },
    /// No answer came (nothing went to the client).
    Nothing(SendError),
    /// The answer broke off after part of it went to the client.
    Broken(u16),
}

/// Reads the answer on `upstream` and passes it to the client.
async fn answer<IO: AsyncWrite + Unpin>(
    client: &mut Client<IO>,
    upstream: &mut Upstream,
    head_request: bool,
    hsts: bool,
    close_client: bool,
    deadline: Instant,
) -> Answered {
    loop {
        client.out.clear();
        let parsed = parse_response(
            &upstream.buf,
            head_request,
            hsts,
            close_client,
            &mut client.out,
        );
        let head = match parsed {
            Ok(Some(head)) => head,
            Ok(None) => match client.answer.within(deadline, upstream.read()).await {
                Some(Ok(n)) if n > 0 => continue,
                Some(Ok(_)) => {
                    return Answered::Nothing(SendError::Failed(
                        "the connection closed before an answer".into(),
                    ));
                }
                Some(Err(error)) => return Answered::Nothing(SendError::Failed(error.to_string())),
                None => return Answered::Nothing(SendError::Timeout),
            },
            Err(why) => return Answered::Nothing(SendError::Failed(why.into())),
        };
        upstream.buf.advance(head.len);
        if (100..200).contains(&head.status) {
            // An interim answer (103 Early Hints): passed on, and the final one follows.
            if write_out(&mut client.io, &client.out).await.is_err() {
                return Answered::Broken(head.status);
            }
            continue;
        }
        return pass_body(client, upstream, head).await;
    }
}

/// Sends the response head in `client.out` and the body after it, as the upstream sends it.
async fn pass_body<IO: AsyncWrite + Unpin>(
    client: &mut Client<IO>,
    upstream: &mut Upstream,
    head: ResponseHead,
) -> Answered {
    let status = head.status;
    let mut bytes = 0u64;
    let mut left = match head.framing {
        Framing::Length(length) => length,
        _ => 0,
    };
    let mut chunks = Chunks::new();
    let mut first = true;
    loop {
        // What of the buffer belongs to this body, and whether the body is complete.
        let (take, done) = match head.framing {
            Framing::Empty => (0, true),
            Framing::Length(_) => {
                let take = (upstream.buf.len() as u64).min(left);
                left -= take;
                bytes += take;
                (take as usize, left == 0)
            }
            Framing::Chunked => match chunks.feed(&upstream.buf) {
                Ok((take, data)) => {
                    bytes += data;
                    (take, chunks == Chunks::Done)
                }
                Err(()) => return Answered::Broken(status),
            },
            Framing::UntilClose => {
                bytes += upstream.buf.len() as u64;
                (upstream.buf.len(), false)
            }
        };
        let written = if first {
            client.out.extend_from_slice(&upstream.buf[..take]);
            write_out(&mut client.io, &client.out).await
        } else {
            write_out(&mut client.io, &upstream.buf[..take]).await
        };
        first = false;
        upstream.buf.advance(take);
        if written.is_err() {
            return Answered::Broken(status);
        }
        if done {
            let reuse = !head.close && upstream.buf.is_empty();
            return Answered::Sent {
                status,
                bytes,
                reuse,
                close: false,
            };
        }
        match upstream.read().await {
            Ok(0) if head.framing == Framing::UntilClose => {
                return Answered::Sent {
                    status,
                    bytes,
                    reuse: false,
                    close: true,
                };
            }
            Ok(n) if n > 0 => {}
            _ => return Answered::Broken(status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> (Parse, RequestHead) {
        let mut head = RequestHead::default();
        (parse_request(text.as_bytes(), &mut head), head)
    }

    fn upstream_text(text: &str, https: bool) -> String {
        let (parse, head) = request(text);
        assert_eq!(parse, Parse::Complete);
        let mut out = Vec::new();
        upstream_head(
            text.as_bytes(),
            &head,
            "10.0.0.9".parse().unwrap(),
            https,
            &mut out,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_request_goes_upstream_with_its_own_headers_and_the_forwarded_ones() {
        let sent = upstream_text(
            "GET /api/items?page=2 HTTP/1.1\r\nHost: shop.example\r\nAccept: */*\r\n\
             Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Forwarded-For: 1.2.3.4\r\n\
             X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nCookie: a=b\r\n\r\n",
            false,
        );
        assert_eq!(
            sent,
            "GET /api/items?page=2 HTTP/1.1\r\nHost: shop.example\r\nAccept: */*\r\n\
             Cookie: a=b\r\nx-forwarded-for: 1.2.3.4, 10.0.0.9\r\nx-forwarded-proto: http\r\n\
             x-forwarded-host: shop.example\r\n\r\n"
        );
        let sent = upstream_text(
            "POST /f HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\n",
            true,
        );
        assert_eq!(
            sent,
            "POST /f HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\nx-forwarded-for: 10.0.0.9\r\n\
             x-forwarded-proto: https\r\nx-forwarded-host: a\r\n\r\n"
        );
    }

    #[test]
    fn a_head_names_its_path_length_and_whether_the_client_closes() {
        let text = "DELETE /a/b?x=1 HTTP/1.1\r\nHost: h:8080\r\nContent-Length: 12\r\n\
                    Connection: close\r\n\r\nbody";
        let (parse, head) = request(text);
        assert_eq!(parse, Parse::Complete);
        assert_eq!(at(text.as_bytes(), head.path), b"/a/b");
        assert_eq!(at(text.as_bytes(), head.target), b"/a/b?x=1");
        assert_eq!(at(text.as_bytes(), head.host), b"h:8080");
        assert_eq!(head.content_length, 12);
        assert!(head.close);
        assert_eq!(head.len, text.len() - 4);
        assert_eq!(request("GET / HTTP/1.1\r\nHost: a\r\n").0, Parse::Partial);
    }

    #[test]
    fn requests_this_path_does_not_carry_go_to_the_general_one() {
        for text in [
            "GET / HTTP/1.0\r\nHost: a\r\n\r\n",
            "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: x-secret\r\nX-Secret: 1\r\n\r\n",
            "NOT A REQUEST\r\n\r\n",
        ] {
            assert_eq!(request(text).0, Parse::General, "{text}");
        }
        let huge = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}",
            "x".repeat(HEAD_LIMIT)
        );
        assert_eq!(request(&huge).0, Parse::General);
    }

    fn response(text: &str, head_request: bool, hsts: bool, close: bool) -> (ResponseHead, String) {
        let mut out = Vec::new();
        let head = parse_response(text.as_bytes(), head_request, hsts, close, &mut out)
            .unwrap()
            .unwrap();
        (head, String::from_utf8(out).unwrap())
    }

    #[test]
    fn an_answer_reaches_the_client_without_its_hop_by_hop_headers() {
        let text = "HTTP/1.1 200 OK\r\nDate: Sat, 05 Dec 2026 08:00:00 GMT\r\n\
                    Content-Type: text/plain\r\nConnection: keep-alive, X-Private\r\n\
                    Keep-Alive: timeout=5\r\nX-Private: secret\r\nContent-Length: 5\r\n\r\nhello";
        let (head, out) = response(text, false, true, false);
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nDate: Sat, 05 Dec 2026 08:00:00 GMT\r\nContent-Type: text/plain\r\n\
             content-length: 5\r\n\
             strict-transport-security: max-age=31536000\r\n\r\n"
        );
        assert_eq!(head.framing, Framing::Length(5));
        assert_eq!(head.status, 200);
        assert!(!head.close);
        assert_eq!(head.len, text.find("hello").unwrap());
    }

    #[test]
    fn the_body_s_end_comes_from_its_framing() {
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n";
        let (head, out) = response(chunked, false, false, false);
        assert_eq!(head.framing, Framing::Chunked);
        let (kept, added) = out.split_once("date: ").unwrap();
        assert_eq!(kept, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n");
        // The app sent no Date: the proxy adds when the answer came.
        let date = added.strip_suffix("\r\n\r\n").unwrap();
        let when = httpdate::parse_http_date(date).unwrap();
        let age = std::time::SystemTime::now().duration_since(when).unwrap();
        assert!(age < Duration::from_secs(5), "{date}");
        let (head, _) = response(
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            false,
            false,
            false,
        );
        assert_eq!(head.framing, Framing::Empty);
        let (head, _) = response(
            "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
            true,
            false,
            false,
        );
        assert_eq!(head.framing, Framing::Empty);
        let (head, out) = response("HTTP/1.1 200 OK\r\n\r\n", false, false, false);
        assert_eq!(head.framing, Framing::UntilClose);
        assert!(head.close);
        assert!(out.ends_with("connection: close\r\n\r\n"));
        let (head, _) = response(
            "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
            false,
            false,
            false,
        );
        assert!(
            head.close,
            "an HTTP/1.0 server closes unless it says keep-alive"
        );
        let (head, _) = response(
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n",
            false,
            false,
            false,
        );
        assert!(!head.close);
        let dated = "HTTP/1.1 204 No Content\r\ndate: Sat, 05 Dec 2026 08:00:00 GMT\r\n\r\n";
        let (_, out) = response(dated, false, false, true);
        assert_eq!(
            out,
            "HTTP/1.1 204 No Content\r\ndate: Sat, 05 Dec 2026 08:00:00 GMT\r\nconnection: close\r\n\r\n"
        );
        let mut out = Vec::new();
        assert!(
            parse_response(
                b"HTTP/1.1 101 Switching\r\n\r\n",
                false,
                false,
                false,
                &mut out
            )
            .is_err()
        );
        assert!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                false,
                false,
                false,
                &mut out
            )
            .is_err()
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\n", false, false, false, &mut out),
            Ok(None)
        );
    }

    #[test]
    fn a_chunked_body_ends_after_its_last_chunk_and_trailers_in_any_split() {
        let body = b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
        let end = body.len() - "NEXT".len();
        for split in 0..body.len() {
            let mut chunks = Chunks::new();
            let (first, data1) = chunks.feed(&body[..split]).unwrap();
            assert_eq!(first, split.min(end), "split at {split}");
            let (second, data2) = chunks.feed(&body[first..]).unwrap();
            assert_eq!(chunks, Chunks::Done, "split at {split}");
            assert_eq!(first + second, end, "split at {split}");
            assert_eq!(data1 + data2, 21);
        }
        let mut chunks = Chunks::new();
        assert_eq!(chunks.feed(b"0\r\n\r\n"), Ok((5, 0)));
        assert_eq!(chunks, Chunks::Done);
        for bad in [
            &b"x\r\n"[..],
            b"5\r\nhelloXX",
            b"\r\n",
            b"11111111111111111\r\n",
        ] {
            assert!(Chunks::new().feed(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_rewound_connection_reads_what_was_read_ahead_first() {
        let (mut near, far) = tokio::io::duplex(64);
        let mut rewound = Rewind {
            prefix: Bytes::from_static(b"GET / "),
            inner: far,
        };
        near.write_all(b"HTTP/1.1\r\n").await.unwrap();
        drop(near);
        let mut all = String::new();
        rewound.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "GET / HTTP/1.1\r\n");
    }
}
