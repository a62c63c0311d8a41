//! API authentication: the one bearer-token extractor and the one authorization step.
//!
//! The extractor refuses tokens in query strings and checks the token's format and checksum
//! offline, so a mistyped or forged token costs no database work. [`authorize`] then judges
//! the stored token (revoked, expired, disabled user) and the scope decision together.

use std::collections::HashMap;
use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::{client_ip, source_name};
use crate::AppState;
use crate::domain::scope::{Decision, Permission, Principal, Resource};
use crate::domain::token::{self, TokenHash, TokenKind};
use crate::error::AppError;
use crate::store::access::TokenAuth;
use crate::store::audit::AuditEvent;

/// A well-formed bearer token presented in the `Authorization` header.
#[derive(Debug, Clone)]
pub struct Bearer {
    /// Kind from the prefix.
    pub kind: TokenKind,
    /// Hash to look up.
    pub hash: TokenHash,
    /// Caller's address, formatted only when something is audited.
    ip: Option<IpAddr>,
}

impl Bearer {
    /// The caller's address as the audit log records it.
    pub fn source(&self) -> String {
        source_name(self.ip)
    }
}

fn unauthorized(message: &str) -> AppError {
    AppError::Unauthorized(message.to_owned())
}

/// Query parameters that must never carry a credential.
fn token_in_query(query: &str) -> bool {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .iter()
        .any(|(k, v)| {
            matches!(
                k.to_ascii_lowercase().as_str(),
                "token" | "access_token" | "api_key" | "apikey"
            ) || token::parse(v).is_ok()
        })
}

impl FromRequestParts<AppState> for Bearer {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_some_and(token_in_query) {
            return Err(unauthorized(
                "Tokens are accepted only in the Authorization header, never in the URL. Revoke a token that was sent in a URL.",
            ));
        }
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("Missing bearer token."))?
            .to_str()
            .map_err(|_| unauthorized("Malformed Authorization header."))?;
        // The scheme name is case-insensitive (RFC 9110, section 11.1).
        let presented = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .ok_or_else(|| unauthorized("Use Authorization: Bearer <token>."))?
            .1
            .trim();
        let (kind, hash) = token::parse(presented).map_err(|_| unauthorized("Invalid token."))?;
        let ip = client_ip(parts, state.config.trusted_proxy);
        Ok(Bearer { kind, hash, ip })
    }
}

/// Who is calling, once the stored token is judged live.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Token ID.
    pub token_id: String,
    /// The scope principal.
    pub principal: Principal,
    /// For user tokens: the username.
    pub username: Option<String>,
    /// Whether the user behind a user token is an admin.
    pub is_admin: bool,
}

async fn refuse(
    app: &AppState,
    bearer: &Bearer,
    token_id: &str,
    detail: &str,
) -> Result<(), AppError> {
    app.store
        .audit(
            &AuditEvent {
                actor: format!("token {token_id}"),
                action: "token.refused",
                token_id: Some(token_id.to_owned()),
                target: String::new(),
                source: bearer.source(),
                detail: detail.to_owned(),
            },
            crate::domain::now(),
        )
        .await?;
    Ok(())
}

/// Judges a stored token: unknown, revoked, expired or a disabled user → 401. The user's
/// rights are those on `fleet` as loaded with the token.
pub async fn caller(
    app: &AppState,
    bearer: &Bearer,
    auth: Option<TokenAuth>,
    fleet: Option<&str>,
) -> Result<Caller, AppError> {
    let now = crate::domain::now();
    let Some(auth) = auth else {
        return Err(unauthorized("Invalid token."));
    };
    // (audit detail, client message) of a refusal.
    let refusal = if auth.revoked {
        Some(("revoked", "This token was revoked."))
    } else if crate::domain::expiry::is_expired(auth.expires_at, now) {
        Some(("expired", "This token has expired."))
    } else if auth.kind == TokenKind::User && auth.user.as_ref().is_none_or(|u| u.disabled) {
        Some(("user disabled", "The user of this token is disabled."))
    } else {
        None
    };
    if let Some((detail, message)) = refusal {
        refuse(app, bearer, &auth.token_id, detail).await?;
        return Err(unauthorized(message));
    }
    app.usage.record(&auth.token_id, now);
    let (principal, username, is_admin) = match (auth.kind, auth.user) {
        (TokenKind::User, Some(u)) => {
            let mut fleets = HashMap::new();
            if let Some(f) = fleet {
                fleets.insert(f.to_owned(), auth.fleet_permissions);
            }
            (
                Principal::User {
                    role: u.role,
                    fleets,
                },
                Some(u.username),
                u.role == crate::domain::scope::Role::Admin,
            )
        }
        _ => match auth.target {
            Some(target) => (
                Principal::DeviceToken {
                    target,
                    permissions: auth.permissions,
                },
                None,
                false,
            ),
            None => return Err(unauthorized("Invalid token.")),
        },
    };
    Ok(Caller {
        token_id: auth.token_id,
        principal,
        username,
        is_admin,
    })
}

/// Applies the scope decision: out of scope → 404 (exactly like a missing resource), missing
/// permission → 403 naming it (audited).
pub async fn enforce(
    app: &AppState,
    bearer: &Bearer,
    caller: &Caller,
    resource: Resource<'_>,
    needed: Permission,
) -> Result<(), AppError> {
    match crate::domain::scope::decide(&caller.principal, resource, needed) {
        Decision::Allow => Ok(()),
        Decision::NotFound => Err(AppError::NotFound),
        Decision::Forbidden(p) => {
            refuse(
                app,
                bearer,
                &caller.token_id,
                &format!("missing {} permission", p.as_str()),
            )
            .await?;
            Err(AppError::Forbidden(format!(
                "This token lacks the {} permission for this resource.",
                p.as_str()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_query_strings_are_spotted() {
        let t = token::generate(TokenKind::DeviceDetails);
        assert!(token_in_query(&format!("x={}", t.plaintext.expose())));
        assert!(token_in_query("access_token=abc"));
        assert!(token_in_query("Token=abc&limit=5"));
        assert!(!token_in_query("limit=5&after=d-0000-0001"));
    }
}
