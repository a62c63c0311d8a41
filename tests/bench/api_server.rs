//! What the API benchmarks share: a SQLite store with fleet `bench` of 10,000 devices, device
//! details tokens on it, and the real server on its own runtime threads (wrk measures from
//! another process).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

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
/// `CT_BENCH_ALLOWED_IPS` (e.g. `10.0.0.0/8,127.0.0.0/8`) restricts it to those networks, to
/// measure the allowed-IPs check.
pub async fn token(store: &Store) -> String {
    let now = connect_tokens::domain::now();
    let allowed = connect_tokens::domain::cidr::AllowedIps::parse(
        &std::env::var("CT_BENCH_ALLOWED_IPS").unwrap_or_default(),
    )
    .expect("CT_BENCH_ALLOWED_IPS: networks such as 127.0.0.0/8");
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
        allowed_ips: &allowed.stored(),
        predecessor_id: None,
    };
    store.insert_token(&new, now).await.unwrap();
    t.plaintext.expose().to_owned()
}

/// Serves `store` on its own runtime thread pool; returns the address once it answers.
#[allow(
    dead_code,
    reason = "the benchmarks that need their own settings use serve_state"
)]
pub async fn serve(store: &Store) -> SocketAddr {
    serve_state(AppState::new(
        store.clone(),
        Config::default(),
        connect_tokens::auth::secret_key::SecretKey::generate(),
    ))
    .await
}

/// Serves `state` on its own runtime thread pool; returns the address once it answers.
pub async fn serve_state(state: AppState) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                connect_tokens::serve(listener, state).await.unwrap();
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

/// Length of one wrk run.
const SECONDS: &str = "1s";

/// One wrk run: throughput, and the server's CPU time per request (user + system, all threads
/// of this process — the server is the only thing running in it while wrk runs elsewhere).
#[allow(dead_code, reason = "each benchmark reads the figures it reports")]
pub struct Run {
    pub per_second: f64,
    pub cpu_us_per_request: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
}

/// CPU time used so far by this process, in clock ticks (utime + stime of /proc/self/stat).
fn cpu_ticks() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (f64, f64) = (fields[11].parse().unwrap(), fields[12].parse().unwrap());
    utime + stime
}

/// Clock ticks per second of /proc (USER_HZ: 100 on Linux/x86_64).
const TICKS_PER_SECOND: f64 = 100.0;

/// One wrk run (2 threads, 32 connections, 1 s) of `url` with `header`; with `only_2xx`, any
/// other answer fails the benchmark.
pub fn wrk(url: &str, header: Option<&str>, only_2xx: bool) -> Run {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", "-c32", "-d", SECONDS, "--latency"]);
    if let Some(h) = header {
        cmd.args(["-H", h]);
    }
    let before = cpu_ticks();
    let out = cmd
        .arg(url)
        .output()
        .expect("wrk is needed: apt-get install -y wrk");
    let ticks = cpu_ticks() - before;
    let text = String::from_utf8_lossy(&out.stdout);
    let non2xx = text.lines().find(|l| l.contains("Non-2xx"));
    assert!(
        !only_2xx || non2xx.is_none(),
        "errors during the run: {text}"
    );
    let per_second = requests_per_second(&text);
    let requests: f64 = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected wrk output: {text}"));
    let p50 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("50%"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no latency in wrk output: {text}"));
    let p50_ms = if let Some(us) = p50.strip_suffix("us") {
        us.parse::<f64>().unwrap() / 1000.0
    } else if let Some(ms) = p50.strip_suffix("ms") {
        ms.parse().unwrap()
    } else {
        p50.trim_end_matches('s').parse::<f64>().unwrap() * 1000.0
    };
    Run {
        per_second,
        cpu_us_per_request: ticks / TICKS_PER_SECOND * 1e6 / requests,
        p50_ms,
    }
}
