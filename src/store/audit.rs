//! The audit log. Entries name actors, Token IDs and targets: never a secret.

use super::{Store, StoreResult, like_escape, on_pool};

/// One audit entry to record.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent {
    /// Username, or `anonymous`, or a Token ID for token-authenticated actions.
    pub actor: String,
    /// What happened, e.g. `signin.failure`, `token.generated`.
    pub action: &'static str,
    /// Token ID concerned, if any.
    pub token_id: Option<String>,
    /// Target: fleet, device, username…
    pub target: String,
    /// Source address.
    pub source: String,
    /// Free text (never a secret).
    pub detail: String,
}

/// A stored audit entry.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Actor.
    pub actor: String,
    /// Action.
    pub action: String,
    /// Token ID.
    pub token_id: Option<String>,
    /// Target.
    pub target: String,
    /// Source address.
    pub source: String,
    /// Detail.
    pub detail: String,
}

impl Store {
    /// Appends an entry.
    pub async fn audit(&self, e: &AuditEvent, now: i64) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            sqlx::query(
                "INSERT INTO audit_events (at, actor, action, token_id, target, source, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(now)
            .bind(&e.actor)
            .bind(e.action)
            .bind(e.token_id.as_deref())
            .bind(&e.target)
            .bind(&e.source)
            .bind(&e.detail)
            .execute(db)
            .await?;
        });
        Ok(())
    }

    /// How many `action` entries by `actor` since `since`.
    pub async fn count_by_actor(&self, action: &str, actor: &str, since: i64) -> StoreResult<i64> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM audit_events WHERE action = $1 AND actor = $2 AND at >= $3",
            )
            .bind(action)
            .bind(actor)
            .bind(since)
            .fetch_one(db)
            .await?
        }))
    }

    /// How many `action` entries from `source` since `since`.
    pub async fn count_by_source(
        &self,
        action: &str,
        source: &str,
        since: i64,
    ) -> StoreResult<i64> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM audit_events WHERE action = $1 AND source = $2 AND at >= $3",
            )
            .bind(action)
            .bind(source)
            .bind(since)
            .fetch_one(db)
            .await?
        }))
    }

    /// Newest entries first.
    pub async fn audit_entries(&self, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        self.find_audit("", "", i64::MAX, limit).await
    }

    /// Entries older than `before` (an id), newest first, whose action starts with `action`
    /// and whose actor, target or Token ID contains `text` (case-insensitive).
    pub async fn find_audit(
        &self,
        action: &str,
        text: &str,
        before: i64,
        limit: i64,
    ) -> StoreResult<Vec<AuditEntry>> {
        let action = format!("{}%", like_escape(action));
        let text = format!("%{}%", like_escape(&text.to_lowercase()));
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as(
                "SELECT id, at, actor, action, token_id, target, source, detail FROM audit_events \
                 WHERE id < $1 AND action LIKE $2 ESCAPE '\\' \
                   AND ($3 = '%%' OR LOWER(actor) LIKE $3 ESCAPE '\\' OR LOWER(target) LIKE $3 ESCAPE '\\' \
                        OR LOWER(COALESCE(token_id, '')) LIKE $3 ESCAPE '\\') \
                 ORDER BY id DESC LIMIT $4",
            )
            .bind(before)
            .bind(&action)
            .bind(&text)
            .bind(limit)
            .fetch_all(db)
            .await?
        }))
    }
}
