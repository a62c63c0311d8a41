//! Webhooks beyond the database: the worker every instance runs (claim due deliveries, sign,
//! send, record the outcome and the next attempt), the expiry scan that queues warnings, and
//! the endpoint operations of the Webhooks tab ([`endpoints`]). Events enter the outbox where
//! the change they report is written ([`crate::store::effects::Effects`]).

pub mod client;
pub mod endpoints;

use std::sync::Arc;
use std::time::Duration;

use crate::auth::secret_key::SecretKey;
use crate::config::Config;
use crate::domain::expiry::Warning;
use crate::domain::webhook_delivery as delivery;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::outbox::{Attempt, Claimed, Outcome};

pub use client::Sender;

/// Deliveries one instance has in flight at most (a slow receiver holds one of them, not the
/// others).
const IN_FLIGHT: usize = 16;

/// Deliveries one instance starts per second at most, so that a backlog drains beside the API
/// without slowing it by more than a few per cent (`cargo bench --bench webhooks`); 10,000
/// take half a minute.
const PER_SECOND: f64 = 300.0;

/// How long the worker sleeps when nothing is due.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// How often the expiry scan runs (the spec's bar: at least once a minute).
const SCAN_EVERY: Duration = Duration::from_secs(30);

/// Tokens one scan transaction looks at.
const SCAN_BATCH: i64 = 500;

/// Finished deliveries are kept this long for the deliveries list.
const KEEP_FINISHED_MS: i64 = 30 * 86_400 * 1000;

pub use crate::domain::now_ms;

/// Owner (associated data) of an endpoint's sealed secret.
pub(crate) fn secret_owner(endpoint_id: &str) -> String {
    format!("webhook:{endpoint_id}")
}

/// Sends what is due, one batch at a time.
#[derive(Debug, Clone)]
pub struct Worker {
    store: Store,
    key: Arc<SecretKey>,
    sender: Sender,
    first_retry_ms: i64,
    /// A claimed delivery is another instance's to take after this long.
    lease_ms: i64,
    /// Attempts counted for `/metrics`, when the server exposes them.
    metrics: Option<Arc<Metrics>>,
}

impl Worker {
    /// A worker with the server's settings.
    pub fn new(
        store: Store,
        key: Arc<SecretKey>,
        config: &Config,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, String> {
        let timeout = Duration::from_millis(config.webhook_timeout_ms);
        Ok(Worker {
            store,
            key,
            sender: Sender::new(config.allow_private_webhooks, timeout)?,
            first_retry_ms: i64::try_from(config.webhook_first_retry_ms).unwrap_or(30_000),
            // A send ends within the timeout and is recorded within the database's busy timeout
            // after that: twice that and more before anyone else may take it over.
            lease_ms: 2 * i64::try_from(config.webhook_timeout_ms).unwrap_or(10_000) + 10_000,
            metrics,
        })
    }

    /// One attempt of a claimed delivery.
    async fn attempt(&self, c: Claimed) -> Attempt {
        let at_ms = now_ms();
        let outcome = if c.enabled {
            self.send(&c, at_ms).await
        } else {
            Outcome::Paused
        };
        if let Some(metrics) = &self.metrics {
            metrics.webhook_attempt(match &outcome {
                Outcome::Delivered { .. } => "delivered",
                Outcome::Failed {
                    due_ms: Some(_), ..
                } => "retry",
                Outcome::Failed { due_ms: None, .. } => "failed",
                Outcome::Paused => "paused",
            });
        }
        Attempt {
            id: c.id,
            claim: c.claim,
            at_ms,
            outcome,
        }
    }

    async fn send(&self, c: &Claimed, at_ms: i64) -> Outcome {
        let timestamp = at_ms / 1000;
        let sent = match self.signatures(c, timestamp) {
            Some(signature) => {
                let req = client::Request {
                    url: &c.url,
                    msg_id: &c.id,
                    timestamp,
                    signature: &signature,
                    body: &c.body,
                };
                self.sender.send(&req).await
            }
            None => Err("the signing secret cannot be read with this server's secret key".into()),
        };
        let retry = || {
            delivery::next_attempt_ms(
                c.retry_from_ms,
                c.attempts,
                now_ms(),
                self.first_retry_ms,
                jitter(),
            )
        };
        match sent {
            Ok(status) if (200..300).contains(&status) => Outcome::Delivered {
                status: i64::from(status),
            },
            Ok(status) => Outcome::Failed {
                status: Some(i64::from(status)),
                error: if (300..400).contains(&status) {
                    "a redirect: not followed".into()
                } else {
                    format!("answered {status}")
                },
                due_ms: retry(),
            },
            Err(error) => Outcome::Failed {
                status: None,
                error,
                due_ms: retry(),
            },
        }
    }

    /// The `webhook-signature` value: the current secret's signature, and the previous
    /// secret's beside it for a day after a rotation.
    fn signatures(&self, c: &Claimed, timestamp: i64) -> Option<String> {
        let owner = secret_owner(&c.endpoint_id);
        let sign = |sealed: &str| {
            let secret = String::from_utf8(self.key.open(&owner, sealed)?).ok()?;
            let key = delivery::secret_key(&secret)?;
            Some(delivery::signature(&key, &c.id, timestamp, &c.body))
        };
        let mut value = sign(&c.secret)?;
        if let (Some(previous), Some(until)) = (&c.previous_secret, c.previous_until)
            && until > timestamp
            && let Some(old) = sign(previous)
        {
            value = format!("{value} {old}");
        }
        Some(value)
    }

    /// Runs forever: claims what is due as slots free up (at most [`IN_FLIGHT`] at once, at
    /// most [`PER_SECOND`] started a second) and sends each on its own task; the outcomes are
    /// recorded as they come, those that come together in one transaction. Sleeps a moment
    /// when nothing is due.
    pub async fn run(self) {
        let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        let (done, outcomes) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(record(self.store.clone(), outcomes));
        loop {
            let Ok(first) = slots.clone().acquire_owned().await else {
                return;
            };
            let mut permits = vec![first];
            while permits.len() < IN_FLIGHT {
                match slots.clone().try_acquire_owned() {
                    Ok(p) => permits.push(p),
                    Err(_) => break,
                }
            }
            let wanted = i64::try_from(permits.len()).unwrap_or(1);
            let claimed = match self.store.claim_deliveries(self.lease_ms, wanted).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook deliveries could not be claimed");
                    tokio::time::sleep(IDLE_POLL * 4).await;
                    continue;
                }
            };
            if claimed.is_empty() {
                drop(permits);
                tokio::time::sleep(IDLE_POLL).await;
                continue;
            }
            let n = claimed.len();
            for (c, permit) in claimed.into_iter().zip(permits) {
                let (worker, done) = (self.clone(), done.clone());
                tokio::spawn(async move {
                    if done.send(worker.attempt(c).await).is_err() {
                        tracing::error!("the webhook recorder stopped; attempts go unrecorded");
                    }
                    drop(permit);
                });
            }
            #[allow(clippy::cast_precision_loss)]
            tokio::time::sleep(Duration::from_secs_f64(n as f64 / PER_SECOND)).await;
        }
    }
}

