//! Usage counts (PRODUCT.md §14) through the real server: real API calls, allowed and refused,
//! counted per token and day, in the usage API and on the pages; several instances add up;
//! old counts are pruned.

use std::time::Duration;

use connect_tokens::domain::scope::{Role, Target};
use connect_tokens::domain::usage::{self, day_of};
use connect_tokens::store::usage::UseCount;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, call, in_days, make_token, make_token_with, perms, spawn_app_with};

/// A server that writes its usage every second.
async fn app_flushing_every_second() -> TestApp {
    spawn_app_with(connect_tokens::Config {
        usage_flush_secs: 1,
        ..Default::default()
    })
    .await
}

/// Today's entry of a token's usage, read through the API with `admin`.
async fn today(app: &TestApp, admin: &str, id: &str) -> Value {
    let r = call(
        app,
        Method::GET,
        &format!("/access/api/v1/tokens/{id}/usage?days=2"),
        admin,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let days = r.json()["days"].as_array().unwrap().clone();
    assert_eq!(days.len(), 2);
    let date = usage::date_of(day_of(connect_tokens::domain::now()));
    assert_eq!(days[1]["date"], date.as_str(), "the last day is today");
    days[1].clone()
}

/// Polls today's usage until `done` holds (at most 5 s: the flush interval is 1 s).
async fn today_once(app: &TestApp, admin: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut seen = Value::Null;
    for _ in 0..50 {
        seen = today(app, admin, id).await;
        if done(&seen) {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not counted within the batch interval: {seen}");
}

#[tokio::test]
async fn real_calls_are_counted_allowed_and_refused_by_reason_in_the_api_and_on_the_pages() {
    let app = app_flushing_every_second().await;
    let (alpha, _) = app.seed_fleets().await;
    let browser = app.signed_in("boss", Role::Admin).await;
    let admin = make_token(&app, None, perms(0), Some("boss"), in_days(5)).await;
    let reader = make_token_with(
        &app,
        Some(Target::Fleet("alpha".into())),
        perms(1),
        None,
        in_days(30),
        "inventory sync",
        connect_tokens::domain::now(),
    )
    .await;
    let id = app.token_id_of(&reader).await;
    let revoked = make_token(
        &app,
        Some(Target::Fleet("alpha".into())),
        perms(1),
        None,
        in_days(3),
    )
    .await;
    let revoked_id = app.token_id_of(&revoked).await;
    app.store
        .revoke_token(&revoked_id, connect_tokens::domain::now())
        .await
        .unwrap();

    for _ in 0..3 {
        let r = call(&app, Method::GET, "/api/v2/alpha/devices", &reader, None).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let device = format!("/api/v2/alpha/devices/{}", alpha[0]);
    for _ in 0..2 {
        let r = call(
            &app,
            Method::PATCH,
            &device,
            &reader,
            Some(json!({"description": "x"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    let r = call(&app, Method::GET, "/api/v2/bravo/devices", &reader, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "out of scope");
    for _ in 0..2 {
        let r = call(&app, Method::GET, "/api/v2/alpha/devices", &revoked, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }

    let day = today_once(&app, &admin, &id, |d| {
        d["allowed"] == 3 && d["refused"] == 3
    })
    .await;
    assert_eq!(
        day["refused_by_reason"],
        json!({"missing write permission": 2, "out of scope": 1})
    );
    let day = today_once(&app, &admin, &revoked_id, |d| d["refused"] == 2).await;
    assert_eq!(
        (day["allowed"].as_i64(), day["refused_by_reason"].clone()),
        (Some(0), json!({"revoked": 2}))
    );
    // The admin's own reads through the usage API are uses of the admin's token.
    let admin_id = app.token_id_of(&admin).await;
    today_once(&app, &admin, &admin_id, |d| {
        d["allowed"].as_i64() >= Some(2)
    })
    .await;

    let page = browser.get(&format!("/settings/access-tokens/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("3 requests allowed and 3 refused in the last 30 days"),
        "{}",
        page.body
    );
    let date = usage::date_of(day_of(connect_tokens::domain::now()));
    assert!(page.body.contains(&format!(
        "<td>{date}</td><td>3</td><td>3</td><td>missing write permission: 2, out of scope: 1</td>"
    )));
    assert!(
        page.body
            .contains("role=\"img\" aria-labelledby=\"token-requests-title\" aria-describedby=\"token-requests-desc\"")
    );

    let dash = browser.get("/dashboard").await;
    for want in [
        "API requests per day, last 30 days, all tokens",
        "Tokens expiring per week, next 12 weeks",
        "2 active tokens expire in the next 12 weeks",
        "Busiest tokens, last 30 days",
        "The 3 busiest tokens by requests",
        &format!("<td>inventory sync</td><td>{id}</td><td>6</td>"),
    ] {
        assert!(dash.body.contains(want), "{want}: {}", dash.body);
    }
    // Users who are not admins see the counts, not the pictures.
    let mia = app.signed_in("mia", Role::User).await;
    let dash = mia.get("/dashboard").await;
    assert_eq!(dash.status, StatusCode::OK);
    assert!(!dash.body.contains("Busiest tokens"));
}

#[tokio::test]
async fn two_instances_counting_the_same_token_add_up() {
    let one = app_flushing_every_second().await;
    let two = one
        .sibling_with(connect_tokens::Config {
            usage_flush_secs: 1,
            ..Default::default()
        })
        .await;
    let (alpha, _) = one.seed_fleets().await;
    let device = format!("/api/v2/alpha/devices/{}", alpha[0]);
    one.create_user("boss", Role::Admin).await;
    let admin = make_token(&one, None, perms(0), Some("boss"), in_days(5)).await;
    let reader = make_token(
        &one,
        Some(Target::Fleet("alpha".into())),
        perms(1),
        None,
        in_days(5),
    )
    .await;
    let id = one.token_id_of(&reader).await;
    for (app, n) in [(&one, 7), (&two, 5)] {
        for _ in 0..n {
            let r = call(app, Method::GET, "/api/v2/alpha/devices", &reader, None).await;
            assert_eq!(r.status, StatusCode::OK);
        }
        let r = call(app, Method::DELETE, &device, &reader, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    let day = today_once(&one, &admin, &id, |d| {
        d["allowed"] == 12 && d["refused"] == 2
    })
    .await;
    assert_eq!(
        day["refused_by_reason"],
        json!({"missing delete permission": 2})
    );
    // Nothing more arrives later: each instance wrote its own counts once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let day = today(&two, &admin, &id).await;
    assert_eq!(
        (day["allowed"].as_i64(), day["refused"].as_i64()),
        (Some(12), Some(2))
    );
}

#[tokio::test]
async fn counts_older_than_400_days_are_pruned() {
    let app = app_flushing_every_second().await;
    let now = connect_tokens::domain::now();
    let today = day_of(now);
    let count = |day, uses| UseCount {
        token_id: "t".into(),
        day,
        reason: "",
        uses,
    };
    let rows = [
        count(today - 400, 5),
        count(today - 399, 6),
        count(today, 7),
    ];
    app.store.write_usage(&[], &rows).await.unwrap();
    // The window is rolled first (as the server does, at start and before each pruning): a
    // token's days are pruned only once the window has subtracted them.
    // (The server prunes too, at start and every 5 minutes: what is left is what counts.)
    app.store.roll_usage_window(today).await.unwrap();
    app.store.prune_usage(now).await.unwrap();
    let mut kept = app.store.token_uses("t", today - 500, today).await.unwrap();
    kept.sort();
    assert_eq!(
        kept,
        vec![(today - 399, String::new(), 6), (today, String::new(), 7)]
    );
    let totals = app.store.all_uses(today - 500, today).await.unwrap();
    assert_eq!(totals.len(), 2);
}

#[tokio::test]
async fn the_busiest_window_counts_its_30_days_and_rolls_forward_once() {
    let app = spawn_app_with(connect_tokens::Config::default()).await;
    app.seed_fleets().await;
    let today = day_of(connect_tokens::domain::now());
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        let token = make_token_with(
            &app,
            Some(Target::Fleet("alpha".into())),
            perms(1),
            None,
            in_days(9),
            name,
            connect_tokens::domain::now(),
        )
        .await;
        ids.push(app.token_id_of(&token).await);
    }
    let count = |i: usize, day, uses| UseCount {
        token_id: ids[i].clone(),
        day,
        reason: "",
        uses,
    };
    let busiest = |store: connect_tokens::Store| async move {
        store
            .busiest_tokens(5)
            .await
            .unwrap()
            .into_iter()
            .map(|b| (b.description, b.uses))
            .collect::<Vec<_>>()
    };
    // Rolled to today (the server does so at start and every 5 minutes).
    app.store.roll_usage_window(today).await.unwrap();
    let rows = [
        count(0, today - 10, 5),
        count(1, today, 7),
        count(2, today - 29, 3),
    ];
    app.store.write_usage(&[], &rows).await.unwrap();
    assert_eq!(
        busiest(app.store.clone()).await,
        [("b".into(), 7), ("a".into(), 5), ("c".into(), 3)]
    );
    assert_eq!(
        app.store.roll_usage_window(today).await.unwrap(),
        0,
        "rolled already"
    );
    // A late count of a day before the window is kept per day, not in the window.
    app.store
        .write_usage(&[], &[count(0, today - 35, 100)])
        .await
        .unwrap();
    assert_eq!(busiest(app.store.clone()).await[1], ("a".into(), 5));

    // The next day, two instances roll at once: day today-29 leaves the window once.
    let other = connect_tokens::Store::connect(&app.database_url)
        .await
        .unwrap();
    let (one, two) = tokio::join!(
        app.store.roll_usage_window(today + 1),
        other.roll_usage_window(today + 1)
    );
    assert_eq!(
        one.unwrap() + two.unwrap(),
        1,
        "one day left the window, once"
    );
    assert_eq!(
        busiest(app.store.clone()).await,
        [("b".into(), 7), ("a".into(), 5)],
        "c's only use left the window"
    );
    // Thirty days on, nothing is left in it.
    app.store.roll_usage_window(today + 30).await.unwrap();
    assert!(busiest(app.store.clone()).await.is_empty());
}
