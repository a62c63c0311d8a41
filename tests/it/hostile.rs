//! Hostile input through the real server (SECURITY.md 25–26): control characters, bidirectional
//! and invisible characters, bytes that are not UTF-8, and request smuggling — refused with a
//! 4xx that names the field, on SQLite and PostgreSQL alike, and nothing changes.

use std::time::Duration;

use connect_tokens::domain::scope::{Permissions, Role};
use connect_tokens::store::devices::ImportError;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Resp, TestApp, call, date_in, hidden, in_days, make_token, spawn_app};

/// An admin's user token on an app with the two seeded fleets.
async fn admin_api() -> (TestApp, String, Vec<String>) {
    let app = spawn_app().await;
    let (alpha, _) = app.seed_fleets().await;
    app.create_user("boss", Role::Admin).await;
    let token = make_token(&app, None, Permissions::NONE, Some("boss"), in_days(5)).await;
    (app, token, alpha)
}

/// A raw request (the path and body sent exactly as given, no encoding on the way).
async fn raw(
    app: &TestApp,
    method: Method,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Resp {
    let mut req = app.client.request(method, app.url("")).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    // reqwest would normalise a path given through `url`; set it on the built request instead.
    let mut built = req.build().unwrap();
    *built.url_mut() = reqwest::Url::parse(&app.url(path_and_query)).unwrap();
    let res = app.client.execute(built).await.unwrap();
    Resp {
        status: res.status(),
        headers: res.headers().clone(),
        body: res.text().await.unwrap(),
    }
}

/// Sends `request` as raw bytes on a new connection; everything the server answers (lower-cased)
/// until it closes the connection, which it must within 5 s.
async fn until_closed(app: &TestApp, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8_lossy(&answer).to_lowercase()
}

fn message(r: &Resp) -> String {
    r.json()["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn api_text_with_controls_bidi_or_bad_utf8_is_refused_naming_the_field_and_changes_nothing() {
    let (app, admin, alpha) = admin_api().await;
    let device = format!("/api/v2/alpha/devices/{}", alpha[0]);
    let before = call(&app, Method::GET, &device, &admin, None).await.body;
    for (body, want, field) in [
        (
            json!({"name": "a\u{0}b"}),
            StatusCode::BAD_REQUEST,
            "`name`",
        ),
        (
            json!({"tags": ["ok", "e\u{1b}[31m"]}),
            StatusCode::BAD_REQUEST,
            "`tags[1]`",
        ),
        (
            json!({"description": "x\u{202E}y"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "`description`",
        ),
        (
            json!({"name": "ad\u{200B}min"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "`name`",
        ),
        (
            json!({"group": "g\u{85}"}),
            StatusCode::BAD_REQUEST,
            "`group`",
        ),
    ] {
        let r = call(&app, Method::PATCH, &device, &admin, Some(body.clone())).await;
        assert_eq!(r.status, want, "{body}: {}", r.body);
        assert!(message(&r).contains(field), "{body}: {}", r.body);
    }
    assert_eq!(
        call(&app, Method::GET, &device, &admin, None).await.body,
        before,
        "unchanged"
    );

    for (path, field) in [
        ("/api/v2/alpha/devices?group_name=%00", "`group_name`"),
        ("/api/v2/alpha/devices?limit=%FF", "`limit`"),
        ("/api/v2/alpha/devices?group_name=a%0Ab", "`group_name`"),
        ("/api/v2/alpha/devices?tags%5B%5D=a%1Bb", "`tags[]`"),
        ("/access/api/v1/tokens?q=%00", "`q`"),
        ("/api/v2/%00/devices", "URL path"),
        ("/api/v2/alpha/devices/d-0000%FF", "URL path"),
    ] {
        let r = raw(
            &app,
            Method::GET,
            path,
            &[("authorization", &format!("Bearer {admin}"))],
            Vec::new(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
        assert!(message(&r).contains(field), "{path}: {}", r.body);
    }

    // A repeated key or a null is refused, not silently resolved.
    for (raw_body, field) in [
        (r#"{"name": "first", "name": "second"}"#, "duplicate field"),
        (r#"{"name": null}"#, "`name` is null"),
    ] {
        let r = raw(
            &app,
            Method::PATCH,
            &device,
            &[
                ("authorization", &format!("Bearer {admin}")),
                ("content-type", "application/json"),
            ],
            raw_body.as_bytes().to_vec(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{raw_body}: {}", r.body);
        assert!(message(&r).contains(field), "{raw_body}: {}", r.body);
    }
    assert_eq!(
        call(&app, Method::GET, &device, &admin, None).await.body,
        before,
        "unchanged"
    );

    let tokens_before = app.token_count().await;
    let expires = date_in(5);
    for (description, want) in [
        ("nul \u{0}", StatusCode::BAD_REQUEST),
        ("reads \u{202E}backwards", StatusCode::UNPROCESSABLE_ENTITY),
        ("zero\u{200D}width", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let body = json!({"type": "device_details", "description": description, "expires_at": expires,
            "target": {"fleet": "alpha"}, "permissions": ["read"]});
        let r = call(
            &app,
            Method::POST,
            "/access/api/v1/tokens",
            &admin,
            Some(body),
        )
        .await;
        assert_eq!(r.status, want, "{description:?}: {}", r.body);
        assert!(message(&r).contains("description"), "{}", r.body);
    }
    assert_eq!(app.token_count().await, tokens_before, "no token made");
}

#[tokio::test]
async fn console_text_with_controls_bidi_or_bad_utf8_is_refused_naming_the_field() {
    let app = spawn_app().await;
    app.seed_fleets().await;
    // The unauthenticated sign-in form: a NUL in the username is a 400, not a database error.
    let visitor = app.browser();
    let csrf = hidden(&visitor.get("/login").await.body, "csrf");
    let cookie = visitor
        .cookies
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    for (username, says) in [("ad%00min", "control character"), ("%FF", "UTF-8")] {
        let form = format!("csrf={csrf}&username={username}&password=whatever-password");
        let r = raw(
            &app,
            Method::POST,
            "/login",
            &[
                ("cookie", &cookie),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            form.into_bytes(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(
            r.body.contains("username") && r.body.contains(says),
            "{username}: {}",
            r.body
        );
        assert!(r.header("content-type").starts_with("text/html"));
    }

    let admin = app.signed_in("admin", Role::Admin).await;
    for path in [
        "/settings/access-tokens?q=%00",
        "/devices?q=%FF",
        "/settings/audit?q=a%1B",
        "/settings/account/device-search?q=%00",
    ] {
        let r = admin.get(path).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
        assert!(r.body.contains("`q`"), "{path}: {}", r.body);
    }
    // Names and descriptions refuse what would display as something else.
    let before = app.token_count().await;
    let r = crate::helpers::generate(
        &admin,
        &[
            ("description", "ci \u{202E}yolpmed"),
            ("expires", &date_in(5)),
            ("target_kind", "fleet"),
            ("fleet", "alpha"),
            ("perm_read", "on"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("bidirectional"), "{}", r.body);
    assert_eq!(app.token_count().await, before);
    let r = admin
        .submit(
            "/devices",
            "/devices/fleets",
            &[
                ("key", "zulu"),
                ("name", "Zu\u{200B}lu"),
                ("description", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(app.store.fleet("zulu").await.unwrap().is_none());
}

#[tokio::test]
async fn a_csv_cell_with_a_control_character_is_refused_with_its_own_line_number() {
    let app = spawn_app().await;
    let csv = "fleet,uuid,name,group,tags,description\n\
               north,,ok one,,,\n\
               north,,\"two\nlines\",,,\n\
               north,,fine,,,\"esc \u{1b}[31m\"\n";
    let err = connect_tokens::import::import_csv(&app.store, csv.as_bytes(), |_| {})
        .await
        .unwrap_err();
    match err {
        // The quoted name spans lines 3–4; the row with the ESC starts on line 5.
        ImportError::Row { line, message } => {
            assert_eq!(line, 3, "{message}");
            assert!(message.contains("name"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let csv = "fleet,uuid,name,group,tags,description\nnorth,,ok,,,\nnorth,,fine,,,\"nul \u{0}\"\n";
    match connect_tokens::import::import_csv(&app.store, csv.as_bytes(), |_| {})
        .await
        .unwrap_err()
    {
        ImportError::Row { line, message } => {
            assert_eq!(line, 3, "{message}");
            assert!(message.contains("description"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        app.store.fleet("north").await.unwrap().is_none(),
        "nothing imported"
    );
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_refused_and_the_connection_closed() {
    let app = spawn_app().await;
    // Transfer-Encoding first and a Content-Length hyper would not even read: still refused.
    for length in ["5, 5", "-1"] {
        let request = format!(
            "POST /login HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\
             Content-Length: {length}\r\n\r\n0\r\n\r\n"
        );
        let answer = until_closed(&app, request.as_bytes()).await;
        assert!(answer.starts_with("http/1.1 400"), "{length}: {answer}");
    }
    let answer = until_closed(
        &app,
        b"POST /access/api/v1/tokens HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("http/1.1 400"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.contains("transfer-encoding"), "says why: {answer}");
    assert_eq!(
        answer.matches("http/1.1 ").count(),
        1,
        "the smuggled request is not answered: {answer}"
    );
}

#[tokio::test]
async fn a_revoked_token_retried_three_thousand_times_leaves_a_counted_entry_not_thousands() {
    let app = crate::helpers::spawn_app_with(connect_tokens::Config {
        usage_flush_secs: 1,
        ..connect_tokens::Config::default()
    })
    .await;
    let (alpha, _) = app.seed_fleets().await;
    let token = make_token(
        &app,
        Some(connect_tokens::domain::scope::Target::Fleet("alpha".into())),
        Permissions::ALL,
        None,
        in_days(5),
    )
    .await;
    let id = crate::helpers::newest_tokens(&app.store, 1).await[0]
        .id
        .clone();
    app.store
        .revoke_token(&id, connect_tokens::domain::now())
        .await
        .unwrap();
    let path = format!("/api/v2/alpha/devices/{}", alpha[0]);
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (client, url, token) = (app.client.clone(), app.url(&path), token.clone());
        workers.push(tokio::spawn(async move {
            for _ in 0..375 {
                let r = client.get(&url).bearer_auth(&token).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    // The counts reach the database with the next flush.
    let mut counted = 0;
    let mut entries = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        entries = crate::helpers::audit_entries(&app, 100)
            .await
            .into_iter()
            .filter(|e| e.action == "token.refused" && e.token_id.as_deref() == Some(id.as_str()))
            .collect::<Vec<_>>();
        counted = entries.iter().map(|e| e.count).sum::<i64>();
        if counted == 3000 {
            break;
        }
    }
    assert_eq!(counted, 3000, "every refusal counted: {entries:?}");
    assert!(
        entries.len() <= 3,
        "one entry per minute: {} entries",
        entries.len()
    );
    assert!(entries.iter().all(|e| e.detail == "revoked"));
}
