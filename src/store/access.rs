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

#[derive(sqlx::FromRow)]
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
            sqlx::query_as(concat!(
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
        });
        Ok(row.map(TokenAuth::from))
    }

    /// [`Store::token_auth`] for the device `uuid`'s fleet, plus the device — one round trip.
    pub async fn token_auth_with_device(
        &self,
        hash: &TokenHash,
        uuid: &str,
    ) -> StoreResult<Option<(TokenAuth, Option<Device>)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            auth: AuthRow,
            uuid: Option<String>,
            fleet_key: Option<String>,
            name: Option<String>,
            group_name: Option<String>,
            tags: Option<String>,
            description: Option<String>,
            ip: Option<String>,
            agent_version: Option<String>,
            last_keepalive: Option<i64>,
            registered_at: Option<i64>,
        }
        let row: Option<Row> = on_pool!(self.pool(), |db| {
            sqlx::query_as(concat!(
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
        });
        Ok(row.map(|r| {
            let device = match (r.uuid, r.fleet_key, r.name, r.registered_at) {
                (Some(uuid), Some(fleet_key), Some(name), Some(registered_at)) => Some(Device {
                    uuid,
                    fleet_key,
                    name,
                    group_name: r.group_name.unwrap_or_default(),
                    tags: r.tags.unwrap_or_default(),
                    description: r.description.unwrap_or_default(),
                    ip: r.ip.unwrap_or_default(),
                    agent_version: r.agent_version.unwrap_or_default(),
                    last_keepalive: r.last_keepalive,
                    registered_at,
                }),
                _ => None,
            };
            (TokenAuth::from(r.auth), device)
        }))
    }
}
