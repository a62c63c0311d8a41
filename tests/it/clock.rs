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
    let clock = dir.join("faketime");
    std::fs::write(&clock, "+0").unwrap();
    let lib = libfaketime();
    let server = serve_via(
        &[],
        &dir,
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
        ],
    );
    let client = reqwest::Client::new();
    let call = || {
        client
            .get(format!("{}/api/v2/fleets", server.base))
            .bearer_auth(&token)
            .timeout(Duration::from_secs(5))
            .send()
    };
    let move_clock_to = |unix: i64| {
        let offset = unix - connect_tokens::domain::now();
        std::fs::write(&clock, format!("{offset:+}")).unwrap();
    };
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
