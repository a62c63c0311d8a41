//! API authentication: the one bearer-token extractor and the one authorisation step.
//!
//! The extractor refuses tokens in query strings and checks the token's format and checksum
//! offline, so a mistyped or forged token costs no database work. [`authorize`] then judges
//! the stored token (revoked, expired, disabled user) and the scope decision together;
//! [`authorize_admin`] is the token-management API's guard beside it.

mod extract;

use std::collections::HashMap;

pub use extract::Bearer;
use extract::unauthorized;

use crate::domain::audit::Refusal;
use crate::domain::cidr;
use crate::domain::expiry;
use crate::domain::scope::{self, Decision, Permission, Principal, Resource, Role};
use crate::domain::token::TokenKind;
use crate::domain::usage::{self, Use};
use crate::error::{AppError, AppResult};
use crate::metrics::AuthOutcome;
use crate::state::AppState;
use crate::store::access::{Holder, TokenAuth, TokenUser};
use crate::store::devices::Device;
use crate::store::usage::{Noted, RefusalCount};
use crate::store::users::User;

/// What an API call asks to reach.
#[derive(Debug, Clone, Copy)]
pub enum Access<'a> {
    /// Nothing in particular: only who is calling (their scope is judged by the handler).
    Caller,
    /// A fleet as a whole (its device list), needing `needed`.
    Fleet {
        /// Fleet key from the URL.
        fleet: &'a str,
        /// Permission type the call needs.
        needed: Permission,
    },
    /// One device under a fleet's URL, loaded in the same statement as the token.
    Device {
        /// Fleet key from the URL.
        fleet: &'a str,
        /// Normalised device UUID from the URL.
        uuid: &'a str,
        /// Permission type the call needs.
        needed: Permission,
    },
}

/// Who is calling, once the stored token is judged live.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: String,
    /// The scope principal (a user's rights are those on the fleet asked about, if any).
    pub principal: Principal,
    /// For user tokens: the user as they are now.
    pub user: Option<TokenUser>,
}

impl Caller {
    /// Whether the user behind a user token is an admin.
    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role == Role::Admin)
    }
}

/// An authorised call: the caller and, for [`Access::Device`], the device (in the URL's fleet).
#[derive(Debug)]
pub struct Authorized {
    /// Who is calling.
    pub caller: Caller,
    /// The device asked for.
    pub device: Option<Device>,
}

/// Records a refused use of a live-looking token: the first of its minute (per token, reason
/// and address) as an audit entry at once, the rest as its count at the next flush. The use is
/// counted by the caller ([`UsageBatch::record`] or [`UsageBatch::count`]).
///
/// [`UsageBatch::record`]: crate::store::usage::UsageBatch::record
/// [`UsageBatch::count`]: crate::store::usage::UsageBatch::count
async fn refuse(
    app: &AppState,
    bearer: &Bearer,
    token_id: &str,
    reason: &'static str,
) -> AppResult<()> {
    let now = crate::domain::now();
    let refusal = Refusal::new(token_id, reason, bearer.source(), now);
    if app.usage.note_refusal(&refusal, now) == Noted::Write
        && let Err(e) = app
            .store
            .add_refusals(&[RefusalCount {
                refusal: refusal.clone(),
                count: 1,
                first_at: now,
                last_at: now,
            }])
            .await
    {
        // Counted instead, for the next flush to write.
        app.usage.note_refusal(&refusal, now);
        return Err(e.into());
    }
    Ok(())
}

/// Notes a use of a live token: stamped as last used, and counted as `how`.
fn used(app: &AppState, bearer: &Bearer, caller: &Caller, how: Use) {
    let now = crate::domain::now();
    app.usage
        .record(&caller.token_id, now, bearer.ip, bearer.agent.as_ref(), how);
}

