//! The console's error layer: every error response becomes an HTML page in the layout.

use askama::Template;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::view::Chrome;
use tower_http::request_id::RequestId;

use crate::layers::unrendered_error;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    reason: &'a str,
    message: &'a str,
    /// The request's id, to quote when asking an operator (empty when unknown).
    request_id: &'a str,
}

/// HTML body of an error page.
fn error_page(status: StatusCode, message: &str, request_id: &str) -> String {
    let page = ErrorPage {
        chrome: Chrome::default(),
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Error"),
        message,
        request_id,
    };
    page.render().unwrap_or_else(|_| "Error".to_owned())
}

/// The console's error layer: error responses become HTML pages.
pub async fn html_errors(req: Request, next: Next) -> Response {
    // Kept as the header value (a cheap clone): made text only for an error page.
    let request_id = req.extensions().get::<RequestId>().cloned();
    let res = next.run(req).await;
    let id = request_id
        .as_ref()
        .and_then(|id| id.header_value().to_str().ok());
    as_html(res, id).await
}

/// An error response with an HTML page body (showing `request_id`); other responses unchanged.
pub async fn as_html(res: Response, request_id: Option<&str>) -> Response {
    match unrendered_error(res).await {
        Err(res) => res,
        Ok((mut parts, message)) => {
            let html = error_page(parts.status, &message, request_id.unwrap_or_default());
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            Response::from_parts(parts, Body::from(html))
        }
    }
}
