//! The counts the dashboard and Account tab show, read from what the triggers and the insert
//! statements keep (migration 0005) — a handful of rows, exact, never estimated:
//! devices from the per-fleet counts; devices active since a moment from the per-minute counts
//! after that moment's minute plus that one minute's devices counted on `devices_by_keepalive`;
//! active tokens from the live tokens per day of expiry after today plus today's counted on
//! `tokens_live_by_expiry`.

use super::{Store, StoreResult, on_pool};

/// Everything the dashboard counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Counts {
    pub fleets: i64,
    pub devices: i64,
    /// Devices with a keepalive in the last 24 hours.
    pub devices_active: i64,
    /// Tokens neither revoked nor expired.
    pub tokens_active: i64,
}

const DEVICES: &str = "CAST(COALESCE((SELECT SUM(devices) FROM fleet_device_counts), 0) AS BIGINT)";

/// Devices active since a moment; parameters from `$first`: that moment's minute, the moment,
/// the start of the next minute.
fn devices_active(first: usize) -> String {
    format!(
        "CAST(COALESCE((SELECT SUM(devices) FROM keepalive_minutes WHERE minute > ${}), 0) AS BIGINT) \
         + (SELECT COUNT(*) FROM devices WHERE last_keepalive >= ${} AND last_keepalive < ${})",
        first,
        first + 1,
        first + 2
    )
}

/// Tokens active at a moment; parameters from `$first`: that moment's day, the moment, the
/// start of the next day.
fn tokens_active(first: usize) -> String {
    format!(
        "CAST(COALESCE((SELECT SUM(live) FROM token_expiry_days WHERE day > ${}), 0) AS BIGINT) \
         + (SELECT COUNT(*) FROM tokens WHERE revoked_at IS NULL AND expires_at > ${} AND expires_at < ${})",
        first,
        first + 1,
        first + 2
    )
}

/// The three parameters of a count by `unit` (seconds) at `at`.
fn bounds(at: i64, unit: i64) -> (i64, i64, i64) {
    let step = at.div_euclid(unit);
    (step, at, (step + 1) * unit)
}

impl Store {
    /// Number of devices, and of those with a keepalive since `active_since`.
    pub async fn device_counts(&self, active_since: i64) -> StoreResult<(i64, i64)> {
        let (minute, since, next) = bounds(active_since, 60);
        let sql = format!("SELECT {DEVICES}, {}", devices_active(1));
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(minute)
                .bind(since)
                .bind(next)
                .fetch_one(db)
                .await?
        }))
    }

    /// All the dashboard's counts at `now` in one statement.
    pub async fn counts(&self, now: i64) -> StoreResult<Counts> {
        let (minute, since, next_minute) = bounds(now - 86_400, 60);
        let (day, at, next_day) = bounds(now, 86_400);
        let sql = format!(
            "SELECT (SELECT COUNT(*) FROM fleets) AS fleets, {DEVICES} AS devices, \
             {} AS devices_active, {} AS tokens_active",
            devices_active(1),
            tokens_active(4)
        );
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(minute)
                .bind(since)
                .bind(next_minute)
                .bind(day)
                .bind(at)
                .bind(next_day)
                .fetch_one(db)
                .await?
        }))
    }
}
