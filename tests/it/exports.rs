//! CSV exports of the Access Tokens list and the Audit Log (PRODUCT.md §14): streamed with flat
//! memory (100,000 tokens, 300,000 entries; the real binary's resident memory sampled while it sends), the
//! current filters applied, cells escaped and formulas defused.

use std::time::Duration;

use connect_tokens::domain::scope::{Role, Target};
use reqwest::StatusCode;

use crate::cli::{create_admin_ops, serve_via};
use crate::helpers::{TestApp, browser, in_days, make_token_with, perms, spawn_app, temp_dir};

#[path = "../bench/scale_data.rs"]
#[allow(dead_code)]
mod scale_data;

/// Resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// Downloads `url` with `cookie`, reading it chunk by chunk as a slow client would; returns the
/// body and the highest resident memory of `pid` seen meanwhile.
async fn download(url: &str, cookie: &str, pid: u32) -> (String, u64) {
    let client = crate::helpers::http_client();
    let mut res = client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\""),
        "{disposition}"
    );
    assert!(
        res.headers().get("content-length").is_none(),
        "streamed, not sized up front"
    );
    let mut body = Vec::new();
    let mut peak = rss(pid);
    let mut chunks = 0u64;
    while let Some(chunk) = res.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
        chunks += 1;
        if chunks.is_multiple_of(16) {
            peak = peak.max(rss(pid));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    (String::from_utf8(body).unwrap(), peak)
}

#[tokio::test]
async fn exports_of_100k_rows_and_more_are_streamed_with_flat_memory() {
    let dir = temp_dir("export");
    create_admin_ops(&dir, &[]);
    let raw = scale_data::Raw::open(&connect_tokens::config::sqlite_url(&dir)).await;
    let now = connect_tokens::domain::now();
    scale_data::tokens(&raw, 100_000, now).await;
    scale_data::audit(&raw, 300_000, now - 10).await;
    // Each export from a freshly started server, after a small one of the same kind (its code
    // paths loaded): what it holds while sending is what it adds to the resident memory. Read
    // whole and then sent, the tokens' export (100,000 rows) added 120 MB here; streamed, 8 to
    // 22 MB, and the Audit Log's (300,000 rows) 24 to 32 MB — the connections' page caches
    // filling up, whatever the number of rows.
    for (path, warm_up, rows) in [
        (
            "/settings/access-tokens/export.csv",
            "/settings/access-tokens/export.csv?q=needle-xyz",
            100_000,
        ),
        (
            "/settings/audit/export.csv",
            "/settings/audit/export.csv?action=user",
            300_000,
        ),
        // A search: pages through the trigram index after each page's last row.
        (
            "/settings/access-tokens/export.csv?q=backup%20job",
            "/settings/access-tokens/export.csv?q=needle-xyz",
            12_500,
        ),
    ] {
        // Two C-library malloc arenas: SQLite's memory otherwise lands in one arena per
        // connection thread that happened to serve a page, and the resident size measures
        // which threads ran rather than what the export holds (one run beside other tests
        // saw +48 MB for the audit log that way).
        let server = serve_via(
            &[],
            &dir,
            None,
            &[],
            "warn",
            None,
            &[("MALLOC_ARENA_MAX", "2")],
        );
        let b = browser(&server.base);
        let r = b.login("ops", "a-long-enough-password").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let cookie = b.cookie_header();
        download(&format!("{}{warm_up}", server.base), &cookie, server.pid()).await;
        let before = rss(server.pid());
        let (body, peak) = download(&format!("{}{path}", server.base), &cookie, server.pid()).await;
        let lines = body.lines().count() as u64;
        // The header, the rows, and for the audit log the sign-ins just made.
        assert!(
            (rows + 1..=rows + 3).contains(&lines),
            "{path}: {lines} lines"
        );
        let grew = peak.saturating_sub(before);
        println!(
            "{path}: {} MB sent, resident memory {} MB before, +{} MB at most while sending",
            body.len() / 1_000_000,
            before / 1_000_000,
            grew / 1_000_000
        );
        assert!(
            body.len() as u64 > rows * 100,
            "{path}: {} bytes",
            body.len()
        );
        // Memory is judged on the big exports; the search is here for its paging.
        assert!(
            rows < 100_000 || grew < 40_000_000,
            "{path}: memory grew by {grew} bytes while sending {} bytes",
            body.len()
        );
    }
}

