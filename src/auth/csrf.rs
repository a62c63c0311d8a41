//! CSRF protection for every state-changing request of the console, in one layer: cross-site
//! requests are refused by `Sec-Fetch-Site`/`Origin`, and the form must carry the synchronizer
//! token bound to the session (or, on the sign-in form, to the pre-sign-in cookie).
//!
//! Pages carry the token [masked](mask) afresh in every response, so a compressed page never
//! repeats its bytes for a BREACH attacker to probe.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::secrets_equal;
use super::session::expected_csrf;
use crate::domain::text;
use crate::error::AppError;
use crate::state::AppState;

/// A CSRF token as a page carries it: a random pad, then the token XOR the pad (hex), so that
/// every response shows different bytes for the same token.
pub fn mask(token: &str) -> String {
    let mut pad = vec![0u8; token.len()];
    getrandom::fill(&mut pad).expect("the operating system's random source");
    let masked: Vec<u8> = pad.iter().zip(token.bytes()).map(|(p, t)| p ^ t).collect();
    let mut out = String::with_capacity(4 * token.len());
    for b in pad.iter().chain(&masked) {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The token inside a [`mask`]ed value, if it is one.
fn unmask(masked: &str) -> Option<String> {
    if !masked.len().is_multiple_of(4) || !masked.is_ascii() {
        return None;
    }
    let bytes = (0..masked.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&masked[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let (pad, hidden) = bytes.split_at(bytes.len() / 2);
    String::from_utf8(pad.iter().zip(hidden).map(|(p, h)| p ^ h).collect()).ok()
}

/// Whether the request comes from another site.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        // Chrome sends `Origin: null` for same-origin form posts from `no-referrer` pages; the
        // synchronizer token and Sec-Fetch-Site still apply to those.
        None | Some("null") => false,
        Some(origin) => {
            let authority = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            authority.is_none() || authority != host
        }
    }
}

/// The layer: safe methods pass; everything else must be same-site and carry the token.
pub async fn csrf_guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    if cross_site(&parts.headers) {
        return AppError::Forbidden("Cross-site requests are not accepted.".into()).into_response();
    }
    let Ok(bytes) = to_bytes(body, crate::layers::BODY_LIMIT).await else {
        return AppError::BadRequest("The form is too large.".into()).into_response();
    };
    // Every field is checked here, once for every form: text that is not UTF-8 or holds a
    // control character never reaches a handler (which would read it with replacements).
    let fields = match text::decode_form(&bytes) {
        Ok(fields) => fields,
        Err((field, problem)) => {
            return AppError::BadRequest(format!("The form field `{field}` {problem}."))
                .into_response();
        }
    };
    let presented = fields
        .into_iter()
        .find(|(k, _)| k == "csrf")
        .and_then(|(_, v)| unmask(&v));
    let valid = match (expected_csrf(&app, &parts), presented) {
        (Some(want), Some(got)) => secrets_equal(&want, &got),
        _ => false,
    };
    if !valid {
        return AppError::Forbidden(
            "This form has expired or did not come from this site. Reload the page and try again."
                .into(),
        )
        .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn masks_differ_every_time_and_unmask_to_the_token() {
        let token = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
        let (a, b) = (mask(token), mask(token));
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 * token.len());
        assert_eq!(unmask(&a).as_deref(), Some(token));
        assert_eq!(unmask(&b).as_deref(), Some(token));
        // The bare token, odd lengths and non-hex text are not masked values.
        assert_ne!(unmask(token).as_deref(), Some(token));
        assert_eq!(unmask(&a[1..]), None);
        assert_eq!(unmask("zz00"), None);
        assert_eq!(unmask("é0"), None);
    }

    #[test]
    fn cross_site_detection() {
        let host = ("host", "127.0.0.1:8080");
        assert!(!cross_site(&headers(&[host])));
        assert!(!cross_site(&headers(&[
            host,
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(!cross_site(&headers(&[host, ("origin", "null")])));
        assert!(!cross_site(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(cross_site(&headers(&[
            host,
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(cross_site(&headers(&[
            host,
            ("sec-fetch-site", "same-site")
        ])));
        assert!(cross_site(&headers(&[
            host,
            ("origin", "http://evil.example")
        ])));
        assert!(cross_site(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8081")
        ])));
        assert!(cross_site(&headers(&[host, ("origin", "file://")])));
    }
}
