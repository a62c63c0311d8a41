//! `/api/v2/{fleet}/devices` and `/api/v2/{fleet}/devices/{uuid}`: the scope rules for every
//! target and permission subset, pagination and filters.

use connect_tokens::domain::scope::{Permission, Permissions, Target};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{call, in_days, make_token, perms, spawn_app};

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
