//! Cross-cutting layers, assembled in one place: security headers, no-store, body limit,
//! sensitive headers, tracing without secrets, and the two ways of showing errors.

use std::borrow::Cow;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::domain::token;
use crate::error::ErrorMessage;

/// Content-Security-Policy of every response: no inline script, nothing from elsewhere.
pub const CSP: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Largest request body accepted anywhere.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The request body limit. Each router applies it inside its error layer, so a refused body
/// is answered like any other error (JSON for the API, an HTML page for the console) and gets
/// the security headers of [`wrap`].
pub fn body_limit() -> RequestBodyLimitLayer {
    RequestBodyLimitLayer::new(BODY_LIMIT)
}

/// Wraps the whole application in the common layers.
pub fn wrap(router: Router, secure: bool) -> Router {
    let hsts = secure.then(|| HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    router
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            hsts,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        // Everything is private and may carry a token unless a route says otherwise (static files).
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetSensitiveResponseHeadersLayer::new([header::SET_COOKIE]))
        .layer(
            // The span names the path only: a query string could hold a secret someone pasted.
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let path = loggable_path(req.uri().path());
                tracing::info_span!("request", method = %req.method(), path = %path)
            }),
        )
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
}

/// The request path as the logs show it: a segment that may hold a token (pasted where it does
/// not belong) is replaced, just as the query string is never logged at all.
fn loggable_path(path: &str) -> Cow<'_, str> {
    if !token::may_contain_token(path) {
        return Cow::Borrowed(path);
    }
    let segments: Vec<&str> = path
        .split('/')
        .map(|s| {
            if token::may_contain_token(s) {
                "[redacted]"
            } else {
                s
            }
        })
        .collect();
    Cow::Owned(segments.join("/"))
}

/// The client message of an error response: the app's own, or the text of a framework
/// rejection (bad form, unknown route…).
async fn take_message(res: Response) -> (axum::http::response::Parts, String) {
    let (parts, body) = res.into_parts();
    if let Some(m) = parts.extensions.get::<ErrorMessage>() {
        return (parts.clone(), m.0.clone());
    }
    let text = to_bytes(body, 4096)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| {
            parts
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_owned()
        });
    (parts, text)
}

fn is_plain_error(res: &Response) -> bool {
    let status = res.status();
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("text/plain"));
    (status.is_client_error() || status.is_server_error()) && plain
}

/// Renders error responses of the console as HTML pages.
pub async fn html_errors(req: Request, next: Next) -> Response {
    as_html(next.run(req).await).await
}

/// Renders error responses of the API as JSON.
pub async fn json_errors(req: Request, next: Next) -> Response {
    as_json(next.run(req).await).await
}

/// An error response with an HTML page body; other responses unchanged.
pub async fn as_html(res: Response) -> Response {
    if !is_plain_error(&res) {
        return res;
    }
    let (mut parts, message) = take_message(res).await;
    let html = crate::web::error_page(parts.status, &message);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Response::from_parts(parts, Body::from(html))
}

/// An error response with the API's body `{"errors":[{"status":..,"message":".."}]}`.
pub async fn as_json(res: Response) -> Response {
    if !is_plain_error(&res) {
        return res;
    }
    let (mut parts, message) = take_message(res).await;
    let body =
        serde_json::json!({"errors": [{"status": parts.status.as_u16(), "message": message}]});
    if parts.status == StatusCode::UNAUTHORIZED {
        parts.headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_logged_without_anything_that_may_be_a_token() {
        let t = token::generate(token::TokenKind::DeviceDetails);
        let secret = t.plaintext.expose();
        for (path, logged) in [
            (
                "/api/v2/alpha/devices/d-0000-0001",
                "/api/v2/alpha/devices/d-0000-0001",
            ),
            (
                &*format!("/api/v2/{secret}/devices"),
                "/api/v2/[redacted]/devices",
            ),
            (&*format!("/devices/{secret}"), "/devices/[redacted]"),
            (&*format!("/devices/{secret}/"), "/devices/[redacted]/"),
        ] {
            assert_eq!(loggable_path(path), logged);
        }
    }
}
