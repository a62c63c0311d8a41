//! `last_used_at` without a database write per request: uses are collected in memory and
//! written in one batch every few seconds (and at shutdown). The lag is at most the flush
//! interval; revocation does not depend on it.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Store, StoreResult, on_pool};

/// Pending `last_used_at` stamps by Token ID.
#[derive(Debug, Default)]
pub struct UsageBatch {
    pending: Mutex<HashMap<String, i64>>,
}

impl UsageBatch {
    /// Notes that `token_id` was accepted at `now`.
    pub fn record(&self, token_id: &str, now: i64) {
        let mut p = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match p.get_mut(token_id) {
            Some(t) => *t = (*t).max(now),
            None => {
                p.insert(token_id.to_owned(), now);
            }
        }
    }

    /// Writes everything pending; returns how many tokens were stamped.
    pub async fn flush(&self, store: &Store) -> StoreResult<usize> {
        let batch: Vec<(String, i64)> = {
            let mut p = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            p.drain().collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        on_pool!(store.pool(), |db| {
            let mut tx = db.begin().await?;
            for (id, at) in &batch {
                sqlx::query(
                    "UPDATE tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
                )
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(batch.len())
    }
}
