//! Benchmark: authenticated `GET /api/v2/{fleet}/devices/{uuid}` against `GET /readyz` on the
//! same server in the same run, driven by `wrk` (Debian package) over loopback. Short rounds
//! alternate A-B / B-A so machine noise hits both alike; prints each round, the medians, the
//! median of the per-round throughput ratios (the headline figure) and the server's CPU time
//! per request, which other load on a shared machine disturbs far less than throughput.
//!
//! Run: `cargo bench --bench api_vs_readyz` (needs `wrk`: `apt-get install -y wrk`).

use std::process::Command;

mod api_server;
mod rounds;

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
    let m = rounds::side_by_side(
        ROUNDS,
        "readyz req/s  device GET req/s  ratio   server CPU µs/request readyz / GET",
        rounds::Side {
            url: &readyz_url,
            header: None,
        },
        rounds::Side {
            url: &device_url,
            header: Some(&auth),
        },
    );
    println!(
        "\nmedians over {ROUNDS} rounds: /readyz {:.0} req/s, authenticated device GET {:.0} req/s \
         (ratio of medians {:.2})",
        m.a,
        m.b,
        m.b / m.a
    );
    println!(
        "server CPU per request: /readyz {:.1} µs, device GET {:.1} µs (readyz/GET {:.2})",
        m.cpu_a,
        m.cpu_b,
        m.cpu_a / m.cpu_b
    );
    println!(
        "median of the per-round throughput ratios: {:.2} (goal ≥ 0.9)",
        m.ratio
    );
    let _ = std::fs::remove_dir_all(dir);
}
