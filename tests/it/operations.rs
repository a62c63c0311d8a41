//! Operating it (issue #17): request ids on every response, in the request's log lines and on
//! error pages.

use reqwest::StatusCode;

use crate::cli::{admin_token, create_admin_ops, serve_on};
use crate::helpers::{spawn_app, temp_dir};

#[tokio::test]
async fn every_response_carries_a_request_id_kept_from_the_client_when_sane() {
    let app = spawn_app().await;
    let client = crate::helpers::http_client();
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
    let r = crate::helpers::http_client()
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
        crate::helpers::http_client()
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

/// The value of the sample line that starts with `series` (name and labels), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_move_with_traffic_and_pass_promtool() {
    let dir = temp_dir("metrics");
    create_admin_ops(&dir, &[]);
    let token = admin_token(&dir, &[], "ops", &[]);
    let elsewhere = temp_dir("metrics-other");
    create_admin_ops(&elsewhere, &[]);
    let unknown = admin_token(&elsewhere, &[], "ops", &[]);
    let server = serve_on(&dir, None, &["--metrics-bind", "127.0.0.1:0"], "warn", None);
    let metrics_url = server.metrics_url();
    let client = crate::helpers::http_client();
    let scrape = || async {
        let r = client.get(&metrics_url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        r.text().await.unwrap()
    };
    let before = scrape().await;
    let call = |bearer: String| {
        client
            .get(format!("{}/api/v2/fleets", server.base))
            .header("authorization", format!("Bearer {bearer}"))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(call(token.clone()).await.unwrap().status(), StatusCode::OK);
    }
    for _ in 0..2 {
        assert_eq!(
            call("ct_not_a_token".into()).await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        call(unknown).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let basic = client
        .get(format!("{}/api/v2/fleets", server.base))
        .header("authorization", "Basic b3BzOnNlY3JldA==")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    let in_url = client
        .get(format!(
            "{}/api/v2/fleets?access_token={token}",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(in_url.status(), StatusCode::UNAUTHORIZED);
    let after = scrape().await;

    let auth = |outcome: &str| {
        format!("connect_tokens_token_authentications_total{{outcome=\"{outcome}\"}}")
    };
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(moved(&auth("ok")), 3.0, "{after}");
    assert_eq!(moved(&auth("bad_checksum")), 2.0);
    assert_eq!(moved(&auth("unknown")), 1.0);
    assert_eq!(moved(&auth("malformed")), 1.0);
    assert_eq!(moved(&auth("in_url")), 1.0);
    assert_eq!(moved(&auth("revoked")), 0.0);
    let route = "method=\"GET\",route=\"/api/v2/fleets\"";
    assert_eq!(
        moved(&format!(
            "connect_tokens_http_requests_total{{{route},status=\"200\"}}"
        )),
        3.0
    );
    assert_eq!(
        moved(&format!(
            "connect_tokens_http_requests_total{{{route},status=\"401\"}}"
        )),
        5.0
    );
    assert_eq!(
        moved(&format!(
            "connect_tokens_http_request_duration_seconds_count{{{route}}}"
        )),
        8.0
    );
    assert!(after.contains("connect_tokens_db_connections{state=\"idle\"}"));
    assert!(after.contains(&format!(
        "connect_tokens_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));

    // Prometheus itself asks for OpenMetrics, and gets it.
    let open = client
        .get(&metrics_url)
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert!(
        open.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(open.text().await.unwrap().ends_with("# EOF\n"));
    // Never on the main port.
    let main = client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(main.status(), StatusCode::NOT_FOUND);

    // Prometheus's own checker accepts the exposition.
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/test-all.sh installs it)");
    use std::io::Write as _;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(after.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A GET with `accept-encoding`; (content-encoding, raw body bytes).
async fn fetch_encoded(url: &str, encoding: &str, bearer: Option<&str>) -> (String, Vec<u8>) {
    let mut req = crate::helpers::http_client()
        .get(url)
        .header("accept-encoding", encoding);
    if let Some(token) = bearer {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{url}");
    let used = r
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (used, r.bytes().await.unwrap().to_vec())
}

fn decode(encoding: &str, bytes: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    match encoding {
        "gzip" => {
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .unwrap();
        }
        "br" => {
            brotli::Decompressor::new(bytes, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        other => panic!("unexpected encoding {other:?}"),
    }
    out
}

#[tokio::test]
async fn static_files_json_and_pages_are_compressed_and_decode_to_the_same_bytes() {
    let (app, b, _) = crate::helpers::admin_app().await;
    let token = crate::helpers::make_token(
        &app,
        None,
        crate::helpers::perms(1),
        Some("admin"),
        crate::helpers::in_days(5),
    )
    .await;
    for (path, bearer) in [
        ("/static/app.css", None),
        ("/api/v2/fleets", Some(token.as_str())),
        ("/api/v2/alpha/devices", Some(token.as_str())),
        ("/api/v2/openapi.json", None),
    ] {
        let url = app.url(path);
        let (none, plain) = fetch_encoded(&url, "identity", bearer).await;
        assert_eq!(
            none, "",
            "{path} not compressed when the client does not ask"
        );
        for encoding in ["gzip", "br"] {
            let (used, packed) = fetch_encoded(&url, encoding, bearer).await;
            assert_eq!(used, encoding, "{path}");
            assert!(packed.len() < plain.len(), "{path}: {encoding} is smaller");
            assert_eq!(decode(encoding, &packed), plain, "{path} with {encoding}");
        }
    }
    // A page with forms is compressed, and its CSRF token differs in every response (BREACH):
    // two fetches of the same page, same session, carry different values that both work.
    let first = b
        .request(
            reqwest::Method::GET,
            "/settings/account",
            None,
            &[("accept-encoding", "br")],
        )
        .await;
    assert_eq!(first.header("content-encoding"), "br");
    let (a, c) = (
        crate::helpers::hidden(&b.get("/settings/account").await.body, "csrf"),
        crate::helpers::hidden(&b.get("/settings/account").await.body, "csrf"),
    );
    assert_ne!(a, c, "masked afresh in every response");
    assert_eq!(
        crate::helpers::unmask_csrf(&a),
        crate::helpers::unmask_csrf(&c),
        "the same token inside"
    );
    // Either works for a form; and a response that shows a new token is never compressed.
    let (_, nonce) = crate::helpers::open_panel(&b).await;
    let with_c = b
        .post(
            "/settings/account/device-token",
            &[
                ("csrf", c.as_str()),
                ("nonce", nonce.as_str()),
                ("action", "generate"),
                ("description", "masked csrf check"),
                ("expires", &crate::helpers::date_in(10)),
                ("target_kind", "fleet"),
                ("fleet", "alpha"),
                ("perm_read", "on"),
            ],
        )
        .await;
    assert_eq!(with_c.status, StatusCode::OK, "{}", with_c.body);
    let (_, nonce) = crate::helpers::open_panel(&b).await;
    let shown = b
        .request(
            reqwest::Method::POST,
            "/settings/account/device-token",
            Some(&[
                ("csrf", a.as_str()),
                ("nonce", nonce.as_str()),
                ("action", "generate"),
                ("description", "compression check"),
                ("expires", &crate::helpers::date_in(10)),
                ("target_kind", "fleet"),
                ("fleet", "alpha"),
                ("perm_read", "on"),
            ]),
            &[("accept-encoding", "gzip, br")],
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(crate::helpers::tokens_in(&shown.body).len(), 1);
    assert!(shown.headers.get("content-encoding").is_none());
    let created = crate::helpers::http_client()
        .post(app.url("/access/api/v1/tokens"))
        .header("authorization", format!("Bearer {token}"))
        .header("accept-encoding", "gzip, br")
        .json(&serde_json::json!({
            "type": "device_details",
            "description": "compression check",
            "expires_at": crate::helpers::date_in(9),
            "target": {"fleet": "alpha"},
            "permissions": ["read"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert!(created.headers().get("content-encoding").is_none());
    assert!(created.text().await.unwrap().contains("\"token\""));
}

#[tokio::test]
async fn pages_that_show_a_new_password_are_never_compressed() {
    let (app, b, _) = crate::helpers::admin_app().await;
    let packed = [("accept-encoding", "gzip, br")];
    let csrf = crate::helpers::hidden(&b.get("/settings/users").await.body, "csrf");
    let made = b
        .request(
            reqwest::Method::POST,
            "/settings/users",
            Some(&[
                ("csrf", csrf.as_str()),
                ("username", "neo"),
                ("role", "user"),
                ("password", ""),
            ]),
            &packed,
        )
        .await;
    assert_eq!(made.status, StatusCode::OK);
    assert!(
        made.body.contains("id=\"initial-password\""),
        "{}",
        made.body
    );
    assert!(made.headers.get("content-encoding").is_none());
    // The same page without a password in it is compressed.
    let listed = b
        .request(reqwest::Method::GET, "/settings/users", None, &packed)
        .await;
    assert!(listed.headers.get("content-encoding").is_some());
    let id = app.store.user_by_username("neo").await.unwrap().unwrap().id;
    let page = format!("/settings/users/{id}");
    let csrf = crate::helpers::hidden(&b.get(&page).await.body, "csrf");
    let reset = b
        .request(
            reqwest::Method::POST,
            &format!("{page}/account"),
            Some(&[("csrf", csrf.as_str()), ("action", "reset-password")]),
            &packed,
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK);
    assert!(reset.body.contains("id=\"new-password\""));
    assert!(reset.headers.get("content-encoding").is_none());
}
