//! The bearer token as presented: the one extractor of the API. It refuses tokens in query
//! strings and checks the token's format and checksum offline, so a mistyped or forged token
//! costs no database work.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::auth::{client_ip, source_name};
use crate::domain::token::{self, TokenHash, TokenKind};
use crate::error::AppError;
use crate::metrics::AuthOutcome;
use crate::state::AppState;

/// A well-formed bearer token presented in the `Authorization` header.
#[derive(Debug, Clone)]
pub struct Bearer {
    /// Kind from the prefix.
    pub kind: TokenKind,
    /// Hash to look up.
    pub hash: TokenHash,
    /// Caller's address, formatted only when something is audited.
    pub(super) ip: Option<IpAddr>,
    /// The `User-Agent` header, for the token's last use (a shared buffer, not copied).
    pub(super) agent: Option<header::HeaderValue>,
}

impl Bearer {
    /// The caller's address as the audit log records it.
    pub fn source(&self) -> String {
        source_name(self.ip)
    }
}

pub(super) fn unauthorized(message: &str) -> AppError {
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
            state.count_authentication(AuthOutcome::in_url);
            return Err(unauthorized(
                "Tokens are accepted only in the Authorization header, never in the URL. Revoke a token that was sent in a URL.",
            ));
        }
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("Missing bearer token."))?
            .to_str()
            .map_err(|_| {
                state.count_authentication(AuthOutcome::malformed);
                unauthorized("Malformed Authorization header.")
            })?;
        // The scheme name is case-insensitive (RFC 9110, section 11.1).
        let presented = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .ok_or_else(|| {
                state.count_authentication(AuthOutcome::malformed);
                unauthorized("Use Authorization: Bearer <token>.")
            })?
            .1
            .trim();
        let Ok((kind, hash)) = token::parse(presented) else {
            state.count_authentication(AuthOutcome::bad_checksum);
            return Err(unauthorized("Invalid token."));
        };
        let ip = client_ip(parts, state.config.trusted_proxy);
        let agent = parts.headers.get(header::USER_AGENT).cloned();
        Ok(Bearer {
            kind,
            hash,
            ip,
            agent,
        })
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
