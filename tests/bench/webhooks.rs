//! Benchmark: webhook deliveries. (1) How fast one instance drains 10,000 queued deliveries to
//! a local receiver (signing, sending, recording each); (2) the API's throughput (authenticated
//! device GET, wrk, 1-s runs) while 10,000 deliveries drain, against runs just before and just
//! after with nothing to send. Goal: the API slows by at most 10 % while deliveries drain.
//!
//! Run: `cargo bench --bench webhooks` (needs `wrk`: `apt-get install -y wrk`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use connect_tokens::auth::secret_key::SecretKey;
use connect_tokens::domain::scope::{Permissions, Target};
use connect_tokens::domain::token::TokenKind;
use connect_tokens::domain::webhook::{Event, Events, TokenFacts};
use connect_tokens::store::Store;
use connect_tokens::store::effects::Effects;
use connect_tokens::store::webhooks::EndpointSettings;
use connect_tokens::{AppState, Config};

mod api_server;
mod stored_endpoint;

const DELIVERIES: usize = 10_000;

/// A receiver answering 204 to everything, counting, on its own one-thread runtime.
fn receiver() -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let app = axum::Router::new().fallback(move || {
                    counted.fetch_add(1, Ordering::Relaxed);
                    async { axum::http::StatusCode::NO_CONTENT }
                });
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
    });
    (url, count)
}

/// Queues `n` `token.created` events for `endpoint` while it is disabled (they wait), then
/// enables it, which makes them all due from that instant.
async fn queue_paused(store: &Store, endpoint: &str, url: &str, n: usize) {
    let mut settings = EndpointSettings {
        url: url.into(),
        description: "bench".into(),
        events: Events::ALL,
        enabled: false,
    };
    let now = connect_tokens::domain::now();
    let facts = TokenFacts {
        id: uuid::Uuid::new_v4().to_string(),
        kind: TokenKind::DeviceDetails,
        description: "bench".into(),
        target: Some(Target::Fleet("bench".into())),
        user: None,
        permissions: Permissions::from_bits(1),
        expires_at: now + 86_400 * 30,
    };
    // Queued in the transaction that disables the endpoint, as any event is queued.
    let effects = Effects {
        audit: vec![],
        events: (0..n)
            .map(|_| Event::created(&facts, "bench", None, now))
            .collect(),
    };
    store
        .update_webhook_endpoint(endpoint, &settings, &effects, now)
        .await
        .unwrap();
    settings.enabled = true;
    store
        .update_webhook_endpoint(endpoint, &settings, &Effects::default(), now)
        .await
        .unwrap();
}

/// Waits until `count` reaches `n`; the time it took.
async fn drained(count: &AtomicUsize, n: usize, started: Instant) -> Duration {
    while count.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::main]
async fn main() {
    let api_server::Bench {
        dir,
        store,
        devices,
    } = api_server::fleet("webhooks").await;
    let uuid = devices[4242].uuid.clone();
    let plaintext = api_server::token(&store).await;
    let key = SecretKey::generate();
    let (url, count) = receiver();
    // The endpoint, its secret sealed as the tab seals it.
    let (endpoint, _) = stored_endpoint::stored_endpoint(&store, &key, &url, "bench").await;
    let config = Config {
        allow_private_webhooks: true,
        ..Config::default()
    };
    let addr = api_server::serve_state(AppState::new(store.clone(), config, key)).await;
    let device_url = format!("http://{addr}/api/v2/bench/devices/{uuid}");
    let auth = format!("Authorization: Bearer {plaintext}");
    let api = || api_server::wrk(&device_url, Some(&auth), true).per_second;
    api();

    // (1) Draining alone.
    queue_paused(&store, &endpoint, &url, DELIVERIES).await;
    let alone = drained(&count, DELIVERIES, Instant::now()).await;
    println!(
        "drain alone: {DELIVERIES} deliveries in {:.2} s = {:.0} deliveries/s",
        alone.as_secs_f64(),
        DELIVERIES as f64 / alone.as_secs_f64()
    );

    // (2) The API before, while and after 10,000 deliveries drain.
    let mut before: Vec<f64> = (0..5).map(|_| api()).collect();
    count.store(0, Ordering::Relaxed);
    queue_paused(&store, &endpoint, &url, DELIVERIES).await;
    let started = Instant::now();
    let mut during = vec![];
    while count.load(Ordering::Relaxed) < DELIVERIES * 9 / 10 {
        during.push(api());
        println!(
            "  while draining: {:.0} req/s ({} delivered)",
            during.last().unwrap(),
            count.load(Ordering::Relaxed)
        );
    }
    let loaded = drained(&count, DELIVERIES, started).await;
    let mut after: Vec<f64> = (0..5).map(|_| api()).collect();
    before.append(&mut after);
    let idle = api_server::median(&mut before);
    let busy = api_server::median(&mut during);
    println!(
        "drain under API load: {DELIVERIES} deliveries in {:.2} s = {:.0} deliveries/s",
        loaded.as_secs_f64(),
        DELIVERIES as f64 / loaded.as_secs_f64()
    );
    println!(
        "API device GET: {idle:.0} req/s with nothing to send (median of 10 runs), {busy:.0} req/s \
         while draining (median of {} runs): ratio {:.2} (goal ≥ 0.90)",
        during.len(),
        busy / idle
    );
    let _ = std::fs::remove_dir_all(dir);
}
