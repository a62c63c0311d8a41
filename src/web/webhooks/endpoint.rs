//! One webhook endpoint's page (`/settings/webhooks/{id}`): its settings form, **Send test
//! event**, **Rotate secret**, **Delete…**, and its deliveries (newest first, 50 a page) with
//! **Redeliver**. Actions answer with a redirect back to the page and a fixed notice.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{FormView, read_form, secret_page};
use crate::auth::ClientAddr;
use crate::auth::session::{AdminUser, CurrentUser};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::webhooks::{Delivery, Endpoint};
use crate::web::view::{self, Chrome, render};
use crate::webhooks::endpoints;

/// Deliveries per page.
const PAGE: i64 = 50;

/// The endpoint named in the path, or 404.
async fn find(app: &AppState, id: &str) -> AppResult<Endpoint> {
    app.store
        .webhook_endpoint(id)
        .await?
        .ok_or(AppError::NotFound)
}

/// A delivery as listed.
struct DeliveryRow {
    id: String,
    event: String,
    token_id: String,
    time: String,
    attempts: i64,
    /// "200", "answered 500", "could not connect: …".
    last: String,
    /// "delivered", "retrying", "failed", "waiting", "paused".
    state: &'static str,
    next: String,
}

fn delivery_row(d: Delivery, now: i64) -> DeliveryRow {
    let last = match (d.last_status, &d.last_error) {
        (_, Some(e)) => e.clone(),
        (Some(s), None) => s.to_string(),
        (None, None) => "—".into(),
    };
    let state = match (d.state.as_str(), d.due_ms, d.attempts) {
        ("delivered", ..) => "delivered",
        ("failed", ..) => "failed",
        (_, None, _) => "paused",
        (_, Some(_), 0) => "waiting",
        _ => "retrying",
    };
    DeliveryRow {
        time: view::datetime(d.created_ms / 1000),
        next: d
            .due_ms
            .filter(|_| state == "retrying")
            .map(|ms| view::relative(ms / 1000, now))
            .unwrap_or_default(),
        id: d.id,
        event: d.event_type,
        token_id: d.token_id.unwrap_or_default(),
        attempts: d.attempts,
        last,
        state,
    }
}

#[derive(Template)]
#[template(path = "settings/webhook.html")]
struct EndpointPage {
    chrome: Chrome,
    id: String,
    enabled: bool,
    form: FormView,
    notice: &'static str,
    error: String,
    deliveries: Vec<DeliveryRow>,
    /// The Rotate form's one-time nonce.
    nonce: String,
    /// The `before` of the next page, when there is one.
    older: String,
    allow_private: bool,
}

/// What the page's query may say.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PageQuery {
    /// `created_ms:id` of the last delivery of the previous page.
    before: String,
    /// Which action just succeeded.
    done: String,
}

/// The fixed notice of an action that succeeded.
fn notice(done: &str) -> &'static str {
    match done {
        "saved" => "Saved.",
        "test" => "Test event queued: it is sent within a second or two; it appears below.",
        "redeliver" => "Queued to be sent again with the same webhook-id.",
        "replayed" => {
            "This form was sent before: the endpoint was added then and its signing secret shown \
             once. If it was not copied, rotate the secret."
        }
        "rotate-replayed" => {
            "This Rotate was sent before: the secret was rotated then and shown once. Rotate \
             again for a new one."
        }
        _ => "",
    }
}

async fn endpoint_page(
    app: &AppState,
    admin: &CurrentUser,
    status: StatusCode,
    e: &Endpoint,
    form: FormView,
    q: &PageQuery,
    error: String,
) -> AppResult<Response> {
    let before = q
        .before
        .split_once(':')
        .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id)));
    let rows = app.store.webhook_deliveries(&e.id, before, PAGE).await?;
    let older = match rows.last() {
        Some(d) if rows.len() as i64 == PAGE => format!("{}:{}", d.created_ms, d.id),
        _ => String::new(),
    };
    let now = crate::domain::now();
    render(
        status,
        &EndpointPage {
            chrome: Chrome::new(admin, "settings", "webhooks"),
            id: e.id.clone(),
            enabled: e.enabled,
            form,
            notice: notice(&q.done),
            error,
            deliveries: rows.into_iter().map(|d| delivery_row(d, now)).collect(),
            nonce: view::nonce(),
            older,
            allow_private: app.config.allow_private_webhooks,
        },
    )
}

