//! Connect API v2 and the token-management API through the real server.

use connect_tokens::domain::scope::{Permission, Permissions, Role, Target};
use connect_tokens::domain::token::{self, TokenKind};
use connect_tokens::store::tokens::NewToken;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Resp, TestApp, spawn_app, spawn_app_with};

/// Stores a token directly (the console and API paths are tested elsewhere); returns it.
pub async fn make_token(
    app: &TestApp,
    target: Option<Target>,
    perms: Permissions,
    user: Option<&str>,
    expires_at: i64,
) -> String {
    let kind = if target.is_some() {
        TokenKind::DeviceDetails
    } else {
        TokenKind::User
    };
    let t = token::generate(kind);
    let user_id = match user {
        Some(name) => Some(app.store.user_by_username(name).await.unwrap().unwrap().id),
        None => None,
    };
    app.store
        .insert_token(
            &NewToken {
                kind,
                hash: &t.hash,
                hint: &t.hint,
                description: "test",
                user_id: user_id.as_deref(),
                target: target.as_ref(),
                permissions: perms,
                created_by: None,
                expires_at,
                form_nonce: None,
            },
            connect_tokens::domain::now(),
        )
        .await
        .unwrap();
    t.plaintext.expose().to_owned()
}

fn in_days(days: i64) -> i64 {
    connect_tokens::domain::now() + days * 86_400
}

