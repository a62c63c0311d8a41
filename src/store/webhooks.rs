//! Webhook endpoints, and the outbox their deliveries wait in (events enter it through
//! [`super::effects`]).

use super::effects::{Effects, bind_delivery, commit_if, record_effects};
use super::{BeginWrite, Constraint, Store, StoreResult, conflict_on, on_pool};
use crate::domain::webhook::{Event, EventType, Events};

/// A stored endpoint (its secrets sealed).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub description: String,
    #[sqlx(try_from = "i64")]
    pub events: EventBits,
    pub enabled: bool,
    /// The sealed `whsec_` secret.
    pub secret: String,
    /// The sealed secret before the last rotation, and until when it still signs.
    pub previous_secret: Option<String>,
    pub previous_until: Option<i64>,
    pub created_at: i64,
    /// Deliveries waiting, and given up, now.
    pub pending: i64,
    pub failed: i64,
}

/// [`Events`] as a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventBits(pub Events);

impl From<i64> for EventBits {
    fn from(bits: i64) -> Self {
        EventBits(Events::from_bits(bits))
    }
}

/// What an admin sets on an endpoint.
#[derive(Debug, Clone)]
pub struct EndpointSettings {
    pub url: String,
    pub description: String,
    pub events: Events,
    pub enabled: bool,
}

/// One delivery as the deliveries list shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    /// The `webhook-id`.
    pub id: String,
    pub event_type: String,
    pub token_id: Option<String>,
    pub created_ms: i64,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// When the next attempt is due (none: delivered, given up or paused).
    pub due_ms: Option<i64>,
    pub attempts: i64,
    pub last_attempt_ms: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

const ENDPOINT_SELECT: &str = "SELECT e.id, e.url, e.description, e.events, e.enabled, e.secret, \
     e.previous_secret, e.previous_until, e.created_at, \
     (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.state = 'pending') AS pending, \
     (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.state = 'failed') AS failed \
     FROM webhook_endpoints e";

