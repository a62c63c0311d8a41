//! User Permissions → the list and the create-user form.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::page::{NewUserInput, users_page};
use crate::auth::session::AdminUser;
use crate::auth::{ClientAddr, password};
use crate::domain::audit::{AuditAction, AuditEvent};
use crate::domain::scope::Role;
use crate::domain::token::random_base62;
use crate::domain::{names, text};
use crate::error::AppResult;
use crate::layers::CarriesSecret;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::users::NewUser;

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
    if input.email.chars().count() > 254 || input.display_name.chars().count() > 128 {
        return fail("The email or display name is too long.".into(), input).await;
    }
    if text::check_one_line(&input.email).is_err()
        || text::check_one_line(&input.display_name).is_err()
    {
        return fail(
            "The email and display name must be one line without control, bidirectional or invisible characters.".into(),
            input,
        )
        .await;
    }
    let (password, generated) = if input.password.is_empty() {
        (random_base62(20), true)
    } else {
        (input.password.clone(), false)
    };
    if let Err(e) = password::check_new_password(&password, &username) {
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
            let mut page = users_page(
                &app,
                &admin,
                StatusCode::OK,
                NewUserInput::blank(),
                String::new(),
                shown,
            )
            .await?;
            if generated {
                page.extensions_mut().insert(CarriesSecret);
            }
            Ok(page)
        }
        Err(StoreError::Conflict(_)) => {
            fail(format!("The username {username} is taken."), input).await
        }
        Err(e) => Err(e.into()),
    }
}
