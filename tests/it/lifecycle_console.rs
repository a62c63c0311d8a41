//! A token's life in the console (issue #14): its detail page, **Regenerate…** with and
//! without a grace time, refusals of a second regeneration, and the allowed-IPs field of the
//! generate panels.

use reqwest::StatusCode;

use crate::helpers::{admin_app, audit_entries, call, date_in, generate, hidden, tokens_in};

/// Generates a fleet alpha token in the panel; (plaintext, Token ID).
async fn panel_token(b: &crate::helpers::Browser, allowed: &str) -> (String, String) {
    let r = generate(
        b,
        &[
            ("description", "line 4 robots"),
            ("expires", &date_in(10)),
            ("target_kind", "fleet"),
            ("fleet", "alpha"),
            ("perm_read", "on"),
            ("allowed_ips", allowed),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let token = tokens_in(&r.body).pop().expect("shown once");
    let start = r.body.find("Token ID</dt><dd class=\"mono\">").unwrap() + 30;
    let id = r.body[start..start + 36].to_owned();
    (token, id)
}

async fn devices_with(app: &crate::helpers::TestApp, token: &str) -> StatusCode {
    call(
        app,
        reqwest::Method::GET,
        "/api/v2/alpha/devices",
        token,
        None,
    )
    .await
    .status
}

#[tokio::test]
async fn regenerate_without_grace_stops_the_old_token_at_once() {
    let (app, b, _) = admin_app().await;
    let (old, old_id) = panel_token(&b, "").await;
    // The list links to the detail page, which offers Regenerate….
    let list = b.get("/settings/access-tokens").await;
    assert!(
        list.body
            .contains(&format!("href=\"/settings/access-tokens/{old_id}\""))
    );
    assert!(
        list.body
            .contains(&format!("/settings/access-tokens/{old_id}/regenerate"))
    );
    let page = b.get(&format!("/settings/access-tokens/{old_id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Never regenerated") && page.body.contains("Any address"));
    // The form proposes the old lifetime from today and no grace.
    let form = b
        .get(&format!("/settings/access-tokens/{old_id}/regenerate"))
        .await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body.contains(&format!("value=\"{}\"", date_in(10))),
        "{}",
        form.body
    );
    assert!(form.body.contains("value=\"0\" checked"));
    let csrf = hidden(&form.body, "csrf");
    let r = b
        .post(
            &format!("/settings/access-tokens/{old_id}/regenerate"),
            &[("csrf", &csrf), ("expires", &date_in(12)), ("grace", "0")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.header("cache-control"), "no-store");
    let shown = tokens_in(&r.body);
    assert_eq!(shown.len(), 1, "the new token, once");
    let new = &shown[0];
    assert!(r.body.contains("stops working now"));
    assert_eq!(devices_with(&app, &old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(devices_with(&app, new).await, StatusCode::OK);
    // The old token's page names its successor; no second regeneration.
    let page = b.get(&format!("/settings/access-tokens/{old_id}")).await;
    assert!(page.body.contains("Replaced by"), "{}", page.body);
    assert!(page.body.contains("Token rotated"), "its audit entries");
    assert!(!page.body.contains("id=\"regenerate\""));
    let again = b
        .post(
            &format!("/settings/access-tokens/{old_id}/regenerate"),
            &[("csrf", &csrf), ("expires", &date_in(12)), ("grace", "0")],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("regenerated already"));
    assert!(tokens_in(&again.body).is_empty());
    // Bad input: a clear error, and nothing changes.
    let successor_id = {
        let p = b
            .get(&format!("/settings/access-tokens/{old_id}"))
            .await
            .body;
        let start = p
            .find("Replaced by <a class=\"mono\" href=\"/settings/access-tokens/")
            .unwrap()
            + 58;
        p[start..start + 36].to_owned()
    };
    let bad = b
        .post(
            &format!("/settings/access-tokens/{successor_id}/regenerate"),
            &[("csrf", &csrf), ("expires", "2000-01-01"), ("grace", "0")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("aria-invalid=\"true\""));
    let odd = b
        .post(
            &format!("/settings/access-tokens/{successor_id}/regenerate"),
            &[("csrf", &csrf), ("expires", &date_in(3)), ("grace", "7")],
        )
        .await;
    assert_eq!(odd.status, StatusCode::BAD_REQUEST);
    assert_eq!(devices_with(&app, new).await, StatusCode::OK);
}

#[tokio::test]
async fn regenerate_with_an_hours_grace_keeps_both_working_and_the_detail_shows_the_chain() {
    let (app, b, _) = admin_app().await;
    let (old, old_id) = panel_token(&b, "127.0.0.1\n2001:db8::/32").await;
    let page = b.get(&format!("/settings/access-tokens/{old_id}")).await;
    assert!(page.body.contains("127.0.0.1/32") && page.body.contains("2001:db8::/32"));
    let form = b
        .get(&format!("/settings/access-tokens/{old_id}/regenerate"))
        .await;
    let csrf = hidden(&form.body, "csrf");
    let r = b
        .post(
            &format!("/settings/access-tokens/{old_id}/regenerate"),
            &[
                ("csrf", &csrf),
                ("expires", &date_in(30)),
                ("grace", "3600"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let new = tokens_in(&r.body).pop().unwrap();
    assert!(r.body.contains("stops working at "), "{}", r.body);
    assert_eq!(
        devices_with(&app, &old).await,
        StatusCode::OK,
        "within the hour"
    );
    assert_eq!(
        devices_with(&app, &new).await,
        StatusCode::OK,
        "allowed IPs inherited"
    );
    // The old token's last use, from here (allowed), is recorded with its source and user agent.
    let used = app
        .client
        .get(app.url("/api/v2/alpha/devices"))
        .bearer_auth(&old)
        .header("user-agent", "line-4-robot/3.2")
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), StatusCode::OK);
    let rotated = audit_entries(&app, 10)
        .await
        .into_iter()
        .find(|e| e.action == "token.rotated")
        .unwrap();
    assert!(
        rotated.detail.contains("works 1 hour more"),
        "{}",
        rotated.detail
    );
    // Last use, with where it came from, once the batch is written (the app flushes every 10 s
    // by default; the page shows it when it is).
    let mut detail = String::new();
    for _ in 0..120 {
        detail = b
            .get(&format!("/settings/access-tokens/{old_id}"))
            .await
            .body;
        if detail.contains("line-4-robot/3.2") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        detail.contains("from <span class=\"mono\">127.0.0.1</span>"),
        "{detail}"
    );
    assert!(detail.contains("line-4-robot/3.2"));
}

#[tokio::test]
async fn the_panels_refuse_bad_allowed_ips_naming_them() {
    let (_app, b, _) = admin_app().await;
    let r = generate(
        &b,
        &[
            ("description", "x"),
            ("expires", &date_in(3)),
            ("target_kind", "fleet"),
            ("fleet", "alpha"),
            ("perm_read", "on"),
            ("allowed_ips", "10.0.0.1/8\nnot-an-ip"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("10.0.0.0/8") && r.body.contains("not-an-ip"),
        "{}",
        r.body
    );
    assert!(r.body.contains("id=\"dt-allowed-ips\"") && r.body.contains("aria-invalid=\"true\""));
    assert!(tokens_in(&r.body).is_empty());
    let csrf = hidden(&b.get("/settings/account/user-token").await.body, "csrf");
    let nonce = hidden(&b.get("/settings/account/user-token").await.body, "nonce");
    let r = b
        .post(
            "/settings/account/user-token",
            &[
                ("csrf", csrf.as_str()),
                ("nonce", nonce.as_str()),
                ("description", "x"),
                ("expires", &date_in(3)),
                ("username", "admin"),
                ("allowed_ips", "300.1.1.1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("300.1.1.1"));
}
