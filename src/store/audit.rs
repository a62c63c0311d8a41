//! The audit log. Entries name actors, Token IDs and targets: never a secret.

use super::tokens::{TOKEN_SELECT, TokenRecord, TokenRow};
use super::usage::RefusalCount;
use super::{BeginWrite, Store, StoreResult, on_pool};
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::webhook::{Event, EventType, RefusedUse};

/// A stored audit entry.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    pub actor: String,
    /// The stored name of an [`AuditAction`] (kept as text: an entry outlives any one release).
    pub action: String,
    pub token_id: Option<String>,
    pub target: String,
    /// Source address.
    pub source: String,
    pub detail: String,
    /// How many events the entry stands for (refused uses are counted per minute).
    pub count: i64,
    /// Unix seconds of the last of them, when more than one.
    pub last_at: Option<i64>,
}

/// The index reads a page of the Audit Log is made of: (field clause, action), each read on an
/// index whose order is the field and action's entries by id — (action, id), (lower(actor), id),
/// (lower(target), id), (token_id, id), and with a group (lower(actor), action, id) and
/// (lower(target), action, id), one read per action — so neither a busy actor nor a rare action
/// makes a read walk past entries it does not want. Both sides of a comparison are lower-cased
/// by the database, so its own rules (ASCII only on SQLite) apply alike to the stored name and
/// the search.
fn audit_branches(
    actions: &[AuditAction],
    text: bool,
) -> Vec<(Option<&'static str>, Option<AuditAction>)> {
    let chosen: Vec<Option<AuditAction>> = if actions.is_empty() {
        vec![None]
    } else {
        actions.iter().copied().map(Some).collect()
    };
    let fields: &[Option<&'static str>] = if text {
        &[
            Some("LOWER(actor) = LOWER($2)"),
            Some("LOWER(target) = LOWER($2)"),
            Some("token_id = LOWER($2)"),
        ]
    } else {
        &[None]
    };
    fields
        .iter()
        .flat_map(|f| chosen.iter().map(move |a| (*f, *a)))
        .collect()
}

/// `INSERT` of one entry ([`bind_audit`] binds its values).
pub(crate) const INSERT_AUDIT: &str = "INSERT INTO audit_events (at, actor, action, token_id, target, source, detail) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Binds the entry `$e` at `$now` to [`INSERT_AUDIT`].
macro_rules! bind_audit {
    ($query:expr, $e:expr, $now:expr) => {{
        let e: &$crate::domain::audit::AuditEvent = $e;
        $query
            .bind($now)
            .bind(&e.actor)
            .bind(e.action.as_str())
            .bind(e.token_id.as_deref())
            .bind(&e.target)
            .bind(&e.source)
            .bind(&e.detail)
    }};
}
pub(crate) use bind_audit;

/// The columns of an [`AuditEntry`].
const AUDIT_COLUMNS: &str =
    "id, at, actor, action, token_id, target, source, detail, count, last_at";

