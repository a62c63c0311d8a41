//! Webhooks through the real server: endpoints made on the Webhooks tab, events from real
//! console and API actions, deliveries to a real receiver on loopback, checked with a signature
//! check written from the specification.

mod delivery;
pub mod receiver;

use connect_tokens::Config;
use connect_tokens::domain::scope::Role;
use reqwest::{Method, StatusCode};

use crate::helpers::*;
use receiver::{Receiver, verifies};

/// Settings for webhook tests: a receiver on loopback is allowed, retries come fast, refusals
/// are written every second.
pub fn hook_config() -> Config {
    Config {
        allow_private_webhooks: true,
        webhook_first_retry_ms: 200,
        usage_flush_secs: 1,
        ..Config::default()
    }
}

/// A fresh app with fleets and a signed-in admin.
pub async fn hook_app(config: Config) -> (TestApp, Browser) {
    let app = spawn_app_with(config).await;
    app.seed_fleets().await;
    let b = app.signed_in("admin", Role::Admin).await;
    (app, b)
}

/// The `value` of the element with `id` in `html`.
pub fn value_of(html: &str, id: &str) -> String {
    let at = html.find(&format!("id=\"{id}\"")).expect("the element");
    let rest = &html[at..];
    let start = rest.find("value=\"").unwrap() + 7;
    rest[start..start + rest[start..].find('"').unwrap()].to_owned()
}

/// Adds an endpoint on the Webhooks tab; its id and signing secret.
pub async fn add_endpoint(b: &Browser, url: &str, events: &[&str]) -> (String, String) {
    let page = b.get("/settings/webhooks").await.body;
    let (csrf, nonce) = (hidden(&page, "csrf"), hidden(&page, "nonce"));
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("nonce", nonce.as_str()),
        ("url", url),
        ("description", "Ops chat"),
        ("enabled", "on"),
    ];
    form.extend(events.iter().map(|e| ("events", *e)));
    let r = b.post("/settings/webhooks", &form).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("cache-control"), "no-store");
    let secret = value_of(&r.body, "token-value");
    assert!(secret.starts_with("whsec_"), "{secret}");
    let at = r.body.find("/settings/webhooks/").unwrap() + "/settings/webhooks/".len();
    let id = r.body[at..at + 36].to_owned();
    (id, secret)
}

pub const ALL_EVENTS: [&str; 5] = [
    "token.expiring",
    "token.created",
    "token.rotated",
    "token.revoked",
    "token.refused",
];

