//! The Account tab itself: plan, renewal, active devices, the Access Token card, whichever side
//! panel is open, and the show-once view of a new token.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::forms::{
    DateBounds, DeviceForm, UserForm, date_bounds, fresh_device_form, fresh_user_form,
};
use crate::auth::session::CurrentUser;
use crate::domain::token::PlainToken;
use crate::error::{AppError, AppResult};
use crate::issuing::{self, IssueOutcome, Issued};
use crate::layers::CarriesSecret;
use crate::state::AppState;
use crate::store::account::Account;
use crate::web::view::{Chrome, render};

/// Which side panel is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Open {
    None,
    Device,
    User,
    Created,
}

/// The show-once view of a new token.
#[derive(Debug)]
pub(crate) struct Created {
    /// The secret, redacted in any debug output.
    pub(crate) token: PlainToken,
    pub(crate) token_id: String,
    pub(crate) kind_label: &'static str,
    pub(crate) description: String,
    pub(crate) subject: String,
    pub(crate) permissions: String,
    pub(crate) expires: String,
    /// Where *Close* goes.
    pub(crate) close_href: String,
}

impl Created {
    /// What the panel shows of a new token; *Close* goes to `close_href`.
    pub(crate) fn new(issued: Issued, close_href: String) -> Self {
        let Issued { plaintext, record } = issued;
        Created {
            token: plaintext,
            subject: record.subject(),
            permissions: if record.permissions.is_empty() {
                "As the user's own rights".into()
            } else {
                record.permissions.to_string()
            },
            expires: crate::web::view::expiry_date(record.expires_at),
            kind_label: record.kind.label(),
            token_id: record.id,
            description: record.description,
            close_href,
        }
    }
}

/// What only admins get on the Account tab.
pub(super) struct AdminPanels {
    pub(super) open: Open,
    /// Slide the panel in: only when it is opened, not when the server re-renders it.
    pub(super) animate: bool,
    pub(super) min_date: String,
    pub(super) max_date: String,
    pub(super) device: DeviceForm,
    pub(super) user: UserForm,
    pub(super) created: Option<Created>,
}

impl AdminPanels {
    pub(super) fn device_open(&self) -> bool {
        self.open == Open::Device
    }

    pub(super) fn user_open(&self) -> bool {
        self.open == Open::User
    }

    pub(super) fn any_open(&self) -> bool {
        self.open != Open::None
    }
}

#[derive(Template)]
#[template(path = "settings/account.html")]
struct AccountPage {
    chrome: Chrome,
    expiring: Vec<crate::web::dashboard::Expiring>,
    account: Account,
    devices_total: i64,
    devices_active: i64,
    admin: Option<AdminPanels>,
}

pub(super) async fn page(
    app: &AppState,
    user: &CurrentUser,
    status: StatusCode,
    panels: Option<AdminPanels>,
) -> AppResult<Response> {
    // Independent reads, sent together: the page waits for the slowest, not their sum.
    let is_admin = user.user.is_admin();
    let (account, (total, active), expiring) = tokio::try_join!(
        async { app.store.account().await.map_err(AppError::from) },
        async {
            let since = crate::domain::now() - 86_400;
            app.store.device_counts(since).await.map_err(AppError::from)
        },
        async {
            if is_admin {
                crate::web::dashboard::expiring_soon(app).await
            } else {
                Ok(Vec::new())
            }
        },
    )?;
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
            expiring,
            chrome: Chrome::new(user, "settings", "account"),
            account,
            devices_total: total,
            devices_active: active,
            admin,
        },
    )
}

pub(super) async fn admin_panels(
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
        None => fresh_device_form(app).await?,
    };
    let user = match user {
        Some(u) => u,
        None => fresh_user_form(app).await?,
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
pub(super) async fn issue_and_show(
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
            let created = Created::new(*issued, "/settings/account".into());
            let panels = admin_panels(app, Open::Created, None, None, Some(created)).await?;
            let mut shown = page(app, admin, StatusCode::OK, Some(panels)).await?;
            shown.extensions_mut().insert(CarriesSecret);
            Ok(shown)
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
