//! Pure rules: token format, scope decisions, expiry and status, names and device fields, audit
//! actions, webhook events and targets. No I/O, no HTTP, no SQL.

pub mod audit;
pub mod cidr;
pub mod device;
pub mod expiry;
pub mod export;
pub mod names;
pub mod permission;
pub mod refusal;
pub mod scope;
pub mod text;
pub mod token;
pub mod two_factor;
pub mod usage;
pub mod webhook;
pub mod webhook_delivery;
pub mod webhook_target;

/// Current time as unix milliseconds.
pub fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

/// Current time as unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
