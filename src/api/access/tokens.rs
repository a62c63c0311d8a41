//! `/access/api/v1/tokens`: list, get, generate and revoke tokens with an admin's user token.
//! A device details token can never reach these.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::api::json::{ApiJson, TokenJson};
use crate::auth::bearer::{Bearer, authorize_admin};
use crate::domain::expiry::TokenStatus;
use crate::domain::scope::{Permission, Permissions};
use crate::domain::token::{self, TokenKind};
use crate::error::{AppError, AppResult};
use crate::issuing::{self, IssueOutcome, SubjectRequest, TokenRequest};
use crate::layers::CarriesSecret;
use crate::state::AppState;
use crate::store::tokens::TokenFilter;

/// `GET /access/api/v1/tokens?type=&status=&q=&limit=&offset=`.
pub async fn list(
    State(app): State<AppState>,
    bearer: Bearer,
    RawQuery(raw): RawQuery,
) -> AppResult<Json<serde_json::Value>> {
    authorize_admin(&app, &bearer).await?;
    let now = crate::domain::now();
    let pairs = crate::api::query::pairs(raw.as_deref())?;
    let mut filter = TokenFilter {
        now,
        ..TokenFilter::default()
    };
    let (mut limit, mut offset) = (100i64, 0i64);
    for (k, v) in pairs {
        match k.as_str() {
            "type" => {
                filter.kind = Some(TokenKind::parse(&v).ok_or_else(|| {
                    AppError::BadRequest("`type` is user or device_details.".into())
                })?)
            }
            "status" => {
                filter.status = Some(TokenStatus::parse(&v).ok_or_else(|| {
                    AppError::BadRequest("`status` is active, expired or revoked.".into())
                })?)
            }
            "q" => {
                if v.chars().count() > 100 {
                    return Err(AppError::BadRequest(
                        "`q` can be at most 100 characters.".into(),
                    ));
                }
                filter.text = v;
            }
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| AppError::BadRequest("`limit` must be from 1 to 1000.".into()))?
            }
            "offset" => {
                offset = v
                    .parse()
                    .ok()
                    .filter(|n| (0..=10_000_000).contains(n))
                    .ok_or_else(|| {
                        AppError::BadRequest("`offset` must be from 0 to 10000000.".into())
                    })?
            }
            other => {
                return Err(crate::api::query::unknown(other));
            }
        }
    }
    let tokens: Vec<TokenJson> = app
        .store
        .find_tokens(&filter, offset, limit)
        .await?
        .iter()
        .map(|t| TokenJson::new(t, now))
        .collect();
    Ok(Json(serde_json::json!({ "tokens": tokens })))
}

/// `id` if it is a Token ID (a UUID), else 404.
pub fn token_id(id: &str) -> AppResult<&str> {
    uuid::Uuid::parse_str(id)
        .map(|_| id)
        .map_err(|_| AppError::NotFound)
}

/// `GET /access/api/v1/tokens/{id}`.
pub async fn get(
    State(app): State<AppState>,
    bearer: Bearer,
    Path(id): Path<String>,
) -> AppResult<Json<TokenJson>> {
    authorize_admin(&app, &bearer).await?;
    let t = app
        .store
        .token(token_id(&id)?)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(TokenJson::new(&t, crate::domain::now())))
}

