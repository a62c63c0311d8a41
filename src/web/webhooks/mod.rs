//! General Settings → Webhooks (admins): the endpoints and the add-endpoint form
//! (`/settings/webhooks`), one endpoint's page with its settings, actions and deliveries
//! ([`endpoint`]), and the page that shows a signing secret once.

mod endpoint;

pub use endpoint::{confirm_delete, delete, redeliver, rotate_secret, send_test, show, update};

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::ClientAddr;
use crate::auth::session::{AdminUser, CurrentUser};
use crate::domain::webhook::{EventType, Events};
use crate::error::AppResult;
use crate::layers::CarriesSecret;
use crate::state::AppState;
use crate::store::webhooks::Endpoint;
use crate::web::view::{Chrome, render};
use crate::webhooks::endpoints::{self, Added, EndpointForm, FormErrors};

/// One checkbox of the events fieldset.
pub(super) struct EventChoice {
    name: &'static str,
    label: &'static str,
    checked: bool,
}

/// The fieldset's checkboxes, ticked as `events` says.
fn choices(ticked: impl Fn(EventType) -> bool) -> Vec<EventChoice> {
    EventType::SUBSCRIBABLE
        .into_iter()
        .map(|e| EventChoice {
            name: e.as_str(),
            label: e.label(),
            checked: ticked(e),
        })
        .collect()
}

/// The endpoint form as shown (typed values kept on error).
pub(super) struct FormView {
    url: String,
    description: String,
    events: Vec<EventChoice>,
    enabled: bool,
    errors: FormErrors,
}

impl FormView {
    /// A new endpoint's form: every event, enabled.
    fn blank() -> Self {
        FormView {
            url: String::new(),
            description: String::new(),
            events: choices(|_| true),
            enabled: true,
            errors: FormErrors::default(),
        }
    }

    /// An endpoint's current settings.
    fn of(e: &Endpoint) -> Self {
        FormView {
            url: e.url.clone(),
            description: e.description.clone(),
            events: choices(|t| e.events.0.contains(t)),
            enabled: e.enabled,
            errors: FormErrors::default(),
        }
    }

    /// What was typed, with its errors.
    fn typed(form: &EndpointForm, errors: FormErrors) -> Self {
        FormView {
            url: form.url.clone(),
            description: form.description.clone(),
            events: choices(|t| form.events.iter().any(|n| n == t.as_str())),
            enabled: form.enabled,
            errors,
        }
    }
}

/// The form's fields from a posted body (`events` repeats; `enabled` is a checkbox), and its
/// nonce.
pub(super) fn read_form(pairs: Vec<(String, String)>) -> (EndpointForm, String) {
    let mut form = EndpointForm::default();
    let mut nonce = String::new();
    for (k, v) in pairs {
        match k.as_str() {
            "nonce" => nonce = v,
            "url" => form.url = v,
            "description" => form.description = v,
            "events" => form.events.push(v),
            "enabled" => form.enabled = true,
            _ => {}
        }
    }
    (form, nonce)
}

/// A row of the endpoint list.
struct EndpointRow {
    id: String,
    url: String,
    description: String,
    events: String,
    enabled: bool,
    pending: i64,
    failed: i64,
}

#[derive(Template)]
#[template(path = "settings/webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    endpoints: Vec<EndpointRow>,
    form: FormView,
    /// The add form's one-time nonce.
    nonce: String,
    allow_private: bool,
}

async fn webhooks_page(
    app: &AppState,
    admin: &CurrentUser,
    status: StatusCode,
    form: FormView,
) -> AppResult<Response> {
    let endpoints = app
        .store
        .webhook_endpoints()
        .await?
        .into_iter()
        .map(|e| EndpointRow {
            events: events_text(e.events.0),
            id: e.id,
            url: e.url,
            description: e.description,
            enabled: e.enabled,
            pending: e.pending,
            failed: e.failed,
        })
        .collect();
    render(
        status,
        &WebhooksPage {
            chrome: Chrome::new(admin, "settings", "webhooks"),
            endpoints,
            form,
            nonce: crate::web::view::nonce(),
            allow_private: app.config.allow_private_webhooks,
        },
    )
}

/// "token.created, token.revoked" (or "all five").
fn events_text(e: Events) -> String {
    if e == Events::ALL {
        "all events".into()
    } else {
        e.names().join(", ")
    }
}

/// `GET /settings/webhooks`.
pub async fn list(State(app): State<AppState>, AdminUser(admin): AdminUser) -> AppResult<Response> {
    webhooks_page(&app, &admin, StatusCode::OK, FormView::blank()).await
}

#[derive(Template)]
#[template(path = "settings/webhook_secret.html")]
struct SecretPage {
    chrome: Chrome,
    endpoint_id: String,
    url: String,
    secret: String,
    /// "created" or "rotated".
    what: &'static str,
}

/// The page that shows a signing secret, once (never stored by a cache or compressed).
fn secret_page(
    admin: &CurrentUser,
    endpoint_id: String,
    url: String,
    secret: String,
    what: &'static str,
) -> AppResult<Response> {
    let mut page = render(
        StatusCode::OK,
        &SecretPage {
            chrome: Chrome::new(admin, "settings", "webhooks"),
            endpoint_id,
            url,
            secret,
            what,
        },
    )?;
    page.extensions_mut().insert(CarriesSecret);
    Ok(page)
}

/// `POST /settings/webhooks`: adds an endpoint and shows its secret once.
pub async fn create(
    State(app): State<AppState>,
    AdminUser(admin): AdminUser,
    ClientAddr(source): ClientAddr,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let (form, nonce) = read_form(pairs);
    crate::web::view::check_nonce(&nonce)?;
    let settings = match endpoints::validate(&form, app.config.allow_private_webhooks).await {
        Ok(s) => s,
        Err(errors) => {
            let view = FormView::typed(&form, errors);
            return webhooks_page(&app, &admin, StatusCode::UNPROCESSABLE_ENTITY, view).await;
        }
    };
    let actor = (admin.user.id.as_str(), admin.user.username.as_str());
    let now = crate::domain::now();
    let key = &app.secret_key;
    match endpoints::create(&app.store, key, actor, &settings, &nonce, &source, now).await? {
        Added::New { id, secret } => secret_page(&admin, id, settings.url, secret, "created"),
        // Sent before (a reload, a double click): that endpoint, and no secret again.
        Added::Replayed(Some(id)) => Ok(endpoint::back(&id, "replayed")),
        Added::Replayed(None) => Ok(Redirect::to("/settings/webhooks").into_response()),
    }
}
