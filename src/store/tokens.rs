//! Access tokens: only the SHA-256 of each token is stored, under a unique index.

use super::effects::{Effects, record_effects};
use super::{BeginWrite, Constraint, Store, StoreResult, conflict_on, on_pool};
use crate::domain::cidr::AllowedIps;
use crate::domain::expiry::TokenStatus;
use crate::domain::scope::{Permissions, Target};
use crate::domain::token::{TokenHash, TokenKind};
use crate::domain::webhook::TokenFacts;

/// A token's metadata (never its secret or hash).
#[derive(Debug, Clone)]
pub struct TokenRecord {
    /// Public Token ID (UUID).
    pub id: String,
    pub kind: TokenKind,
    /// Prefix and last four characters.
    pub hint: String,
    pub description: String,
    /// For user tokens: the user's id and username.
    pub user: Option<(String, String)>,
    /// For device details tokens: the target entity.
    pub target: Option<Target>,
    /// For device details tokens: the permission types.
    pub permissions: Permissions,
    /// Username of the admin who generated it (None when that user was removed or for the CLI).
    pub created_by: Option<String>,
    /// That admin's user id (what a rotation keeps on the successor).
    pub created_by_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds at which it stops working.
    pub expires_at: i64,
    /// Unix seconds, when revoked.
    pub revoked_at: Option<i64>,
    /// Unix seconds, last accepted use.
    pub last_used_at: Option<i64>,
    /// Where the last accepted use came from, and its user agent.
    pub last_used_ip: Option<String>,
    pub last_used_agent: Option<String>,
    /// The networks it may be used from (none: anywhere).
    pub allowed_ips: AllowedIps,
    /// The same as stored (what the request path checks, and what a rotation copies: a stored
    /// list that would not parse is never widened to "anywhere").
    pub allowed_ips_stored: String,
    /// The token it replaced by rotation, and the one that replaced it.
    pub predecessor_id: Option<String>,
    pub successor_id: Option<String>,
}

impl TokenRecord {
    /// "Fleet demo" / "Device d-…" / "User bob".
    pub fn subject(&self) -> String {
        crate::domain::scope::subject_label(
            self.target.as_ref(),
            self.user.as_ref().map(|(_, name)| name.as_str()),
        )
    }

    /// "Read, Write" / "as user" (a user token has its user's rights, no permission types).
    pub fn permissions_label(&self) -> String {
        if self.permissions.is_empty() {
            "as user".into()
        } else {
            self.permissions.to_string()
        }
    }

    /// What a webhook says about it.
    pub fn facts(&self) -> TokenFacts {
        TokenFacts {
            id: self.id.clone(),
            kind: self.kind,
            description: self.description.clone(),
            target: self.target.clone(),
            user: self.user.as_ref().map(|(_, name)| name.clone()),
            permissions: self.permissions,
            expires_at: self.expires_at,
        }
    }

