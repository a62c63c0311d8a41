//! Runtime settings shared by every subcommand.

/// Settings the server needs at run time.
#[derive(Debug, Clone)]
pub struct Config {
    /// Cookies get `Secure` and the `__Host-` prefix, and HSTS is sent (set when served over HTTPS).
    pub secure_cookies: bool,
    /// Maximum token lifetime in days.
    pub max_token_days: i64,
    /// Idle session timeout, seconds.
    pub session_idle_secs: i64,
    /// Absolute session timeout, seconds.
    pub session_absolute_secs: i64,
    /// Failed sign-ins per account within the window before it is throttled.
    pub login_max_failures_per_account: i64,
    /// Failed sign-ins per source address within the window before it is throttled.
    pub login_max_failures_per_source: i64,
    /// Throttle window, seconds.
    pub login_window_secs: i64,
    /// A trusted reverse proxy appends the client's address to `X-Forwarded-For`.
    pub trusted_proxy: bool,
    /// Seconds between two writes of tokens' `last_used_at` (the most it lags behind).
    pub usage_flush_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            secure_cookies: false,
            max_token_days: 365,
            session_idle_secs: 30 * 60,
            session_absolute_secs: 12 * 3600,
            login_max_failures_per_account: 5,
            login_max_failures_per_source: 20,
            login_window_secs: 15 * 60,
            usage_flush_secs: 10,
            trusted_proxy: false,
        }
    }
}

/// The SQLite URL of the embedded database in `data_dir`.
pub fn sqlite_url(data_dir: &std::path::Path) -> String {
    format!("sqlite://{}", data_dir.join("connect-tokens.db").display())
}
