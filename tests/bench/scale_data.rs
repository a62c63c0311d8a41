//! Data for the `scale` benchmark, built quickly but through the product's own paths where they
//! exist: devices through the bulk import (`Store::import_devices`, so the counts move as in
//! production), tokens and audit entries through SQL in large statements (the triggers that
//! keep counts and the search index fire as for any insert).

use connect_tokens::Store;
use connect_tokens::store::devices::Device;
use connect_tokens::store::import::ImportItem;

/// Plain SQL on the benchmark's database.
pub enum Raw {
    Lite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Raw {
    pub async fn open(url: &str) -> Raw {
        if url.starts_with("postgres") {
            Raw::Pg(sqlx::PgPool::connect(url).await.unwrap())
        } else {
            Raw::Lite(sqlx::SqlitePool::connect(url).await.unwrap())
        }
    }

    pub async fn exec(&self, sql: String) {
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            Raw::Lite(p) => drop(sqlx::query(sql).execute(p).await.unwrap()),
            Raw::Pg(p) => drop(sqlx::query(sql).execute(p).await.unwrap()),
        }
    }

    pub async fn text(&self, sql: &str) -> String {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Raw::Lite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
            Raw::Pg(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        }
    }

    fn pg(&self) -> bool {
        matches!(self, Raw::Pg(_))
    }
}

/// `n` devices through the bulk import: UUIDs in order, ten fleets, nine in ten with a
/// keepalive spread over the last 48 hours.
pub async fn devices(store: &Store, n: u64, now: i64) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(5_000);
        for i in 0..n {
            batch.push((
                i + 2,
                Device {
                    uuid: format!("d-{:04x}-{:04x}", i >> 16, i & 0xffff),
                    fleet_key: format!("fleet{}", i % 10),
                    name: format!("device-{i:08}"),
                    group_name: format!("g{}", i % 100),
                    tags: ";prod;".into(),
                    description: String::new(),
                    ip: String::new(),
                    agent_version: "7.1.0".into(),
                    last_keepalive: (i % 10 != 0).then(|| now - (i as i64 * 7_919) % 172_800),
                    registered_at: now,
                },
            ));
            if batch.len() == 5_000 {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(5_000));
                tx.blocking_send(ImportItem::Rows(full)).unwrap();
            }
        }
        if !batch.is_empty() {
            tx.blocking_send(ImportItem::Rows(batch)).unwrap();
        }
        tx.blocking_send(ImportItem::End).unwrap();
    });
    store.import_devices(&mut rx, &mut |_| {}).await.unwrap();
}

/// The description of bench token `i`: eight kinds of pipeline, and a rare word in one in
/// 100,000.
fn description_sql(i: &str) -> String {
    format!(
        "CASE WHEN {i} % 100000 = 7 THEN 'needle-xyz ' || {i} ELSE \
         (CASE {i} % 8 WHEN 0 THEN 'ci deploy ' WHEN 1 THEN 'backup job ' WHEN 2 THEN 'grafana read ' \
          WHEN 3 THEN 'sensor sync ' WHEN 4 THEN 'fleet report ' WHEN 5 THEN 'edge rollout ' \
          WHEN 6 THEN 'nightly export ' ELSE 'support session ' END) || {i} END"
    )
}

