//! Benchmark: console pages at scale — the Access Tokens list over 100,000 tokens and the
//! Devices list over 1,000,000 devices (plus the dashboard and Account tab, which count them),
//! rendered through the real server for a signed-in admin. Prints medians and p95s.
//!
//! Run: `cargo bench --bench console_pages` (release; builds its data set in ~2 minutes).

use std::time::{Duration, Instant};

use connect_tokens::domain::scope::{Permissions, Role, Target};
use connect_tokens::domain::token::{self, TokenKind};
use connect_tokens::store::devices::Device;
use connect_tokens::store::tokens::NewToken;
use connect_tokens::store::users::NewUser;
use connect_tokens::{AppState, Config, Store};

const DEVICES: usize = 1_000_000;
const TOKENS: usize = 100_000;
const ROUNDS: usize = 60;

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

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

    let hash = connect_tokens::auth::password::hash("bench-password-123".into())
        .await
        .unwrap();
    store
        .create_user(
            &NewUser {
                username: "bench",
                email: "",
                display_name: "",
                role: Role::Admin,
                password_hash: &hash,
            },
            now,
        )
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(connect_tokens::serve(
        listener,
        AppState::new(store.clone(), Config::default()),
    ));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(format!("{base}/login")).send().await.unwrap();
    let login_cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let res = client
        .post(format!("{base}/login"))
        .header("cookie", &login_cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "bench"),
            ("password", "bench-password-123"),
        ])
        .send()
        .await
        .unwrap();
    let session = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

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