/// Parses CSV text into rows of cells.
fn parse(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn exports_follow_the_filters_and_escape_every_cell() {
    let app: TestApp = spawn_app().await;
    app.seed_fleets().await;
    let admin = app.signed_in("root", Role::Admin).await;
    let now = connect_tokens::domain::now();
    let fleet = || Some(Target::Fleet("alpha".into()));
    let formula = make_token_with(
        &app,
        fleet(),
        perms(1),
        None,
        in_days(9),
        "=HYPERLINK(\"http://evil\",\"x\")",
        now,
    )
    .await;
    let quoted = make_token_with(
        &app,
        fleet(),
        perms(3),
        None,
        in_days(9),
        "ci, \"prod\"\nsecond line",
        now - 5,
    )
    .await;
    let at = make_token_with(
        &app,
        fleet(),
        perms(1),
        None,
        in_days(9),
        "@SUM(A1) -2+3",
        now - 9,
    )
    .await;
    let at_id = app.token_id_of(&at).await;
    app.store.revoke_token(&at_id, now).await.unwrap();

    let r = admin.get("/settings/access-tokens/export.csv").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("\r\n"), "CSV lines end in CRLF");
    let rows = parse(&r.body);
    assert_eq!(rows[0][..4], ["token_id", "type", "description", "subject"]);
    assert_eq!(rows.len(), 4, "a header and three tokens: {rows:?}");
    let formula_id = app.token_id_of(&formula).await;
    assert_eq!(rows[1][0], formula_id, "newest first");
    assert_eq!(rows[1][2], "'=HYPERLINK(\"http://evil\",\"x\")");
    assert_eq!(rows[2][2], "ci, \"prod\"\nsecond line", "quoted, whole");
    assert_eq!(rows[2][4], "Read, Write");
    assert_eq!(rows[3][2], "'@SUM(A1) -2+3");
    assert_eq!(rows[3][6], "revoked");
    assert!(
        rows[1][7].ends_with('Z') && rows[3][10].ends_with('Z'),
        "RFC 3339 times"
    );
    assert!(
        !r.body.contains(&formula) && !r.body.contains(&quoted),
        "never a token"
    );

    // The list's filters: revoked only; a search.
    let r = admin
        .get("/settings/access-tokens/export.csv?status=revoked")
        .await;
    let rows = parse(&r.body);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][0], at_id);
    let r = admin
        .get("/settings/access-tokens/export.csv?q=prod&status=active")
        .await;
    assert_eq!(parse(&r.body).len(), 2);
    // The list links to the export with its filters.
    let list = admin
        .get("/settings/access-tokens?status=revoked&q=sum")
        .await;
    assert!(list.body.contains("href=\"/settings/access-tokens/export.csv?status=revoked&#38;type=&#38;q=sum&#38;unused=\""), "{}", list.body);

    // Bad filters: a clear 400.
    for bad in ["status=gone", "unused=7", "type=x"] {
        let r = admin
            .get(&format!("/settings/access-tokens/export.csv?{bad}"))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(
        admin
            .get("/settings/audit/export.csv?action=nope")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    // The Audit Log with its filters: the sign-in only, then everything about one token.
    let r = admin.get("/settings/audit/export.csv?action=signin").await;
    let rows = parse(&r.body);
    assert_eq!(rows[0][..4], ["id", "time", "actor", "action"]);
    assert!(
        rows.len() >= 2 && rows[1..].iter().all(|r| r[3].starts_with("sign")),
        "{rows:?}"
    );
    let audit = admin.get("/settings/audit").await;
    assert!(
        audit
            .body
            .contains("href=\"/settings/audit/export.csv?action=&#38;q=\"")
    );

    // Not for users who are not admins, nor for the signed out.
    let mia = app.signed_in("mia", Role::User).await;
    assert_eq!(
        mia.get("/settings/audit/export.csv").await.status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .browser()
        .get("/settings/access-tokens/export.csv")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}
