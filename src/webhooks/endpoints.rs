//! What an admin does on the Webhooks tab, one path each: add an endpoint (its secret made,
//! sealed and shown once), change it, rotate its secret, delete it, send it a test event,
//! redeliver one delivery. Every change is audited in its own transaction.

use std::time::Duration;

use super::{now_ms, secret_owner};
use crate::auth::secret_key::SecretKey;
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::names;
use crate::domain::webhook::{Event, EventType, Events};
use crate::domain::webhook_delivery as delivery;
use crate::domain::webhook_target::{self, Host};
use crate::error::{AppError, AppResult};
use crate::store::effects::Effects;
use crate::store::webhooks::{Endpoint, EndpointSettings};
use crate::store::{Store, StoreError};

/// How long the form waits for the URL's host to resolve.
const RESOLVE_WAIT: Duration = Duration::from_secs(5);

/// The endpoint form as typed.
#[derive(Debug, Clone, Default)]
pub struct EndpointForm {
    pub url: String,
    pub description: String,
    /// Event names ticked.
    pub events: Vec<String>,
    pub enabled: bool,
}

/// Errors per field; all none when the form is valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormErrors {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<String>,
}

/// Checks the form; the URL's host must resolve to addresses this server may send to.
pub async fn validate(
    form: &EndpointForm,
    allow_private: bool,
) -> Result<EndpointSettings, FormErrors> {
    let mut errors = FormErrors::default();
    let url = match webhook_target::parse_url(&form.url) {
        Ok(t) => match check_host(&t.host, allow_private).await {
            Ok(()) => Some(t.url),
            Err(e) => {
                errors.url = Some(e);
                None
            }
        },
        Err(e) => {
            errors.url = Some(e);
            None
        }
    };
    let description = names::validate_description(&form.description)
        .map_err(|e| errors.description = Some(e))
        .ok();
    let mut events = vec![];
    for name in &form.events {
        match EventType::parse(name).filter(|e| *e != EventType::Test) {
            Some(e) => events.push(e),
            None => errors.events = Some(format!("There is no event {name:?}.")),
        }
    }
    if form.events.is_empty() {
        errors.events = Some("Choose at least one event.".into());
    }
    match (url, description) {
        (Some(url), Some(description)) if errors == FormErrors::default() => Ok(EndpointSettings {
            url,
            description,
            events: Events::of(events),
            enabled: form.enabled,
        }),
        _ => Err(errors),
    }
}

/// Whether `host` may be sent to now: an address judged as it is, a name by what it resolves
/// to (judged again at every delivery, where the connection is pinned to what was checked).
async fn check_host(host: &Host, allow_private: bool) -> Result<(), String> {
    let name = match host {
        Host::Ip(ip) => return webhook_target::refusal(*ip, allow_private).map_or(Ok(()), Err),
        Host::Name(name) => name,
    };
    tokio::time::timeout(
        RESOLVE_WAIT,
        super::client::resolve_allowed(name, allow_private),
    )
    .await
    .map_err(|_| {
        format!(
            "{name} did not resolve within {} s.",
            RESOLVE_WAIT.as_secs()
        )
    })?
    .map(|_| ())
    .map_err(|e| format!("{e}."))
}

/// `https://host/…` (the path can hold a receiver's own secret: the audit log shows the host).
fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The audit entry of `action` on endpoint `id` at `url` by `actor`.
fn audited(action: AuditAction, actor: &str, source: &str, url: &str, detail: String) -> Effects {
    let event = AuditEvent::new(action, actor, source)
        .target(format!("Webhook to {}", host_of(url)))
        .detail(detail);
    Effects::new(event, [])
}

/// "token.created, token.revoked; enabled".
fn settings_detail(s: &EndpointSettings) -> String {
    let state = if s.enabled { "enabled" } else { "disabled" };
    format!("{}; {state}", s.events.names().join(", "))
}

/// What adding an endpoint came to.
#[derive(Debug)]
pub enum Added {
    /// Its id and its signing secret (shown once, stored sealed).
    New { id: String, secret: String },
    /// The form was sent before: the endpoint it added then (nothing new, no secret).
    Replayed(Option<String>),
}

