//! Signing in with a passkey: as the second step after the password, or alone (the browser
//! offers the site's discoverable passkeys; the user handle it returns must own the credential).
//! Both are throttled and audited like the forms they stand beside.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::{Extension, Form, Json};
use serde::Deserialize;
use serde_json::json;

use super::login::complete_signin;
use super::security::passkeys::{
    begin_ceremony, end_ceremony, json_error, no_passkeys, user_passkeys,
};
use crate::auth::passkeys::{self, parse_assertion};
use crate::auth::session::{self, PendingSignin};
use crate::auth::two_factor::Method;
use crate::auth::{ClientAddr, throttle};
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::passkeys::PasskeyRow;

/// The answer to a second-step request without a half-done sign-in.
const PASSWORD_FIRST: &str = "Sign in with your password first.";

/// The one message for a refused passkey.
const REFUSED: &str = "That passkey was not accepted.";

/// Who a failed passwordless attempt is audited as (no username is typed; it is throttled by
/// its source address).
const PASSKEY_ACTOR: &str = "[a passkey]";

/// The browser's assertion.
#[derive(Deserialize)]
pub struct AssertionForm {
    #[serde(default)]
    credential: String,
}

fn signed_in(cookies: Vec<(axum::http::HeaderName, axum::http::HeaderValue)>) -> Response {
    (
        AppendHeaders(cookies),
        Json(json!({ "redirect": "/dashboard" })),
    )
        .into_response()
}

/// Stamps the passkey's use, saving its new counter.
async fn record_use(
    app: &AppState,
    row: &PasskeyRow,
    result: &webauthn_rs::prelude::AuthenticationResult,
    now: i64,
) -> AppResult<()> {
    let mut key = passkeys::from_stored(&row.passkey)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("a stored passkey does not read")))?;
    let changed = key.update_credential(result) == Some(true);
    let stored = changed.then(|| passkeys::to_stored(&key));
    app.store
        .passkey_used(&row.id, stored.as_deref(), now)
        .await?;
    Ok(())
}

/// `POST /login/two-factor/passkey/options`.
pub async fn second_step_options(
    State(app): State<AppState>,
    pending: Option<Extension<PendingSignin>>,
) -> AppResult<Response> {
    let Some(rp) = app.passkeys.as_deref() else {
        return Ok(no_passkeys());
    };
    let Some(Extension(pending)) = pending else {
        return Ok(json_error(StatusCode::UNAUTHORIZED, PASSWORD_FIRST));
    };
    let keys = user_passkeys(&app, &pending.user.id).await?;
    if keys.is_empty() {
        return Ok(json_error(StatusCode::CONFLICT, "You have no passkey."));
    }
    let started = rp.start_authentication(&keys).map_err(AppError::internal)?;
    begin_ceremony(&app, "second-step", &pending.session_hash, started).await
}

/// `POST /login/two-factor/passkey`.
pub async fn second_step(
    State(app): State<AppState>,
    ClientAddr(source): ClientAddr,
    headers: HeaderMap,
    pending: Option<Extension<PendingSignin>>,
    Form(f): Form<AssertionForm>,
) -> AppResult<Response> {
    let Some(rp) = app.passkeys.as_deref() else {
        return Ok(no_passkeys());
    };
    let Some(Extension(pending)) = pending else {
        return Ok(json_error(StatusCode::UNAUTHORIZED, PASSWORD_FIRST));
    };
    let now = crate::domain::now();
    let user = &pending.user;
    let failure = AuditAction::TwoFactorFailure;
    if let Some(msg) = throttle::refusal(&app, failure, Some(&user.username), &source, now).await? {
        return Ok(json_error(StatusCode::TOO_MANY_REQUESTS, &msg));
    }
    let state = end_ceremony(&app, "second-step", &pending.session_hash, now).await?;
    let rows = app.store.passkeys(&user.id).await?;
    let verified = state.and_then(|state| {
        let credential = parse_assertion(&f.credential).ok()?;
        let result = rp.finish_authentication(&credential, &state).ok()?;
        let id = base64_id(result.cred_id());
        let row = rows.iter().find(|r| r.credential_id == id)?;
        Some((row.clone(), result))
    });
    let Some((row, result)) = verified else {
        let event = AuditEvent::new(failure, &user.username, &source).detail("passkey");
        app.store.audit(&event, now).await?;
        return Ok(json_error(StatusCode::UNAUTHORIZED, REFUSED));
    };
    record_use(&app, &row, &result, now).await?;
    let detail = format!(" \u{201c}{}\u{201d}", row.name);
    let cookies = complete_signin(
        &app,
        &headers,
        user,
        Some((Method::Passkey, detail)),
        &source,
        now,
    )
    .await?;
    Ok(signed_in(cookies))
}

fn base64_id(id: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

/// `POST /login/passkey/options`: a passwordless sign-in, anchored to the pre-sign-in cookie.
pub async fn sign_in_options(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let Some(rp) = app.passkeys.as_deref() else {
        return Ok(no_passkeys());
    };
    let (anchor, made) = session::login_anchor(&app, &headers);
    if made.is_some() {
        let msg = "Reload the sign-in page and try again.";
        return Ok(json_error(StatusCode::UNAUTHORIZED, msg));
    }
    let started = rp.start_discoverable().map_err(AppError::internal)?;
    begin_ceremony(&app, "sign-in", &anchor, started).await
}

/// `POST /login/passkey`.
pub async fn sign_in(
    State(app): State<AppState>,
    ClientAddr(source): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<AssertionForm>,
) -> AppResult<Response> {
    let Some(rp) = app.passkeys.as_deref() else {
        return Ok(no_passkeys());
    };
    let now = crate::domain::now();
    let failure = AuditAction::SigninFailure;
    // By source only: no username is typed, and counting every passwordless failure against one
    // shared name would let anyone shut passkey sign-in for all.
    if let Some(msg) = throttle::refusal(&app, failure, None, &source, now).await? {
        return Ok(json_error(StatusCode::TOO_MANY_REQUESTS, &msg));
    }
    let (anchor, _) = session::login_anchor(&app, &headers);
    let state = end_ceremony(&app, "sign-in", &anchor, now).await?;
    let found = match (state, parse_assertion(&f.credential)) {
        (Some(state), Ok(credential)) => match rp.identify(&credential) {
            Ok((handle, id)) => app
                .store
                .passkey_by_credential(&id)
                .await?
                // The handle the authenticator returns must be the credential's owner's.
                .filter(|row| passkeys::user_handle(&row.user_id) == Some(handle))
                .map(|row| (row, credential, state)),
            Err(_) => None,
        },
        _ => None,
    };
    let mut signed = None;
    if let Some((row, credential, state)) = found
        && let Some(key) = passkeys::from_stored(&row.passkey)
        && let Ok(result) = rp.finish_discoverable(&credential, &state, &key)
        && let Some(user) = app.store.user(&row.user_id).await?.filter(|u| !u.disabled)
    {
        signed = Some((row, result, user));
    }
    let Some((row, result, user)) = signed else {
        let event = AuditEvent::new(failure, PASSKEY_ACTOR, &source).detail("passkey");
        app.store.audit(&event, now).await?;
        return Ok(json_error(StatusCode::UNAUTHORIZED, REFUSED));
    };
    record_use(&app, &row, &result, now).await?;
    let detail = format!(" \u{201c}{}\u{201d}, no password", row.name);
    let cookies = complete_signin(
        &app,
        &headers,
        &user,
        Some((Method::Passkey, detail)),
        &source,
        now,
    )
    .await?;
    Ok(signed_in(cookies))
}
