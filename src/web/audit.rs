//! General Settings → Audit Log: newest first, filterable, paginated by a cursor.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::view::{self, Chrome, render};
use crate::auth::session::AdminUser;
use crate::domain::audit::{AuditAction, AuditGroup};
use crate::domain::export::time_cell;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::audit::AuditEntry;

const PAGE: i64 = 50;

/// An entry as a table shows it (the Audit Log, a token's detail page).
pub(crate) struct Row {
    pub(crate) at: String,
    pub(crate) actor: String,
    /// The stored action name.
    pub(crate) action: String,
    /// What it means, in words.
    pub(crate) action_label: &'static str,
    pub(crate) token_id: String,
    pub(crate) target: String,
    pub(crate) source: String,
    pub(crate) detail: String,
    /// "×57 until 2026-12-03 10:04 UTC" for an entry that counts several refused uses.
    pub(crate) repeated: String,
}

struct ActionOpt {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

/// Filters and cursor.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    action: String,
    q: String,
    before: Option<i64>,
}

#[derive(Template)]
#[template(path = "settings/audit.html")]
struct AuditPage {
    chrome: Chrome,
    rows: Vec<Row>,
    actions: Vec<ActionOpt>,
    q: String,
    next_link: String,
    /// The CSV export with these filters.
    export_link: String,
}

/// An entry as the table shows it.
pub(crate) fn row(e: AuditEntry) -> Row {
    Row {
        at: view::datetime(e.at),
        actor: e.actor,
        action_label: AuditAction::parse(&e.action).map_or("", AuditAction::label),
        action: e.action,
        token_id: e.token_id.unwrap_or_default(),
        target: e.target,
        source: e.source,
        detail: e.detail,
        repeated: if e.count > 1 {
            format!(
                "×{} until {}",
                e.count,
                view::datetime(e.last_at.unwrap_or(e.at))
            )
        } else {
            String::new()
        },
    }
}

impl AuditQuery {
    /// The event group asked for (none: all); a clear 400 for a filter the form does not offer.
    fn group(&self) -> AppResult<Option<AuditGroup>> {
        if self.q.chars().count() > 100 {
            return Err(AppError::BadRequest(
                "The search text can be at most 100 characters.".into(),
            ));
        }
        match self.action.as_str() {
            "" => Ok(None),
            value => AuditGroup::parse(value)
                .map(Some)
                .ok_or_else(|| AppError::BadRequest(format!("Unknown event filter {value:?}."))),
        }
    }
}

/// `GET /settings/audit?action=&q=&before=`.
pub async fn list(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(q): Query<AuditQuery>,
) -> AppResult<Response> {
    let group = q.group()?;
    let actions = group.map(AuditGroup::actions).unwrap_or_default();
    let before = q.before.unwrap_or(i64::MAX);
    let mut entries = app
        .store
        .find_audit(&actions, q.q.trim(), before, PAGE + 1)
        .await?;
    let more = entries.len() as i64 > PAGE;
    entries.truncate(PAGE as usize);
    let next_link = match entries.last() {
        Some(last) if more => {
            let query = serde_urlencoded::to_string([
                ("action", q.action.as_str()),
                ("q", q.q.as_str()),
                ("before", &last.id.to_string()),
            ])
            .unwrap_or_default();
            format!("/settings/audit?{query}")
        }
        _ => String::new(),
    };
    let rows = entries.into_iter().map(row).collect();
    let all = ActionOpt {
        value: "",
        label: "All",
        selected: group.is_none(),
    };
    let actions = std::iter::once(all)
        .chain(AuditGroup::ALL.into_iter().map(|g| ActionOpt {
            value: g.as_str(),
            label: g.label(),
            selected: group == Some(g),
        }))
        .collect();
    let export_link = format!(
        "/settings/audit/export.csv?{}",
        serde_urlencoded::to_string([("action", q.action.as_str()), ("q", q.q.as_str())])
            .unwrap_or_default()
    );
    render(
        StatusCode::OK,
        &AuditPage {
            chrome: Chrome::new(&admin, "settings", "audit"),
            rows,
            actions,
            q: q.q,
            next_link,
            export_link,
        },
    )
}

/// `GET /settings/audit/export.csv?action=&q=`: every entry the filters select, newest first,
/// as a streamed CSV download ([`super::csv`]).
pub async fn export(
    State(app): State<AppState>,
    AdminUser(_): AdminUser,
    Query(q): Query<AuditQuery>,
) -> AppResult<Response> {
    let actions = q.group()?.map(AuditGroup::actions).unwrap_or_default();
    let text = q.q.trim().to_owned();
    let header = [
        "id",
        "time",
        "actor",
        "action",
        "token_id",
        "target",
        "source",
        "detail",
        "count",
        "last_time",
    ];
    super::csv::download("audit-log", &header, i64::MAX, move |before| {
        let (app, actions, text) = (app.clone(), actions.clone(), text.clone());
        async move {
            let page = app
                .store
                .find_audit(&actions, &text, before, super::csv::PAGE)
                .await?;
            let Some(last) = page.last().map(|e| e.id) else {
                return Ok(None);
            };
            let rows = page
                .into_iter()
                .map(|e| {
                    vec![
                        e.id.to_string(),
                        time_cell(Some(e.at)),
                        e.actor,
                        e.action,
                        e.token_id.unwrap_or_default(),
                        e.target,
                        e.source,
                        e.detail,
                        e.count.to_string(),
                        time_cell(e.last_at),
                    ]
                })
                .collect();
            Ok(Some((rows, last)))
        }
    })
    .await
}
