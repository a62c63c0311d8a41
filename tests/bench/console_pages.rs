//! Benchmark: console pages at scale — the Access Tokens list over 100,000 tokens and the
//! Devices list over 1,000,000 devices (plus the dashboard and Account tab, which count them),
//! rendered through the real server for a signed-in admin. Prints medians and p95s.
//!
//! Run: `cargo bench --bench console_pages` (release; builds its data set in ~2 minutes).

use std::time::{Duration, Instant};

use connect_tokens::Store;
use connect_tokens::domain::scope::{Permissions, Target};
use connect_tokens::domain::token::{self, TokenKind};
use connect_tokens::store::devices::Device;
use connect_tokens::store::tokens::NewToken;

const DEVICES: usize = 1_000_000;
const TOKENS: usize = 100_000;
const ROUNDS: usize = 60;

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

mod common;

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("ct-bench-pages-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::connect(&connect_tokens::config::sqlite_url(&dir))
        .await
        .unwrap();
    let now = connect_tokens::domain::now();
    let t = Instant::now();
    let rows = (0..DEVICES).map(|i| {
        Ok((
            i as u64 + 2,
            Device {
                uuid: format!("d-{:04x}-{:04x}", i >> 16, i & 0xffff),
                fleet_key: format!("fleet{}", i % 10),
                name: format!("device-{i:07}"),
                group_name: format!("g{}", i % 100),
                tags: ";prod;".into(),
                description: String::new(),
                ip: String::new(),
                agent_version: "7.1.0".into(),
                last_keepalive: Some(now - (i as i64 % 172_800)),
                registered_at: now,
            },
        ))
    });
    store.import_devices(rows, &mut |_| {}).await.unwrap();
    println!(
        "setup: {DEVICES} devices in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let target = Target::Fleet("fleet1".into());
    for i in 0..TOKENS {
        let g = token::generate(TokenKind::DeviceDetails);
        let description = format!("token {i}");
        store
            .insert_token(
                &NewToken {
                    kind: TokenKind::DeviceDetails,
                    hash: &g.hash,
                    hint: &g.hint,
                    description: &description,
                    user_id: None,
                    target: Some(&target),
                    permissions: Permissions::from_bits(1),
                    created_by: None,
                    expires_at: now + 86_400 * (1 + (i as i64 % 60)),
                    form_nonce: None,
                    allowed_ips: "",
                    predecessor_id: None,
                },
                now - i as i64,
            )
            .await
            .unwrap();
    }
    println!(
        "setup: {TOKENS} tokens in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let common::Console {
        base,
        client,
        session,
    } = common::console(&store).await;
    println!("\npage (signed-in admin, {ROUNDS} rounds)                          median      p95");
    let pages = [
        "/settings/access-tokens",
        "/settings/access-tokens?status=active",
        "/settings/access-tokens?type=device_details&q=token%209999",
        "/settings/access-tokens?page=500",
        "/devices?fleet=fleet3",
        "/devices?fleet=fleet3&after=d-000c-0000",
        "/devices?fleet=fleet3&q=device-00099",
        "/dashboard",
        "/settings/account",
    ];
    for p in pages {
        let mut samples = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let r = client
                .get(format!("{base}{p}"))
                .header("cookie", &session)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{p}");
            r.bytes().await.unwrap();
            samples.push(t.elapsed());
        }
        samples.sort();
        println!(
            "  {p:<60} {:>9} {:>9}",
            ms(samples[ROUNDS / 2]),
            ms(samples[ROUNDS * 95 / 100])
        );
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
