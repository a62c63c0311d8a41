//! The command line: `serve`, `admin create|token`, `user create|reset-2fa`, `import-devices`.

mod users;

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::domain::scope::Role;
use crate::issuing::{self, IssueOutcome, SubjectRequest, TokenRequest};
use crate::state::AppState;
use crate::store::Store;

/// connect-tokens: scoped API access tokens for device fleets.
#[derive(Debug, Parser)]
#[command(name = "connect-tokens", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every subcommand.
#[derive(Debug, Args)]
pub struct Global {
    /// Database: `postgres://…` for PostgreSQL; default is the SQLite file in --data-dir.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Largest number of PostgreSQL connections this instance keeps open.
    #[arg(long, env = "CONNECT_TOKENS_DB_POOL_SIZE", global = true, default_value_t = crate::store::DEFAULT_PG_POOL, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_pool_size: u32,
    /// Directory of the embedded SQLite database.
    #[arg(
        long,
        env = "CONNECT_TOKENS_DATA_DIR",
        global = true,
        default_value = "data"
    )]
    pub data_dir: PathBuf,
    /// Log lines on standard error: `text` for people, `json` (one object a line) for log
    /// shippers.
    #[arg(
        long,
        env = "CONNECT_TOKENS_LOG_FORMAT",
        global = true,
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colour only on a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

/// Starts logging to standard error in `format`, filtered by `RUST_LOG` (default
/// `info,sqlx=warn`).
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web console and API.
    Serve(Box<ServeArgs>),
    /// Manage administrators.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage non-admin users.
    #[command(subcommand)]
    User(UserCommand),
    /// Import devices from a CSV file (header: fleet,uuid,name,group,tags,description).
    ImportDevices {
        /// The CSV file.
        file: PathBuf,
        /// Seconds between two progress lines when standard error is not a terminal (0: every
        /// thousand rows); a terminal gets a progress bar.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=3600))]
        progress_every: u64,
    },
    /// Exit 0 when the server at --url answers its liveness check (for container HEALTHCHECKs).
    Healthcheck {
        /// Liveness URL, `http://` or `https://` (the certificate is not checked: nothing secret
        /// is sent, and only the status line is read).
        #[arg(
            long,
            env = "CONNECT_TOKENS_HEALTHCHECK_URL",
            default_value = "http://127.0.0.1:8080/healthz"
        )]
        url: String,
    },
}

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CONNECT_TOKENS_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Seed demo fleets, devices and an admin (password printed once) when the database is empty.
    #[arg(long)]
    pub demo: bool,
    /// Serve HTTPS with this certificate chain (PEM); reloaded with the key at SIGHUP. Implies
    /// --secure-cookies.
    #[arg(long, env = "CONNECT_TOKENS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "CONNECT_TOKENS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve Prometheus metrics at /metrics on this address (its own listener; off by default).
    #[arg(long, env = "CONNECT_TOKENS_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
    /// The server's settings.
    #[command(flatten)]
    pub config: Config,
}

/// `admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an administrator; the password is read from standard input (or prompted).
    Create(CreateUserArgs),
    /// Print a new user token for automation.
    Token {
        /// Whose token.
        #[arg(long)]
        username: String,
        /// What it is for.
        #[arg(long)]
        description: String,
        /// Last valid day, YYYY-MM-DD (default: 30 days from today).
        #[arg(long)]
        expires: Option<String>,
    },
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a non-admin user; the password is read from standard input (or prompted).
    Create(CreateUserArgs),
    /// Remove a locked-out user's second factors (authenticator app, passkeys, recovery codes),
    /// so that their password alone signs them in (and, where two-factor authentication is
    /// required, on to setting it up again). Audited.
    #[command(name = "reset-2fa")]
    ResetTwoFactor {
        /// Whose.
        #[arg(long)]
        username: String,
    },
}

/// Options of `admin create` / `user create`.
#[derive(Debug, Args)]
pub struct CreateUserArgs {
    /// Sign-in name.
    #[arg(long)]
    pub username: String,
    /// Email address.
    #[arg(long, default_value = "")]
    pub email: String,
}

