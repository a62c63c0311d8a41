//! The listener: our own accept loop around hyper, because the defaults let hostile clients hold
//! the server (SECURITY.md 21–22, 26).
//!
//! - Every connection has a header-read timeout (hyper's, with a timer, which also bounds the
//!   wait for the next request on a kept-alive connection) and an idle timeout (no byte either
//!   way: a stalled body, an idle keep-alive).
//! - Open connections are capped below the file-descriptor limit, which is raised at start; when
//!   full, the idlest connection is closed to make room, or the new one is turned away.
//! - Running out of descriptors makes the loop back off instead of spinning, and it recovers.
//! - A request whose head had both `Content-Length` and `Transfer-Encoding` is marked for the
//!   router, which refuses it and closes the connection.
//! - With HTTPS, the TLS handshake must finish within the header-read timeout, and a reload
//!   ([`Tls::reload`]) changes the certificate for new connections only.
//! - On shutdown it stops accepting, lets in-flight requests finish and closes idle connections,
//!   and returns by the deadline whatever the clients do.

mod conn;
pub mod framing;
pub mod tls;
pub mod verdicts;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;
use tower_http::request_id::RequestId;

use crate::config::Config;
use crate::layers::{self, Smuggled};
use conn::{Activity, Watched};
use framing::{Framing, HEAD_MAX};
pub use tls::Tls;

const _: () = assert!(
    MAX_HEAD < HEAD_MAX,
    "the framing reader follows every head hyper takes"
);

/// File descriptors kept for everything but client connections (database, files, logs).
const RESERVED_FDS: u64 = 256;

/// Longest request head hyper takes (431 beyond); within what the framing reader follows.
const MAX_HEAD: usize = 32 * 1024;

/// Largest read buffer hyper keeps per connection (its default is about 400 KB).
const MAX_BUFFER: usize = 64 * 1024;

/// A connection this long without a byte may be closed to make room for a new one.
const IDLE_ENOUGH_TO_EVICT: Duration = Duration::from_secs(1);

/// What the listener serves: the application, and what answers the requests it refuses before
/// routing (see [`crate::layers::refusal`]).
#[derive(Clone)]
pub struct Apps {
    /// Every well-formed request.
    pub main: Router,
    /// Requests carrying a [`crate::layers::Refusal`].
    pub refusals: Router,
}

/// The listener's limits, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The whole request head must arrive within this (and the next one after a response).
    pub header_read: Duration,
    /// A connection that moves no byte for this long is closed.
    pub idle: Duration,
    /// A request (its body included) must be answered within this.
    pub request: Duration,
    /// Most connections open at once (lowered to fit the descriptor limit).
    pub max_connections: usize,
    /// Longest wait for in-flight requests at shutdown.
    pub shutdown_deadline: Duration,
}

impl Limits {
    /// The limits `config` sets.
    pub fn from_config(config: &Config) -> Self {
        Limits {
            header_read: Duration::from_secs(config.header_read_timeout_secs),
            idle: Duration::from_secs(config.idle_timeout_secs),
            request: Duration::from_secs(config.request_timeout_secs),
            max_connections: usize::try_from(config.max_connections).unwrap_or(usize::MAX),
            shutdown_deadline: Duration::from_secs(config.shutdown_deadline_secs),
        }
    }
}

/// The open connections, for the cap and for choosing which idle one to close.
#[derive(Default)]
struct Open {
    next_id: AtomicU64,
    connections: Mutex<HashMap<u64, Arc<Activity>>>,
}

impl Open {
    fn len(&self) -> usize {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn add(&self, activity: Arc<Activity>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, activity);
        id
    }

    fn remove(&self, id: u64) {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    /// Asks the idlest connection to close, if one has been idle long enough with no request in
    /// flight (and was not asked before); whether one was.
    fn evict_idlest(&self) -> bool {
        let connections = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        connections
            .values()
            .filter(|a| a.evictable(IDLE_ENOUGH_TO_EVICT))
            .max_by_key(|a| a.idle_for())
            .is_some_and(|a| a.evict_if_idle(IDLE_ENOUGH_TO_EVICT))
    }
}

/// What every connection's task is given.
struct Shared {
    apps: Apps,
    limits: Limits,
    tls: Option<Arc<Tls>>,
    open: Arc<Open>,
    graceful: GracefulShutdown,
    epoch: Instant,
}

/// A connection's place in [`Open`], given back however its task ends (a panic included).
struct Registered {
    open: Arc<Open>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.open.remove(self.id);
    }
}

/// Raises the open-file limit so that `wanted` descriptors fit (both limits where the process
/// may, else the soft one up to the hard one); returns the soft limit in force.
fn raise_fd_limit(wanted: u64) -> u64 {
    use rlimit::Resource;
    let Ok((soft, hard)) = rlimit::getrlimit(Resource::NOFILE) else {
        return 1024;
    };
    if soft >= wanted {
        return soft;
    }
    if hard < wanted && rlimit::setrlimit(Resource::NOFILE, wanted, wanted).is_ok() {
        return wanted;
    }
    let target = wanted.min(hard);
    if rlimit::setrlimit(Resource::NOFILE, target, hard).is_ok() {
        return target;
    }
    soft
}

