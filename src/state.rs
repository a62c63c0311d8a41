//! What every handler can reach.

use std::sync::Arc;

use crate::config::Config;
use crate::store::Store;
use crate::store::usage::UsageBatch;

/// The application's shared state: the database, the settings and the pending usage stamps.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Settings.
    pub config: Arc<Config>,
    /// Pending `last_used_at` stamps of API tokens.
    pub usage: Arc<UsageBatch>,
}

impl AppState {
    /// State over `store` with `config` and nothing pending.
    pub fn new(store: Store, config: Config) -> Self {
        AppState {
            store,
            config: Arc::new(config),
            usage: Arc::default(),
        }
    }
}
