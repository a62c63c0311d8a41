//! General Settings → User Permissions: users, their per-fleet Read/Write/Delete, and account
//! actions (create, disable/enable, reset password, make/unmake admin — never the last admin).

mod edit;

pub use edit::{account_action, edit, save_permissions};

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Chrome, render, view};
use crate::AppState;
use crate::auth::session::{AdminUser, CurrentUser};
use crate::auth::{ClientAddr, password};
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::names;
use crate::domain::scope::Role;
use crate::domain::token::random_base62;
use crate::error::AppResult;
use crate::store::StoreError;
use crate::store::users::NewUser;

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
    edit: Option<edit::EditPanel>,
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
            let event = AuditEvent::new(AuditAction::UserCreated, &admin.user.username, &source)
                .target(&u.username)
                .detail(role.as_str());
            app.store.audit(&event, crate::domain::now()).await?;
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
