//! Webhook events as the Standard Webhooks specification shapes them: the events an endpoint can
//! subscribe to, their JSON bodies (never a token's plaintext) and the expiry warnings. How a
//! delivery is signed and retried is [`super::webhook_delivery`]; where it may be sent,
//! [`super::webhook_target`].

use serde_json::{Value, json};

use super::expiry::Warning;
use super::scope::{Permissions, Target};
use super::token::TokenKind;

/// What an endpoint can subscribe to (and the test event, which is sent on request only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A live token expires in 7 days, or in 1 day.
    TokenExpiring,
    /// A token was generated (console, API, CLI or rotation).
    TokenCreated,
    /// A token was rotated: a successor made, this one retired.
    TokenRotated,
    /// A token was revoked (by a person, or after a rotated-out token came back).
    TokenRevoked,
    /// A token was presented and refused (one event per token, reason, source and minute).
    TokenRefused,
    /// **Send test event**.
    Test,
}

impl EventType {
    /// The events an endpoint can subscribe to, in the order the form lists them.
    pub const SUBSCRIBABLE: [EventType; 5] = [
        EventType::TokenExpiring,
        EventType::TokenCreated,
        EventType::TokenRotated,
        EventType::TokenRevoked,
        EventType::TokenRefused,
    ];

    /// The name in the body's `type` (and in the form).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::TokenExpiring => "token.expiring",
            EventType::TokenCreated => "token.created",
            EventType::TokenRotated => "token.rotated",
            EventType::TokenRevoked => "token.revoked",
            EventType::TokenRefused => "token.refused",
            EventType::Test => "webhook.test",
        }
    }

    /// What it means, for the form.
    pub fn label(self) -> &'static str {
        match self {
            EventType::TokenExpiring => "7 days and 1 day before a token expires",
            EventType::TokenCreated => "A token is generated",
            EventType::TokenRotated => "A token is rotated",
            EventType::TokenRevoked => "A token is revoked",
            EventType::TokenRefused => {
                "A token is refused (once per token, reason, source and minute)"
            }
            EventType::Test => "Test event",
        }
    }

    /// The event named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::SUBSCRIBABLE
            .into_iter()
            .chain([EventType::Test])
            .find(|e| e.as_str() == s)
    }

    /// Its bit in an endpoint's stored subscription.
    pub fn bit(self) -> i64 {
        match self {
            EventType::TokenExpiring => 1,
            EventType::TokenCreated => 2,
            EventType::TokenRotated => 4,
            EventType::TokenRevoked => 8,
            EventType::TokenRefused => 16,
            // Every endpoint takes the test event.
            EventType::Test => 0,
        }
    }
}

/// A set of subscribable events, stored as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Events(i64);

impl Events {
    /// All five.
    pub const ALL: Events = Events(31);

    /// From stored bits (unknown bits dropped).
    pub fn from_bits(bits: i64) -> Self {
        Events(bits & Self::ALL.0)
    }

    /// The stored bits.
    pub fn bits(self) -> i64 {
        self.0
    }

    /// The set of `events`.
    pub fn of(events: impl IntoIterator<Item = EventType>) -> Self {
        Events(events.into_iter().fold(0, |bits, e| bits | e.bit()))
    }

    /// Whether `e` is in the set (the test event always is).
    pub fn contains(self, e: EventType) -> bool {
        e == EventType::Test || self.0 & e.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names, in the form's order.
    pub fn names(self) -> Vec<&'static str> {
        EventType::SUBSCRIBABLE
            .into_iter()
            .filter(|e| self.contains(*e))
            .map(EventType::as_str)
            .collect()
    }
}

/// An event to send, as it enters the outbox: one delivery per subscribed endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventType,
    /// Makes the event once per endpoint: a second event with the same key is not queued
    /// (expiry warnings, refusal minutes). None: every event is new.
    pub key: Option<String>,
    /// The token it is about.
    pub token_id: Option<String>,
    /// The JSON body.
    pub body: String,
}

