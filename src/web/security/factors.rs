//! The authenticator app (set up with a server-drawn QR code, confirmed by a code, turned off
//! with a code or the password) and recovery codes (shown once, regenerable).

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Feedback, security_page};
use crate::auth::session::CurrentUser;
use crate::auth::{ClientAddr, password, throttle, totp, two_factor};
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::two_factor::RequireTwoFactor;
use crate::error::AppResult;
use crate::layers::CarriesSecret;
use crate::state::AppState;
use crate::web::view::{Chrome, render};

#[derive(Template)]
#[template(path = "settings/totp_setup.html")]
struct SetupPage {
    chrome: Chrome,
    qr_svg: String,
    secret: String,
    error: String,
}

#[derive(Template)]
#[template(path = "settings/recovery_codes.html")]
struct CodesPage {
    chrome: Chrome,
    codes: Vec<String>,
    first: bool,
}

/// The show-once page of new recovery codes (`first`: made with the first second factor).
pub(crate) async fn codes_page(
    app: &AppState,
    user: &CurrentUser,
    first: bool,
) -> AppResult<Response> {
    let codes = two_factor::new_recovery_codes(app, &user.user.id).await?;
    let page = CodesPage {
        chrome: Chrome::new(user, "settings", "security"),
        codes,
        first,
    };
    let mut shown = render(StatusCode::OK, &page)?;
    shown.extensions_mut().insert(CarriesSecret);
    Ok(shown)
}

/// `POST /settings/security/totp/setup`: a new secret, not yet confirmed.
pub async fn setup_totp(State(app): State<AppState>, user: CurrentUser) -> AppResult<Response> {
    let id = &user.user.id;
    let sealed = app.secret_key.seal(id, &totp::new_secret());
    if !app
        .store
        .begin_totp(id, &sealed, crate::domain::now())
        .await?
    {
        let fb = Feedback {
            totp: "An authenticator app is already set up: turn it off first to change it.".into(),
            ..Feedback::default()
        };
        return security_page(&app, &user, "", fb, StatusCode::CONFLICT).await;
    }
    Ok(Redirect::to("/settings/security/totp").into_response())
}

async fn setup_page(
    app: &AppState,
    user: &CurrentUser,
    error: String,
    status: StatusCode,
) -> AppResult<Response> {
    let row = app.store.totp(&user.user.id).await?;
    let Some(row) = row.filter(|r| r.confirmed_at.is_none()) else {
        return Ok(Redirect::to("/settings/security").into_response());
    };
    let secret = two_factor::open_secret(app, &user.user.id, &row.secret)?;
    let page = SetupPage {
        chrome: Chrome::new(user, "settings", "security"),
        qr_svg: totp::qr_svg(&totp::otpauth_uri(&user.user.username, &secret)),
        secret: totp::secret_text(&secret),
        error,
    };
    let mut shown = render(status, &page)?;
    shown.extensions_mut().insert(CarriesSecret);
    Ok(shown)
}

/// `GET /settings/security/totp`: the QR code and secret of the unconfirmed set-up.
pub async fn totp_page(State(app): State<AppState>, user: CurrentUser) -> AppResult<Response> {
    setup_page(&app, &user, String::new(), StatusCode::OK).await
}

