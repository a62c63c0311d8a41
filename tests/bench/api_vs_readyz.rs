//! Benchmark: authenticated `GET /api/v2/{fleet}/devices/{uuid}` against `GET /readyz` on the
//! same server in the same run, driven by `wrk` (Debian package) over loopback. Rounds
//! alternate A/B so machine noise hits both alike; prints each round, the medians and the ratio.
//!
//! Run: `cargo bench --bench api_vs_readyz` (needs `wrk`: `apt-get install -y wrk`).

use std::process::Command;

use connect_tokens::domain::scope::{Permissions, Target};
use connect_tokens::domain::token::{self, TokenKind};
use connect_tokens::store::devices::Device;
use connect_tokens::store::fleets::Fleet;
use connect_tokens::store::tokens::NewToken;
use connect_tokens::{AppState, Config, Store};

const ROUNDS: usize = 10;
const SECONDS: &str = "2s";

fn wrk(url: &str, header: Option<&str>) -> f64 {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", "-c32", "-d", SECONDS, "--latency"]);
    if let Some(h) = header {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("wrk is needed: apt-get install -y wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    let non2xx = text.lines().find(|l| l.contains("Non-2xx"));
    assert!(non2xx.is_none(), "errors during the run: {text}");
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected wrk output: {text}"))
}

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

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("ct-bench-api-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::connect(&connect_tokens::config::sqlite_url(&dir))
        .await
        .unwrap();
    let now = connect_tokens::domain::now();
    store
        .create_fleet(
            &Fleet {
                key: "bench".into(),
                name: "Bench".into(),
                description: String::new(),
            },
            now,
        )
        .await
        .unwrap();
    let devices: Vec<Device> = connect_tokens::demo::demo_devices(now, 10_000)
        .into_iter()
        .map(|d| Device {
            fleet_key: "bench".into(),
            ..d
        })
        .collect();
    store.insert_devices(&devices).await.unwrap();
    let uuid = devices[4242].uuid.clone();
    let t = token::generate(TokenKind::DeviceDetails);
    let target = Target::Fleet("bench".into());
    store
        .insert_token(
            &NewToken {
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
            },
            now,
        )
        .await
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    // The server gets its own runtime thread pool; wrk runs as a separate process.
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
    let device_url = format!("http://{addr}/api/v2/bench/devices/{uuid}");
    let auth = format!("Authorization: Bearer {}", t.plaintext.expose());
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
    println!("round  readyz req/s  device GET req/s  ratio");
    // One unrecorded pass of each warms the page cache, the statement caches and the pool.
    wrk(&readyz_url, None);
    wrk(&device_url, Some(&auth));
    let mut ratios = Vec::new();
    for round in 1..=ROUNDS {
        // A-B in odd rounds, B-A in even ones, so a drift in machine load favours neither.
        let (r, a) = if round % 2 == 1 {
            let r = wrk(&readyz_url, None);
            (r, wrk(&device_url, Some(&auth)))
        } else {
            let a = wrk(&device_url, Some(&auth));
            (wrk(&readyz_url, None), a)
        };
        println!("{round:>5}  {r:>12.0}  {a:>16.0}  {:.2}", a / r);
        ready.push(r);
        api.push(a);
        ratios.push(a / r);
    }
    let (r, a) = (median(&mut ready), median(&mut api));
    println!(
        "\nmedians over {ROUNDS} rounds: /readyz {r:.0} req/s, authenticated device GET {a:.0} req/s \
         (ratio of medians {:.2})",
        a / r
    );
    println!(
        "median of the per-round ratios: {:.2} (goal ≥ 0.9)",
        median(&mut ratios)
    );
    let _ = std::fs::remove_dir_all(dir);
}
