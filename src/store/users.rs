//! Users and their per-fleet permissions.

use std::collections::HashMap;

use super::{BeginWrite, Constraint, Store, StoreResult, conflict_on, on_pool};
use crate::domain::scope::{Permissions, Role};

/// A user as the rest of the program sees it (never the password hash).
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub username: String,
    /// Email address (may be empty).
    pub email: String,
    /// Display name (may be empty).
    pub display_name: String,
    pub role: Role,
    /// Disabled users cannot sign in and their tokens stop working.
    pub disabled: bool,
    /// Last successful sign-in, unix seconds.
    pub last_login: Option<i64>,
}

impl User {
    /// Display name, or the username when there is none.
    pub fn name(&self) -> &str {
        if self.display_name.is_empty() {
            &self.username
        } else {
            &self.display_name
        }
    }

    /// Whether the user is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    id: String,
    username: String,
    email: String,
    display_name: String,
    role: String,
    disabled: bool,
    last_login: Option<i64>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            username: r.username,
            email: r.email,
            display_name: r.display_name,
            // The CHECK constraint admits only the two roles; anything else gets least privilege.
            role: Role::parse(&r.role).unwrap_or(Role::User),
            disabled: r.disabled,
            last_login: r.last_login,
        }
    }
}

pub(super) const USER_COLUMNS: &str =
    "id, username, email, display_name, role, disabled, last_login";

/// Fields of a new user.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// Sign-in name (validated by the caller).
    pub username: &'a str,
    /// Email (may be empty).
    pub email: &'a str,
    /// Display name (may be empty).
    pub display_name: &'a str,
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: &'a str,
}

impl Store {
    /// Creates a user; `Conflict("username")` when the name is taken.
    pub async fn create_user(&self, u: &NewUser<'_>, now: i64) -> StoreResult<User> {
        let id = uuid::Uuid::new_v4().to_string();
        on_pool!(self.pool(), |db| {
            sqlx::query(
                "INSERT INTO users (id, username, email, display_name, role, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&id)
            .bind(u.username)
            .bind(u.email)
            .bind(u.display_name)
            .bind(u.role.as_str())
            .bind(u.password_hash)
            .bind(now)
            .execute(db)
            .await
            .map_err(conflict_on(Constraint::Unique("users", "username"), "username"))?;
        });
        Ok(User {
            id,
            username: u.username.to_owned(),
            email: u.email.to_owned(),
            display_name: u.display_name.to_owned(),
            role: u.role,
            disabled: false,
            last_login: None,
        })
    }

    /// A user and their password hash, for sign-in.
    pub async fn user_for_login(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            password_hash: String,
        }
        let row: Option<Row> = on_pool!(self.pool(), |db| {
            sqlx::query_as(
                "SELECT id, username, email, display_name, role, disabled, last_login, password_hash \
                 FROM users WHERE username = $1",
            )
            .bind(username)
            .fetch_optional(db)
            .await?
        });
        Ok(row.map(|r| (r.user.into(), r.password_hash)))
    }

    /// A user by id.
    pub async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = on_pool!(self.pool(), |db| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(db)
            .await?
        });
        Ok(row.map(User::from))
    }

    /// A user by username.
    pub async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        Ok(self.user_for_login(username).await?.map(|(u, _)| u))
    }

    /// All users, by username.
    pub async fn users(&self) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> = on_pool!(self.pool(), |db| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {USER_COLUMNS} FROM users ORDER BY username"
            )))
            .fetch_all(db)
            .await?
        });
        Ok(rows.into_iter().map(User::from).collect())
    }

    /// Stamps a successful sign-in.
    pub async fn record_login(&self, user_id: &str, now: i64) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            sqlx::query("UPDATE users SET last_login = $1 WHERE id = $2")
                .bind(now)
                .bind(user_id)
                .execute(db)
                .await?;
        });
        Ok(())
    }

    /// A user's current per-fleet permissions.
    pub async fn fleet_permissions(
        &self,
        user_id: &str,
    ) -> StoreResult<HashMap<String, Permissions>> {
        let rows: Vec<(String, i64)> = on_pool!(self.pool(), |db| {
            sqlx::query_as(
                "SELECT fleet_key, permissions FROM user_fleet_permissions WHERE user_id = $1",
            )
            .bind(user_id)
            .fetch_all(db)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(k, p)| (k, Permissions::from_bits(p)))
            .collect())
    }

    /// Sets a user's permissions on one fleet (an empty set removes the grant).
    pub async fn set_fleet_permissions(
        &self,
        user_id: &str,
        fleet: &str,
        p: Permissions,
    ) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            if p.is_empty() {
                sqlx::query(
                    "DELETE FROM user_fleet_permissions WHERE user_id = $1 AND fleet_key = $2",
                )
                .bind(user_id)
                .bind(fleet)
                .execute(db)
                .await?;
            } else {
                sqlx::query(
                    "INSERT INTO user_fleet_permissions (user_id, fleet_key, permissions) VALUES ($1, $2, $3) \
                     ON CONFLICT (user_id, fleet_key) DO UPDATE SET permissions = excluded.permissions",
                )
                .bind(user_id)
                .bind(fleet)
                .bind(p.bits())
                .execute(db)
                .await
                .map_err(conflict_on(
                    Constraint::ForeignKey("user_fleet_permissions", "fleet_key"),
                    "fleet",
                ))?;
            }
        });
        Ok(())
    }

    /// Every grant: `(user_id, fleet_key, permissions)`, for the users list.
    pub async fn all_fleet_permissions(&self) -> StoreResult<Vec<(String, String, Permissions)>> {
        let rows: Vec<(String, String, i64)> = on_pool!(self.pool(), |db| {
            sqlx::query_as("SELECT user_id, fleet_key, permissions FROM user_fleet_permissions ORDER BY fleet_key")
                .fetch_all(db)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(u, f, p)| (u, f, Permissions::from_bits(p)))
            .collect())
    }

    /// Replaces a user's password hash and ends their sessions (all but `keep_session`).
    pub async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
                .bind(user_id)
                .bind(keep_session.unwrap_or(""))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Changes the role or the disabled flag of a user unless that would leave no enabled admin.
    /// Returns false (and changes nothing) when it would. Disabling also ends the user's
    /// sessions. One transaction, so two admins demoting each other at once cannot both win.
    pub async fn change_user_guarded(
        &self,
        user_id: &str,
        role: Role,
        disabled: bool,
    ) -> StoreResult<bool> {
        Ok(on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            // Take the write lock first (SQLite) / lock the admins' rows (PostgreSQL).
            sqlx::query("UPDATE users SET role = role WHERE role = 'admin'")
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE users SET role = $1, disabled = $2 WHERE id = $3")
                .bind(role.as_str())
                .bind(disabled)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let admins: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM users WHERE role = 'admin' AND NOT disabled",
            )
            .fetch_one(&mut *tx)
            .await?;
            if admins == 0 {
                tx.rollback().await?;
                false
            } else {
                if disabled {
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                true
            }
        }))
    }
}
