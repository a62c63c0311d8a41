//! The console: server-rendered pages (askama), one file per screen. JavaScript in
//! `static/app.js` only enhances them.

pub mod account;
pub mod audit;
pub mod dashboard;
pub mod devices;
pub mod errors;
pub mod login;
pub mod tokens;
pub mod users;
pub mod view;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::auth::csrf::csrf_guard;
use crate::auth::session::{load_session, require_admin, require_user};
use crate::layers::body_limit;
use crate::state::AppState;
use errors::html_errors;

pub use errors::as_html;

/// Routes of the console.
pub fn router(state: AppState) -> Router<AppState> {
    let admin = Router::new()
        .route(
            "/settings/account/device-token",
            get(account::device_panel).post(account::device_submit),
        )
        .route(
            "/settings/account/device-search",
            get(account::device_search),
        )
        .route(
            "/settings/account/user-token",
            get(account::user_panel).post(account::user_submit),
        )
        .route("/settings/access-tokens", get(tokens::list))
        .route(
            "/settings/access-tokens/{id}/revoke",
            get(tokens::confirm_revoke).post(tokens::revoke),
        )
        .route("/settings/access-tokens/{id}", get(tokens::detail::show))
        .route(
            "/settings/access-tokens/{id}/regenerate",
            get(tokens::detail::regenerate_form).post(tokens::detail::regenerate),
        )
        .route("/settings/users", get(users::list).post(users::create))
        .route("/settings/users/{id}", get(users::edit))
        .route(
            "/settings/users/{id}/permissions",
            post(users::save_permissions),
        )
        .route("/settings/users/{id}/account", post(users::account_action))
        .route("/settings/audit", get(audit::list))
        .route("/devices/fleets", post(devices::create_fleet))
        .route("/devices/register", post(devices::register))
        .route_layer(from_fn(require_admin));
    let signed_in = Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/dashboard", get(dashboard::show))
        .route(
            "/settings",
            get(|| async { Redirect::to("/settings/account") }),
        )
        .route("/settings/account", get(account::show))
        .route("/devices", get(devices::list))
        .route("/devices/{uuid}", get(devices::detail))
        .route("/logout", post(login::logout))
        .merge(admin)
        .route_layer(from_fn(require_user));
    Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route(
            "/static/app.css",
            get(|| static_file(include_str!("../../static/app.css"), "text/css")),
        )
        .route(
            "/static/app.js",
            get(|| static_file(include_str!("../../static/app.js"), "text/javascript")),
        )
        .merge(signed_in)
        // Stacks, outermost first, in as few calls as the body types allow (see `layers::wrap`
        // on why few): the limit changes the request's body type, which `from_fn` does not take.
        .layer(
            tower::ServiceBuilder::new()
                .layer(from_fn_with_state(state.clone(), load_session))
                .layer(from_fn_with_state(state, csrf_guard)),
        )
        .layer(
            tower::ServiceBuilder::new()
                .layer(from_fn(html_errors))
                .layer(body_limit()),
        )
}

async fn static_file(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}
