//! Authentication: passwords, sessions, CSRF, throttling and (for the API) bearer tokens.

pub mod bearer;
pub mod csrf;
pub mod passkeys;
pub mod password;
pub mod recovery;
pub mod secret_key;
pub mod session;
pub mod throttle;
pub mod totp;
pub mod two_factor;

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::state::AppState;

/// The client's address, for audit and throttling: the TCP peer, or — only when the operator
/// says a trusted reverse proxy is in front (`--trusted-proxy`) — the last `X-Forwarded-For`
/// entry, which that proxy appended.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl ClientAddr {
    fn from_parts(parts: &Parts, trust_proxy: bool) -> Self {
        ClientAddr(source_name(client_ip(parts, trust_proxy)))
    }
}

/// How the audit log names a client address.
pub(crate) fn source_name(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

/// The address [`ClientAddr`] names, unformatted (the API formats it only for the audit log).
///
/// Behind a trusted proxy the address is the last entry of the last `X-Forwarded-For` line: the
/// one the proxy appended (a client may send lines of its own; they come before it). An entry
/// the proxy did not write readably is no address at all (`None`) rather than the proxy's own,
/// so a token restricted to client networks is refused.
pub(crate) fn client_ip(parts: &Parts, trust_proxy: bool) -> Option<IpAddr> {
    if trust_proxy && let Some(line) = parts.headers.get_all("x-forwarded-for").iter().next_back() {
        return line
            .to_str()
            .ok()?
            .rsplit(',')
            .next()?
            .trim()
            .parse::<IpAddr>()
            .ok();
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr::from_parts(parts, state.config.trusted_proxy))
    }
}

/// Constant-time comparison of two secrets.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
