//! `/api/v2/{fleet}/devices` and `/api/v2/{fleet}/devices/{device_uuid}`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::api::json::{ApiJson, DeviceJson, DevicePage};
use crate::auth::bearer::{Access, Bearer, authorize};
use crate::domain::scope::Permission;
use crate::domain::{device, names};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::devices::Device;

/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 100;
/// Largest `limit`.
const MAX_LIMIT: i64 = 1000;

/// Parsed query of the device list.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    after: String,
    limit: i64,
    group: Option<String>,
    tags: Vec<String>,
}

/// Parses `after`, `limit`, `group_name` and repeated `tags[]`; anything else is refused.
pub fn parse_list_query(raw: Option<&str>) -> Result<ListQuery, AppError> {
    let pairs = crate::api::query::pairs(raw)?;
    let mut q = ListQuery {
        limit: DEFAULT_LIMIT,
        ..ListQuery::default()
    };
    for (k, v) in pairs {
        match k.as_str() {
            // Empty: the first page, as if `after` were left out.
            "after" if v.is_empty() => q.after.clear(),
            "after" => {
                q.after = names::normalize_device_uuid(&v).ok_or_else(|| {
                    AppError::BadRequest(
                        "`after` must be a device UUID from a previous page's `next`.".into(),
                    )
                })?;
            }
            "limit" => {
                q.limit = v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        AppError::BadRequest(format!(
                            "`limit` must be a whole number from 1 to {MAX_LIMIT}."
                        ))
                    })?;
            }
            "group_name" => {
                if v.chars().count() > device::GROUP_MAX {
                    return Err(AppError::BadRequest(format!(
                        "`group_name` can be at most {} characters.",
                        device::GROUP_MAX
                    )));
                }
                q.group = Some(v);
            }
            "tags[]" | "tags" => {
                if q.tags.len() == 10 {
                    return Err(AppError::BadRequest("At most 10 `tags[]` filters.".into()));
                }
                q.tags
                    .push(names::normalize_tag(&v).map_err(AppError::BadRequest)?);
            }
            other => {
                return Err(crate::api::query::unknown(other));
            }
        }
    }
    Ok(q)
}

/// `GET /api/v2/{fleet}/devices`.
pub async fn list(
    State(app): State<AppState>,
    bearer: Bearer,
    Path(fleet): Path<String>,
    RawQuery(raw): RawQuery,
) -> AppResult<Json<DevicePage>> {
    let q = parse_list_query(raw.as_deref())?;
    let access = Access::Fleet {
        fleet: &fleet,
        needed: Permission::Read,
    };
    authorize(&app, &bearer, access).await?;
    if app.store.fleet(&fleet).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let mut devices = app
        .store
        .list_devices(&fleet, &q.after, q.limit + 1, q.group.as_deref(), &q.tags)
        .await?;
    let next = if devices.len() as i64 > q.limit {
        devices.truncate(usize::try_from(q.limit).unwrap_or(0));
        devices.last().map(|d| d.uuid.clone())
    } else {
        None
    };
    Ok(Json(DevicePage {
        devices: devices.into_iter().map(DeviceJson).collect(),
        next,
    }))
}

/// The device a call names, if the token may act on it with `needed`.
async fn authorized_device(
    app: &AppState,
    bearer: &Bearer,
    fleet: &str,
    uuid: &str,
    needed: Permission,
) -> AppResult<Device> {
    let uuid = names::normalize_device_uuid(uuid).ok_or(AppError::NotFound)?;
    let access = Access::Device {
        fleet,
        uuid: &uuid,
        needed,
    };
    authorize(app, bearer, access)
        .await?
        .device
        .ok_or(AppError::NotFound)
}

/// `GET /api/v2/{fleet}/devices/{device_uuid}`.
pub async fn get(
    State(app): State<AppState>,
    bearer: Bearer,
    Path((fleet, uuid)): Path<(String, String)>,
) -> AppResult<Json<DeviceJson>> {
    let device = authorized_device(&app, &bearer, &fleet, &uuid, Permission::Read).await?;
    Ok(Json(device.into()))
}

/// Body of `PATCH`: any of name, description, group, tags; nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicePatch {
    name: Option<String>,
    description: Option<String>,
    #[serde(alias = "group_name")]
    group: Option<String>,
    tags: Option<Vec<String>>,
}

impl DevicePatch {
    /// Applies the patch to `d` after checking every value by the device field rules.
    pub fn apply(self, mut d: Device) -> Result<Device, AppError> {
        if self.name.is_none()
            && self.description.is_none()
            && self.group.is_none()
            && self.tags.is_none()
        {
            return Err(AppError::BadRequest(
                "Send at least one of name, description, group, tags.".into(),
            ));
        }
        let bad =
            |e: device::FieldError| AppError::Unprocessable(format!("`{}` {}.", e.field, e.rule));
        if let Some(name) = self.name {
            d.name = device::name(&name).map_err(bad)?;
        }
        if let Some(description) = self.description {
            d.description = device::description(&description).map_err(bad)?;
        }
        if let Some(group) = self.group {
            d.group_name = device::group(&group).map_err(bad)?;
        }
        if let Some(tags) = self.tags {
            d.tags =
                Device::frame_tags(&device::tags(tags.iter().map(String::as_str)).map_err(bad)?);
        }
        Ok(d)
    }
}

/// `PATCH /api/v2/{fleet}/devices/{device_uuid}` (needs `write`).
pub async fn patch(
    State(app): State<AppState>,
    bearer: Bearer,
    Path((fleet, uuid)): Path<(String, String)>,
    ApiJson(body): ApiJson<DevicePatch>,
) -> AppResult<Json<DeviceJson>> {
    let device = authorized_device(&app, &bearer, &fleet, &uuid, Permission::Write).await?;
    let updated = body.apply(device)?;
    app.store.update_device(&updated).await?;
    Ok(Json(updated.into()))
}

/// `DELETE /api/v2/{fleet}/devices/{device_uuid}` (needs `delete`).
pub async fn delete(
    State(app): State<AppState>,
    bearer: Bearer,
    Path((fleet, uuid)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let device = authorized_device(&app, &bearer, &fleet, &uuid, Permission::Delete).await?;
    if !app.store.delete_device(&device.uuid).await? {
        return Err(AppError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_queries() {
        assert_eq!(parse_list_query(None).unwrap().limit, 100);
        assert_eq!(
            parse_list_query(Some("after=")).unwrap(),
            parse_list_query(None).unwrap()
        );
        let q = parse_list_query(Some(
            "limit=5&after=D-0000-00AA&group_name=g&tags[]=Edge&tags%5B%5D=lab",
        ))
        .unwrap();
        assert_eq!(
            q,
            ListQuery {
                after: "d-0000-00aa".into(),
                limit: 5,
                group: Some("g".into()),
                tags: vec!["edge".into(), "lab".into()]
            }
        );
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=-1",
            "limit=1e3",
            "limit=99999999999999999999",
            "after=x",
            "after=%20",
            "tags[]=a%20b",
            "sort=name",
            "limit=%FF",
        ] {
            assert!(parse_list_query(Some(bad)).is_err(), "{bad}");
        }
    }
}
