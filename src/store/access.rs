//! What an API request needs to authenticate and authorize, fetched in one statement per
//! request: the token, its user's current role, disabled flag and permissions on the fleet in
//! question, and (for device requests) the device itself. No cache: a revoked token is refused
//! by the very next request on every instance.

use super::devices::Device;
use super::{Store, StoreResult, on_pool};
use crate::domain::scope::{Permissions, Role, Target};
use crate::domain::token::{TokenHash, TokenKind};

/// A presented token as stored, with what it grants.
#[derive(Debug, Clone)]
pub struct TokenAuth {
    pub token_id: String,
    /// Unix seconds at which it stops working.
    pub expires_at: i64,
    /// Whether it was revoked.
    pub revoked: bool,
    /// The networks it may be used from, stored form (empty: anywhere).
    pub allowed_ips: String,
    /// Its scope, or its user.
    pub holder: Holder,
}

/// What a token grants, by kind.
#[derive(Debug, Clone)]
pub enum Holder {
    /// A device details token: its target entity and permission types.
    Scope {
        /// Fleet or device.
        target: Target,
        /// Permission types.
        permissions: Permissions,
    },
    /// A user token: its user as they are now, and their permissions on the fleet asked about
    /// (none when no fleet was asked about).
    User {
        /// The user.
        user: TokenUser,
        /// Permissions on the fleet in question.
        fleet_permissions: Permissions,
    },
}

impl TokenAuth {
    /// The token's kind.
    pub fn kind(&self) -> TokenKind {
        match self.holder {
            Holder::Scope { .. } => TokenKind::DeviceDetails,
            Holder::User { .. } => TokenKind::User,
        }
    }
}

/// The user behind a user token, as they are at request time.
#[derive(Debug, Clone)]
pub struct TokenUser {
    /// User id.
    pub id: String,
    pub username: String,
    /// Current role.
    pub role: Role,
    /// Disabled users' tokens stop working.
    pub disabled: bool,
}

// The statements, one per token kind (the kind is known from the token's prefix, and the hash
// covers the prefix, so a row found under the other kind cannot exist): a device details
// token needs its scope and no user, a user token its user's rights and no scope. Each is one
// string literal, built at compile time. Columns are read by position in this order (the hot
// path of every API request skips sqlx's per-column name look-up).

/// Columns 0–3 of every statement.
macro_rules! token_columns {
    () => {
        "t.id, t.expires_at, t.revoked_at, t.allowed_ips"
    };
}

/// Device details tokens: columns 4–6.
macro_rules! scope_columns {
    () => {
        ", t.target_fleet, t.target_device, t.permissions"
    };
}

/// User tokens: columns 4–8.
macro_rules! user_columns {
    () => {
        ", t.user_id, u.username, u.role, u.disabled, p.permissions"
    };
}

/// The device, after the token's columns.
macro_rules! device_columns {
    () => {
        ", d.uuid, d.fleet_key, d.name, d.group_name, d.tags, d.description, d.ip, \
         d.agent_version, d.last_keepalive, d.registered_at"
    };
}

const DEVICE_TOKEN: &str = concat!(
    "SELECT ",
    token_columns!(),
    scope_columns!(),
    " FROM tokens t WHERE t.token_hash = $1 AND t.kind = 'device_details'"
);

const DEVICE_TOKEN_AND_DEVICE: &str = concat!(
    "SELECT ",
    token_columns!(),
    scope_columns!(),
    device_columns!(),
    " FROM tokens t LEFT JOIN devices d ON d.uuid = $2 \
     WHERE t.token_hash = $1 AND t.kind = 'device_details'"
);

const USER_TOKEN: &str = concat!(
    "SELECT ",
    token_columns!(),
    user_columns!(),
    " FROM tokens t LEFT JOIN users u ON u.id = t.user_id \
     LEFT JOIN user_fleet_permissions p ON p.user_id = t.user_id AND p.fleet_key = $2 \
     WHERE t.token_hash = $1 AND t.kind = 'user'"
);

const USER_TOKEN_AND_DEVICE: &str = concat!(
    "SELECT ",
    token_columns!(),
    user_columns!(),
    device_columns!(),
    " FROM tokens t LEFT JOIN users u ON u.id = t.user_id \
     LEFT JOIN devices d ON d.uuid = $2 \
     LEFT JOIN user_fleet_permissions p ON p.user_id = t.user_id AND p.fleet_key = $3 \
     WHERE t.token_hash = $1 AND t.kind = 'user'"
);

