//! Pure rules: token format, scope decisions, expiry, names. No I/O, no HTTP, no SQL.

pub mod expiry;
pub mod names;
pub mod scope;
pub mod token;

/// Current time as unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