#[tokio::test]
async fn every_event_arrives_signed_with_its_data_and_no_secret() {
    let rx = Receiver::start().await;
    let (app, b) = hook_app(hook_config()).await;
    let (endpoint, secret) = add_endpoint(&b, &rx.url(), &ALL_EVENTS).await;
    // The secret is shown once: the endpoint's page does not show it.
    let page = b.get(&format!("/settings/webhooks/{endpoint}")).await.body;
    assert!(!page.contains(&secret) && !page.contains("whsec_"));

    // token.created, and token.expiring at once (made with 3 days left).
    let made = generate(
        &b,
        &[
            ("description", "CI deploy"),
            ("expires", &date_in(3)),
            ("target_kind", "fleet"),
            ("fleet", "alpha"),
            ("perm_read", "on"),
            ("perm_write", "on"),
        ],
    )
    .await;
    let plaintext = tokens_in(&made.body).remove(0);
    let token_id = newest_tokens(&app.store, 1).await.remove(0).id;
    let created = rx.wait_for_kind("token.created", 10).await;
    let data = &created.json()["data"];
    assert_eq!(data["token_id"], token_id.as_str());
    assert_eq!(data["token_type"], "device_details");
    assert_eq!(data["description"], "CI deploy");
    assert_eq!(data["subject"], "Fleet alpha");
    assert_eq!(data["target"]["fleet"], "alpha");
    assert_eq!(data["permissions"], serde_json::json!(["read", "write"]));
    assert_eq!(data["actor"], "admin");
    assert!(data["expires_at"].as_str().unwrap().ends_with('Z'));
    let expiring = rx.wait_for_kind("token.expiring", 10).await;
    assert_eq!(expiring.json()["data"]["warning_days"], 7);
    assert_eq!(expiring.json()["data"]["token_id"], token_id.as_str());

    // token.refused: a use the token's permissions do not allow, three times (aggregated).
    for _ in 0..3 {
        let r = call(
            &app,
            Method::DELETE,
            "/api/v2/alpha/devices/d-a000-0000",
            &plaintext,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    // token.rotated and the successor's token.created.
    let regen = b
        .submit(
            &format!("/settings/access-tokens/{token_id}/regenerate"),
            &format!("/settings/access-tokens/{token_id}/regenerate"),
            &[("expires", &date_in(30)), ("grace", "0")],
        )
        .await;
    assert_eq!(regen.status, StatusCode::OK, "{}", regen.body);
    let successor = tokens_in(&regen.body).remove(0);
    let rotated = rx.wait_for_kind("token.rotated", 10).await;
    let new_id = rotated.json()["data"]["successor_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(rotated.json()["data"]["token_id"], token_id.as_str());
    // token.revoked.
    let revoke = b
        .submit(
            &format!("/settings/access-tokens/{new_id}/revoke"),
            &format!("/settings/access-tokens/{new_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(revoke.status, StatusCode::SEE_OTHER, "{}", revoke.body);
    let revoked = rx.wait_for_kind("token.revoked", 10).await;
    assert_eq!(revoked.json()["data"]["token_id"], new_id.as_str());
    assert_eq!(revoked.json()["data"]["reason"], "revoked");
    let refused = rx.wait_for_kind("token.refused", 10).await;
    let r = &refused.json()["data"];
    assert_eq!(r["token_id"], token_id.as_str());
    assert_eq!(r["reason"], "missing delete permission");
    assert!(r["count"].as_i64().unwrap() >= 1);

    // Test event.
    let t = b
        .submit(
            &format!("/settings/webhooks/{endpoint}"),
            &format!("/settings/webhooks/{endpoint}/test"),
            &[],
        )
        .await;
    assert_eq!(t.status, StatusCode::SEE_OTHER);
    rx.wait_for_kind("webhook.test", 10).await;

    let got = rx.got();
    let creations = got.iter().filter(|g| g.kind() == "token.created").count();
    assert_eq!(creations, 2, "the token and its successor");
    let successor_created = got
        .iter()
        .find(|g| g.kind() == "token.created" && g.json()["data"]["token_id"] == new_id.as_str())
        .expect("the successor's token.created");
    assert_eq!(
        successor_created.json()["data"]["rotation_of"],
        token_id.as_str()
    );
    // One event per aggregated entry: per minute (three refusals may straddle two minutes).
    let minutes: Vec<String> = got
        .iter()
        .filter(|g| g.kind() == "token.refused")
        .map(|g| g.json()["data"]["minute"].as_str().unwrap().to_owned())
        .collect();
    let mut distinct = minutes.clone();
    distinct.dedup();
    assert!(
        minutes.len() <= 2 && distinct.len() == minutes.len(),
        "{minutes:?}"
    );
    for g in &got {
        assert!(verifies(&secret, g), "signature of {}", g.body);
        assert_eq!(g.header("content-type"), "application/json");
        assert!(g.id().starts_with("msg_"));
        assert!(tokens_in(&g.body).is_empty(), "no plaintext: {}", g.body);
        assert!(!g.body.contains(&plaintext) && !g.body.contains(&successor));
        assert!(!g.body.contains("whsec_"));
    }
    // The deliveries list shows them.
    let page = b.get(&format!("/settings/webhooks/{endpoint}")).await.body;
    for kind in [
        "token.created",
        "token.rotated",
        "token.revoked",
        "webhook.test",
    ] {
        assert!(page.contains(kind), "{kind} listed");
    }
    assert!(page.contains("delivered"));
}

#[tokio::test]
async fn the_form_refuses_bad_input_and_changes_nothing() {
    let (app, b) = hook_app(Config::default()).await;
    let page = b.get("/settings/webhooks").await.body;
    let (csrf, nonce) = (hidden(&page, "csrf"), hidden(&page, "nonce"));
    for (url, events, description, says) in [
        (
            "ftp://example.com/",
            "token.created",
            "x",
            "must start with https://",
        ),
        (
            "https://user:pw@example.com/",
            "token.created",
            "x",
            "user name and password",
        ),
        ("not a url", "token.created", "x", "not a URL"),
        (
            "http://127.0.0.1:9/hook",
            "token.created",
            "x",
            "loopback address",
        ),
        (
            "http://10.1.2.3/hook",
            "token.created",
            "x",
            "private address",
        ),
        (
            "http://[::1]/hook",
            "token.created",
            "x",
            "loopback address",
        ),
        (
            "http://localhost:9/hook",
            "token.created",
            "x",
            "resolves to",
        ),
        (
            "http://169.254.169.254/latest",
            "token.created",
            "x",
            "link-local",
        ),
        (
            "https://example.com/",
            "token.nope",
            "x",
            "There is no event",
        ),
        ("https://example.com/", "", "x", "Choose at least one event"),
        (
            "https://example.com/",
            "token.created",
            "",
            "Enter a description",
        ),
    ] {
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("nonce", nonce.as_str()),
            ("url", url),
            ("description", description),
        ];
        if !events.is_empty() {
            form.push(("events", events));
        }
        let r = b.post("/settings/webhooks", &form).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        assert!(r.body.contains(says), "{url}: {says} in {}", r.body);
        assert!(!r.body.contains("whsec_"));
    }
    assert!(app.store.webhook_endpoints().await.unwrap().is_empty());
    // Admins only; and a post without its CSRF token changes nothing.
    let user = app.signed_in("olga", Role::User).await;
    assert_eq!(
        user.get("/settings/webhooks").await.status,
        StatusCode::FORBIDDEN
    );
    let r = b
        .post(
            "/settings/webhooks",
            &[
                ("url", "https://example.com/"),
                ("description", "x"),
                ("events", "token.created"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(app.store.webhook_endpoints().await.unwrap().is_empty());
    assert_eq!(
        b.get("/settings/webhooks/nope").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn rotation_signs_with_both_secrets_for_a_day_and_edits_are_audited() {
    let rx = Receiver::start().await;
    let (app, b) = hook_app(hook_config()).await;
    let (endpoint, old) = add_endpoint(&b, &rx.url(), &["token.created"]).await;
    let page = format!("/settings/webhooks/{endpoint}");
    // The add form sent twice (a reload of the secret page) adds one endpoint.
    let list = b.get("/settings/webhooks").await.body;
    let (csrf, nonce) = (hidden(&list, "csrf"), hidden(&list, "nonce"));
    let url = rx.url();
    let form = [
        ("csrf", csrf.as_str()),
        ("nonce", nonce.as_str()),
        ("url", url.as_str()),
        ("description", "Twice"),
        ("events", "token.created"),
    ];
    let first = b.post("/settings/webhooks", &form).await;
    assert_eq!(first.status, StatusCode::OK);
    let second = b.post("/settings/webhooks", &form).await;
    assert_eq!(second.status, StatusCode::SEE_OTHER);
    assert!(second.location().ends_with("done=replayed"));
    assert!(!second.body.contains("whsec_"));
    let endpoints = app.store.webhook_endpoints().await.unwrap();
    assert_eq!(
        endpoints
            .iter()
            .filter(|e| e.description == "Twice")
            .count(),
        1
    );
    let twice = endpoints.iter().find(|e| e.description == "Twice").unwrap();
    app.store
        .delete_webhook_endpoint(&twice.id, &Default::default(), 0)
        .await
        .unwrap();
    let nonce = hidden(&b.get(&page).await.body, "nonce");
    let rotate = format!("{page}/rotate-secret");
    let r = b.submit(&page, &rotate, &[("nonce", &nonce)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("cache-control"), "no-store");
    let new = value_of(&r.body, "token-value");
    assert!(new.starts_with("whsec_") && new != old);
    // The same form again (a reload): no second rotation, no secret shown.
    let again = b.submit(&page, &rotate, &[("nonce", &nonce)]).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert!(again.location().ends_with("done=rotate-replayed"));
    let shown = b.get(again.location()).await.body;
    assert!(shown.contains("This Rotate was sent before") && !shown.contains("whsec_"));
    b.submit(&page, &format!("{page}/test"), &[]).await;
    let got = rx.wait_for_kind("webhook.test", 10).await;
    assert!(
        verifies(&new, &got) && verifies(&old, &got),
        "both sign for a day"
    );
    assert_eq!(got.header("webhook-signature").split(' ').count(), 2);

    // Disabled: the test button says so; events wait, and go once it is enabled again.
    let r = b
        .submit(
            &page,
            &page,
            &[
                ("url", &rx.url()),
                ("description", "Pager"),
                ("events", "token.revoked"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let e = app
        .store
        .webhook_endpoint(&endpoint)
        .await
        .unwrap()
        .unwrap();
    assert!(!e.enabled && e.description == "Pager");
    let t = b.submit(&page, &format!("{page}/test"), &[]).await;
    assert_eq!(t.status, StatusCode::CONFLICT);
    assert!(t.body.contains("enable it"));
    let fleet = Some(connect_tokens::domain::scope::Target::Fleet("alpha".into()));
    let plaintext = make_token(&app, fleet, perms(1), None, in_days(30)).await;
    let token = newest_tokens(&app.store, 1).await.remove(0);
    let admin = app.store.user_by_username("admin").await.unwrap().unwrap();
    let now = connect_tokens::domain::now();
    assert!(
        connect_tokens::issuing::revoke(&app.store, &admin, &token, "test", "revoked", now)
            .await
            .unwrap()
    );
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(rx.got().len(), 1, "nothing sent while disabled");
    let r = b
        .submit(
            &page,
            &page,
            &[
                ("url", &rx.url()),
                ("description", "Pager"),
                ("events", "token.revoked"),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let revoked = rx.wait_for_kind("token.revoked", 10).await;
    assert_eq!(revoked.json()["data"]["token_id"], token.id.as_str());
    assert!(verifies(&new, &revoked) && !revoked.body.contains(&plaintext));
    // Edits are audited.
    let audit = b.get("/settings/audit?action=webhooks").await.body;
    for label in [
        "Webhook endpoint added",
        "Webhook signing secret rotated",
        "Webhook endpoint changed",
    ] {
        assert!(audit.contains(label), "{label}");
    }
    assert!(!audit.contains("whsec_"));
    // Delete asks first, then removes it and its deliveries.
    assert_eq!(
        b.get(&format!("{page}/delete")).await.status,
        StatusCode::OK
    );
    let d = b
        .submit(&format!("{page}/delete"), &format!("{page}/delete"), &[])
        .await;
    assert_eq!(d.status, StatusCode::SEE_OTHER);
    assert!(
        app.store
            .webhook_endpoint(&endpoint)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        b.get("/settings/audit?action=webhooks")
            .await
            .body
            .contains("Webhook endpoint deleted")
    );
}
