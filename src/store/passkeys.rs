//! Passkeys and the WebAuthn ceremonies in flight.

use super::{BeginWrite, Constraint, Store, StoreResult, conflict_on, on_pool};

/// A stored passkey.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PasskeyRow {
    /// Its id in this product (a UUID).
    pub id: String,
    /// Whose.
    pub user_id: String,
    /// The name its owner gave it.
    pub name: String,
    /// WebAuthn credential id, base64url.
    pub credential_id: String,
    /// webauthn-rs's stored form (public key and counter).
    pub passkey: String,
    /// Added, unix seconds.
    pub created_at: i64,
    /// Last used to sign in.
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, name, credential_id, passkey, created_at, last_used_at";

impl Store {
    /// A user's passkeys, oldest first.
    pub async fn passkeys(&self, user_id: &str) -> StoreResult<Vec<PasskeyRow>> {
        let sql =
            format!("SELECT {COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id");
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(user_id)
                .fetch_all(db)
                .await?
        }))
    }

    /// The passkey with this credential id.
    pub async fn passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> StoreResult<Option<PasskeyRow>> {
        let sql = format!("SELECT {COLUMNS} FROM passkeys WHERE credential_id = $1");
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(credential_id)
                .fetch_optional(db)
                .await?
        }))
    }

    /// Stores a new passkey; `Conflict` when its credential is already registered.
    pub async fn add_passkey(&self, row: &PasskeyRow) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            sqlx::query(
                "INSERT INTO passkeys (id, user_id, name, credential_id, passkey, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&row.id)
            .bind(&row.user_id)
            .bind(&row.name)
            .bind(&row.credential_id)
            .bind(&row.passkey)
            .bind(row.created_at)
            .execute(db)
            .await
            .map_err(conflict_on(
                Constraint::Unique("passkeys", "credential_id"),
                "that passkey is already registered",
            ))?;
        });
        Ok(())
    }

    /// Renames one of the user's passkeys; false when they have no such passkey.
    pub async fn rename_passkey(&self, user_id: &str, id: &str, name: &str) -> StoreResult<bool> {
        let n = on_pool!(self.pool(), |db| {
            sqlx::query("UPDATE passkeys SET name = $3 WHERE user_id = $1 AND id = $2")
                .bind(user_id)
                .bind(id)
                .bind(name)
                .execute(db)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Removes one of the user's passkeys (and, with no second factor left, their recovery
    /// codes); false when they have no such passkey.
    pub async fn remove_passkey(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        Ok(on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            let n = sqlx::query("DELETE FROM passkeys WHERE user_id = $1 AND id = $2")
                .bind(user_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(super::two_factor::DROP_CODES_WITHOUT_FACTOR)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            n > 0
        }))
    }

    /// Records a sign-in with a passkey, with its new stored form when its counter moved.
    pub async fn passkey_used(&self, id: &str, stored: Option<&str>, now: i64) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            sqlx::query(
                "UPDATE passkeys SET last_used_at = $2, passkey = COALESCE($3, passkey) WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .bind(stored)
            .execute(db)
            .await?;
        });
        Ok(())
    }

    /// Keeps a ceremony's state under `key` (replacing an earlier one).
    pub async fn put_ceremony(&self, key: &str, state: &str, now: i64) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            sqlx::query(
                "INSERT INTO webauthn_ceremonies (key, state, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET state = excluded.state, created_at = excluded.created_at",
            )
            .bind(key)
            .bind(state)
            .bind(now)
            .execute(db)
            .await?;
        });
        Ok(())
    }

    /// Takes (once) the state kept under `key` if it was kept after `since`.
    pub async fn take_ceremony(&self, key: &str, since: i64) -> StoreResult<Option<String>> {
        let row: Option<(String, i64)> = on_pool!(self.pool(), |db| {
            sqlx::query_as(
                "DELETE FROM webauthn_ceremonies WHERE key = $1 RETURNING state, created_at",
            )
            .bind(key)
            .fetch_optional(db)
            .await?
        });
        Ok(row.filter(|(_, at)| *at >= since).map(|(state, _)| state))
    }

    /// Forgets ceremonies begun before `before`.
    pub async fn purge_ceremonies(&self, before: i64) -> StoreResult<u64> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query("DELETE FROM webauthn_ceremonies WHERE created_at < $1")
                .bind(before)
                .execute(db)
                .await?
                .rows_affected()
        }))
    }
}
