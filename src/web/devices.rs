//! Devices: fleets and their devices with search and cursor pagination (fast at any size),
//! device detail, and for admins: create a fleet, register a device.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::view::{self, Chrome, render};
use crate::auth::ClientAddr;
use crate::auth::session::{AdminUser, CurrentUser};
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::scope::{Decision, Permission, Principal, Resource};
use crate::domain::{device, names};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::devices::Device;
use crate::store::fleets::Fleet;

const PAGE: i64 = 50;

/// The signed-in user as a scope principal, with their current rights.
async fn principal(app: &AppState, user: &CurrentUser) -> AppResult<Principal> {
    Ok(Principal::User {
        role: user.user.role,
        fleets: app.store.fleet_permissions(&user.user.id).await?,
    })
}

fn can_read(p: &Principal, fleet: &str) -> bool {
    crate::domain::scope::decide(
        p,
        Resource {
            fleet,
            device: None,
        },
        Permission::Read,
    ) == Decision::Allow
}

struct FleetLink {
    key: String,
    name: String,
    current: bool,
}

struct DeviceRow {
    uuid: String,
    name: String,
    group: String,
    tags: String,
    last_keepalive: String,
}

/// Query of the list.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    fleet: String,
    q: String,
    after: String,
}

/// The admin forms' inputs, kept on error.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AdminForms {
    key: String,
    name: String,
    description: String,
    fleet: String,
    group: String,
    tags: String,
    uuid: String,
}

#[derive(Template)]
#[template(path = "devices.html")]
struct DevicesPage {
    chrome: Chrome,
    fleets: Vec<FleetLink>,
    fleet: Option<Fleet>,
    rows: Vec<DeviceRow>,
    q: String,
    next_link: String,
    form: AdminForms,
    fleet_error: String,
    device_error: String,
}

fn device_row(d: Device, now: i64) -> DeviceRow {
    DeviceRow {
        tags: d.tag_list().join(", "),
        last_keepalive: d
            .last_keepalive
            .map_or_else(|| "never".into(), |t| view::relative(t, now)),
        uuid: d.uuid,
        name: d.name,
        group: d.group_name,
    }
}

/// One page of `fleet`'s devices (by cursor) and the next page's link, or the devices of the
/// fleet that match the search text.
async fn fleet_rows(
    app: &AppState,
    fleet: &Fleet,
    q: &ListQuery,
) -> AppResult<(Vec<DeviceRow>, String)> {
    let now = crate::domain::now();
    if !q.q.trim().is_empty() {
        let mut rows = Vec::new();
        for hit in app
            .store
            .search_devices(&q.q, crate::store::devices::SEARCH_MAX)
            .await?
            .into_iter()
            .filter(|h| h.fleet_key == fleet.key)
        {
            if let Some(d) = app.store.device(&hit.uuid).await? {
                rows.push(device_row(d, now));
            }
        }
        return Ok((rows, String::new()));
    }
    let after = if q.after.is_empty() {
        String::new()
    } else {
        names::normalize_device_uuid(&q.after)
            .ok_or_else(|| AppError::BadRequest("Bad page cursor.".into()))?
    };
    let mut devices = app
        .store
        .list_devices(&fleet.key, &after, PAGE + 1, None, &[])
        .await?;
    let mut next_link = String::new();
    if devices.len() as i64 > PAGE {
        devices.truncate(PAGE as usize);
        if let Some(last) = devices.last() {
            next_link = format!("/devices?fleet={}&after={}", fleet.key, last.uuid);
        }
    }
    let rows = devices.into_iter().map(|d| device_row(d, now)).collect();
    Ok((rows, next_link))
}

async fn page(
    app: &AppState,
    user: &CurrentUser,
    q: ListQuery,
    status: StatusCode,
    form: AdminForms,
    fleet_error: String,
    device_error: String,
) -> AppResult<Response> {
    if q.q.chars().count() > 64 {
        return Err(AppError::BadRequest(
            "The search text can be at most 64 characters.".into(),
        ));
    }
    let who = principal(app, user).await?;
    let visible: Vec<Fleet> = app
        .store
        .fleets()
        .await?
        .into_iter()
        .filter(|f| can_read(&who, &f.key))
        .collect();
    let current = visible
        .iter()
        .find(|f| f.key == q.fleet)
        .or(visible.first())
        .cloned();
    let (rows, next_link) = match &current {
        Some(f) => fleet_rows(app, f, &q).await?,
        None => (Vec::new(), String::new()),
    };
    let fleets = visible
        .iter()
        .map(|f| FleetLink {
            current: current.as_ref().is_some_and(|c| c.key == f.key),
            key: f.key.clone(),
            name: f.name.clone(),
        })
        .collect();
    render(
        status,
        &DevicesPage {
            chrome: Chrome::new(user, "devices", ""),
            fleets,
            fleet: current,
            rows,
            q: q.q,
            next_link,
            form,
            fleet_error,
            device_error,
        },
    )
}

