//! Changing one's own password: the current one required (a wrong one counts against the
//! sign-in throttle), the new one checked by the password rules, every other session ended.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Feedback, security_page};
use crate::auth::session::CurrentUser;
use crate::auth::{ClientAddr, password, throttle};
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::error::AppResult;
use crate::state::AppState;

/// The Password section's fields.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// `POST /settings/security/password`.
pub async fn change_password(
    State(app): State<AppState>,
    ClientAddr(source): ClientAddr,
    user: CurrentUser,
    Form(f): Form<PasswordForm>,
) -> AppResult<Response> {
    let now = crate::domain::now();
    let name = user.user.username.clone();
    let refuse = |msg: String, status| {
        let fb = Feedback {
            password: msg,
            ..Feedback::default()
        };
        security_page(&app, &user, "", fb, status)
    };
    let failure = AuditAction::SigninFailure;
    if let Some(msg) = throttle::refusal(&app, failure, Some(&name), &source, now).await? {
        return refuse(msg, StatusCode::TOO_MANY_REQUESTS).await;
    }
    if !password::is_current(&app.store, &name, &f.current_password).await? {
        let event = AuditEvent::new(AuditAction::SigninFailure, &name, &source)
            .detail("wrong current password when changing it");
        app.store.audit(&event, now).await?;
        let msg = "The current password is not right.".to_owned();
        return refuse(msg, StatusCode::UNAUTHORIZED).await;
    }
    if f.new_password != f.confirm_password {
        let msg = "The new password and its confirmation differ.".to_owned();
        return refuse(msg, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    if let Err(msg) = password::check_new_password(&f.new_password, &name) {
        return refuse(msg, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    if f.new_password == f.current_password {
        let msg = "The new password is the current one: choose another.".to_owned();
        return refuse(msg, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let hash = password::hash(f.new_password).await?;
    app.store
        .set_password(&user.user.id, &hash, Some(&user.session_hash))
        .await?;
    let event = AuditEvent::new(AuditAction::PasswordChanged, &name, &source)
        .target(&name)
        .detail("other sessions signed out");
    app.store.audit(&event, now).await?;
    Ok(Redirect::to("/settings/security?done=password").into_response())
}