impl Store {
    /// Every endpoint, oldest first.
    pub async fn webhook_endpoints(&self) -> StoreResult<Vec<Endpoint>> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{ENDPOINT_SELECT} ORDER BY e.created_at, e.id"
            )))
            .fetch_all(db)
            .await?
        }))
    }

    /// One endpoint.
    pub async fn webhook_endpoint(&self, id: &str) -> StoreResult<Option<Endpoint>> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{ENDPOINT_SELECT} WHERE e.id = $1"
            )))
            .bind(id)
            .fetch_optional(db)
            .await?
        }))
    }

    /// Stores a new endpoint `id` with its sealed secret, audited. `Conflict("form_nonce")`
    /// when the form's nonce was used before: the replay adds nothing.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_webhook_endpoint(
        &self,
        id: &str,
        s: &EndpointSettings,
        sealed_secret: &str,
        created_by: Option<&str>,
        form_nonce: Option<&str>,
        effects: &Effects,
        now: i64,
    ) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            sqlx::query(
                "INSERT INTO webhook_endpoints (id, url, description, events, enabled, secret, created_at, created_by, form_nonce) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(id)
            .bind(&s.url)
            .bind(&s.description)
            .bind(s.events.bits())
            .bind(s.enabled)
            .bind(sealed_secret)
            .bind(now)
            .bind(created_by)
            .bind(form_nonce)
            .execute(&mut *tx)
            .await
            .map_err(conflict_on(
                Constraint::Unique("webhook_endpoints", "form_nonce"),
                "form_nonce",
            ))?;
            record_effects!(tx, effects, now);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Changes an endpoint's settings, audited; false when it does not exist. Disabling pauses
    /// its waiting deliveries; enabling makes the paused ones due at once (retries keep their
    /// time). One being sent settles through its own outcome.
    pub async fn update_webhook_endpoint(
        &self,
        id: &str,
        s: &EndpointSettings,
        effects: &Effects,
        now: i64,
    ) -> StoreResult<bool> {
        Ok(on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            let found = sqlx::query(
                "UPDATE webhook_endpoints SET url = $1, description = $2, events = $3, enabled = $4 WHERE id = $5",
            )
            .bind(&s.url)
            .bind(&s.description)
            .bind(s.events.bits())
            .bind(s.enabled)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if found {
                sqlx::query(
                    "UPDATE webhook_deliveries SET due_ms = CASE WHEN $1 THEN $2 ELSE NULL END \
                     WHERE endpoint_id = $3 AND state = 'pending' AND claim IS NULL \
                       AND (CASE WHEN $1 THEN due_ms IS NULL ELSE due_ms IS NOT NULL END)",
                )
                .bind(s.enabled)
                .bind(now * 1000)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            commit_if!(tx, found, effects, now)
        }))
    }

    /// The endpoint a form nonce added, if any.
    pub async fn webhook_endpoint_for_nonce(&self, nonce: &str) -> StoreResult<Option<String>> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_scalar("SELECT id FROM webhook_endpoints WHERE form_nonce = $1")
                .bind(nonce)
                .fetch_optional(db)
                .await?
        }))
    }

    /// Replaces an endpoint's secret (the one it replaces keeps signing until `previous_until`)
    /// unless `nonce` rotated it last (a form sent twice); false when nothing was rotated.
    pub async fn rotate_webhook_secret(
        &self,
        id: &str,
        sealed_secret: &str,
        previous_until: i64,
        nonce: &str,
        effects: &Effects,
        now: i64,
    ) -> StoreResult<bool> {
        Ok(on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            let found = sqlx::query(
                "UPDATE webhook_endpoints SET previous_secret = secret, secret = $1, previous_until = $2, \
                   rotation_nonce = $4 WHERE id = $3 AND COALESCE(rotation_nonce, '') <> $4",
            )
            .bind(sealed_secret)
            .bind(previous_until)
            .bind(id)
            .bind(nonce)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            commit_if!(tx, found, effects, now)
        }))
    }

    /// Deletes an endpoint and its deliveries, audited; false when it does not exist.
    pub async fn delete_webhook_endpoint(
        &self,
        id: &str,
        effects: &Effects,
        now: i64,
    ) -> StoreResult<bool> {
        Ok(on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let found = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            commit_if!(tx, found, effects, now)
        }))
    }

    /// Queues `event` for the one endpoint `id` (the test event), due at once.
    pub async fn queue_for_endpoint(
        &self,
        id: &str,
        event: &Event,
        now_ms: i64,
    ) -> StoreResult<()> {
        debug_assert_eq!(event.kind, EventType::Test);
        on_pool!(self.pool(), |db| {
            bind_delivery!(id, true, event, now_ms).execute(db).await?;
        });
        Ok(())
    }

    /// An endpoint's deliveries, newest first, `limit` of them older than `before` (the
    /// `(created_ms, id)` of the last one shown).
    pub async fn webhook_deliveries(
        &self,
        endpoint_id: &str,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> StoreResult<Vec<Delivery>> {
        let (before_ms, before_id) = before.unwrap_or((i64::MAX, ""));
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as(
                "SELECT id, event_type, token_id, created_ms, state, due_ms, attempts, last_attempt_ms, \
                   last_status, last_error FROM webhook_deliveries \
                 WHERE endpoint_id = $1 AND (created_ms < $2 OR (created_ms = $2 AND id < $3)) \
                 ORDER BY created_ms DESC, id DESC LIMIT $4",
            )
            .bind(endpoint_id)
            .bind(before_ms)
            .bind(before_id)
            .bind(limit)
            .fetch_all(db)
            .await?
        }))
    }

    /// Sends a delivery again from now (same `webhook-id`, a new 24-hour retry window, paused
    /// when its endpoint is disabled; an attempt in flight is forgotten: its outcome is not
    /// recorded); false when the endpoint has no such delivery.
    pub async fn redeliver(&self, endpoint_id: &str, id: &str, now_ms: i64) -> StoreResult<bool> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query(
                "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, claim = NULL, retry_from_ms = $1, \
                   due_ms = CASE WHEN (SELECT enabled FROM webhook_endpoints WHERE id = $2) THEN $1 ELSE NULL END \
                 WHERE endpoint_id = $2 AND id = $3",
            )
            .bind(now_ms)
            .bind(endpoint_id)
            .bind(id)
            .execute(db)
            .await?
            .rows_affected()
                == 1
        }))
    }
}
