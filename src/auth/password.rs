//! argon2id password hashing (m = 19456 KiB, t = 2, p = 1), always off the async runtime.

use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{AppError, AppResult};

/// Minimum password length.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Maximum password length.
pub const MAX_PASSWORD_LEN: usize = 256;

/// The 10,000 most common passwords: `10k-most-common.txt` of SecLists
/// (github.com/danielmiessler/SecLists, `Passwords/Common-Credentials`; MIT licence), compiled by
/// Mark Burnett from leaked password sets.
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Whether `password` is on the shipped list of common passwords (in any case).
pub fn is_common(password: &str) -> bool {
    static LIST: OnceLock<std::collections::HashSet<&'static str>> = OnceLock::new();
    let list = LIST.get_or_init(|| COMMON_PASSWORDS.lines().map(str::trim).collect());
    list.contains(password.to_lowercase().as_str())
}

/// Checks a new password for `username`: 12–256 characters, no composition rules, not a common
/// password, not the username.
pub fn check_new_password(password: &str, username: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(format!(
            "A password needs at least {MIN_PASSWORD_LEN} characters."
        ));
    }
    if n > MAX_PASSWORD_LEN {
        return Err(format!(
            "A password can be at most {MAX_PASSWORD_LEN} characters."
        ));
    }
    if is_common(password) {
        return Err("That password is one of the 10,000 most common ones: choose another.".into());
    }
    if password.to_lowercase() == username.to_lowercase() {
        return Err("A password cannot be the username.".into());
    }
    Ok(())
}

/// Runs `work` on the blocking pool inside the caller's tracing span, so what it logs is still
/// tied to its request.
async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(AppError::internal)
}

/// Hashes a password to a PHC string on the blocking pool.
pub async fn hash(password: String) -> AppResult<String> {
    off_runtime(move || {
        hasher()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| AppError::internal(anyhow::anyhow!("argon2 hashing failed: {e}")))
    })
    .await?
}

/// A hash of a random password, verified when the user does not exist so that unknown users
/// take as long as wrong passwords.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = crate::domain::token::random_base62(32);
        hasher()
            .hash_password(random.as_bytes())
            .expect("argon2 hashing of a random string")
            .to_string()
    })
}

/// Verifies `password` against `stored` (or the dummy hash when there is no user) on the
/// blocking pool. True only for a stored hash that matches.
pub async fn verify(password: String, stored: Option<String>) -> AppResult<bool> {
    off_runtime(move || {
        let exists = stored.is_some();
        let phc = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let ok = match PasswordHash::new(&phc) {
            Ok(parsed) => hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        };
        exists && ok
    })
    .await
}

/// Whether `typed` is the current password of `username` (checked like a sign-in).
pub async fn is_current(
    store: &crate::store::Store,
    username: &str,
    typed: &str,
) -> AppResult<bool> {
    if typed.is_empty() {
        return Ok(false);
    }
    let stored = store.user_for_login(username).await?.map(|(_, hash)| hash);
    verify(typed.to_owned(), stored).await
}

/// Warms the dummy hash so the first unknown-user sign-in is not faster than the rest.
pub fn warm_up() {
    let _ = dummy_hash();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_argon2id_with_the_owasp_parameters() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(
            verify("correct horse battery".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse battery".into(), Some(h)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
        assert!(
            !verify("anything".into(), Some("not a phc string".into()))
                .await
                .unwrap()
        );
    }

    #[test]
    fn new_password_rules() {
        assert!(check_new_password("short", "ann").is_err());
        assert!(check_new_password("twelve chars", "ann").is_ok());
        assert!(check_new_password(&"x".repeat(256), "ann").is_ok());
        assert!(check_new_password(&"x".repeat(257), "ann").is_err());
        // Long entries of the list, in any case.
        assert!(check_new_password("1234567890123", "ann").is_ok());
        assert!(is_common("password") && is_common("PASSWORD") && is_common("qwertyuiop"));
        let long_common = COMMON_PASSWORDS
            .lines()
            .find(|p| p.chars().count() >= MIN_PASSWORD_LEN)
            .expect("the list has long entries");
        assert!(
            check_new_password(long_common, "ann")
                .unwrap_err()
                .contains("common")
        );
        assert_eq!(COMMON_PASSWORDS.lines().count(), 10_000);
        let err = check_new_password("Ann.Smith.2026", "ann.smith.2026").unwrap_err();
        assert!(err.contains("username"), "{err}");
    }
}
