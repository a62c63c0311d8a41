//! connect-tokens: a console and REST API that issue and enforce scoped access tokens for
//! device fleets.
//!
//! Layers, top to bottom (each may call only the ones below it):
//! `cli` → `server` (the listener) → `web` (pages) and `api` (JSON) → `auth` (sessions, CSRF,
//! passwords, bearer tokens), `issuing` (the token lifecycle), `webhooks` (endpoints and the
//! delivery worker) and `import` → `store` (SQL) →
//! `domain` (pure rules). `state`, `config`, `error` and `layers` serve the layers above
//! `store`; `store` and `domain` import nothing from above them.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod healthcheck;
pub mod import;
pub mod issuing;
pub mod layers;
pub mod metrics;
pub mod server;
pub mod state;
pub mod store;
pub mod web;
pub mod webhooks;

/// The Rust allocator of every binary that links this crate (server, CLI, tests, benchmarks):
/// mimalloc in secure mode. C code (SQLite) keeps the C library's malloc, so the binary runs
/// under LD_PRELOAD tools. (Fuzzing builds keep the system allocator, which the sanitizer
/// watches.)
#[cfg(not(fuzzing))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

pub use config::Config;
pub use state::AppState;
pub use store::Store;

/// The whole application: console pages, API, health checks, wrapped in the common layers.
pub fn app(state: AppState) -> Router {
    let secure = state.config.secure_cookies;
    let metrics = state.metrics.clone();
    let router = Router::new()
        .merge(web::router(state.clone()))
        .merge(api::router())
        .fallback(not_found)
        .with_state(state);
    layers::wrap(router, secure, metrics)
}

/// What answers the requests the listener refuses before routing ([`layers::refusal`]): a 400
/// in the face's own error shape, with the common layers, and the connection closed where the
/// request's body cannot be trusted. Kept apart from [`app`] so that well-formed requests pay
/// nothing for it.
pub fn refusals(secure: bool, metrics: Option<Arc<metrics::Metrics>>) -> Router {
    layers::wrap(Router::new().fallback(show_refusal), secure, metrics)
}

/// Whether `path` belongs to the API (JSON errors) rather than the console (HTML pages).
fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/access/")
}

/// An error response as the face that owns the request's path shows errors.
async fn shown_for(
    (api, request_id): (bool, Option<String>),
    res: axum::response::Response,
) -> axum::response::Response {
    if api {
        api::as_json(res).await
    } else {
        web::as_html(res, request_id.as_deref()).await
    }
}

/// Which face owns the request (API or console), and its id: what [`shown_for`] needs, read
/// before any await (a request is not `Sync`).
fn face_of(req: &axum::extract::Request) -> (bool, Option<String>) {
    (
        is_api(req.uri().path()),
        layers::request_id(req).map(str::to_owned),
    )
}

/// Unknown routes: a JSON 404 under the API prefixes, an HTML page elsewhere.
async fn not_found(req: axum::extract::Request) -> axum::response::Response {
    use axum::response::IntoResponse;
    shown_for(face_of(&req), error::AppError::NotFound.into_response()).await
}

