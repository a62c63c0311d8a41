//! What the API benchmarks share: a SQLite store with fleet `bench` of 10,000 devices, device
//! details tokens on it, and the real server on its own runtime threads (wrk measures from
//! another process).

use std::net::SocketAddr;
use std::path::PathBuf;

use connect_tokens::domain::scope::{Permissions, Target};
use connect_tokens::domain::token::{self, TokenKind};
use connect_tokens::store::devices::Device;
use connect_tokens::store::fleets::Fleet;
use connect_tokens::store::tokens::NewToken;
use connect_tokens::{AppState, Config, Store};

/// The benchmark's data: its folder, store and devices.
pub struct Bench {
    pub dir: PathBuf,
    pub store: Store,
    pub devices: Vec<Device>,
}

/// A fresh store in a temporary folder named after `tag`, with fleet `bench` of 10,000 devices.
pub async fn fleet(tag: &str) -> Bench {
    let dir = std::env::temp_dir().join(format!("ct-bench-{tag}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::connect(&connect_tokens::config::sqlite_url(&dir))
        .await
        .unwrap();
    let now = connect_tokens::domain::now();
    let fleet = Fleet {
        key: "bench".into(),
        name: "Bench".into(),
        description: String::new(),
    };
    store.create_fleet(&fleet, now).await.unwrap();
    let devices: Vec<Device> = connect_tokens::demo::demo_devices(now, 10_000)
        .into_iter()
        .map(|d| Device {
            fleet_key: "bench".into(),
            ..d
        })
        .collect();
    store.insert_devices(&devices).await.unwrap();
    Bench {
        dir,
        store,
        devices,
    }
}

/// Stores a device details token with every permission on fleet `bench`; returns its plaintext.
pub async fn token(store: &Store) -> String {
    let now = connect_tokens::domain::now();
    let t = token::generate(TokenKind::DeviceDetails);
    let target = Target::Fleet("bench".into());
    let new = NewToken {
        kind: TokenKind::DeviceDetails,
        hash: &t.hash,
        hint: &t.hint,
        description: "bench",
        user_id: None,
        target: Some(&target),
        permissions: Permissions::ALL,
        created_by: None,
        expires_at: now + 86_400,
        form_nonce: None,
    };
    store.insert_token(&new, now).await.unwrap();
    t.plaintext.expose().to_owned()
}

/// Serves `store` on its own runtime thread pool; returns the address once it answers.
pub async fn serve(store: &Store) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let server_store = store.clone();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                connect_tokens::serve(listener, AppState::new(server_store, Config::default()))
                    .await
                    .unwrap();
            });
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    addr
}

/// The median of `v` (sorted in place).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The `Requests/sec:` figure of a wrk run's output.
pub fn requests_per_second(wrk_output: &str) -> f64 {
    wrk_output
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected wrk output: {wrk_output}"))
}
