//! The refusal side of [`UsageBatch`]: refused uses counted per aggregated audit entry (token,
//! reason, source, minute). The first refusal of an entry is written at once; the rest of its
//! minute only add to its count here, written by the next flush (SECURITY.md 23).

use super::UsageBatch;
use std::sync::PoisonError;

use crate::domain::audit::{Refusal, minute_of};

/// Most refusal entries counted in memory; past that, each refusal is written on its own.
const MAX_REFUSALS: usize = 10_000;

/// A refusal entry being counted: how many since the last write, and the newest time.
#[derive(Debug)]
pub(super) struct Counted {
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

impl UsageBatch {
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

    /// The unwritten counts (reset to zero); entries of minutes past and fully written are
    /// forgotten.
    pub(super) fn take_refusal_counts(&self, now: i64) -> Vec<RefusalCount> {
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

    pub(super) fn put_back(&self, counts: Vec<RefusalCount>) {
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
}
