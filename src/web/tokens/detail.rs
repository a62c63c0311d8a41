//! One token: its detail page (`/settings/access-tokens/{id}`: every field, where its last use
//! came from, its allowed client IPs, its rotation chain, its requests per day and its audit
//! entries) and
//! **Regenerate…** (a successor with the same settings, shown once; the old token stops at once
//! or after a grace time).

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Row, find, row};
use crate::auth::ClientAddr;
use crate::auth::session::AdminUser;
use crate::domain::expiry::{self, TokenStatus};
use crate::error::{AppError, AppResult};
use crate::issuing::{self, FieldErrors, RotateRequest, Rotated};
use crate::layers::CarriesSecret;
use crate::state::AppState;
use crate::store::tokens::TokenRecord;
use crate::web::account::{Created, date_bounds};
use crate::web::view::{self, Chrome, render};
use crate::web::{audit, insight};

/// Audit entries shown on the detail page.
const AUDIT_ROWS: i64 = 50;

/// The grace times offered (seconds, label).
const GRACES: [(i64, &str); 3] = [(0, "No time"), (3600, "1 hour"), (86_400, "24 hours")];

/// What the detail page shows beyond a list row.
struct Detail {
    row: Row,
    last_used_ip: String,
    last_used_agent: String,
    allowed_ips: Vec<String>,
    predecessor_id: String,
    successor_id: String,
    /// Whether it can be regenerated (live, and not rotated yet).
    can_regenerate: bool,
}

fn detail(t: &TokenRecord, now: i64) -> Detail {
    Detail {
        row: row(t, now),
        last_used_ip: t.last_used_ip.clone().unwrap_or_default(),
        last_used_agent: t.last_used_agent.clone().unwrap_or_default(),
        allowed_ips: t.allowed_ips.texts(),
        predecessor_id: t.predecessor_id.clone().unwrap_or_default(),
        successor_id: t.successor_id.clone().unwrap_or_default(),
        can_regenerate: t.status(now) == TokenStatus::Active && t.successor_id.is_none(),
    }
}

#[derive(Template)]
#[template(path = "settings/token_detail.html")]
struct DetailPage {
    chrome: Chrome,
    token: Detail,
    entries: Vec<audit::Row>,
    /// Its requests per day over the last 30 days.
    requests: insight::ChartView,
}

/// `GET /settings/access-tokens/{id}`.
pub async fn show(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let t = find(&app, &id).await?;
    let (entries, requests) = tokio::try_join!(
        async { Ok::<_, AppError>(app.store.token_audit(&t.id, AUDIT_ROWS).await?) },
        insight::token_requests(&app, &t.id),
    )?;
    render(
        StatusCode::OK,
        &DetailPage {
            chrome: Chrome::new(&admin, "settings", "tokens"),
            token: detail(&t, crate::domain::now()),
            entries: entries.into_iter().map(audit::row).collect(),
            requests,
        },
    )
}

struct GraceOpt {
    value: i64,
    label: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "settings/token_regenerate.html")]
struct RegeneratePage {
    chrome: Chrome,
    token: Detail,
    expires: String,
    min_date: String,
    max_date: String,
    graces: Vec<GraceOpt>,
    errors: FieldErrors,
    /// Why it cannot be regenerated (rotated already, revoked, expired), if so.
    refusal: String,
}

/// The form with `expires` and `grace` filled in.
fn form_page(
    app: &AppState,
    admin: &crate::auth::session::CurrentUser,
    t: &TokenRecord,
    expires: String,
    grace: i64,
    errors: FieldErrors,
) -> AppResult<RegeneratePage> {
    let now = crate::domain::now();
    let dates = date_bounds(app);
    let token = detail(t, now);
    let refusal = match (&t.successor_id, t.status(now)) {
        (Some(successor), _) => {
            format!("This token was regenerated already: its successor is {successor}.")
        }
        (None, TokenStatus::Active) => String::new(),
        (None, status) => format!(
            "This token is {}: only an active token can be regenerated.",
            status.as_str()
        ),
    };
    Ok(RegeneratePage {
        chrome: Chrome::new(admin, "settings", "tokens"),
        token,
        expires,
        min_date: dates.min,
        max_date: dates.max,
        graces: GRACES
            .iter()
            .map(|(value, label)| GraceOpt {
                value: *value,
                label,
                checked: *value == grace,
            })
            .collect(),
        errors,
        refusal,
    })
}

/// `GET /settings/access-tokens/{id}/regenerate`: the form, with the old lifetime from today.
pub async fn regenerate_form(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let t = find(&app, &id).await?;
    let today = expiry::today(time::OffsetDateTime::now_utc());
    let default =
        expiry::rotation_date(t.created_at, t.expires_at, today, app.config.max_token_days);
    let page = form_page(
        &app,
        &admin,
        &t,
        expiry::format_date(default),
        0,
        FieldErrors::default(),
    )?;
    let status = if page.refusal.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    render(status, &page)
}

/// Fields of the regenerate form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RegenerateInput {
    expires: String,
    grace: String,
}

#[derive(Template)]
#[template(path = "settings/token_regenerated.html")]
struct RegeneratedPage {
    chrome: Chrome,
    old_id: String,
    old_until: String,
    created: Created,
}

/// `POST /settings/access-tokens/{id}/regenerate`: the successor, shown once.
pub async fn regenerate(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(source): ClientAddr,
    Path(id): Path<String>,
    Form(input): Form<RegenerateInput>,
) -> AppResult<Response> {
    let t = find(&app, &id).await?;
    let grace = GRACES
        .iter()
        .map(|(value, _)| *value)
        .find(|value| value.to_string() == input.grace)
        .ok_or_else(|| {
            AppError::BadRequest("Choose how long the old token keeps working.".into())
        })?;
    let request = RotateRequest {
        expires: Some(input.expires.clone()),
        grace_secs: grace,
    };
    let now = crate::domain::now();
    let outcome = issuing::rotate(
        &app.store,
        app.config.max_token_days,
        &admin.user.username,
        &t,
        &request,
        &source,
        now,
    )
    .await?;
    let issued = match outcome {
        Ok(Rotated::New(issued)) => issued,
        Ok(Rotated::Already(_) | Rotated::NotLive) => {
            let fresh = find(&app, &id).await?;
            let page = form_page(
                &app,
                &admin,
                &fresh,
                input.expires,
                grace,
                FieldErrors::default(),
            )?;
            return render(StatusCode::CONFLICT, &page);
        }
        Err(errors) => {
            let page = form_page(&app, &admin, &t, input.expires, grace, errors)?;
            return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let new_id = issued.record.id.clone();
    let page = RegeneratedPage {
        chrome: Chrome::new(&admin, "settings", "tokens"),
        old_id: t.id.clone(),
        // It stops at its own expiry if that comes before the grace ends.
        old_until: match (now + grace).min(t.expires_at) {
            until if until <= now => "now".into(),
            until => view::datetime(until),
        },
        created: Created::new(*issued, format!("/settings/access-tokens/{new_id}")),
    };
    // `no-store` like every page; never compressed, as it shows a secret.
    let mut shown = render(StatusCode::OK, &page)?;
    shown.extensions_mut().insert(CarriesSecret);
    Ok(shown)
}