/// A row that breaks the tokens table's CHECK constraint (or a user token without its user,
/// which the foreign key's cascade rules out).
fn broken(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("token row without its {what}").into())
}

/// The token's columns of `row`; also returns where the next columns start.
fn read_auth<'r, R>(row: &'r R, kind: TokenKind) -> Result<(TokenAuth, usize), sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let (holder, next) = match kind {
        TokenKind::DeviceDetails => {
            let target = match (row.try_get(4)?, row.try_get(5)?) {
                (Some(fleet), _) => Target::Fleet(fleet),
                (None, Some(device)) => Target::Device(device),
                (None, None) => return Err(broken("target")),
            };
            let permissions = Permissions::from_bits(row.try_get(6)?);
            (
                Holder::Scope {
                    target,
                    permissions,
                },
                7,
            )
        }
        TokenKind::User => {
            let user = TokenUser {
                id: row.try_get(4)?,
                username: row
                    .try_get::<Option<String>, _>(5)?
                    .ok_or_else(|| broken("user"))?,
                role: row
                    .try_get::<Option<String>, _>(6)?
                    .as_deref()
                    .and_then(Role::parse)
                    .ok_or_else(|| broken("user's role"))?,
                disabled: row.try_get(7)?,
            };
            let fleet_permissions =
                Permissions::from_bits(row.try_get::<Option<i64>, _>(8)?.unwrap_or(0));
            (
                Holder::User {
                    user,
                    fleet_permissions,
                },
                9,
            )
        }
    };
    let auth = TokenAuth {
        token_id: row.try_get(0)?,
        expires_at: row.try_get(1)?,
        revoked: row.try_get::<Option<i64>, _>(2)?.is_some(),
        allowed_ips: row.try_get(3)?,
        holder,
    };
    Ok((auth, next))
}

/// The device whose columns start at `i`, if the join found one.
fn read_device<'r, R>(row: &'r R, i: usize) -> Result<Option<Device>, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let Some(uuid) = row.try_get::<Option<String>, _>(i)? else {
        return Ok(None);
    };
    Ok(Some(Device {
        uuid,
        fleet_key: row.try_get(i + 1)?,
        name: row.try_get(i + 2)?,
        group_name: row.try_get(i + 3)?,
        tags: row.try_get(i + 4)?,
        description: row.try_get(i + 5)?,
        ip: row.try_get(i + 6)?,
        agent_version: row.try_get(i + 7)?,
        last_keepalive: row.try_get(i + 8)?,
        registered_at: row.try_get(i + 9)?,
    }))
}

impl Store {
    /// The `kind` token stored under `hash`; for a user token, with its user's current rights
    /// on `fleet` (if one is asked about).
    pub async fn token_auth(
        &self,
        hash: &TokenHash,
        kind: TokenKind,
        fleet: Option<&str>,
    ) -> StoreResult<Option<TokenAuth>> {
        let auth = on_pool!(self.pool(), |db| {
            let query = match kind {
                TokenKind::DeviceDetails => sqlx::query(DEVICE_TOKEN).bind(hash.as_str()),
                TokenKind::User => sqlx::query(USER_TOKEN).bind(hash.as_str()).bind(fleet),
            };
            query
                .fetch_optional(db)
                .await?
                .as_ref()
                .map(|r| read_auth(r, kind))
                .transpose()?
        });
        Ok(auth.map(|(auth, _)| auth))
    }

    /// [`Store::token_auth`] (a user's rights on `fleet`) plus the device `uuid`, wherever it
    /// is — one round trip.
    pub async fn token_auth_with_device(
        &self,
        hash: &TokenHash,
        kind: TokenKind,
        fleet: &str,
        uuid: &str,
    ) -> StoreResult<Option<(TokenAuth, Option<Device>)>> {
        let found = on_pool!(self.pool(), |db| {
            let query = match kind {
                TokenKind::DeviceDetails => sqlx::query(DEVICE_TOKEN_AND_DEVICE)
                    .bind(hash.as_str())
                    .bind(uuid),
                TokenKind::User => sqlx::query(USER_TOKEN_AND_DEVICE)
                    .bind(hash.as_str())
                    .bind(uuid)
                    .bind(fleet),
            };
            query
                .fetch_optional(db)
                .await?
                .as_ref()
                .map(|r| {
                    let (auth, next) = read_auth(r, kind)?;
                    Ok::<_, sqlx::Error>((auth, read_device(r, next)?))
                })
                .transpose()?
        });
        Ok(found)
    }
}
