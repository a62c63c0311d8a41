//! `GET /api/v2/fleets`: the fleets a token can see.

use axum::Json;
use axum::extract::State;

use crate::auth::bearer::{Access, Bearer, authorize};
use crate::domain::scope::{self, Permissions, Principal, Resource, Target};
use crate::error::AppResult;
use crate::state::AppState;
use crate::store::fleets::Fleet;

fn entry(f: &Fleet, p: Permissions) -> serde_json::Value {
    serde_json::json!({ "key": f.key, "name": f.name, "description": f.description, "permissions": p.names() })
}

/// `GET /api/v2/fleets`: every fleet the scope decision lets the caller see, with what it may
/// do there.
pub async fn list(
    State(app): State<AppState>,
    bearer: Bearer,
) -> AppResult<Json<serde_json::Value>> {
    let caller = authorize(&app, &bearer, Access::Caller).await?.caller;
    // The candidates: a device details token's own fleet (a device target sees that fleet
    // through its device), a user's every fleet — with all their per-fleet rights.
    let (principal, candidates): (Principal, Vec<(Fleet, Option<String>)>) = match &caller.principal
    {
        Principal::DeviceToken { target, .. } => {
            let (fleet, device) = match target {
                Target::Fleet(key) => (app.store.fleet(key.as_str()).await?, None),
                Target::Device(uuid) => (
                    app.store.fleet_of_device(uuid.as_str()).await?,
                    Some(uuid.clone()),
                ),
            };
            let candidates = fleet.into_iter().map(|f| (f, device.clone())).collect();
            (caller.principal.clone(), candidates)
        }
        Principal::User { role, .. } => {
            let id = caller.user.as_ref().map_or("", |u| u.id.as_str());
            let principal = Principal::User {
                role: role.to_owned(),
                fleets: app.store.fleet_permissions(id).await?,
            };
            let fleets = app.store.fleets().await?;
            (principal, fleets.into_iter().map(|f| (f, None)).collect())
        }
    };
    let visible: Vec<serde_json::Value> = candidates
        .iter()
        .filter_map(|(f, device)| {
            let resource = Resource {
                fleet: &f.key,
                device: device.as_deref(),
            };
            scope::granted(&principal, resource).map(|p| entry(f, p))
        })
        .collect();
    Ok(Json(serde_json::json!({ "fleets": visible })))
}