/// What a payload says about a token: never its secret or hash.
#[derive(Debug, Clone)]
pub struct TokenFacts {
    pub id: String,
    pub kind: TokenKind,
    pub description: String,
    /// Device details tokens: the target entity.
    pub target: Option<Target>,
    /// User tokens: the owner's username.
    pub user: Option<String>,
    pub permissions: Permissions,
    /// Unix seconds.
    pub expires_at: i64,
}

impl TokenFacts {
    /// "Fleet demo" / "Device d-…" / "User bob".
    pub fn subject(&self) -> String {
        super::scope::subject_label(self.target.as_ref(), self.user.as_deref())
    }

    /// The `data` fields every token event carries.
    fn data(&self) -> serde_json::Map<String, Value> {
        let subject = self.subject();
        let target = match (&self.target, &self.user) {
            (Some(Target::Fleet(f)), _) => json!({ "fleet": f }),
            (Some(Target::Device(d)), _) => json!({ "device": d }),
            (None, Some(u)) => json!({ "user": u }),
            (None, None) => Value::Null,
        };
        let mut data = serde_json::Map::new();
        data.insert("token_id".into(), json!(self.id));
        data.insert("token_type".into(), json!(self.kind.as_str()));
        data.insert("description".into(), json!(self.description));
        data.insert("subject".into(), json!(subject));
        data.insert("target".into(), target);
        data.insert("permissions".into(), json!(self.permissions.names()));
        data.insert("expires_at".into(), json!(rfc3339(self.expires_at)));
        data
    }
}

/// Unix seconds as RFC 3339 UTC (`2026-12-03T16:20:00Z`).
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// `{"type":…, "timestamp":…, "data":{…}}`.
fn body(kind: EventType, now: i64, data: serde_json::Map<String, Value>) -> String {
    json!({ "type": kind.as_str(), "timestamp": rfc3339(now), "data": data }).to_string()
}

impl Event {
    /// A token event about `token` by `actor` with `extra` data fields.
    fn about(
        kind: EventType,
        token: &TokenFacts,
        actor: &str,
        extra: &[(&str, Value)],
        now: i64,
    ) -> Self {
        let mut data = token.data();
        data.insert("actor".into(), json!(actor));
        for (k, v) in extra {
            data.insert((*k).into(), v.clone());
        }
        Event {
            kind,
            key: None,
            token_id: Some(token.id.clone()),
            body: body(kind, now, data),
        }
    }

    /// `token.created`; `rotation_of` names the token a rotation replaced.
    pub fn created(token: &TokenFacts, actor: &str, rotation_of: Option<&str>, now: i64) -> Self {
        Self::about(
            EventType::TokenCreated,
            token,
            actor,
            &[("rotation_of", json!(rotation_of))],
            now,
        )
    }

    /// `token.rotated`: `token` was replaced by `successor` and stops working at `retires_at`.
    pub fn rotated(
        token: &TokenFacts,
        actor: &str,
        successor: &str,
        retires_at: i64,
        now: i64,
    ) -> Self {
        let extra = [
            ("successor_id", json!(successor)),
            ("retires_at", json!(rfc3339(retires_at))),
        ];
        Self::about(EventType::TokenRotated, token, actor, &extra, now)
    }

    /// `token.revoked` with why (`"revoked"`, `"reuse detected"`…).
    pub fn revoked(token: &TokenFacts, actor: &str, reason: &str, now: i64) -> Self {
        Self::about(
            EventType::TokenRevoked,
            token,
            actor,
            &[("reason", json!(reason))],
            now,
        )
    }

    /// `token.refused`, once per aggregated audit entry (`key`): `count` refusals for
    /// `reason` from `source` in the minute starting at `minute` when it was made.
    pub fn refused(token: &TokenFacts, refusal: &RefusedUse<'_>, now: i64) -> Self {
        let extra = [
            ("reason", json!(refusal.reason)),
            ("source", json!(refusal.source)),
            ("minute", json!(rfc3339(refusal.minute))),
            ("count", json!(refusal.count)),
        ];
        let mut e = Self::about(EventType::TokenRefused, token, "system", &extra, now);
        e.key = Some(format!("refused|{}", refusal.key));
        e
    }

