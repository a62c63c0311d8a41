//! Benchmark: what Prometheus metrics cost on the API path. Two servers on one store, one with
//! metrics off (the default) and one with them on (`--metrics-bind`: every request counted and
//! timed by route, every token authentication counted), take the authenticated device GET in
//! alternating rounds (A-B, then B-A), driven by `wrk` over loopback. Prints each round, the
//! medians and the median of the per-round ratios (goal: metrics cost ≤ 3 %).
//!
//! Run: `cargo bench --bench metrics_cost` (needs `wrk`: `apt-get install -y wrk`).

mod api_server;

use api_server::wrk;
use connect_tokens::{AppState, Config};

const ROUNDS: usize = 20;

#[tokio::main]
async fn main() {
    let bench = api_server::fleet("metrics").await;
    let uuid = bench.devices[4242].uuid.clone();
    let plaintext = api_server::token(&bench.store).await;
    let off = api_server::serve(&bench.store).await;
    let on = api_server::serve_state(
        AppState::new(bench.store.clone(), Config::default()).with_metrics(),
    )
    .await;
    let auth = format!("Authorization: Bearer {plaintext}");
    let url = |addr| format!("http://{addr}/api/v2/bench/devices/{uuid}");
    let (off_url, on_url) = (url(off), url(on));
    println!("round  metrics off req/s  metrics on req/s  on/off   server CPU µs/request off / on");
    wrk(&off_url, Some(&auth), true);
    wrk(&on_url, Some(&auth), true);
    let (mut offs, mut ons, mut ratios, mut cpu_off, mut cpu_on) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        let (a, b) = if round % 2 == 1 {
            let a = wrk(&off_url, Some(&auth), true);
            (a, wrk(&on_url, Some(&auth), true))
        } else {
            let b = wrk(&on_url, Some(&auth), true);
            (wrk(&off_url, Some(&auth), true), b)
        };
        let ratio = b.per_second / a.per_second;
        println!(
            "{round:>5}  {:>17.0}  {:>16.0}  {ratio:.3}   {:>6.1} / {:.1}",
            a.per_second, b.per_second, a.cpu_us_per_request, b.cpu_us_per_request
        );
        offs.push(a.per_second);
        ons.push(b.per_second);
        ratios.push(ratio);
        cpu_off.push(a.cpu_us_per_request);
        cpu_on.push(b.cpu_us_per_request);
    }
    let (a, b) = (api_server::median(&mut offs), api_server::median(&mut ons));
    let (ca, cb) = (
        api_server::median(&mut cpu_off),
        api_server::median(&mut cpu_on),
    );
    println!("\nmedians over {ROUNDS} rounds: metrics off {a:.0} req/s, metrics on {b:.0} req/s");
    println!(
        "server CPU per request: off {ca:.1} µs, on {cb:.1} µs ({:+.1} %)",
        (cb / ca - 1.0) * 100.0
    );
    let ratio = api_server::median(&mut ratios);
    println!(
        "median of the per-round ratios on/off: {ratio:.3} (cost {:.1} %, goal ≤ 3 %)",
        (1.0 - ratio) * 100.0
    );
    let _ = std::fs::remove_dir_all(bench.dir);
}
