//! Ending one's own sessions: one (not someone else's) or all but this one.

use axum::extract::{Path, State};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};

use crate::auth::ClientAddr;
use crate::auth::session::{self, CurrentUser};
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// `POST /settings/security/sessions/{handle}/sign-out`.
pub async fn sign_out_session(
    State(app): State<AppState>,
    ClientAddr(source): ClientAddr,
    user: CurrentUser,
    Path(handle): Path<String>,
) -> AppResult<Response> {
    if !app
        .store
        .delete_user_session(&user.user.id, &handle)
        .await?
    {
        return Err(AppError::NotFound);
    }
    let event = AuditEvent::new(AuditAction::SessionsEnded, &user.user.username, &source)
        .target(&user.user.username)
        .detail("one session");
    app.store.audit(&event, crate::domain::now()).await?;
    if handle == user.handle {
        // This very session: cleared in the browser too, as by Sign out.
        let headers = session::end(&app, &user.session_hash).await?;
        return Ok((AppendHeaders(headers), Redirect::to("/login")).into_response());
    }
    Ok(Redirect::to("/settings/security?done=session").into_response())
}

/// `POST /settings/security/sessions/sign-out-others`.
pub async fn sign_out_others(
    State(app): State<AppState>,
    ClientAddr(source): ClientAddr,
    user: CurrentUser,
) -> AppResult<Response> {
    let n = app
        .store
        .delete_other_sessions(&user.user.id, &user.session_hash)
        .await?;
    let event = AuditEvent::new(AuditAction::SessionsEnded, &user.user.username, &source)
        .target(&user.user.username)
        .detail(format!("all other sessions ({n})"));
    app.store.audit(&event, crate::domain::now()).await?;
    Ok(Redirect::to("/settings/security?done=sessions").into_response())
}
