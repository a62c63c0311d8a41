//! Passkeys on the Security tab: add (the browser's ceremony, driven by `static/app.js`),
//! rename, remove. The ceremony's two requests are forms (so the CSRF layer checks them like
//! any other) answered with JSON.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::json;

use super::factors::may_remove_factor;
use super::{Feedback, security_page};
use crate::auth::ClientAddr;
use crate::auth::passkeys::{self, CEREMONY_SECS, ceremony_key};
use crate::auth::session::CurrentUser;
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::text;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::passkeys::PasskeyRow;

/// A JSON answer to the ceremony's script: `{"error": …}` with `status`.
pub(crate) fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The answer when this server offers no passkeys (no `--public-url`, not on loopback).
pub(crate) fn no_passkeys() -> Response {
    json_error(StatusCode::CONFLICT, "This server offers no passkeys.")
}

/// A passkey's name: one line, 1–64 characters.
fn check_name(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || text::check_one_line(name).is_err() {
        return Err("Name the passkey in one line of at most 64 characters.");
    }
    Ok(name.to_owned())
}

/// `POST /settings/security/passkeys/options`: what `navigator.credentials.create()` needs.
pub async fn options(State(app): State<AppState>, user: CurrentUser) -> AppResult<Response> {
    let Some(rp) = &app.passkeys else {
        return Ok(no_passkeys());
    };
    let handle = passkeys::user_handle(&user.user.id)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("a user id is not a UUID")))?;
    let existing = user_passkeys(&app, &user.user.id).await?;
    let started = rp
        .start_registration(handle, &user.user.username, user.user.name(), &existing)
        .map_err(AppError::internal)?;
    begin_ceremony(&app, "register", &user.session_hash, started).await
}

/// A user's passkeys as webauthn-rs reads them.
pub(crate) async fn user_passkeys(
    app: &AppState,
    user_id: &str,
) -> AppResult<Vec<webauthn_rs::prelude::Passkey>> {
    let rows = app.store.passkeys(user_id).await?;
    Ok(rows
        .iter()
        .filter_map(|row| passkeys::from_stored(&row.passkey))
        .collect())
}

/// Takes (once) the state [`begin_ceremony`] kept for `purpose` under `anchor`, unless the
/// ceremony has timed out.
pub(crate) async fn end_ceremony(
    app: &AppState,
    purpose: &str,
    anchor: &str,
    now: i64,
) -> AppResult<Option<String>> {
    let key = ceremony_key(purpose, anchor);
    Ok(app.store.take_ceremony(&key, now - CEREMONY_SECS).await?)
}

/// Keeps a ceremony's state for `purpose` under `anchor` (until its second request takes it)
/// and answers the browser the ceremony's options.
pub(crate) async fn begin_ceremony(
    app: &AppState,
    purpose: &str,
    anchor: &str,
    (options, state): (serde_json::Value, String),
) -> AppResult<Response> {
    let key = ceremony_key(purpose, anchor);
    app.store
        .put_ceremony(&key, &state, crate::domain::now())
        .await?;
    Ok(Json(options).into_response())
}

/// The new passkey's name and the browser's credential (JSON).
#[derive(Deserialize)]
pub struct FinishForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    credential: String,
}

/// `POST /settings/security/passkeys`: stores the new passkey. Answers where to go next, and
/// whether recovery codes are still to be made (the first second factor).
pub async fn add(
    State(app): State<AppState>,
    ClientAddr(source): ClientAddr,
    user: CurrentUser,
    Form(f): Form<FinishForm>,
) -> AppResult<Response> {
    let Some(rp) = &app.passkeys else {
        return Ok(no_passkeys());
    };
    let now = crate::domain::now();
    let name = match check_name(&f.name) {
        Ok(n) => n,
        Err(msg) => return Ok(json_error(StatusCode::UNPROCESSABLE_ENTITY, msg)),
    };
    let Some(state) = end_ceremony(&app, "register", &user.session_hash, now).await? else {
        let msg = "The passkey request has expired: try again.";
        return Ok(json_error(StatusCode::CONFLICT, msg));
    };
    let passkey = match rp.finish_registration(&f.credential, &state) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = %e, "passkey registration refused");
            let msg = "The browser's answer did not hold up: the passkey was not added.";
            return Ok(json_error(StatusCode::UNPROCESSABLE_ENTITY, msg));
        }
    };
    let first = !app.store.factors(&user.user.id).await?.any();
    let row = PasskeyRow {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user.user.id.clone(),
        name: name.clone(),
        credential_id: passkeys::credential_id(&passkey),
        passkey: passkeys::to_stored(&passkey),
        created_at: now,
        last_used_at: None,
    };
    match app.store.add_passkey(&row).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            let msg = "That passkey is already registered.";
            return Ok(json_error(StatusCode::CONFLICT, msg));
        }
        Err(e) => return Err(e.into()),
    }
    let name_of = &user.user.username;
    let event = AuditEvent::new(AuditAction::PasskeyAdded, name_of, &source)
        .target(name_of)
        .detail(&name);
    app.store.audit(&event, now).await?;
    let recovery_needed = first && app.store.factors(&user.user.id).await?.recovery_left == 0;
    Ok(Json(json!({
        "redirect": "/settings/security?done=passkey-added",
        "recovery_codes": recovery_needed,
    }))
    .into_response())
}

/// A passkey's new name.
#[derive(Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    name: String,
}

/// `POST /settings/security/passkeys/{id}/rename`.
pub async fn rename(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(f): Form<RenameForm>,
) -> AppResult<Response> {
    let name = match check_name(&f.name) {
        Ok(n) => n,
        Err(msg) => {
            let fb = Feedback {
                passkeys: msg.into(),
                ..Feedback::default()
            };
            return security_page(&app, &user, "", fb, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    if !app.store.rename_passkey(&user.user.id, &id, &name).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to("/settings/security?done=passkey-renamed").into_response())
}

/// `POST /settings/security/passkeys/{id}/remove`.
pub async fn remove(
    State(app): State<AppState>,
    ClientAddr(source): ClientAddr,
    user: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let rows = app.store.passkeys(&user.user.id).await?;
    let Some(row) = rows.iter().find(|r| r.id == id) else {
        return Err(AppError::NotFound);
    };
    if !may_remove_factor(&app, &user, false).await? {
        let fb = Feedback {
            passkeys: "Two-factor authentication is required for your account: this is your last second factor.".into(),
            ..Feedback::default()
        };
        return security_page(&app, &user, "", fb, StatusCode::CONFLICT).await;
    }
    if !app.store.remove_passkey(&user.user.id, &id).await? {
        return Err(AppError::NotFound);
    }
    let name_of = &user.user.username;
    let event = AuditEvent::new(AuditAction::PasskeyRemoved, name_of, &source)
        .target(name_of)
        .detail(&row.name);
    app.store.audit(&event, crate::domain::now()).await?;
    Ok(Redirect::to("/settings/security?done=passkey-removed").into_response())
}
