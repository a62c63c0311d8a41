//! `GET /access/api/v1/tokens/{id}/usage?days=`: a token's requests per UTC day, allowed and
//! refused (PRODUCT.md §14), oldest first, the last day today. Counts are written in batches,
//! so the newest lag by at most the flush interval.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde::Serialize;
use std::collections::BTreeMap;

use super::tokens::token_id;
use crate::auth::bearer::{Bearer, authorize_admin};
use crate::domain::usage::{self, DayUses, MAX_DAYS};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Days answered when the query does not say.
const DEFAULT_DAYS: i64 = 30;

/// One day of the answer.
#[derive(Debug, Serialize)]
pub struct DayJson {
    date: String,
    allowed: i64,
    refused: i64,
    /// Refused uses by reason (absent reasons are zero).
    refused_by_reason: BTreeMap<String, i64>,
}

impl From<DayUses> for DayJson {
    fn from(d: DayUses) -> Self {
        DayJson {
            date: usage::date_of(d.day),
            allowed: d.allowed,
            refused: d.refused,
            refused_by_reason: d.reasons,
        }
    }
}

/// The `days` of the query string: 1 to [`MAX_DAYS`], else a clear 400.
fn days_of(raw: Option<&str>) -> AppResult<i64> {
    let pairs = crate::api::query::pairs(raw)?;
    let mut days = DEFAULT_DAYS;
    for (k, v) in pairs {
        match k.as_str() {
            "days" => {
                days = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_DAYS).contains(n))
                    .ok_or_else(|| {
                        AppError::BadRequest(format!("`days` must be from 1 to {MAX_DAYS}."))
                    })?;
            }
            other => {
                return Err(crate::api::query::unknown(other));
            }
        }
    }
    Ok(days)
}

/// `GET /access/api/v1/tokens/{id}/usage?days=1..400` (default 30).
pub async fn get(
    State(app): State<AppState>,
    bearer: Bearer,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> AppResult<Json<serde_json::Value>> {
    authorize_admin(&app, &bearer).await?;
    let days = days_of(raw.as_deref())?;
    let id = token_id(&id)?;
    app.store.token(id).await?.ok_or(AppError::NotFound)?;
    let today = usage::day_of(crate::domain::now());
    let rows = app.store.token_uses(id, today - days + 1, today).await?;
    let days: Vec<DayJson> = usage::days_ending(today, days, &rows)
        .into_iter()
        .map(DayJson::from)
        .collect();
    Ok(Json(serde_json::json!({ "days": days })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_default_to_30_and_stay_within_1_to_400() {
        assert_eq!(days_of(None).unwrap(), 30);
        assert_eq!(days_of(Some("days=1")).unwrap(), 1);
        assert_eq!(days_of(Some("days=400")).unwrap(), 400);
        for bad in [
            "days=0", "days=401", "days=x", "days=-1", "day=3", "days=1.5",
        ] {
            assert!(days_of(Some(bad)).is_err(), "{bad}");
        }
    }
}
