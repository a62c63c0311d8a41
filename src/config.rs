//! The server's settings, declared once: each is a `serve` flag with an environment variable
//! and its default, and [`Config::default`] is what `serve` gets with none of them given.

use clap::{Args, Parser};

/// Settings the server needs at run time.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Served over HTTPS (directly or behind a TLS proxy): `Secure` + `__Host-` cookies and HSTS.
    #[arg(long, env = "CONNECT_TOKENS_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Behind a trusted reverse proxy: take the client address for audit and throttling from
    /// the last entry of the last X-Forwarded-For line, the one the proxy appended (never set
    /// this when clients reach the server directly).
    #[arg(long, env = "CONNECT_TOKENS_TRUSTED_PROXY")]
    pub trusted_proxy: bool,
    /// Longest token lifetime an admin may choose, in days.
    #[arg(long, env = "CONNECT_TOKENS_MAX_TOKEN_DAYS", default_value_t = 365,
          value_parser = clap::value_parser!(i64).range(1..=3650))]
    pub max_token_days: i64,
    /// A console session ends after this many seconds without a request.
    #[arg(long, env = "CONNECT_TOKENS_SESSION_IDLE_SECS", default_value_t = 30 * 60,
          value_parser = clap::value_parser!(i64).range(60..=86_400))]
    pub session_idle_secs: i64,
    /// A console session ends this many seconds after sign-in, however busy.
    #[arg(long, env = "CONNECT_TOKENS_SESSION_ABSOLUTE_SECS", default_value_t = 12 * 3600,
          value_parser = clap::value_parser!(i64).range(60..=30 * 86_400))]
    pub session_absolute_secs: i64,
    /// Failed sign-ins per account within the window before it is throttled.
    #[arg(long, env = "CONNECT_TOKENS_LOGIN_MAX_FAILURES_PER_ACCOUNT", default_value_t = 5,
          value_parser = clap::value_parser!(i64).range(1..=1000))]
    pub login_max_failures_per_account: i64,
    /// Failed sign-ins per source address within the window before it is throttled.
    #[arg(long, env = "CONNECT_TOKENS_LOGIN_MAX_FAILURES_PER_SOURCE", default_value_t = 20,
          value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub login_max_failures_per_source: i64,
    /// Sign-in throttle window, seconds.
    #[arg(long, env = "CONNECT_TOKENS_LOGIN_WINDOW_SECS", default_value_t = 15 * 60,
          value_parser = clap::value_parser!(i64).range(60..=86_400))]
    pub login_window_secs: i64,
    /// A client must send a whole request head within this many seconds (also the longest wait
    /// for the next request on a kept-alive connection).
    #[arg(long, env = "CONNECT_TOKENS_HEADER_READ_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_read_timeout_secs: u64,
    /// A connection that moves no byte either way for this many seconds is closed (a stalled
    /// request body, an idle keep-alive connection).
    #[arg(long, env = "CONNECT_TOKENS_IDLE_TIMEOUT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout_secs: u64,
    /// A request must be read and answered within this many seconds, however slowly its body
    /// trickles in.
    #[arg(long, env = "CONNECT_TOKENS_REQUEST_TIMEOUT_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,
    /// Most client connections open at once (lowered to fit the open-file limit); when full,
    /// the idlest connection is closed to make room.
    #[arg(long, env = "CONNECT_TOKENS_MAX_CONNECTIONS", default_value_t = 25_000,
          value_parser = clap::value_parser!(u64).range(16..=1_000_000))]
    pub max_connections: u64,
    /// At SIGTERM or Ctrl-C, in-flight requests get this many seconds to finish.
    #[arg(long, env = "CONNECT_TOKENS_SHUTDOWN_DEADLINE_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub shutdown_deadline_secs: u64,
    /// At SIGTERM or Ctrl-C, first keep serving this many seconds with `/readyz` answering 503,
    /// so that load balancers stop sending requests here; then stop accepting and drain.
    #[arg(long, env = "CONNECT_TOKENS_SHUTDOWN_DRAIN_SECS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=300))]
    pub shutdown_drain_secs: u64,
    /// Seconds between two writes of tokens' `last_used_at` (the most it lags behind).
    #[arg(long, env = "CONNECT_TOKENS_USAGE_FLUSH_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub usage_flush_secs: u64,
    /// File of the key that encrypts authenticator-app secrets (default: `secret.key` in
    /// --data-dir, made at first start with mode 0600). Every instance on one PostgreSQL
    /// database needs the same file.
    #[arg(long, env = "CONNECT_TOKENS_SECRET_KEY_FILE")]
    pub secret_key_file: Option<std::path::PathBuf>,
    /// The console's address as browsers reach it (`https://tokens.example.com`): passkeys are
    /// bound to it. Without it, a server on a loopback address serves passkeys for
    /// `http://localhost:<port>`, and one on another address offers none.
    #[arg(long, env = "CONNECT_TOKENS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Let webhooks reach loopback, link-local, private and unique-local addresses (a receiver
    /// on this host or the internal network). Off: such targets are refused, judged on the
    /// addresses a name resolves to at each delivery.
    #[arg(long, env = "CONNECT_TOKENS_ALLOW_PRIVATE_WEBHOOKS")]
    pub allow_private_webhooks: bool,
    /// A webhook delivery's whole exchange must end within this many milliseconds.
    #[arg(long, env = "CONNECT_TOKENS_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000, hide = true,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub webhook_timeout_ms: u64,
    /// The first retry of a failed delivery comes this many milliseconds later; each next one
    /// four times later (at most 8 hours apart), for 24 hours.
    #[arg(long, env = "CONNECT_TOKENS_WEBHOOK_FIRST_RETRY_MS", default_value_t = 30_000, hide = true,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub webhook_first_retry_ms: u64,
}