impl Global {
    /// The database URL: explicit, or the SQLite file in the data directory.
    pub fn url(&self) -> anyhow::Result<String> {
        if let Some(u) = &self.database_url {
            return Ok(u.clone());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create data directory {}", self.data_dir.display()))?;
        Ok(crate::config::sqlite_url(&self.data_dir))
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Healthcheck { url } = &cli.command {
        return crate::healthcheck::check(url).await;
    }
    let store = Store::connect_with(&cli.global.url()?, cli.global.db_pool_size)
        .await
        .context("cannot open the database")?;
    match cli.command {
        Command::Serve(args) => serve(store, *args, &cli.global.data_dir).await,
        Command::Admin(AdminCommand::Create(a)) => users::create(&store, a, Role::Admin).await,
        Command::User(UserCommand::Create(a)) => users::create(&store, a, Role::User).await,
        Command::User(UserCommand::ResetTwoFactor { username }) => {
            users::reset_two_factor(&store, &username).await
        }
        Command::Admin(AdminCommand::Token {
            username,
            description,
            expires,
        }) => admin_token(store, username, description, expires).await,
        Command::ImportDevices {
            file,
            progress_every,
        } => {
            let every = std::time::Duration::from_secs(progress_every);
            crate::import::import_csv_file(&store, &file, every).await
        }
        Command::Healthcheck { .. } => unreachable!("handled before the database is opened"),
    }
}

async fn serve(store: Store, args: ServeArgs, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let mut config = args.config;
    config.check().map_err(anyhow::Error::msg)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            config.secure_cookies = true;
            Some(std::sync::Arc::new(
                crate::server::Tls::load(cert, key).map_err(anyhow::Error::msg)?,
            ))
        }
        _ => None,
    };
    if args.demo {
        crate::demo::seed_if_empty(&store).await?;
    }
    let key_file = match &config.secret_key_file {
        Some(file) => file.clone(),
        None => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
            data_dir.join("secret.key")
        }
    };
    let secret_key = crate::auth::secret_key::SecretKey::load_or_create(&key_file)?;
    crate::auth::secret_key::check_against(&store, &secret_key, &key_file.display().to_string())
        .await
        .map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let addr = listener.local_addr()?;
    let mut state = AppState::new(store, config, secret_key)
        .with_passkeys_for(addr.ip())
        .map_err(anyhow::Error::msg)?;
    if state.passkeys.is_none() {
        say("note: no passkeys: start with --public-url to offer them on a non-loopback address");
    }
    let metrics = match args.metrics_bind {
        Some(bind) => {
            let metrics = tokio::net::TcpListener::bind(bind)
                .await
                .with_context(|| format!("cannot listen on {bind} for metrics"))?;
            say(&format!(
                "metrics: http://{}/metrics",
                metrics.local_addr()?
            ));
            state = state.with_metrics();
            Some(metrics)
        }
        None => None,
    };
    if !state.config.secure_cookies {
        say("note: cookies are not marked Secure; behind HTTPS start with --secure-cookies");
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    // Browsers offer passkeys to a named host only: on a loopback address, point at localhost.
    let origin = match &state.config.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None if addr.ip().is_loopback() => format!("{scheme}://localhost:{}", addr.port()),
        None => format!("{scheme}://{addr}"),
    };
    let on_ready = Box::new(move || {
        say(&format!(
            "connect-tokens is listening: sign in at {origin}/login"
        ));
    });
    let serving = crate::Serving {
        tls,
        metrics,
        on_ready: Some(on_ready),
    };
    crate::serve_with(listener, state, serving).await?;
    Ok(())
}

/// Prints a line on standard output; a closed stdout must not bring the server down.
fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

async fn admin_token(
    store: Store,
    username: String,
    description: String,
    expires: Option<String>,
) -> anyhow::Result<()> {
    // The command line issues within the default lifetime limit (it takes no serve settings).
    let max_token_days = Config::default().max_token_days;
    let now = crate::domain::now();
    let today = crate::domain::expiry::today(time::OffsetDateTime::now_utc());
    let expires = expires.unwrap_or_else(|| {
        crate::domain::expiry::format_date(crate::domain::expiry::default_date(
            today,
            max_token_days,
        ))
    });
    let req = TokenRequest {
        description,
        expires,
        subject: SubjectRequest::User(username),
        ..TokenRequest::default()
    };
    let valid = match issuing::validate(&store, max_token_days, &req, now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        Ok(v) => v,
        Err(errors) => bail!(errors.messages().join(" ")),
    };
    match issuing::issue(&store, None, valid, None, "cli", now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        IssueOutcome::Issued(t) => {
            eprintln!("Token ID {} (shown once; store it safely)", t.record.id);
            println!("{}", t.plaintext.expose());
            Ok(())
        }
        IssueOutcome::Replayed(_) => bail!("unexpected replay"),
    }
}
