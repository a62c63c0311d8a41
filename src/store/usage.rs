//! What the API path notes without a database write per request, written in one batch every
//! few seconds (and at shutdown):
//!
//! - `last_used_at` stamps of accepted tokens, with the source address and user agent of that
//!   last use. The lag is at most the flush interval;
//!   revocation does not depend on it. A failed write (database away) keeps the stamps for the
//!   next flush, up to a bound.
//! - Counts of refused uses. The first refusal of a token for a reason from an address in a
//!   minute writes its audit entry at once; the rest of that minute only add to its count here
//!   (SECURITY.md 23), so a retry loop costs what an unknown token costs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use super::{BeginWrite, Store, StoreResult, on_pool};
use crate::domain::audit::{Refusal, minute_of};

/// Most tokens whose stamps are kept while the database cannot be written.
const MAX_STAMPS: usize = 100_000;
/// Most refusal entries counted in memory; past that, each refusal is written on its own.
const MAX_REFUSALS: usize = 10_000;
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

/// A refusal entry being counted: how many since the last write, and the newest time.
#[derive(Debug)]
struct Counted {
    refusal: Refusal,
    unwritten: i64,
    /// The first unwritten one's time (the entry's time, should the flush create it).
    first_at: i64,
    last_at: i64,
}

/// Refused uses to add to one aggregated audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalCount {
    /// Which entry.
    pub refusal: Refusal,
    /// How many to add.
    pub count: i64,
    /// The first one's time (the entry's, if it has to be created).
    pub first_at: i64,
    /// The last one's time.
    pub last_at: i64,
}

/// What [`UsageBatch::note_refusal`] says to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noted {
    /// Write the entry now (the first of its minute here, or too many to count in memory).
    Write,
    /// Counted; the next flush writes it.
    Counted,
}

/// Pending stamps and refusal counts.
#[derive(Debug, Default)]
pub struct UsageBatch {
    stamps: Mutex<HashMap<String, Stamp>>,
    refusals: Mutex<HashMap<String, Counted>>,
}

impl UsageBatch {
    /// Notes that `token_id` was accepted at `now` from `ip` with the user agent `agent` (the
    /// header's bytes; copied only when it differs from the one already noted).
    pub fn record<A: AsRef<[u8]>>(
        &self,
        token_id: &str,
        now: i64,
        ip: Option<IpAddr>,
        agent: Option<A>,
    ) {
        let agent = agent.as_ref().map(AsRef::as_ref);
        let mut stamps = self.stamps.lock().unwrap_or_else(PoisonError::into_inner);
        let room = stamps.len() < MAX_STAMPS;
        match stamps.get_mut(token_id) {
            Some(s) if s.at > now => {}
            Some(s) => {
                s.at = now;
                s.ip = ip;
                if s.agent.as_deref().map(str::as_bytes) != agent {
                    s.agent = agent.map(readable_agent);
                }
            }
            None if room => {
                let stamp = Stamp {
                    at: now,
                    ip,
                    agent: agent.map(readable_agent),
                };
                stamps.insert(token_id.to_owned(), stamp);
            }
            // Only while the database has been away for long: new tokens' stamps wait.
            None => {}
        }
    }

    /// Puts a stamp back that could not be written (unless a newer one was noted meanwhile).
    fn restore(&self, token_id: String, stamp: Stamp) {
        let mut stamps = self.stamps.lock().unwrap_or_else(PoisonError::into_inner);
        let room = stamps.len() < MAX_STAMPS;
        match stamps.get_mut(&token_id) {
            Some(s) if s.at >= stamp.at => {}
            Some(s) => *s = stamp,
            None if room => {
                stamps.insert(token_id, stamp);
            }
            None => {}
        }
    }

    /// Notes a refused use at `now`; says whether its entry must be written now.
    pub fn note_refusal(&self, refusal: &Refusal, now: i64) -> Noted {
        let mut counted = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        let room = counted.len() < MAX_REFUSALS;
        let key = refusal.key();
        match counted.get_mut(&key) {
            Some(c) => {
                if c.unwritten == 0 {
                    c.first_at = now;
                }
                c.unwritten += 1;
                c.last_at = c.last_at.max(now);
                Noted::Counted
            }
            None if room => {
                counted.insert(
                    key,
                    Counted {
                        refusal: refusal.clone(),
                        unwritten: 0,
                        first_at: now,
                        last_at: now,
                    },
                );
                Noted::Write
            }
            None => Noted::Write,
        }
    }

