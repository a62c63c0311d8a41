//! The binary under LD_PRELOAD tools (SECURITY.md 27), and expiry end to end with the server's
//! clock moved by libfaketime across the expiry boundary (00:00 UTC after the expiration date).
//! Needs Debian's `faketime` (and `valgrind`); `scripts/test-all.sh` installs them.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;

use crate::cli::{BIN, admin_token, create_admin_ops, serve_via};
use crate::helpers::{date_in, temp_dir};

/// Where Debian puts libfaketime.
fn libfaketime() -> String {
    ["x86_64-linux-gnu", "aarch64-linux-gnu"]
        .iter()
        .map(|arch| format!("/usr/lib/{arch}/faketime/libfaketime.so.1"))
        .find(|p| std::path::Path::new(p).exists())
        .expect("libfaketime is needed: apt-get install faketime (scripts/test-all.sh does)")
}

#[test]
#[ignore = "faketime: needs libfaketime and valgrind; scripts/test-all.sh runs it"]
fn the_binary_runs_under_libfaketime_and_valgrind() {
    let out = Command::new("faketime")
        .args(["-f", "+1d", BIN, "--version"])
        .output()
        .expect("faketime is needed: apt-get install faketime");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("connect-tokens "));
    let out = Command::new("valgrind")
        .args(["--error-exitcode=0", BIN, "--version"])
        .output()
        .expect("valgrind is needed: apt-get install valgrind");
    assert!(out.status.success(), "{out:?}");
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(!report.contains("Invalid free"), "{report}");
    assert!(!report.contains("Mismatched free"), "{report}");
    assert!(!report.contains("Invalid read"), "{report}");
}

/// `serve` on `dir` under libfaketime, its wall clock read from the returned file (an offset
/// such as `+3600`; see [`move_clock`]).
fn server_with_a_clock(dir: &std::path::Path) -> (crate::cli::Server, std::path::PathBuf) {
    let clock = dir.join("faketime");
    std::fs::write(&clock, "+0").unwrap();
    let lib = libfaketime();
    let server = serve_via(
        &[],
        dir,
        None,
        &[],
        "warn",
        None,
        &[
            ("LD_PRELOAD", lib.as_str()),
            ("FAKETIME_TIMESTAMP_FILE", clock.to_str().unwrap()),
            ("FAKETIME_NO_CACHE", "1"),
            // Timers and timeouts keep real time; only the wall clock moves.
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
            // Last-used stamps written within a second.
            ("CONNECT_TOKENS_USAGE_FLUSH_SECS", "1"),
        ],
    );
    (server, clock)
}

/// Sets the server's wall clock (see [`server_with_a_clock`]) to `unix`.
fn move_clock(clock: &std::path::Path, unix: i64) {
    let offset = unix - connect_tokens::domain::now();
    std::fs::write(clock, format!("{offset:+}")).unwrap();
}

