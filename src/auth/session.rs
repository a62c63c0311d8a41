//! Server-side sessions. The cookie holds a random id (≥ 190 bits); the database holds only its
//! SHA-256. Idle and absolute timeouts are enforced here, on every request.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::domain::token::{random_base62, sha256_hex};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::users::User;

/// Name of the pre-sign-in cookie that anchors the sign-in form's CSRF token.
const LOGIN_COOKIE: &str = "ct_login";
const SESSION_COOKIE: &str = "ct_session";

/// Seconds between two `last_seen_at` writes of one session.
const TOUCH_EVERY_SECS: i64 = 60;

/// The signed-in user of this request, with the session's CSRF token.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// The user as stored now.
    pub user: User,
    /// SHA-256 of the session id.
    pub session_hash: String,
    /// Synchronizer token for this session's forms.
    pub csrf: String,
}

/// A signed-in admin: only handlers behind [`require_admin`] can extract it.
#[derive(Debug, Clone)]
pub struct AdminUser(pub CurrentUser);

/// Cookie names and attributes for this deployment.
pub fn cookie_name(app: &AppState, base: &str) -> String {
    if app.config.secure_cookies {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

fn set_cookie(app: &AppState, base: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if app.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let name = cookie_name(app, base);
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("cookie values are base62")
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// CSRF token derived from a cookie secret (session id or pre-sign-in value). Deriving it
/// one-way means the form token never reveals the cookie.
pub fn csrf_for(secret: &str) -> String {
    sha256_hex(format!("csrf:{secret}").as_bytes())
}

/// The pre-sign-in cookie value, and a `Set-Cookie` when a new one had to be made.
pub fn login_anchor(app: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match cookie(headers, &cookie_name(app, LOGIN_COOKIE)) {
        Some(v) if v.len() == 32 && v.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            (v.to_owned(), None)
        }
        _ => {
            let v = random_base62(32);
            let set = set_cookie(app, LOGIN_COOKIE, &v, 3600);
            (v, Some(set))
        }
    }
}

/// The CSRF token a form POST must carry: the session's, or before sign-in the pre-sign-in
/// cookie's. None when the request has neither.
pub fn expected_csrf(app: &AppState, parts: &Parts) -> Option<String> {
    if let Some(u) = parts.extensions.get::<CurrentUser>() {
        return Some(u.csrf.clone());
    }
    cookie(&parts.headers, &cookie_name(app, LOGIN_COOKIE)).map(csrf_for)
}

/// Starts a session for `user`: a fresh id (rotation), the old session and pre-sign-in cookie
/// dropped. Returns the `Set-Cookie` headers.
pub async fn start(
    app: &AppState,
    headers: &HeaderMap,
    user: &User,
    now: i64,
) -> Result<Vec<(header::HeaderName, HeaderValue)>, AppError> {
    if let Some(old) = cookie(headers, &cookie_name(app, SESSION_COOKIE)) {
        app.store
            .delete_session(&sha256_hex(old.as_bytes()))
            .await?;
    }
    let id = random_base62(32);
    app.store
        .create_session(&sha256_hex(id.as_bytes()), &user.id, now)
        .await?;
    Ok(vec![
        (
            header::SET_COOKIE,
            set_cookie(app, SESSION_COOKIE, &id, app.config.session_absolute_secs),
        ),
        (header::SET_COOKIE, set_cookie(app, LOGIN_COOKIE, "", 0)),
    ])
}

/// Ends the current session server-side; returns the headers that clear it in the browser.
pub async fn end(
    app: &AppState,
    current: &CurrentUser,
) -> Result<Vec<(header::HeaderName, HeaderValue)>, AppError> {
    app.store.delete_session(&current.session_hash).await?;
    Ok(vec![
        (header::SET_COOKIE, set_cookie(app, SESSION_COOKIE, "", 0)),
        (
            header::HeaderName::from_static("clear-site-data"),
            HeaderValue::from_static("\"cookies\", \"storage\""),
        ),
    ])
}

/// The live session behind cookie value `id`: timeouts enforced (an expired session is
/// deleted), activity stamped at most once a minute, disabled users have none.
async fn resolve(app: &AppState, id: &str) -> Result<Option<CurrentUser>, AppError> {
    let hash = sha256_hex(id.as_bytes());
    let now = crate::domain::now();
    let Some(s) = app.store.session(&hash).await? else {
        return Ok(None);
    };
    let idle = now - s.last_seen_at >= app.config.session_idle_secs;
    let too_old = now - s.created_at >= app.config.session_absolute_secs;
    if idle || too_old {
        app.store.delete_session(&hash).await?;
        return Ok(None);
    }
    if now - s.last_seen_at >= TOUCH_EVERY_SECS {
        app.store.touch_session(&hash, now).await?;
    }
    Ok(Some(CurrentUser {
        user: s.user,
        session_hash: hash,
        csrf: csrf_for(id),
    }))
}

/// Resolves the session cookie (if any) into a [`CurrentUser`] request extension.
pub async fn load_session(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(id) = cookie(req.headers(), &cookie_name(&app, SESSION_COOKIE)).map(str::to_owned) {
        match resolve(&app, &id).await {
            Ok(Some(user)) => {
                req.extensions_mut().insert(user);
            }
            Ok(None) => {}
            Err(e) => return e.into_response(),
        }
    }
    next.run(req).await
}

/// Sends visitors without a session to the sign-in page.
pub async fn require_user(req: Request, next: Next) -> Response {
    if req.extensions().get::<CurrentUser>().is_none() {
        return Redirect::to("/login").into_response();
    }
    next.run(req).await
}

/// Lets admins through with an [`AdminUser`] extension; everyone else gets 403.
pub async fn require_admin(mut req: Request, next: Next) -> Response {
    match req.extensions().get::<CurrentUser>().cloned() {
        None => Redirect::to("/login").into_response(),
        Some(u) if !u.user.is_admin() => {
            AppError::Forbidden("This page is for administrators only.".into()).into_response()
        }
        Some(u) => {
            req.extensions_mut().insert(AdminUser(u));
            next.run(req).await
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or_else(|| Redirect::to("/login").into_response())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AdminUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AdminUser>()
            .cloned()
            .ok_or_else(|| AppError::Forbidden("This page is for administrators only.".into()))
    }
}

/// The signed-in user, if any, for pages that anyone may see (the sign-in page).
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<CurrentUser>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeUser(parts.extensions.get::<CurrentUser>().cloned()))
    }
}
