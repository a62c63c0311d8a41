//! Request bodies on the routes that take one (device PATCH, token POST): wrong shapes, bad
//! values, not JSON, oversized — each a clear 4xx that changes nothing.

use connect_tokens::domain::scope::{Permissions, Role};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{call, in_days, make_token, spawn_app};

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
