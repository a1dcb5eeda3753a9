//! The connections the server accepts: each knows its client's address (for the client's
//! share of the permits, see `crate::gate`), and a client that reads nothing of its answer
//! for the query time limit is dropped, so that a stalled reader holds its socket, its buffers
//! and its task no longer than a query may run.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// A TCP listener whose connections drop a client that stops reading.
pub(crate) struct Listener {
    tcp: TcpListener,
    /// How long a write may wait for the client to read.
    stall: Duration,
}

impl Listener {
    pub fn new(tcp: TcpListener, stall: Duration) -> Listener {
        Listener { tcp, stall }
    }
}

impl axum::serve::Listener for Listener {
    type Io = WriteDeadline<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept logs and retries on errors (too many open files, …).
        let (stream, addr) = axum::serve::Listener::accept(&mut self.tcp).await;
        (WriteDeadline { io: stream, stall: self.stall, stalled: None }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The address a request came from (a request extension, as `ConnectInfo<Client>`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Client(pub SocketAddr);

impl Connected<IncomingStream<'_, Listener>> for Client {
    fn connect_info(stream: IncomingStream<'_, Listener>) -> Client {
        Client(*stream.remote_addr())
    }
}

/// A stream whose writes fail (`TimedOut`) once they have waited `stall` without progress:
/// the client's receive window stayed full that long. Reads are untouched.
pub(crate) struct WriteDeadline<S> {
    io: S,
    stall: Duration,
    /// Running while a write waits.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteDeadline<S> {
    /// `polled`, unless it is one more wait of a write that has waited `stall` already.
    fn limit<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let stall = self.stall;
        let stalled = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client read nothing for {} ms", stall.as_millis()),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.limit(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.limit(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_flush(cx);
        this.limit(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_shutdown(cx);
        this.limit(cx, polled)
    }
}
