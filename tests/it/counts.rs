//! The dashboard's counts — devices, devices active in the last 24 h, active tokens — are kept by
//! triggers in the same transaction as the rows they count (migration 0005). Each test changes
//! the rows every way the product does (import, a failed import, registering, deleting, moving a
//! device to another fleet, creating, rotating, revoking and deleting tokens) and holds the
//! counts equal to a full `COUNT(*)` after each step, at cut-offs on and around minute and day
//! boundaries. Runs on SQLite, and on PostgreSQL in the PostgreSQL pass.

use connect_tokens::domain::scope::{Permissions, Role, Target};
use connect_tokens::store::devices::Device;
use reqwest::{Method, StatusCode};

use crate::helpers::{TestApp, call, make_token, spawn_app};

/// Plain SQL on the test's database, for the full counts the kept ones must equal.
enum Raw {
    Lite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Raw {
    async fn open(app: &TestApp) -> Raw {
        if app.database_url.starts_with("postgres") {
            Raw::Pg(sqlx::PgPool::connect(&app.database_url).await.unwrap())
        } else {
            Raw::Lite(sqlx::SqlitePool::connect(&app.database_url).await.unwrap())
        }
    }

    async fn exec(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Raw::Lite(p) => drop(sqlx::query(sql).execute(p).await.unwrap()),
            Raw::Pg(p) => drop(sqlx::query(sql).execute(p).await.unwrap()),
        }
    }

    async fn count(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Raw::Lite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
            Raw::Pg(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        }
    }
}

/// Holds every kept count equal to a full count; `t` is the test's fixed "now".
async fn assert_exact(app: &TestApp, raw: &Raw, t: i64, step: &str) {
    let day_ago = t - 86_400;
    let minute = day_ago.div_euclid(60) * 60;
    for since in [
        day_ago,
        minute,
        minute + 1,
        minute + 59,
        minute + 60,
        t - 3_600,
        0,
    ] {
        let (total, active) = app.store.device_counts(since).await.unwrap();
        assert_eq!(
            total,
            raw.count("SELECT COUNT(*) FROM devices").await,
            "{step}: devices"
        );
        let scanned = raw
            .count(&format!(
                "SELECT COUNT(*) FROM devices WHERE last_keepalive >= {since}"
            ))
            .await;
        assert_eq!(active, scanned, "{step}: active since {since}");
    }
    let day = t.div_euclid(86_400) * 86_400;
    for at in [
        t,
        day,
        day + 1,
        day + 86_399,
        day + 86_400,
        t + 3 * 86_400 + 17,
    ] {
        let kept = app.store.counts(at).await.unwrap().tokens_active;
        let scanned = raw
            .count(&format!(
                "SELECT COUNT(*) FROM tokens WHERE revoked_at IS NULL AND expires_at > {at}"
            ))
            .await;
        assert_eq!(kept, scanned, "{step}: active tokens at {at}");
    }
    // The dashboard's single statement agrees with the full counts.
    let c = app.store.counts(t).await.unwrap();
    let full = [
        raw.count("SELECT COUNT(*) FROM fleets").await,
        raw.count("SELECT COUNT(*) FROM devices").await,
        raw.count(&format!(
            "SELECT COUNT(*) FROM devices WHERE last_keepalive >= {day_ago}"
        ))
        .await,
        raw.count(&format!(
            "SELECT COUNT(*) FROM tokens WHERE revoked_at IS NULL AND expires_at > {t}"
        ))
        .await,
    ];
    assert_eq!(
        [c.fleets, c.devices, c.devices_active, c.tokens_active],
        full,
        "{step}: dashboard counts"
    );
    // The per-fleet rows themselves (a fleet move changes two of them, not the total).
    let wrong = raw
        .count(
            "SELECT COUNT(*) FROM (SELECT fleet_key, COUNT(*) AS n FROM devices GROUP BY fleet_key) d \
             FULL OUTER JOIN fleet_device_counts c ON c.fleet_key = d.fleet_key \
             WHERE COALESCE(c.devices, 0) <> COALESCE(d.n, 0)",
        )
        .await;
    assert_eq!(wrong, 0, "{step}: per-fleet counts");
}