/// The one authorisation step of the API: one statement loads the token (with the user's rights
/// on the URL's fleet, and the device asked for); an unknown, revoked or expired token, or a
/// disabled user, gets 401; then the scope decision: out of scope → 404 (exactly like a missing
/// resource), missing permission → 403 naming it. Refusals are audited; accepted uses stamped.
pub async fn authorize(
    app: &AppState,
    bearer: &Bearer,
    access: Access<'_>,
) -> AppResult<Authorized> {
    judge(app, bearer, access, true).await
}

/// The resource and permission `access` asks for (none for [`Access::Caller`]), with the device
/// as loaded.
///
/// The URL names a device that is there, or one that is not (never existed, deleted, or in
/// another fleet than the URL says). A missing device is judged on the URL's fleet alone: no
/// device target covers it (404, as for any device outside the target), a fleet target or a
/// user's rights on that fleet decide between 403 and the handler's 404 — the same answers
/// whether the UUID exists elsewhere or not at all.
fn asked<'a>(access: Access<'a>, device: Option<&Device>) -> Option<(Resource<'a>, Permission)> {
    match access {
        Access::Caller => None,
        Access::Fleet { fleet, needed } => Some((
            Resource {
                fleet,
                device: None,
            },
            needed,
        )),
        Access::Device {
            fleet,
            uuid,
            needed,
        } => {
            let in_fleet = device.is_some_and(|d| d.fleet_key == fleet);
            Some((
                Resource {
                    fleet,
                    device: in_fleet.then_some(uuid),
                },
                needed,
            ))
        }
    }
}

/// [`authorize`]; `count_caller`: whether an [`Access::Caller`] that passes counts as an `ok`
/// authentication (not when the caller still has a test to pass, as in [`authorize_admin`]).
async fn judge(
    app: &AppState,
    bearer: &Bearer,
    access: Access<'_>,
    count_caller: bool,
) -> AppResult<Authorized> {
    let (fleet, auth, device) = match access {
        Access::Caller => (
            None,
            app.store
                .token_auth(&bearer.hash, bearer.kind, None)
                .await?,
            None,
        ),
        Access::Fleet { fleet, .. } => (
            Some(fleet),
            app.store
                .token_auth(&bearer.hash, bearer.kind, Some(fleet))
                .await?,
            None,
        ),
        Access::Device { fleet, uuid, .. } => match app
            .store
            .token_auth_with_device(&bearer.hash, bearer.kind, fleet, uuid)
            .await?
        {
            Some((auth, device)) => (Some(fleet), Some(auth), device),
            None => (Some(fleet), None, None),
        },
    };
    let caller = live_caller(app, bearer, auth, fleet).await?;
    let Some((resource, needed)) = asked(access, device.as_ref()) else {
        if count_caller {
            app.count_authentication(AuthOutcome::ok);
            used(app, bearer, &caller, Use::Allowed);
        }
        return Ok(Authorized { caller, device });
    };
    let decision = scope::decide(&caller.principal, resource, needed);
    app.count_authentication(match decision {
        Decision::Allow => AuthOutcome::ok,
        _ => AuthOutcome::out_of_scope,
    });
    match decision {
        Decision::Allow => {
            used(app, bearer, &caller, Use::Allowed);
            Ok(Authorized {
                caller,
                device: device.filter(|d| d.fleet_key == resource.fleet),
            })
        }
        Decision::NotFound => {
            used(app, bearer, &caller, Use::Refused(usage::OUT_OF_SCOPE));
            Err(AppError::NotFound)
        }
        Decision::Forbidden(p) => {
            let reason = usage::missing(p);
            used(app, bearer, &caller, Use::Refused(reason));
            Box::pin(refuse(app, bearer, &caller.token_id, reason)).await?;
            Err(AppError::Forbidden(format!(
                "This token lacks the {} permission for this resource.",
                p.as_str()
            )))
        }
    }
}

