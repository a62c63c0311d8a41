//! Refused token uses as the audit log aggregates them: one entry per token, reason, source
//! network and minute, with a count.

use super::audit::{AuditAction, AuditEvent};

/// A refused token use, as the audit log aggregates it: one entry per token, reason, source
/// address and minute, with a count (SECURITY.md 23) — so a retry loop cannot fill the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The refused token's ID.
    pub token_id: String,
    /// Why (`revoked`, `expired`, `user disabled`, `missing write permission`…).
    pub reason: String,
    /// The client's address.
    pub source: String,
    /// The minute it fell in (unix seconds at the minute's start).
    pub minute: i64,
}

impl Refusal {
    /// A refusal of `token_id` for `reason` from `source` at `now`.
    pub fn new(token_id: &str, reason: &str, source: String, now: i64) -> Self {
        Refusal {
            token_id: token_id.to_owned(),
            reason: reason.to_owned(),
            source,
            minute: minute_of(now),
        }
    }

    /// The aggregation key: equal for the refusals one entry counts. IPv6 sources count by
    /// their /64 network (one host can use every address in it).
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.token_id,
            self.reason,
            source_network(&self.source),
            self.minute
        )
    }

    /// The entry as first recorded (its count and last time are kept beside it).
    pub fn event(&self) -> AuditEvent {
        AuditEvent::new(
            AuditAction::TokenRefused,
            format!("token {}", self.token_id),
            self.source.clone(),
        )
        .token(&self.token_id)
        .detail(&self.reason)
    }
}

/// The start of the minute `now` (unix seconds) falls in: refusals are counted per minute.
pub fn minute_of(now: i64) -> i64 {
    now - now.rem_euclid(60)
}

/// The part of a source address that stands for one client: an IPv6 address's /64 network,
/// anything else as it is.
fn source_network(source: &str) -> String {
    match source.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => source.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_of_one_token_reason_and_source_share_a_minute() {
        let at = |now| Refusal::new("t1", "revoked", "10.0.0.1".into(), now);
        assert_eq!(at(120).key(), at(179).key());
        assert_ne!(at(179).key(), at(180).key());
        assert_eq!(at(179).minute, 120);
        assert_eq!(at(-1).minute, -60);
        let other = Refusal::new("t1", "expired", "10.0.0.1".into(), 120);
        assert_ne!(other.key(), at(120).key());
        let v6 = |source: &str| Refusal::new("t1", "revoked", source.into(), 120).key();
        assert_eq!(v6("2001:db8:1:2::1"), v6("2001:db8:1:2:ffff::9"), "one /64");
        assert_ne!(v6("2001:db8:1:2::1"), v6("2001:db8:1:3::1"));
        assert_ne!(v6("10.0.0.1"), v6("10.0.0.2"));
        let event = at(125).event();
        assert_eq!(event.action, AuditAction::TokenRefused);
        assert_eq!(event.token_id.as_deref(), Some("t1"));
        assert_eq!(
            (event.actor.as_str(), event.detail.as_str()),
            ("token t1", "revoked")
        );
    }
}
