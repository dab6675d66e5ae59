//! The upstream connections of one downstream connection, driven by that connection's own task.
//! A request and its answer then cross no pool, no spawned connection task and no other thread:
//! on a small response the proxy's own share of the latency is mostly those hand-offs.
//! An HTTP/1 downstream connection carries one request at a time, so one upstream connection
//! per target is enough, and it is closed with the downstream one.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use futures_util::task::AtomicWaker;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long connecting to a target may take before another target is tried.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a kept connection may take to be free again before a new one is made instead.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

type Connection = Pin<Box<dyn Future<Output = ()> + Send>>;
/// The body of a request sent to a target: read whole, or streamed (`crate::limits`).
type Outgoing = crate::limits::Outgoing<Incoming>;

#[derive(Default)]
pub(crate) struct Upstreams {
    senders: Mutex<Vec<(String, SendRequest<Outgoing>)>>,
    /// Connections made since the task last looked; it takes them over and drives them.
    fresh: Mutex<Vec<Connection>>,
    /// Each connection runs in a task of its own instead (for HTTP/2 clients, whose requests
    /// do not run in the connection's task).
    spawn: bool,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams").finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub(crate) enum UpstreamError {
    /// No connection to the target: nothing was sent, another target may take the request.
    Connect(String),
    /// Sent, and then the connection failed.
    Failed(hyper::Error),
}

impl UpstreamError {
    pub(crate) fn is_connect(&self) -> bool {
        matches!(self, UpstreamError::Connect(_))
    }
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::Connect(why) => write!(f, "cannot connect: {why}"),
            UpstreamError::Failed(error) => write!(f, "{error}"),
        }
    }
}

impl Upstreams {
    /// Upstream connections that run in tasks of their own.
    pub(crate) fn spawning() -> Upstreams {
        Upstreams {
            spawn: true,
            ..Upstreams::default()
        }
    }

    /// Sends `request` to `target` on this downstream connection's own upstream connection,
    /// made when there is none (or the last one closed).
    pub(crate) async fn send(
        &self,
        target: &str,
        mut request: Request<Outgoing>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let kept = {
            let mut senders = self.senders.lock().expect("not poisoned");
            senders.retain(|(_, sender)| !sender.is_closed());
            senders
                .iter()
                .position(|(t, _)| t == target)
                .map(|index| senders.swap_remove(index))
        };
        // The last answer is through, but its connection may not have said it is free again
        // until this task polls it once more.
        let reusable = match kept {
            Some((name, mut sender)) => {
                match tokio::time::timeout(READY_TIMEOUT, sender.ready()).await {
                    Ok(Ok(())) => Some((name, sender)),
                    _ => None,
                }
            }
            None => None,
        };
        if let Some((name, mut sender)) = reusable {
            match sender.try_send_request(request).await {
                Ok(response) => {
                    // Back in the list under the name it had.
                    self.senders
                        .lock()
                        .expect("not poisoned")
                        .push((name, sender));
                    return Ok(response);
                }
                Err(mut error) => match error.take_message() {
                    // The idle connection closed before taking it: a new one does.
                    Some(unsent) => request = unsent,
                    None => return Err(UpstreamError::Failed(error.into_error())),
                },
            }
        }
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => return Err(UpstreamError::Connect(error.to_string())),
            Err(_) => return Err(UpstreamError::Connect("timed out".into())),
        };
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| UpstreamError::Connect(error.to_string()))?;
        let connection = async move {
            let _ = connection.await;
        };
        if self.spawn {
            tokio::spawn(connection);
        } else {
            self.fresh
                .lock()
                .expect("not poisoned")
                .push(Box::pin(connection));
        }
        let response = sender
            .send_request(request)
            .await
            .map_err(UpstreamError::Failed)?;
        self.keep(target, sender);
        Ok(response)
    }

    fn keep(&self, target: &str, sender: SendRequest<Outgoing>) {
        self.senders
            .lock()
            .expect("not poisoned")
            .push((target.to_owned(), sender));
    }
}

/// Drives `downstream` (the served connection) and the upstream connections its requests make,
/// in this one task, until the downstream connection ends.
pub(crate) async fn drive<F: Future>(downstream: F, upstreams: &Upstreams) {
    let mut downstream = pin!(downstream);
    let mut connections: FuturesUnordered<Connection> = FuturesUnordered::new();
    let waker = Arc::new(LoopWaker::default());
    let inner = Waker::from(waker.clone());
    std::future::poll_fn(|cx| {
        waker.task.register(cx.waker());
        let mut cx = Context::from_waker(&inner);
        loop {
            waker.polling.store(true, Ordering::SeqCst);
            waker.woken.store(false, Ordering::SeqCst);
            if downstream.as_mut().poll(&mut cx).is_ready() {
                return Poll::Ready(());
            }
            let fresh = std::mem::take(&mut *upstreams.fresh.lock().expect("not poisoned"));
            connections.extend(fresh);
            while let Poll::Ready(Some(())) = connections.poll_next_unpin(&mut cx) {}
            waker.polling.store(false, Ordering::SeqCst);
            // One side woke the other (a response arrived, a request was queued) while this
            // pass ran: go round again here rather than through the scheduler.
            if !waker.woken.swap(false, Ordering::SeqCst) {
                return Poll::Pending;
            }
        }
    })
    .await;
}

/// The waker the downstream and upstream sides get: a wake that comes while the task is
/// polling them only asks for one more pass; one from outside (the I/O driver) wakes the task.
#[derive(Default)]
struct LoopWaker {
    task: AtomicWaker,
    polling: AtomicBool,
    woken: AtomicBool,
}

impl Wake for LoopWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if !self.polling.load(Ordering::SeqCst) {
            self.task.wake();
        }
    }
}
