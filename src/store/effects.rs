//! What a write records beside itself, in its own transaction: audit entries and webhook events
//! ([`Effects`]). An event enters the outbox in the transaction of the write it reports: a
//! committed change always has its deliveries, a rolled-back one never.

use crate::domain::audit::AuditEvent;
use crate::domain::webhook::Event;

/// What a write records beside itself, in its own transaction: audit entries and webhook
/// events.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    pub audit: Vec<AuditEvent>,
    pub events: Vec<Event>,
}

impl Effects {
    /// One audit entry and the events that go with it.
    pub fn new(audit: AuditEvent, events: impl IntoIterator<Item = Event>) -> Self {
        Effects {
            audit: vec![audit],
            events: events.into_iter().collect(),
        }
    }
}

/// `INSERT` of one delivery, due at `$8` (none: its endpoint is disabled, and it waits); a keyed
/// event already queued for the endpoint is not queued again.
pub(super) const INSERT_DELIVERY: &str = "INSERT INTO webhook_deliveries \
     (id, endpoint_id, event_type, event_key, token_id, body, created_ms, retry_from_ms, due_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) \
     ON CONFLICT (endpoint_id, event_key) WHERE event_key IS NOT NULL DO NOTHING";

/// The endpoints subscribed to the event whose bit is `$1`, and whether each is enabled.
pub(super) const SUBSCRIBED: &str =
    "SELECT id, enabled FROM webhook_endpoints WHERE (events & $1) <> 0";

/// A new delivery's `webhook-id`.
pub(super) fn new_message_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

/// Writes `$effects` (an [`Effects`]) on the open transaction `$tx` at `$now` (unix seconds):
/// its audit entries, and one delivery of each event per endpoint subscribed to it; a token
/// whose expiry warning is among them is marked as having had it.
macro_rules! record_effects {
    ($tx:ident, $effects:expr, $now:expr) => {{
        let effects: &$crate::store::effects::Effects = $effects;
        let now: i64 = $now;
        for e in &effects.audit {
            $crate::store::audit::bind_audit!(
                sqlx::query($crate::store::audit::INSERT_AUDIT),
                e,
                now
            )
            .execute(&mut *$tx)
            .await?;
        }
        for event in &effects.events {
            if let (Some(days), Some(token)) = (event.warning_days(), &event.token_id) {
                sqlx::query(
                    "UPDATE tokens SET expiry_warning = $1 WHERE id = $2 AND expiry_warning <> $1",
                )
                .bind(days)
                .bind(token)
                .execute(&mut *$tx)
                .await?;
            }
            let endpoints: Vec<(String, bool)> = sqlx::query_as($crate::store::effects::SUBSCRIBED)
                .bind(event.kind.bit())
                .fetch_all(&mut *$tx)
                .await?;
            for (endpoint, enabled) in endpoints {
                $crate::store::effects::bind_delivery!(&endpoint, enabled, event, now * 1000)
                    .execute(&mut *$tx)
                    .await?;
            }
        }
    }};
}
pub(crate) use record_effects;

/// Ends the write transaction `$tx`: when `$done`, records `$effects` in it and commits;
/// otherwise drops it (rolled back: nothing happened, nothing is recorded). Yields `$done`.
macro_rules! commit_if {
    ($tx:ident, $done:expr, $effects:expr, $now:expr) => {{
        let done: bool = $done;
        if done {
            $crate::store::effects::record_effects!($tx, $effects, $now);
            $tx.commit().await?;
        }
        done
    }};
}
pub(crate) use commit_if;

/// Binds a delivery of `$event` to `$endpoint` (due at once if `$enabled`) made at `$ms` to
/// [`INSERT_DELIVERY`].
macro_rules! bind_delivery {
    ($endpoint:expr, $enabled:expr, $event:expr, $ms:expr) => {{
        let event: &$crate::domain::webhook::Event = $event;
        let ms: i64 = $ms;
        sqlx::query($crate::store::effects::INSERT_DELIVERY)
            .bind($crate::store::effects::new_message_id())
            .bind($endpoint)
            .bind(event.kind.as_str())
            .bind(event.key.as_deref())
            .bind(event.token_id.as_deref())
            .bind(&event.body)
            .bind(ms)
            .bind(if $enabled { Some(ms) } else { None })
    }};
}
pub(crate) use bind_delivery;