/// 50 users (`user0` … `user49`) and `n` tokens (random version-4 UUIDs as Token IDs), one in ten a user token, created one second
/// apart up to `now`, expiring over the next year; in statements of 100,000.
pub async fn tokens(raw: &Raw, n: i64, now: i64) {
    for u in 0..50 {
        raw.exec(format!(
            "INSERT INTO users (id, username, role, password_hash, created_at) \
             VALUES ('u{u}', 'user{u}', 'user', 'x', {now})"
        ))
        .await;
    }
    let step = 100_000;
    for start in (0..n).step_by(step as usize) {
        let end = (start + step).min(n);
        let (series, id, hint, nl) = if raw.pg() {
            (
                format!("FROM generate_series({start}::bigint, {}) AS s(i)", end - 1),
                "gen_random_uuid()::text",
                "'ctd_…' || lpad(to_hex(i % 65536), 4, '0')",
                "chr(10)",
            )
        } else {
            (
                format!(
                    "FROM (WITH RECURSIVE s(i) AS (SELECT {start} UNION ALL SELECT i + 1 FROM s \
                     WHERE i < {}) SELECT i FROM s)",
                    end - 1
                ),
                "lower(printf('%s-%s-4%s-%x%s-%s', hex(randomblob(4)), hex(randomblob(2)), \
                 substr(hex(randomblob(2)), 2), 8 + abs(random() % 4), substr(hex(randomblob(2)), 2), \
                 hex(randomblob(6))))",
                "'ctd_…' || printf('%04x', i % 65536)",
                "char(10)",
            )
        };
        let description = description_sql("i");
        raw.exec(format!(
            "INSERT INTO tokens (id, kind, token_hash, hint, description, user_id, target_fleet, \
             permissions, created_at, expires_at, search_text) \
             SELECT id, kind, 'h' || i, hint, description, user_id, target_fleet, 1, created_at, \
                    expires_at, description || {nl} || id || {nl} || hint || {nl} || \
                    COALESCE(target_fleet, '') || {nl} || CASE WHEN i % 10 = 0 THEN 'user' || (i % 50) ELSE '' END \
             FROM (SELECT i, {id} AS id, \
                     CASE WHEN i % 10 = 0 THEN 'user' ELSE 'device_details' END AS kind, \
                     {hint} AS hint, {description} AS description, \
                     CASE WHEN i % 10 = 0 THEN 'u' || (i % 50) END AS user_id, \
                     CASE WHEN i % 10 = 0 THEN NULL ELSE 'fleet' || (i % 10) END AS target_fleet, \
                     {now} - ({n} - i) AS created_at, \
                     {now} + 86400 * (1 + i % 365) - 43200 AS expires_at \
                   {series}) AS b"
        ))
        .await;
    }
}

/// `n` audit entries, one a second up to `now`: mostly refused uses and sign-ins, a few
/// permission changes, a user created in one of 100,000; 1,000 actors; in statements of 500,000.
pub async fn audit(raw: &Raw, n: i64, now: i64) {
    let step = 500_000;
    for start in (0..n).step_by(step as usize) {
        let end = (start + step).min(n);
        let series = if raw.pg() {
            format!("FROM generate_series({start}::bigint, {}) AS s(i)", end - 1)
        } else {
            format!(
                "FROM (WITH RECURSIVE s(i) AS (SELECT {start} UNION ALL SELECT i + 1 FROM s \
                 WHERE i < {}) SELECT i FROM s)",
                end - 1
            )
        };
        let token = if raw.pg() {
            "lpad(to_hex(i % 1000000), 8, '0') || '-0000-4000-8000-' || lpad(to_hex((i % 1000000) * 7919), 12, '0')"
        } else {
            "printf('%08x-0000-4000-8000-%012x', i % 1000000, (i % 1000000) * 7919)"
        };
        raw.exec(format!(
            "INSERT INTO audit_events (at, actor, action, token_id, target, source, detail) \
             SELECT {now} - ({n} - i), \
                    CASE WHEN i % 10 < 6 THEN 'token ' || {token} ELSE 'user' || (i % 1000) END, \
                    CASE WHEN i % 100000 = 3 THEN 'user.created' \
                         WHEN i % 10 < 6 THEN 'token.refused' \
                         WHEN i % 10 < 8 THEN 'signin.success' \
                         WHEN i % 10 = 8 THEN 'token.generated' \
                         WHEN i % 100 = 9 THEN 'permissions.changed' ELSE 'token.revoked' END, \
                    CASE WHEN i % 10 < 6 OR i % 10 >= 8 THEN {token} END, \
                    CASE WHEN i % 10 < 6 THEN 'fleet' || (i % 10) ELSE '' END, \
                    '10.0.' || (i % 200) || '.' || (i % 250), '' \
             {series}"
        ))
        .await;
    }
}
