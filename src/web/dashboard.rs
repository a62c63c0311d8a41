//! Dashboard: counts at a glance, the tokens about to expire and, for admins, the pictures of
//! PRODUCT.md §14 (requests per day, expiry per week, the busiest tokens).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::insight;
use super::view::{self, Chrome, render};
use crate::auth::session::CurrentUser;
use crate::domain::expiry;
use crate::error::AppResult;
use crate::state::AppState;

/// A token expiring within 7 days.
pub struct Expiring {
    id: String,
    description: String,
    subject: String,
    expires: String,
}

/// Active tokens that expire within 7 days (at most 20), for the dashboard and Account banner.
pub async fn expiring_soon(app: &AppState) -> AppResult<Vec<Expiring>> {
    let now = crate::domain::now();
    Ok(app
        .store
        .expiring_tokens(now, now + expiry::EXPIRING_SOON_SECS, 20)
        .await?
        .into_iter()
        .map(|t| Expiring {
            subject: t.subject(),
            expires: view::expiry_date(t.expires_at),
            id: t.id,
            description: t.description,
        })
        .collect())
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    fleets: i64,
    devices_total: i64,
    devices_active: i64,
    active_tokens: i64,
    expiring: Vec<Expiring>,
    /// Admins' pictures: requests per day, expiry per week, the busiest tokens.
    pictures: Vec<insight::ChartView>,
}

/// `GET /dashboard`.
pub async fn show(State(app): State<AppState>, user: CurrentUser) -> AppResult<Response> {
    // Both reads sent together: the page waits for the slower, not their sum.
    let is_admin = user.user.is_admin();
    let (counts, expiring, pictures) = tokio::try_join!(
        async {
            let counts = app.store.counts(crate::domain::now()).await?;
            Ok::<_, crate::error::AppError>(counts)
        },
        async {
            if is_admin {
                expiring_soon(&app).await
            } else {
                Ok(Vec::new())
            }
        },
        async {
            if is_admin {
                Ok(Vec::from(insight::dashboard(&app).await?))
            } else {
                Ok(Vec::new())
            }
        },
    )?;
    render(
        StatusCode::OK,
        &DashboardPage {
            chrome: Chrome::new(&user, "dashboard", ""),
            fleets: counts.fleets,
            devices_total: counts.devices,
            devices_active: counts.devices_active,
            active_tokens: counts.tokens_active,
            expiring,
            pictures,
        },
    )
}
