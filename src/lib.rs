//! connect-tokens: a console and REST API that issue and enforce scoped access tokens for
//! device fleets.
//!
//! Layers, top to bottom (each may call only the ones below it):
//! `cli` → `web` (pages) and `api` (JSON) → `auth` (sessions, CSRF, passwords, bearer tokens),
//! `issuing` (the token lifecycle) and `import` → `store` (SQL) → `domain` (pure rules).
//! `state`, `config`, `error` and `layers` serve the layers above `store`; `store` and `domain`
//! import nothing from above them.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod import;
pub mod issuing;
pub mod layers;
pub mod state;
pub mod store;
pub mod web;

/// The allocator of every binary that links this crate (server, CLI, tests, benchmarks):
/// mimalloc in secure mode, which (feature `override`) also serves SQLite's C allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

pub use config::Config;
pub use state::AppState;
pub use store::Store;

/// The whole application: console pages, API, health checks, wrapped in the common layers.
pub fn app(state: AppState) -> Router {
    let secure = state.config.secure_cookies;
    let router = Router::new()
        .merge(web::router(state.clone()))
        .merge(api::router())
        .fallback(not_found)
        .with_state(state);
    layers::wrap(router, secure)
}

/// Unknown routes: a JSON 404 under the API prefixes, an HTML page elsewhere.
async fn not_found(req: axum::extract::Request) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = req.uri().path();
    let api = path.starts_with("/api/") || path.starts_with("/access/");
    let res = error::AppError::NotFound.into_response();
    if api {
        api::as_json(res).await
    } else {
        web::as_html(res).await
    }
}

/// Serves `app(state)` on `listener` until Ctrl-C / SIGTERM.
pub async fn serve(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    auth::password::warm_up();
    spawn_housekeeping(state.clone());
    let result = axum::serve(
        listener,
        app(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await;
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
