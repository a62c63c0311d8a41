//! `GET /api/v2/fleets`: the fleets a token can see.

use axum::Json;
use axum::extract::State;

use crate::AppState;
use crate::auth::bearer::{Bearer, caller};
use crate::domain::scope::{Permissions, Principal, Role, Target};
use crate::error::AppResult;
use crate::store::fleets::Fleet;

fn entry(f: &Fleet, p: Permissions) -> serde_json::Value {
    serde_json::json!({ "key": f.key, "name": f.name, "description": f.description, "permissions": p.names() })
}

/// `GET /api/v2/fleets`.
pub async fn list(
    State(app): State<AppState>,
    bearer: Bearer,
) -> AppResult<Json<serde_json::Value>> {
    let auth = app.store.token_auth(&bearer.hash, bearer.kind, "").await?;
    let user_id = auth
        .as_ref()
        .and_then(|a| a.user.as_ref())
        .map(|u| u.id.clone());
    let who = caller(&app, &bearer, auth, None).await?;
    let visible: Vec<serde_json::Value> = match &who.principal {
        Principal::User {
            role: Role::Admin, ..
        } => app
            .store
            .fleets()
            .await?
            .iter()
            .map(|f| entry(f, Permissions::ALL))
            .collect(),
        Principal::User { .. } => {
            let perms = app
                .store
                .fleet_permissions(user_id.as_deref().unwrap_or_default())
                .await?;
            app.store
                .fleets()
                .await?
                .iter()
                .filter_map(|f| {
                    perms
                        .get(&f.key)
                        .filter(|p| !p.is_empty())
                        .map(|p| entry(f, *p))
                })
                .collect()
        }
        Principal::DeviceToken {
            target,
            permissions,
        } => {
            let fleet = match target {
                Target::Fleet(key) => app.store.fleet(key).await?,
                Target::Device(uuid) => app.store.fleet_of_device(uuid).await?,
            };
            fleet.iter().map(|f| entry(f, *permissions)).collect()
        }
    };
    Ok(Json(serde_json::json!({ "fleets": visible })))
}
