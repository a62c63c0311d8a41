//! General Settings → Access Tokens: every token of the account with filters and pagination,
//! tokens expiring within 7 days highlighted, and revocation with a confirmation step; each
//! token's own page and its regeneration in [`detail`].

pub mod bulk;
pub mod detail;
pub mod export;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::view::{self, Chrome, render};
use crate::auth::ClientAddr;
use crate::auth::session::AdminUser;
use crate::domain::expiry::{self, TokenStatus};
use crate::domain::token::TokenKind;
use crate::domain::usage;
use crate::error::{AppError, AppResult};
use crate::issuing;
use crate::state::AppState;
use crate::store::tokens::{TokenFilter, TokenRecord};

/// Rows per page.
const PAGE: i64 = 50;

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
    expiring_soon: bool,
    last_used: String,
    last_used_exact: String,
    status: &'static str,
}

fn row(t: &TokenRecord, now: i64) -> Row {
    let status = t.status(now);
    Row {
        id: t.id.clone(),
        kind: t.kind.label(),
        hint: t.hint.clone(),
        description: t.description.clone(),
        subject: t.subject(),
        permissions: t.permissions_label(),
        created: view::datetime(t.created_at),
        created_by: t
            .created_by
            .clone()
            .unwrap_or_else(|| "command line".into()),
        expires: view::expiry_date(t.expires_at),
        expiring_soon: status == TokenStatus::Active && expiry::is_expiring_soon(t.expires_at, now),
        last_used: t
            .last_used_at
            .map_or_else(|| "never".into(), |ts| view::relative(ts, now)),
        last_used_exact: t.last_used_at.map(view::datetime).unwrap_or_default(),
        status: status.as_str(),
    }
}

/// Filters and page of the list, as in the query string.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    status: String,
    #[serde(rename = "type")]
    kind: String,
    q: String,
    /// Unused for this many days (30, 90 or 180), or empty.
    unused: String,
    page: u32,
    /// How many tokens **Revoke selected…** just revoked (the notice after it).
    revoked: Option<u32>,
}

impl ListQuery {
    /// The store's filter at `now`; a clear 400 for a value the form does not offer.
    pub fn filter(&self, now: i64) -> AppResult<TokenFilter> {
        let status = match self.status.as_str() {
            "" => None,
            s => Some(
                TokenStatus::parse(s)
                    .ok_or_else(|| AppError::BadRequest("Unknown status.".into()))?,
            ),
        };
        let kind = match self.kind.as_str() {
            "" => None,
            k => Some(
                TokenKind::parse(k).ok_or_else(|| AppError::BadRequest("Unknown type.".into()))?,
            ),
        };
        let unused_since = match self.unused.as_str() {
            "" => None,
            days => Some(
                days.parse::<i64>()
                    .ok()
                    .filter(|d| usage::STALE_CHOICES.contains(d))
                    .map(|d| usage::stale_cutoff(now, d))
                    .ok_or_else(|| {
                        AppError::BadRequest("Unused for 30, 90 or 180 days only.".into())
                    })?,
            ),
        };
        if self.q.chars().count() > 100 || self.page > 100_000 {
            return Err(AppError::BadRequest(
                "The search text or page number is too large.".into(),
            ));
        }
        Ok(TokenFilter {
            kind,
            status,
            text: self.q.trim().to_owned(),
            now,
            unused_since,
            after: None,
        })
    }

    /// The query string of these filters (no page), for links.
    fn filters(&self) -> String {
        serde_urlencoded::to_string([
            ("status", self.status.as_str()),
            ("type", &self.kind),
            ("q", &self.q),
            ("unused", &self.unused),
        ])
        .unwrap_or_default()
    }
}

#[derive(Template)]
#[template(path = "settings/access_tokens.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<Row>,
    status: String,
    kind: String,
    q: String,
    unused: String,
    page: u32,
    prev_link: String,
    next_link: String,
    /// The CSV export of the list with these filters.
    export_link: String,
    /// "Revoked 3 tokens." after **Revoke selected…**.
    notice: String,
}

/// `GET /settings/access-tokens?status=&type=&q=&unused=&page=`.
pub async fn list(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let now = crate::domain::now();
    let filter = q.filter(now)?;
    let mut tokens = app
        .store
        .find_tokens(&filter, i64::from(q.page) * PAGE, PAGE + 1)
        .await?;
    let more = tokens.len() as i64 > PAGE;
    tokens.truncate(PAGE as usize);
    let filters = q.filters();
    let link = |page: u32| format!("/settings/access-tokens?{filters}&page={page}");
    let page = ListPage {
        chrome: Chrome::new(&admin, "settings", "tokens"),
        rows: tokens.iter().map(|t| row(t, now)).collect(),
        prev_link: if q.page > 0 {
            link(q.page - 1)
        } else {
            String::new()
        },
        next_link: if more {
            link(q.page + 1)
        } else {
            String::new()
        },
        export_link: format!("/settings/access-tokens/export.csv?{filters}"),
        notice: match q.revoked {
            Some(1) => "Revoked 1 token.".into(),
            Some(n) => format!("Revoked {n} tokens."),
            None => String::new(),
        },
        status: q.status,
        kind: q.kind,
        q: q.q,
        unused: q.unused,
        page: q.page,
    };
    render(StatusCode::OK, &page)
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
    issuing::revoke(&app.store, &admin.user, &t, &source, "via console", now).await?;
    Ok(Redirect::to("/settings/access-tokens").into_response())
}