/// A code typed into a form.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// `POST /settings/security/totp/confirm`.
pub async fn confirm_totp(
    State(app): State<AppState>,
    ClientAddr(source): ClientAddr,
    user: CurrentUser,
    Form(f): Form<CodeForm>,
) -> AppResult<Response> {
    let now = crate::domain::now();
    let id = &user.user.id;
    let Some(row) = app
        .store
        .totp(id)
        .await?
        .filter(|r| r.confirmed_at.is_none())
    else {
        return Ok(Redirect::to("/settings/security").into_response());
    };
    let step = app
        .secret_key
        .open(id, &row.secret)
        .and_then(|secret| totp::matching_step(&secret, &f.code, now));
    let confirmed = match step {
        Some(step) => app.store.confirm_totp(id, &row.secret, step, now).await?,
        None => false,
    };
    if !confirmed {
        let msg = "That code does not match: check the app's clock and type the code it shows now."
            .to_owned();
        return setup_page(&app, &user, msg, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let event = AuditEvent::new(AuditAction::TotpEnabled, &user.user.username, &source)
        .target(&user.user.username);
    app.store.audit(&event, now).await?;
    if app.store.factors(id).await?.recovery_left == 0 {
        return codes_page(&app, &user, true).await;
    }
    Ok(Redirect::to("/settings/security?done=totp-on").into_response())
}

/// Whether removing one of the user's second factors leaves them one when one is required.
pub(crate) async fn may_remove_factor(
    app: &AppState,
    user: &CurrentUser,
    removing_totp: bool,
) -> AppResult<bool> {
    let setting = app.store.setting(RequireTwoFactor::KEY).await?;
    if !RequireTwoFactor::from_stored(setting.as_deref()).applies_to(user.user.is_admin()) {
        return Ok(true);
    }
    let f = app.store.factors(&user.user.id).await?;
    let left = i64::from(f.totp && !removing_totp) + f.passkeys - i64::from(!removing_totp);
    Ok(left > 0)
}

/// The turn-off form: a current code, or the password.
#[derive(Deserialize)]
pub struct ProofForm {
    #[serde(default)]
    proof: String,
}

/// `POST /settings/security/totp/disable`.
pub async fn disable_totp(
    State(app): State<AppState>,
    ClientAddr(source): ClientAddr,
    user: CurrentUser,
    Form(f): Form<ProofForm>,
) -> AppResult<Response> {
    let now = crate::domain::now();
    let name = &user.user.username;
    let refuse = |msg: String, status| {
        let fb = Feedback {
            totp: msg,
            ..Feedback::default()
        };
        security_page(&app, &user, "", fb, status)
    };
    let failure = AuditAction::TwoFactorFailure;
    if let Some(msg) = throttle::refusal(&app, failure, Some(name), &source, now).await? {
        return refuse(msg, StatusCode::TOO_MANY_REQUESTS).await;
    }
    if !app.store.factors(&user.user.id).await?.totp {
        return refuse(
            "No authenticator app is set up.".into(),
            StatusCode::CONFLICT,
        )
        .await;
    }
    if !may_remove_factor(&app, &user, true).await? {
        let msg = "Two-factor authentication is required for your account: add a passkey before turning the app off.".to_owned();
        return refuse(msg, StatusCode::CONFLICT).await;
    }
    let proof = f.proof.trim();
    let proven = if totp::looks_like_code(proof) {
        two_factor::check_code(&app, &user.user.id, proof, false, now)
            .await?
            .is_some()
    } else {
        password::is_current(&app.store, name, &f.proof).await?
    };
    if !proven {
        let event =
            AuditEvent::new(failure, name, &source).detail("turning off the authenticator app");
        app.store.audit(&event, now).await?;
        let msg = "Type a current code from the app, or your password.".to_owned();
        return refuse(msg, StatusCode::UNAUTHORIZED).await;
    }
    app.store.delete_totp(&user.user.id).await?;
    let event = AuditEvent::new(AuditAction::TotpDisabled, name, &source).target(name);
    app.store.audit(&event, now).await?;
    Ok(Redirect::to("/settings/security?done=totp-off").into_response())
}

/// `POST /settings/security/recovery-codes`: ten new codes, the old ones void.
pub async fn regenerate_recovery_codes(
    State(app): State<AppState>,
    ClientAddr(source): ClientAddr,
    user: CurrentUser,
) -> AppResult<Response> {
    let factors = app.store.factors(&user.user.id).await?;
    if !factors.any() {
        let fb = Feedback {
            totp: "Recovery codes come with a second factor: set up an authenticator app or a passkey first.".into(),
            ..Feedback::default()
        };
        return security_page(&app, &user, "", fb, StatusCode::CONFLICT).await;
    }
    let first = factors.recovery_left == 0;
    let name = &user.user.username;
    let event = AuditEvent::new(AuditAction::RecoveryCodesRegenerated, name, &source).target(name);
    app.store.audit(&event, crate::domain::now()).await?;
    codes_page(&app, &user, first).await
}