/// `DELETE /access/api/v1/tokens/{id}`: 204, or 404 when there is no such token.
pub async fn delete(
    State(app): State<AppState>,
    bearer: Bearer,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let (_, user) = authorize_admin(&app, &bearer).await?;
    let t = app
        .store
        .token(token_id(&id)?)
        .await?
        .ok_or(AppError::NotFound)?;
    let now = crate::domain::now();
    issuing::revoke(&app.store, &user, &t, &bearer.source(), "via API", now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of the revoke-by-value call (no `Debug`: it holds a token).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeByValue {
    token: String,
}

/// `POST /access/api/v1/tokens/revoke`: revokes a leaked token by its value. Always 204: the
/// answer does not say whether the token existed.
pub async fn revoke_by_value(
    State(app): State<AppState>,
    bearer: Bearer,
    ApiJson(body): ApiJson<RevokeByValue>,
) -> AppResult<StatusCode> {
    let (_, user) = authorize_admin(&app, &bearer).await?;
    if let Ok((_, hash)) = token::parse(body.token.trim())
        && let Some(t) = app.store.token_by_hash(&hash).await?
    {
        let now = crate::domain::now();
        issuing::revoke(
            &app.store,
            &user,
            &t,
            &bearer.source(),
            "via API, by value",
            now,
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /access/api/v1/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    #[serde(rename = "type")]
    kind: CreateKind,
    description: String,
    expires_at: String,
    target: Option<CreateTarget>,
    permissions: Option<Vec<String>>,
    username: Option<String>,
    allowed_ips: Option<Vec<String>>,
}

/// Token kinds of the create call.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateKind {
    /// A user token.
    User,
    /// A device details token.
    DeviceDetails,
}

/// The target entity: exactly one of `fleet` or `device` (checked after parsing, so that
/// both or neither get the same clear message as any other misfit).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTarget {
    /// A fleet key.
    fleet: Option<String>,
    /// A device UUID.
    device: Option<String>,
}

/// `POST /access/api/v1/tokens`: 201 with the token, shown this once (`no-store`).
pub async fn create(
    State(app): State<AppState>,
    bearer: Bearer,
    ApiJson(body): ApiJson<CreateToken>,
) -> AppResult<Response> {
    let (_, user) = authorize_admin(&app, &bearer).await?;
    let target = body.target.map(|t| (t.fleet, t.device));
    let subject = match (&body.kind, target, body.username) {
        (CreateKind::DeviceDetails, Some((Some(f), None)), None) => SubjectRequest::Fleet(f),
        (CreateKind::DeviceDetails, Some((None, Some(d))), None) => SubjectRequest::Device(d),
        (CreateKind::DeviceDetails, _, _) => {
            return Err(AppError::Unprocessable("A device_details token needs `target` ({\"fleet\": …} or {\"device\": …}) and no `username`.".into()));
        }
        (CreateKind::User, None, Some(u)) if body.permissions.is_none() => SubjectRequest::User(u),
        (CreateKind::User, _, _) => {
            return Err(AppError::Unprocessable(
                "A user token needs `username` and takes no `target` or `permissions`.".into(),
            ));
        }
    };
    let permissions: Permissions = body
        .permissions
        .unwrap_or_default()
        .iter()
        .map(|p| {
            Permission::parse(p).ok_or_else(|| {
                AppError::Unprocessable(format!(
                    "Unknown permission {p:?}: use read, write or delete."
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let request = TokenRequest {
        description: body.description,
        expires: body.expires_at,
        subject,
        permissions,
        allowed_ips: body.allowed_ips.unwrap_or_default().join("\n"),
    };
    let now = crate::domain::now();
    let valid = issuing::validate(&app.store, app.config.max_token_days, &request, now)
        .await?
        .map_err(|e| AppError::Unprocessable(e.messages().join(" ")))?;
    let IssueOutcome::Issued(issued) =
        issuing::issue(&app.store, Some(&user), valid, None, &bearer.source(), now).await?
    else {
        return Err(AppError::internal(anyhow::anyhow!(
            "a token without a nonce was replayed"
        )));
    };
    shown_once(&issued, now)
}

/// 201 with a new token's metadata and the token itself, this once: never stored by a cache,
/// never compressed.
pub fn shown_once(issued: &issuing::Issued, now: i64) -> AppResult<Response> {
    let mut body =
        serde_json::to_value(TokenJson::new(&issued.record, now)).map_err(AppError::internal)?;
    body["token"] = serde_json::Value::String(issued.plaintext.expose().to_owned());
    let mut res = (StatusCode::CREATED, Json(body)).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.extensions_mut().insert(CarriesSecret);
    Ok(res)
}
