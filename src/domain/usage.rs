//! Usage per token and UTC day (PRODUCT.md §14): what a request counts as, the days a period
//! covers, and the stale-token rule.

use std::collections::BTreeMap;

use super::permission::Permission;

/// Seconds in a day.
pub const DAY_SECS: i64 = 86_400;
/// Days of usage kept; older rows are pruned.
pub const KEPT_DAYS: i64 = 400;
/// The most days the usage API answers for.
pub const MAX_DAYS: i64 = KEPT_DAYS;

/// What one request of a known token counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Use {
    /// Let through.
    Allowed,
    /// Refused, and why (a fixed text, stored as the row's reason).
    Refused(&'static str),
}

impl Use {
    /// The stored reason: `""` for an allowed request.
    pub fn reason(self) -> &'static str {
        match self {
            Use::Allowed => "",
            Use::Refused(why) => why,
        }
    }
}

/// Refusal reasons beside the audit's (`revoked`, `expired`, `user disabled`, `client address
/// not allowed`): a resource outside the token's target (answered 404, not audited) and the
/// token-management API asked with a token that may not manage tokens.
pub const OUT_OF_SCOPE: &str = "out of scope";
/// See [`OUT_OF_SCOPE`].
pub const MAY_NOT_MANAGE: &str = "may not manage tokens";

/// The refusal reason of a missing permission type.
pub fn missing(p: Permission) -> &'static str {
    match p {
        Permission::Read => "missing read permission",
        Permission::Write => "missing write permission",
        Permission::Delete => "missing delete permission",
    }
}

/// The UTC day (days since 1970-01-01) of unix seconds.
pub fn day_of(unix: i64) -> i64 {
    unix.div_euclid(DAY_SECS)
}

/// `YYYY-MM-DD` of a day number.
pub fn date_of(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day * DAY_SECS)
        .map(|t| super::expiry::format_date(t.date()))
        .unwrap_or_default()
}

/// One day's uses of a token (or of all tokens).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayUses {
    /// Days since 1970-01-01 UTC.
    pub day: i64,
    pub allowed: i64,
    /// All refused uses.
    pub refused: i64,
    /// Refused uses by reason.
    pub reasons: BTreeMap<String, i64>,
}

impl DayUses {
    /// Allowed and refused together.
    pub fn total(&self) -> i64 {
        self.allowed + self.refused
    }
}

/// The `days` days up to and including `today`, oldest first, each with its stored rows
/// (`(day, reason, uses)`; rows outside the period are ignored) and zero where there are none.
pub fn days_ending(today: i64, days: i64, rows: &[(i64, String, i64)]) -> Vec<DayUses> {
    let first = today - days + 1;
    let mut out: Vec<DayUses> = (first..=today)
        .map(|day| DayUses {
            day,
            ..DayUses::default()
        })
        .collect();
    for (day, reason, uses) in rows {
        let Some(slot) = usize::try_from(day - first)
            .ok()
            .and_then(|i| out.get_mut(i))
        else {
            continue;
        };
        if reason.is_empty() {
            slot.allowed += uses;
        } else {
            slot.refused += uses;
            *slot.reasons.entry(reason.clone()).or_default() += uses;
        }
    }
    out
}

/// The first day a token unused for `days` days may have been used on and still be stale:
/// a token is stale when its last use — or, never used, its creation — is before
/// `now - days` days.
pub fn stale_cutoff(now: i64, days: i64) -> i64 {
    now - days * DAY_SECS
}

/// The stale filters the Access Tokens list offers, in days.
pub const STALE_CHOICES: [i64; 3] = [30, 90, 180];

/// Whether a token created at `created_at` and last used at `last_used_at` counts as unused
/// for `days` days at `now` (what the list's filter selects in SQL).
pub fn is_stale(created_at: i64, last_used_at: Option<i64>, now: i64, days: i64) -> bool {
    last_used_at.unwrap_or(created_at) < stale_cutoff(now, days)
}

/// Live tokens expiring per week over the next `weeks` weeks from `today` (week 0 is today and
/// the six days after it), from the live tokens per UTC day of their expiry moment
/// (`(day, count)`, the counts the dashboard keeps).
pub fn expiring_per_week(today: i64, weeks: i64, per_day: &[(i64, i64)]) -> Vec<i64> {
    let mut out = vec![0; usize::try_from(weeks).unwrap_or(0)];
    for &(day, count) in per_day {
        if day < today {
            continue;
        }
        if let Some(slot) = usize::try_from((day - today) / 7)
            .ok()
            .and_then(|w| out.get_mut(w))
        {
            *slot += count;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_and_dated() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(86_399), 0);
        assert_eq!(day_of(86_400), 1);
        assert_eq!(day_of(-1), -1);
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(day_of(1_796_256_000)), "2026-12-03");
    }

    #[test]
    fn a_period_is_zero_filled_oldest_first_and_splits_refusals_by_reason() {
        let rows = vec![
            (100, String::new(), 5),
            (100, "expired".to_owned(), 2),
            (100, OUT_OF_SCOPE.to_owned(), 1),
            (98, String::new(), 7),
            (90, String::new(), 99),  // before the period
            (101, String::new(), 99), // after it
        ];
        let days = days_ending(100, 3, &rows);
        assert_eq!(
            days.iter().map(|d| d.day).collect::<Vec<_>>(),
            [98, 99, 100]
        );
        assert_eq!((days[0].allowed, days[0].refused), (7, 0));
        assert_eq!(
            days[1],
            DayUses {
                day: 99,
                ..DayUses::default()
            }
        );
        assert_eq!(
            (days[2].allowed, days[2].refused, days[2].total()),
            (5, 3, 8)
        );
        assert_eq!(days[2].reasons["expired"], 2);
        assert_eq!(days[2].reasons[OUT_OF_SCOPE], 1);
    }

    #[test]
    fn stale_means_no_use_in_the_period_or_never_used_and_older() {
        let now = 1_000 * DAY_SECS;
        let day = DAY_SECS;
        assert!(is_stale(0, Some(now - 31 * day), now, 30));
        assert!(!is_stale(0, Some(now - 29 * day), now, 30));
        assert!(is_stale(now - 31 * day, None, now, 30));
        assert!(
            !is_stale(now - 29 * day, None, now, 30),
            "new, not yet used"
        );
        assert!(!is_stale(now - 100 * day, Some(now - 91 * day), now, 180));
        assert_eq!(Use::Allowed.reason(), "");
        assert_eq!(
            Use::Refused(missing(Permission::Write)).reason(),
            "missing write permission"
        );
    }

    #[test]
    fn expiry_is_bucketed_by_week_from_today() {
        let per_day = [(10, 4), (16, 1), (17, 2), (10 + 12 * 7, 9), (5, 8)];
        let weeks = expiring_per_week(10, 12, &per_day);
        assert_eq!(weeks.len(), 12);
        assert_eq!(weeks[0], 4 + 1, "days 10..=16");
        assert_eq!(weeks[1], 2);
        assert_eq!(
            weeks.iter().sum::<i64>(),
            7,
            "past and too far are left out"
        );
    }
}