impl Store {
    /// Adds refused uses to their aggregated entries, creating an entry that does not exist yet.
    /// An entry's first write also queues its `token.refused` event for the endpoints
    /// subscribed to it (once per entry: the event's key is the entry's), with the refusals
    /// counted by then (the entry goes on counting the minute's).
    pub async fn add_refusals(&self, counts: &[RefusalCount]) -> StoreResult<()> {
        let now_ms = crate::domain::now() * 1000;
        on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            let endpoints: Vec<(String, bool)> = sqlx::query_as(super::effects::SUBSCRIBED)
                .bind(EventType::TokenRefused.bit())
                .fetch_all(&mut *tx)
                .await?;
            for c in counts {
                let e = c.refusal.event();
                let key = c.refusal.key();
                let count: i64 = sqlx::query_scalar(
                    "INSERT INTO audit_events (at, actor, action, token_id, target, source, detail, count, last_at, refusal_key) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (refusal_key) WHERE refusal_key IS NOT NULL DO UPDATE SET \
                       count = audit_events.count + excluded.count, \
                       last_at = CASE WHEN excluded.last_at > COALESCE(audit_events.last_at, audit_events.at) \
                                 THEN excluded.last_at ELSE audit_events.last_at END \
                     RETURNING count",
                )
                .bind(c.first_at)
                .bind(&e.actor)
                .bind(e.action.as_str())
                .bind(e.token_id.as_deref())
                .bind(&e.target)
                .bind(&e.source)
                .bind(&e.detail)
                .bind(c.count)
                .bind(c.last_at)
                .bind(&key)
                .fetch_one(&mut *tx)
                .await?;
                // Only the entry's first write (its count is this batch's alone) queues it.
                if endpoints.is_empty() || count != c.count {
                    continue;
                }
                let token: Option<TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{TOKEN_SELECT} WHERE t.id = $1"
                )))
                .bind(&c.refusal.token_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(token) = token.map(TokenRecord::from) else {
                    continue;
                };
                let refused = RefusedUse {
                    key: &key,
                    reason: &c.refusal.reason,
                    source: &c.refusal.source,
                    minute: c.refusal.minute,
                    count,
                };
                let event = Event::refused(&token.facts(), &refused, now_ms / 1000);
                for (endpoint, enabled) in &endpoints {
                    super::effects::bind_delivery!(endpoint, *enabled, &event, now_ms)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Appends an entry.
    pub async fn audit(&self, e: &AuditEvent, now: i64) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            bind_audit!(sqlx::query(INSERT_AUDIT), e, now)
                .execute(db)
                .await?;
        });
        Ok(())
    }

    /// How many `action` entries by `actor` since `since`.
    pub async fn count_by_actor(
        &self,
        action: AuditAction,
        actor: &str,
        since: i64,
    ) -> StoreResult<i64> {
        self.count_where("actor", action, actor, since).await
    }

    /// How many `action` entries from `source` since `since`.
    pub async fn count_by_source(
        &self,
        action: AuditAction,
        source: &str,
        since: i64,
    ) -> StoreResult<i64> {
        self.count_where("source", action, source, since).await
    }

    /// How many `action` entries whose `column` (a name of ours, never input) is `value`.
    async fn count_where(
        &self,
        column: &'static str,
        action: AuditAction,
        value: &str,
        since: i64,
    ) -> StoreResult<i64> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM audit_events WHERE action = $1 AND {column} = $2 AND at >= $3"
            )))
            .bind(action.as_str())
            .bind(value)
            .bind(since)
            .fetch_one(db)
            .await?
        }))
    }

    /// The newest `limit` entries about the token `token_id`, newest first.
    pub async fn token_audit(&self, token_id: &str, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as(
                sqlx::AssertSqlSafe(format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE token_id = $1 ORDER BY id DESC LIMIT $2"
                )),
            )
            .bind(token_id)
            .bind(limit)
            .fetch_all(db)
            .await?
        }))
    }

    /// Entries older than `before` (an id), newest first, at most `limit`, whose action is one
    /// of `actions` (any when empty) and whose actor, target or Token ID is `text` (whole,
    /// case-insensitive; any when empty). Each combination of one action and one field reads its
    /// own index newest first and stops at `limit`; the union is cut to `limit`. So a page costs
    /// a few index range reads however long the log is.
    pub async fn find_audit(
        &self,
        actions: &[AuditAction],
        text: &str,
        before: i64,
        limit: i64,
    ) -> StoreResult<Vec<AuditEntry>> {
        let limit_param = if text.is_empty() { "$2" } else { "$3" };
        let branches: Vec<String> = audit_branches(actions, !text.is_empty())
            .into_iter()
            .map(|(field, action)| {
                let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE id < $1");
                if let Some(field) = field {
                    sql.push_str(" AND ");
                    sql.push_str(field);
                }
                if let Some(action) = action {
                    // The enum's own constant, never user input.
                    sql.push_str(&format!(" AND action = '{}'", action.as_str()));
                }
                sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit_param}"));
                sql
            })
            .collect();
        let sql = if let [only] = branches.as_slice() {
            only.clone()
        } else {
            let union: Vec<String> = branches
                .iter()
                .enumerate()
                .map(|(i, b)| format!("SELECT * FROM ({b}) AS b{i}"))
                .collect();
            format!(
                "SELECT * FROM ({}) AS found ORDER BY id DESC LIMIT {limit_param}",
                union.join(" UNION ")
            )
        };
        Ok(on_pool!(self.pool(), |db| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(before);
            if !text.is_empty() {
                q = q.bind(text);
            }
            q.bind(limit).fetch_all(db).await?
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_read_has_an_index_in_its_order() {
        // No filter: the log itself; an event group: one read per action.
        assert_eq!(audit_branches(&[], false), [(None, None)]);
        let two = [AuditAction::SigninSuccess, AuditAction::Signout];
        assert_eq!(audit_branches(&two, false).len(), 2);
        // A text: actor, target and Token ID, one read each.
        let all = audit_branches(&[], true);
        assert_eq!(all.len(), 3);
        assert_eq!(all.last(), Some(&(Some("token_id = LOWER($2)"), None)));
        // Both: actor and target with each chosen action, the Token ID with each.
        assert_eq!(audit_branches(&two, true).len(), 6);
    }
}
