//! The outbox's life: deliveries claimed by one instance at a time, their attempts recorded,
//! expiry warnings queued by a scan that any number of instances may run, old rows pruned.

use super::effects::Effects;
use super::tokens::{TOKEN_SELECT, TokenRecord, TokenRow};
use super::{BeginWrite, Pool, Store, StoreResult, on_pool};
use crate::domain::expiry::Warning;
use crate::domain::webhook::Event;

/// A delivery an instance has claimed, with what sending it needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    /// The `webhook-id`.
    pub id: String,
    /// This claim's id (what its outcome is recorded under).
    pub claim: String,
    pub endpoint_id: String,
    pub body: String,
    pub retry_from_ms: i64,
    /// Counting this one.
    pub attempts: i64,
    pub url: String,
    pub enabled: bool,
    /// Sealed secrets.
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_until: Option<i64>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered { status: i64 },
    /// Failed; tried again at `due_ms`, or never (`None`: the 24 hours are over).
    Failed {
        status: Option<i64>,
        error: String,
        due_ms: Option<i64>,
    },
    /// Not sent: its endpoint is disabled (it waits, uncounted, until it is enabled).
    Paused,
}

/// The result of one claimed attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub id: String,
    /// The claim it was made under (a delivery claimed again since — its lease ran out — or
    /// redelivered is not touched).
    pub claim: String,
    pub at_ms: i64,
    pub outcome: Outcome,
}

impl Store {
    /// Claims up to `limit` deliveries due now (read once the write lock is held): their next
    /// due time moves to the end of the lease (`lease_ms` on, when another instance may take
    /// over a crashed attempt), their attempt count goes up, and they carry a new claim id. On
    /// PostgreSQL rows another instance is claiming are skipped (`FOR UPDATE SKIP LOCKED`), so
    /// each claim goes to one instance; SQLite has one.
    pub async fn claim_deliveries(&self, lease_ms: i64, limit: i64) -> StoreResult<Vec<Claimed>> {
        let lock = match self.pool() {
            Pool::Postgres(_) => "FOR UPDATE SKIP LOCKED",
            Pool::Sqlite(_) => "",
        };
        let claim = format!(
            "UPDATE webhook_deliveries SET due_ms = $1, attempts = attempts + 1, claim = $2 WHERE id IN \
             (SELECT id FROM webhook_deliveries WHERE due_ms <= $3 ORDER BY due_ms LIMIT $4 {lock})"
        );
        let claim_id = uuid::Uuid::new_v4().simple().to_string();
        Ok(on_pool!(self.pool(), |db| {
            // A read first: an idle poll takes no write lock.
            let due: Option<String> =
                sqlx::query_scalar("SELECT id FROM webhook_deliveries WHERE due_ms <= $1 LIMIT 1")
                    .bind(crate::domain::now_ms())
                    .fetch_optional(db)
                    .await?;
            if due.is_none() {
                return Ok(vec![]);
            }
            let mut tx = db.begin_write().await?;
            let now_ms = crate::domain::now_ms();
            let claimed_n = sqlx::query(sqlx::AssertSqlSafe(claim))
                .bind(now_ms + lease_ms)
                .bind(&claim_id)
                .bind(now_ms)
                .bind(limit)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            // The rows just claimed, found by their new due time (an index seek) and claim id.
            let claimed: Vec<Claimed> = if claimed_n == 0 {
                vec![]
            } else {
                sqlx::query_as(
                    "SELECT d.id, d.claim, d.endpoint_id, d.body, d.retry_from_ms, d.attempts, e.url, \
                       e.enabled, e.secret, e.previous_secret, e.previous_until \
                     FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
                     WHERE d.due_ms = $1 AND d.claim = $2",
                )
                .bind(now_ms + lease_ms)
                .bind(&claim_id)
                .fetch_all(&mut *tx)
                .await?
            };
            tx.commit().await?;
            claimed
        }))
    }

