//! **Revoke selected…** on the Access Tokens list: the ticked rows go to a confirmation page
//! listing them (`GET`, nothing changes), and its button revokes them together in one
//! transaction, each audited and reported as a revocation of its own. Without JavaScript too:
//! the row checkboxes belong to the list's own form (`form="bulk"`).

use askama::Template;
use axum::Form;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::{Row, row};
use crate::auth::ClientAddr;
use crate::auth::session::AdminUser;
use crate::domain::expiry::TokenStatus;
use crate::error::{AppError, AppResult};
use crate::issuing;
use crate::state::AppState;
use crate::store::tokens::TokenRecord;
use crate::web::view::{Chrome, render};

/// Most tokens revoked at once (the list shows 50 a page).
const MOST: usize = 500;

/// The selected Token IDs among `pairs` (each `id`; other fields ignored), checked.
fn selected(pairs: &[(String, String)]) -> AppResult<Vec<String>> {
    let mut ids: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| v.clone())
        .collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Err(AppError::BadRequest(
            "Select at least one token to revoke.".into(),
        ));
    }
    if ids.len() > MOST {
        return Err(AppError::BadRequest(format!(
            "At most {MOST} tokens can be revoked at once."
        )));
    }
    if ids.iter().any(|id| uuid::Uuid::parse_str(id).is_err()) {
        return Err(AppError::BadRequest(
            "A selected Token ID is not valid.".into(),
        ));
    }
    Ok(ids)
}

/// The selected tokens, newest first; 404 if one does not exist.
async fn load(app: &AppState, ids: &[String]) -> AppResult<Vec<TokenRecord>> {
    let mut tokens = Vec::with_capacity(ids.len());
    for id in ids {
        tokens.push(app.store.token(id).await?.ok_or(AppError::NotFound)?);
    }
    tokens.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    Ok(tokens)
}

#[derive(Template)]
#[template(path = "settings/revoke_selected.html")]
struct ConfirmPage {
    chrome: Chrome,
    /// The active ones: these are revoked.
    rows: Vec<Row>,
    /// Selected but revoked or expired already: left as they are.
    skipped: Vec<Row>,
}

/// `GET /settings/access-tokens/revoke-selected?id=…&id=…`: asks for confirmation.
pub async fn confirm(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|_| AppError::BadRequest("The query string is malformed.".into()))?;
    let tokens = load(&app, &selected(&pairs)?).await?;
    let now = crate::domain::now();
    let (active, skipped): (Vec<_>, Vec<_>) = tokens
        .iter()
        .partition(|t| t.status(now) == TokenStatus::Active);
    render(
        StatusCode::OK,
        &ConfirmPage {
            chrome: Chrome::new(&admin, "settings", "tokens"),
            rows: active.into_iter().map(|t| row(t, now)).collect(),
            skipped: skipped.into_iter().map(|t| row(t, now)).collect(),
        },
    )
}

/// `POST /settings/access-tokens/revoke-selected` (`id` repeated): revokes the active ones in
/// one transaction; back to the list, which says how many.
pub async fn revoke(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(source): ClientAddr,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let tokens = load(&app, &selected(&pairs)?).await?;
    let now = crate::domain::now();
    let active: Vec<TokenRecord> = tokens
        .into_iter()
        .filter(|t| t.status(now) == TokenStatus::Active)
        .collect();
    let revoked = issuing::revoke_all(
        &app.store,
        &admin.user,
        &active,
        &source,
        "via console, with others selected",
        now,
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/settings/access-tokens?revoked={}",
        revoked.len()
    ))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(ids: &[&str]) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = ids
            .iter()
            .map(|i| ("id".to_owned(), (*i).to_owned()))
            .collect();
        p.push(("csrf".into(), "x".into()));
        p
    }

    #[test]
    fn a_selection_is_one_to_500_distinct_token_ids() {
        let a = "6f1c0001-aaaa-4bbb-8ccc-0123456789ab";
        let b = "6f1c0002-aaaa-4bbb-8ccc-0123456789ab";
        assert_eq!(selected(&pairs(&[b, a, b])).unwrap(), [a, b]);
        assert!(selected(&pairs(&[])).is_err());
        assert!(selected(&pairs(&[a, "../etc"])).is_err());
        let many: Vec<String> = (0..501)
            .map(|i| format!("6f1c{i:04}-aaaa-4bbb-8ccc-0123456789ab"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(selected(&pairs(&many)).is_err());
        assert_eq!(selected(&pairs(&many[..500])).unwrap().len(), 500);
    }
}
