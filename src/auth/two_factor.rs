//! The second sign-in step's checks: an authenticator code (each step accepted once, whichever
//! instance sees it) or a recovery code (each used once). Passkeys are in `passkeys.rs`.

use crate::auth::{recovery, totp};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// What proved the second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A code from the authenticator app.
    AuthenticatorApp,
    /// A recovery code (now used up).
    RecoveryCode,
    /// A passkey.
    Passkey,
}

impl Method {
    /// How the audit log names it.
    pub fn label(self) -> &'static str {
        match self {
            Method::AuthenticatorApp => "authenticator app",
            Method::RecoveryCode => "recovery code",
            Method::Passkey => "passkey",
        }
    }
}

/// The user's confirmed TOTP secret, decrypted.
async fn confirmed_secret(app: &AppState, user_id: &str) -> AppResult<Option<Vec<u8>>> {
    let Some(row) = app.store.totp(user_id).await? else {
        return Ok(None);
    };
    if row.confirmed_at.is_none() {
        return Ok(None);
    }
    open_secret(app, user_id, &row.secret).map(Some)
}

/// A user's sealed TOTP secret, decrypted (a 500 when it does not decrypt).
pub fn open_secret(app: &AppState, user_id: &str, sealed: &str) -> AppResult<Vec<u8>> {
    app.secret_key.open(user_id, sealed).ok_or_else(|| {
        AppError::internal(anyhow::anyhow!(
            "an authenticator secret does not decrypt: is this the secret key file it was made with?"
        ))
    })
}

/// Checks `typed` (an authenticator code, or with `recovery_allowed` a recovery code) for
/// `user_id` at `now`, and uses it up. `None` when it is wrong, or already used.
pub async fn check_code(
    app: &AppState,
    user_id: &str,
    typed: &str,
    recovery_allowed: bool,
    now: i64,
) -> AppResult<Option<Method>> {
    if totp::looks_like_code(typed) {
        let Some(secret) = confirmed_secret(app, user_id).await? else {
            return Ok(None);
        };
        let Some(step) = totp::matching_step(&secret, typed, now) else {
            return Ok(None);
        };
        let fresh = app.store.accept_totp_step(user_id, step).await?;
        return Ok(fresh.then_some(Method::AuthenticatorApp));
    }
    if !recovery_allowed {
        return Ok(None);
    }
    let Some(code) = recovery::normalize(typed) else {
        return Ok(None);
    };
    let used = app
        .store
        .use_recovery_code(user_id, &recovery::hash(user_id, &code), now)
        .await?;
    Ok(used.then_some(Method::RecoveryCode))
}

/// Makes `user_id` ten new recovery codes (voiding the old ones); returns them to show once.
pub async fn new_recovery_codes(app: &AppState, user_id: &str) -> AppResult<Vec<String>> {
    let codes = recovery::generate();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| recovery::hash(user_id, &c.replace('-', "")))
        .collect();
    app.store.replace_recovery_codes(user_id, &hashes).await?;
    Ok(codes)
}
