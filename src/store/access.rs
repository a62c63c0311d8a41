//! What an API request needs to authenticate and authorize, fetched in one statement per
//! request: the token, its user's current role, disabled flag and permissions on the fleet in
//! question, and (for device requests) the device itself. No cache: a revoked token is refused
//! by the very next request on every instance.

use super::devices::Device;
use super::{Store, StoreResult, on_pool};
use crate::domain::scope::{Permissions, Role, Target};
use crate::domain::token::{TokenHash, TokenKind};

/// A presented token as stored, with its user's rights on one fleet as they are now.
#[derive(Debug, Clone)]
pub struct TokenAuth {
    /// Token ID.
    pub token_id: String,
    /// Kind.
    pub kind: TokenKind,
    /// Device details tokens: target entity.
    pub target: Option<Target>,
    /// Device details tokens: permission types.
    pub permissions: Permissions,
    /// Unix seconds at which it stops working.
    pub expires_at: i64,
    /// Whether it was revoked.
    pub revoked: bool,
    /// User tokens: the user's id, username, current role and disabled flag.
    pub user: Option<TokenUser>,
    /// User tokens: the user's current permissions on the fleet asked about.
    pub fleet_permissions: Permissions,
}

/// The user behind a user token, as they are at request time.
#[derive(Debug, Clone)]
pub struct TokenUser {
    /// User id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Current role.
    pub role: Role,
    /// Disabled users' tokens stop working.
    pub disabled: bool,
}

struct AuthRow {
    token_id: String,
    kind: String,
    target_fleet: Option<String>,
    target_device: Option<String>,
    permissions: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    user_id: Option<String>,
    username: Option<String>,
    role: Option<String>,
    disabled: Option<bool>,
    fleet_permissions: Option<i64>,
}

/// Rows are read by position, in the order of [`auth_columns!`] then [`device_columns!`]:
/// the hot path of every API request skips sqlx's per-column name look-up.
trait Positional<'r>: sqlx::Row {
    fn at<T>(&'r self, i: usize) -> Result<T, sqlx::Error>
    where
        T: sqlx::Decode<'r, Self::Database> + sqlx::Type<Self::Database>;
}

impl<'r, R: sqlx::Row> Positional<'r> for R
where
    usize: sqlx::ColumnIndex<R>,
{
    fn at<T>(&'r self, i: usize) -> Result<T, sqlx::Error>
    where
        T: sqlx::Decode<'r, Self::Database> + sqlx::Type<Self::Database>,
    {
        self.try_get(i)
    }
}

impl AuthRow {
    /// The [`auth_columns!`] of `row`, which start at column 0.
    fn read<'r, R>(row: &'r R) -> Result<AuthRow, sqlx::Error>
    where
        R: Positional<'r>,
        String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        Ok(AuthRow {
            token_id: row.at(0)?,
            kind: row.at(1)?,
            target_fleet: row.at(2)?,
            target_device: row.at(3)?,
            permissions: row.at(4)?,
            expires_at: row.at(5)?,
            revoked_at: row.at(6)?,
            user_id: row.at(7)?,
            username: row.at(8)?,
            role: row.at(9)?,
            disabled: row.at(10)?,
            fleet_permissions: row.at(11)?,
        })
    }

    /// The device of [`device_columns!`] after the auth columns, if the join found one.
    fn read_device<'r, R>(row: &'r R) -> Result<Option<Device>, sqlx::Error>
    where
        R: Positional<'r>,
        String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        let Some(uuid) = row.at::<Option<String>>(12)? else {
            return Ok(None);
        };
        Ok(Some(Device {
            uuid,
            fleet_key: row.at(13)?,
            name: row.at(14)?,
            group_name: row.at(15)?,
            tags: row.at(16)?,
            description: row.at(17)?,
            ip: row.at(18)?,
            agent_version: row.at(19)?,
            last_keepalive: row.at(20)?,
            registered_at: row.at(21)?,
        }))
    }
}

impl From<AuthRow> for TokenAuth {
    fn from(r: AuthRow) -> Self {
        let target = match (r.target_fleet, r.target_device) {
            (Some(f), _) => Some(Target::Fleet(f)),
            (None, Some(d)) => Some(Target::Device(d)),
            _ => None,
        };
        let user = match (r.user_id, r.username) {
            (Some(id), Some(username)) => Some(TokenUser {
                id,
                username,
                role: r
                    .role
                    .as_deref()
                    .and_then(Role::parse)
                    .unwrap_or(Role::User),
                // A user token whose user row is gone is as good as disabled.
                disabled: r.disabled.unwrap_or(true),
            }),
            _ => None,
        };
        TokenAuth {
            token_id: r.token_id,
            kind: TokenKind::parse(&r.kind).unwrap_or(TokenKind::DeviceDetails),
            target,
            permissions: Permissions::from_bits(r.permissions),
            expires_at: r.expires_at,
            revoked: r.revoked_at.is_some(),
            user,
            fleet_permissions: Permissions::from_bits(r.fleet_permissions.unwrap_or(0)),
        }
    }
}

// Column lists as macros so each statement is one string literal, built at compile time.
macro_rules! auth_columns {
    () => {
        "t.id AS token_id, t.kind, t.target_fleet, t.target_device, t.permissions, t.expires_at, \
     t.revoked_at, t.user_id, u.username, u.role, u.disabled, p.permissions AS fleet_permissions"
    };
}

macro_rules! device_columns {
    () => {
        "d.uuid, d.fleet_key, d.name, d.group_name, d.tags, d.description, d.ip, d.agent_version, \
     d.last_keepalive, d.registered_at"
    };
}

impl Store {
    /// The token stored under `hash` and its user's current rights on `fleet`.
    pub async fn token_auth(
        &self,
        hash: &TokenHash,
        fleet: &str,
    ) -> StoreResult<Option<TokenAuth>> {
        let row: Option<AuthRow> = on_pool!(self.pool(), |db| {
            sqlx::query(concat!(
                "SELECT ",
                auth_columns!(),
                " FROM tokens t LEFT JOIN users u ON u.id = t.user_id \
                 LEFT JOIN user_fleet_permissions p ON p.user_id = t.user_id AND p.fleet_key = $2 \
                 WHERE t.token_hash = $1"
            ))
            .bind(hash.as_str())
            .bind(fleet)
            .fetch_optional(db)
            .await?
            .as_ref()
            .map(AuthRow::read)
            .transpose()?
        });
        Ok(row.map(TokenAuth::from))
    }

    /// [`Store::token_auth`] for the device `uuid`'s fleet, plus the device — one round trip.
    pub async fn token_auth_with_device(
        &self,
        hash: &TokenHash,
        uuid: &str,
    ) -> StoreResult<Option<(TokenAuth, Option<Device>)>> {
        let row = on_pool!(self.pool(), |db| {
            sqlx::query(concat!(
                "SELECT ",
                auth_columns!(),
                ", ",
                device_columns!(),
                " FROM tokens t \
                 LEFT JOIN devices d ON d.uuid = $2 \
                 LEFT JOIN users u ON u.id = t.user_id \
                 LEFT JOIN user_fleet_permissions p ON p.user_id = t.user_id AND p.fleet_key = d.fleet_key \
                 WHERE t.token_hash = $1"
            ))
            .bind(hash.as_str())
            .bind(uuid)
            .fetch_optional(db)
            .await?
            .as_ref()
            .map(|r| Ok::<_, sqlx::Error>((AuthRow::read(r)?, AuthRow::read_device(r)?)))
            .transpose()?
        });
        Ok(row.map(|(auth, device)| (TokenAuth::from(auth), device)))
    }
}
