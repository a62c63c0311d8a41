//! JSON shapes shared by the API handlers.

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::scope::Target;
use crate::store::devices::Device;
use crate::store::tokens::TokenRecord;

/// RFC 3339 UTC time of unix seconds.
pub fn rfc3339(ts: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// A device as the API shows it.
#[derive(Debug, Serialize)]
pub struct DeviceJson {
    uuid: String,
    fleet: String,
    name: String,
    group_name: String,
    tags: Vec<String>,
    description: String,
    ip: String,
    agent_version: String,
    last_keepalive: Option<String>,
    registered: String,
}

impl From<Device> for DeviceJson {
    fn from(d: Device) -> Self {
        DeviceJson {
            tags: d.tag_list(),
            uuid: d.uuid,
            fleet: d.fleet_key,
            name: d.name,
            group_name: d.group_name,
            description: d.description,
            ip: d.ip,
            agent_version: d.agent_version,
            last_keepalive: d.last_keepalive.map(rfc3339),
            registered: rfc3339(d.registered_at),
        }
    }
}

/// A token's metadata as the API shows it (never its secret or hash).
#[derive(Debug, Serialize)]
pub struct TokenJson {
    token_id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    description: String,
    hint: String,
    username: Option<String>,
    target: Option<serde_json::Value>,
    permissions: Vec<&'static str>,
    created_at: String,
    created_by: Option<String>,
    expires_at: String,
    revoked_at: Option<String>,
    last_used_at: Option<String>,
    status: &'static str,
}

impl TokenJson {
    /// JSON of `t` with its status at `now`.
    pub fn new(t: &TokenRecord, now: i64) -> Self {
        TokenJson {
            token_id: t.id.clone(),
            kind: t.kind.as_str(),
            description: t.description.clone(),
            hint: t.hint.clone(),
            username: t.user.as_ref().map(|(_, name)| name.clone()),
            target: t.target.as_ref().map(|target| match target {
                Target::Fleet(f) => serde_json::json!({ "fleet": f }),
                Target::Device(d) => serde_json::json!({ "device": d }),
            }),
            permissions: t.permissions.names(),
            created_at: rfc3339(t.created_at),
            created_by: t.created_by.clone(),
            expires_at: rfc3339(t.expires_at),
            revoked_at: t.revoked_at.map(rfc3339),
            last_used_at: t.last_used_at.map(rfc3339),
            status: t.status(now).as_str(),
        }
    }
}
