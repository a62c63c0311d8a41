//! The User Permissions tab as rendered: the user list, the create-user form and, when one user
//! is open, their side panel.

use std::collections::HashMap;

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::auth::session::CurrentUser;
use crate::domain::scope::Permission;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::users::User;
use crate::web::view::{self, Chrome, render};

pub(super) struct UserRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) username: String,
    pub(super) email: String,
    pub(super) fleets: String,
    pub(super) admin: bool,
    pub(super) disabled: bool,
    pub(super) last_login: String,
}

/// The fields of the create-user form, kept on error.
/// No `Debug`: it holds a password.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct NewUserInput {
    pub(super) username: String,
    pub(super) email: String,
    pub(super) display_name: String,
    pub(super) role: String,
    pub(super) password: String,
}

impl NewUserInput {
    /// An empty form, offering the least-privileged role.
    pub(super) fn blank() -> Self {
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

pub(super) async fn users_page(
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

pub(super) async fn user_rows(app: &AppState) -> AppResult<Vec<UserRow>> {
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

pub(super) struct FleetGrant {
    pub(super) key: String,
    pub(super) name: String,
    pub(super) read: bool,
    pub(super) write: bool,
    pub(super) delete: bool,
}

pub(super) struct EditPanel {
    pub(super) user: User,
    pub(super) grants: Vec<FleetGrant>,
    pub(super) notice: String,
    pub(super) error: String,
    pub(super) new_password: String,
}

pub(super) async fn load_user(app: &AppState, id: &str) -> AppResult<User> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(AppError::NotFound);
    }
    app.store.user(id).await?.ok_or(AppError::NotFound)
}

pub(super) async fn edit_page(
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