    /// Status at `now`.
    pub fn status(&self, now: i64) -> TokenStatus {
        TokenStatus::at(self.revoked_at, self.expires_at, now)
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TokenRow {
    id: String,
    kind: String,
    hint: String,
    description: String,
    user_id: Option<String>,
    username: Option<String>,
    target_fleet: Option<String>,
    target_device: Option<String>,
    permissions: i64,
    created_by: Option<String>,
    created_by_id: Option<String>,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    last_used_ip: Option<String>,
    last_used_agent: Option<String>,
    allowed_ips: String,
    predecessor_id: Option<String>,
    successor_id: Option<String>,
}

impl From<TokenRow> for TokenRecord {
    fn from(r: TokenRow) -> Self {
        let target = match (r.target_fleet, r.target_device) {
            (Some(f), _) => Some(Target::Fleet(f)),
            (None, Some(d)) => Some(Target::Device(d)),
            (None, None) => None,
        };
        TokenRecord {
            id: r.id,
            // The CHECK constraint admits the two kinds only.
            kind: TokenKind::parse(&r.kind).unwrap_or(TokenKind::DeviceDetails),
            hint: r.hint,
            description: r.description,
            user: r.user_id.zip(r.username),
            target,
            permissions: Permissions::from_bits(r.permissions),
            created_by: r.created_by,
            created_by_id: r.created_by_id,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
            last_used_ip: r.last_used_ip,
            last_used_agent: r.last_used_agent,
            // Stored only after parsing, in the canonical form.
            allowed_ips: AllowedIps::parse(&r.allowed_ips).unwrap_or_default(),
            allowed_ips_stored: r.allowed_ips,
            predecessor_id: r.predecessor_id,
            successor_id: r.successor_id,
        }
    }
}

pub(super) const TOKEN_SELECT: &str = "SELECT t.id, t.kind, t.hint, t.description, t.user_id, u.username, t.target_fleet, \
     t.target_device, t.permissions, c.username AS created_by, c.id AS created_by_id, t.created_at, t.expires_at, t.revoked_at, \
     t.last_used_at, t.last_used_ip, t.last_used_agent, t.allowed_ips, t.predecessor_id, t.successor_id \
     FROM tokens t LEFT JOIN users u ON u.id = t.user_id LEFT JOIN users c ON c.id = t.created_by";

/// Filter of the token lists.
#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    /// Only this kind.
    pub kind: Option<TokenKind>,
    /// Only this status (at `now`).
    pub status: Option<TokenStatus>,
    /// Case-insensitive substring of the description, Token ID, hint, target or owner's
    /// username ([`super::token_search`]).
    pub text: String,
    /// The moment statuses are judged at (unix seconds).
    pub now: i64,
    /// Only tokens unused since this moment: last used before it, or never used and created
    /// before it (the stale filters, [`crate::domain::usage::stale_cutoff`]).
    pub unused_since: Option<i64>,
    /// Only tokens after this one in the list's order (creation time, Token ID; newest first):
    /// a cursor for reading the whole list in pages (the CSV export).
    pub after: Option<(i64, String)>,
}

/// What is stored for a new token.
#[derive(Debug)]
pub struct NewToken<'a> {
    pub kind: TokenKind,
    /// SHA-256 of the plaintext.
    pub hash: &'a TokenHash,
    /// Display hint.
    pub hint: &'a str,
    pub description: &'a str,
    /// For user tokens: the user id.
    pub user_id: Option<&'a str>,
    /// For device details tokens: the target.
    pub target: Option<&'a Target>,
    /// For device details tokens: permission types.
    pub permissions: Permissions,
    /// The admin's user id.
    pub created_by: Option<&'a str>,
    /// Unix seconds.
    pub expires_at: i64,
    /// The console form's one-time nonce, if any.
    pub form_nonce: Option<&'a str>,
    /// The networks it may be used from, stored form ([`AllowedIps::stored`]; empty: anywhere).
    pub allowed_ips: &'a str,
    /// The token it replaces (rotation).
    pub predecessor_id: Option<&'a str>,
}

/// Why a token could not be rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRotated {
    /// It was rotated before: its successor.
    AlreadyRotated(String),
    /// Revoked, expired or gone.
    NotLive,
}

/// `INSERT` of a token (shared by a new token and a rotation).
pub(super) const INSERT_TOKEN: &str = "INSERT INTO tokens (id, kind, token_hash, hint, description, user_id, target_fleet, \
     target_device, permissions, created_by, created_at, expires_at, form_nonce, allowed_ips, predecessor_id, \
     search_text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
     $16 || LOWER(COALESCE((SELECT username FROM users WHERE id = $6), '')))";

/// Binds a new token's values to [`INSERT_TOKEN`].
macro_rules! bind_new_token {
    ($query:expr, $id:expr, $t:expr, $now:expr) => {{
        let t: &NewToken<'_> = $t;
        let (fleet, device) = match t.target {
            Some(Target::Fleet(f)) => (Some(f.as_str()), None),
            Some(Target::Device(d)) => (None, Some(d.as_str())),
            None => (None, None),
        };
        $query
            .bind($id)
            .bind(t.kind.as_str())
            .bind(t.hash.as_str())
            .bind(t.hint)
            .bind(t.description)
            .bind(t.user_id)
            .bind(fleet)
            .bind(device)
            .bind(t.permissions.bits())
            .bind(t.created_by)
            .bind($now)
            .bind(t.expires_at)
            .bind(t.form_nonce)
            .bind(t.allowed_ips)
            .bind(t.predecessor_id)
            .bind($crate::store::token_search::search_prefix($id, t))
    }};
}
pub(super) use bind_new_token;

