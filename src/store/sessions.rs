//! Server-side sessions, keyed by the SHA-256 of the session id (the cookie value).

use super::users::{USER_COLUMNS, User, UserRow};
use super::{Store, StoreResult, on_pool};

/// How far a session has come through sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStage {
    /// Signed in.
    Full,
    /// The password was right; the second step is still to come.
    SecondFactor,
}

impl SessionStage {
    fn as_str(self) -> &'static str {
        match self {
            SessionStage::Full => "full",
            SessionStage::SecondFactor => "second_factor",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "full" {
            SessionStage::Full
        } else {
            SessionStage::SecondFactor
        }
    }
}

/// A session to store.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    /// SHA-256 of the session id.
    pub id_hash: &'a str,
    /// Its public name on the Security tab.
    pub handle: &'a str,
    /// Whose.
    pub user_id: &'a str,
    /// How far sign-in has come.
    pub stage: SessionStage,
    /// Client address at sign-in.
    pub source: &'a str,
    /// Browser (`User-Agent`, shortened) at sign-in.
    pub user_agent: &'a str,
}

/// A live session with its (enabled) user.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// The signed-in user.
    pub user: User,
    /// When the session was created (absolute timeout), unix seconds.
    pub created_at: i64,
    /// Last request seen (idle timeout), unix seconds.
    pub last_seen_at: i64,
    /// How far sign-in has come.
    pub stage: SessionStage,
    /// Public name.
    pub handle: String,
    /// The "Require two-factor authentication" setting, if ever set.
    pub require_two_factor: Option<String>,
    /// Whether the user has a confirmed authenticator app or a passkey.
    pub has_second_factor: bool,
}

/// A session as the Security tab lists it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Public name.
    pub handle: String,
    /// Started, unix seconds.
    pub created_at: i64,
    /// Last request, unix seconds.
    pub last_seen_at: i64,
    /// Client address at sign-in.
    pub source: String,
    /// Browser at sign-in.
    pub user_agent: String,
    /// Whether it waits for its second step.
    pub pending: bool,
}

/// SQL of "the user has a second factor" for a user row aliased `u`.
pub(crate) const HAS_SECOND_FACTOR: &str = "(EXISTS (SELECT 1 FROM totp_secrets t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) \
     OR EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = u.id))";

impl Store {
    /// Stores a new session.
    pub async fn create_session(&self, s: &NewSession<'_>, now: i64) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, stage, handle, source, user_agent) \
                 VALUES ($1, $2, $3, $3, $4, $5, $6, $7)",
            )
            .bind(s.id_hash)
            .bind(s.user_id)
            .bind(now)
            .bind(s.stage.as_str())
            .bind(s.handle)
            .bind(s.source)
            .bind(s.user_agent)
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
            stage: String,
            handle: String,
            require_two_factor: Option<String>,
            has_second_factor: bool,
        }
        // Every page request runs this: the statement text is built once.
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let cols = USER_COLUMNS
                .split(", ")
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "SELECT {cols}, s.created_at, s.last_seen_at, s.stage, s.handle, \
                 (SELECT value FROM settings WHERE key = 'require_two_factor') AS require_two_factor, \
                 {HAS_SECOND_FACTOR} AS has_second_factor \
                 FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.id_hash = $1 AND NOT u.disabled"
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
            stage: SessionStage::parse(&r.stage),
            handle: r.handle,
            require_two_factor: r.require_two_factor,
            has_second_factor: r.has_second_factor,
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

    /// A user's sessions, newest first.
    pub async fn user_sessions(&self, user_id: &str) -> StoreResult<Vec<SessionInfo>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            handle: String,
            created_at: i64,
            last_seen_at: i64,
            source: String,
            user_agent: String,
            stage: String,
        }
        let rows: Vec<Row> = on_pool!(self.pool(), |db| {
            sqlx::query_as(
                "SELECT handle, created_at, last_seen_at, source, user_agent, stage FROM sessions \
                 WHERE user_id = $1 ORDER BY created_at DESC, handle",
            )
            .bind(user_id)
            .fetch_all(db)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| SessionInfo {
                pending: SessionStage::parse(&r.stage) != SessionStage::Full,
                handle: r.handle,
                created_at: r.created_at,
                last_seen_at: r.last_seen_at,
                source: r.source,
                user_agent: r.user_agent,
            })
            .collect())
    }

    /// Ends the session `handle` of `user_id` (no one else's); false when there is none.
    pub async fn delete_user_session(&self, user_id: &str, handle: &str) -> StoreResult<bool> {
        let n = on_pool!(self.pool(), |db| {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND handle = $2")
                .bind(user_id)
                .bind(handle)
                .execute(db)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Ends every session of `user_id` but `keep` (a session id hash); returns how many ended.
    pub async fn delete_other_sessions(&self, user_id: &str, keep: &str) -> StoreResult<u64> {
        let n = on_pool!(self.pool(), |db| {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
                .bind(user_id)
                .bind(keep)
                .execute(db)
                .await?
                .rows_affected()
        });
        Ok(n)
    }

    /// Removes sessions idle since `idle_before` or created before `created_before`, and
    /// unfinished sign-ins started before `pending_before`.
    pub async fn purge_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
        pending_before: i64,
    ) -> StoreResult<u64> {
        let r = on_pool!(self.pool(), |db| {
            sqlx::query(
                "DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2 \
                 OR (stage <> 'full' AND created_at < $3)",
            )
            .bind(idle_before)
            .bind(created_before)
            .bind(pending_before)
            .execute(db)
            .await?
            .rows_affected()
        });
        Ok(r)
    }
}
