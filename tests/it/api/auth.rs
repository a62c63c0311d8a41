//! Bearer authentication on every API route: which tokens are refused (401) and how, a user
//! token's rights judged at each request, and last-used stamps.

use connect_tokens::domain::scope::{Permissions, Role, Target};
use connect_tokens::domain::token::{self, TokenKind};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{audit_entries, call, in_days, make_token, perms, spawn_app, spawn_app_with};

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
    let audit = audit_entries(&app, 20).await;
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
