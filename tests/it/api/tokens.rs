//! The token-management API, `/access/api/v1/tokens…`: create, list, get, revoke by Token ID
//! and by value.

use connect_tokens::domain::scope::{Permissions, Role};
use connect_tokens::domain::token::{self, TokenKind};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{call, in_days, make_token, spawn_app};

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
