//! The *User Token* side panel: a token that acts with its user's own, current rights.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::forms::{UserForm, check_nonce, fill_user_options};
use super::page::{Open, admin_panels, issue_and_show, page};
use crate::auth::ClientAddr;
use crate::auth::session::AdminUser;
use crate::domain::scope::Permissions;
use crate::error::AppResult;
use crate::issuing::{self, SubjectRequest, TokenRequest};
use crate::state::AppState;

/// `GET /settings/account/user-token`: the Account tab with the user token panel open.
pub async fn user_panel(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
) -> AppResult<Response> {
    let mut panels = admin_panels(&app, Open::User, None, None, None).await?;
    panels.animate = true;
    page(&app, &admin, StatusCode::OK, Some(panels)).await
}

/// Fields of the user token form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserTokenInput {
    description: String,
    expires: String,
    username: String,
    allowed_ips: String,
    nonce: String,
}

/// `POST /settings/account/user-token`.
pub async fn user_submit(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(source): ClientAddr,
    Form(input): Form<UserTokenInput>,
) -> AppResult<Response> {
    check_nonce(&input.nonce)?;
    let request = TokenRequest {
        description: input.description.clone(),
        expires: input.expires.clone(),
        subject: SubjectRequest::User(input.username.clone()),
        permissions: Permissions::NONE,
        allowed_ips: input.allowed_ips.clone(),
    };
    let now = crate::domain::now();
    match issuing::validate(&app.store, app.config.max_token_days, &request, now).await? {
        Err(errors) => {
            let mut form = UserForm {
                nonce: input.nonce,
                description: input.description,
                expires: input.expires,
                username: input.username,
                allowed_ips: input.allowed_ips,
                users: Vec::new(),
                errors,
            };
            fill_user_options(&app, &mut form).await?;
            let panels = admin_panels(&app, Open::User, None, Some(form), None).await?;
            page(&app, &admin, StatusCode::UNPROCESSABLE_ENTITY, Some(panels)).await
        }
        Ok(valid) => issue_and_show(&app, &admin, valid, &input.nonce, &source, now).await,
    }
}
