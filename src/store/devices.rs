//! Devices.

use super::{BeginWrite, Constraint, Store, StoreError, StoreResult, conflict_on, on_pool};

/// A device.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Device {
    /// `d-xxxx-xxxx`.
    pub uuid: String,
    pub fleet_key: String,
    pub name: String,
    /// Group (may be empty).
    pub group_name: String,
    /// Tags, stored framed as `;a;b;` (see [`Device::tag_list`]).
    pub tags: String,
    pub description: String,
    /// Last known IP address.
    pub ip: String,
    pub agent_version: String,
    /// Last keepalive, unix seconds.
    pub last_keepalive: Option<i64>,
    /// Registration time, unix seconds.
    pub registered_at: i64,
}

impl Device {
    /// The tags, one by one.
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.tags.split(';').filter(|t| !t.is_empty())
    }

    /// The tags as a list.
    pub fn tag_list(&self) -> Vec<String> {
        self.tags().map(str::to_owned).collect()
    }

    /// Frames normalised tags for storage.
    pub fn frame_tags(tags: &[String]) -> String {
        format!(";{};", tags.join(";")).replace(";;", ";")
    }
}

/// A search hit for the token panel's device picker.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct DeviceHit {
    /// UUID (the form value).
    pub uuid: String,
    /// Name (what the admin sees).
    pub name: String,
    pub fleet_key: String,
}

const DEVICE_COLUMNS: &str = "uuid, fleet_key, name, group_name, tags, description, ip, agent_version, last_keepalive, registered_at";

/// Largest search answer.
pub const SEARCH_MAX: i64 = 50;

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A row is invalid or conflicts; nothing was imported.
    #[error("line {line}: {message}")]
    Row {
        /// 1-based line number in the file.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The file's reader stopped before the end (it could not start, or failed).
    #[error("{0}")]
    Interrupted(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The columns an insert of devices writes, in [`bind_device`]'s order.
pub(super) const INSERT_COLUMNS: &str = "uuid, fleet_key, name, name_lower, group_name, tags, \
     description, ip, agent_version, last_keepalive, registered_at";

/// `INSERT INTO devices … VALUES ($1, …), …` for `rows` rows (both databases number their
/// parameters so).
pub(super) fn insert_statement(rows: usize) -> String {
    let mut sql = format!("INSERT INTO devices ({INSERT_COLUMNS}) VALUES ");
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ",(" });
        let marks: Vec<String> = (1..=11).map(|c| format!("${}", r * 11 + c)).collect();
        sql.push_str(&marks.join(","));
        sql.push(')');
    }
    sql
}

/// Binds one device's values to a query built by [`insert_statement`].
macro_rules! bind_device {
    ($query:expr, $d:expr) => {{
        let d: &Device = $d;
        $query
            .bind(d.uuid.as_str())
            .bind(d.fleet_key.as_str())
            .bind(d.name.as_str())
            .bind(d.name.to_lowercase())
            .bind(d.group_name.as_str())
            .bind(d.tags.as_str())
            .bind(d.description.as_str())
            .bind(d.ip.as_str())
            .bind(d.agent_version.as_str())
            .bind(d.last_keepalive)
            .bind(d.registered_at)
    }};
}
pub(super) use bind_device;

async fn insert_device<'e, E, DB>(db: E, d: &Device) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = DB>,
    DB: sqlx::Database,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    bind_device!(sqlx::query(sqlx::AssertSqlSafe(insert_statement(1))), d)
        .execute(db)
        .await?;
    Ok(())
}

/// New devices to add to the kept counts (migration 0005) before their transaction commits:
/// per fleet and per keepalive minute. Deletes and moves are counted by triggers; inserts here,
/// because a per-row trigger made a bulk import 30 % slower on SQLite — and written once at the
/// end, so an import holds the counter rows only for its last moment.
#[derive(Debug, Default)]
pub(super) struct NewDevices {
    fleets: std::collections::BTreeMap<String, i64>,
    minutes: std::collections::BTreeMap<i64, i64>,
}

impl NewDevices {
    /// Counts one more device.
    pub(super) fn add(&mut self, d: &Device) {
        match self.fleets.get_mut(&d.fleet_key) {
            Some(n) => *n += 1,
            None => {
                self.fleets.insert(d.fleet_key.clone(), 1);
            }
        }
        if let Some(k) = d.last_keepalive {
            // Truncating, as the triggers' `last_keepalive / 60` does.
            *self.minutes.entry(k / 60).or_default() += 1;
        }
    }

    /// Adds the tally to the counts: one upsert per table (per thousand keys), keys in order,
    /// so concurrent writers lock counter rows in one order.
    pub(super) async fn write<C, DB>(self, conn: &mut C) -> Result<(), sqlx::Error>
    where
        DB: sqlx::Database,
        for<'c> &'c mut C: sqlx::Executor<'c, Database = DB>,
        for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    {
        let fleets: Vec<_> = self.fleets.into_iter().collect();
        for chunk in fleets.chunks(1000) {
            let sql = upsert_counts("fleet_device_counts", "fleet_key", chunk.len());
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (key, n) in chunk {
                q = q.bind(key.clone()).bind(*n);
            }
            q.execute(&mut *conn).await?;
        }
        let minutes: Vec<_> = self.minutes.into_iter().collect();
        for chunk in minutes.chunks(1000) {
            let sql = upsert_counts("keepalive_minutes", "minute", chunk.len());
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (key, n) in chunk {
                q = q.bind(*key).bind(*n);
            }
            q.execute(&mut *conn).await?;
        }
        Ok(())
    }
}

