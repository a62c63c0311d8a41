//! Webhooks as the Standard Webhooks specification defines them: the events an endpoint can
//! subscribe to, their JSON bodies (never a token's plaintext), the `whsec_` signing secret and
//! the `v1,` signature, and the retry schedule. Where a webhook may be sent is
//! [`super::webhook_target`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

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

/// The two expiry warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warning {
    SevenDays,
    OneDay,
}

/// Seconds in a day.
const DAY: i64 = 86_400;

impl Warning {
    /// Both, the earlier first.
    pub const ALL: [Warning; 2] = [Warning::SevenDays, Warning::OneDay];

    /// 7 or 1.
    pub fn days(self) -> i64 {
        match self {
            Warning::SevenDays => 7,
            Warning::OneDay => 1,
        }
    }

    /// Seconds before expiry it is due.
    pub fn lead_secs(self) -> i64 {
        self.days() * DAY
    }

    /// The warning a token expiring at `expires_at` is owed at `now` when it is made: one day
    /// or less left → the one-day warning; seven or less → the seven-day one; more → none yet
    /// (the scan sends it when its time comes).
    pub fn due_at_creation(expires_at: i64, now: i64) -> Option<Warning> {
        Warning::ALL
            .into_iter()
            .find(|w| w.applies(expires_at - now))
    }

    /// Whether the scan sends this warning for a token with `left` seconds to live: the
    /// seven-day warning only while more than a day is left (after that the one-day warning
    /// says more).
    pub fn applies(self, left: i64) -> bool {
        match self {
            Warning::SevenDays => left > DAY && left <= 7 * DAY,
            Warning::OneDay => left > 0 && left <= DAY,
        }
    }
}

/// A signing secret's prefix.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    format!("{SECRET_PREFIX}{}", B64.encode(bytes))
}

/// The key bytes of a `whsec_` secret.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    let key = B64.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?;
    (key.len() >= 24).then_some(key)
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` under `key`.
pub fn signature(key: &[u8], msg_id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// How long after a rotation the old secret still signs (beside the new one), so a receiver
/// can switch without losing a message.
pub const OLD_SECRET_SECS: i64 = 86_400;

/// Retries go on for this long after the event.
pub const RETRY_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// The longest wait between two attempts.
const MAX_DELAY_MS: i64 = 8 * 3600 * 1000;

/// When to try again after `attempts` failed attempts of an event made at `created_ms`, the
/// last at `now_ms`: `first_ms` after the first failure, four times longer after each next
/// (capped at 8 hours), `jitter` (0.0–1.0) spreading it by up to ±10 %; a last attempt at the
/// window's end; none after 24 hours. With `first_ms` = 30 s: 30 s, 2 min, 8 min, 32 min,
/// 2 h 8 min, 8 h, 8 h, then the 24-hour mark: 9 attempts.
pub fn next_attempt_ms(
    created_ms: i64,
    attempts: i64,
    now_ms: i64,
    first_ms: i64,
    jitter: f64,
) -> Option<i64> {
    let end = created_ms + RETRY_WINDOW_MS;
    if attempts < 1 || now_ms >= end {
        return None;
    }
    let exp = u32::try_from(attempts - 1).unwrap_or(u32::MAX).min(20);
    let base = first_ms
        .saturating_mul(4i64.saturating_pow(exp))
        .min(MAX_DELAY_MS);
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let spread = ((jitter.clamp(0.0, 1.0) - 0.5) * 0.2 * base as f64) as i64;
    Some((now_ms + base + spread).min(end))
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
    fn signature_matches_the_specification_example() {
        // The Standard Webhooks reference libraries' test vector.
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_prefixed_long_and_random() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.starts_with("whsec_") && a != b);
        assert_eq!(secret_key(&a).unwrap().len(), 32);
        assert!(
            secret_key("whsec_c2hvcnQ=").is_none(),
            "5 bytes is too short"
        );
        assert!(secret_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
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
    fn warnings_at_creation_and_in_the_scan() {
        let now = 1_000_000;
        assert_eq!(Warning::due_at_creation(now + 30 * DAY, now), None);
        assert_eq!(
            Warning::due_at_creation(now + 3 * DAY, now),
            Some(Warning::SevenDays)
        );
        assert_eq!(
            Warning::due_at_creation(now + 7 * DAY, now),
            Some(Warning::SevenDays)
        );
        assert_eq!(Warning::due_at_creation(now + 7 * DAY + 1, now), None);
        assert_eq!(
            Warning::due_at_creation(now + 12 * 3600, now),
            Some(Warning::OneDay)
        );
        assert_eq!(Warning::due_at_creation(now - 1, now), None);
        assert!(Warning::SevenDays.applies(3 * DAY) && !Warning::SevenDays.applies(DAY));
        assert!(Warning::OneDay.applies(DAY) && !Warning::OneDay.applies(0));
        assert!(!Warning::SevenDays.applies(7 * DAY + 1));
    }

    #[test]
    fn retries_back_off_for_a_day() {
        for jitter in [0.0, 0.5, 1.0] {
            let (mut now, mut attempts, mut delays) = (0, 1, vec![]);
            while let Some(next) = next_attempt_ms(0, attempts, now, 30_000, jitter) {
                delays.push(next - now);
                now = next;
                attempts += 1;
            }
            assert!(delays[0] <= 60_000, "first retry within a minute");
            // Each wait is four times the last (±10 %) until the 8-hour cap, then the cap, and
            // the last one is cut at the 24-hour mark.
            for w in delays[..delays.len() - 1].windows(2) {
                assert!(
                    w[1] == w[0] || (w[1] > 3 * w[0] && w[1] < 5 * w[0]),
                    "{delays:?}"
                );
                assert!(w[1] <= MAX_DELAY_MS * 11 / 10);
            }
            assert!(attempts >= 6, "{attempts} attempts");
            assert_eq!(now, RETRY_WINDOW_MS, "the last one at the 24-hour mark");
        }
        let low = next_attempt_ms(0, 1, 0, 30_000, 0.0).unwrap();
        let high = next_attempt_ms(0, 1, 0, 30_000, 1.0).unwrap();
        assert_eq!((low, high), (27_000, 33_000));
        assert_eq!(next_attempt_ms(0, 0, 0, 30_000, 0.5), None);
        assert_eq!(next_attempt_ms(0, 3, RETRY_WINDOW_MS, 30_000, 0.5), None);
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
