//! The one error type. A handler returns `Result<_, AppError>`; the response carries an
//! [`ErrorMessage`] extension and the router's error layer (`web::html_errors` for pages,
//! `api::json_errors` for the API) decides how it is shown.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

/// Every failure a request can end in.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing, malformed, expired or revoked credential.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: missing, or outside the caller's scope (indistinguishable on purpose).
    #[error("Not found.")]
    NotFound,
    /// 413: the body is too large.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the body is not of an accepted type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 409: conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 422: well-formed but invalid values.
    #[error("{0}")]
    Unprocessable(String),
    /// 429: throttled.
    #[error("{0}")]
    TooManyRequests(String),
    /// 503: the database cannot be reached now; answered at once with `Retry-After`.
    #[error(
        "The service is unavailable for a moment (its database cannot be reached). Try again shortly."
    )]
    Unavailable,
    /// 500: logged with its cause, shown without details.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Result with [`AppError`].
pub type AppResult<T> = Result<T, AppError>;

/// The client-facing message of an error response, read by the error layers.
#[derive(Debug, Clone)]
pub struct ErrorMessage(pub String);

impl AppError {
    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Shorthand for an internal error from any error value.
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => {
                AppError::Conflict(format!("That {what} already exists."))
            }
            StoreError::Unavailable(cause) => {
                // At most one line a second: hostile traffic during an outage must not flood
                // the log.
                static LAST_LOGGED: std::sync::atomic::AtomicI64 =
                    std::sync::atomic::AtomicI64::new(0);
                let now = crate::domain::now();
                if LAST_LOGGED.swap(now, std::sync::atomic::Ordering::Relaxed) != now {
                    tracing::warn!(error = %cause, "database unreachable");
                }
                AppError::Unavailable
            }
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(e.into())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            AppError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                "Something went wrong on our side. It has been logged.".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = (status, message.clone()).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response.extensions_mut().insert(ErrorMessage(message));
        response
    }
}
