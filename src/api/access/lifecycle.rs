//! A token's life through the API (PRODUCT.md §11): introspection (`GET …/tokens/self`, any live
//! token), rotation of any token by an admin (`POST …/tokens/{id}/rotate`) and of a token by
//! itself (`POST …/tokens/self/rotate`, device details tokens included). A rotated-out token
//! presented to a rotate endpoint after its grace time has leaked: every token that followed it
//! in its chain is revoked (as OAuth's refresh-token reuse detection does). Within a few seconds of the end
//! of its grace ([`expiry::REUSE_LEEWAY_SECS`]) it is taken for a concurrent retry instead: 409,
//! and nothing is revoked, so two rotations at once leave exactly one live successor.

use axum::Json;
use axum::extract::{FromRequest, Path, Request, State};
use axum::response::Response;
use serde::Deserialize;

use super::tokens::{shown_once, token_id};
use crate::api::json::{ApiJson, TokenJson};
use crate::auth::bearer::{Access, Bearer, authorize, authorize_admin};
use crate::domain::expiry::{self, TokenStatus};
use crate::error::{AppError, AppResult};
use crate::issuing::{self, RotateRequest, Rotated};
use crate::state::AppState;
use crate::store::tokens::TokenRecord;

/// The rotate endpoints' body; both fields optional, and so is the body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// New last valid day `YYYY-MM-DD`; default: the old lifetime from today.
    expires_at: Option<String>,
    /// How long the old token keeps working, 0–86400 (default 0: it stops at once).
    grace_seconds: Option<i64>,
}

impl RotateBody {
    /// The body of `req`: none (empty) is the defaults.
    async fn of(req: Request) -> AppResult<Self> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, crate::layers::BODY_LIMIT)
            .await
            .map_err(|_| AppError::PayloadTooLarge("The request body is too large.".into()))?;
        if bytes.is_empty() {
            return Ok(RotateBody::default());
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        Ok(ApiJson::<RotateBody>::from_request(req, &()).await?.0)
    }

    fn request(self) -> RotateRequest {
        RotateRequest {
            expires: self.expires_at,
            grace_secs: self.grace_seconds.unwrap_or(0),
        }
    }
}

/// When authentication failed with 401: if the presented token was rotated out and is no longer
/// live, this is a reuse — revoke every token that followed it and say so (or, within the leeway,
/// a concurrent retry: 409). Otherwise the 401 as it was.
async fn reuse_check(app: &AppState, bearer: &Bearer, refused: AppError) -> AppError {
    if !matches!(refused, AppError::Unauthorized(_)) {
        return refused;
    }
    let now = crate::domain::now();
    let retired = match app.store.token_by_hash(&bearer.hash).await {
        Ok(Some(t)) if t.successor_id.is_some() && t.status(now) != TokenStatus::Active => t,
        Ok(_) => return refused,
        Err(e) => return e.into(),
    };
    if !expiry::is_reuse(retired.expires_at, now) && retired.revoked_at.is_none() {
        return AppError::Conflict(format!(
            "This token was rotated already: its successor is {}.",
            retired.successor_id.unwrap_or_default()
        ));
    }
    match issuing::reuse_detected(&app.store, &retired, &bearer.source(), now).await {
        Ok(()) => AppError::Unauthorized(
            "This token was replaced by rotation. Its reuse revokes every token that followed it."
                .into(),
        ),
        Err(e) => e,
    }
}

/// Rotates `old` and answers 201 with the successor (or 409 / 422).
async fn rotated(
    app: &AppState,
    actor: &str,
    old: &TokenRecord,
    body: RotateBody,
    source: &str,
) -> AppResult<Response> {
    let now = crate::domain::now();
    let request = body.request();
    let outcome = issuing::rotate(
        &app.store,
        app.config.max_token_days,
        actor,
        old,
        &request,
        source,
        now,
    )
    .await?
    .map_err(|e| AppError::Unprocessable(e.messages().join(" ")))?;
    match outcome {
        Rotated::New(issued) => shown_once(&issued, now),
        Rotated::Already(successor) => Err(AppError::Conflict(format!(
            "This token was rotated already: its successor is {successor}."
        ))),
        Rotated::NotLive => Err(AppError::Conflict(
            "A revoked or expired token cannot be rotated.".into(),
        )),
    }
}

/// `GET /access/api/v1/tokens/self`: the presented token's own metadata (never a secret).
pub async fn introspect(State(app): State<AppState>, bearer: Bearer) -> AppResult<Json<TokenJson>> {
    let caller = authorize(&app, &bearer, Access::Caller).await?.caller;
    let t = app
        .store
        .token(&caller.token_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(TokenJson::new(&t, crate::domain::now())))
}

/// `POST /access/api/v1/tokens/self/rotate`: the presented token rotates itself.
pub async fn rotate_self(
    State(app): State<AppState>,
    bearer: Bearer,
    req: Request,
) -> AppResult<Response> {
    let caller = match authorize(&app, &bearer, Access::Caller).await {
        Ok(authorized) => authorized.caller,
        Err(refused) => return Err(reuse_check(&app, &bearer, refused).await),
    };
    let body = RotateBody::of(req).await?;
    let old = app
        .store
        .token(&caller.token_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let actor = match &caller.user {
        Some(user) => user.username.clone(),
        None => format!("token {}", caller.token_id),
    };
    rotated(&app, &actor, &old, body, &bearer.source()).await
}

/// `POST /access/api/v1/tokens/{id}/rotate`: an admin rotates any live token.
pub async fn rotate(
    State(app): State<AppState>,
    bearer: Bearer,
    Path(id): Path<String>,
    req: Request,
) -> AppResult<Response> {
    let user = match authorize_admin(&app, &bearer).await {
        Ok((_, user)) => user,
        Err(refused) => return Err(reuse_check(&app, &bearer, refused).await),
    };
    let body = RotateBody::of(req).await?;
    let old = app
        .store
        .token(token_id(&id)?)
        .await?
        .ok_or(AppError::NotFound)?;
    rotated(&app, &user.username, &old, body, &bearer.source()).await
}
