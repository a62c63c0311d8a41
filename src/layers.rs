//! Cross-cutting layers, assembled in one place: security headers, no-store, body limit,
//! sensitive headers, tracing without secrets, compression; and the step both error layers
//! (`web`'s HTML, `api`'s JSON) start from.

use std::borrow::Cow;
use std::sync::Arc;

use axum::Router;
use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::RequestId;
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::domain::{text, token};
use crate::error::ErrorMessage;
use crate::metrics::{Metrics, Observe};

/// The request id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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

/// Marks a response whose body carries a secret made for it (a new token shown once): it is
/// never compressed, so BREACH has nothing to measure. Pages carrying a CSRF token are
/// compressed, because that token is masked afresh in every response
/// ([`crate::auth::csrf::mask`]).
#[derive(Debug, Clone, Copy)]
pub struct CarriesSecret;

/// gzip or brotli, as the client accepts, for every response but those that
/// [carry a secret](CarriesSecret) (and what tower-http never compresses: tiny bodies, images).
fn compression() -> CompressionLayer<impl Predicate> {
    let no_secret = |_: axum::http::StatusCode,
                     _: axum::http::Version,
                     _: &axum::http::HeaderMap,
                     extensions: &axum::http::Extensions| {
        extensions.get::<CarriesSecret>().is_none()
    };
    CompressionLayer::new().compress_when(DefaultPredicate::new().and(no_secret))
}

/// Wraps the whole application in the common layers, and with `metrics` the layer that counts
/// and times each request.
///
/// One `Router::layer` call with one stack: axum boxes each call's layer around every route and
/// clones the boxes per request, so ten calls cost ten times the clones of one.
pub fn wrap(router: Router, secure: bool, metrics: Option<Arc<Metrics>>) -> Router {
    let hsts = secure.then(|| HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    // Outermost first.
    let stack = ServiceBuilder::new()
        .option_layer(metrics.map(Observe))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(
            // The span names the path only: a query string could hold a secret someone pasted.
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let path = loggable_path(req.uri().path());
                let id = request_id(req).unwrap_or_default();
                tracing::info_span!("request", method = %req.method(), path = %path, request_id = %id)
            }),
        )
        .layer(compression())
        .layer(SetSensitiveResponseHeadersLayer::new([header::SET_COOKIE]))
        // Everything is private and may carry a token unless a route says otherwise (static files).
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            hsts,
        ));
    router.layer(stack)
}

/// Marks a request whose head carried both `Content-Length` and `Transfer-Encoding` (the
/// listener sees the raw head; hyper drops one of the two before the router could), or whose
/// framing the listener could not follow.
#[derive(Debug, Clone, Copy)]
pub struct Smuggled;

/// Why a request is refused before any route sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What to tell the client.
    pub message: String,
    /// Whether the connection must be closed after the answer (the body's end is unknowable).
    pub close: bool,
}

/// Checks what every route shares, before any route: `Content-Length` with `Transfer-Encoding`
/// (request smuggling behind a proxy that trusts the other one), and path segments and query
/// parameters that are not UTF-8 or hold control characters (refused with the field's name).
pub fn refusal<B>(req: &axum::http::Request<B>) -> Option<Refusal> {
    let refuse = |message: String| {
        Some(Refusal {
            message,
            close: false,
        })
    };
    let headers = req.headers();
    let both = headers.contains_key(header::CONTENT_LENGTH)
        && headers.contains_key(header::TRANSFER_ENCODING);
    if both || req.extensions().get::<Smuggled>().is_some() {
        return Some(Refusal {
            message: "The request's length is ambiguous: it has both Content-Length and Transfer-Encoding, or framing this server cannot follow.".into(),
            close: true,
        });
    }
    let path = req.uri().path();
    if path.contains('%') {
        for segment in path.split('/') {
            if let Err(problem) = text::decode_path_segment(segment.as_bytes())
                .and_then(|s| text::check_no_control(&s))
            {
                return refuse(format!("The URL path {problem}."));
            }
        }
    }
    if let Some(query) = req.uri().query()
        && let Err((name, problem)) = text::decode_query(query.as_bytes())
    {
        return refuse(format!("The query parameter `{name}` {problem}."));
    }
    None
}

/// The request's id (`x-request-id`, kept from the client when sane, else made here).
pub fn request_id<B>(req: &axum::http::Request<B>) -> Option<&str> {
    req.extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
}

/// Whether a client's `x-request-id` is kept: 1–64 letters, digits, `.`, `_`, `:` or `-` (it
/// goes into every log line of the request and onto error pages).
fn sane_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=64).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The id of a request with `headers`: the client's `x-request-id` when there is exactly one
/// and it is sane, else a new one (this process's random prefix and a counter: unique across
/// instances without a random draw per request). The listener puts it on the request (as a
/// [`RequestId`]) and on the response.
pub fn request_id_for(headers: &axum::http::HeaderMap) -> HeaderValue {
    let mut given = headers.get_all(X_REQUEST_ID).iter();
    if let (Some(id), None) = (given.next(), given.next())
        && sane_request_id(id)
    {
        return id.clone();
    }
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| token::random_base62(10));
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    HeaderValue::from_str(&format!("{prefix}-{n:x}")).expect("base62, a dash and hex digits")
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

/// An error response that no error layer has shown yet (the plain text of an [`AppError`] or of
/// a framework rejection: bad form, unknown route…), split into its parts and client message
/// for the console's or the API's error layer to render; any other response comes back as is.
///
/// [`AppError`]: crate::error::AppError
pub async fn unrendered_error(
    res: Response,
) -> Result<(axum::http::response::Parts, String), Response> {
    let status = res.status();
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return Err(res);
    }
    let (mut parts, body) = res.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Some(m) = parts.extensions.get::<ErrorMessage>() {
        let message = m.0.clone();
        return Ok((parts, message));
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
    Ok((parts, text))
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
