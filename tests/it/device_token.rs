//! The Generate Device Details Token panel and the show-once view.

use connect_tokens::domain::scope::{Permission, Role, Target};
use connect_tokens::domain::token::{self, TokenHash, TokenKind};
use reqwest::StatusCode;

use crate::helpers::{
    admin_app, audit_entries, date_in, generate, hidden, newest_tokens, open_panel, tokens_in,
};

#[tokio::test]
async fn the_panel_offers_fleets_and_never_ships_the_device_list() {
    let (_app, b, alpha) = admin_app().await;
    let page = b.get("/settings/account/device-token").await;
    assert!(page.body.contains("Generate Device Details Token"));
    assert!(
        page.body
            .contains(r#"<option value="alpha">Fleet alpha (alpha)</option>"#)
    );
    assert!(page.body.contains(r#"<option value="bravo">"#));
    for uuid in &alpha {
        assert!(
            !page.body.contains(uuid.as_str()),
            "device list must come from the search"
        );
    }
    // Sensible default expiry: 30 days out.
    assert!(page.body.contains(&format!("value=\"{}\"", date_in(30))));
}

#[tokio::test]
async fn a_fleet_scoped_token_is_generated_and_shown_once() {
    let (app, b, _) = admin_app().await;
    let r = generate(
        &b,
        &[
            ("description", "CI pipeline"),
            ("expires", &date_in(10)),
            ("target_kind", "fleet"),
            ("fleet", "alpha"),
            ("perm_read", "on"),
            ("perm_write", "on"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("cache-control"), "no-store");
    let found = tokens_in(&r.body);
    assert_eq!(found.len(), 1, "exactly one token in the response");
    let plaintext = &found[0];
    let (kind, hash) = token::parse(plaintext).expect("well-formed");
    assert_eq!(kind, TokenKind::DeviceDetails);
    assert!(r.body.contains("It will not be shown again"));
    assert!(r.body.contains("Fleet alpha") && r.body.contains("Read, Write"));
    let stored = app
        .store
        .token_by_hash(&hash)
        .await
        .unwrap()
        .expect("stored by hash");
    assert_eq!(stored.target, Some(Target::Fleet("alpha".into())));
    assert!(
        stored.permissions.contains(Permission::Read)
            && stored.permissions.contains(Permission::Write)
    );
    assert!(!stored.permissions.contains(Permission::Delete));
    assert_eq!(stored.description, "CI pipeline");
    assert_eq!(stored.created_by.as_deref(), Some("admin"));
    assert!(r.body.contains(&stored.id), "summary shows the Token ID");
    assert_eq!(
        stored.hint,
        format!("ctd_…{}", &plaintext[plaintext.len() - 4..])
    );
    let audit = audit_entries(&app, 5).await;
    assert!(audit.iter().any(
        |e| e.action == "token.generated" && e.token_id.as_deref() == Some(stored.id.as_str())
    ));
    assert!(
        audit
            .iter()
            .all(|e| !e.detail.contains(plaintext.as_str())
                && !e.target.contains(plaintext.as_str()))
    );

    // Later pages never show it again.
    for path in [
        "/settings/account",
        "/settings/account/device-token",
        "/settings/access-tokens",
        "/dashboard",
    ] {
        let later = b.get(path).await;
        assert!(!later.body.contains(plaintext.as_str()), "{path}");
        assert!(tokens_in(&later.body).is_empty(), "{path}");
    }
    let list = b.get("/settings/access-tokens").await;
    assert!(list.body.contains(&stored.id) && list.body.contains(&stored.hint));
}

#[tokio::test]
async fn a_device_scoped_token_is_generated() {
    let (app, b, alpha) = admin_app().await;
    let r = generate(
        &b,
        &[
            ("description", "one device"),
            ("expires", &date_in(1)),
            ("target_kind", "device"),
            ("device", &alpha[1]),
            ("perm_delete", "on"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let plaintext = tokens_in(&r.body).pop().unwrap();
    let stored = app
        .store
        .token_by_hash(&TokenHash::of(&plaintext))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.target, Some(Target::Device(alpha[1].clone())));
    assert_eq!(stored.permissions.names(), ["delete"]);
}

#[tokio::test]
async fn every_invalid_input_is_refused_next_to_its_field_and_creates_nothing() {
    let (app, b, alpha) = admin_app().await;
    let long = "x".repeat(256);
    let (past, today, too_far, ok) = (date_in(-1), date_in(0), date_in(366), date_in(30));
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "empty description",
            vec![
                ("description", "  "),
                ("expires", &ok),
                ("target_kind", "fleet"),
                ("fleet", "alpha"),
                ("perm_read", "on"),
            ],
            "dt-description-error",
            "Enter a description.",
        ),
        (
            "long description",
            vec![
                ("description", &long),
                ("expires", &ok),
                ("target_kind", "fleet"),
                ("fleet", "alpha"),
                ("perm_read", "on"),
            ],
            "dt-description-error",
            "at most 255 characters",
        ),
        (
            "past expiry",
            vec![
                ("description", "d"),
                ("expires", &past),
                ("target_kind", "fleet"),
                ("fleet", "alpha"),
                ("perm_read", "on"),
            ],
            "dt-expires-error",
            "must be in the future",
        ),
        (
            "expiry today",
            vec![
                ("description", "d"),
                ("expires", &today),
                ("target_kind", "fleet"),
                ("fleet", "alpha"),
                ("perm_read", "on"),
            ],
            "dt-expires-error",
            "must be in the future",
        ),
        (
            "expiry too far",
            vec![
                ("description", "d"),
                ("expires", &too_far),
                ("target_kind", "fleet"),
                ("fleet", "alpha"),
                ("perm_read", "on"),
            ],
            "dt-expires-error",
            "at most 365 days",
        ),
        (
            "bad date",
            vec![
                ("description", "d"),
                ("expires", "31/12/2030"),
                ("target_kind", "fleet"),
                ("fleet", "alpha"),
                ("perm_read", "on"),
            ],
            "dt-expires-error",
            "YYYY-MM-DD",
        ),
        (
            "no permission",
            vec![
                ("description", "d"),
                ("expires", &ok),
                ("target_kind", "fleet"),
                ("fleet", "alpha"),
            ],
            "dt-permissions-error",
            "at least one permission",
        ),
        (
            "unknown fleet",
            vec![
                ("description", "d"),
                ("expires", &ok),
                ("target_kind", "fleet"),
                ("fleet", "zulu"),
                ("perm_read", "on"),
            ],
            "dt-target-error",
            "There is no fleet",
        ),
        (
            "no fleet",
            vec![
                ("description", "d"),
                ("expires", &ok),
                ("target_kind", "fleet"),
                ("fleet", ""),
                ("perm_read", "on"),
            ],
            "dt-target-error",
            "Choose a fleet.",
        ),
        (
            "unknown device",
            vec![
                ("description", "d"),
                ("expires", &ok),
                ("target_kind", "device"),
                ("device", "d-ffff-ffff"),
                ("perm_read", "on"),
            ],
            "dt-target-error",
            "There is no device",
        ),
        (
            "malformed device",
            vec![
                ("description", "d"),
                ("expires", &ok),
                ("target_kind", "device"),
                ("device", "../etc"),
                ("perm_read", "on"),
            ],
            "dt-target-error",
            "is not a device UUID",
        ),
        (
            "wrong target kind",
            vec![
                ("description", "d"),
                ("expires", &ok),
                ("target_kind", "user"),
                ("fleet", "alpha"),
                ("perm_read", "on"),
            ],
            "dt-target-error",
            "Choose Fleet or Device",
        ),
        (
            "fleet kind with a device",
            vec![
                ("description", "d"),
                ("expires", &ok),
                ("target_kind", "fleet"),
                ("device", &alpha[0]),
                ("perm_read", "on"),
            ],
            "dt-target-error",
            "Choose a fleet.",
        ),
    ];
    for (name, fields, error_id, message) in cases {
        let r = generate(&b, &fields).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let at = r
            .body
            .find(&format!("id=\"{error_id}\""))
            .unwrap_or_else(|| panic!("{name}: no {error_id}\n{}", r.body));
        assert!(
            r.body[at..at + 300].contains(message),
            "{name}: {}",
            &r.body[at..at + 300]
        );
        assert!(tokens_in(&r.body).is_empty(), "{name}");
        // The admin's input is kept.
        let description = fields.iter().find(|(k, _)| *k == "description").unwrap().1;
        if !description.trim().is_empty() {
            assert!(
                r.body.contains(&format!("value=\"{description}\"")),
                "{name}: description kept"
            );
        }
        assert_eq!(app.token_count().await, 0, "{name}");
    }
}

#[tokio::test]
async fn a_replayed_or_double_clicked_form_creates_exactly_one_token() {
    let (app, b, _) = admin_app().await;
    let (csrf, nonce) = open_panel(&b).await;
    let expires = date_in(5);
    let form = [
        ("csrf", csrf.as_str()),
        ("nonce", nonce.as_str()),
        ("description", "twice"),
        ("expires", expires.as_str()),
        ("target_kind", "fleet"),
        ("fleet", "alpha"),
        ("perm_read", "on"),
    ];
    // A double click: two submissions at once.
    let (one, two) = tokio::join!(
        b.post("/settings/account/device-token", &form),
        b.post("/settings/account/device-token", &form)
    );
    let mut statuses = [one.status, two.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    assert_eq!(tokens_in(&one.body).len() + tokens_in(&two.body).len(), 1);
    // A replay later (reload, back button): still one token, and the page says which one.
    let again = b.post("/settings/account/device-token", &form).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(tokens_in(&again.body).is_empty());
    let id = &newest_tokens(&app.store, 10).await[0].id;
    assert!(again.body.contains(id.as_str()) && again.body.contains("revoke"));
    assert_eq!(app.token_count().await, 1);
}

#[tokio::test]
async fn a_forged_or_missing_nonce_is_refused() {
    let (app, b, _) = admin_app().await;
    let (csrf, _) = open_panel(&b).await;
    let r = b
        .post(
            "/settings/account/device-token",
            &[
                ("csrf", &csrf),
                ("nonce", "short"),
                ("description", "d"),
                ("expires", &date_in(3)),
                ("target_kind", "fleet"),
                ("fleet", "alpha"),
                ("perm_read", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.token_count().await, 0);
}

#[tokio::test]
async fn the_database_holds_no_plaintext_token() {
    let (app, b, _) = admin_app().await;
    let r = generate(
        &b,
        &[
            ("description", "secret check"),
            ("expires", &date_in(7)),
            ("target_kind", "fleet"),
            ("fleet", "bravo"),
            ("perm_read", "on"),
        ],
    )
    .await;
    let plaintext = tokens_in(&r.body).pop().unwrap();
    let random_part = &plaintext[4..36];
    if app.database_url.starts_with("postgres") {
        // No database files to read here: every row of every table instead.
        let rows = postgres_rows(&app.database_url).await;
        assert!(rows.contains("secret check"), "the token's row was read");
        assert!(
            !rows.contains(random_part),
            "plaintext found in the database"
        );
    } else {
        app.store.close().await;
        let mut scanned = 0;
        for entry in std::fs::read_dir(&app.data_dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            scanned += bytes.len();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(random_part),
                "plaintext found in the database files"
            );
        }
        assert!(scanned > 10_000);
    }
}

/// Every row of every table of the PostgreSQL database at `url`, as text.
async fn postgres_rows(url: &str) -> String {
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let mut rows = String::new();
    for table in tables {
        let sql = format!("SELECT t::text FROM \"{table}\" t");
        let text: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut db)
            .await
            .unwrap();
        rows.extend(text);
    }
    rows
}

#[tokio::test]
async fn device_search_queries_the_server_and_has_a_no_js_fallback() {
    let (app, b, alpha) = admin_app().await;
    let r = b
        .get("/settings/account/device-search?q=ALPHA-sensor")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let hits = r.json()["devices"].as_array().unwrap().clone();
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0]["name"], "alpha-sensor-0");
    assert_eq!(hits[0]["fleet_key"], "alpha");
    // UUID prefix.
    let by_uuid = b
        .get(&format!(
            "/settings/account/device-search?q={}",
            &alpha[2][..8]
        ))
        .await
        .json();
    assert_eq!(by_uuid["devices"][0]["uuid"], alpha[2].as_str());
    assert_eq!(
        b.get("/settings/account/device-search?q=").await.json()["devices"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        b.get(&format!(
            "/settings/account/device-search?q={}",
            "x".repeat(65)
        ))
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    // Without JavaScript: the Search button posts the form back with matches as options.
    let (csrf, nonce) = open_panel(&b).await;
    let r = b
        .post(
            "/settings/account/device-token",
            &[
                ("csrf", &csrf),
                ("nonce", &nonce),
                ("action", "search"),
                ("description", "kept"),
                ("device_q", "bravo"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("bravo-sensor-0") && r.body.contains("bravo-sensor-1"));
    assert!(!r.body.contains("alpha-sensor-0"));
    assert!(r.body.contains("value=\"kept\""));
    assert_eq!(app.token_count().await, 0);
}

#[tokio::test]
async fn a_user_token_is_generated_from_the_account_card() {
    let (app, b, _) = admin_app().await;
    app.create_user("robot", Role::User).await;
    let page = b.get("/settings/account/user-token").await;
    let html = &page.body[page.body.find("id=\"user-token-panel\"").unwrap()..];
    let (csrf, nonce) = (hidden(html, "csrf"), hidden(html, "nonce"));
    let expires = date_in(20);
    let bad = b
        .post(
            "/settings/account/user-token",
            &[
                ("csrf", &csrf),
                ("nonce", &nonce),
                ("username", "ghost"),
                ("description", "d"),
                ("expires", &expires),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("There is no user"));
    let r = b
        .post(
            "/settings/account/user-token",
            &[
                ("csrf", &csrf),
                ("nonce", &nonce),
                ("username", "robot"),
                ("description", "nightly job"),
                ("expires", &expires),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let plaintext = tokens_in(&r.body).pop().unwrap();
    assert!(plaintext.starts_with("ctu_"));
    let stored = app
        .store
        .token_by_hash(&TokenHash::of(&plaintext))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.user.unwrap().1, "robot");
}

#[tokio::test]
async fn revoking_from_the_list_asks_for_confirmation_then_revokes() {
    let (app, b, _) = admin_app().await;
    generate(
        &b,
        &[
            ("description", "to revoke"),
            ("expires", &date_in(7)),
            ("target_kind", "fleet"),
            ("fleet", "alpha"),
            ("perm_read", "on"),
        ],
    )
    .await;
    let id = newest_tokens(&app.store, 1).await[0].id.clone();
    let confirm = b.get(&format!("/settings/access-tokens/{id}/revoke")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("Revoke this token?"));
    assert!(
        app.store
            .token(&id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none(),
        "GET changes nothing"
    );
    let csrf = hidden(&confirm.body, "csrf");
    let r = b
        .post(
            &format!("/settings/access-tokens/{id}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        app.store
            .token(&id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        b.get("/settings/access-tokens")
            .await
            .body
            .contains("status-revoked")
    );
    assert_eq!(
        b.get("/settings/access-tokens/not-a-uuid/revoke")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
