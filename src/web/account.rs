//! General Settings → Account: plan, renewal, active devices, and the Access Token card with
//! the *Generate Device Details Token* and *User Token* side panels and the show-once view.

use askama::Template;
use axum::Form;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Chrome, render};
use crate::AppState;
use crate::auth::ClientAddr;
use crate::auth::session::{AdminUser, CurrentUser};
use crate::domain::expiry;
use crate::domain::scope::{Permission, Permissions};
use crate::domain::token::random_base62;
use crate::error::{AppError, AppResult};
use crate::issuing::{self, FieldErrors, IssueOutcome, SubjectRequest, TokenRequest};
use crate::store::account::Account;
use crate::store::devices::SEARCH_MAX;

/// A `<option>`.
#[derive(Debug, Clone)]
pub struct Opt {
    value: String,
    label: String,
    selected: bool,
}

/// Which side panel is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Device,
    User,
    Created,
}

/// State of the device details token form.
#[derive(Debug, Clone, Default)]
struct DeviceForm {
    nonce: String,
    description: String,
    expires: String,
    target_kind: String,
    fleet: String,
    device: String,
    device_q: String,
    perm_read: bool,
    perm_write: bool,
    perm_delete: bool,
    fleets: Vec<Opt>,
    devices: Vec<Opt>,
    errors: FieldErrors,
}

/// State of the user token form.
#[derive(Debug, Clone, Default)]
struct UserForm {
    nonce: String,
    description: String,
    expires: String,
    username: String,
    users: Vec<Opt>,
    errors: FieldErrors,
}

/// The show-once view of a new token.
#[derive(Debug, Clone)]
struct Created {
    token: String,
    token_id: String,
    kind_label: &'static str,
    description: String,
    subject: String,
    permissions: String,
    expires: String,
}

/// What only admins get on the Account tab.
struct AdminPanels {
    open: Open,
    /// Slide the panel in: only when it is opened, not when the server re-renders it.
    animate: bool,
    min_date: String,
    max_date: String,
    device: DeviceForm,
    user: UserForm,
    created: Option<Created>,
}

impl AdminPanels {
    fn device_open(&self) -> bool {
        self.open == Open::Device
    }

    fn user_open(&self) -> bool {
        self.open == Open::User
    }

    fn any_open(&self) -> bool {
        self.open != Open::None
    }
}

#[derive(Template)]
#[template(path = "settings/account.html")]
struct AccountPage {
    chrome: Chrome,
    expiring: Vec<super::dashboard::Expiring>,
    account: Account,
    devices_total: i64,
    devices_active: i64,
    admin: Option<AdminPanels>,
}

fn nonce() -> String {
    random_base62(32)
}

fn check_nonce(n: &str) -> AppResult<()> {
    if n.len() == 32 && n.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(AppError::BadRequest(
            "The form is incomplete. Reload the page and try again.".into(),
        ))
    }
}

/// The date picker's bounds and default today, as `YYYY-MM-DD`.
struct DateBounds {
    min: String,
    max: String,
    default: String,
}

fn date_bounds(app: &AppState) -> DateBounds {
    let today = expiry::today(time::OffsetDateTime::now_utc());
    let max = app.config.max_token_days;
    DateBounds {
        min: expiry::format_date(today + time::Duration::days(1)),
        max: expiry::format_date(expiry::latest_date(today, max)),
        default: expiry::format_date(expiry::default_date(today, max)),
    }
}

async fn fresh_device_form(app: &AppState) -> AppResult<DeviceForm> {
    let default = date_bounds(app).default;
    let mut f = DeviceForm {
        nonce: nonce(),
        expires: default,
        target_kind: "fleet".into(),
        perm_read: true,
        ..DeviceForm::default()
    };
    fill_device_options(app, &mut f).await?;
    Ok(f)
}

async fn fresh_user_form(app: &AppState) -> AppResult<UserForm> {
    let default = date_bounds(app).default;
    let mut f = UserForm {
        nonce: nonce(),
        expires: default,
        ..UserForm::default()
    };
    fill_user_options(app, &mut f).await?;
    Ok(f)
}

/// Fleet options, and device options from the search box plus the selected device.
async fn fill_device_options(app: &AppState, f: &mut DeviceForm) -> AppResult<()> {
    f.fleets = app
        .store
        .fleets()
        .await?
        .into_iter()
        .map(|fl| Opt {
            selected: fl.key == f.fleet,
            label: format!("{} ({})", fl.name, fl.key),
            value: fl.key,
        })
        .collect();
    let mut hits = if f.device_q.trim().is_empty() {
        Vec::new()
    } else {
        app.store.search_devices(&f.device_q, SEARCH_MAX).await?
    };
    if let Some(uuid) = crate::domain::names::normalize_device_uuid(&f.device) {
        if !hits.iter().any(|h| h.uuid == uuid)
            && let Some(d) = app.store.device(&uuid).await?
        {
            {
                hits.insert(
                    0,
                    crate::store::devices::DeviceHit {
                        uuid: d.uuid,
                        name: d.name,
                        fleet_key: d.fleet_key,
                    },
                );
            }
        }
        f.device = uuid;
    }
    f.devices = hits
        .into_iter()
        .map(|h| Opt {
            selected: h.uuid == f.device,
            label: format!("{} — {} ({})", h.name, h.uuid, h.fleet_key),
            value: h.uuid,
        })
        .collect();
    Ok(())
}

