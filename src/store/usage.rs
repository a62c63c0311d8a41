//! What the API path notes without a database write per request, written in one batch every
//! few seconds (and at shutdown):
//!
//! - `last_used_at` stamps of accepted tokens, with the source address and user agent of that
//!   last use. The lag is at most the flush interval;
//!   revocation does not depend on it. A failed write (database away) keeps the stamps for the
//!   next flush, up to a bound.
//! - Uses per token, UTC day and outcome (allowed, or refused and why; PRODUCT.md §14), added to
//!   the stored counts in the same transaction as the stamps, so several instances' counts add
//!   up. A token's stamp and counts share one entry: a request takes one lock.
//! - Counts of refused uses. The first refusal of a token for a reason from an address in a
//!   minute writes its audit entry at once; the rest of that minute only add to its count here
//!   (SECURITY.md 23), so a retry loop costs what an unknown token costs ([`refusals`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

mod refusals;

use refusals::Counted;
pub use refusals::{Noted, RefusalCount};

use super::{Store, StoreResult};
use crate::domain::usage::{Use, day_of};

/// Most tokens whose stamps and counts are kept while the database cannot be written (past
/// that, new tokens' uses wait uncounted).
const MAX_STAMPS: usize = 100_000;
/// Longest user agent kept, in characters.
const MAX_AGENT: usize = 200;

/// A token's last accepted use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// Unix seconds.
    pub at: i64,
    /// Where it came from.
    pub ip: Option<IpAddr>,
    /// Its `User-Agent`, as text fit to show (see [`readable_agent`]).
    pub agent: Option<Box<str>>,
}

/// A `User-Agent` header as text fit to show: invalid UTF-8 replaced, control characters
/// dropped, at most [`MAX_AGENT`] characters.
pub fn readable_agent(raw: &[u8]) -> Box<str> {
    String::from_utf8_lossy(raw)
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_AGENT)
        .collect::<String>()
        .into_boxed_str()
}

/// Uses of one token on one day for one outcome, to add to the stored count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseCount {
    pub token_id: String,
    /// UTC day ([`day_of`]).
    pub day: i64,
    /// `""` for allowed, else the refusal's reason.
    pub reason: &'static str,
    pub uses: i64,
}

/// A token's unwritten stamp and uses (by day and reason; nearly always one or two).
#[derive(Debug, Default)]
struct Pending {
    stamp: Option<Stamp>,
    uses: Vec<(i64, &'static str, i64)>,
}

impl Pending {
    fn add(&mut self, day: i64, reason: &'static str, n: i64) {
        match self
            .uses
            .iter_mut()
            .find(|(d, r, _)| *d == day && *r == reason)
        {
            Some((_, _, count)) => *count += n,
            None => self.uses.push((day, reason, n)),
        }
    }

    /// Keeps the newer of its stamp and `stamp`.
    fn stamp_at_least(&mut self, stamp: Stamp) {
        if self.stamp.as_ref().is_none_or(|s| s.at < stamp.at) {
            self.stamp = Some(stamp);
        }
    }
}

/// Pending stamps, use counts and refusal counts.
#[derive(Debug, Default)]
pub struct UsageBatch {
    pending: Mutex<HashMap<String, Pending>>,
    refusals: Mutex<HashMap<String, Counted>>,
}

impl UsageBatch {
    /// Notes that `token_id` was used at `now` from `ip` with the user agent `agent` (the
    /// header's bytes; copied only when it differs from the one already noted), stamping it as
    /// last used, and counts the use as `used`.
    pub fn record<A: AsRef<[u8]>>(
        &self,
        token_id: &str,
        now: i64,
        ip: Option<IpAddr>,
        agent: Option<A>,
        used: Use,
    ) {
        let agent = agent.as_ref().map(AsRef::as_ref);
        self.with_entry(token_id, |p| {
            match &mut p.stamp {
                Some(s) if s.at > now => {}
                Some(s) => {
                    s.at = now;
                    s.ip = ip;
                    if s.agent.as_deref().map(str::as_bytes) != agent {
                        s.agent = agent.map(readable_agent);
                    }
                }
                None => {
                    p.stamp = Some(Stamp {
                        at: now,
                        ip,
                        agent: agent.map(readable_agent),
                    });
                }
            }
            p.add(day_of(now), used.reason(), 1);
        });
    }

    /// Counts a use of `token_id` at `now` without stamping it (a refused token: revoked,
    /// expired, its user disabled, from an address it may not be used from).
    pub fn count(&self, token_id: &str, now: i64, used: Use) {
        self.with_entry(token_id, |p| p.add(day_of(now), used.reason(), 1));
    }

    /// Runs `f` on the token's entry, made if there is room.
    fn with_entry(&self, token_id: &str, f: impl FnOnce(&mut Pending)) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = pending.get_mut(token_id) {
            f(p);
        } else if pending.len() < MAX_STAMPS {
            // Only while the database has been away for long is there no room.
            f(pending.entry(token_id.to_owned()).or_default());
        }
    }

