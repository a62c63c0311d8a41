//! A token's life, one path for every face (console form, API call or CLI): [`validate`] a
//! request, [`issue`] it (generate, store the hash, audit; the plaintext leaves only in
//! [`Issued`]), [`rotate`] it (a successor with the same settings; the old one retires at once
//! or after a grace time), and [`revoke`] it (audited). Each takes the [`Store`] and what it needs of the
//! settings, never the web state.

mod rotation;

pub use rotation::{RotateRequest, Rotated, reuse_detected, rotate};

use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::cidr::AllowedIps;
use crate::domain::expiry::{self, ExpiryError, Warning};
use crate::domain::names;
use crate::domain::scope::{Permissions, Target};
use crate::domain::token::{self, PlainToken, TokenKind};
use crate::domain::webhook::{Event, TokenFacts};
use crate::error::{AppError, AppResult};
use crate::store::effects::Effects;
use crate::store::tokens::{NewToken, TokenRecord};
use crate::store::users::User;
use crate::store::{Store, StoreError};

/// What was asked for, as typed.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub description: String,
    /// Expiration date `YYYY-MM-DD`.
    pub expires: String,
    /// What the token is for.
    pub subject: SubjectRequest,
    /// Permission types (device details tokens).
    pub permissions: Permissions,
    /// Allowed client networks as typed (CIDRs separated by commas, spaces or lines; empty:
    /// anywhere).
    pub allowed_ips: String,
}

/// The subject as typed: a fleet key, a device UUID or a username.
#[derive(Debug, Clone, Default)]
pub enum SubjectRequest {
    /// Device details token for a fleet.
    Fleet(String),
    /// Device details token for a device.
    Device(String),
    /// User token for a username.
    User(String),
    /// Target entity neither fleet nor device.
    #[default]
    Missing,
}

/// Errors per field; empty when the request is valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors {
    /// Description error.
    pub description: Option<String>,
    /// Expiration error.
    pub expires: Option<String>,
    /// Target (or user) error.
    pub target: Option<String>,
    /// Permission types error.
    pub permissions: Option<String>,
    /// Allowed client IPs error.
    pub allowed_ips: Option<String>,
}

impl FieldErrors {
    /// Whether there is no error.
    pub fn is_empty(&self) -> bool {
        *self == FieldErrors::default()
    }

