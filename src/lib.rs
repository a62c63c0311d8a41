//! connect-tokens: a console and REST API that issue and enforce scoped access tokens for
//! device fleets.
//!
//! Layers, top to bottom (each may call only the ones below it):
//! `cli` → `server` (the listener) → `web` (pages) and `api` (JSON) → `auth` (sessions, CSRF,
//! passwords, bearer tokens), `issuing` (the token lifecycle) and `import` → `store` (SQL) →
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
pub fn refusals(secure: bool) -> Router {
    layers::wrap(Router::new().fallback(show_refusal), secure, None)
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
    /// The listener for `/metrics` (counted when `state.metrics` is set).
    pub metrics: Option<TcpListener>,
}

/// Serves `app(state)` over plain HTTP on `listener`: [`serve_with`] with nothing else.
pub async fn serve(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    serve_with(listener, state, Serving::default()).await
}

/// Serves `app(state)` on `listener` (and metrics on theirs) until Ctrl-C / SIGTERM, then drains
/// within the shutdown deadline and writes the pending usage stamps.
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    serving: Serving,
) -> std::io::Result<()> {
    auth::password::warm_up();
    spawn_housekeeping(state.clone());
    let limits = server::Limits::from_config(&state.config);
    let apps = server::Apps {
        main: app(state.clone()),
        refusals: refusals(state.config.secure_cookies),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    if let (Some(metrics_listener), Some(metrics)) = (serving.metrics, state.metrics.clone()) {
        let apps = server::Apps {
            main: metrics::router(metrics, state.store.clone()),
            refusals: refusals(false),
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
    if let Some(tls) = &serving.tls {
        spawn_tls_reload(tls.clone());
    }
    let drain = std::time::Duration::from_secs(state.config.shutdown_drain_secs);
    let draining = state.clone();
    let shutdown = async move {
        shutdown_signal().await;
        if !drain.is_zero() {
            draining.start_draining();
            tracing::info!(
                seconds = drain.as_secs(),
                "draining: /readyz answers 503 until the stop"
            );
            tokio::time::sleep(drain).await;
        }
        let _ = stop.send(true);
    };
    let result = server::run(listener, apps, limits, serving.tls, shutdown).await;
    if let Err(e) = state.usage.flush(&state.store).await {
        tracing::warn!(error = %e, "could not record token use at shutdown");
    }
    result
}

/// Writes `last_used_at` stamps every few seconds and deletes expired sessions every few
/// minutes.
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
            if let Err(e) = state.store.purge_sessions(idle, absolute).await {
                tracing::warn!(error = %e, "session purge failed");
            }
        }
    });
}

/// Reads the certificate and key again at each SIGHUP; a pair that does not load leaves the one
/// in use.
fn spawn_tls_reload(tls: Arc<server::Tls>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: the certificate will not be reloaded");
            return;
        };
        while hangups.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!("TLS certificate reloaded"),
                Err(e) => tracing::error!("TLS reload refused, the certificate in use stays: {e}"),
            }
        }
    });
    #[cfg(not(unix))]
    let _ = tls;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
