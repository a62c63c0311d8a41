//! Dashboard: counts at a glance.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Chrome, render};
use crate::AppState;
use crate::auth::session::CurrentUser;
use crate::error::AppResult;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    fleets: usize,
    devices_total: i64,
    devices_active: i64,
    active_tokens: i64,
}

/// `GET /dashboard`.
pub async fn show(State(app): State<AppState>, user: CurrentUser) -> AppResult<Response> {
    let now = crate::domain::now();
    let fleets = app.store.fleets().await?.len();
    let (devices_total, devices_active) = app.store.device_counts(now - 86_400).await?;
    let active_tokens = app.store.count_active_tokens(now).await?;
    render(
        StatusCode::OK,
        &DashboardPage {
            chrome: Chrome::new(&user, "dashboard", ""),
            fleets,
            devices_total,
            devices_active,
            active_tokens,
        },
    )
}
