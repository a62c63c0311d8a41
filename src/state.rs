//! What every handler can reach.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::auth::passkeys::Passkeys;
use crate::auth::secret_key::SecretKey;
use crate::config::Config;
use crate::metrics::{AuthOutcome, Metrics};
use crate::store::Store;
use crate::store::usage::UsageBatch;

/// The application's shared state: the database, the settings and the pending usage stamps.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Settings.
    pub config: Arc<Config>,
    /// The key that encrypts authenticator-app secrets.
    pub secret_key: Arc<SecretKey>,
    /// The WebAuthn relying party, when this server offers passkeys.
    pub passkeys: Option<Arc<Passkeys>>,
    /// Pending `last_used_at` stamps of API tokens.
    pub usage: Arc<UsageBatch>,
    /// Counters for `/metrics`, when the server exposes them.
    pub metrics: Option<Arc<Metrics>>,
    /// Set at shutdown while the server still serves but wants no new traffic.
    draining: Arc<AtomicBool>,
}

impl AppState {
    /// State over `store` with `config`, secrets sealed by `secret_key`, nothing pending.
    pub fn new(store: Store, config: Config, secret_key: SecretKey) -> Self {
        // A server on a loopback address (`serve` says otherwise when it is not).
        let passkeys = Passkeys::configure(config.public_url.as_deref(), true)
            .ok()
            .flatten()
            .map(Arc::new);
        AppState {
            store,
            config: Arc::new(config),
            secret_key: Arc::new(secret_key),
            passkeys,
            usage: Arc::default(),
            metrics: None,
            draining: Arc::default(),
        }
    }

    /// Passkeys as a server listening on `bind` offers them.
    pub fn with_passkeys_for(mut self, bind: std::net::IpAddr) -> Result<Self, String> {
        let public_url = self.config.public_url.as_deref();
        self.passkeys = Passkeys::configure(public_url, bind.is_loopback())?.map(Arc::new);
        Ok(self)
    }

    /// From now on `/readyz` tells load balancers to send nothing more here.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether the server is shutting down.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The same state, counting what `/metrics` shows.
    pub fn with_metrics(mut self) -> Self {
        self.metrics = Some(Arc::new(Metrics::new()));
        self
    }

    /// Counts a bearer token judged (when metrics are on).
    pub fn count_authentication(&self, outcome: AuthOutcome) {
        if let Some(metrics) = &self.metrics {
            metrics.authentication(outcome);
        }
    }
}
