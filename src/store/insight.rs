//! What the dashboard's pictures, a token's detail page and the usage API read (PRODUCT.md §14):
//! uses per day (one token's, or all tokens' from their daily totals), the busiest tokens of the
//! window (the last [`BUSY_DAYS`] days, from the running totals `usage_recent`, rolled forward
//! by [`Store::roll_usage_window`]), and the live tokens per day of expiry.

use super::{BeginWrite, Pool, Store, StoreResult, on_pool};

/// Days the busiest tokens are counted over, today included.
pub const BUSY_DAYS: i64 = 30;

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

    /// The `limit` tokens with the most uses in the window (ties by Token ID), with their
    /// description; tokens since deleted are left out.
    pub async fn busiest_tokens(&self, limit: i64) -> StoreResult<Vec<Busy>> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as(
                "SELECT r.token_id, t.description, r.uses FROM usage_recent r \
                 JOIN tokens t ON t.id = r.token_id \
                 ORDER BY r.uses DESC, r.token_id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(db)
            .await?
        }))
    }

    /// Moves the busiest window to the [`BUSY_DAYS`] days ending `today`: the uses of the days
    /// that leave it are subtracted from the running totals, once — the window's row is locked
    /// (PostgreSQL `FOR UPDATE`; SQLite's write lock) and names the days still in. Returns how
    /// many days left it.
    pub async fn roll_usage_window(&self, today: i64) -> StoreResult<i64> {
        let first = today - BUSY_DAYS + 1;
        let window = match self.pool() {
            Pool::Sqlite(_) => "SELECT first_day FROM usage_window",
            Pool::Postgres(_) => "SELECT first_day FROM usage_window FOR UPDATE",
        };
        Ok(on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            let old: i64 = sqlx::query_scalar(window).fetch_one(&mut *tx).await?;
            if old >= first {
                return Ok(0);
            }
            sqlx::query(
                "UPDATE usage_recent SET uses = usage_recent.uses - gone.uses \
                 FROM (SELECT token_id, SUM(uses) AS uses FROM token_usage \
                       WHERE day >= $1 AND day < $2 GROUP BY token_id) gone \
                 WHERE usage_recent.token_id = gone.token_id",
            )
            .bind(old)
            .bind(first)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM usage_recent WHERE uses <= 0")
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE usage_window SET first_day = $1")
                .bind(first)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            first - old
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