/// Sends an API request with `Authorization: Bearer <token>`.
pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> Resp {
    let mut req = app
        .client
        .request(method, app.url(path))
        .header("authorization", format!("Bearer {token}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    Resp {
        status: res.status(),
        headers: res.headers().clone(),
        body: res.text().await.unwrap(),
    }
}

fn perms(bits: i64) -> Permissions {
    Permissions::from_bits(bits)
}

#[tokio::test]
async fn every_endpoint_follows_the_scope_rules_for_every_target_and_permission_subset() {
    let mut checked = 0;
    for target_kind in ["fleet", "device"] {
        for bits in 1..8 {
            let app = spawn_app().await;
            let (alpha, bravo) = app.seed_fleets().await;
            let p = perms(bits);
            let target = if target_kind == "fleet" {
                Target::Fleet("alpha".into())
            } else {
                Target::Device(alpha[0].clone())
            };
            let tok = make_token(&app, Some(target), p, None, in_days(5)).await;
            let fleet = target_kind == "fleet";
            let code = |allowed: bool, perm: Permission| {
                if !allowed {
                    StatusCode::NOT_FOUND
                } else if p.contains(perm) {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                }
            };
            let cases: Vec<(Method, String, Option<serde_json::Value>, StatusCode)> = vec![
                (
                    Method::GET,
                    "/api/v2/alpha/devices".into(),
                    None,
                    code(fleet, Permission::Read),
                ),
                (
                    Method::GET,
                    "/api/v2/bravo/devices".into(),
                    None,
                    StatusCode::NOT_FOUND,
                ),
                (
                    Method::GET,
                    "/api/v2/zulu/devices".into(),
                    None,
                    StatusCode::NOT_FOUND,
                ),
                (
                    Method::GET,
                    format!("/api/v2/alpha/devices/{}", alpha[0]),
                    None,
                    code(true, Permission::Read),
                ),
                (
                    Method::GET,
                    format!("/api/v2/alpha/devices/{}", alpha[1]),
                    None,
                    code(fleet, Permission::Read),
                ),
                (
                    Method::GET,
                    format!("/api/v2/bravo/devices/{}", bravo[0]),
                    None,
                    StatusCode::NOT_FOUND,
                ),
                // A device in scope, asked for under another fleet's URL: as if missing.
                (
                    Method::GET,
                    format!("/api/v2/bravo/devices/{}", alpha[0]),
                    None,
                    StatusCode::NOT_FOUND,
                ),
                (
                    Method::PATCH,
                    format!("/api/v2/bravo/devices/{}", bravo[0]),
                    Some(json!({"name": "x"})),
                    StatusCode::NOT_FOUND,
                ),
                (
                    Method::DELETE,
                    format!("/api/v2/bravo/devices/{}", bravo[0]),
                    None,
                    StatusCode::NOT_FOUND,
                ),
                (
                    Method::PATCH,
                    format!("/api/v2/alpha/devices/{}", alpha[0]),
                    Some(json!({"description": "patched"})),
                    code(true, Permission::Write),
                ),
                (
                    Method::PATCH,
                    format!("/api/v2/alpha/devices/{}", alpha[1]),
                    Some(json!({"tags": ["x"]})),
                    code(fleet, Permission::Write),
                ),
                (
                    Method::DELETE,
                    format!("/api/v2/alpha/devices/{}", alpha[1]),
                    None,
                    if code(fleet, Permission::Delete) == StatusCode::OK {
                        StatusCode::NO_CONTENT
                    } else {
                        code(fleet, Permission::Delete)
                    },
                ),
                (
                    Method::DELETE,
                    format!("/api/v2/alpha/devices/{}", alpha[0]),
                    None,
                    if p.contains(Permission::Delete) {
                        StatusCode::NO_CONTENT
                    } else {
                        StatusCode::FORBIDDEN
                    },
                ),
            ];
            for (method, path, body, want) in cases {
                let r = call(&app, method.clone(), &path, &tok, body).await;
                assert_eq!(
                    r.status, want,
                    "{target_kind} token {p:?}: {method} {path}: {}",
                    r.body
                );
                if want == StatusCode::FORBIDDEN {
                    assert!(
                        r.json()["errors"][0]["message"]
                            .as_str()
                            .unwrap()
                            .contains("permission")
                    );
                }
                if want == StatusCode::NOT_FOUND {
                    assert_eq!(
                        r.body, r#"{"errors":[{"message":"Not found.","status":404}]}"#,
                        "404s are identical"
                    );
                }
                checked += 1;
            }
            // The side effects happened exactly when allowed.
            let d0 = app.store.device(&alpha[0]).await.unwrap();
            if p.contains(Permission::Delete) {
                assert!(d0.is_none());
            } else if p.contains(Permission::Write) {
                assert_eq!(d0.unwrap().description, "patched");
            } else {
                assert_eq!(d0.unwrap().description, "");
            }
            assert!(app.store.device(&bravo[0]).await.unwrap().is_some());
        }
    }
    assert_eq!(checked, 2 * 7 * 13);
}

#[tokio::test]
async fn pagination_walks_every_device_exactly_once_and_filters_work() {
    let app = spawn_app().await;
    app.seed_fleets().await;
    let now = connect_tokens::domain::now();
    let many: Vec<_> = (0..253)
        .map(|i| connect_tokens::store::devices::Device {
            uuid: format!("d-{:04x}-{:04x}", 0xc000 + i, i * 7),
            fleet_key: "alpha".into(),
            name: format!("bulk-{i}"),
            group_name: if i % 3 == 0 {
                "three".into()
            } else {
                String::new()
            },
            tags: connect_tokens::store::devices::Device::frame_tags(&if i % 2 == 0 {
                vec!["even".to_owned(), "x_y".to_owned()]
            } else {
                vec!["odd".to_owned()]
            }),
            description: String::new(),
            ip: String::new(),
            agent_version: String::new(),
            last_keepalive: None,
            registered_at: now,
        })
        .collect();
    app.store.insert_devices(&many).await.unwrap();
    let tok = make_token(
        &app,
        Some(Target::Fleet("alpha".into())),
        Permissions::ALL,
        None,
        in_days(1),
    )
    .await;
    let mut seen = Vec::new();
    let mut after = String::new();
    let mut pages = 0;
    loop {
        let q = if after.is_empty() {
            "/api/v2/alpha/devices?limit=7".to_owned()
        } else {
            format!("/api/v2/alpha/devices?limit=7&after={after}")
        };
        let r = call(&app, Method::GET, &q, &tok, None).await;
        assert_eq!(r.status, StatusCode::OK);
        let body = r.json();
        let page = body["devices"].as_array().unwrap();
        assert!(page.len() <= 7);
        seen.extend(page.iter().map(|d| d["uuid"].as_str().unwrap().to_owned()));
        pages += 1;
        match body["next"].as_str() {
            Some(n) => after = n.to_owned(),
            None => break,
        }
    }
    let total = 253 + 3;
    assert_eq!(seen.len(), total);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "ordered, no duplicates");
    assert_eq!(pages, total.div_ceil(7));
    // Default page size and filters.
    assert_eq!(
        call(&app, Method::GET, "/api/v2/alpha/devices", &tok, None)
            .await
            .json()["devices"]
            .as_array()
            .unwrap()
            .len(),
        100
    );
    let three = call(
        &app,
        Method::GET,
        "/api/v2/alpha/devices?limit=1000&group_name=three",
        &tok,
        None,
    )
    .await
    .json();
    assert_eq!(three["devices"].as_array().unwrap().len(), 85);
    assert!(three["next"].is_null());
    let tagged = call(
        &app,
        Method::GET,
        "/api/v2/alpha/devices?limit=1000&tags[]=even&tags[]=x_y",
        &tok,
        None,
    )
    .await
    .json();
    assert_eq!(tagged["devices"].as_array().unwrap().len(), 127);
    // '_' is not a wildcard.
    let none = call(
        &app,
        Method::GET,
        "/api/v2/alpha/devices?limit=1000&tags[]=xay",
        &tok,
        None,
    )
    .await
    .json();
    assert_eq!(none["devices"].as_array().unwrap().len(), 0);
    let seeded = call(
        &app,
        Method::GET,
        "/api/v2/alpha/devices?tags%5B%5D=all&group_name=even",
        &tok,
        None,
    )
    .await
    .json();
    assert_eq!(seeded["devices"].as_array().unwrap().len(), 2);
    for bad in [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "after=zzz",
        "order=name",
        "tags[]=a%20b",
        "limit=184467440737095516160",
    ] {
        let r = call(
            &app,
            Method::GET,
            &format!("/api/v2/alpha/devices?{bad}"),
            &tok,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(r.json()["errors"][0]["status"], 400);
    }
}

#[tokio::test]
async fn malformed_mistyped_expired_revoked_and_query_string_tokens_get_401() {
    let app = spawn_app().await;
    let (alpha, _) = app.seed_fleets().await;
    let good = make_token(
        &app,
        Some(Target::Fleet("alpha".into())),
        Permissions::ALL,
        None,
        in_days(1),
    )
    .await;
    let expired = make_token(
        &app,
        Some(Target::Fleet("alpha".into())),
        Permissions::ALL,
        None,
        connect_tokens::domain::now() - 1,
    )
    .await;
    let path = format!("/api/v2/alpha/devices/{}", alpha[0]);
    assert_eq!(
        call(&app, Method::GET, &path, &good, None).await.status,
        StatusCode::OK
    );
    let mut typo = good.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    let unknown = token::generate(TokenKind::DeviceDetails)
        .plaintext
        .expose()
        .to_owned();
    for (what, tok) in [
        ("typo", typo.as_str()),
        ("garbage", "hello"),
        ("unknown", unknown.as_str()),
        ("expired", expired.as_str()),
        ("empty", ""),
    ] {
        let r = call(&app, Method::GET, &path, tok, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(
            r.header("www-authenticate"),
            "Bearer error=\"invalid_token\"",
            "{what}"
        );
        assert_eq!(r.json()["errors"][0]["status"], 401);
    }
    // No header at all, and the wrong scheme.
    let r = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .client
        .get(app.url(&path))
        .header("authorization", format!("Basic {good}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The scheme name in any case, as HTTP allows.
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let r = app
            .client
            .get(app.url(&path))
            .header("authorization", format!("{scheme} {good}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{scheme}");
    }
    for wrong in [
        format!("Bearer{good}"),
        format!("Bearerx {good}"),
        good.clone(),
    ] {
        let r = app
            .client
            .get(app.url(&path))
            .header("authorization", wrong.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{wrong:.8}");
    }
    // In the query string, even with a valid header as well.
    for q in [
        format!("?token={good}"),
        format!("?access_token={good}"),
        format!("?x={good}"),
    ] {
        let r = call(&app, Method::GET, &format!("{path}{q}"), &good, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{q}");
        assert!(r.body.contains("Authorization header"));
    }
    // Revoked: refused on the very next request.
    let id = app
        .store
        .token_by_hash(&token::TokenHash::of(&good))
        .await
        .unwrap()
        .unwrap()
        .id;
    app.store
        .revoke_token(&id, connect_tokens::domain::now())
        .await
        .unwrap();
    let r = call(&app, Method::GET, &path, &good, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("revoked"));
    let audit = app.store.audit_entries(20).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "token.refused"
        && e.token_id.as_deref() == Some(id.as_str())
        && e.detail == "revoked"));
    assert!(
        audit
            .iter()
            .all(|e| !e.detail.contains(&good) && !e.actor.contains(&good))
    );
}

#[tokio::test]
async fn a_non_admin_users_token_follows_their_rights_at_request_time() {
    let app = spawn_app().await;
    let (alpha, bravo) = app.seed_fleets().await;
    app.create_user("root", Role::Admin).await;
    app.create_user("ulla", Role::User).await;
    let user = app.store.user_by_username("ulla").await.unwrap().unwrap();
    let tok = make_token(&app, None, Permissions::NONE, Some("ulla"), in_days(3)).await;
    let dev = format!("/api/v2/alpha/devices/{}", alpha[0]);
    assert_eq!(
        call(&app, Method::GET, &dev, &tok, None).await.status,
        StatusCode::NOT_FOUND,
        "no rights yet"
    );
    assert!(
        call(&app, Method::GET, "/api/v2/fleets", &tok, None)
            .await
            .json()["fleets"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.store
        .set_fleet_permissions(&user.id, "alpha", perms(1))
        .await
        .unwrap();
    assert_eq!(
        call(&app, Method::GET, &dev, &tok, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, Method::GET, "/api/v2/alpha/devices", &tok, None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, Method::PATCH, &dev, &tok, Some(json!({"name": "n"})))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // A missing device of a fleet they have rights on is judged like an existing one (403 for
    // the missing permission); a device of another fleet under this fleet's URL is missing.
    assert_eq!(
        call(
            &app,
            Method::PATCH,
            "/api/v2/alpha/devices/d-ffff-ffff",
            &tok,
            Some(json!({"name": "n"}))
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(
            &app,
            Method::GET,
            &format!("/api/v2/alpha/devices/{}", bravo[0]),
            &tok,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, Method::GET, "/api/v2/bravo/devices", &tok, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let fleets = call(&app, Method::GET, "/api/v2/fleets", &tok, None)
        .await
        .json();
    assert_eq!(
        fleets["fleets"],
        json!([{"key": "alpha", "name": "Fleet alpha", "description": "", "permissions": ["read"]}])
    );
    app.store
        .set_fleet_permissions(&user.id, "alpha", perms(3))
        .await
        .unwrap();
    assert_eq!(
        call(&app, Method::PATCH, &dev, &tok, Some(json!({"name": "n"})))
            .await
            .status,
        StatusCode::OK
    );
    app.store
        .set_fleet_permissions(&user.id, "alpha", Permissions::NONE)
        .await
        .unwrap();
    assert_eq!(
        call(&app, Method::GET, &dev, &tok, None).await.status,
        StatusCode::NOT_FOUND
    );
    // Promote: everything; then token management is open to them.
    assert!(
        app.store
            .change_user_guarded(&user.id, Role::Admin, false)
            .await
            .unwrap()
    );
    assert_eq!(
        call(&app, Method::GET, &dev, &tok, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, Method::GET, "/access/api/v1/tokens", &tok, None)
            .await
            .status,
        StatusCode::OK
    );
    assert!(
        app.store
            .change_user_guarded(&user.id, Role::User, false)
            .await
            .unwrap()
    );
    assert_eq!(
        call(&app, Method::GET, "/access/api/v1/tokens", &tok, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Disable: the token dies at once.
    assert!(
        app.store
            .change_user_guarded(&user.id, Role::User, true)
            .await
            .unwrap()
    );
    assert_eq!(
        call(&app, Method::GET, "/api/v2/fleets", &tok, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn token_management_api_creates_lists_gets_and_revokes() {
    let app = spawn_app().await;
    let (alpha, _) = app.seed_fleets().await;
    app.create_user("boss", Role::Admin).await;
    let admin = make_token(&app, None, Permissions::NONE, Some("boss"), in_days(3)).await;
    let expires = connect_tokens::domain::expiry::format_date(
        time::OffsetDateTime::now_utc().date() + time::Duration::days(9),
    );
    let r = call(&app, Method::POST, "/access/api/v1/tokens", &admin,
        Some(json!({"type": "device_details", "description": "api made", "expires_at": expires, "target": {"device": alpha[2]}, "permissions": ["read", "write"]}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.header("cache-control"), "no-store");
    let created = r.json();
    let new_token = created["token"].as_str().unwrap().to_owned();
    assert!(new_token.starts_with("ctd_"));
    assert_eq!(created["target"], json!({"device": alpha[2]}));
    assert_eq!(created["permissions"], json!(["read", "write"]));
    assert_eq!(created["created_by"], "boss");
    let id = created["token_id"].as_str().unwrap().to_owned();
    // It works, within its scope.
    assert_eq!(
        call(
            &app,
            Method::GET,
            &format!("/api/v2/alpha/devices/{}", alpha[2]),
            &new_token,
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    // Later answers never hold the secret.
    let got = call(
        &app,
        Method::GET,
        &format!("/access/api/v1/tokens/{id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.json().get("token").is_none());
    assert!(!got.body.contains(&new_token));
    let list = call(
        &app,
        Method::GET,
        "/access/api/v1/tokens?type=device_details&status=active&q=API",
        &admin,
        None,
    )
    .await;
    assert_eq!(list.json()["tokens"].as_array().unwrap().len(), 1);
    assert!(!list.body.contains(&new_token));
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/access/api/v1/tokens?status=revoked",
            &admin,
            None
        )
        .await
        .json()["tokens"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Bad list queries: each named in a 400.
    for (query, named) in [
        ("type=root", "`type`"),
        ("status=gone", "`status`"),
        ("limit=0", "`limit`"),
        ("offset=-1", "`offset`"),
        (&*format!("q={}", "x".repeat(101)), "`q`"),
        ("sort=asc", "`sort`"),
    ] {
        let r = call(
            &app,
            Method::GET,
            &format!("/access/api/v1/tokens?{query}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(r.body.contains(named), "{query}: {}", r.body);
    }
    // A device details token can never manage tokens — not even itself.
    for (m, p) in [
        (Method::GET, "/access/api/v1/tokens".to_owned()),
        (Method::GET, format!("/access/api/v1/tokens/{id}")),
        (Method::DELETE, format!("/access/api/v1/tokens/{id}")),
    ] {
        let r = call(&app, m, &p, &new_token, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{p}");
    }
    let r = call(
        &app,
        Method::POST,
        "/access/api/v1/tokens",
        &new_token,
        Some(
            json!({"type": "user", "username": "boss", "description": "x", "expires_at": expires}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Revoke by Token ID: refused at once.
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/access/api/v1/tokens/{id}"),
            &admin,
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(
            &app,
            Method::GET,
            &format!("/api/v2/alpha/devices/{}", alpha[2]),
            &new_token,
            None
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            "/access/api/v1/tokens/00000000-0000-4000-8000-000000000000",
            &admin,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    // A user token for automation.
    app.create_user("bot", Role::User).await;
    let r = call(
        &app,
        Method::POST,
        "/access/api/v1/tokens",
        &admin,
        Some(
            json!({"type": "user", "username": "bot", "description": "ci", "expires_at": expires}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let bot = r.json()["token"].as_str().unwrap().to_owned();
    assert!(bot.starts_with("ctu_"));
    // Revoke by value: the same answer whether or not the token exists.
    let ghost = token::generate(TokenKind::User)
        .plaintext
        .expose()
        .to_owned();
    for v in [ghost.as_str(), "not even a token", bot.as_str()] {
        let r = call(
            &app,
            Method::POST,
            "/access/api/v1/tokens/revoke",
            &admin,
            Some(json!({"token": v})),
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert!(r.body.is_empty());
    }
    assert_eq!(
        call(&app, Method::GET, "/api/v2/fleets", &bot, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn bad_input_of_any_shape_gets_a_clear_4xx_and_changes_nothing() {
    let app = spawn_app().await;
    let (alpha, _) = app.seed_fleets().await;
    app.create_user("boss", Role::Admin).await;
    let admin = make_token(&app, None, Permissions::NONE, Some("boss"), in_days(3)).await;
    let dev = format!("/api/v2/alpha/devices/{}", alpha[0]);
    let expires = connect_tokens::domain::expiry::format_date(
        time::OffsetDateTime::now_utc().date() + time::Duration::days(9),
    );
    let far = connect_tokens::domain::expiry::format_date(
        time::OffsetDateTime::now_utc().date() + time::Duration::days(400),
    );
    let patches = [
        (json!({}), StatusCode::BAD_REQUEST),
        (json!({"colour": "red"}), StatusCode::BAD_REQUEST),
        (json!({"name": 5}), StatusCode::BAD_REQUEST),
        (json!({"name": ""}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"name": "x".repeat(129)}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({"tags": ["a b"]}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"tags": "edge"}), StatusCode::BAD_REQUEST),
        (json!([1, 2]), StatusCode::BAD_REQUEST),
    ];
    for (body, want) in patches {
        let r = call(&app, Method::PATCH, &dev, &admin, Some(body.clone())).await;
        assert_eq!(r.status, want, "{body}: {}", r.body);
        assert!(
            r.json()["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let creates = [
        json!({"type": "root", "description": "d", "expires_at": expires}),
        json!({"type": "device_details", "description": "d", "expires_at": expires, "target": {"fleet": "alpha"}, "permissions": ["admin"]}),
        json!({"type": "device_details", "description": "d", "expires_at": expires, "target": {"fleet": "alpha"}, "permissions": []}),
        json!({"type": "device_details", "description": "d", "expires_at": expires, "target": {"fleet": "alpha", "device": alpha[0]}, "permissions": ["read"]}),
        json!({"type": "device_details", "description": "d", "expires_at": expires, "target": {"planet": "mars"}, "permissions": ["read"]}),
        json!({"type": "device_details", "description": "d", "expires_at": far, "target": {"fleet": "alpha"}, "permissions": ["read"]}),
        json!({"type": "device_details", "description": "d", "expires_at": "2001-01-01", "target": {"fleet": "alpha"}, "permissions": ["read"]}),
        json!({"type": "device_details", "description": "", "expires_at": expires, "target": {"fleet": "alpha"}, "permissions": ["read"]}),
        json!({"type": "device_details", "description": "d", "expires_at": expires, "target": {"fleet": "zulu"}, "permissions": ["read"]}),
        json!({"type": "user", "username": "nobody", "description": "d", "expires_at": expires}),
        json!({"type": "user", "username": "boss", "description": "d", "expires_at": expires, "permissions": ["read"]}),
        json!({"type": "user", "username": "boss", "description": "d", "expires_at": 20300101}),
        json!({"type": "user", "username": "boss", "description": "d", "expires_at": expires, "extra": true}),
    ];
    for body in creates {
        let r = call(
            &app,
            Method::POST,
            "/access/api/v1/tokens",
            &admin,
            Some(body.clone()),
        )
        .await;
        assert!(
            r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {} {}",
            r.status,
            r.body
        );
        assert!(
            r.json()["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // Both target kinds, or none: the message says what a target is.
    for target in [json!({"fleet": "alpha", "device": alpha[0]}), json!({})] {
        let body = json!({"type": "device_details", "description": "d", "expires_at": expires, "target": target, "permissions": ["read"]});
        let r = call(
            &app,
            Method::POST,
            "/access/api/v1/tokens",
            &admin,
            Some(body),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{target}");
        assert!(
            r.body.contains(r#"{\"fleet\": …} or {\"device\": …}"#),
            "{}",
            r.body
        );
    }
    assert_eq!(app.token_count().await, 1, "only the admin's own token");
    // Not JSON, invalid UTF-8, oversized.
    let raw = |body: Vec<u8>, ct: &'static str| {
        app.client
            .patch(app.url(&dev))
            .header("authorization", format!("Bearer {admin}"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_eq!(
        raw(b"name=x".to_vec(), "application/x-www-form-urlencoded")
            .await
            .unwrap()
            .status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        raw(b"{\"name\": \"\xff\xfe\"}".to_vec(), "application/json")
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    // Oversized: refused before the body is read, as the API's JSON error with the security
    // headers.
    let r = raw(vec![b' '; 100 * 1024], "application/json")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["status"], 413);
    let d = app.store.device(&alpha[0]).await.unwrap().unwrap();
    assert_eq!(d.name, "alpha-sensor-0", "nothing changed");
}

#[tokio::test]
async fn last_used_is_recorded_in_batches() {
    let app = spawn_app_with(connect_tokens::Config {
        usage_flush_secs: 1,
        ..Default::default()
    })
    .await;
    app.seed_fleets().await;
    let tok = make_token(
        &app,
        Some(Target::Fleet("alpha".into())),
        perms(1),
        None,
        in_days(1),
    )
    .await;
    let hash = token::TokenHash::of(&tok);
    assert!(
        app.store
            .token_by_hash(&hash)
            .await
            .unwrap()
            .unwrap()
            .last_used_at
            .is_none()
    );
    for _ in 0..5 {
        assert_eq!(
            call(&app, Method::GET, "/api/v2/alpha/devices", &tok, None)
                .await
                .status,
            StatusCode::OK
        );
    }
    let mut stamped = None;
    for _ in 0..30 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        stamped = app
            .store
            .token_by_hash(&hash)
            .await
            .unwrap()
            .unwrap()
            .last_used_at;
        if stamped.is_some() {
            break;
        }
    }
    let at = stamped.expect("last_used_at written within the flush interval");
    assert!((connect_tokens::domain::now() - at).abs() < 10);
}