    /// `token.expiring`, the warning `warning` days ahead (7 or 1), once per token.
    pub fn expiring(token: &TokenFacts, warning: Warning, now: i64) -> Self {
        let days = warning.days();
        let extra = [
            ("warning_days", json!(days)),
            ("expires_in_seconds", json!((token.expires_at - now).max(0))),
        ];
        let mut e = Self::about(EventType::TokenExpiring, token, "system", &extra, now);
        e.key = Some(format!("expiring|{days}|{}", token.id));
        e
    }

    /// `webhook.test`, sent to one endpoint on request.
    pub fn test(endpoint_id: &str, actor: &str, now: i64) -> Self {
        let mut data = serde_json::Map::new();
        data.insert("endpoint_id".into(), json!(endpoint_id));
        data.insert("actor".into(), json!(actor));
        data.insert(
            "message".into(),
            json!(
                "Test event from connect-tokens: this endpoint receives and can verify webhooks."
            ),
        );
        Event {
            kind: EventType::Test,
            key: None,
            token_id: None,
            body: body(EventType::Test, now, data),
        }
    }
}

impl Event {
    /// For `token.expiring`: which warning (7 or 1).
    pub fn warning_days(&self) -> Option<i64> {
        let key = self.key.as_deref()?.strip_prefix("expiring|")?;
        key.split('|').next()?.parse().ok()
    }
}

/// A refused use as the aggregated audit entry counts it.
#[derive(Debug, Clone)]
pub struct RefusedUse<'a> {
    /// The audit entry's aggregation key.
    pub key: &'a str,
    pub reason: &'a str,
    pub source: &'a str,
    /// Unix seconds of the minute's start.
    pub minute: i64,
    pub count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> TokenFacts {
        TokenFacts {
            id: "7d7c2a4e-0000-4000-8000-000000000001".into(),
            kind: TokenKind::DeviceDetails,
            description: "CI <pipeline>".into(),
            target: Some(Target::Fleet("demo".into())),
            user: None,
            permissions: Permissions::from_bits(3),
            expires_at: 1_800_000_000,
        }
    }

    #[test]
    fn bodies_carry_the_facts_and_no_secret() {
        let e = Event::created(&facts(), "admin", None, 1_700_000_000);
        let v: Value = serde_json::from_str(&e.body).unwrap();
        assert_eq!(v["type"], "token.created");
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(v["data"]["token_id"], facts().id);
        assert_eq!(v["data"]["subject"], "Fleet demo");
        assert_eq!(v["data"]["target"]["fleet"], "demo");
        assert_eq!(v["data"]["permissions"], json!(["read", "write"]));
        assert_eq!(v["data"]["description"], "CI <pipeline>");
        assert_eq!(v["data"]["actor"], "admin");
        assert!(e.key.is_none());
        let w = Event::expiring(&facts(), Warning::OneDay, 1_800_000_000 - 3600);
        assert_eq!(
            w.key.as_deref(),
            Some(format!("expiring|1|{}", facts().id).as_str())
        );
        let v: Value = serde_json::from_str(&w.body).unwrap();
        assert_eq!(v["data"]["expires_in_seconds"], 3600);
        assert_eq!(w.warning_days(), Some(1));
        assert_eq!(e.warning_days(), None);
    }

    #[test]
    fn event_sets() {
        let s = Events::of([EventType::TokenCreated, EventType::TokenRefused]);
        assert_eq!(s.names(), ["token.created", "token.refused"]);
        assert!(s.contains(EventType::Test) && !s.contains(EventType::TokenRevoked));
        assert_eq!(
            Events::from_bits(1 << 40 | 2),
            Events::of([EventType::TokenCreated])
        );
        assert_eq!(
            EventType::parse("token.rotated"),
            Some(EventType::TokenRotated)
        );
        assert_eq!(EventType::parse("token.nope"), None);
    }
}
