//! The JSON side: health checks, Connect API v2 and the token-management API.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::from_fn;
use axum::routing::get;

use crate::AppState;
use crate::layers::json_errors;

/// Routes of the API.
pub fn router(_state: AppState) -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(from_fn(json_errors))
}

/// `GET /readyz`: 200 when the database answers, 503 otherwise.
async fn readyz(State(app): State<AppState>) -> (StatusCode, &'static str) {
    if app.store.ping().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
    }
}
