//! `GET /settings/access-tokens/export.csv?status=&type=&q=&unused=`: every token the list's
//! filters select, newest first, as a streamed CSV download ([`crate::web::csv`]).

use axum::extract::{Query, State};
use axum::response::Response;

use super::ListQuery;
use crate::auth::session::AdminUser;
use crate::domain::export::time_cell;
use crate::error::AppResult;
use crate::state::AppState;
use crate::store::tokens::TokenRecord;
use crate::web::csv;

const HEADER: [&str; 15] = [
    "token_id",
    "type",
    "description",
    "subject",
    "permissions",
    "hint",
    "status",
    "created_at",
    "created_by",
    "expires_at",
    "revoked_at",
    "last_used_at",
    "last_used_ip",
    "allowed_client_ips",
    "replaced_by",
];

/// A token's cells, in [`HEADER`]'s order.
fn cells(t: &TokenRecord, now: i64) -> Vec<String> {
    vec![
        t.id.clone(),
        t.kind.as_str().to_owned(),
        t.description.clone(),
        t.subject(),
        t.permissions_label(),
        t.hint.clone(),
        t.status(now).as_str().to_owned(),
        time_cell(Some(t.created_at)),
        t.created_by.clone().unwrap_or_default(),
        time_cell(Some(t.expires_at)),
        time_cell(t.revoked_at),
        time_cell(t.last_used_at),
        t.last_used_ip.clone().unwrap_or_default(),
        t.allowed_ips.texts().join(" "),
        t.successor_id.clone().unwrap_or_default(),
    ]
}

/// `GET /settings/access-tokens/export.csv`.
pub async fn tokens(
    State(app): State<AppState>,
    AdminUser(_): AdminUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let now = crate::domain::now();
    let filter = q.filter(now)?;
    csv::download("access-tokens", &HEADER, filter, move |mut filter| {
        let app = app.clone();
        async move {
            let page = app.store.find_tokens(&filter, 0, csv::PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(None);
            };
            filter.after = Some((last.created_at, last.id.clone()));
            let rows = page.iter().map(|t| cells(t, now)).collect();
            Ok(Some((rows, filter)))
        }
    })
    .await
}