/// `GET /devices?fleet=&q=&after=`.
pub async fn list(
    State(app): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    page(
        &app,
        &user,
        q,
        StatusCode::OK,
        AdminForms::default(),
        String::new(),
        String::new(),
    )
    .await
}

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage {
    chrome: Chrome,
    device: Device,
    tags: String,
    registered: String,
    last_keepalive: String,
}

/// `GET /devices/{uuid}`: 404 unless the user may read its fleet.
pub async fn detail(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(uuid): Path<String>,
) -> AppResult<Response> {
    let uuid = names::normalize_device_uuid(&uuid).ok_or(AppError::NotFound)?;
    let device = app.store.device(&uuid).await?.ok_or(AppError::NotFound)?;
    if !can_read(&principal(&app, &user).await?, &device.fleet_key) {
        return Err(AppError::NotFound);
    }
    let now = crate::domain::now();
    let page = DevicePage {
        chrome: Chrome::new(&user, "devices", ""),
        tags: device.tag_list().join(", "),
        registered: view::datetime(device.registered_at),
        last_keepalive: device.last_keepalive.map_or_else(
            || "never".into(),
            |t| format!("{} ({})", view::relative(t, now), view::datetime(t)),
        ),
        device,
    };
    render(StatusCode::OK, &page)
}

/// Re-renders the page with the admin's input kept and an error at the fleet or device form.
async fn refuse(
    app: &AppState,
    admin: &CurrentUser,
    f: AdminForms,
    fleet_error: String,
    device_error: String,
) -> AppResult<Response> {
    let q = ListQuery {
        fleet: f.fleet.clone(),
        ..ListQuery::default()
    };
    page(
        app,
        admin,
        q,
        StatusCode::UNPROCESSABLE_ENTITY,
        f,
        fleet_error,
        device_error,
    )
    .await
}

/// `POST /devices/fleets`: creates a fleet.
pub async fn create_fleet(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(source): ClientAddr,
    Form(f): Form<AdminForms>,
) -> AppResult<Response> {
    let key = f.key.trim().to_owned();
    let checked = names::validate_fleet_key(&key)
        .map_err(str::to_owned)
        .and_then(|()| {
            Ok((
                device::name(&f.name).map_err(|e| format!("The {e}."))?,
                device::description(&f.description).map_err(|e| format!("The {e}."))?,
            ))
        });
    let (name, description) = match checked {
        Ok(fields) => fields,
        Err(e) => return refuse(&app, &admin, f, e, String::new()).await,
    };
    let fleet = Fleet {
        key: key.clone(),
        name,
        description,
    };
    match app.store.create_fleet(&fleet, crate::domain::now()).await {
        Ok(()) => {
            let event = AuditEvent::new(AuditAction::FleetCreated, &admin.user.username, &source)
                .target(&key);
            app.store.audit(&event, crate::domain::now()).await?;
            Ok(Redirect::to(&format!("/devices?fleet={key}")).into_response())
        }
        Err(StoreError::Conflict(_)) => {
            refuse(
                &app,
                &admin,
                f,
                format!("A fleet with key {key} exists already."),
                String::new(),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /devices/register`: registers a device (UUID generated when empty).
pub async fn register(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(source): ClientAddr,
    Form(f): Form<AdminForms>,
) -> AppResult<Response> {
    let record = csv::StringRecord::from(vec![
        f.fleet.as_str(),
        f.uuid.as_str(),
        f.name.as_str(),
        f.group.as_str(),
        f.tags.as_str(),
        f.description.as_str(),
    ]);
    let device = match crate::import::parse_row(&record, crate::domain::now()) {
        Ok(d) => d,
        Err(e) => return refuse(&app, &admin, f, String::new(), e).await,
    };
    if app.store.fleet(&device.fleet_key).await?.is_none() {
        let e = format!("There is no fleet {:?}.", device.fleet_key);
        return refuse(&app, &admin, f, String::new(), e).await;
    }
    match app
        .store
        .insert_devices(std::slice::from_ref(&device))
        .await
    {
        Ok(()) => {
            let event =
                AuditEvent::new(AuditAction::DeviceRegistered, &admin.user.username, &source)
                    .target(&device.uuid);
            app.store.audit(&event, crate::domain::now()).await?;
            Ok(Redirect::to(&format!("/devices/{}", device.uuid)).into_response())
        }
        Err(StoreError::Conflict(_)) => {
            let e = format!("A device {} exists already.", device.uuid);
            refuse(&app, &admin, f, String::new(), e).await
        }
        Err(e) => Err(e.into()),
    }
}