impl Store {
    /// Stores a new token and returns its Token ID (nothing recorded beside it).
    pub async fn insert_token(&self, t: &NewToken<'_>, now: i64) -> StoreResult<String> {
        let id = uuid::Uuid::new_v4().to_string();
        self.insert_token_with(&id, t, &Effects::default(), now)
            .await?;
        Ok(id)
    }

    /// Stores a new token `id` and its `effects` in one transaction. `Conflict("form_nonce")`
    /// when the form's nonce was used before: the replay creates and records nothing.
    pub async fn insert_token_with(
        &self,
        id: &str,
        t: &NewToken<'_>,
        effects: &Effects,
        now: i64,
    ) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            bind_new_token!(sqlx::query(INSERT_TOKEN), id, t, now)
                .execute(&mut *tx)
                .await
                .map_err(conflict_on(
                    Constraint::Unique("tokens", "form_nonce"),
                    "form_nonce",
                ))?;
            record_effects!(tx, effects, now);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The Token ID generated from a form nonce, if any.
    pub async fn token_id_for_nonce(&self, nonce: &str) -> StoreResult<Option<String>> {
        Ok(on_pool!(self.pool(), |db| {
            sqlx::query_scalar("SELECT id FROM tokens WHERE form_nonce = $1")
                .bind(nonce)
                .fetch_optional(db)
                .await?
        }))
    }

    /// One token's metadata by Token ID.
    pub async fn token(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        let row: Option<TokenRow> = on_pool!(self.pool(), |db| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{TOKEN_SELECT} WHERE t.id = $1"
            )))
            .bind(id)
            .fetch_optional(db)
            .await?
        });
        Ok(row.map(TokenRecord::from))
    }

    /// The token stored under `hash`, whatever its state.
    pub async fn token_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<TokenRecord>> {
        let row: Option<TokenRow> = on_pool!(self.pool(), |db| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{TOKEN_SELECT} WHERE t.token_hash = $1"
            )))
            .bind(hash.as_str())
            .fetch_optional(db)
            .await?
        });
        Ok(row.map(TokenRecord::from))
    }

    /// Active tokens that stop working by `until`, soonest first.
    pub async fn expiring_tokens(
        &self,
        now: i64,
        until: i64,
        limit: i64,
    ) -> StoreResult<Vec<TokenRecord>> {
        let rows: Vec<TokenRow> = on_pool!(self.pool(), |db| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{TOKEN_SELECT} WHERE t.revoked_at IS NULL AND t.expires_at > $1 AND t.expires_at <= $2 \
                 ORDER BY t.expires_at, t.id LIMIT $3"
            )))
            .bind(now)
            .bind(until)
            .bind(limit)
            .fetch_all(db)
            .await?
        });
        Ok(rows.into_iter().map(TokenRecord::from).collect())
    }

    /// Revokes a token; false when it does not exist or was revoked already.
    pub async fn revoke_token(&self, id: &str, now: i64) -> StoreResult<bool> {
        self.revoke_token_with(id, &Effects::default(), now).await
    }

    /// Revokes a token and records `effects` in the same transaction; false (and nothing
    /// recorded) when it does not exist or was revoked already.
    pub async fn revoke_token_with(
        &self,
        id: &str,
        effects: &Effects,
        now: i64,
    ) -> StoreResult<bool> {
        let one = [(id.to_owned(), effects.clone())];
        Ok(!self.revoke_tokens_with(&one, now).await?.is_empty())
    }

    /// Revokes several tokens in one transaction, each with its own `effects` (recorded only for
    /// a token this revokes); returns the Token IDs revoked (those not already revoked).
    pub async fn revoke_tokens_with(
        &self,
        tokens: &[(String, Effects)],
        now: i64,
    ) -> StoreResult<Vec<String>> {
        let mut revoked = Vec::new();
        // In Token ID order, as the usage flush updates tokens: two writers that touch the
        // same rows lock them in one order (no deadlock on PostgreSQL).
        let mut ordered: Vec<&(String, Effects)> = tokens.iter().collect();
        ordered.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            for (id, effects) in ordered.iter().copied() {
                let done = sqlx::query(
                    "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if done {
                    record_effects!(tx, effects, now);
                    revoked.push(id.clone());
                }
            }
            tx.commit().await?;
        });
        Ok(revoked)
    }
}
