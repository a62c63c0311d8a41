//! General Settings → User Permissions: users, their per-fleet Read/Write/Delete, and account
//! actions (create, disable/enable, reset password, make/unmake admin — never the last admin).

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Chrome, audit, render, view};
use crate::AppState;
use crate::auth::session::{AdminUser, CurrentUser};
use crate::auth::{ClientAddr, password};
use crate::domain::names;
use crate::domain::scope::{Permission, Permissions, Role};
use crate::domain::token::random_base62;
use crate::error::{AppError, AppResult};
use crate::store::StoreError;
use crate::store::users::{NewUser, User};

struct UserRow {
    id: String,
    name: String,
    username: String,
    email: String,
    fleets: String,
    admin: bool,
    disabled: bool,
    last_login: String,
}

/// The fields of the create-user form, kept on error.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewUserInput {
    username: String,
    email: String,
    display_name: String,
    role: String,
    password: String,
}

impl NewUserInput {
    /// An empty form, offering the least-privileged role.
    fn blank() -> Self {
        NewUserInput {
            role: "user".into(),
            ..NewUserInput::default()
        }
    }
}

#[derive(Template)]
#[template(path = "settings/users.html")]
struct UsersPage {
    chrome: Chrome,
    rows: Vec<UserRow>,
    form: NewUserInput,
    error: String,
    /// A generated initial password, shown once.
    created: Option<(String, String)>,
    /// The edit side panel, when open.
    edit: Option<EditPanel>,
}

async fn users_page(
    app: &AppState,
    admin: &CurrentUser,
    status: StatusCode,
    form: NewUserInput,
    error: String,
    created: Option<(String, String)>,
) -> AppResult<Response> {
    let rows = user_rows(app).await?;
    render(
        status,
        &UsersPage {
            chrome: Chrome::new(admin, "settings", "users"),
            rows,
            form,
            error,
            created,
            edit: None,
        },
    )
}

async fn user_rows(app: &AppState) -> AppResult<Vec<UserRow>> {
    let now = crate::domain::now();
    let mut grants: HashMap<String, Vec<String>> = HashMap::new();
    for (user, fleet, p) in app.store.all_fleet_permissions().await? {
        let letters: String = p
            .iter()
            .map(|x| x.label().chars().next().unwrap_or('?'))
            .collect();
        grants
            .entry(user)
            .or_default()
            .push(format!("{fleet} ({letters})"));
    }
    let rows = app
        .store
        .users()
        .await?
        .into_iter()
        .map(|u| UserRow {
            fleets: if u.is_admin() {
                "all (admin)".into()
            } else {
                grants
                    .remove(&u.id)
                    .map_or_else(|| "none".into(), |g| g.join(", "))
            },
            name: u.name().to_owned(),
            admin: u.is_admin(),
            last_login: u
                .last_login
                .map_or_else(|| "never".into(), |t| view::relative(t, now)),
            id: u.id,
            username: u.username,
            email: u.email,
            disabled: u.disabled,
        })
        .collect();
    Ok(rows)
}

/// `GET /settings/users`.
pub async fn list(State(app): State<AppState>, AdminUser(admin): AdminUser) -> AppResult<Response> {
    users_page(
        &app,
        &admin,
        StatusCode::OK,
        NewUserInput::blank(),
        String::new(),
        None,
    )
    .await
}