/// `INSERT INTO {table} ({key}, devices) VALUES … ON CONFLICT … DO UPDATE` adding `rows` counts.
fn upsert_counts(table: &str, key: &str, rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
        .collect();
    format!(
        "INSERT INTO {table} ({key}, devices) VALUES {} ON CONFLICT ({key}) \
         DO UPDATE SET devices = {table}.devices + excluded.devices",
        values.join(", ")
    )
}

impl Store {
    /// Inserts devices in one transaction: all or nothing. `Conflict("device")` on a duplicate
    /// UUID, `Conflict("fleet")` (foreign key) on an unknown fleet.
    pub async fn insert_devices(&self, devices: &[Device]) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            for d in devices {
                insert_device(&mut *tx, d).await.map_err(|e| match &e {
                    sqlx::Error::Database(x) if x.is_foreign_key_violation() => {
                        conflict_on(Constraint::ForeignKey("devices", "fleet_key"), "fleet")(e)
                    }
                    _ => conflict_on(Constraint::PrimaryKey("devices", "uuid"), "device")(e),
                })?;
            }
            let mut tally = NewDevices::default();
            devices.iter().for_each(|d| tally.add(d));
            tally.write(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// One device.
    pub async fn device(&self, uuid: &str) -> StoreResult<Option<Device>> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {DEVICE_COLUMNS} FROM devices WHERE uuid = $1"
            )))
            .bind(uuid)
            .fetch_optional(db)
            .await?
        }))
    }

    /// Devices whose name (case-insensitive) or UUID starts with `query`, by name, at most
    /// `limit` (≤ [`SEARCH_MAX`]). Both branches are index range scans, so the cost does not
    /// grow with the fleet size.
    pub async fn search_devices(&self, query: &str, limit: i64) -> StoreResult<Vec<DeviceHit>> {
        let limit = limit.clamp(1, SEARCH_MAX);
        let lower = query.trim().to_lowercase();
        // Upper bound of the prefix range: the prefix followed by the largest code point.
        let upper = format!("{lower}\u{10FFFF}");
        let mut hits: Vec<DeviceHit> = on_pool!(self.pool(), |db| {
            sqlx::query_as(
                "SELECT uuid, name, fleet_key FROM ( \
                   SELECT uuid, name, fleet_key, name_lower FROM devices \
                    WHERE name_lower >= $1 AND name_lower < $2 ORDER BY name_lower, uuid LIMIT $3) AS by_name \
                 UNION \
                 SELECT uuid, name, fleet_key FROM ( \
                   SELECT uuid, name, fleet_key FROM devices \
                    WHERE uuid >= $1 AND uuid < $2 ORDER BY uuid LIMIT $3) AS by_uuid",
            )
            .bind(&lower)
            .bind(&upper)
            .bind(limit)
            .fetch_all(db)
            .await?
        });
        hits.sort_by(|a, b| {
            (a.name.to_lowercase(), &a.uuid).cmp(&(b.name.to_lowercase(), &b.uuid))
        });
        hits.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(hits)
    }

    /// One page of a fleet's devices by UUID, after the cursor `after`, optionally only those in
    /// `group` and carrying every tag of `tags` (normalised). Returns at most `limit` devices.
    pub async fn list_devices(
        &self,
        fleet: &str,
        after: &str,
        limit: i64,
        group: Option<&str>,
        tags: &[String],
    ) -> StoreResult<Vec<Device>> {
        let mut sql =
            format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE fleet_key = $1 AND uuid > $2");
        let mut n = 3;
        if group.is_some() {
            sql.push_str(&format!(" AND group_name = ${n}"));
            n += 1;
        }
        for _ in tags {
            sql.push_str(&format!(" AND tags LIKE ${n} ESCAPE '\\'"));
            n += 1;
        }
        sql.push_str(&format!(" ORDER BY uuid LIMIT ${n}"));
        // Tags are validated to [a-z0-9_.:-]; '_' is a LIKE wildcard, so escape it.
        let patterns: Vec<String> = tags
            .iter()
            .map(|t| format!("%;{};%", t.replace('_', "\\_")))
            .collect();
        Ok(on_pool!(self.pool(), |db| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(fleet)
                .bind(after);
            if let Some(g) = group {
                q = q.bind(g);
            }
            for p in &patterns {
                q = q.bind(p.as_str());
            }
            q.bind(limit).fetch_all(db).await?
        }))
    }

    /// Replaces a device's editable fields.
    pub async fn update_device(&self, d: &Device) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            sqlx::query(
                "UPDATE devices SET name = $1, name_lower = $2, group_name = $3, tags = $4, description = $5 WHERE uuid = $6",
            )
            .bind(&d.name)
            .bind(d.name.to_lowercase())
            .bind(&d.group_name)
            .bind(&d.tags)
            .bind(&d.description)
            .bind(&d.uuid)
            .execute(db)
            .await?;
        });
        Ok(())
    }

    /// Deletes a device; false when it did not exist.
    pub async fn delete_device(&self, uuid: &str) -> StoreResult<bool> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query("DELETE FROM devices WHERE uuid = $1")
                .bind(uuid)
                .execute(db)
                .await?
                .rows_affected()
                == 1
        }))
    }
}
