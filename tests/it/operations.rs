//! Operating it (issue #17): request ids on every response, in the request's log lines and on
//! error pages.

use reqwest::StatusCode;

use crate::cli::serve_on;
use crate::helpers::{spawn_app, temp_dir};

#[tokio::test]
async fn every_response_carries_a_request_id_kept_from_the_client_when_sane() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let get = |path: &str, id: Option<&str>| {
        let mut req = client.get(app.url(path));
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        req.send()
    };
    // Made here when absent: unique per request.
    let a = get("/healthz", None).await.unwrap();
    let b = get("/healthz", None).await.unwrap();
    let (a, b) = (
        a.headers()["x-request-id"].clone(),
        b.headers()["x-request-id"].clone(),
    );
    assert!(!a.is_empty() && a != b, "{a:?} {b:?}");
    // Kept when sane.
    let kept = get("/readyz", Some("lb-7f3a.42:x_y")).await.unwrap();
    assert_eq!(kept.headers()["x-request-id"], "lb-7f3a.42:x_y");
    // Replaced when not: too long, or characters a log line should not carry.
    for odd in ["a".repeat(65), "two words".into(), "<script>".into()] {
        let r = get("/healthz", Some(&odd)).await.unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(id, odd);
        assert!(!id.is_empty());
    }
    // On error pages (console) and error answers (API) too.
    let page = get("/no/such/page", Some("page-id-1")).await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert_eq!(page.headers()["x-request-id"], "page-id-1");
    assert!(
        page.text().await.unwrap().contains("page-id-1"),
        "shown on the page"
    );
    let api = get("/api/v2/fleets", Some("api-id-1")).await.unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api.headers()["x-request-id"], "api-id-1");
}

#[tokio::test]
async fn the_request_id_is_in_the_requests_log_lines() {
    let dir = temp_dir("request-id");
    let log = dir.join("stderr.log");
    let server = serve_on(&dir, None, &[], "info,tower_http=debug", Some(&log));
    let r = reqwest::Client::new()
        .get(format!("{}/healthz", server.base))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut text = String::new();
    for _ in 0..50 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("trace-me-123") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("/healthz")).collect();
    assert!(!lines.is_empty(), "{text}");
    assert!(
        lines.iter().all(|l| l.contains("request_id=trace-me-123")),
        "{text}"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_request_id() {
    let dir = temp_dir("json-logs");
    let log = dir.join("stderr.log");
    let server = serve_on(
        &dir,
        None,
        &["--log-format", "json"],
        "info,tower_http=debug",
        Some(&log),
    );
    for path in ["/healthz", "/no/such/page", "/api/v2/fleets"] {
        reqwest::Client::new()
            .get(format!("{}{path}", server.base))
            .header("x-request-id", "json-id-1")
            .send()
            .await
            .unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let text = std::fs::read_to_string(&log).unwrap();
    let mut with_id = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            entry["timestamp"].is_string() && entry["level"].is_string(),
            "{line}"
        );
        if entry["span"]["request_id"] == "json-id-1" {
            with_id += 1;
        }
    }
    assert!(with_id >= 6, "each request's lines carry its id: {text}");
}
