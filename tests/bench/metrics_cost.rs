//! Benchmark: what Prometheus metrics cost on the API path. Two servers on one store, one with
//! metrics off (the default) and one with them on (`--metrics-bind`: every request counted and
//! timed by route, every token authentication counted), take the authenticated device GET in
//! alternating rounds (A-B, then B-A), driven by `wrk` over loopback. Prints each round, the
//! medians and the median of the per-round ratios (goal: metrics cost ≤ 3 %).
//!
//! Run: `cargo bench --bench metrics_cost` (needs `wrk`: `apt-get install -y wrk`).

mod api_server;
mod rounds;

use connect_tokens::{AppState, Config};

const ROUNDS: usize = 20;

#[tokio::main]
async fn main() {
    let bench = api_server::fleet("metrics").await;
    let uuid = bench.devices[4242].uuid.clone();
    let plaintext = api_server::token(&bench.store).await;
    let off = api_server::serve(&bench.store).await;
    let on = api_server::serve_state(
        AppState::new(
            bench.store.clone(),
            Config::default(),
            connect_tokens::auth::secret_key::SecretKey::generate(),
        )
        .with_metrics(),
    )
    .await;
    let auth = format!("Authorization: Bearer {plaintext}");
    let url = |addr| format!("http://{addr}/api/v2/bench/devices/{uuid}");
    let (off_url, on_url) = (url(off), url(on));
    let m = rounds::side_by_side(
        ROUNDS,
        "metrics off req/s  metrics on req/s  on/off   server CPU µs/request off / on",
        rounds::Side {
            url: &off_url,
            header: Some(&auth),
        },
        rounds::Side {
            url: &on_url,
            header: Some(&auth),
        },
    );
    println!(
        "\nmedians over {ROUNDS} rounds: metrics off {:.0} req/s, metrics on {:.0} req/s",
        m.a, m.b
    );
    println!(
        "server CPU per request: off {:.1} µs, on {:.1} µs ({:+.1} %)",
        m.cpu_a,
        m.cpu_b,
        (m.cpu_b / m.cpu_a - 1.0) * 100.0
    );
    println!(
        "median of the per-round ratios on/off: {:.3} (cost {:.1} %, goal ≤ 3 %)",
        m.ratio,
        (1.0 - m.ratio) * 100.0
    );
    let _ = std::fs::remove_dir_all(bench.dir);
}
