//! The JSON side: health checks, Connect API v2 and the token-management API. Errors are
//! rendered as `{"errors":[{"status":…,"message":…}]}` by this router's error layer.

pub mod access;
pub mod json;
pub mod query;
pub mod v2;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::layers::{body_limit, unrendered_error};
use crate::state::AppState;

/// The OpenAPI 3 document of every endpoint; tests hold the API to it.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Routes of the API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/api/v2/openapi.json", get(openapi))
        .route("/api/v2/fleets", get(v2::fleets::list))
        .route("/api/v2/{fleet}/devices", get(v2::devices::list))
        .route(
            "/api/v2/{fleet}/devices/{device_uuid}",
            get(v2::devices::get)
                .patch(v2::devices::patch)
                .delete(v2::devices::delete),
        )
        .route(
            "/access/api/v1/tokens",
            get(access::tokens::list).post(access::tokens::create),
        )
        .route(
            "/access/api/v1/tokens/revoke",
            axum::routing::post(access::tokens::revoke_by_value),
        )
        .route(
            "/access/api/v1/tokens/{id}",
            get(access::tokens::get).delete(access::tokens::delete),
        )
        .route(
            "/access/api/v1/tokens/self",
            get(access::lifecycle::introspect),
        )
        .route(
            "/access/api/v1/tokens/self/rotate",
            axum::routing::post(access::lifecycle::rotate_self),
        )
        .route("/access/api/v1/tokens/{id}/usage", get(access::usage::get))
        .route(
            "/access/api/v1/tokens/{id}/rotate",
            axum::routing::post(access::lifecycle::rotate),
        )
        // One stack, outermost first (see `layers::wrap` on why one call).
        .layer(
            tower::ServiceBuilder::new()
                .layer(from_fn(json_errors))
                .layer(body_limit()),
        )
}

/// The API's error layer: error responses get the body
/// `{"errors":[{"status":..,"message":".."}]}`, and a 401 says `WWW-Authenticate: Bearer`.
pub async fn json_errors(req: Request, next: Next) -> Response {
    as_json(next.run(req).await).await
}

/// An error response with the API's JSON body; other responses unchanged.
pub async fn as_json(res: Response) -> Response {
    let (mut parts, message) = match unrendered_error(res).await {
        Err(res) => return res,
        Ok(split) => split,
    };
    let body =
        serde_json::json!({"errors": [{"status": parts.status.as_u16(), "message": message}]});
    if parts.status == StatusCode::UNAUTHORIZED {
        parts.headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
    }
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// `GET /readyz`: 200 when the database answers with the expected schema, 503 otherwise, and
/// 503 while the server drains before it stops.
async fn readyz(State(app): State<AppState>) -> (StatusCode, &'static str) {
    if app.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else if app.store.schema_ready().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
    }
}

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI,
    )
        .into_response()
}
