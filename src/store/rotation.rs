//! Token rotation in one transaction: the old token claimed (it gets at most one successor) and
//! retired at a time, the successor stored.

use super::effects::{Effects, record_effects};
use super::tokens::{INSERT_TOKEN, NewToken, NotRotated, TokenRecord, bind_new_token};
use super::{BeginWrite, Store, StoreResult, on_pool};
use crate::domain::scope::Target;

impl Store {
    /// Rotates `old_id`: stores `new` as its successor `id`, and the old token stops working at
    /// `retires_at` (or at its own expiry, if sooner); `effects` are recorded with it. One
    /// transaction, whose first statement claims the old token only if it has no successor yet
    /// and is live at `now`: of two rotations at once, exactly one makes a successor (and
    /// records anything).
    pub async fn rotate_token(
        &self,
        old_id: &str,
        id: &str,
        new: &NewToken<'_>,
        retires_at: i64,
        effects: &Effects,
        now: i64,
    ) -> StoreResult<Result<(), NotRotated>> {
        let claimed = on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            let claimed = sqlx::query(
                "UPDATE tokens SET successor_id = $1, \
                   expires_at = CASE WHEN expires_at < $2 THEN expires_at ELSE $2 END \
                 WHERE id = $3 AND successor_id IS NULL AND revoked_at IS NULL AND expires_at > $4",
            )
            .bind(id)
            .bind(retires_at)
            .bind(old_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if claimed {
                bind_new_token!(sqlx::query(INSERT_TOKEN), id, new, now)
                    .execute(&mut *tx)
                    .await?;
                record_effects!(tx, effects, now);
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            claimed
        });
        if claimed {
            return Ok(Ok(()));
        }
        Ok(Err(match self.token(old_id).await? {
            Some(TokenRecord {
                successor_id: Some(successor),
                ..
            }) => NotRotated::AlreadyRotated(successor),
            _ => NotRotated::NotLive,
        }))
    }
}
