//! Benchmark: authenticated `GET /api/v2/{fleet}/devices/{uuid}` against `GET /readyz` on the
//! same server in the same run, driven by `wrk` (Debian package) over loopback. Short rounds
//! alternate A-B / B-A so machine noise hits both alike; prints each round, the medians, the
//! median of the per-round throughput ratios (the headline figure) and the server's CPU time
//! per request, which other load on a shared machine disturbs far less than throughput.
//!
//! Run: `cargo bench --bench api_vs_readyz` (needs `wrk`: `apt-get install -y wrk`).

use std::process::Command;

mod api_server;

use api_server::wrk;

const ROUNDS: usize = 20;

/// Sends `n` GET requests one after another with curl (one process, one keep-alive
/// connection, outside the measured process); each must answer 200.
fn sequential_requests(url: &str, header: &str, n: usize) {
    use std::io::Write;
    let mut curl = Command::new("curl")
        .args(["-s", "-K", "-", "-H", header, "-w", "%{http_code}\\n"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl is needed");
    let config = format!("url = \"{url}\"\noutput = \"/dev/null\"\n").repeat(n);
    curl.stdin
        .take()
        .unwrap()
        .write_all(config.as_bytes())
        .unwrap();
    let out = curl.wait_with_output().unwrap();
    let codes = String::from_utf8_lossy(&out.stdout);
    assert_eq!(codes.lines().filter(|c| *c == "200").count(), n, "{codes}");
}

#[tokio::main]
async fn main() {
    let api_server::Bench {
        dir,
        store,
        devices,
    } = api_server::fleet("api").await;
    let uuid = devices[4242].uuid.clone();
    let plaintext = api_server::token(&store).await;
    let addr = api_server::serve(&store).await;
    let device_url = format!("http://{addr}/api/v2/bench/devices/{uuid}");
    let auth = format!("Authorization: Bearer {plaintext}");
    let readyz_url = format!("http://{addr}/readyz");
    let check = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            &auth,
            &device_url,
        ])
        .output();
    if let Ok(o) = check {
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "200",
            "the device request must succeed"
        );
    }
    let (mut api, mut ready) = (Vec::new(), Vec::new());
    // Profiling aid: `CT_BENCH_ONLY=api|readyz CT_BENCH_REQUESTS=n` sends exactly n requests of
    // one kind over one keep-alive connection and stops, so two runs under
    // `valgrind --tool=callgrind` with different n give instructions per request.
    if let Ok(only) = std::env::var("CT_BENCH_ONLY") {
        let n: usize = std::env::var("CT_BENCH_REQUESTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        let (url, header) = if only == "api" {
            (&device_url, auth.as_str())
        } else {
            (&readyz_url, "X-Nothing: 1")
        };
        sequential_requests(url, header, n);
        println!("{n} requests to {only} done");
        return;
    }
    println!("round  readyz req/s  device GET req/s  ratio   server CPU µs/request readyz / GET");
    // One unrecorded pass of each warms the page cache, the statement caches and the pool.
    wrk(&readyz_url, None, true);
    wrk(&device_url, Some(&auth), true);
    let (mut ratios, mut cpu_ready, mut cpu_api) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        // A-B in odd rounds, B-A in even ones, so a drift in machine load favours neither.
        let (r, a) = if round % 2 == 1 {
            let r = wrk(&readyz_url, None, true);
            (r, wrk(&device_url, Some(&auth), true))
        } else {
            let a = wrk(&device_url, Some(&auth), true);
            (wrk(&readyz_url, None, true), a)
        };
        let ratio = a.per_second / r.per_second;
        println!(
            "{round:>5}  {:>12.0}  {:>16.0}  {ratio:.2}   {:>6.1} / {:.1}",
            r.per_second, a.per_second, r.cpu_us_per_request, a.cpu_us_per_request
        );
        ready.push(r.per_second);
        api.push(a.per_second);
        ratios.push(ratio);
        cpu_ready.push(r.cpu_us_per_request);
        cpu_api.push(a.cpu_us_per_request);
    }
    let (r, a) = (api_server::median(&mut ready), api_server::median(&mut api));
    let (cr, ca) = (
        api_server::median(&mut cpu_ready),
        api_server::median(&mut cpu_api),
    );
    println!(
        "\nmedians over {ROUNDS} rounds: /readyz {r:.0} req/s, authenticated device GET {a:.0} req/s \
         (ratio of medians {:.2})",
        a / r
    );
    println!(
        "server CPU per request: /readyz {cr:.1} µs, device GET {ca:.1} µs (readyz/GET {:.2})",
        cr / ca
    );
    println!(
        "median of the per-round throughput ratios: {:.2} (goal ≥ 0.9)",
        api_server::median(&mut ratios)
    );
    let _ = std::fs::remove_dir_all(dir);
}
