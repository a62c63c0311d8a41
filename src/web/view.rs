//! What every page view shares: the one way pages are rendered, the layout's data ([`Chrome`]),
//! and small formatting helpers.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use time::OffsetDateTime;

use crate::auth::session::CurrentUser;
use crate::error::AppResult;

/// The one way pages are rendered.
pub fn render(status: StatusCode, page: &impl Template) -> AppResult<Response> {
    Ok((status, Html(page.render()?)).into_response())
}

/// What the layout needs: who is signed in, their CSRF token, where they are.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// Display name of the signed-in user, empty on the sign-in page.
    pub user_name: String,
    /// Whether to show admin navigation.
    pub is_admin: bool,
    /// CSRF token for forms on the page.
    pub csrf: String,
    /// Active left-navigation entry.
    pub nav: &'static str,
    /// Active settings tab.
    pub tab: &'static str,
}

impl Chrome {
    /// Layout data for a signed-in page.
    pub fn new(user: &CurrentUser, nav: &'static str, tab: &'static str) -> Self {
        Chrome {
            user_name: user.user.name().to_owned(),
            is_admin: user.user.is_admin(),
            csrf: crate::auth::csrf::mask(&user.csrf),
            nav,
            tab,
        }
    }
}

/// A form's one-time nonce: a form sent twice (a double click, a reload) does its work once.
pub fn nonce() -> String {
    crate::domain::token::random_base62(32)
}

/// Refuses a nonce the page did not make.
pub fn check_nonce(n: &str) -> crate::error::AppResult<()> {
    if n.len() == 32 && n.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(crate::error::AppError::BadRequest(
            "The form is incomplete. Reload the page and try again.".into(),
        ))
    }
}

/// `YYYY-MM-DD HH:MM UTC` of unix seconds.
pub fn datetime(ts: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(ts) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => "—".into(),
    }
}

/// "3 minutes ago"-style text of unix seconds relative to `now`.
pub fn relative(ts: i64, now: i64) -> String {
    let d = now - ts;
    let (n, unit) = match d.abs() {
        s if s < 60 => {
            return if d >= 0 {
                "just now".into()
            } else {
                "in under a minute".into()
            };
        }
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if d >= 0 {
        format!("{n} {unit}{plural} ago")
    } else {
        format!("in {n} {unit}{plural}")
    }
}

/// The last day a token works, from the instant it stops working.
pub fn expiry_date(expires_at: i64) -> String {
    OffsetDateTime::from_unix_timestamp(expires_at - 1)
        .map(|t| crate::domain::expiry::format_date(t.date()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        assert_eq!(relative(100, 110), "just now");
        assert_eq!(relative(0, 120), "2 minutes ago");
        assert_eq!(relative(0, 3600), "1 hour ago");
        assert_eq!(relative(200_000, 0), "in 2 days");
        assert_eq!(datetime(0), "1970-01-01 00:00 UTC");
        assert_eq!(expiry_date(86_400), "1970-01-01");
    }
}
