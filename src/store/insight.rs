//! What the dashboard's pictures, a token's detail page and the usage API read (PRODUCT.md §14):
//! uses per day (one token's, or all tokens' from their daily totals), the busiest tokens of a
//! period, and the live tokens per day of expiry.

use super::{Store, StoreResult, on_pool};

/// One stored count: day, reason (`""` for allowed), uses.
pub type UseRow = (i64, String, i64);

/// A token among the busiest of a period.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Busy {
    pub token_id: String,
    pub description: String,
    /// Allowed and refused uses in the period.
    pub uses: i64,
}

impl Store {
    /// One token's counts from day `first` to day `last` (both included).
    pub async fn token_uses(
        &self,
        token_id: &str,
        first: i64,
        last: i64,
    ) -> StoreResult<Vec<UseRow>> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as(
                "SELECT day, reason, uses FROM token_usage \
                 WHERE token_id = $1 AND day >= $2 AND day <= $3",
            )
            .bind(token_id)
            .bind(first)
            .bind(last)
            .fetch_all(db)
            .await?
        }))
    }

    /// All tokens' counts from day `first` to day `last` (both included).
    pub async fn all_uses(&self, first: i64, last: i64) -> StoreResult<Vec<UseRow>> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as("SELECT day, reason, uses FROM usage_days WHERE day >= $1 AND day <= $2")
                .bind(first)
                .bind(last)
                .fetch_all(db)
                .await?
        }))
    }

    /// The `limit` tokens with the most uses from day `first` on (ties by Token ID), with their
    /// description; tokens since deleted are left out.
    pub async fn busiest_tokens(&self, first: i64, limit: i64) -> StoreResult<Vec<Busy>> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as(
                "SELECT b.token_id, t.description, b.uses FROM \
                   (SELECT token_id, CAST(SUM(uses) AS BIGINT) AS uses FROM token_usage \
                    WHERE day >= $1 GROUP BY token_id) b \
                 JOIN tokens t ON t.id = b.token_id \
                 ORDER BY b.uses DESC, b.token_id LIMIT $2",
            )
            .bind(first)
            .bind(limit)
            .fetch_all(db)
            .await?
        }))
    }

    /// Live (not revoked) tokens per UTC day of their expiry, from day `first` to `last`.
    pub async fn live_tokens_by_expiry_day(
        &self,
        first: i64,
        last: i64,
    ) -> StoreResult<Vec<(i64, i64)>> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as(
                "SELECT day, CAST(live AS BIGINT) FROM token_expiry_days \
                 WHERE day >= $1 AND day <= $2 AND live > 0",
            )
            .bind(first)
            .bind(last)
            .fetch_all(db)
            .await?
        }))
    }
}