    /// Writes everything pending; returns how many stamps and refusal entries were written. On
    /// failure what was taken is put back for the next flush.
    pub async fn flush(&self, store: &Store) -> StoreResult<usize> {
        let stamps: Vec<(String, Stamp)> = {
            let mut pending = self.stamps.lock().unwrap_or_else(PoisonError::into_inner);
            pending.drain().collect()
        };
        if !stamps.is_empty()
            && let Err(e) = store.stamp_last_used(&stamps).await
        {
            for (id, stamp) in stamps {
                self.restore(id, stamp);
            }
            return Err(e);
        }
        let counts = self.take_refusal_counts(crate::domain::now());
        if !counts.is_empty()
            && let Err(e) = store.add_refusals(&counts).await
        {
            self.put_back(counts);
            return Err(e);
        }
        Ok(stamps.len() + counts.len())
    }

    /// The unwritten counts (reset to zero); entries of minutes past and fully written are
    /// forgotten.
    fn take_refusal_counts(&self, now: i64) -> Vec<RefusalCount> {
        let this_minute = minute_of(now);
        let mut counted = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        counted.retain(|_, c| {
            if c.unwritten > 0 {
                out.push(RefusalCount {
                    refusal: c.refusal.clone(),
                    count: c.unwritten,
                    first_at: c.first_at,
                    last_at: c.last_at,
                });
                c.unwritten = 0;
            }
            c.refusal.minute >= this_minute
        });
        out
    }

    fn put_back(&self, counts: Vec<RefusalCount>) {
        let mut counted = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        for c in counts {
            let entry = counted.entry(c.refusal.key()).or_insert(Counted {
                refusal: c.refusal,
                unwritten: 0,
                first_at: c.first_at,
                last_at: c.last_at,
            });
            entry.first_at = entry.first_at.min(c.first_at);
            entry.unwritten += c.count;
            entry.last_at = entry.last_at.max(c.last_at);
        }
    }
}

impl Store {
    /// Writes last-use stamps (never moving one back).
    pub async fn stamp_last_used(&self, stamps: &[(String, Stamp)]) -> StoreResult<()> {
        on_pool!(self.pool(), |db| {
            let mut tx = db.begin_write().await?;
            for (id, stamp) in stamps {
                sqlx::query(
                    "UPDATE tokens SET last_used_at = $1, last_used_ip = $3, last_used_agent = $4 \
                     WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $1)",
                )
                .bind(stamp.at)
                .bind(id)
                .bind(stamp.ip.map(|ip| ip.to_string()))
                .bind(stamp.agent.as_deref())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_refusal_of_a_minute_is_written_the_rest_counted() {
        let batch = UsageBatch::default();
        let r = |now| Refusal::new("t", "revoked", "1.2.3.4".into(), now);
        assert_eq!(batch.note_refusal(&r(60), 60), Noted::Write);
        for now in 61..70 {
            assert_eq!(batch.note_refusal(&r(now), now), Noted::Counted);
        }
        assert_eq!(
            batch.note_refusal(&r(120), 120),
            Noted::Write,
            "a new minute"
        );
        let counts = batch.take_refusal_counts(125);
        assert_eq!(counts.len(), 1);
        assert_eq!(
            (counts[0].count, counts[0].first_at, counts[0].last_at),
            (9, 61, 69)
        );
        // Written and past: forgotten; the current minute's entry stays to count on.
        assert_eq!(batch.refusals.lock().unwrap().len(), 1);
        assert!(batch.take_refusal_counts(125).is_empty());
        batch.put_back(counts);
        assert_eq!(
            batch.take_refusal_counts(125)[0].count,
            9,
            "kept across a failed write"
        );
    }

    #[test]
    fn stamps_keep_the_newest_use_with_its_source() {
        let batch = UsageBatch::default();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        batch.record("t", 5, ip("192.0.2.1"), Some("curl/8.5.0"));
        batch.record("t", 3, ip("192.0.2.9"), Some("old"));
        let seen = batch.stamps.lock().unwrap()["t"].clone();
        assert_eq!((seen.at, seen.ip), (5, ip("192.0.2.1")));
        assert_eq!(seen.agent.as_deref(), Some("curl/8.5.0"));
        batch.record("t", 7, ip("2001:db8::1"), None::<&str>);
        let seen = batch.stamps.lock().unwrap()["t"].clone();
        assert_eq!((seen.at, seen.ip, seen.agent), (7, ip("2001:db8::1"), None));
        // A stamp put back after a failed write never replaces a newer one.
        batch.restore(
            "t".into(),
            Stamp {
                at: 6,
                ip: None,
                agent: None,
            },
        );
        assert_eq!(batch.stamps.lock().unwrap()["t"].at, 7);
    }

    #[test]
    fn user_agents_are_kept_readable_and_short() {
        assert_eq!(&*readable_agent(b"a\x1b[31mb\x07"), "a[31mb");
        assert_eq!(&*readable_agent(b"ok \xff"), "ok \u{fffd}");
        assert_eq!(readable_agent(&[b'x'; 500]).len(), 200);
    }
}
