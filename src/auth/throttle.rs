//! Sign-in throttling per account and per source address, for the password and for the second
//! step alike. Failures are counted from the audit log, so every instance on a shared database
//! sees the same counts.

use crate::domain::audit::AuditAction;
use crate::error::AppResult;
use crate::state::AppState;

/// Why an attempt must wait, when the account (if one is named) or the source has had too many
/// `failure`s lately (`None`: go ahead).
pub async fn refusal(
    app: &AppState,
    failure: AuditAction,
    account: Option<&str>,
    source: &str,
    now: i64,
) -> AppResult<Option<String>> {
    let since = now - app.config.login_window_secs;
    let by_account = match account {
        Some(account) => app.store.count_by_actor(failure, account, since).await?,
        None => 0,
    };
    let by_source = app.store.count_by_source(failure, source, since).await?;
    if by_account >= app.config.login_max_failures_per_account
        || by_source >= app.config.login_max_failures_per_source
    {
        let minutes = app.config.login_window_secs / 60;
        let what = match failure {
            AuditAction::TwoFactorFailure => "codes",
            _ => "sign-ins",
        };
        return Ok(Some(format!(
            "Too many failed {what}. Wait {minutes} minutes and try again."
        )));
    }
    Ok(None)
}