/// Adds an endpoint, once per form nonce.
pub async fn create(
    store: &Store,
    key: &SecretKey,
    actor: (&str, &str),
    s: &EndpointSettings,
    nonce: &str,
    source: &str,
    now: i64,
) -> AppResult<Added> {
    let (actor_id, actor_name) = actor;
    let id = uuid::Uuid::new_v4().to_string();
    let secret = delivery::new_secret();
    let sealed = key.seal(&secret_owner(&id), secret.as_bytes());
    let effects = audited(
        AuditAction::WebhookCreated,
        actor_name,
        source,
        &s.url,
        settings_detail(s),
    );
    let stored = store
        .create_webhook_endpoint(&id, s, &sealed, Some(actor_id), Some(nonce), &effects, now)
        .await;
    match stored {
        Ok(()) => Ok(Added::New { id, secret }),
        Err(StoreError::Conflict(_)) => Ok(Added::Replayed(
            store.webhook_endpoint_for_nonce(nonce).await?,
        )),
        Err(e) => Err(e.into()),
    }
}

/// Changes an endpoint's settings.
pub async fn update(
    store: &Store,
    actor: &str,
    endpoint: &Endpoint,
    s: &EndpointSettings,
    source: &str,
    now: i64,
) -> AppResult<()> {
    let mut detail = settings_detail(s);
    if s.url != endpoint.url {
        detail.push_str(&format!("; URL was to {}", host_of(&endpoint.url)));
    }
    let effects = audited(AuditAction::WebhookChanged, actor, source, &s.url, detail);
    if store
        .update_webhook_endpoint(&endpoint.id, s, &effects, now)
        .await?
    {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// Gives an endpoint a new secret (returned, shown once); the old one signs beside it for a
/// day. None when this form (`nonce`) rotated it already.
pub async fn rotate_secret(
    store: &Store,
    key: &SecretKey,
    actor: &str,
    endpoint: &Endpoint,
    nonce: &str,
    source: &str,
    now: i64,
) -> AppResult<Option<String>> {
    let secret = delivery::new_secret();
    let sealed = key.seal(&secret_owner(&endpoint.id), secret.as_bytes());
    let detail = format!(
        "the old secret signs beside the new one for {} hours",
        delivery::OLD_SECRET_SECS / 3600
    );
    let effects = audited(
        AuditAction::WebhookSecretRotated,
        actor,
        source,
        &endpoint.url,
        detail,
    );
    let until = now + delivery::OLD_SECRET_SECS;
    let rotated = store
        .rotate_webhook_secret(&endpoint.id, &sealed, until, nonce, &effects, now)
        .await?;
    Ok(rotated.then_some(secret))
}

/// Deletes an endpoint and its deliveries.
pub async fn delete(
    store: &Store,
    actor: &str,
    endpoint: &Endpoint,
    source: &str,
    now: i64,
) -> AppResult<()> {
    let detail = format!("{} (its deliveries with it)", endpoint.description);
    let effects = audited(
        AuditAction::WebhookDeleted,
        actor,
        source,
        &endpoint.url,
        detail,
    );
    if store
        .delete_webhook_endpoint(&endpoint.id, &effects, now)
        .await?
    {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// Queues a test event for `endpoint` (sent within a second by some instance's worker).
pub async fn send_test(store: &Store, actor: &str, endpoint: &Endpoint, now: i64) -> AppResult<()> {
    if !endpoint.enabled {
        return Err(AppError::Conflict(
            "The endpoint is disabled: enable it to send a test event.".into(),
        ));
    }
    let event = Event::test(&endpoint.id, actor, now);
    store
        .queue_for_endpoint(&endpoint.id, &event, now_ms())
        .await?;
    Ok(())
}

/// Sends one delivery of `endpoint` again.
pub async fn redeliver(store: &Store, endpoint: &Endpoint, delivery_id: &str) -> AppResult<()> {
    if store.redeliver(&endpoint.id, delivery_id, now_ms()).await? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}
