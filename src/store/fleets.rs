//! Fleets.

use super::{Constraint, Store, StoreResult, conflict_on, on_pool};

/// A fleet: its key, display name and description.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Fleet {
    /// Key (see [`crate::domain::names::validate_fleet_key`]).
    pub key: String,
    pub name: String,
    pub description: String,
}

impl Store {
    /// Creates a fleet; `Conflict("fleet")` when the key exists.
    pub async fn create_fleet(&self, f: &Fleet, now: i64) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            sqlx::query(
                "INSERT INTO fleets (key, name, description, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&f.key)
            .bind(&f.name)
            .bind(&f.description)
            .bind(now)
            .execute(db)
            .await
            .map_err(conflict_on(
                Constraint::PrimaryKey("fleets", "key"),
                "fleet",
            ))?;
        });
        Ok(())
    }

    /// All fleets by key.
    pub async fn fleets(&self) -> StoreResult<Vec<Fleet>> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as("SELECT key, name, description FROM fleets ORDER BY key")
                .fetch_all(db)
                .await?
        }))
    }

    /// One fleet.
    pub async fn fleet(&self, key: &str) -> StoreResult<Option<Fleet>> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as("SELECT key, name, description FROM fleets WHERE key = $1")
                .bind(key)
                .fetch_optional(db)
                .await?
        }))
    }

    /// The fleet a device belongs to.
    pub async fn fleet_of_device(&self, uuid: &str) -> StoreResult<Option<Fleet>> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as(
                "SELECT f.key, f.name, f.description FROM fleets f JOIN devices d ON d.fleet_key = f.key WHERE d.uuid = $1",
            )
            .bind(uuid)
            .fetch_optional(db)
            .await?
        }))
    }
}
