//! General Settings → Access Tokens: every token of the account, and revocation with a
//! confirmation step.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::{Chrome, render, view};
use crate::AppState;
use crate::auth::ClientAddr;
use crate::auth::session::AdminUser;
use crate::error::{AppError, AppResult};
use crate::store::audit::AuditEvent;
use crate::store::tokens::TokenRecord;

/// One row of the list.
struct Row {
    id: String,
    kind: &'static str,
    hint: String,
    description: String,
    subject: String,
    permissions: String,
    created: String,
    created_by: String,
    expires: String,
    last_used: String,
    status: &'static str,
}

fn row(t: &TokenRecord, now: i64) -> Row {
    Row {
        id: t.id.clone(),
        kind: t.kind.label(),
        hint: t.hint.clone(),
        description: t.description.clone(),
        subject: t.subject(),
        permissions: if t.permissions.is_empty() {
            "as user".into()
        } else {
            t.permissions.to_string()
        },
        created: view::datetime(t.created_at),
        created_by: t
            .created_by
            .clone()
            .unwrap_or_else(|| "command line".into()),
        expires: view::expiry_date(t.expires_at),
        last_used: t
            .last_used_at
            .map_or_else(|| "never".into(), |ts| view::relative(ts, now)),
        status: t.status(now).as_str(),
    }
}

#[derive(Template)]
#[template(path = "settings/access_tokens.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<Row>,
}

/// `GET /settings/access-tokens`: the newest 200 tokens.
pub async fn list(State(app): State<AppState>, AdminUser(admin): AdminUser) -> AppResult<Response> {
    let now = crate::domain::now();
    let rows = app
        .store
        .tokens(200)
        .await?
        .iter()
        .map(|t| row(t, now))
        .collect();
    render(
        StatusCode::OK,
        &ListPage {
            chrome: Chrome::new(&admin, "settings", "tokens"),
            rows,
        },
    )
}

#[derive(Template)]
#[template(path = "settings/revoke_confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    token: Row,
}

async fn find(app: &AppState, id: &str) -> AppResult<TokenRecord> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(AppError::NotFound);
    }
    app.store.token(id).await?.ok_or(AppError::NotFound)
}

/// `GET /settings/access-tokens/{id}/revoke`: asks for confirmation.
pub async fn confirm_revoke(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let t = find(&app, &id).await?;
    let token = row(&t, crate::domain::now());
    render(
        StatusCode::OK,
        &ConfirmPage {
            chrome: Chrome::new(&admin, "settings", "tokens"),
            token,
        },
    )
}

/// `POST /settings/access-tokens/{id}/revoke`: revokes at once; the API refuses the token on
/// its very next request.
pub async fn revoke(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(source): ClientAddr,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let t = find(&app, &id).await?;
    let now = crate::domain::now();
    if app.store.revoke_token(&t.id, now).await? {
        app.store
            .audit(
                &AuditEvent {
                    actor: admin.user.username.clone(),
                    action: "token.revoked",
                    token_id: Some(t.id.clone()),
                    target: t.subject(),
                    source,
                    detail: String::new(),
                },
                now,
            )
            .await?;
    }
    Ok(Redirect::to("/settings/access-tokens").into_response())
}
