//! Server-side sessions. The cookie holds a random id (≥ 190 bits); the database holds only its
//! SHA-256. Idle and absolute timeouts are enforced here, on every request.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::domain::token::{random_base62, sha256_hex};
use crate::domain::two_factor::RequireTwoFactor;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::sessions::{NewSession, SessionStage};
use crate::store::users::User;

/// Name of the pre-sign-in cookie that anchors the sign-in form's CSRF token.
const LOGIN_COOKIE: &str = "ct_login";
const SESSION_COOKIE: &str = "ct_session";

/// Seconds between two `last_seen_at` writes of one session.
const TOUCH_EVERY_SECS: i64 = 60;

/// Seconds a sign-in may wait between its password and its second step.
pub const PENDING_SECS: i64 = 600;

/// Where a user who must set up two-factor authentication is sent, and the only paths (with
/// sign-out) they reach until they have.
pub const ENROLLMENT_PATH: &str = "/settings/security";

/// The signed-in user of this request, with the session's CSRF token.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// The user as stored now.
    pub user: User,
    /// SHA-256 of the session id.
    pub session_hash: String,
    /// Synchronizer token for this session's forms.
    pub csrf: String,
    /// The session's public name (Security tab).
    pub handle: String,
    /// The admin setting requires a second factor that this user has not set up yet: they
    /// reach nothing but the Security tab until they have.
    pub needs_enrollment: bool,
}

/// A sign-in whose password was right and whose second step is still to come. It reaches
/// nothing but that step (and giving up).
#[derive(Debug, Clone)]
pub struct PendingSignin {
    /// Who is signing in.
    pub user: User,
    /// SHA-256 of the session id.
    pub session_hash: String,
    /// Synchronizer token for the second step's forms.
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
    if let Some(p) = parts.extensions.get::<PendingSignin>() {
        return Some(p.csrf.clone());
    }
    cookie(&parts.headers, &cookie_name(app, LOGIN_COOKIE)).map(csrf_for)
}

/// The browser as the sessions list records it: the `User-Agent`, one line, at most 256
/// characters.
fn user_agent(headers: &HeaderMap) -> String {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(256)
        .collect()
}

/// Starts a session for `user` at `stage`: a fresh id (rotation), the old session and
/// pre-sign-in cookie dropped. Returns the `Set-Cookie` headers.
pub async fn start(
    app: &AppState,
    headers: &HeaderMap,
    user: &User,
    stage: SessionStage,
    source: &str,
    now: i64,
) -> Result<Vec<(header::HeaderName, HeaderValue)>, AppError> {
    if let Some(old) = cookie(headers, &cookie_name(app, SESSION_COOKIE)) {
        app.store
            .delete_session(&sha256_hex(old.as_bytes()))
            .await?;
    }
    let id = random_base62(32);
    let new = NewSession {
        id_hash: &sha256_hex(id.as_bytes()),
        handle: &random_base62(16),
        user_id: &user.id,
        stage,
        source,
        user_agent: &user_agent(headers),
    };
    app.store.create_session(&new, now).await?;
    Ok(vec![
        (
            header::SET_COOKIE,
            set_cookie(app, SESSION_COOKIE, &id, app.config.session_absolute_secs),
        ),
        (header::SET_COOKIE, set_cookie(app, LOGIN_COOKIE, "", 0)),
    ])
}

/// Ends the session `session_hash` server-side; returns the headers that clear it in the
/// browser.
pub async fn end(
    app: &AppState,
    session_hash: &str,
) -> Result<Vec<(header::HeaderName, HeaderValue)>, AppError> {
    app.store.delete_session(session_hash).await?;
    Ok(vec![
        (header::SET_COOKIE, set_cookie(app, SESSION_COOKIE, "", 0)),
        (
            header::HeaderName::from_static("clear-site-data"),
            HeaderValue::from_static("\"cookies\", \"storage\""),
        ),
    ])
}

/// What a session cookie stands for.
enum Resolved {
    Full(CurrentUser),
    Pending(PendingSignin),
}

/// The live session behind cookie value `id`: timeouts enforced (an expired session is
/// deleted), activity stamped at most once a minute, disabled users have none.
async fn resolve(app: &AppState, id: &str) -> Result<Option<Resolved>, AppError> {
    let hash = sha256_hex(id.as_bytes());
    let now = crate::domain::now();
    let Some(s) = app.store.session(&hash).await? else {
        return Ok(None);
    };
    let idle = now - s.last_seen_at >= app.config.session_idle_secs;
    let too_old = now - s.created_at >= app.config.session_absolute_secs;
    let pending = s.stage == SessionStage::SecondFactor;
    if idle || too_old || (pending && now - s.created_at >= PENDING_SECS) {
        app.store.delete_session(&hash).await?;
        return Ok(None);
    }
    if pending {
        return Ok(Some(Resolved::Pending(PendingSignin {
            user: s.user,
            session_hash: hash,
            csrf: csrf_for(id),
        })));
    }
    if now - s.last_seen_at >= TOUCH_EVERY_SECS {
        app.store.touch_session(&hash, now).await?;
    }
    let required = RequireTwoFactor::from_stored(s.require_two_factor.as_deref());
    Ok(Some(Resolved::Full(CurrentUser {
        needs_enrollment: required.applies_to(s.user.is_admin()) && !s.has_second_factor,
        user: s.user,
        session_hash: hash,
        csrf: csrf_for(id),
        handle: s.handle,
    })))
}

/// Resolves the session cookie (if any) into a [`CurrentUser`] or [`PendingSignin`] request
/// extension.
pub async fn load_session(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(id) = cookie(req.headers(), &cookie_name(&app, SESSION_COOKIE)).map(str::to_owned) {
        match resolve(&app, &id).await {
            Ok(Some(Resolved::Full(user))) => {
                req.extensions_mut().insert(user);
            }
            Ok(Some(Resolved::Pending(pending))) => {
                req.extensions_mut().insert(pending);
            }
            Ok(None) => {}
            Err(e) => return e.into_response(),
        }
    }
    next.run(req).await
}

/// Whether a user who must still set up two-factor authentication may reach `path`.
fn open_during_enrollment(path: &str) -> bool {
    path == ENROLLMENT_PATH || path.starts_with("/settings/security/") || path == "/logout"
}

/// Sends visitors without a session to the sign-in page, a sign-in half done to its second
/// step, and a user who must set up two-factor authentication to the Security tab.
pub async fn require_user(req: Request, next: Next) -> Response {
    match req.extensions().get::<CurrentUser>() {
        Some(u) if u.needs_enrollment && !open_during_enrollment(req.uri().path()) => {
            Redirect::to(ENROLLMENT_PATH).into_response()
        }
        Some(_) => next.run(req).await,
        None if req.extensions().get::<PendingSignin>().is_some() => {
            Redirect::to("/login/two-factor").into_response()
        }
        None => Redirect::to("/login").into_response(),
    }
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
