//! Expiration rules. An expiration *date* means "valid through that day (UTC)": the token stops
//! working at 00:00 UTC the day after.

use time::{Date, Duration, OffsetDateTime, Time};

/// Default lifetime offered in forms.
pub const DEFAULT_DAYS: i64 = 30;

/// Why an expiration date was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    /// Not a `YYYY-MM-DD` date.
    #[error("Enter the expiration date as YYYY-MM-DD.")]
    Format,
    /// Today or earlier.
    #[error("The expiration date must be in the future.")]
    NotInFuture,
    /// Beyond the configured maximum lifetime.
    #[error("The expiration date can be at most {max_days} days from today ({latest}).")]
    TooFar {
        /// Configured maximum lifetime in days.
        max_days: i64,
        /// The latest date allowed.
        latest: String,
    },
}

/// Formats a date as `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Parses `YYYY-MM-DD` strictly.
pub fn parse_date(s: &str) -> Result<Date, ExpiryError> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    if s.len() != 10 {
        return Err(ExpiryError::Format);
    }
    Date::parse(s, &fmt).map_err(|_| ExpiryError::Format)
}

/// Today's date in UTC.
pub fn today(now: OffsetDateTime) -> Date {
    now.to_offset(time::UtcOffset::UTC).date()
}

/// The latest expiration date allowed today.
pub fn latest_date(today: Date, max_days: i64) -> Date {
    today + Duration::days(max_days)
}

/// The date a form offers by default: 30 days out, or less when the maximum is shorter.
pub fn default_date(today: Date, max_days: i64) -> Date {
    today + Duration::days(DEFAULT_DAYS.min(max_days))
}

/// The expiration date a regenerated token gets by default: the old token's lifetime in whole
/// days (from when it was made to its last valid day), counted from today; at least one day,
/// and no later than the maximum allows.
pub fn rotation_date(created_at: i64, expires_at: i64, today: Date, max_days: i64) -> Date {
    let lifetime = (expires_at - created_at).max(0);
    let days = (lifetime + 86_399) / 86_400 - 1;
    today + Duration::days(days.clamp(1, max_days))
}

/// Longest time a rotated-out token may keep working (24 hours).
pub const MAX_GRACE_SECS: i64 = 86_400;

/// For this long after a rotated-out token stopped working, presenting it to a rotate endpoint
/// is taken for a concurrent retry of the rotation (answered 409), not for a leaked credential.
pub const REUSE_LEEWAY_SECS: i64 = 10;

/// Whether a rotated-out token that stops (stopped) working at `expires_at`, presented to a
/// rotate endpoint at `now`, is a reuse of a retired credential.
pub fn is_reuse(expires_at: i64, now: i64) -> bool {
    now >= expires_at + REUSE_LEEWAY_SECS
}

/// Checks an expiration date and returns the instant (unix seconds) the token stops working.
pub fn validate(date: Date, today: Date, max_days: i64) -> Result<i64, ExpiryError> {
    if date <= today {
        return Err(ExpiryError::NotInFuture);
    }
    let latest = latest_date(today, max_days);
    if date > latest {
        return Err(ExpiryError::TooFar {
            max_days,
            latest: format_date(latest),
        });
    }
    Ok(end_of(date))
}

/// Unix seconds at which a token valid through `date` stops working.
pub fn end_of(date: Date) -> i64 {
    (date + Duration::days(1))
        .with_time(Time::MIDNIGHT)
        .assume_utc()
        .unix_timestamp()
}

/// Whether a token that stops working at `expires_at` is expired at `now` (unix seconds).
pub fn is_expired(expires_at: i64, now: i64) -> bool {
    now >= expires_at
}

/// How long before its expiry a live token is flagged as expiring soon.
pub const EXPIRING_SOON_SECS: i64 = 7 * 86_400;

/// Whether a token that stops working at `expires_at` is live at `now` but stops within
/// [`EXPIRING_SOON_SECS`].
pub fn is_expiring_soon(expires_at: i64, now: i64) -> bool {
    !is_expired(expires_at, now) && expires_at - now <= EXPIRING_SOON_SECS
}

/// Lifecycle state of a token at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// Usable.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked (whether or not it has expired since).
    Revoked,
}

impl TokenStatus {
    /// Every status, in the order filters offer them.
    pub const ALL: [TokenStatus; 3] = [
        TokenStatus::Active,
        TokenStatus::Expired,
        TokenStatus::Revoked,
    ];

    /// The status of a token revoked at `revoked_at` (if ever) that stops working at
    /// `expires_at`, at `now`.
    pub fn at(revoked_at: Option<i64>, expires_at: i64, now: i64) -> Self {
        if revoked_at.is_some() {
            TokenStatus::Revoked
        } else if is_expired(expires_at, now) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }

    /// Lower-case name used in filters and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
        }
    }

    /// Inverse of [`TokenStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        TokenStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Seconds in a day.