    /// Records attempts (one transaction).
    pub async fn record_attempts(&self, attempts: &[Attempt]) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            for a in attempts {
                let (state, due, status, error) = match &a.outcome {
                    Outcome::Delivered { status } => ("delivered", None, Some(*status), None),
                    Outcome::Failed {
                        status,
                        error,
                        due_ms,
                    } => (
                        if due_ms.is_some() {
                            "pending"
                        } else {
                            "failed"
                        },
                        *due_ms,
                        *status,
                        Some(error.as_str()),
                    ),
                    Outcome::Paused => {
                        sqlx::query(
                            "UPDATE webhook_deliveries SET attempts = attempts - 1, claim = NULL, \
                               due_ms = CASE WHEN (SELECT enabled FROM webhook_endpoints e \
                                 WHERE e.id = webhook_deliveries.endpoint_id) THEN $3 ELSE NULL END \
                             WHERE id = $1 AND claim = $2",
                        )
                        .bind(&a.id)
                        .bind(&a.claim)
                        .bind(a.at_ms)
                        .execute(&mut *tx)
                        .await?;
                        continue;
                    }
                };
                sqlx::query(
                    "UPDATE webhook_deliveries SET state = $1, due_ms = $2, last_attempt_ms = $3, \
                       last_status = $4, last_error = $5, claim = NULL WHERE id = $6 AND claim = $7",
                )
                .bind(state)
                .bind(due)
                .bind(a.at_ms)
                .bind(status)
                .bind(error)
                .bind(&a.id)
                .bind(&a.claim)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Queues `warning` for up to `limit` live tokens whose time for it has come and that have
    /// not been rotated (a predecessor's grace time is no expiry to warn of) nor had it (nor, for the seven-day one, the one-day one); call again while it returns
    /// `limit`. The first statement marks them (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so of
    /// several instances scanning at once each token is warned by one; the warnings are queued
    /// in the same transaction. Returns how many tokens it warned.
    pub async fn scan_expiring(
        &self,
        warning: Warning,
        now: i64,
        limit: i64,
    ) -> StoreResult<usize> {
        let lock = match self.pool() {
            Pool::Postgres(_) => "FOR UPDATE SKIP LOCKED",
            Pool::Sqlite(_) => "",
        };
        let mark = format!(
            "UPDATE tokens SET expiry_warning = $1 WHERE id IN (SELECT id FROM tokens \
             WHERE revoked_at IS NULL AND successor_id IS NULL AND expires_at > $2 AND expires_at <= $3 \
             AND expiry_warning NOT IN ($1, 1) ORDER BY expires_at LIMIT $4 {lock}) RETURNING id"
        );
        let select = format!("{TOKEN_SELECT} WHERE t.id = $1");
        // The seven-day warning is not sent once a day or less is left.
        let low = now
            + if warning == Warning::SevenDays {
                86_400
            } else {
                0
            };
        Ok(on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            let ids: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(mark))
                .bind(warning.days())
                .bind(low)
                .bind(now + warning.lead_secs())
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            let mut events = Vec::with_capacity(ids.len());
            for id in &ids {
                let row: TokenRow = sqlx::query_as(sqlx::AssertSqlSafe(select.clone()))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                events.push(Event::expiring(
                    &TokenRecord::from(row).facts(),
                    warning,
                    now,
                ));
            }
            let effects = Effects {
                audit: vec![],
                events,
            };
            super::effects::record_effects!(tx, &effects, now);
            tx.commit().await?;
            ids.len()
        }))
    }

    /// Makes paused deliveries of enabled endpoints due at `now_ms` (enabling does it at once;
    /// this catches a delivery paused by an outcome or an event that crossed the enabling);
    /// how many.
    pub async fn rearm_paused(&self, now_ms: i64) -> StoreResult<u64> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query(
                "UPDATE webhook_deliveries SET due_ms = $1 WHERE due_ms IS NULL AND state = 'pending' \
                 AND claim IS NULL AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE enabled = TRUE)",
            )
            .bind(now_ms)
            .execute(db)
            .await?
            .rows_affected()
        }))
    }

    /// Deletes deliveries finished (delivered or given up) before `before_ms`.
    pub async fn prune_deliveries(&self, before_ms: i64) -> StoreResult<u64> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query(
                "DELETE FROM webhook_deliveries WHERE due_ms IS NULL AND state <> 'pending' AND created_ms < $1",
            )
            .bind(before_ms)
            .execute(db)
            .await?
            .rows_affected()
        }))
    }
}
