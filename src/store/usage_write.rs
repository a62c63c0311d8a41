//! Writing what [`super::usage::UsageBatch`] counted: last-used stamps, use counts per token and
//! day, all tokens' daily totals, and the busiest window's running totals
//! ([`super::insight`]), in one transaction; and pruning counts past their 400 days.

use std::collections::BTreeMap;

use super::usage::{Stamp, UseCount};
use super::{BeginWrite, Pool, Store, StoreResult, on_pool};
use crate::domain::usage::{KEPT_DAYS, day_of};

/// Rows per multi-row upsert.
const ROWS_PER_STATEMENT: usize = 500;

/// `VALUES ($1, $2, …), (…)` for `rows` rows of `width` parameters.
fn values(rows: usize, width: usize) -> String {
    let mut sql = String::from("VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * width + c + 1));
        }
        sql.push(')');
    }
    sql
}

/// All tokens' uses per day and reason in `uses`, in key order (see [`UsageBatch::take`]).
fn per_day(uses: &[UseCount]) -> Vec<(i64, &'static str, i64)> {
    let mut sums: BTreeMap<(i64, &'static str), i64> = BTreeMap::new();
    for u in uses {
        *sums.entry((u.day, u.reason)).or_default() += u.uses;
    }
    sums.into_iter().map(|((d, r), n)| (d, r, n)).collect()
}

/// Runs `$head VALUES (…), … $tail` on `$tx` for `$rows`, [`ROWS_PER_STATEMENT`] at a time,
/// each row `$r` bound to the query `$q` by `$bind` (`$width` parameters a row).
macro_rules! upsert {
    ($tx:ident, $head:expr, $tail:expr, $width:expr, $rows:expr, |$q:ident, $r:ident| $bind:expr) => {
        for chunk in $rows.chunks(ROWS_PER_STATEMENT) {
            let sql = format!("{} {} {}", $head, values(chunk.len(), $width), $tail);
            let mut $q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for $r in chunk {
                $q = $bind;
            }
            $q.execute(&mut *$tx).await?;
        }
    };
}

/// Each token's uses on days from `first` on (the busiest window's), in token order.
fn in_window(uses: &[UseCount], first: i64) -> Vec<(&str, i64)> {
    let mut sums: BTreeMap<&str, i64> = BTreeMap::new();
    for u in uses.iter().filter(|u| u.day >= first) {
        *sums.entry(u.token_id.as_str()).or_default() += u.uses;
    }
    sums.into_iter().collect()
}

impl Store {
    /// Writes last-use stamps (never moving one back) and adds use counts to the stored ones:
    /// per token and day, to all tokens' daily totals, and to each token's total in the busiest
    /// window (days from its first on: read here, shared-locked on PostgreSQL, so a roll of the
    /// window waits for this write and this write for a roll) — in one transaction.
    pub async fn write_usage(
        &self,
        stamps: &[(String, Stamp)],
        uses: &[UseCount],
    ) -> StoreResult<()> {
        let totals = per_day(uses);
        let window = match self.pool() {
            Pool::Sqlite(_) => "SELECT first_day FROM usage_window",
            Pool::Postgres(_) => "SELECT first_day FROM usage_window FOR SHARE",
        };
        on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            let first: i64 = sqlx::query_scalar(window).fetch_one(&mut *tx).await?;
            for (id, stamp) in stamps {
                sqlx::query(
                    "UPDATE tokens SET last_used_at = $1, last_used_ip = $3, last_used_agent = $4 \
                     WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $1)",
                )
                .bind(stamp.at)
                .bind(id)
                .bind(stamp.ip.map(|ip| ip.to_string()))
                .bind(stamp.agent.as_deref())
                .execute(&mut *tx)
                .await?;
            }
            upsert!(
                tx,
                "INSERT INTO token_usage (token_id, day, reason, uses)",
                "ON CONFLICT (token_id, day, reason) DO UPDATE SET uses = token_usage.uses + excluded.uses",
                4,
                uses,
                |q, u| q
                    .bind(u.token_id.as_str())
                    .bind(u.day)
                    .bind(u.reason)
                    .bind(u.uses)
            );
            upsert!(
                tx,
                "INSERT INTO usage_days (day, reason, uses)",
                "ON CONFLICT (day, reason) DO UPDATE SET uses = usage_days.uses + excluded.uses",
                3,
                totals,
                |q, t| q.bind(t.0).bind(t.1).bind(t.2)
            );
            upsert!(
                tx,
                "INSERT INTO usage_recent (token_id, uses)",
                "ON CONFLICT (token_id) DO UPDATE SET uses = usage_recent.uses + excluded.uses",
                2,
                in_window(uses, first),
                |q, t| q.bind(t.0).bind(t.1)
            );
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes use counts older than [`KEPT_DAYS`] days before `now` — per token never a day the
    /// busiest window has yet to subtract (should it be that far behind); returns how many rows.
    pub async fn prune_usage(&self, now: i64) -> StoreResult<u64> {
        let first_kept = day_of(now) - KEPT_DAYS + 1;
        let n = on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            let a = sqlx::query(
                "DELETE FROM token_usage \
                 WHERE day < $1 AND day < (SELECT first_day FROM usage_window)",
            )
            .bind(first_kept)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let b = sqlx::query("DELETE FROM usage_days WHERE day < $1")
                .bind(first_kept)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            a + b
        });
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_values_number_their_parameters() {
        assert_eq!(values(2, 3), "VALUES ($1, $2, $3), ($4, $5, $6)");
    }

    #[test]
    fn totals_sum_every_token_per_day_and_reason_and_the_window_per_token() {
        let u = |t: &str, day, reason, uses| UseCount {
            token_id: t.into(),
            day,
            reason,
            uses,
        };
        let uses = [
            u("a", 10, "", 2),
            u("a", 11, "expired", 1),
            u("b", 10, "", 5),
            u("b", 8, "", 7),
        ];
        assert_eq!(
            per_day(&uses),
            [(8, "", 7), (10, "", 7), (11, "expired", 1)]
        );
        assert_eq!(in_window(&uses, 10), [("a", 3), ("b", 5)]);
        assert!(in_window(&uses, 12).is_empty());
    }
}