fn device(uuid: String, fleet: &str, keepalive: Option<i64>) -> Device {
    Device {
        uuid,
        fleet_key: fleet.into(),
        name: "counted".into(),
        group_name: String::new(),
        tags: ";".into(),
        description: String::new(),
        ip: String::new(),
        agent_version: String::new(),
        last_keepalive: keepalive,
        registered_at: 1,
    }
}

/// `n` CSV rows for fleets `fleets` (round robin), UUIDs `d-PPPP-xxxx`.
fn csv(prefix: u16, fleets: &[&str], n: usize) -> String {
    let mut s = String::from("fleet,uuid,name,group,tags,description\n");
    for i in 0..n {
        let fleet = fleets[i % fleets.len()];
        s.push_str(&format!("{fleet},d-{prefix:04x}-{i:04x},dev {i},g,a;b,\n"));
    }
    s
}

#[tokio::test]
async fn device_counts_stay_exact_through_every_change() {
    let app = spawn_app().await;
    let raw = Raw::open(&app).await;
    let t = connect_tokens::domain::now();
    app.seed_fleets().await;
    assert_exact(&app, &raw, t, "seeded").await;

    // Keepalives on both sides of the 24-hour cut-off and inside its minute, second by second.
    let day_ago = t - 86_400;
    let near: Vec<Device> = (0..180)
        .map(|i| {
            device(
                format!("d-00ee-{i:04x}"),
                ["alpha", "bravo"][i % 2],
                Some(day_ago - 90 + i as i64),
            )
        })
        .chain((0..20).map(|i| device(format!("d-00ef-{i:04x}"), "alpha", Some(t - i * 7_000))))
        .collect();
    app.store.insert_devices(&near).await.unwrap();
    assert_exact(&app, &raw, t, "inserted with keepalives").await;

    // Import (creates fleet charlie), then a failed import that changes nothing.
    let n = connect_tokens::import::import_csv(
        &app.store,
        std::io::Cursor::new(csv(0x1000, &["charlie", "alpha"], 1_500)),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(n, 1_500);
    assert_exact(&app, &raw, t, "imported").await;
    let before = app.store.device_counts(day_ago).await.unwrap();
    let mut failing = csv(0x2000, &["delta", "bravo"], 1_200);
    failing.push_str("bravo,d-1000-0003,duplicate,,,\n");
    let err = connect_tokens::import::import_csv(&app.store, std::io::Cursor::new(failing), |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("line 1202"), "{err}");
    assert_eq!(app.store.device_counts(day_ago).await.unwrap(), before);
    assert_exact(&app, &raw, t, "failed import").await;

    // Registered in the console, deleted through the API.
    let admin = app.signed_in("admin", Role::Admin).await;
    let r = admin
        .submit(
            "/devices",
            "/devices/register",
            &[
                ("fleet", "bravo"),
                ("name", "new one"),
                ("uuid", "d-0abc-0001"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_exact(&app, &raw, t, "registered").await;
    let token = make_token(
        &app,
        Some(Target::Fleet("alpha".into())),
        Permissions::from_bits(7),
        None,
        t + 86_400,
    )
    .await;
    for uuid in ["d-00ee-0000", "d-00ee-0002", "d-1000-0001", "d-00ef-0001"] {
        let r = call(
            &app,
            Method::DELETE,
            &format!("/api/v2/alpha/devices/{uuid}"),
            &token,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{uuid}");
    }
    assert_exact(&app, &raw, t, "deleted").await;

    // The dashboard shows the kept counts.
    let (total, active) = app
        .store
        .device_counts(connect_tokens::domain::now() - 86_400)
        .await
        .unwrap();
    let page = admin.get("/dashboard").await.body;
    assert!(
        page.contains(&format!(
            "<p class=\"stat-value\">{total}</p><p class=\"stat-label\">Devices</p>"
        )),
        "{page}"
    );
    assert!(page.contains(&format!(
        "<p class=\"stat-value\">{active}</p><p class=\"stat-label\">Active in the last 24 h</p>"
    )));

    // Moves: nothing in the product moves a device between fleets or sets a keepalive yet, so the
    // update triggers are exercised with plain SQL.
    raw.exec("UPDATE devices SET fleet_key = 'bravo' WHERE fleet_key = 'charlie'")
        .await;
    raw.exec("UPDATE devices SET last_keepalive = last_keepalive + 45 WHERE uuid LIKE 'd-00ee-%'")
        .await;
    raw.exec(&format!(
        "UPDATE devices SET last_keepalive = {t} WHERE uuid LIKE 'd-1000-00%'"
    ))
    .await;
    raw.exec("UPDATE devices SET last_keepalive = NULL WHERE uuid LIKE 'd-00ef-%'")
        .await;
    assert_exact(&app, &raw, t, "moved").await;
    // Deleting a fleet deletes its devices (a cascade, counted too).
    raw.exec("DELETE FROM fleets WHERE key = 'bravo'").await;
    assert_exact(&app, &raw, t, "fleet deleted").await;
}

#[tokio::test]
async fn active_token_count_stays_exact_through_every_change() {
    let app = spawn_app().await;
    let raw = Raw::open(&app).await;
    let t = connect_tokens::domain::now();
    app.seed_fleets().await;
    app.create_user("ops", Role::Admin).await;
    let day = t.div_euclid(86_400) * 86_400;
    let mut tokens = Vec::new();
    for (i, expires) in [
        t - 10,
        t + 5,
        day + 86_399,
        day + 86_400,
        day + 86_401,
        t + 3 * 86_400,
        t + 40 * 86_400,
    ]
    .into_iter()
    .enumerate()
    {
        let user = (i % 2 == 0).then_some("ops");
        let target = user.is_none().then(|| Target::Fleet("alpha".into()));
        tokens.push(make_token(&app, target, Permissions::from_bits(1), user, expires).await);
    }
    assert_exact(&app, &raw, t, "created").await;

    // Rotated with a grace time: the old token's expiry moves, a new token appears.
    let live = &tokens[5];
    let r = call(
        &app,
        Method::POST,
        "/access/api/v1/tokens/self/rotate",
        live,
        Some(serde_json::json!({"grace_seconds": 3600})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_exact(&app, &raw, t, "rotated").await;

    // Revoked (twice: the second changes nothing), expiry moved, deleted, and deleted with a user.
    let newest = crate::helpers::newest_tokens(&app.store, 100).await;
    for rec in newest.iter().take(3) {
        app.store.revoke_token(&rec.id, t).await.unwrap();
        app.store.revoke_token(&rec.id, t).await.unwrap();
    }
    assert_exact(&app, &raw, t, "revoked").await;
    raw.exec(&format!(
        "UPDATE tokens SET expires_at = expires_at + 86400 WHERE expires_at > {t}"
    ))
    .await;
    raw.exec(&format!(
        "UPDATE tokens SET revoked_at = NULL WHERE id = '{}'",
        newest[0].id
    ))
    .await;
    assert_exact(&app, &raw, t, "expiry moved").await;
    raw.exec(&format!("DELETE FROM tokens WHERE id = '{}'", newest[4].id))
        .await;
    raw.exec("DELETE FROM users WHERE username = 'ops'").await;
    assert_exact(&app, &raw, t, "deleted").await;

    let admin = app.signed_in("admin", Role::Admin).await;
    let active = app
        .store
        .counts(connect_tokens::domain::now())
        .await
        .unwrap()
        .tokens_active;
    let page = admin.get("/dashboard").await.body;
    assert!(
        page.contains(&format!(
            "<p class=\"stat-value\">{active}</p><p class=\"stat-label\">Active access tokens</p>"
        )),
        "{page}"
    );
}