    /// All messages, for the API's single error message.
    pub fn messages(&self) -> Vec<String> {
        [
            &self.description,
            &self.expires,
            &self.target,
            &self.permissions,
            &self.allowed_ips,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }
}

/// A request that passed validation.
#[derive(Debug, Clone)]
pub struct ValidRequest {
    kind: TokenKind,
    description: String,
    expires_at: i64,
    user: Option<User>,
    target: Option<Target>,
    permissions: Permissions,
    allowed_ips: AllowedIps,
}

/// Checks every field of `req` against the rules (a lifetime of at most `max_token_days`) and
/// the database.
pub async fn validate(
    store: &Store,
    max_token_days: i64,
    req: &TokenRequest,
    now: i64,
) -> AppResult<Result<ValidRequest, FieldErrors>> {
    let mut errors = FieldErrors::default();
    let description = names::validate_description(&req.description)
        .map_err(|e| errors.description = Some(e))
        .ok();
    let today =
        expiry::today(time::OffsetDateTime::from_unix_timestamp(now).map_err(AppError::internal)?);
    let expires_at = expiry::parse_date(req.expires.trim())
        .and_then(|d| expiry::validate(d, today, max_token_days))
        .map_err(|e: ExpiryError| errors.expires = Some(e.to_string()))
        .ok();
    let (kind, target, user) = match check_subject(store, &req.subject).await? {
        Ok(subject) => subject,
        Err((kind, message)) => {
            errors.target = Some(message);
            (kind, None, None)
        }
    };
    if kind == TokenKind::DeviceDetails && req.permissions.is_empty() {
        errors.permissions = Some("Choose at least one permission type.".into());
    }
    let allowed_ips = AllowedIps::parse(&req.allowed_ips)
        .map_err(|problems| errors.allowed_ips = Some(format!("{}.", problems.join("; "))))
        .ok();
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    Ok(Ok(ValidRequest {
        kind,
        description: description.unwrap_or_default(),
        expires_at: expires_at.unwrap_or_default(),
        user,
        target,
        permissions: if kind == TokenKind::User {
            Permissions::NONE
        } else {
            req.permissions
        },
        allowed_ips: allowed_ips.unwrap_or_default(),
    }))
}

/// The kind, target and user of a subject as typed, each checked against the database; or the
/// kind it was meant for and what is wrong.
async fn check_subject(
    store: &Store,
    subject: &SubjectRequest,
) -> AppResult<Result<(TokenKind, Option<Target>, Option<User>), (TokenKind, String)>> {
    let device_details = |message: String| Err((TokenKind::DeviceDetails, message));
    Ok(match subject {
        SubjectRequest::Fleet(key) => {
            let key = key.trim();
            if key.is_empty() {
                device_details("Choose a fleet.".into())
            } else if names::validate_fleet_key(key).is_err() {
                device_details("That is not a fleet key.".into())
            } else if store.fleet(key).await?.is_none() {
                device_details(format!("There is no fleet {key:?}."))
            } else {
                Ok((
                    TokenKind::DeviceDetails,
                    Some(Target::Fleet(key.to_owned())),
                    None,
                ))
            }
        }
        SubjectRequest::Device(uuid) => match names::normalize_device_uuid(uuid) {
            None if uuid.trim().is_empty() => device_details("Choose a device.".into()),
            None => device_details(format!(
                "{:?} is not a device UUID (d-xxxx-xxxx).",
                uuid.trim()
            )),
            Some(u) if store.device(&u).await?.is_none() => {
                device_details(format!("There is no device {u}."))
            }
            Some(u) => Ok((TokenKind::DeviceDetails, Some(Target::Device(u)), None)),
        },
        SubjectRequest::User(username) => {
            let username = username.trim();
            let user = |message: String| Err((TokenKind::User, message));
            match store.user_by_username(username).await? {
                None if username.is_empty() => user("Choose a user.".into()),
                None => user(format!("There is no user {username:?}.")),
                Some(u) if u.disabled => user(format!("User {} is disabled.", u.username)),
                Some(u) => Ok((TokenKind::User, None, Some(u))),
            }
        }
        SubjectRequest::Missing => {
            device_details("Choose Fleet or Device as the target entity.".into())
        }
    })
}

/// A stored token and its plaintext, for the one response that shows it.
#[derive(Debug)]
pub struct Issued {
    /// The secret.
    pub plaintext: PlainToken,
    /// Its metadata.
    pub record: TokenRecord,
}

/// Outcome of [`issue`].
#[derive(Debug)]
pub enum IssueOutcome {
    /// A new token.
    Issued(Box<Issued>),
    /// The form nonce was used before: nothing new; this is the token it made.
    Replayed(Option<String>),
}

/// Generates, stores and audits the token of a valid request.
pub async fn issue(
    store: &Store,
    actor: Option<&User>,
    req: ValidRequest,
    form_nonce: Option<&str>,
    source: &str,
    now: i64,
) -> AppResult<IssueOutcome> {
    let generated = token::generate(req.kind);
    let new = NewToken {
        kind: req.kind,
        hash: &generated.hash,
        hint: &generated.hint,
        description: &req.description,
        user_id: req.user.as_ref().map(|u| u.id.as_str()),
        target: req.target.as_ref(),
        permissions: req.permissions,
        created_by: actor.map(|a| a.id.as_str()),
        expires_at: req.expires_at,
        form_nonce,
        allowed_ips: &req.allowed_ips.stored(),
        predecessor_id: None,
    };
    let id = uuid::Uuid::new_v4().to_string();
    let facts = TokenFacts {
        id: id.clone(),
        kind: req.kind,
        description: req.description.clone(),
        target: req.target.clone(),
        user: req.user.as_ref().map(|u| u.username.clone()),
        permissions: req.permissions,
        expires_at: req.expires_at,
    };
    let actor_name = actor.map_or_else(|| "cli".to_owned(), |a| a.username.clone());
    let detail = format!(
        "{} {}",
        req.kind.as_str(),
        req.permissions.names().join(",")
    );
    let event = AuditEvent::new(AuditAction::TokenGenerated, &actor_name, source)
        .token(&id)
        .target(facts.subject())
        .detail(detail);
    let effects = Effects::new(event, creation_events(&facts, &actor_name, None, now));
    match store.insert_token_with(&id, &new, &effects, now).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) if form_nonce.is_some() => {
            let previous = store
                .token_id_for_nonce(form_nonce.unwrap_or_default())
                .await?;
            return Ok(IssueOutcome::Replayed(previous));
        }
        Err(e) => return Err(e.into()),
    }
    let record = store
        .token(&id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("token vanished")))?;
    Ok(IssueOutcome::Issued(Box::new(Issued {
        plaintext: generated.plaintext,
        record,
    })))
}

/// The webhook events of a token made at `now`: `token.created`, and at once the expiry
/// warning it is already owed, if any.
pub(crate) fn creation_events(
    facts: &TokenFacts,
    actor: &str,
    rotation_of: Option<&str>,
    now: i64,
) -> Vec<Event> {
    let mut events = vec![Event::created(facts, actor, rotation_of, now)];
    if let Some(warning) = Warning::due_at_creation(facts.expires_at, now) {
        events.push(Event::expiring(facts, warning, now));
    }
    events
}

/// Revokes `token` for `actor` and audits it with `detail` (how it was asked for); false when
/// it was revoked already (nothing is recorded then).
pub async fn revoke(
    store: &Store,
    actor: &User,
    token: &TokenRecord,
    source: &str,
    detail: &str,
    now: i64,
) -> AppResult<bool> {
    let effects = revocation(actor, token, source, detail, now);
    Ok(store.revoke_token_with(&token.id, &effects, now).await?)
}

/// What revoking `token` records: its audit entry and its `token.revoked` event.
fn revocation(actor: &User, token: &TokenRecord, source: &str, detail: &str, now: i64) -> Effects {
    let event = AuditEvent::new(AuditAction::TokenRevoked, &actor.username, source)
        .token(&token.id)
        .target(token.subject())
        .detail(detail);
    let webhook = Event::revoked(&token.facts(), &actor.username, "revoked", now);
    Effects::new(event, [webhook])
}

/// Revokes `tokens` together in one transaction, each audited and reported as if revoked on
/// its own; returns the Token IDs revoked (those revoked already are left as they were).
pub async fn revoke_all(
    store: &Store,
    actor: &User,
    tokens: &[TokenRecord],
    source: &str,
    detail: &str,
    now: i64,
) -> AppResult<Vec<String>> {
    let each: Vec<(String, Effects)> = tokens
        .iter()
        .map(|t| (t.id.clone(), revocation(actor, t, source, detail, now)))
        .collect();
    Ok(store.revoke_tokens_with(&each, now).await?)
}