/// `POST /settings/users`: creates a user; an empty password generates one, shown once.
pub async fn create(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(source): ClientAddr,
    Form(input): Form<NewUserInput>,
) -> AppResult<Response> {
    let fail = |msg: String, input| {
        users_page(
            &app,
            &admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            input,
            msg,
            None,
        )
    };
    let username = input.username.trim().to_owned();
    if let Err(e) = names::validate_username(&username) {
        return fail(e.into(), input).await;
    }
    let Some(role) = Role::parse(&input.role) else {
        return fail("Choose the role: user or admin.".into(), input).await;
    };
    if input.email.chars().count() > 254
        || input.display_name.chars().count() > 128
        || input.display_name.chars().any(char::is_control)
    {
        return fail("The email or display name is too long.".into(), input).await;
    }
    let (password, generated) = if input.password.is_empty() {
        (random_base62(20), true)
    } else {
        (input.password.clone(), false)
    };
    if let Err(e) = password::check_new_password(&password) {
        return fail(e, input).await;
    }
    let hash = password::hash(password.clone()).await?;
    let new = NewUser {
        username: &username,
        email: input.email.trim(),
        display_name: input.display_name.trim(),
        role,
        password_hash: &hash,
    };
    match app.store.create_user(&new, crate::domain::now()).await {
        Ok(u) => {
            audit(
                &app,
                &admin.user,
                "user.created",
                &u.username,
                &source,
                role.as_str().into(),
            )
            .await?;
            let shown = generated.then(|| (u.username.clone(), password));
            users_page(
                &app,
                &admin,
                StatusCode::OK,
                NewUserInput::blank(),
                String::new(),
                shown,
            )
            .await
        }
        Err(StoreError::Conflict(_)) => {
            fail(format!("The username {username} is taken."), input).await
        }
        Err(e) => Err(e.into()),
    }
}

struct FleetGrant {
    key: String,
    name: String,
    read: bool,
    write: bool,
    delete: bool,
}

struct EditPanel {
    user: User,
    grants: Vec<FleetGrant>,
    notice: String,
    error: String,
    new_password: String,
}

/// Query of the edit page: a notice after an action.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EditQuery {
    done: String,
}

async fn load_user(app: &AppState, id: &str) -> AppResult<User> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(AppError::NotFound);
    }
    app.store.user(id).await?.ok_or(AppError::NotFound)
}

async fn edit_page(
    app: &AppState,
    admin: &CurrentUser,
    user: User,
    status: StatusCode,
    notice: String,
    error: String,
    new_password: String,
) -> AppResult<Response> {
    let perms = app.store.fleet_permissions(&user.id).await?;
    let grants = app
        .store
        .fleets()
        .await?
        .into_iter()
        .map(|f| {
            let p = perms.get(&f.key).copied().unwrap_or_default();
            FleetGrant {
                read: p.contains(Permission::Read),
                write: p.contains(Permission::Write),
                delete: p.contains(Permission::Delete),
                key: f.key,
                name: f.name,
            }
        })
        .collect();
    let page = UsersPage {
        chrome: Chrome::new(admin, "settings", "users"),
        rows: user_rows(app).await?,
        form: NewUserInput::blank(),
        error: String::new(),
        created: None,
        edit: Some(EditPanel {
            user,
            grants,
            notice,
            error,
            new_password,
        }),
    };
    render(status, &page)
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
        audit(
            &app,
            &admin.user,
            "permissions.changed",
            &user.username,
            &source,
            changes.join(" "),
        )
        .await?;
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
        "disable" => (user.role, true, "user.disabled", "disabled"),
        "enable" => (user.role, false, "user.enabled", "enabled"),
        "make-admin" => (Role::Admin, user.disabled, "user.role_changed", "admin"),
        "make-user" => (Role::User, user.disabled, "user.role_changed", "user"),
        "reset-password" => {
            let new_password = random_base62(20);
            let hash = password::hash(new_password.clone()).await?;
            app.store.set_password(&user.id, &hash).await?;
            audit(
                &app,
                &admin.user,
                "user.password_reset",
                &user.username,
                &source,
                String::new(),
            )
            .await?;
            let notice = "Password reset; their sessions ended. Give them the new password over a safe channel — it is shown only now.";
            return edit_page(
                &app,
                &admin,
                user,
                StatusCode::OK,
                notice.into(),
                String::new(),
                new_password,
            )
            .await;
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
    audit(
        &app,
        &admin.user,
        action,
        &user.username,
        &source,
        format!("role={} disabled={disabled}", role.as_str()),
    )
    .await?;
    Ok(Redirect::to(&format!("/settings/users/{}?done={done}", user.id)).into_response())
}
