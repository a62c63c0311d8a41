//! Server-side sessions, keyed by the SHA-256 of the session id (the cookie value).

use super::users::{USER_COLUMNS, User, UserRow};
use super::{Store, StoreResult, on_pool};

/// A live session with its (enabled) user.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// The signed-in user.
    pub user: User,
    /// When the session was created (absolute timeout), unix seconds.
    pub created_at: i64,
    /// Last request seen (idle timeout), unix seconds.
    pub last_seen_at: i64,
}

impl Store {
    /// Stores a new session.
    pub async fn create_session(&self, id_hash: &str, user_id: &str, now: i64) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            sqlx::query("INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at) VALUES ($1, $2, $3, $3)")
                .bind(id_hash)
                .bind(user_id)
                .bind(now)
                .execute(db)
                .await?;
        });
        Ok(())
    }

    /// The session and its user, unless the user is disabled.
    pub async fn session(&self, id_hash: &str) -> StoreResult<Option<SessionRecord>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            created_at: i64,
            last_seen_at: i64,
        }
        // Every page request runs this: the statement text is built once.
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let cols = USER_COLUMNS
                .split(", ")
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "SELECT {cols}, s.created_at, s.last_seen_at FROM sessions s \
                 JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND NOT u.disabled"
            )
        });
        let row: Option<Row> = on_pool!(self.pool(), |db| {
            sqlx::query_as(sqlx::AssertSqlSafe(SQL.as_str()))
                .bind(id_hash)
                .fetch_optional(db)
                .await?
        });
        Ok(row.map(|r| SessionRecord {
            user: r.user.into(),
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
        }))
    }

    /// Records activity on a session.
    pub async fn touch_session(&self, id_hash: &str, now: i64) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(id_hash)
                .execute(db)
                .await?;
        });
        Ok(())
    }

    /// Destroys a session.
    pub async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(db)
                .await?;
        });
        Ok(())
    }

    /// Removes sessions idle since `idle_before` or created before `created_before`.
    pub async fn purge_sessions(&self, idle_before: i64, created_before: i64) -> StoreResult<u64> {
        let r = on_pool!(self.pool(), |db| {
            sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
                .bind(idle_before)
                .bind(created_before)
                .execute(db)
                .await?
                .rows_affected()
        });
        Ok(r)
    }
}
