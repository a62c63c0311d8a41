//! The console: server-rendered pages (askama), one file per screen. JavaScript in
//! `static/app.js` only enhances them.

pub mod account;
pub mod audit;
pub mod chart;
pub mod csv;
pub mod dashboard;
pub mod devices;
pub mod errors;
pub mod insight;
pub mod login;
pub mod passkey_signin;
pub mod second_step;
pub mod security;
pub mod tokens;
pub mod users;
pub mod view;
pub mod webhooks;

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
        .merge(token_routes())
        .route("/settings/users", get(users::list).post(users::create))
        .route("/settings/users/{id}", get(users::edit))
        .route(
            "/settings/users/{id}/permissions",
            post(users::save_permissions),
        )
        .route("/settings/users/{id}/account", post(users::account_action))
        .route("/settings/audit", get(audit::list))
        .route("/settings/audit/export.csv", get(audit::export))
        .merge(webhook_routes())
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
        .merge(security_routes())
        .merge(admin)
        .route_layer(from_fn(require_user));
    Router::new()
        .merge(login_routes())
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

/// Sign-in (password, second step, passkey) and sign-out: open to every visitor.
fn login_routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route(
            "/login/two-factor",
            get(second_step::form).post(second_step::submit),
        )
        .route(
            "/login/two-factor/passkey/options",
            post(passkey_signin::second_step_options),
        )
        .route(
            "/login/two-factor/passkey",
            post(passkey_signin::second_step),
        )
        .route(
            "/login/passkey/options",
            post(passkey_signin::sign_in_options),
        )
        .route("/login/passkey", post(passkey_signin::sign_in))
}

/// The Access Tokens tab's routes (admins): the list, its export and bulk revocation, a token's
/// page, revocation and regeneration.
fn token_routes() -> Router<AppState> {
    Router::new()
        .route("/settings/access-tokens", get(tokens::list))
        .route(
            "/settings/access-tokens/export.csv",
            get(tokens::export::tokens),
        )
        .route(
            "/settings/access-tokens/revoke-selected",
            get(tokens::bulk::confirm).post(tokens::bulk::revoke),
        )
        .route(
            "/settings/access-tokens/{id}/revoke",
            get(tokens::confirm_revoke).post(tokens::revoke),
        )
        .route("/settings/access-tokens/{id}", get(tokens::detail::show))
        .route(
            "/settings/access-tokens/{id}/regenerate",
            get(tokens::detail::regenerate_form).post(tokens::detail::regenerate),
        )
}

/// The Webhooks tab's routes (admins).
fn webhook_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/settings/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/settings/webhooks/{id}",
            get(webhooks::show).post(webhooks::update),
        )
        .route("/settings/webhooks/{id}/test", post(webhooks::send_test))
        .route(
            "/settings/webhooks/{id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route(
            "/settings/webhooks/{id}/delete",
            get(webhooks::confirm_delete).post(webhooks::delete),
        )
        .route(
            "/settings/webhooks/{id}/deliveries/{delivery}/redeliver",
            post(webhooks::redeliver),
        )
}

/// The Security tab's routes (every signed-in user; those still to enrol reach only these).
fn security_routes() -> Router<AppState> {
    use security::passkeys;
    Router::new()
        .route("/settings/security", get(security::show))
        .route(
            "/settings/security/password",
            post(security::change_password),
        )
        .route("/settings/security/totp", get(security::totp_page))
        .route("/settings/security/totp/setup", post(security::setup_totp))
        .route(
            "/settings/security/totp/confirm",
            post(security::confirm_totp),
        )
        .route(
            "/settings/security/totp/disable",
            post(security::disable_totp),
        )
        .route(
            "/settings/security/recovery-codes",
            post(security::regenerate_recovery_codes),
        )
        .route(
            "/settings/security/passkeys/options",
            post(passkeys::options),
        )
        .route("/settings/security/passkeys", post(passkeys::add))
        .route(
            "/settings/security/passkeys/{id}/rename",
            post(passkeys::rename),
        )
        .route(
            "/settings/security/passkeys/{id}/remove",
            post(passkeys::remove),
        )
        .route(
            "/settings/security/sessions/sign-out-others",
            post(security::sign_out_others),
        )
        .route(
            "/settings/security/sessions/{handle}/sign-out",
            post(security::sign_out_session),
        )
        .route(
            "/settings/security/require-two-factor",
            post(security::save_requirement),
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