impl Config {
    /// Checks the settings against each other (each one's own range is clap's).
    pub fn check(&self) -> Result<(), String> {
        if self.session_idle_secs > self.session_absolute_secs {
            return Err(format!(
                "--session-idle-secs ({}) cannot exceed --session-absolute-secs ({})",
                self.session_idle_secs, self.session_absolute_secs
            ));
        }
        Ok(())
    }
}

/// Parses nothing but [`Config`], so that its defaults are clap's.
#[derive(Parser)]
#[command(no_binary_name = true)]
struct Defaults {
    #[command(flatten)]
    config: Config,
}

impl Default for Config {
    /// The declared defaults, whatever the environment says.
    fn default() -> Self {
        let mut cmd = <Defaults as clap::CommandFactory>::command();
        // Read no environment variable: a default is a default.
        cmd = cmd.mut_args(|a| a.env(None::<&str>));
        let matches = cmd
            .try_get_matches_from(std::iter::empty::<&str>())
            .expect("every setting has a default");
        <Defaults as clap::FromArgMatches>::from_arg_matches(&matches)
            .expect("defaults parse")
            .config
    }
}

/// The SQLite URL of the embedded database in `data_dir`.
pub fn sqlite_url(data_dir: &std::path::Path) -> String {
    format!("sqlite://{}", data_dir.join("connect-tokens.db").display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_declared_ones() {
        let c = Config::default();
        assert!(!c.secure_cookies && !c.trusted_proxy);
        assert_eq!(c.max_token_days, 365);
        assert_eq!(c.session_idle_secs, 1800);
        assert_eq!(c.session_absolute_secs, 43_200);
        assert_eq!(
            (
                c.login_max_failures_per_account,
                c.login_max_failures_per_source
            ),
            (5, 20)
        );
        assert_eq!(c.login_window_secs, 900);
        assert_eq!(c.usage_flush_secs, 10);
        assert!(!c.allow_private_webhooks);
        assert_eq!(
            (c.webhook_timeout_ms, c.webhook_first_retry_ms),
            (10_000, 30_000)
        );
    }

    #[test]
    fn flags_override_and_bad_values_are_refused() {
        let mut cmd = <Defaults as clap::CommandFactory>::command();
        cmd = cmd.mut_args(|a| a.env(None::<&str>));
        let m = cmd
            .clone()
            .try_get_matches_from(["--max-token-days", "30", "--secure-cookies"])
            .unwrap();
        let c = <Defaults as clap::FromArgMatches>::from_arg_matches(&m)
            .unwrap()
            .config;
        assert_eq!(c.max_token_days, 30);
        assert!(c.secure_cookies);
        assert!(cmd.try_get_matches_from(["--max-token-days", "0"]).is_err());
    }
}