    /// Puts back what could not be written: a stamp (unless a newer one was noted meanwhile)
    /// and counts (added to those noted meanwhile).
    fn restore(&self, stamps: Vec<(String, Stamp)>, uses: Vec<UseCount>) {
        for (id, stamp) in stamps {
            self.with_entry(&id, |p| p.stamp_at_least(stamp));
        }
        for u in uses {
            self.with_entry(&u.token_id, |p| p.add(u.day, u.reason, u.uses));
        }
    }

    /// Takes every pending stamp and count, each in key order: instances flushing together
    /// then lock the rows they share in the same order (no deadlock on PostgreSQL).
    fn take(&self) -> (Vec<(String, Stamp)>, Vec<UseCount>) {
        let drained: Vec<(String, Pending)> = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.drain().collect()
        };
        let mut stamps = Vec::new();
        let mut uses = Vec::new();
        for (id, p) in drained {
            for (day, reason, n) in p.uses {
                uses.push(UseCount {
                    token_id: id.clone(),
                    day,
                    reason,
                    uses: n,
                });
            }
            if let Some(stamp) = p.stamp {
                stamps.push((id, stamp));
            }
        }
        stamps.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        uses.sort_unstable_by(|a, b| {
            (&a.token_id, a.day, a.reason).cmp(&(&b.token_id, b.day, b.reason))
        });
        (stamps, uses)
    }

    /// Writes everything pending; returns how many stamps, use counts and refusal entries were
    /// written. On failure what was taken is put back for the next flush.
    pub async fn flush(&self, store: &Store) -> StoreResult<usize> {
        let (stamps, uses) = self.take();
        if !(stamps.is_empty() && uses.is_empty())
            && let Err(e) = store.write_usage(&stamps, &uses).await
        {
            self.restore(stamps, uses);
            return Err(e);
        }
        let counts = self.take_refusal_counts(crate::domain::now());
        if !counts.is_empty()
            && let Err(e) = store.add_refusals(&counts).await
        {
            self.put_back(counts);
            return Err(e);
        }
        Ok(stamps.len() + uses.len() + counts.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp_of(batch: &UsageBatch, id: &str) -> Stamp {
        batch.pending.lock().unwrap()[id].stamp.clone().unwrap()
    }

    #[test]
    fn stamps_keep_the_newest_use_with_its_source() {
        let batch = UsageBatch::default();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        batch.record("t", 5, ip("192.0.2.1"), Some("curl/8.5.0"), Use::Allowed);
        batch.record("t", 3, ip("192.0.2.9"), Some("old"), Use::Allowed);
        let seen = stamp_of(&batch, "t");
        assert_eq!((seen.at, seen.ip), (5, ip("192.0.2.1")));
        assert_eq!(seen.agent.as_deref(), Some("curl/8.5.0"));
        batch.record("t", 7, ip("2001:db8::1"), None::<&str>, Use::Allowed);
        let seen = stamp_of(&batch, "t");
        assert_eq!((seen.at, seen.ip, seen.agent), (7, ip("2001:db8::1"), None));
        // A stamp put back after a failed write never replaces a newer one.
        let old = Stamp {
            at: 6,
            ip: None,
            agent: None,
        };
        batch.restore(vec![("t".into(), old)], Vec::new());
        assert_eq!(stamp_of(&batch, "t").at, 7);
    }

    #[test]
    fn uses_are_counted_per_token_day_and_reason_and_kept_across_a_failed_write() {
        let batch = UsageBatch::default();
        let day = 86_400;
        batch.record("a", 10 * day + 5, None, None::<&str>, Use::Allowed);
        batch.record("a", 10 * day + 9, None, None::<&str>, Use::Allowed);
        batch.record(
            "a",
            11 * day,
            None,
            None::<&str>,
            Use::Refused("out of scope"),
        );
        batch.count("a", 11 * day + 1, Use::Refused("out of scope"));
        batch.count("b", 11 * day, Use::Refused("revoked"));
        let (stamps, mut uses) = batch.take();
        assert_eq!(
            stamps.len(),
            1,
            "b was refused before it was live: no stamp"
        );
        uses.sort_by_key(|u| (u.token_id.clone(), u.day));
        let seen: Vec<_> = uses
            .iter()
            .map(|u| (u.token_id.as_str(), u.day, u.reason, u.uses))
            .collect();
        assert_eq!(
            seen,
            [
                ("a", 10, "", 2),
                ("a", 11, "out of scope", 2),
                ("b", 11, "revoked", 1)
            ]
        );
        assert!(batch.take().1.is_empty(), "taken once");
        batch.count("b", 11 * day, Use::Refused("revoked"));
        batch.restore(stamps, uses);
        let (_, again) = batch.take();
        let b: Vec<_> = again.iter().filter(|u| u.token_id == "b").collect();
        assert_eq!(
            b[0].uses, 2,
            "put back and added to the one noted meanwhile"
        );
    }

    #[test]
    fn user_agents_are_kept_readable_and_short() {
        assert_eq!(&*readable_agent(b"a\x1b[31mb\x07"), "a[31mb");
        assert_eq!(&*readable_agent(b"ok \xff"), "ok \u{fffd}");
        assert_eq!(readable_agent(&[b'x'; 500]).len(), 200);
    }
}