/// The answer to a request the listener marked with its [`layers::Refusal`].
async fn show_refusal(req: axum::extract::Request) -> axum::response::Response {
    use axum::response::IntoResponse;
    let refusal = req
        .extensions()
        .get::<layers::Refusal>()
        .cloned()
        .unwrap_or_else(|| layers::Refusal {
            message: "The request is malformed.".into(),
            close: true,
        });
    let res = error::AppError::BadRequest(refusal.message).into_response();
    let face = face_of(&req);
    let mut res = shown_for(face, res).await;
    if refusal.close {
        res.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    res
}

/// What [`serve_with`] offers beside plain HTTP on the main listener.
#[derive(Default)]
pub struct Serving {
    /// HTTPS on the main listener, reloaded at SIGHUP.
    pub tls: Option<Arc<server::Tls>>,
    /// The listener for `/metrics` (metrics are counted when there is one).
    pub metrics: Option<TcpListener>,
    /// Called once the signals are listened for, just before the first connection is taken
    /// (where the command line says it is listening).
    pub on_ready: Option<Box<dyn FnOnce() + Send>>,
}

/// Connections the metrics listener takes at once (scrapers, not clients).
const METRICS_CONNECTIONS: usize = 64;

/// Serves `app(state)` over plain HTTP on `listener`: [`serve_with`] with nothing else.
pub async fn serve(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    serve_with(listener, state, Serving::default()).await
}

/// Serves `app(state)` on `listener` (and metrics on theirs) until SIGTERM or Ctrl-C; then, after
/// the drain time, stops accepting, lets requests finish within the shutdown deadline and
/// writes the pending usage stamps.
pub async fn serve_with(
    listener: TcpListener,
    mut state: AppState,
    serving: Serving,
) -> std::io::Result<()> {
    let mut signals = StopSignals::listen()?;
    if let Some(tls) = &serving.tls {
        watch_tls_reload(tls.clone())?;
    }
    if serving.metrics.is_some() && state.metrics.is_none() {
        state = state.with_metrics();
    }
    auth::password::warm_up();
    spawn_housekeeping(state.clone());
    let (store, key) = (state.store.clone(), state.secret_key.clone());
    webhooks::spawn(store, key, &state.config, state.metrics.clone())
        .map_err(std::io::Error::other)?;
    let limits = server::Limits::from_config(&state.config);
    let apps = server::Apps {
        main: app(state.clone()),
        refusals: refusals(state.config.secure_cookies, state.metrics.clone()),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    if let (Some(metrics_listener), Some(metrics)) = (serving.metrics, state.metrics.clone()) {
        let apps = server::Apps {
            main: metrics::router(metrics, state.store.clone()),
            refusals: refusals(false, None),
        };
        let limits = server::Limits {
            max_connections: METRICS_CONNECTIONS,
            ..limits
        };
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = server::run(metrics_listener, apps, limits, None, shutdown).await {
                tracing::warn!(error = %e, "the metrics listener stopped");
            }
        });
    }
    let drain = std::time::Duration::from_secs(state.config.shutdown_drain_secs);
    let draining = state.clone();
    let shutdown = async move {
        signals.next().await;
        if !drain.is_zero() {
            draining.start_draining();
            tracing::info!(
                seconds = drain.as_secs(),
                "draining: /readyz answers 503 until the stop (a second signal stops at once)"
            );
            tokio::select! {
                () = tokio::time::sleep(drain) => {}
                () = signals.next() => {}
            }
        }
        let _ = stop.send(true);
    };
    if let Some(on_ready) = serving.on_ready {
        on_ready();
    }
    let result = server::run(listener, apps, limits, serving.tls, shutdown).await;
    if let Err(e) = state.usage.flush(&state.store).await {
        tracing::warn!(error = %e, "could not record token use at shutdown");
    }
    result
}

/// Writes `last_used_at` stamps and use counts every few seconds; every few minutes (and at
/// start) deletes expired sessions and usage counts past their 400 days and moves the busiest
/// tokens' window to today.
fn spawn_housekeeping(state: AppState) {
    let usage = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(
            usage.config.usage_flush_secs,
        ));
        loop {
            tick.tick().await;
            if let Err(e) = usage.usage.flush(&usage.store).await {
                tracing::warn!(error = %e, "could not record token use");
            }
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
        loop {
            tick.tick().await;
            let now = domain::now();
            let idle = now - state.config.session_idle_secs;
            let absolute = now - state.config.session_absolute_secs;
            let pending = now - auth::session::PENDING_SECS;
            if let Err(e) = state.store.purge_sessions(idle, absolute, pending).await {
                tracing::warn!(error = %e, "session purge failed");
            }
            let ceremonies = now - auth::passkeys::CEREMONY_SECS;
            if let Err(e) = state.store.purge_ceremonies(ceremonies).await {
                tracing::warn!(error = %e, "passkey ceremony purge failed");
            }
            // The window first: it subtracts days the pruning would otherwise have deleted.
            let today = domain::usage::day_of(now);
            if let Err(e) = state.store.roll_usage_window(today).await {
                tracing::warn!(error = %e, "moving the busiest tokens' window failed");
            }
            if let Err(e) = state.store.prune_usage(now).await {
                tracing::warn!(error = %e, "pruning old usage counts failed");
            }
        }
    });
}

/// Reads the certificate and key again at each SIGHUP (listened for from this call on); a pair
/// that does not load leaves the one in use.
fn watch_tls_reload(tls: Arc<server::Tls>) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!("TLS certificate reloaded"),
                Err(e) => tracing::error!("TLS reload refused, the certificate in use stays: {e}"),
            }
        }
    });
    Ok(())
}

/// SIGTERM (an orchestrator stopping the process) and SIGINT (Ctrl-C), listened for from the
/// moment this is made: one that arrives during start-up is not lost, nor fatal.
struct StopSignals {
    term: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            term: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// The next stop signal.
    async fn next(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}
