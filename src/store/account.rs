//! The one account a deployment serves.

use super::{Store, StoreResult, on_pool};

/// Plan and renewal shown on the Account tab.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    /// Organisation name.
    pub name: String,
    /// Subscription plan.
    pub plan: String,
    /// Renewal date (`YYYY-MM-DD`), empty when there is none.
    pub renewal_date: String,
}

impl Store {
    /// The account, created with self-hosted defaults the first time.
    pub async fn account(&self) -> StoreResult<Account> {
        on_pool!(self.pool(), |db| {
            sqlx::query(
                "INSERT INTO account (id, name, plan, renewal_date) \
                 VALUES (1, 'My organisation', 'Self-hosted', '') ON CONFLICT (id) DO NOTHING",
            )
            .execute(db)
            .await?;
            Ok(
                sqlx::query_as("SELECT name, plan, renewal_date FROM account WHERE id = 1")
                    .fetch_one(db)
                    .await?,
            )
        })
    }

    /// Replaces the account's name, plan and renewal date.
    pub async fn set_account(&self, a: &Account) -> StoreResult<()> {
        self.account().await?;
        on_pool!(self.pool(), |db| {
            sqlx::query("UPDATE account SET name = $1, plan = $2, renewal_date = $3 WHERE id = 1")
                .bind(&a.name)
                .bind(&a.plan)
                .bind(&a.renewal_date)
                .execute(db)
                .await?;
        });
        Ok(())
    }
}