async fn fill_user_options(app: &AppState, f: &mut UserForm) -> AppResult<()> {
    f.users = app
        .store
        .users()
        .await?
        .into_iter()
        .filter(|u| !u.disabled)
        .map(|u| Opt {
            selected: u.username == f.username,
            label: format!("{} ({}, {})", u.name(), u.username, u.role.as_str()),
            value: u.username,
        })
        .collect();
    Ok(())
}

async fn page(
    app: &AppState,
    user: &CurrentUser,
    status: StatusCode,
    panels: Option<AdminPanels>,
) -> AppResult<Response> {
    let account = app.store.account().await?;
    let (total, active) = app
        .store
        .device_counts(crate::domain::now() - 86_400)
        .await?;
    let admin = match panels {
        Some(p) => Some(p),
        None if user.user.is_admin() => {
            Some(admin_panels(app, Open::None, None, None, None).await?)
        }
        None => None,
    };
    render(
        status,
        &AccountPage {
            expiring: if user.user.is_admin() {
                super::dashboard::expiring_soon(app).await?
            } else {
                Vec::new()
            },
            chrome: Chrome::new(user, "settings", "account"),
            account,
            devices_total: total,
            devices_active: active,
            admin,
        },
    )
}

async fn admin_panels(
    app: &AppState,
    open: Open,
    device: Option<DeviceForm>,
    user: Option<UserForm>,
    created: Option<Created>,
) -> AppResult<AdminPanels> {
    let DateBounds {
        min: min_date,
        max: max_date,
        ..
    } = date_bounds(app);
    let device = match device {
        Some(d) => d,
        None => fresh_device_form(app).await?,
    };
    let user = match user {
        Some(u) => u,
        None => fresh_user_form(app).await?,
    };
    Ok(AdminPanels {
        open,
        animate: false,
        min_date,
        max_date,
        device,
        user,
        created,
    })
}

/// `GET /settings/account`.
pub async fn show(State(app): State<AppState>, user: CurrentUser) -> AppResult<Response> {
    page(&app, &user, StatusCode::OK, None).await
}

/// `GET /settings/account/device-token`: the Account tab with the panel open (works without JS).
pub async fn device_panel(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
) -> AppResult<Response> {
    let mut panels = admin_panels(&app, Open::Device, None, None, None).await?;
    panels.animate = true;
    page(&app, &admin, StatusCode::OK, Some(panels)).await
}

/// `GET /settings/account/user-token`: the Account tab with the user token panel open.
pub async fn user_panel(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
) -> AppResult<Response> {
    let mut panels = admin_panels(&app, Open::User, None, None, None).await?;
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
    };
    let now = crate::domain::now();
    match issuing::validate(&app, &request, now).await? {
        Err(errors) => {
            form.errors = errors;
            fill_device_options(&app, &mut form).await?;
            let panels = admin_panels(&app, Open::Device, Some(form), None, None).await?;
            page(&app, &admin, StatusCode::UNPROCESSABLE_ENTITY, Some(panels)).await
        }
        Ok(valid) => issue_and_show(&app, &admin, valid, &input.nonce, &source, now).await,
    }
}

/// Fields of the user token form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserTokenInput {
    description: String,
    expires: String,
    username: String,
    nonce: String,
}

/// `POST /settings/account/user-token`.
pub async fn user_submit(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(source): ClientAddr,
    Form(input): Form<UserTokenInput>,
) -> AppResult<Response> {
    check_nonce(&input.nonce)?;
    let request = TokenRequest {
        description: input.description.clone(),
        expires: input.expires.clone(),
        subject: SubjectRequest::User(input.username.clone()),
        permissions: Permissions::NONE,
    };
    let now = crate::domain::now();
    match issuing::validate(&app, &request, now).await? {
        Err(errors) => {
            let mut form = UserForm {
                nonce: input.nonce,
                description: input.description,
                expires: input.expires,
                username: input.username,
                users: Vec::new(),
                errors,
            };
            fill_user_options(&app, &mut form).await?;
            let panels = admin_panels(&app, Open::User, None, Some(form), None).await?;
            page(&app, &admin, StatusCode::UNPROCESSABLE_ENTITY, Some(panels)).await
        }
        Ok(valid) => issue_and_show(&app, &admin, valid, &input.nonce, &source, now).await,
    }
}

#[derive(Template)]
#[template(path = "settings/token_replayed.html")]
struct ReplayedPage {
    chrome: Chrome,
    token_id: String,
}

/// Issues the token of a valid form and shows it once — or, for a replayed nonce, which token
/// the form made before.
async fn issue_and_show(
    app: &AppState,
    admin: &CurrentUser,
    valid: issuing::ValidRequest,
    nonce: &str,
    source: &str,
    now: i64,
) -> AppResult<Response> {
    match issuing::issue(app, Some(&admin.user), valid, Some(nonce), source, now).await? {
        IssueOutcome::Issued(issued) => {
            let r = &issued.record;
            let created = Created {
                token: issued.plaintext.expose().to_owned(),
                token_id: r.id.clone(),
                kind_label: r.kind.label(),
                description: r.description.clone(),
                subject: r.subject(),
                permissions: if r.permissions.is_empty() {
                    "As the user's own rights".into()
                } else {
                    r.permissions.to_string()
                },
                expires: super::view::expiry_date(r.expires_at),
            };
            let panels = admin_panels(app, Open::Created, None, None, Some(created)).await?;
            page(app, admin, StatusCode::OK, Some(panels)).await
        }
        IssueOutcome::Replayed(token_id) => render(
            StatusCode::CONFLICT,
            &ReplayedPage {
                chrome: Chrome::new(admin, "settings", "account"),
                token_id: token_id.unwrap_or_default(),
            },
        ),
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
