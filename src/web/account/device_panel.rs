//! The *Generate Device Details Token* side panel: opening it, submitting it (with the no-JS
//! device search), and the search-as-you-type endpoint.

use axum::Form;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::forms::{DeviceForm, check_nonce, fill_device_options};
use super::page::{Open, admin_panels, issue_and_show, page};
use crate::auth::ClientAddr;
use crate::auth::session::AdminUser;
use crate::domain::scope::{Permission, Permissions};
use crate::error::{AppError, AppResult};
use crate::issuing::{self, SubjectRequest, TokenRequest};
use crate::state::AppState;
use crate::store::devices::SEARCH_MAX;

/// `GET /settings/account/device-token`: the Account tab with the panel open (works without JS).
pub async fn device_panel(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
) -> AppResult<Response> {
    let mut panels = admin_panels(&app, Open::Device, None, None, None).await?;
    panels.animate = true;
    page(&app, &admin, StatusCode::OK, Some(panels)).await
}

/// Fields of the device details token form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeviceTokenInput {
    description: String,
    expires: String,
    target_kind: String,
    fleet: String,
    device: String,
    device_q: String,
    perm_read: Option<String>,
    perm_write: Option<String>,
    perm_delete: Option<String>,
    allowed_ips: String,
    nonce: String,
    action: String,
}

/// `POST /settings/account/device-token`: `action=search` refreshes the device list (the no-JS
/// device search); otherwise validates and generates.
pub async fn device_submit(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(source): ClientAddr,
    Form(input): Form<DeviceTokenInput>,
) -> AppResult<Response> {
    check_nonce(&input.nonce)?;
    let permissions: Permissions = [
        (input.perm_read.is_some(), Permission::Read),
        (input.perm_write.is_some(), Permission::Write),
        (input.perm_delete.is_some(), Permission::Delete),
    ]
    .into_iter()
    .filter_map(|(on, p)| on.then_some(p))
    .collect();
    let mut form = DeviceForm {
        nonce: input.nonce.clone(),
        description: input.description.clone(),
        expires: input.expires.clone(),
        target_kind: input.target_kind.clone(),
        fleet: input.fleet.clone(),
        device: input.device.clone(),
        device_q: input.device_q.chars().take(64).collect(),
        perm_read: permissions.contains(Permission::Read),
        perm_write: permissions.contains(Permission::Write),
        perm_delete: permissions.contains(Permission::Delete),
        allowed_ips: input.allowed_ips.clone(),
        ..DeviceForm::default()
    };
    if input.action == "search" {
        form.target_kind = "device".into();
        fill_device_options(&app, &mut form).await?;
        let panels = admin_panels(&app, Open::Device, Some(form), None, None).await?;
        return page(&app, &admin, StatusCode::OK, Some(panels)).await;
    }
    let subject = match input.target_kind.as_str() {
        "fleet" => SubjectRequest::Fleet(input.fleet),
        "device" => SubjectRequest::Device(input.device),
        _ => SubjectRequest::Missing,
    };
    let request = TokenRequest {
        description: input.description,
        expires: input.expires,
        subject,
        permissions,
        allowed_ips: input.allowed_ips,
    };
    let now = crate::domain::now();
    match issuing::validate(&app.store, app.config.max_token_days, &request, now).await? {
        Err(errors) => {
            form.errors = errors;
            fill_device_options(&app, &mut form).await?;
            let panels = admin_panels(&app, Open::Device, Some(form), None, None).await?;
            page(&app, &admin, StatusCode::UNPROCESSABLE_ENTITY, Some(panels)).await
        }
        Ok(valid) => issue_and_show(&app, &admin, valid, &input.nonce, &source, now).await,
    }
}

/// Query of the device search.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// `GET /settings/account/device-search?q=…`: devices whose name or UUID starts with `q`, for
/// the panel's search-as-you-type (at most 50; never the whole list).
pub async fn device_search(
    State(app): State<AppState>,
    _admin: AdminUser,
    Query(q): Query<SearchQuery>,
) -> AppResult<Json<serde_json::Value>> {
    if q.q.chars().count() > 64 {
        return Err(AppError::BadRequest(
            "The search text can be at most 64 characters.".into(),
        ));
    }
    let hits = if q.q.trim().is_empty() {
        Vec::new()
    } else {
        app.store.search_devices(&q.q, SEARCH_MAX).await?
    };
    Ok(Json(serde_json::json!({ "devices": hits })))
}
