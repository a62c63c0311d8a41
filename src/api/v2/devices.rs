//! `/api/v2/{fleet}/devices` and `/api/v2/{fleet}/devices/{device_uuid}`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::AppState;
use crate::api::ApiJson;
use crate::api::json::{DeviceJson, DevicePage};
use crate::auth::bearer::{Bearer, caller, enforce};
use crate::domain::names;
use crate::domain::scope::{Permission, Resource};
use crate::error::{AppError, AppResult};
use crate::store::devices::Device;

/// Default and largest page size.
pub const DEFAULT_LIMIT: i64 = 100;
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
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|_| AppError::BadRequest("The query string is malformed.".into()))?;
    let mut q = ListQuery {
        limit: DEFAULT_LIMIT,
        ..ListQuery::default()
    };
    for (k, v) in pairs {
        match k.as_str() {
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
                if v.chars().count() > 64 {
                    return Err(AppError::BadRequest(
                        "`group_name` can be at most 64 characters.".into(),
                    ));
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
                return Err(AppError::BadRequest(format!(
                    "Unknown query parameter `{other}`."
                )));
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
    let auth = app
        .store
        .token_auth(&bearer.hash, bearer.kind, &fleet)
        .await?;
    let who = caller(&app, &bearer, auth, Some(&fleet)).await?;
    enforce(
        &app,
        &bearer,
        &who,
        Resource {
            fleet: &fleet,
            device: None,
        },
        Permission::Read,
    )
    .await?;
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

/// Loads the caller and the device in one round trip and applies the scope decision.
async fn authorized_device(
    app: &AppState,
    bearer: &Bearer,
    fleet: &str,
    uuid: &str,
    needed: Permission,
) -> AppResult<Device> {
    let uuid = names::normalize_device_uuid(uuid).ok_or(AppError::NotFound)?;
    let (auth, device) = match app
        .store
        .token_auth_with_device(&bearer.hash, bearer.kind, fleet, &uuid)
        .await?
    {
        Some((a, d)) => (Some(a), d),
        None => (None, None),
    };
    // The URL names a device that is there, or one that is not (never existed, deleted, or in
    // another fleet than the URL says). A missing device is judged on the URL's fleet alone:
    // no device target covers it (404, as for any device outside the target), a fleet target
    // or a user's rights on that fleet decide between 403 and the 404 of the look-up below —
    // the same answers whether the UUID exists elsewhere or not at all.
    let in_fleet = device.as_ref().is_some_and(|d| d.fleet_key == fleet);
    let who = caller(app, bearer, auth, Some(fleet)).await?;
    enforce(
        app,
        bearer,
        &who,
        Resource {
            fleet,
            device: in_fleet.then_some(uuid.as_str()),
        },
        needed,
    )
    .await?;
    device.filter(|_| in_fleet).ok_or(AppError::NotFound)
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
    /// Applies the patch to `d` after checking every value.
    pub fn apply(self, mut d: Device) -> Result<Device, AppError> {
        let bad = |m: &str| AppError::Unprocessable(m.to_owned());
        if self.name.is_none()
            && self.description.is_none()
            && self.group.is_none()
            && self.tags.is_none()
        {
            return Err(AppError::BadRequest(
                "Send at least one of name, description, group, tags.".into(),
            ));
        }
        if let Some(name) = self.name {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
                return Err(bad(
                    "`name` must be 1–128 characters without control characters.",
                ));
            }
            d.name = name.to_owned();
        }
        if let Some(description) = self.description {
            if description.chars().count() > 1024 {
                return Err(bad("`description` can be at most 1024 characters."));
            }
            d.description = description;
        }
        if let Some(group) = self.group {
            if group.chars().count() > 64 || group.chars().any(char::is_control) {
                return Err(bad(
                    "`group` can be at most 64 characters without control characters.",
                ));
            }
            d.group_name = group.trim().to_owned();
        }
        if let Some(tags) = self.tags {
            if tags.len() > 50 {
                return Err(bad("A device can have at most 50 tags."));
            }
            let mut tags = tags
                .iter()
                .map(|t| names::normalize_tag(t))
                .collect::<Result<Vec<_>, _>>()
                .map_err(AppError::Unprocessable)?;
            tags.sort();
            tags.dedup();
            d.tags = Device::frame_tags(&tags);
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
            "tags[]=a%20b",
            "sort=name",
            "limit=%FF",
        ] {
            assert!(parse_list_query(Some(bad)).is_err(), "{bad}");
        }
    }
}
