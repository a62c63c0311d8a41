//! Benchmark: the API under hostile traffic, side by side in one run (`wrk -t2 -c32`, short
//! alternating rounds, medians):
//!
//! 1. a revoked token retried at full speed against an unknown one (both 401): the refused path
//!    must cost no more than the unknown one (goal: ratio ≥ 0.9), and the audit log gains a
//!    counted entry per minute, not a row per retry;
//! 2. an authenticated device GET's latency with and without 2,000 idle connections open.
//!
//! Run: `cargo bench --bench hostile` (needs `wrk`: `apt-get install -y wrk`).

use std::time::Duration;

use connect_tokens::domain::token::{self, TokenKind};

mod api_server;

const ROUNDS: usize = 10;
const IDLE_CONNECTIONS: usize = 2000;

/// One wrk run with `header` (refusals are expected: any status counts).
fn wrk(url: &str, header: &str) -> api_server::Run {
    api_server::wrk(url, Some(header), false)
}

#[tokio::main]
async fn main() {
    let api_server::Bench {
        dir,
        store,
        devices,
    } = api_server::fleet("hostile").await;
    let live = api_server::token(&store).await;
    let revoked = api_server::token(&store).await;
    let record = store
        .token_by_hash(&token::TokenHash::of(&revoked))
        .await
        .unwrap()
        .unwrap();
    store
        .revoke_token(&record.id, connect_tokens::domain::now())
        .await
        .unwrap();
    let unknown = token::generate(TokenKind::DeviceDetails)
        .plaintext
        .expose()
        .to_owned();
    let addr = api_server::serve(&store).await;
    let url = format!("http://{addr}/api/v2/bench/devices/{}", devices[4242].uuid);
    let bearer = |t: &str| format!("Authorization: Bearer {t}");
    for (t, want) in [(&live, 200), (&revoked, 401), (&unknown, 401)] {
        let status = {
            connect_tokens::webhooks::client::install_crypto_provider();
            reqwest::Client::new()
        }
        .get(&url)
        .bearer_auth(t)
        .send()
        .await
        .unwrap()
        .status();
        assert_eq!(
            status.as_u16(),
            want,
            "the benchmark's tokens are what they claim"
        );
    }

    println!("1. refused (revoked) against unknown token, both 401");
    println!("round  unknown req/s  revoked req/s  ratio");
    wrk(&url, &bearer(&unknown));
    wrk(&url, &bearer(&revoked));
    let (mut unknown_runs, mut revoked_runs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        let (u, r) = if round % 2 == 1 {
            let u = wrk(&url, &bearer(&unknown));
            (u, wrk(&url, &bearer(&revoked)))
        } else {
            let r = wrk(&url, &bearer(&revoked));
            (wrk(&url, &bearer(&unknown)), r)
        };
        let ratio = r.per_second / u.per_second;
        println!(
            "{round:>5}  {:>13.0}  {:>13.0}  {ratio:.2}",
            u.per_second, r.per_second
        );
        unknown_runs.push(u.per_second);
        revoked_runs.push(r.per_second);
        ratios.push(ratio);
    }
    // The refusal counts reach the database with the usage flush (every 10 s).
    tokio::time::sleep(Duration::from_secs(11)).await;
    let entries = store
        .find_audit(&[], "", i64::MAX, 1_000_000)
        .await
        .unwrap();
    let refused: i64 = entries
        .iter()
        .filter(|e| e.action == "token.refused")
        .map(|e| e.count)
        .sum();
    println!(
        "medians: unknown {:.0} req/s, revoked {:.0} req/s; median per-round ratio {:.2} (goal ≥ 0.9)",
        api_server::median(&mut unknown_runs),
        api_server::median(&mut revoked_runs),
        api_server::median(&mut ratios)
    );
    let refusal_entries = entries
        .iter()
        .filter(|e| e.action == "token.refused")
        .count();
    println!("audit log: {refusal_entries} refusal entries for {refused} refused requests");

    println!("\n2. authenticated device GET with and without {IDLE_CONNECTIONS} idle connections");
    println!("round  p50 ms (none)  p50 ms (idle)  req/s (none)  req/s (idle)");
    let (mut plain_p50, mut idle_p50, mut plain_rps, mut idle_rps) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        let with_idle = || async {
            // Fresh ones each round: the server closes connections that send nothing within
            // its header-read timeout (10 s).
            let mut idle = Vec::with_capacity(IDLE_CONNECTIONS);
            for _ in 0..IDLE_CONNECTIONS {
                idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
            }
            let run = wrk(&url, &bearer(&live));
            drop(idle);
            run
        };
        let (p, i) = if round % 2 == 1 {
            let p = wrk(&url, &bearer(&live));
            (p, with_idle().await)
        } else {
            let i = with_idle().await;
            (wrk(&url, &bearer(&live)), i)
        };
        println!(
            "{round:>5}  {:>13.2}  {:>13.2}  {:>12.0}  {:>12.0}",
            p.p50_ms, i.p50_ms, p.per_second, i.per_second
        );
        plain_p50.push(p.p50_ms);
        idle_p50.push(i.p50_ms);
        plain_rps.push(p.per_second);
        idle_rps.push(i.per_second);
    }
    println!(
        "medians: p50 {:.2} ms without, {:.2} ms with {IDLE_CONNECTIONS} idle connections (goal ≤ 10 ms); \
         {:.0} / {:.0} req/s",
        api_server::median(&mut plain_p50),
        api_server::median(&mut idle_p50),
        api_server::median(&mut plain_rps),
        api_server::median(&mut idle_rps)
    );
    let _ = std::fs::remove_dir_all(dir);
}
