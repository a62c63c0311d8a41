//! Delivery guarantees: retries with the same `webhook-id`, redirects not followed, private
//! targets refused after DNS, a `kill -9` mid-delivery, two instances on one database, and the
//! expiry scan.

use std::collections::HashMap;
use std::time::Duration;

use connect_tokens::Config;
use connect_tokens::auth::secret_key::SecretKey;
use connect_tokens::domain::scope::Target;
use connect_tokens::domain::webhook::{Event, Events};
use connect_tokens::issuing::{self, IssueOutcome, SubjectRequest, TokenRequest};
use connect_tokens::store::Store;
use connect_tokens::store::effects::Effects;
use connect_tokens::store::webhooks::{Delivery, EndpointSettings};
use reqwest::StatusCode;

use super::receiver::{Answer, Receiver, verifies};
use super::{add_endpoint, hook_app, hook_config};
use crate::helpers::*;

/// The endpoint's deliveries once `done` holds for the newest (up to `secs`).
async fn delivery_when(
    store: &Store,
    endpoint: &str,
    secs: u64,
    done: impl Fn(&Delivery) -> bool,
) -> Delivery {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let list = store.webhook_deliveries(endpoint, None, 1).await.unwrap();
        if let Some(d) = list.into_iter().next() {
            if done(&d) {
                return d;
            }
            assert!(tokio::time::Instant::now() < deadline, "{d:?}");
        }
        assert!(tokio::time::Instant::now() < deadline, "no delivery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[path = "../../bench/stored_endpoint.rs"]
mod shared;

/// An endpoint stored directly (as if made when its name resolved elsewhere, or by another
/// instance), with its secret sealed under the key in `key_file`.
async fn stored_endpoint(store: &Store, key_file: &std::path::Path, url: &str) -> (String, String) {
    let key = SecretKey::load_or_create(key_file).unwrap();
    shared::stored_endpoint(store, &key, url, "stored").await
}

/// Queues a test event for `endpoint` as **Send test event** does.
async fn queue_test(store: &Store, endpoint: &str) {
    let now = connect_tokens::domain::now();
    let event = Event::test(endpoint, "test", now);
    store
        .queue_for_endpoint(endpoint, &event, now * 1000)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_webhook_id_until_it_answers_200() {
    let rx = Receiver::start().await;
    rx.plan(&[Answer::Status(500), Answer::Status(500)]);
    let (app, b) = hook_app(hook_config()).await;
    let (endpoint, secret) = add_endpoint(&b, &rx.url(), &["token.created"]).await;
    let page = format!("/settings/webhooks/{endpoint}");
    b.submit(&page, &format!("{page}/test"), &[]).await;
    let got = rx.wait_for(3, 20).await;
    assert_eq!(got.len(), 3, "two failures and a success");
    assert!(got.iter().all(|g| g.id() == got[0].id()), "one webhook-id");
    assert!(got.iter().all(|g| verifies(&secret, g)));
    assert!(got.iter().all(|g| g.body == got[0].body), "the same body");
    let d = delivery_when(&app.store, &endpoint, 5, |d| d.state == "delivered").await;
    assert_eq!((d.attempts, d.last_status), (3, Some(200)));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(rx.got().len(), 3, "nothing after the 200");
    // Redeliver sends it again, same id.
    let list = b.get(&page).await.body;
    assert!(list.contains(&format!("{}/redeliver", d.id)), "{list}");
    let r = b
        .submit(&page, &format!("{page}/deliveries/{}/redeliver", d.id), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let got = rx.wait_for(4, 10).await;
    assert_eq!(got[3].id(), d.id);
    let unknown = b
        .submit(&page, &format!("{page}/deliveries/msg_nope/redeliver"), &[])
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let rx = Receiver::start().await;
    rx.plan(&[Answer::Redirect]);
    let (app, b) = hook_app(hook_config()).await;
    let (endpoint, _) = add_endpoint(&b, &rx.url(), &["token.created"]).await;
    let page = format!("/settings/webhooks/{endpoint}");
    b.submit(&page, &format!("{page}/test"), &[]).await;
    let d = delivery_when(&app.store, &endpoint, 10, |d| {
        d.attempts >= 1 && d.last_status.is_some()
    })
    .await;
    assert_eq!(d.last_status, Some(302));
    assert_eq!(d.state, "pending", "retried later");
    assert!(
        rx.got().iter().all(|g| g.path == "/hook"),
        "never /elsewhere"
    );
    assert!(b.get(&page).await.body.contains("a redirect: not followed"));
}

#[tokio::test]
async fn private_targets_are_refused_after_dns_without_the_flag() {
    let rx = Receiver::start().await;
    let app = spawn_app_with(Config::default()).await;
    let key_file = app.data_dir.join("secret.key");
    let by_name = format!("http://localhost:{}/hook", rx.addr.port());
    for (url, says) in [
        (
            by_name.as_str(),
            "localhost resolves to 127.0.0.1 is a loopback address",
        ),
        (
            rx.url().as_str(),
            "refused: 127.0.0.1 is a loopback address",
        ),
        (
            "http://[::ffff:10.0.0.1]/hook",
            "refused: ::ffff:10.0.0.1 is a private address",
        ),
    ] {
        let (endpoint, _) = stored_endpoint(&app.store, &key_file, url).await;
        queue_test(&app.store, &endpoint).await;
        let d = delivery_when(&app.store, &endpoint, 10, |d| {
            d.attempts >= 1 && d.last_error.is_some()
        })
        .await;
        let error = d.last_error.unwrap();
        assert!(error.contains(says), "{error}");
        assert!(error.contains("--allow-private-webhooks"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.got().is_empty(), "nothing reached the receiver");
}

#[tokio::test]
async fn a_kill_9_mid_delivery_loses_nothing() {
    let rx = Receiver::start().await;
    rx.plan(&[Answer::Hang]);
    let dir = temp_dir("kill9");
    let flags = ["--allow-private-webhooks", "--webhook-timeout-ms", "1000"];
    let server = crate::cli::serve_on(&dir, None, &flags, "warn", None);
    let url = connect_tokens::config::sqlite_url(&dir);
    let store = Store::connect(&url).await.unwrap();
    let (endpoint, secret) = stored_endpoint(&store, &dir.join("secret.key"), &rx.url()).await;
    queue_test(&store, &endpoint).await;
    // The server is sending it (the receiver holds the request) when it is killed.
    let first = rx.wait_for(1, 10).await;
    assert_eq!(first.len(), 1);
    drop(server);
    let d = store
        .webhook_deliveries(&endpoint, None, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!((d.state.as_str(), d.attempts), ("pending", 1));
    // Restarted, it sends it again once the dead attempt's lease is over.
    let _server = crate::cli::serve_on(&dir, None, &flags, "warn", None);
    let got = rx.wait_for(2, 20).await;
    assert_eq!(got.len(), 2, "delivered after the restart");
    assert_eq!(got[1].id(), got[0].id());
    assert!(verifies(&secret, &got[1]));
    let d = delivery_when(&store, &endpoint, 10, |d| d.state == "delivered").await;
    assert_eq!(d.attempts, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn two_instances_deliver_each_of_200_events_once() {
    let rx = Receiver::start().await;
    let (app, b) = hook_app(hook_config()).await;
    let _other = app.sibling_with(hook_config()).await;
    add_endpoint(&b, &rx.url(), &["token.created"]).await;
    let admin = app.store.user_by_username("admin").await.unwrap().unwrap();
    let now = connect_tokens::domain::now();
    for i in 0..200 {
        let req = TokenRequest {
            description: format!("bulk {i}"),
            expires: date_in(30),
            subject: SubjectRequest::Fleet("alpha".into()),
            permissions: perms(1),
            allowed_ips: String::new(),
        };
        let valid = issuing::validate(&app.store, 365, &req, now)
            .await
            .unwrap()
            .unwrap();
        let out = issuing::issue(&app.store, Some(&admin), valid, None, "test", now)
            .await
            .unwrap();
        assert!(matches!(out, IssueOutcome::Issued(_)));
    }
    let got = rx.wait_for(200, 60).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got_all = rx.got();
    assert_eq!(got.len(), 200);
    let mut per_id: HashMap<String, usize> = HashMap::new();
    let mut per_token: HashMap<String, usize> = HashMap::new();
    for g in &got_all {
        *per_id.entry(g.id().to_owned()).or_default() += 1;
        let token = g.json()["data"]["token_id"].as_str().unwrap().to_owned();
        *per_token.entry(token).or_default() += 1;
    }
    assert_eq!(got_all.len(), 200, "no event twice");
    assert_eq!(per_id.len(), 200);
    assert_eq!(per_token.len(), 200);
}

#[tokio::test]
async fn expiry_warnings_come_once_per_token_however_many_scans() {
    let rx = Receiver::start().await;
    let (app, b) = hook_app(hook_config()).await;
    add_endpoint(&b, &rx.url(), &["token.expiring"]).await;
    let now = connect_tokens::domain::now();
    let fleet = || Some(Target::Fleet("alpha".into()));
    // Made without events (as an import or an older release leaves them).
    for (name, expires) in [
        ("in3days", now + 3 * 86_400),
        ("in12hours", now + 12 * 3600),
        ("in30days", now + 30 * 86_400),
        ("revoked", now + 2 * 86_400),
    ] {
        make_token_with(&app, fleet(), perms(1), None, expires, name, now).await;
    }
    let revoked = newest_tokens(&app.store, 10)
        .await
        .into_iter()
        .find(|t| t.description == "revoked")
        .unwrap();
    app.store.revoke_token(&revoked.id, now).await.unwrap();
    // Two instances scanning at once (another connection pool), then again.
    let other = Store::connect(&app.database_url).await.unwrap();
    let (a, b2) = tokio::join!(
        connect_tokens::webhooks::scan_expiring(&app.store, now),
        connect_tokens::webhooks::scan_expiring(&other, now)
    );
    // (The server's own scan may have got there first.)
    assert!(a.unwrap() + b2.unwrap() <= 2);
    assert_eq!(
        connect_tokens::webhooks::scan_expiring(&app.store, now)
            .await
            .unwrap(),
        0
    );
    let got = rx.wait_for(2, 10).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let warnings = |got: &[super::receiver::Got]| {
        let mut w: Vec<(String, i64)> = got
            .iter()
            .map(|g| {
                let d = &g.json()["data"];
                (
                    d["description"].as_str().unwrap().to_owned(),
                    d["warning_days"].as_i64().unwrap(),
                )
            })
            .collect();
        w.sort();
        w
    };
    assert_eq!(
        warnings(&got),
        [("in12hours".to_owned(), 1), ("in3days".to_owned(), 7)]
    );
    assert_eq!(rx.got().len(), 2);
    // A token rotated with a grace time is cut to its grace: no warning for that.
    let rotated = newest_tokens(&app.store, 10)
        .await
        .into_iter()
        .find(|t| t.description == "in30days")
        .unwrap();
    let grace = connect_tokens::issuing::RotateRequest {
        expires: None,
        grace_secs: 3600,
    };
    let out =
        connect_tokens::issuing::rotate(&app.store, 365, "admin", &rotated, &grace, "test", now)
            .await
            .unwrap()
            .unwrap();
    assert!(matches!(out, connect_tokens::issuing::Rotated::New(_)));
    assert_eq!(
        connect_tokens::webhooks::scan_expiring(&app.store, now)
            .await
            .unwrap(),
        0
    );
    // Two and a bit days later: the one-day warning of the first; nothing more after that.
    let later = now + 2 * 86_400 + 3600;
    assert!(
        connect_tokens::webhooks::scan_expiring(&other, later)
            .await
            .unwrap()
            <= 1
    );
    assert_eq!(
        connect_tokens::webhooks::scan_expiring(&app.store, later)
            .await
            .unwrap(),
        0
    );
    // (Queued as of that simulated time, so not yet due: read from the outbox.)
    let in3days = newest_tokens(&app.store, 10)
        .await
        .into_iter()
        .find(|t| t.description == "in3days")
        .unwrap();
    let endpoint = app.store.webhook_endpoints().await.unwrap().remove(0);
    let queued = app
        .store
        .webhook_deliveries(&endpoint.id, None, 10)
        .await
        .unwrap();
    assert_eq!(queued.len(), 3);
    assert_eq!(queued[0].token_id.as_deref(), Some(in3days.id.as_str()));
    assert_eq!(queued[0].event_type, "token.expiring");
}

#[tokio::test]
async fn https_receivers_are_verified_against_the_trusted_roots() {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (made.cert.pem(), made.signing_key.serialize_pem());
    let rx = Receiver::start_tls(&cert, &key).await;
    let url = format!("https://localhost:{}/hook", rx.addr.port());
    let flags = ["--allow-private-webhooks"];
    // A server whose trusted roots include the receiver's certificate delivers over TLS.
    let dir = temp_dir("https");
    let roots = dir.join("roots.pem");
    std::fs::write(&roots, &cert).unwrap();
    let roots_env = roots.to_str().unwrap();
    let env = [("SSL_CERT_FILE", roots_env), ("SSL_CERT_DIR", roots_env)];
    let server = crate::cli::serve_via(&[], &dir, None, &flags, "warn", None, &env);
    let store = Store::connect(&connect_tokens::config::sqlite_url(&dir))
        .await
        .unwrap();
    let (endpoint, secret) = stored_endpoint(&store, &dir.join("secret.key"), &url).await;
    queue_test(&store, &endpoint).await;
    let got = rx.wait_for(1, 10).await;
    assert_eq!(got.len(), 1, "delivered over https");
    assert!(verifies(&secret, &got[0]));
    delivery_when(&store, &endpoint, 10, |d| d.state == "delivered").await;
    drop(server);
    // One that does not trust it refuses the certificate: nothing is sent.
    let other = temp_dir("https-untrusted");
    let _server = crate::cli::serve_on(&other, None, &flags, "warn", None);
    let store = Store::connect(&connect_tokens::config::sqlite_url(&other))
        .await
        .unwrap();
    let (endpoint, _) = stored_endpoint(&store, &other.join("secret.key"), &url).await;
    queue_test(&store, &endpoint).await;
    let d = delivery_when(&store, &endpoint, 10, |d| d.last_error.is_some()).await;
    let error = d.last_error.unwrap();
    assert!(error.contains("certificate"), "{error}");
    assert_eq!(rx.got().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

#[tokio::test]
async fn a_receiver_that_hangs_holds_up_no_other() {
    let (slow, fast) = (Receiver::start().await, Receiver::start().await);
    slow.plan(&[Answer::Hang]);
    let (app, b) = hook_app(hook_config()).await;
    let (slow_id, _) = add_endpoint(&b, &slow.url(), &["token.created"]).await;
    let (fast_id, _) = add_endpoint(&b, &fast.url(), &["token.created"]).await;
    queue_test(&app.store, &slow_id).await;
    assert_eq!(
        slow.wait_for(1, 10).await.len(),
        1,
        "the slow one is being sent"
    );
    queue_test(&app.store, &fast_id).await;
    let started = std::time::Instant::now();
    assert_eq!(fast.wait_for(1, 10).await.len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "sent while the other hangs (10 s timeout): {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_delivery_paused_across_an_enabling_is_rearmed() {
    let rx = Receiver::start().await;
    let (app, b) = hook_app(hook_config()).await;
    let (endpoint, secret) = add_endpoint(&b, &rx.url(), &["token.created"]).await;
    let settings = EndpointSettings {
        url: rx.url(),
        description: "race".into(),
        events: Events::ALL,
        enabled: false,
    };
    // An event queued while the endpoint is disabled waits, paused.
    let now = connect_tokens::domain::now();
    app.store
        .update_webhook_endpoint(&endpoint, &settings, &Effects::default(), now)
        .await
        .unwrap();
    let token_event = {
        let fleet = Some(Target::Fleet("alpha".into()));
        make_token(&app, fleet, perms(1), None, in_days(30)).await;
        let t = newest_tokens(&app.store, 1).await.remove(0);
        Event::created(&t.facts(), "test", None, now)
    };
    let effects = Effects {
        audit: vec![],
        events: vec![token_event],
    };
    // Queued in a transaction that saw the endpoint disabled…
    app.store
        .update_webhook_endpoint(&endpoint, &settings, &effects, now)
        .await
        .unwrap();
    // …while an enabling that did not see it committed (as two instances can interleave).
    use sqlx::Connection;
    let url = &app.database_url;
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query("UPDATE webhook_endpoints SET enabled = TRUE")
            .execute(&mut c)
            .await
            .unwrap();
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query("UPDATE webhook_endpoints SET enabled = TRUE")
            .execute(&mut c)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(rx.got().is_empty(), "paused");
    assert_eq!(app.store.rearm_paused(now * 1000).await.unwrap(), 1);
    let got = rx.wait_for(1, 10).await;
    assert!(verifies(&secret, &got[0]));
    assert_eq!(got[0].kind(), "token.created");
    assert_eq!(app.store.rearm_paused(now * 1000).await.unwrap(), 0);
}

#[tokio::test]
async fn attempts_are_counted_in_the_metrics() {
    let rx = Receiver::start().await;
    rx.plan(&[Answer::Status(500)]);
    let dir = temp_dir("hook-metrics");
    let flags = [
        "--allow-private-webhooks",
        "--webhook-first-retry-ms",
        "200",
        "--metrics-bind",
        "127.0.0.1:0",
    ];
    let server = crate::cli::serve_on(&dir, None, &flags, "warn", None);
    let metrics_url = server.metrics_url();
    let store = Store::connect(&connect_tokens::config::sqlite_url(&dir))
        .await
        .unwrap();
    let (endpoint, _) = stored_endpoint(&store, &dir.join("secret.key"), &rx.url()).await;
    queue_test(&store, &endpoint).await;
    delivery_when(&store, &endpoint, 10, |d| d.state == "delivered").await;
    let text = crate::helpers::http_client()
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"connect_tokens_webhook_deliveries_total{outcome="delivered"} 1"#,
        r#"connect_tokens_webhook_deliveries_total{outcome="retry"} 1"#,
        r#"connect_tokens_webhook_deliveries_total{outcome="failed"} 0"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
