//! Storage: the only place with SQL. One file per aggregate; every function works on both the
//! embedded SQLite file and PostgreSQL, and returns plain types (no pool or row types leak out).
//!
//! SQL is written once in the dialect both engines share (`$1` parameters, `RETURNING`,
//! `ON CONFLICT`); the `on_pool!` macro runs the same query expression against whichever pool
//! is configured, so handlers never learn which database they talk to.

pub mod access;
pub mod account;
pub mod audit;
pub mod counts;
pub mod devices;
pub mod effects;
pub mod fleets;
pub mod import;
pub mod insight;
pub mod outbox;
pub mod passkeys;
mod rotation;
pub mod sessions;
pub mod token_search;
pub mod tokens;
pub mod two_factor;
pub mod usage;
mod usage_write;
pub mod users;
pub mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Default size of an instance's PostgreSQL connection pool.
pub const DEFAULT_PG_POOL: u32 = 16;

/// The configured database.
#[derive(Clone, Debug)]
pub enum Pool {
    /// Embedded default.
    Sqlite(SqlitePool),
    /// Scale-out.
    Postgres(PgPool),
}

/// The migrations compiled into this binary for each backend's dialect.
trait Migrated {
    fn migrator() -> sqlx::migrate::Migrator;

    /// Version of the newest one.
    fn newest_migration(&self) -> i64 {
        Self::migrator()
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0)
    }
}

impl Migrated for SqlitePool {
    fn migrator() -> sqlx::migrate::Migrator {
        sqlx::migrate!("migrations/sqlite")
    }
}

impl Migrated for PgPool {
    fn migrator() -> sqlx::migrate::Migrator {
        sqlx::migrate!("migrations/postgres")
    }
}

/// Runs `$body` with `$db` bound to the configured pool (or an open transaction of it).
macro_rules! on_pool {
    ($pool:expr, |$db:ident| $body:expr) => {
        match $pool {
            $crate::store::Pool::Sqlite($db) => $body,
            $crate::store::Pool::Postgres($db) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Write transactions. On SQLite `BEGIN IMMEDIATE`: the write lock is taken (waiting up to the
/// busy timeout) before the first statement, so a transaction that reads before it writes can
/// never find its snapshot outdated when it comes to write ("database is locked" at once).
pub(crate) trait BeginWrite: Sized {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
    + Send;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<
        Output = Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error>,
    > + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<
        Output = Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error>,
    > + Send {
        self.begin()
    }
}

/// Handle to the database, cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
}

/// Storage errors (the layers above map them to HTTP answers).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique or foreign-key constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database cannot be reached now (no connection within the pool's short wait, or the
    /// connection broke): worth retrying shortly.
    #[error("database unreachable: {0}")]
    Unavailable(sqlx::Error),
    /// Anything else from the driver.
    #[error(transparent)]
    Db(sqlx::Error),
    /// Migration failure at start.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_unreachable(&e) {
            StoreError::Unavailable(e)
        } else {
            StoreError::Db(e)
        }
    }
}

/// Whether `e` says the database is away rather than that the statement failed: no connection
/// in time, a broken connection, or PostgreSQL shutting down or starting up (SQLSTATE class 08,
/// 57P01–57P03).
fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        // Not TLS errors (a certificate problem is a misconfiguration) nor a crashed SQLite
        // worker (a bug): those are 500s and logged as such.
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

/// How long a request waits for a PostgreSQL connection before it is told the database is
/// unreachable (503): short, so an outage answers fast instead of piling requests up.
pub const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(800);

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Escapes `\\`, `%` and `_` for a `LIKE … ESCAPE '\\'` pattern.
pub(crate) fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// A constraint a write can run into, named as the migrations declare it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Constraint {
    /// The primary key of `table`, on `column`.
    PrimaryKey(&'static str, &'static str),
    /// A `UNIQUE` column: table, column.
    Unique(&'static str, &'static str),
    /// A foreign key: table, column.
    ForeignKey(&'static str, &'static str),
}

impl Constraint {
    /// Whether `e` is a violation of this very constraint. PostgreSQL names the constraint
    /// (its default names: `{table}_pkey`, `{table}_{column}_key`, `{table}_{column}_fkey`);
    /// SQLite names a unique column as `table.column` in its message but no foreign key.
    fn fired(self, e: &dyn sqlx::error::DatabaseError) -> bool {
        let sqlite = e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
        match self {
            Constraint::PrimaryKey(table, column) | Constraint::Unique(table, column) => {
                if !e.is_unique_violation() {
                    return false;
                }
                if sqlite {
                    return e.message().ends_with(&format!(": {table}.{column}"));
                }
                let name = match self {
                    Constraint::PrimaryKey(..) => format!("{table}_pkey"),
                    _ => format!("{table}_{column}_key"),
                };
                e.constraint() == Some(name.as_str())
            }
            Constraint::ForeignKey(table, column) => {
                e.is_foreign_key_violation()
                    && (sqlite || e.constraint() == Some(format!("{table}_{column}_fkey").as_str()))
            }
        }
    }
}

/// Turns a violation of `constraint` into [`StoreError::Conflict`] with `what`; any other
/// error (another constraint's included) stays a database error.
pub(crate) fn conflict_on(
    constraint: Constraint,
    what: &'static str,
) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if constraint.fired(d.as_ref()) => StoreError::Conflict(what),
        _ => StoreError::from(e),
    }
}

impl Store {
    /// Connects to `database_url` (`sqlite:` file or `postgres:`) and runs the migrations.
    pub async fn connect(database_url: &str) -> StoreResult<Store> {
        Store::connect_with(database_url, DEFAULT_PG_POOL).await
    }

    /// [`Store::connect`] with up to `pg_pool` PostgreSQL connections (SQLite keeps 8: its
    /// writes are serialised anyway).
    pub async fn connect_with(database_url: &str, pg_pool: u32) -> StoreResult<Store> {
        let pool =
            if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
                let pool = PgPoolOptions::new()
                    .max_connections(pg_pool)
                    .acquire_timeout(PG_ACQUIRE_TIMEOUT)
                    .connect(database_url)
                    .await?;
                // The migrator holds a PostgreSQL advisory lock, so instances starting together
                // apply each migration once.
                PgPool::migrator().run(&pool).await?;
                Pool::Postgres(pool)
            } else {
                let opts = SqliteConnectOptions::from_str(database_url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(opts)
                    .await?;
                SqlitePool::migrator().run(&pool).await?;
                Pool::Sqlite(pool)
            };
        Ok(Store { pool })
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Database connections (in use, idle) in this process's pool.
    pub fn pool_use(&self) -> (u32, u32) {
        on_pool!(&self.pool, |db| {
            let idle = u32::try_from(db.num_idle()).unwrap_or(u32::MAX);
            (db.size().saturating_sub(idle), idle)
        })
    }

    /// Whether the database answers with the schema this binary expects (for `/readyz`): the
    /// newest applied migration is read from the database, so a reachable server with a missing,
    /// unreadable or older schema is not ready.
    pub async fn schema_ready(&self) -> bool {
        let (applied, expected): (Result<Option<i64>, _>, i64) = on_pool!(&self.pool, |db| {
            (
                sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                    .fetch_one(db)
                    .await,
                db.newest_migration(),
            )
        });
        matches!(applied, Ok(Some(v)) if v >= expected)
    }

    /// Closes the pool.
    pub async fn close(&self) {
        on_pool!(&self.pool, |db| db.close().await)
    }
}
