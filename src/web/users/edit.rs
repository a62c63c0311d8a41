//! User Permissions → one user's side panel: their per-fleet Read/Write/Delete and the account
//! actions (disable/enable, reset password, make/unmake admin — never the last admin).

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::{edit_page, load_user};
use crate::auth::ClientAddr;
use crate::auth::password;
use crate::auth::session::AdminUser;
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::scope::{Permission, Permissions, Role};
use crate::domain::token::random_base62;
use crate::error::{AppError, AppResult};
use crate::layers::CarriesSecret;
use crate::state::AppState;

/// Query of the edit page: a notice after an action.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EditQuery {
    done: String,
}

/// `GET /settings/users/{id}`: the edit side panel.
pub async fn edit(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    Query(q): Query<EditQuery>,
) -> AppResult<Response> {
    let user = load_user(&app, &id).await?;
    let notice = match q.done.as_str() {
        "permissions" => "Permissions saved. They apply to the user's sessions and tokens at once.",
        "disabled" => "User disabled: their sessions ended and their tokens stopped working.",
        "enabled" => "User enabled.",
        "admin" => "The user is now an admin.",
        "user" => "The user is no longer an admin.",
        _ => "",
    };
    edit_page(
        &app,
        &admin,
        user,
        StatusCode::OK,
        notice.into(),
        String::new(),
        String::new(),
    )
    .await
}

/// `POST /settings/users/{id}/permissions`: checkboxes `{fleet}.read|write|delete`.
pub async fn save_permissions(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(source): ClientAddr,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let user = load_user(&app, &id).await?;
    let fleets = app.store.fleets().await?;
    let mut wanted: HashMap<String, Permissions> = fleets
        .iter()
        .map(|f| (f.key.clone(), Permissions::NONE))
        .collect();
    for (name, _) in fields.iter().filter(|(k, _)| k != "csrf") {
        let (fleet, perm) = name
            .rsplit_once('.')
            .ok_or_else(|| AppError::BadRequest(format!("Unknown field {name:?}.")))?;
        let perm = Permission::parse(perm)
            .ok_or_else(|| AppError::BadRequest(format!("Unknown permission in {name:?}.")))?;
        let entry = wanted
            .get_mut(fleet)
            .ok_or_else(|| AppError::BadRequest(format!("There is no fleet {fleet:?}.")))?;
        *entry = entry.with(perm);
    }
    let before = app.store.fleet_permissions(&user.id).await?;
    let mut changes = Vec::new();
    for f in &fleets {
        let new = wanted[&f.key];
        if before.get(&f.key).copied().unwrap_or_default() != new {
            app.store
                .set_fleet_permissions(&user.id, &f.key, new)
                .await?;
            changes.push(format!("{}={}", f.key, new.names().join("+")));
        }
    }
    if !changes.is_empty() {
        let event = AuditEvent::new(
            AuditAction::PermissionsChanged,
            &admin.user.username,
            &source,
        )
        .target(&user.username)
        .detail(changes.join(" "));
        app.store.audit(&event, crate::domain::now()).await?;
    }
    Ok(Redirect::to(&format!("/settings/users/{}?done=permissions", user.id)).into_response())
}

/// Fields of the account actions.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActionInput {
    action: String,
}

/// `POST /settings/users/{id}/account`: `disable`, `enable`, `make-admin`, `make-user`,
/// `reset-password`.
pub async fn account_action(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(source): ClientAddr,
    Path(id): Path<String>,
    Form(input): Form<ActionInput>,
) -> AppResult<Response> {
    let user = load_user(&app, &id).await?;
    let (role, disabled, action, done) = match input.action.as_str() {
        "disable" => (user.role, true, AuditAction::UserDisabled, "disabled"),
        "enable" => (user.role, false, AuditAction::UserEnabled, "enabled"),
        "make-admin" => (
            Role::Admin,
            user.disabled,
            AuditAction::UserRoleChanged,
            "admin",
        ),
        "make-user" => (
            Role::User,
            user.disabled,
            AuditAction::UserRoleChanged,
            "user",
        ),
        "reset-password" => {
            let new_password = random_base62(20);
            let hash = password::hash(new_password.clone()).await?;
            app.store.set_password(&user.id, &hash, None).await?;
            let event = AuditEvent::new(
                AuditAction::UserPasswordReset,
                &admin.user.username,
                &source,
            )
            .target(&user.username);
            app.store.audit(&event, crate::domain::now()).await?;
            let notice = "Password reset; their sessions ended. Give them the new password over a safe channel — it is shown only now.";
            let mut page = edit_page(
                &app,
                &admin,
                user,
                StatusCode::OK,
                notice.into(),
                String::new(),
                new_password,
            )
            .await?;
            page.extensions_mut().insert(CarriesSecret);
            return Ok(page);
        }
        _ => return Err(AppError::BadRequest("Unknown action.".into())),
    };
    if !app
        .store
        .change_user_guarded(&user.id, role, disabled)
        .await?
    {
        let error = "That would leave no enabled admin. Make another user an admin first.";
        return edit_page(
            &app,
            &admin,
            user,
            StatusCode::CONFLICT,
            String::new(),
            error.into(),
            String::new(),
        )
        .await;
    }
    let event = AuditEvent::new(action, &admin.user.username, &source)
        .target(&user.username)
        .detail(format!("role={} disabled={disabled}", role.as_str()));
    app.store.audit(&event, crate::domain::now()).await?;
    Ok(Redirect::to(&format!("/settings/users/{}?done={done}", user.id)).into_response())
}