/// The API's admin guard: an administrator's live user token, with the user as stored. A device
/// details token is judged first (a revoked one still gets its 401), then refused with 403.
pub async fn authorize_admin(app: &AppState, bearer: &Bearer) -> AppResult<(Caller, User)> {
    let caller = judge(app, bearer, Access::Caller, false).await?.caller;
    if bearer.kind == TokenKind::DeviceDetails {
        app.count_authentication(AuthOutcome::out_of_scope);
        used(app, bearer, &caller, Use::Refused(usage::MAY_NOT_MANAGE));
        return Err(AppError::Forbidden(
            "Device details tokens cannot manage tokens.".into(),
        ));
    }
    if !caller.is_admin() {
        app.count_authentication(AuthOutcome::out_of_scope);
        used(app, bearer, &caller, Use::Refused(usage::MAY_NOT_MANAGE));
        return Err(AppError::Forbidden(
            "Only an administrator's user token can manage tokens.".into(),
        ));
    }
    let id = caller
        .user
        .as_ref()
        .map(|u| u.id.as_str())
        .unwrap_or_default();
    let Some(user) = app.store.user(id).await? else {
        app.count_authentication(AuthOutcome::unknown);
        return Err(unauthorized("Invalid token."));
    };
    app.count_authentication(AuthOutcome::ok);
    used(app, bearer, &caller, Use::Allowed);
    Ok((caller, user))
}

/// Why a stored token is refused at `now` (outcome, audit detail, client message), if it is.
fn refusal_of(auth: &TokenAuth, now: i64) -> Option<(AuthOutcome, &'static str, &'static str)> {
    if auth.revoked {
        Some((AuthOutcome::revoked, "revoked", "This token was revoked."))
    } else if expiry::is_expired(auth.expires_at, now) {
        Some((AuthOutcome::expired, "expired", "This token has expired."))
    } else if matches!(&auth.holder, Holder::User { user, .. } if user.disabled) {
        Some((
            AuthOutcome::user_disabled,
            "user disabled",
            "The user of this token is disabled.",
        ))
    } else {
        None
    }
}

/// Judges a stored token: unknown, revoked, expired or a disabled user → 401 (audited but for
/// the unknown). A user's rights are those on `fleet` as loaded with the token.
async fn live_caller(
    app: &AppState,
    bearer: &Bearer,
    auth: Option<TokenAuth>,
    fleet: Option<&str>,
) -> AppResult<Caller> {
    let now = crate::domain::now();
    let Some(auth) = auth else {
        app.count_authentication(AuthOutcome::unknown);
        return Err(unauthorized("Invalid token."));
    };
    if let Some((outcome, detail, message)) = refusal_of(&auth, now) {
        app.count_authentication(outcome);
        app.usage.count(&auth.token_id, now, Use::Refused(detail));
        // Boxed: the refusal's write would otherwise make every request's future larger, and
        // futures are moved (copied) several times on the way through the router.
        Box::pin(refuse(app, bearer, &auth.token_id, detail)).await?;
        return Err(unauthorized(message));
    }
    if !cidr::stored_allows(&auth.allowed_ips, bearer.ip) {
        app.count_authentication(AuthOutcome::ip_not_allowed);
        let reason = "client address not allowed";
        app.usage.count(&auth.token_id, now, Use::Refused(reason));
        Box::pin(refuse(app, bearer, &auth.token_id, reason)).await?;
        return Err(AppError::Forbidden(format!(
            "This token may not be used from {}.",
            bearer.source()
        )));
    }
    let (principal, user) = match auth.holder {
        Holder::Scope {
            target,
            permissions,
        } => (
            Principal::DeviceToken {
                target,
                permissions,
            },
            None,
        ),
        Holder::User {
            user,
            fleet_permissions,
        } => {
            let fleets = fleet
                .map(|f| (f.to_owned(), fleet_permissions))
                .into_iter()
                .collect::<HashMap<_, _>>();
            (
                Principal::User {
                    role: user.role,
                    fleets,
                },
                Some(user),
            )
        }
    };
    Ok(Caller {
        token_id: auth.token_id,
        principal,
        user,
    })
}
