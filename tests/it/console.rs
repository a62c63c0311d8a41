//! Dashboard, error pages and health checks.

use connect_tokens::domain::scope::Role;
use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn dashboard_counts_what_exists() {
    let app = spawn_app().await;
    app.seed_fleets().await;
    let b = app.signed_in("viewer", Role::User).await;
    let r = b.get("/dashboard").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body
            .contains(r#"<p class="stat-value">2</p><p class="stat-label">Fleets</p>"#),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains(r#"<p class="stat-value">5</p><p class="stat-label">Devices</p>"#)
    );
}

#[tokio::test]
async fn unknown_pages_get_an_html_404_and_api_paths_a_json_one() {
    let app = spawn_app().await;
    let b = app.browser();
    let r = b.get("/no/such/page").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.header("content-type").starts_with("text/html"));
    let r = b.get("/api/v2/nothing-here").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["errors"][0]["status"], 404);
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let b = app.browser();
    assert_eq!(b.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(b.get("/readyz").await.status, StatusCode::OK);
    app.store.close().await;
    let r = b.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json()["errors"][0]["status"], 503);
}

#[tokio::test]
async fn oversized_forms_are_refused() {
    let app = spawn_app().await;
    let b = app.browser();
    b.get("/login").await;
    let big = "x".repeat(200 * 1024);
    let r = b.post("/login", &[("username", big.as_str())]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // An error page like any other, with the security headers.
    assert!(r.header("content-type").starts_with("text/html"));
    assert_eq!(r.header("x-content-type-options"), "nosniff");
    assert!(r.body.contains("</html>"));
}
