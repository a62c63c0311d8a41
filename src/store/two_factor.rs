//! Second factors: the authenticator app's (encrypted) secret with the last accepted step, and
//! recovery codes (hashed). Passkeys are in `passkeys.rs`.

use super::{BeginWrite, Store, StoreResult, on_pool};

/// A user's authenticator app as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotpRow {
    /// The secret, sealed by the secret key for this user.
    pub secret: String,
    /// When a code confirmed it; `None` while set up but unconfirmed.
    pub confirmed_at: Option<i64>,
    /// The newest step accepted.
    pub last_step: i64,
}

/// What second factors a user has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Factors {
    /// A confirmed authenticator app.
    pub totp: bool,
    /// Passkeys registered.
    pub passkeys: i64,
    /// Unused recovery codes.
    pub recovery_left: i64,
}

impl Factors {
    /// Whether sign-in needs a second step.
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

/// Removes the recovery codes of user `$1` once they have no second factor left (they come
/// with the first and go with the last).
pub(super) const DROP_CODES_WITHOUT_FACTOR: &str = "DELETE FROM recovery_codes WHERE user_id = $1 \
     AND NOT EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1) \
     AND NOT EXISTS (SELECT 1 FROM totp_secrets WHERE user_id = $1 AND confirmed_at IS NOT NULL)";

impl Store {
    /// The user's authenticator app, confirmed or not.
    pub async fn totp(&self, user_id: &str) -> StoreResult<Option<TotpRow>> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as(
                "SELECT secret, confirmed_at, last_step FROM totp_secrets WHERE user_id = $1",
            )
            .bind(user_id)
            .fetch_optional(db)
            .await?
        }))
    }

    /// Stores a new, unconfirmed secret (replacing an unconfirmed one); false when the user
    /// already has a confirmed app.
    pub async fn begin_totp(&self, user_id: &str, sealed: &str, now: i64) -> StoreResult<bool> {
        let n = on_pool!(self.pool(), |db| {
            sqlx::query(
                "INSERT INTO totp_secrets (user_id, secret, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
                 created_at = excluded.created_at, last_step = 0 \
                 WHERE totp_secrets.confirmed_at IS NULL",
            )
            .bind(user_id)
            .bind(sealed)
            .bind(now)
            .execute(db)
            .await?
            .rows_affected()
        });
        Ok(n > 0)
    }

    /// Confirms the unconfirmed secret `sealed` (the one the user was shown) by a code of
    /// `step`; false when it was replaced, removed or confirmed meanwhile.
    pub async fn confirm_totp(
        &self,
        user_id: &str,
        sealed: &str,
        step: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let n = on_pool!(self.pool(), |db| {
            sqlx::query(
                "UPDATE totp_secrets SET confirmed_at = $3, last_step = $4 \
                 WHERE user_id = $1 AND secret = $2 AND confirmed_at IS NULL",
            )
            .bind(user_id)
            .bind(sealed)
            .bind(now)
            .bind(step)
            .execute(db)
            .await?
            .rows_affected()
        });
        Ok(n > 0)
    }

    /// Accepts a code of `step` when it is newer than every code accepted before: one
    /// conditional update, so two instances given the same code accept it once.
    pub async fn accept_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool> {
        let n = on_pool!(self.pool(), |db| {
            sqlx::query(
                "UPDATE totp_secrets SET last_step = $2 \
                 WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2",
            )
            .bind(user_id)
            .bind(step)
            .execute(db)
            .await?
            .rows_affected()
        });
        Ok(n > 0)
    }

    /// Removes the user's authenticator app; with no passkey left, their recovery codes too.
    pub async fn delete_totp(&self, user_id: &str) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            sqlx::query("DELETE FROM totp_secrets WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(DROP_CODES_WITHOUT_FACTOR)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Replaces the user's recovery codes by `hashes` (the old ones stop working).
    pub async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[String],
    ) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            // The user's row first: two regenerations at once take turns, so the second's
            // delete sees the first's codes (else both sets would be left on PostgreSQL).
            sqlx::query("UPDATE users SET last_login = last_login WHERE id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            for h in hashes {
                sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                    .bind(user_id)
                    .bind(h)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Uses up the recovery code `hash`; false when it is not one of the user's unused codes.
    pub async fn use_recovery_code(
        &self,
        user_id: &str,
        hash: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let n = on_pool!(self.pool(), |db| {
            sqlx::query(
                "UPDATE recovery_codes SET used_at = $3 \
                 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
            )
            .bind(user_id)
            .bind(hash)
            .bind(now)
            .execute(db)
            .await?
            .rows_affected()
        });
        Ok(n > 0)
    }

    /// The user's second factors.
    pub async fn factors(&self, user_id: &str) -> StoreResult<Factors> {
        let (totp, passkeys, recovery_left): (bool, i64, i64) = on_pool!(self.pool(), |db| {
            sqlx::query_as(
                "SELECT EXISTS (SELECT 1 FROM totp_secrets WHERE user_id = $1 AND confirmed_at IS NOT NULL), \
                 (SELECT COUNT(*) FROM passkeys WHERE user_id = $1), \
                 (SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL)",
            )
            .bind(user_id)
            .fetch_one(db)
            .await?
        });
        Ok(Factors {
            totp,
            passkeys,
            recovery_left,
        })
    }

    /// Removes every second factor and recovery code of the user (`user reset-2fa`), and their
    /// unfinished sign-ins.
    pub async fn reset_two_factor(&self, user_id: &str) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            for sql in [
                "DELETE FROM totp_secrets WHERE user_id = $1",
                "DELETE FROM recovery_codes WHERE user_id = $1",
                "DELETE FROM passkeys WHERE user_id = $1",
                "DELETE FROM sessions WHERE user_id = $1 AND stage <> 'full'",
            ] {
                sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records `check` as the secret key's check value unless one is recorded; returns the one
    /// recorded.
    pub async fn secret_key_check(&self, check: &str) -> StoreResult<String> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES ('secret_key_check', $1) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(check)
            .execute(db)
            .await?;
            sqlx::query_scalar("SELECT value FROM settings WHERE key = 'secret_key_check'")
                .fetch_one(db)
                .await?
        }))
    }

    /// A console-wide setting.
    pub async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(db)
                .await?
        }))
    }

    /// Sets a console-wide setting.
    pub async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(value)
            .execute(db)
            .await?;
        });
        Ok(())
    }
}