/// Whether an accept error means the process or system ran out of something (descriptors,
/// memory, buffers): back off rather than spin.
fn is_resource_exhaustion(e: &std::io::Error) -> bool {
    // EMFILE, ENFILE, ENOMEM, ENOBUFS on Linux.
    matches!(e.raw_os_error(), Some(24 | 23 | 12 | 105))
}

/// Serves `apps` on `listener` within `limits` (over TLS when `tls` is set) until `shutdown`
/// resolves, then drains.
pub async fn run(
    listener: TcpListener,
    apps: Apps,
    limits: Limits,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let wanted = limits.max_connections as u64 + RESERVED_FDS;
    let fds = raise_fd_limit(wanted);
    let max_connections = limits
        .max_connections
        .min(usize::try_from(fds.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX))
        .max(1);
    if max_connections < limits.max_connections {
        tracing::warn!(
            max_connections,
            open_file_limit = fds,
            "the open-file limit lowers the connection cap"
        );
    }
    let shared = Shared {
        apps,
        limits,
        tls,
        open: Arc::new(Open::default()),
        graceful: GracefulShutdown::new(),
        epoch: Instant::now(),
    };
    let open = &shared.open;
    let mut last_exhaustion_log: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_resource_exhaustion(&e) => {
                if last_exhaustion_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    tracing::warn!(error = %e, "cannot accept connections: backing off");
                    last_exhaustion_log = Some(Instant::now());
                }
                // Make room: an idle connection gives its descriptor back.
                open.evict_idlest();
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                continue;
            }
        };
        if open.len() >= max_connections && !open.evict_idlest() {
            tracing::debug!(%peer, "connection refused: the server is full");
            drop(stream);
            continue;
        }
        serve_connection(stream, peer, &shared);
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_deadline, shared.graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open at the shutdown deadline are closed");
    }
    Ok(())
}

/// Spawns the task that serves one connection until it ends, idles out, is evicted or shut down
/// (with TLS, the handshake first, within the header-read timeout).
fn serve_connection(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new(shared.epoch));
    let registered = Registered {
        id: shared.open.add(activity.clone()),
        open: shared.open.clone(),
    };
    let apps = shared.apps.clone();
    let limits = shared.limits;
    let watcher = shared.graceful.watcher();
    let tls = shared.tls.as_ref().map(|tls| tls.acceptor());
    tokio::spawn(async move {
        let _registered = registered;
        let Some(acceptor) = tls else {
            return drive(stream, peer, apps, limits, activity, watcher).await;
        };
        let handshake = tokio::select! {
            done = tokio::time::timeout(limits.header_read, acceptor.accept(stream)) => done,
            () = activity.close.notified() => return,
        };
        match handshake {
            Ok(Ok(stream)) => drive(stream, peer, apps, limits, activity, watcher).await,
            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake too slow"),
        }
    });
}

/// Serves HTTP/1.1 on one connection's byte stream until it ends, idles out, is evicted or shut
/// down.
async fn drive<S>(
    stream: S,
    peer: SocketAddr,
    apps: Apps,
    limits: Limits,
    activity: Arc<Activity>,
    watcher: Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (framing, verdicts) = Framing::new();
    let io = Watched::new(stream, activity.clone(), framing);
    let in_flight = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let uri = req.uri();
        let origin_form = uri.scheme().is_none() && uri.authority().is_none();
        let refuse = if origin_form {
            let target = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
            verdicts.refuse(req.method().as_str(), target)
        } else {
            verdicts.refuse(req.method().as_str(), &uri.to_string())
        };
        if refuse {
            req.extensions_mut().insert(Smuggled);
        }
        req.extensions_mut().insert(ConnectInfo(peer));
        let request_id = layers::request_id_for(req.headers());
        req.extensions_mut()
            .insert(RequestId::new(request_id.clone()));
        let answer = match layers::refusal(&req) {
            None => apps.main.clone().oneshot(req),
            Some(refusal) => {
                req.extensions_mut().insert(refusal);
                apps.refusals.clone().oneshot(req)
            }
        };
        let in_flight = in_flight.clone();
        in_flight.begin_request();
        async move {
            let mut response = answer.await;
            in_flight.end_request();
            if let Ok(response) = &mut response {
                response
                    .headers_mut()
                    .insert(layers::X_REQUEST_ID, request_id);
            }
            response
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Some(limits.header_read))
        .max_header_size(MAX_HEAD)
        .max_buf_size(MAX_BUFFER)
        .keep_alive(true);
    let connection = watcher.watch(http.serve_connection(TokioIo::new(io), service));
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        expired = activity.expired(limits.idle, limits.request) => {
            tracing::debug!(?expired, "connection closed: too slow");
        }
        () = activity.close.notified() => tracing::debug!("idle connection closed to make room"),
    }
}