const DAY: i64 = 86_400;

/// The two expiry warnings a webhook sends (the seven-day one as early as the dashboard's
/// banner: [`EXPIRING_SOON_SECS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warning {
    SevenDays,
    OneDay,
}

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
        match self {
            Warning::SevenDays => EXPIRING_SOON_SECS,
            Warning::OneDay => DAY,
        }
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
            Warning::SevenDays => left > DAY && left <= EXPIRING_SOON_SECS,
            Warning::OneDay => left > 0 && left <= DAY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regenerated_token_keeps_the_old_lifetime_from_today() {
        let today = time::macros::date!(2026 - 12 - 03);
        let made_on = |d: Date, secs: i64| d.midnight().assume_utc().unix_timestamp() + secs;
        // Made on 1 Dec, valid through 10 Dec: ten days, whatever the hour it was made.
        let until_10 = end_of(time::macros::date!(2026 - 12 - 10));
        for hour in [1, 12 * 3600, 86_399] {
            let created = made_on(time::macros::date!(2026 - 12 - 01), hour);
            assert_eq!(
                rotation_date(created, until_10, today, 365),
                time::macros::date!(2026 - 12 - 12),
                "made at second {hour}"
            );
        }
        // Capped by the maximum, and at least tomorrow.
        let created = made_on(time::macros::date!(2026 - 01 - 01), 0);
        let long = end_of(time::macros::date!(2026 - 12 - 31));
        assert_eq!(
            rotation_date(created, long, today, 30),
            today + Duration::days(30)
        );
        assert_eq!(
            rotation_date(created, created, today, 30),
            today + Duration::days(1)
        );
    }
    use time::macros::{date, datetime};

    #[test]
    fn dates_must_be_in_the_future_and_within_the_maximum() {
        let today = date!(2026 - 11 - 28);
        assert_eq!(
            validate(date!(2026 - 11 - 27), today, 365),
            Err(ExpiryError::NotInFuture)
        );
        assert_eq!(validate(today, today, 365), Err(ExpiryError::NotInFuture));
        assert!(validate(date!(2026 - 11 - 29), today, 365).is_ok());
        assert!(validate(date!(2027 - 11 - 28), today, 365).is_ok());
        assert_eq!(
            validate(date!(2027 - 11 - 29), today, 365),
            Err(ExpiryError::TooFar {
                max_days: 365,
                latest: "2027-11-28".into()
            })
        );
    }

    #[test]
    fn a_token_is_valid_through_its_date_in_utc() {
        let exp = end_of(date!(2026 - 12 - 01));
        assert_eq!(exp, datetime!(2026-12-02 0:00 UTC).unix_timestamp());
        assert!(!is_expired(exp, exp - 1));
        assert!(is_expired(exp, exp));
        assert!(is_expired(exp, exp + 1));
    }

    #[test]
    fn status_and_the_expiring_soon_window() {
        let exp = 1_000_000;
        assert_eq!(TokenStatus::at(None, exp, exp - 1), TokenStatus::Active);
        assert_eq!(TokenStatus::at(None, exp, exp), TokenStatus::Expired);
        assert_eq!(TokenStatus::at(Some(1), exp, exp - 1), TokenStatus::Revoked);
        assert_eq!(TokenStatus::at(Some(1), exp, exp + 1), TokenStatus::Revoked);
        assert!(is_expiring_soon(exp, exp - EXPIRING_SOON_SECS));
        assert!(!is_expiring_soon(exp, exp - EXPIRING_SOON_SECS - 1));
        assert!(is_expiring_soon(exp, exp - 1));
        assert!(
            !is_expiring_soon(exp, exp),
            "an expired token is not expiring"
        );
        for s in TokenStatus::ALL {
            assert_eq!(TokenStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(TokenStatus::parse("Active"), None);
    }

    #[test]
    fn parse_is_strict() {
        assert_eq!(parse_date("2026-12-01"), Ok(date!(2026 - 12 - 01)));
        for bad in [
            "",
            "2026-1-01",
            "2026-02-30",
            "01/12/2026",
            "2026-12-01T00:00",
            "+2026-12-01",
            "９９９９-12-01",
        ] {
            assert_eq!(parse_date(bad), Err(ExpiryError::Format), "{bad}");
        }
        assert_eq!(format_date(date!(2027 - 01 - 05)), "2027-01-05");
    }

    #[test]
    fn default_is_thirty_days_or_the_maximum() {
        let today = date!(2026 - 11 - 28);
        assert_eq!(default_date(today, 365), date!(2026 - 12 - 28));
        assert_eq!(default_date(today, 7), date!(2026 - 12 - 05));
        let now = datetime!(2026-11-28 23:30 -02:00);
        assert_eq!(super::today(now), date!(2026 - 11 - 29));
    }

    #[test]
    fn warnings_at_creation_and_in_the_scan() {
        let now = 1_000_000;
        const DAY: i64 = 86_400;
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
}
