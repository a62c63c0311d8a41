//! Scale-out: several `serve` processes on one PostgreSQL database. Each test is `#[ignore]`d
//! (plain `cargo test` lists them as ignored) and runs in the PostgreSQL pass of
//! `scripts/test-all.sh`, which sets `CT_TEST_DATABASE` and passes `--include-ignored`; run
//! without PostgreSQL, they fail saying so.

use std::time::Duration;

use connect_tokens::domain::scope::{Permissions, Role};
use connect_tokens::store::users::NewUser;
use reqwest::StatusCode;
use tokio::net::{TcpListener, TcpStream};

use crate::cli::{Server, serve_on};
use crate::helpers::{
    Browser, Resp, browser, date_in, fresh_postgres, generate, hidden, newest_tokens, temp_dir,
    tokens_in,
};

/// A fresh database on the PostgreSQL server of `CT_TEST_DATABASE`; without one, a panic that
/// says how to run these tests (a test that passes without running is worse than a failure).
async fn database() -> String {
    match std::env::var("CT_TEST_DATABASE") {
        Ok(base) if base.starts_with("postgres") => fresh_postgres(&base).await,
        _ => panic!(
            "scale-out tests need PostgreSQL: set CT_TEST_DATABASE=postgres://… or run \
             scripts/test-all.sh, whose PostgreSQL pass runs them"
        ),
    }
}

