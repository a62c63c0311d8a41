//! The Security tab (`/settings/security`), for every signed-in user: their password, second
//! factors (authenticator app, recovery codes, passkeys) and sessions; for admins also the
//! "Require two-factor authentication" setting.

mod factors;
pub mod passkeys;
mod password;
mod sessions;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::session::CurrentUser;
use crate::domain::two_factor::{RequireTwoFactor, browser_name};
use crate::error::AppResult;
use crate::state::AppState;
use crate::web::view::{self, Chrome, render};

pub use factors::{confirm_totp, disable_totp, regenerate_recovery_codes, setup_totp, totp_page};
pub use password::change_password;
pub use sessions::{sign_out_others, sign_out_session};

/// What a finished action says at the top of the tab (`?done=`).
fn notice(done: &str) -> &'static str {
    match done {
        "password" => "Password changed. Your other sessions were signed out.",
        "totp-on" => "Authenticator app set up. Sign-ins now ask for a code.",
        "totp-off" => "Authenticator app turned off.",
        "passkey-added" => "Passkey added.",
        "passkey-renamed" => "Passkey renamed.",
        "passkey-removed" => "Passkey removed.",
        "session" => "That session was signed out.",
        "sessions" => "All your other sessions were signed out.",
        "requirement" => "Two-factor requirement saved.",
        "codes" => "Recovery codes made. They are not shown again.",
        _ => "",
    }
}

/// Errors to show in a section of the tab.
#[derive(Debug, Default)]
pub(crate) struct Feedback {
    pub(crate) password: String,
    pub(crate) totp: String,
    pub(crate) passkeys: String,
    pub(crate) requirement: String,
}

struct PasskeyView {
    id: String,
    name: String,
    added: String,
    last_used: String,
}

struct SessionView {
    handle: String,
    browser: String,
    source: String,
    started: String,
    last_active: String,
    current: bool,
    pending: bool,
}

#[derive(Template)]
#[template(path = "settings/security.html")]
struct SecurityPage {
    chrome: Chrome,
    notice: &'static str,
    needs_enrollment: bool,
    feedback: Feedback,
    totp: bool,
    recovery_left: i64,
    passkeys_available: bool,
    passkeys: Vec<PasskeyView>,
    sessions: Vec<SessionView>,
    requirement: Option<Vec<(&'static str, &'static str, bool)>>,
}

/// Renders the tab for `user` with `notice` on top and `feedback` in its sections.
pub(crate) async fn security_page(
    app: &AppState,
    user: &CurrentUser,
    notice: &'static str,
    feedback: Feedback,
    status: StatusCode,
) -> AppResult<Response> {
    let now = crate::domain::now();
    let id = &user.user.id;
    let (factors, keys, sessions, setting) = tokio::try_join!(
        app.store.factors(id),
        app.store.passkeys(id),
        app.store.user_sessions(id),
        app.store.setting(RequireTwoFactor::KEY),
    )?;
    let current = RequireTwoFactor::from_stored(setting.as_deref());
    let page = SecurityPage {
        chrome: Chrome::new(user, "settings", "security"),
        notice,
        needs_enrollment: user.needs_enrollment,
        feedback,
        totp: factors.totp,
        recovery_left: factors.recovery_left,
        passkeys_available: app.passkeys.is_some(),
        passkeys: keys
            .into_iter()
            .map(|k| PasskeyView {
                id: k.id,
                name: k.name,
                added: view::datetime(k.created_at),
                last_used: k
                    .last_used_at
                    .map_or("Never".into(), |t| view::relative(t, now)),
            })
            .collect(),
        sessions: sessions
            .into_iter()
            .map(|s| SessionView {
                current: s.handle == user.handle,
                browser: browser_name(&s.user_agent),
                source: if s.source.is_empty() {
                    "—".into()
                } else {
                    s.source
                },
                started: view::datetime(s.created_at),
                last_active: view::relative(s.last_seen_at, now),
                pending: s.pending,
                handle: s.handle,
            })
            .collect(),
        requirement: user.user.is_admin().then(|| {
            RequireTwoFactor::ALL
                .into_iter()
                .map(|r| (r.as_str(), r.label(), r == current))
                .collect()
        }),
    };
    render(status, &page)
}

/// `?done=` of the tab.
#[derive(Deserialize)]
pub struct Done {
    #[serde(default)]
    done: String,
}

/// `GET /settings/security`.
pub async fn show(
    State(app): State<AppState>,
    user: CurrentUser,
    Query(q): Query<Done>,
) -> AppResult<Response> {
    security_page(
        &app,
        &user,
        notice(&q.done),
        Feedback::default(),
        StatusCode::OK,
    )
    .await
}

/// The form of the "Require two-factor authentication" select.
#[derive(Deserialize)]
pub struct RequirementForm {
    #[serde(default)]
    require: String,
}

/// `POST /settings/security/require-two-factor` (admins).
pub async fn save_requirement(
    State(app): State<AppState>,
    crate::auth::ClientAddr(source): crate::auth::ClientAddr,
    user: CurrentUser,
    axum::Form(f): axum::Form<RequirementForm>,
) -> AppResult<Response> {
    use crate::domain::audit::{AuditAction, AuditEvent};
    if !user.user.is_admin() {
        return Err(crate::error::AppError::Forbidden(
            "Only administrators change this setting.".into(),
        ));
    }
    let fail = |msg: &str| Feedback {
        requirement: msg.to_owned(),
        ..Feedback::default()
    };
    let Some(choice) = RequireTwoFactor::parse(&f.require) else {
        let fb = fail("Choose No one, Admins or Everyone.");
        return security_page(&app, &user, "", fb, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    if user.needs_enrollment {
        let fb = fail("Set up two-factor authentication for yourself first.");
        return security_page(&app, &user, "", fb, StatusCode::CONFLICT).await;
    }
    app.store
        .set_setting(RequireTwoFactor::KEY, choice.as_str())
        .await?;
    let event = AuditEvent::new(
        AuditAction::TwoFactorRequirementChanged,
        &user.user.username,
        &source,
    )
    .detail(choice.label());
    app.store.audit(&event, crate::domain::now()).await?;
    Ok(axum::response::Redirect::to("/settings/security?done=requirement").into_response())
}
