//! Rotation: a successor with the same settings, the old token retired at once or after a grace
//! time, and what happens when a retired token comes back.

use super::{FieldErrors, Issued};
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::expiry::{self, ExpiryError};
use crate::domain::token;
use crate::domain::webhook::{Event, TokenFacts};
use crate::error::{AppError, AppResult};
use crate::store::Store;
use crate::store::effects::Effects;
use crate::store::tokens::{NewToken, NotRotated, TokenRecord};

/// What a rotation asks for, as typed.
#[derive(Debug, Clone, Default)]
pub struct RotateRequest {
    /// New expiration date `YYYY-MM-DD`; none: the old token's lifetime from today.
    pub expires: Option<String>,
    /// How long the old token keeps working, 0 to [`expiry::MAX_GRACE_SECS`].
    pub grace_secs: i64,
}

/// Outcome of [`rotate`].
#[derive(Debug)]
pub enum Rotated {
    /// The successor, shown once.
    New(Box<Issued>),
    /// The token was rotated before (a double rotation's loser): its successor.
    Already(String),
    /// Revoked or expired: nothing to rotate.
    NotLive,
}

/// Rotates `old` for `actor` (a username, or `"cli"`): a new token with the same description,
/// type, subject, permissions and allowed IPs, a new secret and expiry; the old one works for
/// `grace_secs` more, then stops. Audited on both tokens. Field errors when the request is bad.
pub async fn rotate(
    store: &Store,
    max_token_days: i64,
    actor: &str,
    old: &TokenRecord,
    req: &RotateRequest,
    source: &str,
    now: i64,
) -> AppResult<Result<Rotated, FieldErrors>> {
    let mut errors = FieldErrors::default();
    let today =
        expiry::today(time::OffsetDateTime::from_unix_timestamp(now).map_err(AppError::internal)?);
    let expires_at = match req.expires.as_deref().map(str::trim) {
        None => Some(expiry::end_of(expiry::rotation_date(
            old.created_at,
            old.expires_at,
            today,
            max_token_days,
        ))),
        Some(date) => expiry::parse_date(date)
            .and_then(|d| expiry::validate(d, today, max_token_days))
            .map_err(|e: ExpiryError| errors.expires = Some(e.to_string()))
            .ok(),
    };
    if !(0..=expiry::MAX_GRACE_SECS).contains(&req.grace_secs) {
        errors.expires = Some(format!(
            "The grace time must be 0 to {} seconds.",
            expiry::MAX_GRACE_SECS
        ));
    }
    let Some(expires_at) = expires_at.filter(|_| errors.is_empty()) else {
        return Ok(Err(errors));
    };
    let generated = token::generate(old.kind);
    let new = NewToken {
        kind: old.kind,
        hash: &generated.hash,
        hint: &generated.hint,
        description: &old.description,
        user_id: old.user.as_ref().map(|(id, _)| id.as_str()),
        target: old.target.as_ref(),
        permissions: old.permissions,
        created_by: old.created_by_id.as_deref(),
        expires_at,
        form_nonce: None,
        allowed_ips: &old.allowed_ips_stored,
        predecessor_id: Some(&old.id),
    };
    let retires_at = now + req.grace_secs;
    let id = uuid::Uuid::new_v4().to_string();
    let effects = rotation_effects(old, &id, expires_at, actor, source, retires_at, now);
    match store
        .rotate_token(&old.id, &id, &new, retires_at, &effects, now)
        .await?
    {
        Ok(()) => {}
        Err(NotRotated::AlreadyRotated(successor)) => return Ok(Ok(Rotated::Already(successor))),
        Err(NotRotated::NotLive) => return Ok(Ok(Rotated::NotLive)),
    }
    let record = store
        .token(&id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("token vanished")))?;
    Ok(Ok(Rotated::New(Box::new(Issued {
        plaintext: generated.plaintext,
        record,
    }))))
}

/// What a rotation of `old` into `id` records: audited on both tokens; `token.rotated` for the
/// old one, and the new one's creation events.
fn rotation_effects(
    old: &TokenRecord,
    id: &str,
    expires_at: i64,
    actor: &str,
    source: &str,
    retires_at: i64,
    now: i64,
) -> Effects {
    let old_event = AuditEvent::new(AuditAction::TokenRotated, actor, source)
        .token(&old.id)
        .target(old.subject())
        .detail(format!(
            "replaced by {id}; works {} more",
            // It stops at its own expiry if that comes first.
            grace_text((old.expires_at - now).clamp(0, retires_at - now))
        ));
    let new_event = AuditEvent::new(AuditAction::TokenGenerated, actor, source)
        .token(id)
        .target(old.subject())
        .detail(format!("rotation of {}", old.id));
    let old_facts = old.facts();
    let new_facts = TokenFacts {
        id: id.to_owned(),
        expires_at,
        ..old_facts.clone()
    };
    let retires = retires_at.min(old.expires_at);
    let mut events = vec![Event::rotated(&old_facts, actor, id, retires, now)];
    events.extend(super::creation_events(
        &new_facts,
        actor,
        Some(&old.id),
        now,
    ));
    Effects {
        audit: vec![old_event, new_event],
        events,
    }
}

/// "no time", "1 hour", "24 hours", "90 seconds".
fn grace_text(secs: i64) -> String {
    match secs {
        0 => "no time".into(),
        3600 => "1 hour".into(),
        s if s % 3600 == 0 => format!("{} hours", s / 3600),
        s => format!("{s} seconds"),
    }
}

/// A rotated-out token was presented to a rotate endpoint after its grace time: it leaked.
/// Revokes the tokens that followed it and audits each; the caller answers 401.
///
/// Every token after it in the chain is revoked (a thief who rotated with grace times may hold
/// more than the newest), walking until no successor is left. Audited once per token actually
/// revoked: a chain revoked already records nothing more.
pub async fn reuse_detected(
    store: &Store,
    retired: &TokenRecord,
    source: &str,
    now: i64,
) -> AppResult<()> {
    let mut next = match &retired.successor_id {
        Some(s) => store.token(s).await?,
        None => None,
    };
    // A chain grows by one per rotation; the bound only guards against a cycle.
    for _ in 0..10_000 {
        let Some(token) = next else { break };
        let id = &token.id;
        let event = AuditEvent::new(AuditAction::TokenReuseDetected, "system", source)
            .token(id)
            .target(retired.subject())
            .detail(format!(
                "rotated-out token {} presented again; {id} revoked",
                retired.id
            ));
        let webhook = Event::revoked(&token.facts(), "system", "reuse detected", now);
        store
            .revoke_token_with(id, &Effects::new(event, [webhook]), now)
            .await?;
        next = match &token.successor_id {
            Some(s) => store.token(s).await?,
            None => None,
        };
    }
    Ok(())
}
