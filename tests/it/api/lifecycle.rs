//! A token's life through the API (issue #14): rotation by an admin and by the token itself
//! (device details tokens included), grace times, reuse detection, a double rotation at once,
//! introspection, allowed client IPs (forwarded, IPv4 and IPv6) and where the last use came from.

use connect_tokens::Config;
use connect_tokens::domain::scope::{Permissions, Role, Target};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, audit_entries, call, date_in, in_days, make_token, spawn_app, spawn_app_with,
};

/// An app with fleet alpha and an admin's user token.
async fn admin_app(config: Config) -> (TestApp, Vec<String>, String) {
    let app = spawn_app_with(config).await;
    let (alpha, _) = app.seed_fleets().await;
    app.create_user("boss", Role::Admin).await;
    let admin = make_token(&app, None, Permissions::NONE, Some("boss"), in_days(3)).await;
    (app, alpha, admin)
}

/// Creates a device details token on fleet alpha through the API; (plaintext, Token ID).
async fn fleet_token(app: &TestApp, admin: &str, allowed_ips: Value) -> (String, String) {
    let r = call(
        app,
        Method::POST,
        "/access/api/v1/tokens",
        admin,
        Some(
            json!({"type": "device_details", "description": "pipeline", "expires_at": date_in(20),
                    "target": {"fleet": "alpha"}, "permissions": ["read", "write"],
                    "allowed_ips": allowed_ips}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let v = r.json();
    (
        v["token"].as_str().unwrap().to_owned(),
        v["token_id"].as_str().unwrap().to_owned(),
    )
}

async fn fleet_devices(app: &TestApp, token: &str) -> StatusCode {
    call(app, Method::GET, "/api/v2/alpha/devices", token, None)
        .await
        .status
}

#[tokio::test]
async fn a_device_details_token_rotates_itself_and_the_old_one_stops_at_once() {
    let (app, _, admin) = admin_app(Config::default()).await;
    let (old, old_id) = fleet_token(&app, &admin, json!([])).await;
    // Who am I: metadata, never a secret.
    let me = call(&app, Method::GET, "/access/api/v1/tokens/self", &old, None).await;
    assert_eq!(me.status, StatusCode::OK);
    let me = me.json();
    assert_eq!(me["token_id"], old_id.as_str());
    assert_eq!(me["type"], "device_details");
    assert_eq!(me["permissions"], json!(["read", "write"]));
    assert!(me.get("token").is_none() && !me.to_string().contains(&old));

    let r = call(
        &app,
        Method::POST,
        "/access/api/v1/tokens/self/rotate",
        &old,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.header("cache-control"), "no-store");
    let new = r.json();
    let (new_token, new_id) = (
        new["token"].as_str().unwrap(),
        new["token_id"].as_str().unwrap(),
    );
    assert!(new_token.starts_with("ctd_") && new_token != old);
    // Everything but the secret and the expiry is inherited; the chain is recorded.
    assert_eq!(new["description"], "pipeline");
    assert_eq!(new["target"], json!({"fleet": "alpha"}));
    assert_eq!(new["permissions"], json!(["read", "write"]));
    assert_eq!(new["predecessor_id"], old_id.as_str());
    assert_eq!(new["created_by"], "boss");
    // No grace: the old token stops at once, the new one works.
    assert_eq!(fleet_devices(&app, &old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(fleet_devices(&app, new_token).await, StatusCode::OK);
    let old_now = call(
        &app,
        Method::GET,
        &format!("/access/api/v1/tokens/{old_id}"),
        &admin,
        None,
    )
    .await
    .json();
    assert_eq!(old_now["successor_id"], new_id);
    // Both ends of the rotation are in the audit log, linked.
    let entries = audit_entries(&app, 10).await;
    let rotated = entries
        .iter()
        .find(|e| e.action == "token.rotated")
        .unwrap();
    assert_eq!(rotated.token_id.as_deref(), Some(old_id.as_str()));
    assert!(rotated.detail.contains(new_id), "{}", rotated.detail);
    assert!(entries.iter().any(|e| e.action == "token.generated"
        && e.token_id.as_deref() == Some(new_id)
        && e.detail.contains(&old_id)));
}

#[tokio::test]
async fn an_admin_rotates_with_a_grace_time_and_both_work_meanwhile() {
    let (app, _, admin) = admin_app(Config::default()).await;
    let (old, old_id) = fleet_token(&app, &admin, json!(["127.0.0.0/8"])).await;
    let r = call(
        &app,
        Method::POST,
        &format!("/access/api/v1/tokens/{old_id}/rotate"),
        &admin,
        Some(json!({"expires_at": date_in(5), "grace_seconds": 3600})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let new = r.json();
    assert_eq!(
        new["allowed_ips"],
        json!(["127.0.0.0/8"]),
        "allowed IPs inherited"
    );
    assert!(
        new["expires_at"].as_str().unwrap().starts_with(&date_in(6)),
        "end of the chosen day"
    );
    let new_token = new["token"].as_str().unwrap();
    assert_eq!(
        fleet_devices(&app, &old).await,
        StatusCode::OK,
        "within its grace"
    );
    assert_eq!(fleet_devices(&app, new_token).await, StatusCode::OK);
    let old_now = call(
        &app,
        Method::GET,
        &format!("/access/api/v1/tokens/{old_id}"),
        &admin,
        None,
    )
    .await
    .json();
    let until = time::OffsetDateTime::parse(
        old_now["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp();
    let in_an_hour = connect_tokens::domain::now() + 3600;
    assert!(
        (in_an_hour - 5..=in_an_hour).contains(&until),
        "stops an hour from now"
    );
    // Rotating it again (from anywhere) makes no second successor.
    let again = call(
        &app,
        Method::POST,
        &format!("/access/api/v1/tokens/{old_id}/rotate"),
        &admin,
        None,
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again.body.contains(new["token_id"].as_str().unwrap()),
        "{}",
        again.body
    );
    // Bad requests change nothing.
    for body in [
        json!({"grace_seconds": -1}),
        json!({"grace_seconds": 86_401}),
        json!({"expires_at": "2000-01-01"}),
        json!({"expires_at": ""}),
        json!({"expires_at": date_in(4000)}),
    ] {
        let r = call(
            &app,
            Method::POST,
            "/access/api/v1/tokens/self/rotate",
            new_token,
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.body
        );
    }
    let r = call(
        &app,
        Method::POST,
        "/access/api/v1/tokens/self/rotate",
        new_token,
        Some(json!({"grace": 1})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "unknown field");
    // A struct's fields given as an array (serde would take it) is not an object: refused.
    let r = call(
        &app,
        Method::POST,
        "/access/api/v1/tokens/self/rotate",
        new_token,
        Some(json!([null, null])),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(fleet_devices(&app, new_token).await, StatusCode::OK);
}

#[tokio::test]
async fn a_rotated_out_token_presented_to_rotate_again_revokes_the_rest_of_its_chain() {
    let (app, _, admin) = admin_app(Config::default()).await;
    let (first, _) = fleet_token(&app, &admin, json!([])).await;
    let second = call(
        &app,
        Method::POST,
        "/access/api/v1/tokens/self/rotate",
        &first,
        None,
    )
    .await
    .json();
    let second = second["token"].as_str().unwrap().to_owned();
    // A thief's rotation with a grace time keeps the second token alive too…
    let third = call(
        &app,
        Method::POST,
        "/access/api/v1/tokens/self/rotate",
        &second,
        Some(json!({"grace_seconds": 3600})),
    )
    .await
    .json();
    let (third, third_id) = (
        third["token"].as_str().unwrap().to_owned(),
        third["token_id"].as_str().unwrap().to_owned(),
    );
    assert_eq!(fleet_devices(&app, &third).await, StatusCode::OK);
    // Moments after its rotation, the old token at a rotate endpoint is a concurrent retry: 409.
    let retry = call(
        &app,
        Method::POST,
        "/access/api/v1/tokens/self/rotate",
        &first,
        None,
    )
    .await;
    assert_eq!(retry.status, StatusCode::CONFLICT, "{}", retry.body);
    assert_eq!(fleet_devices(&app, &third).await, StatusCode::OK);
    // Later it can only be a leaked copy: 401, and the newest token of the chain is revoked.
    tokio::time::sleep(std::time::Duration::from_secs(
        connect_tokens::domain::expiry::REUSE_LEEWAY_SECS as u64 + 1,
    ))
    .await;
    let reuse = call(
        &app,
        Method::POST,
        "/access/api/v1/tokens/self/rotate",
        &first,
        None,
    )
    .await;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    assert!(
        reuse.body.contains("revokes every token that followed it"),
        "{}",
        reuse.body
    );
    assert_eq!(fleet_devices(&app, &third).await, StatusCode::UNAUTHORIZED);
    // …and every token after the presented one is revoked, each audited once.
    assert_eq!(fleet_devices(&app, &second).await, StatusCode::UNAUTHORIZED);
    let reused = |entries: Vec<connect_tokens::store::audit::AuditEntry>| {
        entries
            .into_iter()
            .filter(|e| e.action == "token.reuse_detected")
            .collect::<Vec<_>>()
    };
    let entries = reused(audit_entries(&app, 10).await);
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(
        entries
            .iter()
            .any(|e| e.token_id.as_deref() == Some(third_id.as_str()))
    );
    // Presenting it again revokes nothing more and records nothing more.
    let again = call(
        &app,
        Method::POST,
        "/access/api/v1/tokens/self/rotate",
        &first,
        None,
    )
    .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reused(audit_entries(&app, 10).await).len(), 2);
    // The same through the admin endpoint: an admin's rotated-out token is refused there too.
    let admin_id = call(
        &app,
        Method::GET,
        "/access/api/v1/tokens/self",
        &admin,
        None,
    )
    .await
    .json()["token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_admin = call(
        &app,
        Method::POST,
        &format!("/access/api/v1/tokens/{admin_id}/rotate"),
        &admin,
        None,
    )
    .await
    .json();
    assert_eq!(new_admin["username"], "boss");
    assert_eq!(fleet_devices(&app, &admin).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_double_rotation_at_once_yields_exactly_one_successor() {
    let (app, _, admin) = admin_app(Config::default()).await;
    let (token, id) = fleet_token(&app, &admin, json!([])).await;
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (app, token, admin, id) = (app.clone(), token.clone(), admin.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            // Half through the token itself, half through the admin endpoint.
            let r = if i % 2 == 0 {
                call(
                    &app,
                    Method::POST,
                    "/access/api/v1/tokens/self/rotate",
                    &token,
                    None,
                )
                .await
            } else {
                call(
                    &app,
                    Method::POST,
                    &format!("/access/api/v1/tokens/{id}/rotate"),
                    &admin,
                    None,
                )
                .await
            };
            r.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
        "the others are told it was rotated: {statuses:?}"
    );
    let old = call(
        &app,
        Method::GET,
        &format!("/access/api/v1/tokens/{id}"),
        &admin,
        None,
    )
    .await
    .json();
    let successor = old["successor_id"].as_str().expect("rotated once");
    let newest = call(
        &app,
        Method::GET,
        &format!("/access/api/v1/tokens/{successor}"),
        &admin,
        None,
    )
    .await
    .json();
    assert!(newest["successor_id"].is_null(), "and only once");
    assert_eq!(newest["predecessor_id"], id.as_str());
    assert_eq!(newest["status"], "active", "no retry revoked the successor");
}

#[tokio::test]
async fn allowed_ips_are_judged_on_the_forwarded_address_in_both_families() {
    let config = Config {
        trusted_proxy: true,
        usage_flush_secs: 1,
        ..Config::default()
    };
    let (app, _, admin) = admin_app(config).await;
    let (token, id) = fleet_token(&app, &admin, json!(["203.0.113.0/24", "2001:db8::/32"])).await;
    let from = |addr: &'static str| {
        let (app, token) = (&app, token.clone());
        async move {
            app.client
                .get(app.url("/api/v2/alpha/devices"))
                .bearer_auth(&token)
                .header("x-forwarded-for", format!("198.51.100.200, {addr}"))
                .header("user-agent", "fleet-bot/2.1")
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(from("203.0.113.9").await.status(), StatusCode::OK);
    assert_eq!(from("2001:db8:4::1").await.status(), StatusCode::OK);
    for outside in ["198.51.100.7", "2001:db9::1", "203.0.114.1"] {
        let r = from(outside).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{outside}");
        let body = r.text().await.unwrap();
        assert!(
            body.contains(&format!("may not be used from {outside}")),
            "{body}"
        );
    }
    // Without a forwarded address the connection's own (127.0.0.1) is judged: outside.
    assert_eq!(fleet_devices(&app, &token).await, StatusCode::FORBIDDEN);
    // Refusals are audited (aggregated per minute, token, reason and address).
    let entries = audit_entries(&app, 20).await;
    let refused: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "token.refused" && e.detail.contains("client address not allowed"))
        .collect();
    assert_eq!(refused.len(), 4, "{entries:?}");
    assert!(refused.iter().any(|e| e.source == "2001:db9::1"));
    // Where the last accepted use came from, batched like its time.
    from("2001:db8::77").await;
    let mut seen = Value::Null;
    for _ in 0..40 {
        seen = call(
            &app,
            Method::GET,
            &format!("/access/api/v1/tokens/{id}"),
            &admin,
            None,
        )
        .await
        .json();
        if seen["last_used_ip"] == "2001:db8::77" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen["last_used_ip"], "2001:db8::77", "{seen}");
    assert_eq!(seen["last_used_agent"], "fleet-bot/2.1");
    assert_eq!(
        seen["allowed_ips"],
        json!(["203.0.113.0/24", "2001:db8::/32"])
    );
    // Bad lists are refused, naming the entry, and nothing is made.
    for bad in [
        json!(["10.0.0.1/8"]),
        json!(["example.com"]),
        json!(
            (0..33)
                .map(|i| format!("10.{i}.0.0/16"))
                .collect::<Vec<_>>()
        ),
    ] {
        let r = call(
            &app,
            Method::POST,
            "/access/api/v1/tokens",
            &admin,
            Some(
                json!({"type": "device_details", "description": "x", "expires_at": date_in(3),
                        "target": {"fleet": "alpha"}, "permissions": ["read"], "allowed_ips": bad}),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    }
}

#[tokio::test]
async fn a_user_token_introspects_and_rotates_itself_and_keeps_following_its_user() {
    let app = spawn_app().await;
    app.seed_fleets().await;
    app.create_user("kim", Role::User).await;
    let token = make_token(&app, None, Permissions::NONE, Some("kim"), in_days(9)).await;
    let me = call(
        &app,
        Method::GET,
        "/access/api/v1/tokens/self",
        &token,
        None,
    )
    .await
    .json();
    assert_eq!(me["type"], "user");
    assert_eq!(me["username"], "kim");
    let new = call(
        &app,
        Method::POST,
        "/access/api/v1/tokens/self/rotate",
        &token,
        None,
    )
    .await;
    assert_eq!(new.status, StatusCode::CREATED, "{}", new.body);
    let new = new.json();
    assert!(new["token"].as_str().unwrap().starts_with("ctu_"));
    assert_eq!(new["username"], "kim");
    // A non-admin cannot rotate someone else's token through the admin endpoint.
    let other = make_token(
        &app,
        Some(Target::Fleet("alpha".into())),
        Permissions::from_bits(1),
        None,
        in_days(3),
    )
    .await;
    let other_id = call(
        &app,
        Method::GET,
        "/access/api/v1/tokens/self",
        &other,
        None,
    )
    .await
    .json()["token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = call(
        &app,
        Method::POST,
        &format!("/access/api/v1/tokens/{other_id}/rotate"),
        new["token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_client_cannot_choose_its_address_past_the_trusted_proxy() {
    let config = Config {
        trusted_proxy: true,
        ..Config::default()
    };
    let (app, _, admin) = admin_app(config).await;
    let (token, _) = fleet_token(&app, &admin, json!(["203.0.113.0/24", "127.0.0.0/8"])).await;
    let with = |lines: &'static [&'static str]| {
        let mut req = app
            .client
            .get(app.url("/api/v2/alpha/devices"))
            .bearer_auth(&token);
        for line in lines {
            req = req.header("x-forwarded-for", *line);
        }
        req.send()
    };
    // The proxy appends its own line after the client's: the client's line does not count.
    let r = with(&["203.0.113.9", "198.51.100.7"]).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("198.51.100.7"));
    assert_eq!(
        with(&["198.51.100.7", "203.0.113.9"])
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // An address the proxy did not write (unreadable) is unknown: not the proxy's own address.
    assert_eq!(
        with(&["not-an-address"]).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
}