#[tokio::test]
#[ignore = "faketime: needs libfaketime and valgrind; scripts/test-all.sh runs it"]
async fn a_rotated_out_token_works_through_its_grace_hour_and_stops_after_it() {
    let dir = temp_dir("clock-grace");
    create_admin_ops(&dir, &[]);
    let old = admin_token(&dir, &[], "ops", &[]);
    let (server, clock) = server_with_a_clock(&dir);
    let client = crate::helpers::http_client();
    let fleets = |token: String| {
        client
            .get(format!("{}/api/v2/fleets", server.base))
            .bearer_auth(token)
            .timeout(Duration::from_secs(5))
            .send()
    };
    let rotate = |token: String| {
        client
            .post(format!("{}/access/api/v1/tokens/self/rotate", server.base))
            .bearer_auth(token)
            .json(&serde_json::json!({"grace_seconds": 3600}))
            .timeout(Duration::from_secs(5))
            .send()
    };
    let rotated_at = connect_tokens::domain::now();
    let r = rotate(old.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let new = r.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    move_clock(&clock, rotated_at + 3590);
    assert_eq!(
        fleets(old.clone()).await.unwrap().status(),
        StatusCode::OK,
        "within the hour"
    );
    move_clock(&clock, rotated_at + 3610);
    assert_eq!(
        fleets(old.clone()).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "after the hour"
    );
    assert_eq!(fleets(new.clone()).await.unwrap().status(), StatusCode::OK);
    // Presented to rotate once its grace is well over: a leak; the newest token is revoked.
    move_clock(&clock, rotated_at + 3700);
    assert_eq!(
        rotate(old).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        fleets(new).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
#[ignore = "faketime: needs libfaketime and valgrind; scripts/test-all.sh runs it"]
async fn a_token_stops_at_midnight_utc_after_its_expiration_date() {
    let dir = temp_dir("clock");
    create_admin_ops(&dir, &[]);
    let last_day = date_in(1);
    let token = admin_token(&dir, &[], "ops", &["--expires", &last_day]);
    // The instant it stops: 00:00 UTC the day after its last day.
    let stops = connect_tokens::domain::expiry::end_of(
        connect_tokens::domain::expiry::parse_date(&last_day).unwrap(),
    );
    let (server, clock) = server_with_a_clock(&dir);
    let client = crate::helpers::http_client();
    let call = || {
        client
            .get(format!("{}/api/v2/fleets", server.base))
            .bearer_auth(&token)
            .timeout(Duration::from_secs(5))
            .send()
    };
    let move_clock_to = |unix: i64| move_clock(&clock, unix);
    assert_eq!(
        call().await.unwrap().status(),
        StatusCode::OK,
        "valid today"
    );
    move_clock_to(stops - 5);
    assert_eq!(
        call().await.unwrap().status(),
        StatusCode::OK,
        "still valid at 23:59:55 UTC of its last day"
    );
    move_clock_to(stops + 5);
    let r = call().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "expired at midnight UTC"
    );
    assert!(r.text().await.unwrap().contains("expired"));
}

#[tokio::test]
#[ignore = "faketime: needs libfaketime and valgrind; scripts/test-all.sh runs it"]
async fn unused_filters_follow_the_servers_clock() {
    let dir = temp_dir("clock-stale");
    create_admin_ops(&dir, &[]);
    let expires = date_in(300);
    let used = admin_token(&dir, &[], "ops", &["--expires", &expires]);
    // Made and never presented.
    let _idle = admin_token(&dir, &[], "ops", &["--expires", &expires]);
    let (server, clock) = server_with_a_clock(&dir);
    let t0 = connect_tokens::domain::now();
    let client = crate::helpers::http_client();
    let get = |path: &str, token: &str| {
        client
            .get(format!("{}{path}", server.base))
            .bearer_auth(token)
            .timeout(Duration::from_secs(5))
            .send()
    };
    // The two Token IDs, read with the used one only (the idle one is never presented).
    let list: serde_json::Value = get("/access/api/v1/tokens", &used)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<String> = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    let used_id = get("/access/api/v1/tokens/self", &used)
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let idle_id = ids.into_iter().find(|id| *id != used_id).unwrap();
    // Unused for `days` as the list shows it at the server's time: which of the two.
    let stale = |days: i64| {
        let base = server.base.clone();
        async move {
            let b = crate::helpers::browser(&base);
            let r = b.login("ops", "a-long-enough-password").await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
            let page = b
                .get(&format!("/settings/access-tokens?unused={days}"))
                .await;
            assert_eq!(page.status, StatusCode::OK);
            page.body
        }
    };

    // 35 days on, the used token is used again; the idle one has not been since its creation.
    move_clock(&clock, t0 + 35 * 86_400);
    assert_eq!(
        get("/api/v2/fleets", &used).await.unwrap().status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let page = stale(30).await;
    assert!(
        page.contains(&idle_id) && !page.contains(&used_id),
        "day 35, unused for 30"
    );

    // 100 days on: 65 days since the last use, 100 since the idle one was made.
    move_clock(&clock, t0 + 100 * 86_400);
    let page = stale(90).await;
    assert!(
        page.contains(&idle_id) && !page.contains(&used_id),
        "day 100, unused for 90"
    );
    let page = stale(30).await;
    assert!(
        page.contains(&idle_id) && page.contains(&used_id),
        "day 100, unused for 30"
    );
    let page = stale(180).await;
    assert!(
        !page.contains(&idle_id) && !page.contains(&used_id),
        "day 100, unused for 180"
    );
}
