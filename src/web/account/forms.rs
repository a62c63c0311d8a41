//! The Account tab's two token forms as the page shows them: their fields, choices and errors,
//! fresh or as submitted.

use crate::domain::expiry;
use crate::domain::names;
use crate::error::AppResult;
use crate::issuing::FieldErrors;
use crate::state::AppState;
use crate::store::devices::{DeviceHit, SEARCH_MAX};

/// A `<option>`.
#[derive(Debug, Clone)]
pub(super) struct Opt {
    pub(super) value: String,
    pub(super) label: String,
    pub(super) selected: bool,
}

pub(super) use crate::web::view::{check_nonce, nonce};

/// The date picker's bounds and default today, as `YYYY-MM-DD`.
pub(crate) struct DateBounds {
    pub(crate) min: String,
    pub(crate) max: String,
    pub(crate) default: String,
}

pub(crate) fn date_bounds(app: &AppState) -> DateBounds {
    let today = expiry::today(time::OffsetDateTime::now_utc());
    let max = app.config.max_token_days;
    DateBounds {
        min: expiry::format_date(today + time::Duration::days(1)),
        max: expiry::format_date(expiry::latest_date(today, max)),
        default: expiry::format_date(expiry::default_date(today, max)),
    }
}

/// State of the device details token form.
#[derive(Debug, Clone, Default)]
pub(super) struct DeviceForm {
    pub(super) nonce: String,
    pub(super) description: String,
    pub(super) expires: String,
    pub(super) target_kind: String,
    pub(super) fleet: String,
    pub(super) device: String,
    pub(super) device_q: String,
    pub(super) perm_read: bool,
    pub(super) perm_write: bool,
    pub(super) perm_delete: bool,
    pub(super) allowed_ips: String,
    pub(super) fleets: Vec<Opt>,
    pub(super) devices: Vec<Opt>,
    pub(super) errors: FieldErrors,
}

pub(super) async fn fresh_device_form(app: &AppState) -> AppResult<DeviceForm> {
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

/// Fleet options, and device options from the search box plus the selected device.
pub(super) async fn fill_device_options(app: &AppState, f: &mut DeviceForm) -> AppResult<()> {
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
    if let Some(uuid) = names::normalize_device_uuid(&f.device) {
        if !hits.iter().any(|h| h.uuid == uuid)
            && let Some(d) = app.store.device(&uuid).await?
        {
            hits.insert(
                0,
                DeviceHit {
                    uuid: d.uuid,
                    name: d.name,
                    fleet_key: d.fleet_key,
                },
            );
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

/// State of the user token form.
#[derive(Debug, Clone, Default)]
pub(super) struct UserForm {
    pub(super) nonce: String,
    pub(super) description: String,
    pub(super) expires: String,
    pub(super) username: String,
    pub(super) allowed_ips: String,
    pub(super) users: Vec<Opt>,
    pub(super) errors: FieldErrors,
}

pub(super) async fn fresh_user_form(app: &AppState) -> AppResult<UserForm> {
    let default = date_bounds(app).default;
    let mut f = UserForm {
        nonce: nonce(),
        expires: default,
        ..UserForm::default()
    };
    fill_user_options(app, &mut f).await?;
    Ok(f)
}

pub(super) async fn fill_user_options(app: &AppState, f: &mut UserForm) -> AppResult<()> {
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
