//! Sign in and sign out.

use askama::Template;
use axum::Extension;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::view::{Chrome, render};
use crate::auth::session::{self, MaybeUser, PendingSignin, csrf_for};
use crate::auth::two_factor::Method;
use crate::auth::{ClientAddr, password, throttle};
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::token;
use crate::error::AppResult;
use crate::state::AppState;
use crate::store::sessions::SessionStage;
use crate::store::users::User;

/// The one message for every failed sign-in: no hint whether the user exists.
pub const BAD_CREDENTIALS: &str = "Incorrect username or password.";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    username: String,
    error: String,
    passkeys: bool,
}

fn page(
    app: &AppState,
    headers: &HeaderMap,
    username: String,
    error: String,
    status: StatusCode,
) -> AppResult<Response> {
    let (anchor, set_cookie) = session::login_anchor(app, headers);
    let chrome = Chrome {
        csrf: crate::auth::csrf::mask(&csrf_for(&anchor)),
        nav: "login",
        ..Chrome::default()
    };
    let page = render(
        status,
        &LoginPage {
            chrome,
            username,
            error,
            passkeys: app.passkeys.is_some(),
        },
    )?;
    let cookie = set_cookie.map(|c| (header::SET_COOKIE, c));
    Ok((AppendHeaders(cookie), page).into_response())
}

/// `GET /login`.
pub async fn form(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    pending: Option<Extension<PendingSignin>>,
    headers: HeaderMap,
) -> AppResult<Response> {
    if user.is_some() {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    // Half-way through: the second step (whose Cancel starts over).
    if pending.is_some() {
        return Ok(Redirect::to("/login/two-factor").into_response());
    }
    page(&app, &headers, String::new(), String::new(), StatusCode::OK)
}

/// Sign-in form fields.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `POST /login`.
pub async fn submit(
    State(app): State<AppState>,
    ClientAddr(source): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> AppResult<Response> {
    let now = crate::domain::now();
    let username = f.username.trim().to_owned();
    if username.is_empty() || f.password.is_empty() || username.len() > 64 {
        return page(
            &app,
            &headers,
            username,
            BAD_CREDENTIALS.into(),
            StatusCode::UNAUTHORIZED,
        );
    }
    // A token pasted into the username field is a secret: it is audited and throttled under a
    // stand-in, never in clear. (A real username that is also a well-formed token, checksum
    // and all, would only share that stand-in's throttle.)
    let actor = if token::parse(&username).is_ok() {
        "[a token]".to_owned()
    } else {
        username.clone()
    };
    let failure = AuditAction::SigninFailure;
    if let Some(msg) = throttle::refusal(&app, failure, Some(&actor), &source, now).await? {
        return page(&app, &headers, username, msg, StatusCode::TOO_MANY_REQUESTS);
    }
    let found = app.store.user_for_login(&username).await?;
    let (user, stored) = match found {
        Some((u, h)) => (Some(u), Some(h)),
        None => (None, None),
    };
    let ok = password::verify(f.password, stored).await?;
    let user = match user {
        Some(u) if ok && !u.disabled => u,
        _ => {
            let event = AuditEvent::new(AuditAction::SigninFailure, actor, source);
            app.store.audit(&event, now).await?;
            return page(
                &app,
                &headers,
                username,
                BAD_CREDENTIALS.into(),
                StatusCode::UNAUTHORIZED,
            );
        }
    };
    if app.store.factors(&user.id).await?.any() {
        let stage = SessionStage::SecondFactor;
        let cookies = session::start(&app, &headers, &user, stage, &source, now).await?;
        return Ok((AppendHeaders(cookies), Redirect::to("/login/two-factor")).into_response());
    }
    let cookies = complete_signin(&app, &headers, &user, None, &source, now).await?;
    Ok((AppendHeaders(cookies), Redirect::to("/dashboard")).into_response())
}

/// Signs `user` in for good (a fresh session id), with `second` as the second factor if any
/// (and what to add to its audit entry); returns the session's `Set-Cookie` headers.
pub async fn complete_signin(
    app: &AppState,
    headers: &HeaderMap,
    user: &User,
    second: Option<(Method, String)>,
    source: &str,
    now: i64,
) -> AppResult<Vec<(header::HeaderName, header::HeaderValue)>> {
    let cookies = session::start(app, headers, user, SessionStage::Full, source, now).await?;
    app.store.record_login(&user.id, now).await?;
    let mut event = AuditEvent::new(AuditAction::SigninSuccess, &user.username, source);
    if let Some((method, detail)) = second {
        event = event.detail(format!("with {}{detail}", method.label()));
    }
    app.store.audit(&event, now).await?;
    Ok(cookies)
}

/// `POST /logout`: destroys the session (signed in, or half-way through sign-in) server-side
/// and clears the browser's copy.
pub async fn logout(
    State(app): State<AppState>,
    ClientAddr(source): ClientAddr,
    MaybeUser(user): MaybeUser,
    pending: Option<Extension<PendingSignin>>,
) -> AppResult<Response> {
    let (hash, username) = match (user, pending) {
        (Some(u), _) => (u.session_hash, u.user.username),
        (None, Some(Extension(p))) => (p.session_hash, p.user.username),
        (None, None) => return Ok(Redirect::to("/login").into_response()),
    };
    let headers = session::end(&app, &hash).await?;
    let event = AuditEvent::new(AuditAction::Signout, &username, source);
    app.store.audit(&event, crate::domain::now()).await?;
    Ok((AppendHeaders(headers), Redirect::to("/login")).into_response())
}
