//! The second sign-in step (`/login/two-factor`): an authenticator code, a recovery code or a
//! passkey, throttled like the password. Until it succeeds the half-signed-in session reaches
//! nothing else.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::login::complete_signin;
use super::view::{Chrome, render};
use crate::auth::session::PendingSignin;
use crate::auth::two_factor::{self, Method};
use crate::auth::{ClientAddr, throttle};
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::error::AppResult;
use crate::state::AppState;

/// The one message for a wrong, used or late code.
pub const BAD_CODE: &str = "That code is not right, or it was already used.";

#[derive(Template)]
#[template(path = "login_two_factor.html")]
struct SecondStepPage {
    chrome: Chrome,
    username: String,
    has_totp: bool,
    has_passkeys: bool,
    error: String,
}

async fn page(
    app: &AppState,
    pending: &PendingSignin,
    error: String,
    status: StatusCode,
) -> AppResult<Response> {
    let factors = app.store.factors(&pending.user.id).await?;
    let chrome = Chrome {
        csrf: crate::auth::csrf::mask(&pending.csrf),
        nav: "login",
        ..Chrome::default()
    };
    render(
        status,
        &SecondStepPage {
            chrome,
            username: pending.user.username.clone(),
            has_totp: factors.totp,
            has_passkeys: factors.passkeys > 0 && app.passkeys.is_some(),
            error,
        },
    )
}

/// `GET /login/two-factor`.
pub async fn form(
    State(app): State<AppState>,
    pending: Option<Extension<PendingSignin>>,
) -> AppResult<Response> {
    match pending {
        Some(Extension(p)) => page(&app, &p, String::new(), StatusCode::OK).await,
        None => Ok(Redirect::to("/login").into_response()),
    }
}

/// Second-step form fields.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// `POST /login/two-factor`.
pub async fn submit(
    State(app): State<AppState>,
    ClientAddr(source): ClientAddr,
    headers: HeaderMap,
    pending: Option<Extension<PendingSignin>>,
    Form(f): Form<CodeForm>,
) -> AppResult<Response> {
    let Some(Extension(pending)) = pending else {
        return Ok(Redirect::to("/login").into_response());
    };
    let now = crate::domain::now();
    let user = &pending.user;
    let failure = AuditAction::TwoFactorFailure;
    if let Some(msg) = throttle::refusal(&app, failure, Some(&user.username), &source, now).await? {
        return page(&app, &pending, msg, StatusCode::TOO_MANY_REQUESTS).await;
    }
    let typed = f.code.trim();
    let method = if typed.is_empty() || typed.len() > 64 {
        None
    } else {
        two_factor::check_code(&app, &user.id, typed, true, now).await?
    };
    let Some(method) = method else {
        let event = AuditEvent::new(AuditAction::TwoFactorFailure, &user.username, &source);
        app.store.audit(&event, now).await?;
        return page(&app, &pending, BAD_CODE.into(), StatusCode::UNAUTHORIZED).await;
    };
    let detail = if method == Method::RecoveryCode {
        let left = app.store.factors(&user.id).await?.recovery_left;
        format!(" ({left} left)")
    } else {
        String::new()
    };
    let cookies =
        complete_signin(&app, &headers, user, Some((method, detail)), &source, now).await?;
    Ok((AppendHeaders(cookies), Redirect::to("/dashboard")).into_response())
}
