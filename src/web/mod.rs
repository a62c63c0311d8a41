//! The console: server-rendered pages (askama), one file per screen. JavaScript in
//! `static/app.js` only enhances them.

pub mod account;
pub mod audit;
pub mod dashboard;
pub mod devices;
pub mod login;
pub mod tokens;
pub mod users;
pub mod view;

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::AppState;
use crate::auth::csrf::csrf_guard;
use crate::auth::session::{CurrentUser, load_session, require_admin, require_user};
use crate::error::AppResult;
use crate::layers::{body_limit, unrendered_error};

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
        .layer(from_fn_with_state(state.clone(), csrf_guard))
        .layer(from_fn_with_state(state, load_session))
        .layer(body_limit())
        .layer(from_fn(html_errors))
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

/// The one way pages are rendered.
pub fn render(status: StatusCode, page: &impl Template) -> AppResult<Response> {
    Ok((status, Html(page.render()?)).into_response())
}

/// What the layout needs: who is signed in, their CSRF token, where they are.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// Display name of the signed-in user, empty on the sign-in page.
    pub user_name: String,
    /// Whether to show admin navigation.
    pub is_admin: bool,
    /// CSRF token for forms on the page.
    pub csrf: String,
    /// Active left-navigation entry.
    pub nav: &'static str,
    /// Active settings tab.
    pub tab: &'static str,
}

impl Chrome {
    /// Layout data for a signed-in page.
    pub fn new(user: &CurrentUser, nav: &'static str, tab: &'static str) -> Self {
        Chrome {
            user_name: user.user.name().to_owned(),
            is_admin: user.user.is_admin(),
            csrf: user.csrf.clone(),
            nav,
            tab,
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    reason: &'a str,
    message: &'a str,
}

/// HTML body of an error page.
fn error_page(status: StatusCode, message: &str) -> String {
    let page = ErrorPage {
        chrome: Chrome::default(),
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Error"),
        message,
    };
    page.render().unwrap_or_else(|_| "Error".to_owned())
}

/// The console's error layer: error responses become HTML pages.
pub async fn html_errors(req: Request, next: Next) -> Response {
    as_html(next.run(req).await).await
}

/// An error response with an HTML page body; other responses unchanged.
pub async fn as_html(res: Response) -> Response {
    match unrendered_error(res).await {
        Err(res) => res,
        Ok((mut parts, message)) => {
            let html = error_page(parts.status, &message);
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            Response::from_parts(parts, Body::from(html))
        }
    }
}
