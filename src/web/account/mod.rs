//! General Settings → Account: plan, renewal, active devices, and the Access Token card with
//! the *Generate Device Details Token* and *User Token* side panels and the show-once view.

mod device_panel;
mod user_panel;

pub use device_panel::{device_panel, device_search, device_submit};
pub use user_panel::{user_panel, user_submit};

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Chrome, render};
use crate::AppState;
use crate::auth::session::CurrentUser;
use crate::domain::expiry;
use crate::domain::token::PlainToken;
use crate::domain::token::random_base62;
use crate::error::{AppError, AppResult};
use crate::issuing::{self, IssueOutcome, Issued};
use crate::store::account::Account;
use device_panel::DeviceForm;
use user_panel::UserForm;

/// A `<option>`.
#[derive(Debug, Clone)]
pub struct Opt {
    value: String,
    label: String,
    selected: bool,
}

/// Which side panel is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Device,
    User,
    Created,
}

/// The show-once view of a new token.
#[derive(Debug)]
struct Created {
    /// The secret, redacted in any debug output.
    token: PlainToken,
    token_id: String,
    kind_label: &'static str,
    description: String,
    subject: String,
    permissions: String,
    expires: String,
}

/// What only admins get on the Account tab.
struct AdminPanels {
    open: Open,
    /// Slide the panel in: only when it is opened, not when the server re-renders it.
    animate: bool,
    min_date: String,
    max_date: String,
    device: DeviceForm,
    user: UserForm,
    created: Option<Created>,
}

impl AdminPanels {
    fn device_open(&self) -> bool {
        self.open == Open::Device
    }

    fn user_open(&self) -> bool {
        self.open == Open::User
    }

    fn any_open(&self) -> bool {
        self.open != Open::None
    }
}

#[derive(Template)]
#[template(path = "settings/account.html")]
struct AccountPage {
    chrome: Chrome,
    expiring: Vec<super::dashboard::Expiring>,
    account: Account,
    devices_total: i64,
    devices_active: i64,
    admin: Option<AdminPanels>,
}

fn nonce() -> String {
    random_base62(32)
}

fn check_nonce(n: &str) -> AppResult<()> {
    if n.len() == 32 && n.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(AppError::BadRequest(
            "The form is incomplete. Reload the page and try again.".into(),
        ))
    }
}

/// The date picker's bounds and default today, as `YYYY-MM-DD`.
struct DateBounds {
    min: String,
    max: String,
    default: String,
}

fn date_bounds(app: &AppState) -> DateBounds {
    let today = expiry::today(time::OffsetDateTime::now_utc());
    let max = app.config.max_token_days;
    DateBounds {
        min: expiry::format_date(today + time::Duration::days(1)),
        max: expiry::format_date(expiry::latest_date(today, max)),
        default: expiry::format_date(expiry::default_date(today, max)),
    }
}

async fn page(
    app: &AppState,
    user: &CurrentUser,
    status: StatusCode,
    panels: Option<AdminPanels>,
) -> AppResult<Response> {
    let account = app.store.account().await?;
    let (total, active) = app
        .store
        .device_counts(crate::domain::now() - 86_400)
        .await?;
    let admin = match panels {
        Some(p) => Some(p),
        None if user.user.is_admin() => {
            Some(admin_panels(app, Open::None, None, None, None).await?)
        }
        None => None,
    };
    render(
        status,
        &AccountPage {
            expiring: if user.user.is_admin() {
                super::dashboard::expiring_soon(app).await?
            } else {
                Vec::new()
            },
            chrome: Chrome::new(user, "settings", "account"),
            account,
            devices_total: total,
            devices_active: active,
            admin,
        },
    )
}

async fn admin_panels(
    app: &AppState,
    open: Open,
    device: Option<DeviceForm>,
    user: Option<UserForm>,
    created: Option<Created>,
) -> AppResult<AdminPanels> {
    let DateBounds {
        min: min_date,
        max: max_date,
        ..
    } = date_bounds(app);
    let device = match device {
        Some(d) => d,
        None => device_panel::fresh_device_form(app).await?,
    };
    let user = match user {
        Some(u) => u,
        None => user_panel::fresh_user_form(app).await?,
    };
    Ok(AdminPanels {
        open,
        animate: false,
        min_date,
        max_date,
        device,
        user,
        created,
    })
}

/// `GET /settings/account`.
pub async fn show(State(app): State<AppState>, user: CurrentUser) -> AppResult<Response> {
    page(&app, &user, StatusCode::OK, None).await
}

#[derive(Template)]
#[template(path = "settings/token_replayed.html")]
struct ReplayedPage {
    chrome: Chrome,
    token_id: String,
}

/// Issues the token of a valid form and shows it once — or, for a replayed nonce, which token
/// the form made before.
async fn issue_and_show(
    app: &AppState,
    admin: &CurrentUser,
    valid: issuing::ValidRequest,
    nonce: &str,
    source: &str,
    now: i64,
) -> AppResult<Response> {
    match issuing::issue(
        &app.store,
        Some(&admin.user),
        valid,
        Some(nonce),
        source,
        now,
    )
    .await?
    {
        IssueOutcome::Issued(issued) => {
            let Issued { plaintext, record } = *issued;
            let created = Created {
                token: plaintext,
                subject: record.subject(),
                permissions: if record.permissions.is_empty() {
                    "As the user's own rights".into()
                } else {
                    record.permissions.to_string()
                },
                expires: super::view::expiry_date(record.expires_at),
                kind_label: record.kind.label(),
                token_id: record.id,
                description: record.description,
            };
            let panels = admin_panels(app, Open::Created, None, None, Some(created)).await?;
            page(app, admin, StatusCode::OK, Some(panels)).await
        }
        IssueOutcome::Replayed(token_id) => render(
            StatusCode::CONFLICT,
            &ReplayedPage {
                chrome: Chrome::new(admin, "settings", "account"),
                token_id: token_id.unwrap_or_default(),
            },
        ),
    }
}
