//! Benchmark: import 100k devices from CSV, then time the token panel's device search through
//! the real HTTP endpoint (signed-in admin, loopback) and at the storage layer.
//!
//! Run: `cargo bench --bench device_search` (release build). Prints medians and p95s.

use std::io::Write;
use std::time::{Duration, Instant};

use connect_tokens::Store;

const DEVICES: usize = 100_000;
const ROUNDS: usize = 200;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

mod common;

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("ct-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv_path = dir.join("devices.csv");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&csv_path).unwrap());
        writeln!(f, "fleet,uuid,name,group,tags,description").unwrap();
        let kinds = [
            "gateway", "sensor", "kiosk", "camera", "router", "meter", "pump", "valve",
        ];
        for i in 0..DEVICES {
            let kind = kinds[i % kinds.len()];
            writeln!(
                f,
                "fleet{},d-{:04x}-{:04x},{kind}-{:06},site-{},prod;{kind},device {i}",
                i % 20,
                i >> 16,
                i & 0xffff,
                i,
                i % 50
            )
            .unwrap();
        }
    }
    let store = Store::connect(&connect_tokens::config::sqlite_url(&dir))
        .await
        .unwrap();
    let started = Instant::now();
    let n =
        connect_tokens::import::import_csv(&store, std::fs::File::open(&csv_path).unwrap(), |_| {})
            .await
            .unwrap();
    let import = started.elapsed();
    println!(
        "import: {n} rows in {:.2} s = {:.0} rows/s",
        import.as_secs_f64(),
        n as f64 / import.as_secs_f64()
    );

    // Storage layer.
    let queries = [
        "g",
        "gateway-0",
        "sensor-0999",
        "KIOSK-05",
        "d-0001-",
        "d-0000-ff",
        "zzz-nothing",
    ];
    println!("\nstore.search_devices (limit 50), {ROUNDS} rounds per query:");
    for q in queries {
        let mut samples = Vec::with_capacity(ROUNDS);
        let mut hits = 0;
        for _ in 0..ROUNDS {
            let t = Instant::now();
            hits = store.search_devices(q, 50).await.unwrap().len();
            samples.push(t.elapsed());
        }
        println!(
            "  {q:>14}: {hits:>2} hits  median {}  p95 {}",
            ms(percentile(&mut samples, 0.5)),
            ms(percentile(&mut samples, 0.95))
        );
    }

    let common::Console {
        base,
        client,
        session,
    } = common::console(&store).await;
    println!("\nGET /settings/account/device-search?q=… over HTTP, {ROUNDS} rounds per query:");
    let mut all = Vec::new();
    for q in queries {
        let mut samples = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let r = client
                .get(format!("{base}/settings/account/device-search?q={q}"))
                .header("cookie", &session)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap();
            samples.push(t.elapsed());
        }
        all.extend_from_slice(&samples);
        println!(
            "  {q:>14}: median {}  p95 {}",
            ms(percentile(&mut samples, 0.5)),
            ms(percentile(&mut samples, 0.95))
        );
    }
    let mut ready = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        ready.push(t.elapsed());
    }
    let search_median = percentile(&mut all, 0.5);
    let ready_median = percentile(&mut ready, 0.5);
    println!(
        "\nall searches: median {}  p95 {}  max {}; /readyz median {} (search/readyz = {:.2}); target: well under 50 ms",
        ms(search_median),
        ms(percentile(&mut all, 0.95)),
        ms(*all.iter().max().unwrap()),
        ms(ready_median),
        search_median.as_secs_f64() / ready_median.as_secs_f64()
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
