//! Issuing tokens: the one path from a request (console form, API call or CLI) to a stored
//! token — validate, generate, store the hash, audit. The plaintext leaves only in [`Issued`].

use crate::AppState;
use crate::domain::expiry::{self, ExpiryError};
use crate::domain::names;
use crate::domain::scope::{Permissions, Target};
use crate::domain::token::{self, PlainToken, TokenKind};
use crate::error::{AppError, AppResult};
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::tokens::{NewToken, TokenRecord};
use crate::store::users::User;

/// What was asked for, as typed.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    /// Description.
    pub description: String,
    /// Expiration date `YYYY-MM-DD`.
    pub expires: String,
    /// What the token is for.
    pub subject: SubjectRequest,
    /// Permission types (device details tokens).
    pub permissions: Permissions,
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
}

/// Checks every field of `req` against the rules and the database.
pub async fn validate(
    app: &AppState,
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
        .and_then(|d| expiry::validate(d, today, app.config.max_token_days))
        .map_err(|e: ExpiryError| errors.expires = Some(e.to_string()))
        .ok();
    let (kind, target, user) = match &req.subject {
        SubjectRequest::Fleet(key) => {
            let key = key.trim();
            if key.is_empty() {
                errors.target = Some("Choose a fleet.".into());
            } else if names::validate_fleet_key(key).is_err() {
                errors.target = Some("That is not a fleet key.".into());
            } else if app.store.fleet(key).await?.is_none() {
                errors.target = Some(format!("There is no fleet {key:?}."));
            }
            (
                TokenKind::DeviceDetails,
                Some(Target::Fleet(key.to_owned())),
                None,
            )
        }
        SubjectRequest::Device(uuid) => {
            let normalized = names::normalize_device_uuid(uuid);
            match &normalized {
                None if uuid.trim().is_empty() => errors.target = Some("Choose a device.".into()),
                None => {
                    errors.target = Some(format!(
                        "{:?} is not a device UUID (d-xxxx-xxxx).",
                        uuid.trim()
                    ))
                }
                Some(u) if app.store.device(u).await?.is_none() => {
                    errors.target = Some(format!("There is no device {u}."));
                }
                Some(_) => {}
            }
            (
                TokenKind::DeviceDetails,
                normalized.map(Target::Device),
                None,
            )
        }
        SubjectRequest::User(username) => {
            let user = app.store.user_by_username(username.trim()).await?;
            match &user {
                None if username.trim().is_empty() => errors.target = Some("Choose a user.".into()),
                None => errors.target = Some(format!("There is no user {:?}.", username.trim())),
                Some(u) if u.disabled => {
                    errors.target = Some(format!("User {} is disabled.", u.username))
                }
                Some(_) => {}
            }
            (TokenKind::User, None, user)
        }
        SubjectRequest::Missing => {
            errors.target = Some("Choose Fleet or Device as the target entity.".into());
            (TokenKind::DeviceDetails, None, None)
        }
    };
    if kind == TokenKind::DeviceDetails && req.permissions.is_empty() {
        errors.permissions = Some("Choose at least one permission type.".into());
    }
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
    }))
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
    app: &AppState,
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
    };
    let id = match app.store.insert_token(&new, now).await {
        Ok(id) => id,
        Err(StoreError::Conflict(_)) if form_nonce.is_some() => {
            let previous = app
                .store
                .token_id_for_nonce(form_nonce.unwrap_or_default())
                .await?;
            return Ok(IssueOutcome::Replayed(previous));
        }
        Err(e) => return Err(e.into()),
    };
    let record = app
        .store
        .token(&id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("token vanished")))?;
    app.store
        .audit(
            &AuditEvent {
                actor: actor.map_or_else(|| "cli".to_owned(), |a| a.username.clone()),
                action: "token.generated",
                token_id: Some(id),
                target: record.subject(),
                source: source.to_owned(),
                detail: format!(
                    "{} {}",
                    req.kind.as_str(),
                    record.permissions.names().join(",")
                ),
            },
            now,
        )
        .await?;
    Ok(IssueOutcome::Issued(Box::new(Issued {
        plaintext: generated.plaintext,
        record,
    })))
}