/// Back to the endpoint's page with `done`'s notice.
pub(super) fn back(id: &str, done: &str) -> Response {
    Redirect::to(&format!("/settings/webhooks/{id}?done={done}")).into_response()
}

/// `GET /settings/webhooks/{id}`.
pub async fn show(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let e = find(&app, &id).await?;
    let form = FormView::of(&e);
    endpoint_page(&app, &admin, StatusCode::OK, &e, form, &q, String::new()).await
}

/// `POST /settings/webhooks/{id}`: saves the settings.
pub async fn update(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(source): ClientAddr,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let e = find(&app, &id).await?;
    let (form, _) = read_form(pairs);
    match endpoints::validate(&form, app.config.allow_private_webhooks).await {
        Ok(s) => {
            let now = crate::domain::now();
            endpoints::update(&app.store, &admin.user.username, &e, &s, &source, now).await?;
            Ok(back(&id, "saved"))
        }
        Err(errors) => {
            let view = FormView::typed(&form, errors);
            let q = PageQuery::default();
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            endpoint_page(&app, &admin, status, &e, view, &q, String::new()).await
        }
    }
}

/// `POST /settings/webhooks/{id}/test`.
pub async fn send_test(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let e = find(&app, &id).await?;
    let now = crate::domain::now();
    match endpoints::send_test(&app.store, &admin.user.username, &e, now).await {
        Ok(()) => Ok(back(&id, "test")),
        Err(AppError::Conflict(message)) => {
            let (q, form) = (PageQuery::default(), FormView::of(&e));
            endpoint_page(&app, &admin, StatusCode::CONFLICT, &e, form, &q, message).await
        }
        Err(other) => Err(other),
    }
}

/// The Rotate form.
#[derive(Debug, Deserialize)]
pub struct RotateForm {
    nonce: String,
}

/// `POST /settings/webhooks/{id}/rotate-secret`: a new secret, shown once (once per form).
pub async fn rotate_secret(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(source): ClientAddr,
    Path(id): Path<String>,
    Form(form): Form<RotateForm>,
) -> AppResult<Response> {
    view::check_nonce(&form.nonce)?;
    let e = find(&app, &id).await?;
    let now = crate::domain::now();
    let (key, user) = (&app.secret_key, &admin.user.username);
    match endpoints::rotate_secret(&app.store, key, user, &e, &form.nonce, &source, now).await? {
        Some(secret) => secret_page(&admin, e.id, e.url, secret, "rotated"),
        None => Ok(back(&id, "rotate-replayed")),
    }
}

#[derive(Template)]
#[template(path = "settings/webhook_delete.html")]
struct DeletePage {
    chrome: Chrome,
    id: String,
    url: String,
    description: String,
}

/// `GET /settings/webhooks/{id}/delete`: asks first.
pub async fn confirm_delete(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let e = find(&app, &id).await?;
    render(
        StatusCode::OK,
        &DeletePage {
            chrome: Chrome::new(&admin, "settings", "webhooks"),
            id: e.id,
            url: e.url,
            description: e.description,
        },
    )
}

/// `POST /settings/webhooks/{id}/delete`.
pub async fn delete(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(source): ClientAddr,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let e = find(&app, &id).await?;
    let now = crate::domain::now();
    endpoints::delete(&app.store, &admin.user.username, &e, &source, now).await?;
    Ok(Redirect::to("/settings/webhooks").into_response())
}

/// `POST /settings/webhooks/{id}/deliveries/{delivery}/redeliver`.
pub async fn redeliver(
    State(app): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path((id, delivery)): Path<(String, String)>,
) -> AppResult<Response> {
    let e = find(&app, &id).await?;
    endpoints::redeliver(&app.store, &e, &delivery).await?;
    Ok(back(&id, "redeliver"))
}
