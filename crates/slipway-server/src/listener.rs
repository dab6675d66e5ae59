//! The server's listening socket, with a cap on the connections served at once. Without one,
//! anyone who can reach the port may hold connections open until the process runs out of file
//! descriptors, and then nothing the server does that needs one (opening the run history,
//! starting a step, reading the OS random source) works. Past the cap, new connections wait in
//! the kernel's backlog until a served one closes.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A TCP listener that hands out at most `cap` connections at a time.
#[derive(Debug)]
pub(crate) struct CappedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
}

/// Connections the kernel holds for us while all slots are taken (it caps this at
/// `net.core.somaxconn`); past it, clients' connection attempts time out.
const BACKLOG: u32 = 1024;

impl CappedListener {
    pub(crate) fn bind(address: SocketAddr, cap: usize) -> io::Result<CappedListener> {
        let socket = if address.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(address)?;
        Ok(CappedListener {
            inner: socket.listen(BACKLOG)?,
            slots: Arc::new(Semaphore::new(cap.max(1))),
        })
    }
}

/// A served connection; its slot is given back when it closes.
#[derive(Debug)]
pub(crate) struct CappedStream {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for CappedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CappedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

impl Listener for CappedListener {
    type Io = CappedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (CappedStream, SocketAddr) {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        loop {
            match self.inner.accept().await {
                Ok((stream, address)) => {
                    return (
                        CappedStream {
                            stream,
                            _slot: slot,
                        },
                        address,
                    );
                }
                // The peer gave up before we took it: take the next one.
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                    ) => {}
                // Out of descriptors (other work of the process holds them): wait rather than
                // spin, and keep the slot.
                Err(error) => {
                    eprintln!("accepting a connection: {error}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Descriptors the server needs besides its connections: the run history, steps' pipes, git.
const OTHER_DESCRIPTORS: u64 = 64;

/// A warning when a process allowed `open_files` descriptors cannot serve `cap` connections and
/// still do its other work.
pub(crate) fn descriptor_warning(open_files: Option<u64>, cap: usize) -> Option<String> {
    let limit = open_files?;
    let needed = cap as u64 + OTHER_DESCRIPTORS;
    (limit < needed).then(|| {
        format!(
            "warning: [server] max_connections = {cap} with only {limit} open files allowed (ulimit -n): \
             raise the limit to {needed} or more, or lower max_connections to {}",
            limit.saturating_sub(OTHER_DESCRIPTORS).max(1)
        )
    })
}

/// This process's soft limit of open files, from /proc/self/limits.
pub(crate) fn open_files_limit() -> Option<u64> {
    std::fs::read_to_string("/proc/self/limits")
        .ok()?
        .lines()
        .find(|line| line.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

/// The address a request came from (the proxy's, behind a reverse proxy).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) SocketAddr);

impl Connected<IncomingStream<'_, CappedListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, CappedListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_the_descriptor_limit_cannot_hold_is_warned_of() {
        assert_eq!(descriptor_warning(Some(1024), 256), None);
        assert_eq!(descriptor_warning(None, 256), None);
        let warning = descriptor_warning(Some(256), 256).unwrap();
        assert!(warning.contains("raise the limit to 320"), "{warning}");
        assert!(
            warning.contains("lower max_connections to 192"),
            "{warning}"
        );
        assert!(open_files_limit().is_some_and(|n| n > 0));
    }
}
