//! Sign-in throttling per account and per source address. Failures are counted from the audit
//! log, so every instance on a shared database sees the same counts.

use crate::domain::audit::AuditAction;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Refuses a sign-in attempt when the account or the source has failed too often lately.
pub async fn check(app: &AppState, username: &str, source: &str, now: i64) -> AppResult<()> {
    let since = now - app.config.login_window_secs;
    let by_account = app
        .store
        .count_by_actor(AuditAction::SigninFailure, username, since)
        .await?;
    let by_source = app
        .store
        .count_by_source(AuditAction::SigninFailure, source, since)
        .await?;
    if by_account >= app.config.login_max_failures_per_account
        || by_source >= app.config.login_max_failures_per_source
    {
        let minutes = app.config.login_window_secs / 60;
        return Err(AppError::TooManyRequests(format!(
            "Too many failed sign-ins. Wait {minutes} minutes and try again."
        )));
    }
    Ok(())
}