struct Cluster {
    a: Server,
    b: Server,
    store: connect_tokens::Store,
    dir: std::path::PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Two instances on one database, started at the same moment on an empty schema, and an admin.
async fn cluster(url: &str) -> Cluster {
    let dir = temp_dir("scale");
    let (d1, d2, u1, u2) = (dir.clone(), dir.clone(), url.to_owned(), url.to_owned());
    // A with a small pool (the flag is real), B with the default.
    let a = std::thread::spawn(move || {
        serve_on(&d1, Some(&u1), &["--db-pool-size", "4"], "warn", None)
    });
    let b = std::thread::spawn(move || serve_on(&d2, Some(&u2), &[], "warn", None));
    let (a, b) = (
        a.join().expect("instance A started"),
        b.join().expect("instance B started"),
    );
    let store = connect_tokens::Store::connect(url).await.unwrap();
    let hash = connect_tokens::auth::password::hash("scale-admin-password".into())
        .await
        .unwrap();
    store
        .create_user(
            &NewUser {
                username: "root",
                email: "",
                display_name: "",
                role: Role::Admin,
                password_hash: &hash,
            },
            connect_tokens::domain::now(),
        )
        .await
        .unwrap();
    store
        .create_fleet(
            &connect_tokens::store::fleets::Fleet {
                key: "north".into(),
                name: "North".into(),
                description: String::new(),
            },
            0,
        )
        .await
        .unwrap();
    Cluster { a, b, store, dir }
}

/// The same browser session pointed at another instance.
fn same_session(from: &Browser, base: &str) -> Browser {
    let other = browser(base);
    *other.cookies.lock().unwrap() = from.cookies.lock().unwrap().clone();
    other
}

/// A read token for fleet `north`, generated through the console panel of `b`'s instance.
async fn generate_north(b: &Browser, description: &str) -> Resp {
    let expires = date_in(5);
    generate(
        b,
        &[
            ("description", description),
            ("expires", &expires),
            ("target_kind", "fleet"),
            ("fleet", "north"),
            ("perm_read", "on"),
        ],
    )
    .await
}

async fn api(base: &str, token: &str, path: &str) -> StatusCode {
    crate::helpers::http_client()
        .get(format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
#[ignore = "postgres: needs CT_TEST_DATABASE; scripts/test-all.sh runs it"]
async fn sessions_revocations_permissions_and_generation_are_shared_by_every_instance() {
    let url = database().await;
    let c = cluster(&url).await;
    // A session made on A works on B; sign-out on B ends it on A.
    let on_a = browser(&c.a.base);
    assert_eq!(
        on_a.login("root", "scale-admin-password").await.status,
        StatusCode::SEE_OTHER
    );
    let on_b = same_session(&on_a, &c.b.base);
    assert_eq!(on_b.get("/settings/account").await.status, StatusCode::OK);

    // A token generated on A, revoked on B, is refused by A on its very next request.
    let token = tokens_in(&generate_north(&on_a, "shared").await.body)
        .pop()
        .expect("token");
    assert_eq!(
        api(&c.a.base, &token, "/api/v2/north/devices").await,
        StatusCode::OK
    );
    assert_eq!(
        api(&c.b.base, &token, "/api/v2/north/devices").await,
        StatusCode::OK
    );
    let id = newest_tokens(&c.store, 1).await[0].id.clone();
    let r = on_b
        .submit(
            &format!("/settings/access-tokens/{id}/revoke"),
            &format!("/settings/access-tokens/{id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        api(&c.a.base, &token, "/api/v2/north/devices").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api(&c.b.base, &token, "/api/v2/north/devices").await,
        StatusCode::UNAUTHORIZED
    );

    // Permission changes made on B apply on A at once.
    let hash = connect_tokens::auth::password::hash("scale-user-password".into())
        .await
        .unwrap();
    let user = c
        .store
        .create_user(
            &NewUser {
                username: "ops",
                email: "",
                display_name: "",
                role: Role::User,
                password_hash: &hash,
            },
            0,
        )
        .await
        .unwrap();
    let ops = connect_tokens::issuing::issue(
        &c.store,
        None,
        connect_tokens::issuing::validate(
            &c.store,
            connect_tokens::Config::default().max_token_days,
            &connect_tokens::issuing::TokenRequest {
                description: "ops".into(),
                expires: date_in(5),
                subject: connect_tokens::issuing::SubjectRequest::User("ops".into()),
                permissions: Permissions::NONE,
                allowed_ips: String::new(),
            },
            connect_tokens::domain::now(),
        )
        .await
        .unwrap()
        .unwrap(),
        None,
        "test",
        connect_tokens::domain::now(),
    )
    .await
    .unwrap();
    let connect_tokens::issuing::IssueOutcome::Issued(ops) = ops else {
        panic!("issued")
    };
    let ops_token = ops.plaintext.expose().to_owned();
    assert_eq!(
        api(&c.a.base, &ops_token, "/api/v2/north/devices").await,
        StatusCode::NOT_FOUND
    );
    let edit = format!("/settings/users/{}", user.id);
    let r = on_b
        .submit(
            &edit,
            &format!("{edit}/permissions"),
            &[("north.read", "on")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        api(&c.a.base, &ops_token, "/api/v2/north/devices").await,
        StatusCode::OK
    );

    // Concurrent generation through both instances: unique Token IDs, no lost writes.
    let before = newest_tokens(&c.store, 10_000).await.len();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let b = if i % 2 == 0 {
            on_a.clone()
        } else {
            on_b.clone()
        };
        tasks.push(tokio::spawn(async move {
            generate_north(&b, &format!("burst {i}")).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let start = r.body.find("Token ID</dt><dd class=\"mono\">").unwrap()
            + "Token ID</dt><dd class=\"mono\">".len();
        ids.insert(r.body[start..start + 36].to_owned());
    }
    assert_eq!(ids.len(), 20);
    assert_eq!(newest_tokens(&c.store, 10_000).await.len(), before + 20);

    // Sign-out on B ends the session on A too.
    let csrf = hidden(&on_b.get("/dashboard").await.body, "csrf");
    assert_eq!(
        on_b.post("/logout", &[("csrf", &csrf)]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(on_a.get("/dashboard").await.status, StatusCode::SEE_OTHER);
    c.store.close().await;
}

#[tokio::test]
#[ignore = "postgres: needs CT_TEST_DATABASE; scripts/test-all.sh runs it"]
async fn revocation_under_concurrent_load_is_seen_by_every_instance_at_once() {
    let url = database().await;
    let c = cluster(&url).await;
    let on_a = browser(&c.a.base);
    on_a.login("root", "scale-admin-password").await;
    let token = tokens_in(&generate_north(&on_a, "load").await.body)
        .pop()
        .unwrap();
    let id = newest_tokens(&c.store, 1).await[0].id.clone();
    // Load on both instances while the token is revoked; once the revocation has committed,
    // no request that starts afterwards may succeed.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let revoked_at = std::sync::Arc::new(std::sync::Mutex::new(None::<std::time::Instant>));
    let mut workers = Vec::new();
    for base in [
        c.a.base.clone(),
        c.b.base.clone(),
        c.a.base.clone(),
        c.b.base.clone(),
    ] {
        let (token, stop, revoked_at) = (token.clone(), stop.clone(), revoked_at.clone());
        workers.push(tokio::spawn(async move {
            let client = crate::helpers::http_client();
            let mut late_successes = 0;
            let mut requests = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && requests < 5000 {
                let started = std::time::Instant::now();
                let status = client
                    .get(format!("{base}/api/v2/north/devices"))
                    .header("authorization", format!("Bearer {token}"))
                    .send()
                    .await
                    .unwrap()
                    .status();
                requests += 1;
                let after_revoke = revoked_at.lock().unwrap().is_some_and(|t| started > t);
                if after_revoke && status == StatusCode::OK {
                    late_successes += 1;
                }
            }
            (requests, late_successes)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        c.store
            .revoke_token(&id, connect_tokens::domain::now())
            .await
            .unwrap()
    );
    *revoked_at.lock().unwrap() = Some(std::time::Instant::now());
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut total = 0;
    for w in workers {
        let (requests, late) = w.await.unwrap();
        total += requests;
        assert_eq!(
            late, 0,
            "a request that started after the revocation succeeded"
        );
    }
    assert!(total > 20, "the load ran ({total} requests)");
    c.store.close().await;
}

/// A TCP forwarder to PostgreSQL that the test can cut and restore.
async fn proxy(
    target: std::net::SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let up = up.clone();
            tokio::spawn(async move {
                if !up.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Ok(mut outbound) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut ri, mut wi) = inbound.split();
                let (mut ro, mut wo) = outbound.split();
                let watch = async {
                    while up.load(std::sync::atomic::Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                };
                tokio::select! {
                    _ = tokio::io::copy(&mut ri, &mut wo) => {}
                    _ = tokio::io::copy(&mut ro, &mut wi) => {}
                    () = watch => {}
                }
            });
        }
    });
    port
}

/// A fresh database, its URL through a forwarder the test can cut, and the forwarder's switch.
async fn proxied_database() -> (
    String,
    String,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let url = database().await;
    let parsed = url.strip_prefix("postgres://postgres@").unwrap();
    let (hostport, db) = parsed.split_once('/').unwrap();
    let target: std::net::SocketAddr = hostport.parse().unwrap();
    let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let port = proxy(target, up.clone()).await;
    let via_proxy = format!("postgres://postgres@127.0.0.1:{port}/{db}");
    (url, via_proxy, up)
}

#[tokio::test]
#[ignore = "postgres: needs CT_TEST_DATABASE; scripts/test-all.sh runs it"]
async fn readyz_fails_while_the_database_is_unreachable_and_recovers() {
    let (_, via_proxy, up) = proxied_database().await;
    let dir = temp_dir("readyz");
    let server = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || serve_on(&dir, Some(&via_proxy), &[], "warn", None)
    })
    .await
    .unwrap();
    let get = |p: &'static str| {
        let base = server.base.clone();
        async move {
            crate::helpers::http_client()
                .get(format!("{base}{p}"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(get("/readyz").await, StatusCode::OK);
    up.store(false, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(get("/readyz").await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        get("/healthz").await,
        StatusCode::OK,
        "liveness does not depend on the database"
    );
    up.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        status = get("/readyz").await;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        status,
        StatusCode::OK,
        "ready again once the database is back"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
#[ignore = "postgres: needs CT_TEST_DATABASE; scripts/test-all.sh runs it"]
async fn an_unreachable_database_gets_a_fast_503_with_retry_after_and_service_resumes() {
    let (url, via_proxy, up) = proxied_database().await;
    let dir = temp_dir("outage");
    let token = {
        let (dir, url) = (dir.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            let global = ["--database-url", url.as_str()];
            crate::cli::create_admin_ops(&dir, &global);
            crate::cli::admin_token(&dir, &global, "ops", &[])
        })
        .await
        .unwrap()
    };
    let server = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || serve_on(&dir, Some(&via_proxy), &[], "warn", None)
    })
    .await
    .unwrap();
    let client = crate::helpers::http_client();
    let fleets = || {
        client
            .get(format!("{}/api/v2/fleets", server.base))
            .bearer_auth(&token)
            .timeout(Duration::from_secs(10))
            .send()
    };
    assert_eq!(fleets().await.unwrap().status(), StatusCode::OK);
    up.store(false, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..3 {
        let start = std::time::Instant::now();
        let r = fleets().await.unwrap();
        let took = start.elapsed();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "never a 500");
        assert_eq!(r.headers()["retry-after"], "1");
        assert!(r.text().await.unwrap().contains("\"status\":503"));
        assert!(took < Duration::from_millis(1500), "answered in {took:?}");
    }
    up.store(true, std::sync::atomic::Ordering::SeqCst);
    let back = std::time::Instant::now();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    while back.elapsed() < Duration::from_secs(5) {
        status = fleets().await.unwrap().status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, StatusCode::OK, "service resumes without a restart");
    assert!(
        back.elapsed() < Duration::from_secs(2),
        "resumed after {:?}",
        back.elapsed()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