/// Records attempts' outcomes as they arrive, those waiting together in one transaction. One
/// that cannot be recorded is left to its lease: the delivery is sent again.
async fn record(store: Store, mut outcomes: tokio::sync::mpsc::UnboundedReceiver<Attempt>) {
    let mut batch = Vec::new();
    while outcomes.recv_many(&mut batch, 64).await > 0 {
        // A busy or unreachable database is tried again a few times (recording twice is
        // harmless: the claim id is cleared by the first).
        for wait_ms in [50, 200, 1000, 3000, 0] {
            match store.record_attempts(&batch).await {
                Ok(()) => break,
                Err(e) if wait_ms == 0 => {
                    tracing::warn!(error = %e, "webhook attempts could not be recorded; they will be sent again");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(wait_ms)).await,
            }
        }
        batch.clear();
    }
}

/// A uniform number in [0, 1] for a retry's jitter.
fn jitter() -> f64 {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).expect("the OS random source works");
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
}

/// Queues every expiry warning that has come due (both warnings, in batches).
pub async fn scan_expiring(store: &Store, now: i64) -> Result<usize, crate::store::StoreError> {
    let mut seen = 0;
    for warning in Warning::ALL {
        loop {
            let n = store.scan_expiring(warning, now, SCAN_BATCH).await?;
            seen += n;
            if i64::try_from(n).unwrap_or(0) < SCAN_BATCH {
                break;
            }
        }
    }
    Ok(seen)
}

/// Starts this instance's worker, and beside it every 30 s the expiry scan, the re-arming of
/// paused deliveries whose endpoint is enabled, and pruning.
pub fn spawn(
    store: Store,
    key: Arc<SecretKey>,
    config: &Config,
    metrics: Option<Arc<Metrics>>,
) -> Result<(), String> {
    let worker = Worker::new(store.clone(), key, config, metrics)?;
    tokio::spawn(worker.run());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SCAN_EVERY);
        loop {
            tick.tick().await;
            if let Err(e) = scan_expiring(&store, crate::domain::now()).await {
                tracing::warn!(error = %e, "the webhook expiry scan failed");
            }
            if let Err(e) = store.rearm_paused(now_ms()).await {
                tracing::warn!(error = %e, "paused webhook deliveries could not be re-armed");
            }
            if let Err(e) = store.prune_deliveries(now_ms() - KEEP_FINISHED_MS).await {
                tracing::warn!(error = %e, "old webhook deliveries could not be pruned");
            }
        }
    });
    Ok(())
}
