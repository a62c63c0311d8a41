//! One client connection's socket, watched: when it last moved a byte (for the idle timeout and
//! for choosing which idle connection to close when the server is full), and the framing of
//! what the client sends (see [`super::framing`]).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use super::framing::Framing;

/// What the server knows of one open connection, shared with its task.
pub struct Activity {
    /// Milliseconds after `epoch` of the last byte read or written.
    last_ms: AtomicU64,
    /// Milliseconds after `epoch` when the request in flight began (0: none).
    request_ms: AtomicU64,
    epoch: Instant,
    /// Already told to close (so a burst of new connections does not pick it again).
    told: AtomicBool,
    /// Told to close (the server is full and this one is the idlest).
    pub close: Notify,
}

/// Why a connection's watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// No byte moved for the idle timeout.
    Idle,
    /// A request (its body included) took longer than the request deadline.
    Request,
}

impl Activity {
    /// A connection accepted now; `epoch` is the server's common time base.
    pub fn new(epoch: Instant) -> Self {
        let activity = Activity {
            last_ms: AtomicU64::new(0),
            request_ms: AtomicU64::new(0),
            epoch,
            told: AtomicBool::new(false),
            close: Notify::new(),
        };
        activity.stamp();
        activity
    }

    fn now_ms(&self) -> u64 {
        // At least 1: 0 means "no request in flight".
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn stamp(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// A request has been handed to the application.
    pub fn begin_request(&self) {
        self.request_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// The application has answered.
    pub fn end_request(&self) {
        self.request_ms.store(0, Ordering::Relaxed);
    }

    /// How long since the last byte moved.
    pub fn idle_for(&self) -> Duration {
        let now = self.epoch.elapsed();
        now.saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }

    /// Whether the connection may be evicted: idle for `at_least`, no request in flight, not
    /// asked to close before.
    pub fn evictable(&self, at_least: Duration) -> bool {
        self.request_ms.load(Ordering::Relaxed) == 0
            && !self.told.load(Ordering::Relaxed)
            && self.idle_for() >= at_least
    }

    /// Asks the connection to close if it is [`evictable`](Self::evictable); whether it was.
    pub fn evict_if_idle(&self, at_least: Duration) -> bool {
        if !self.evictable(at_least) || self.told.swap(true, Ordering::Relaxed) {
            return false;
        }
        self.close.notify_one();
        true
    }

    /// Resolves once no byte has moved for `idle`, or a request has been in flight for
    /// `request`; says which.
    pub async fn expired(&self, idle: Duration, request: Duration) -> Expired {
        loop {
            let now = self.epoch.elapsed();
            let quiet = self.idle_for();
            if quiet >= idle {
                return Expired::Idle;
            }
            let mut wait = idle - quiet;
            let started = self.request_ms.load(Ordering::Relaxed);
            if started != 0 {
                let age = now.saturating_sub(Duration::from_millis(started));
                if age >= request {
                    return Expired::Request;
                }
                wait = wait.min(request - age);
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// A client stream (TCP, or TLS over TCP, carrying plain HTTP) that stamps its [`Activity`] and shows incoming bytes to a [`Framing`]. (No
/// `Debug`: the framing reader holds bits of request heads, which may be credentials.)
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
    framing: Framing,
}

impl<S> Watched<S> {
    /// Wraps `inner`, whose connection's activity is `activity`.
    pub fn new(inner: S, activity: Arc<Activity>, framing: Framing) -> Self {
        Watched {
            inner,
            activity,
            framing,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let new = &buf.filled()[before..];
        if !new.is_empty() {
            this.activity.stamp();
            this.framing.feed(new);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.stamp();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.stamp();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
