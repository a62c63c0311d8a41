//! Sign-in, sessions, CSRF and the admin guard.

use connect_tokens::domain::scope::Role;
use reqwest::{Method, StatusCode};

use crate::helpers::{audit_entries, hidden, spawn_app};

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_generic_answer() {
    let app = spawn_app().await;
    app.create_user("alice", Role::Admin).await;
    let b = app.browser();
    let wrong = b.login("alice", "not-the-password").await;
    let unknown = b.login("nobody", "not-the-password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    for r in [&wrong, &unknown] {
        assert!(
            r.body.contains("Incorrect username or password."),
            "{}",
            r.body
        );
        assert!(!r.body.contains("not-the-password"));
    }
    assert!(b.cookie("ct_session").is_none());
    // Both failures are audited, without the password.
    let entries = audit_entries(&app, 10).await;
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.action == "signin.failure")
            .count(),
        2
    );
    assert!(
        entries
            .iter()
            .all(|e| !e.detail.contains("not-the-password"))
    );
    // A token pasted into the username field is not audited in clear.
    let t = connect_tokens::domain::token::generate(connect_tokens::domain::token::TokenKind::User);
    let secret = t.plaintext.expose();
    assert_eq!(
        b.login(secret, "not-the-password").await.status,
        StatusCode::UNAUTHORIZED
    );
    let entries = audit_entries(&app, 10).await;
    assert_eq!(entries[0].action, "signin.failure");
    assert_eq!(entries[0].actor, "[a token]");
    assert!(
        entries
            .iter()
            .all(|e| !e.actor.contains(secret) && !e.detail.contains(secret))
    );
}

#[tokio::test]
async fn admin_signs_in_and_sees_the_account_tab_with_the_access_token_card() {
    let app = spawn_app().await;
    let b = app.signed_in("root", Role::Admin).await;
    let page = b.get("/settings/account").await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "Subscription plan",
        "Renewal date",
        "Active devices",
        "Access Token",
        "User Token",
        "Device Details Token",
    ] {
        assert!(page.body.contains(text), "missing {text}");
    }
    assert!(page.body.contains(r#"aria-current="page">Account</a>"#));
    let audit = audit_entries(&app, 5).await;
    assert!(
        audit
            .iter()
            .any(|e| e.action == "signin.success" && e.actor == "root")
    );
}

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in() {
    let app = spawn_app().await;
    let b = app.browser();
    for path in [
        "/dashboard",
        "/settings/account",
        "/settings/account/device-token",
        "/settings/access-tokens",
    ] {
        let r = b.get(path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), "/login");
    }
}

#[tokio::test]
async fn non_admins_get_403_from_the_panel_and_from_a_direct_post() {
    let app = spawn_app().await;
    app.seed_fleets().await;
    let b = app.signed_in("bob", Role::User).await;
    let account = b.get("/settings/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(
        !account.body.contains("Device Details Token"),
        "non-admins do not see the card"
    );
    assert!(
        !account.body.contains("Access Tokens</a>"),
        "admin tabs are hidden"
    );
    for path in [
        "/settings/account/device-token",
        "/settings/account/user-token",
        "/settings/access-tokens",
        "/settings/account/device-search?q=a",
    ] {
        assert_eq!(b.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    let csrf = hidden(&account.body, "csrf");
    let r = b
        .post(
            "/settings/account/device-token",
            &[
                ("csrf", &csrf),
                ("nonce", "A".repeat(32).as_str()),
                ("description", "x"),
                ("expires", "2099-01-01"),
                ("target_kind", "fleet"),
                ("fleet", "alpha"),
                ("perm_read", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.token_count().await, 0);
}

#[tokio::test]
async fn login_is_throttled_per_account_after_five_failures() {
    let app = spawn_app().await;
    let password = app.create_user("carol", Role::Admin).await;
    let b = app.browser();
    for _ in 0..5 {
        assert_eq!(
            b.login("carol", "wrong-password-123").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let r = b.login("carol", &password).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.body.contains("Too many failed sign-ins"));
    assert!(b.cookie("ct_session").is_none());
}

#[tokio::test]
async fn login_is_throttled_per_source_address() {
    let app = spawn_app_with_low_source_limit().await;
    let password = app.create_user("dave", Role::Admin).await;
    let b = app.browser();
    for i in 0..3 {
        let r = b.login(&format!("someone{i}"), "wrong-password-123").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        b.login("dave", &password).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn spawn_app_with_low_source_limit() -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(connect_tokens::Config {
        login_max_failures_per_source: 3,
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn forms_without_the_csrf_token_or_from_another_site_are_refused() {
    let app = spawn_app().await;
    let password = app.create_user("erin", Role::Admin).await;
    let b = app.browser();
    // Sign-in itself needs the token.
    b.get("/login").await;
    let r = b
        .post("/login", &[("username", "erin"), ("password", &password)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b
        .post(
            "/login",
            &[
                ("csrf", "0".repeat(64).as_str()),
                ("username", "erin"),
                ("password", &password),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(b.cookie("ct_session").is_none());
    // With the token but cross-site.
    let csrf = hidden(&b.get("/login").await.body, "csrf");
    let form: &[(&str, &str)] = &[
        ("csrf", &csrf),
        ("username", "erin"),
        ("password", &password),
    ];
    for headers in [
        [("origin", "http://evil.example")],
        [("sec-fetch-site", "cross-site")],
    ] {
        let r = b
            .request(Method::POST, "/login", Some(form), &headers)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    // Chrome's `Origin: null` on a same-origin post from a no-referrer page is fine.
    let r = b
        .request(
            Method::POST,
            "/login",
            Some(form),
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // Signed in, the session's token is required for sign-out too.
    let r = b.post("/logout", &[("csrf", csrf.as_str())]).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "the pre-sign-in token is not the session's"
    );
}

#[tokio::test]
async fn sessions_rotate_at_login_and_logout_destroys_them_server_side() {
    let app = spawn_app().await;
    let password = app.create_user("frank", Role::Admin).await;
    let b = app.browser();
    b.login("frank", &password).await;
    let first = b.cookie("ct_session").unwrap();
    assert!(first.len() >= 22, "≥128 bits");
    assert!(b.cookie("ct_login").is_none(), "pre-sign-in cookie dropped");
    // Signing in again from the same browser issues a new id and kills the old one.
    let old = b.clone();
    let stale = { old.cookies.lock().unwrap().clone() };
    b.cookies.lock().unwrap().remove("ct_session");
    b.login("frank", &password).await;
    let second = b.cookie("ct_session").unwrap();
    assert_ne!(first, second);
    // Logout.
    let page = b.get("/dashboard").await;
    let csrf = hidden(&page.body, "csrf");
    let r = b.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.header("clear-site-data").contains("cookies"));
    assert!(b.cookie("ct_session").is_none());
    // Replaying the old cookie does not work: destroyed on the server, not only in the browser.
    b.cookies
        .lock()
        .unwrap()
        .insert("ct_session".into(), second);
    assert_eq!(b.get("/dashboard").await.status, StatusCode::SEE_OTHER);
    drop(stale);
}

#[tokio::test]
async fn idle_sessions_expire_on_the_server() {
    let app = crate::helpers::spawn_app_with(connect_tokens::Config {
        session_idle_secs: 3,
        ..Default::default()
    })
    .await;
    let b = app.signed_in("gina", Role::Admin).await;
    assert_eq!(b.get("/dashboard").await.status, StatusCode::OK);
    // Times are whole seconds: wait past the limit plus the rounding.
    tokio::time::sleep(std::time::Duration::from_millis(4100)).await;
    assert_eq!(b.get("/dashboard").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn every_html_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let b = app.signed_in("hank", Role::Admin).await;
    for path in [
        "/login",
        "/dashboard",
        "/settings/account",
        "/settings/account/device-token",
        "/nope",
    ] {
        let r = b.get(path).await;
        let csp = r.header("content-security-policy");
        for part in [
            "default-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(r.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(r.header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(r.header("cache-control"), "no-store", "{path}");
    }
    assert!(
        !b.get("/settings/account").await.body.contains("<script>"),
        "no inline script"
    );
    let css = b.get("/static/app.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.header("content-type").starts_with("text/css"));
}

#[tokio::test]
async fn secure_mode_uses_host_prefixed_secure_cookies_and_hsts() {
    let app = crate::helpers::spawn_app_with(connect_tokens::Config {
        secure_cookies: true,
        ..Default::default()
    })
    .await;
    let b = app.browser();
    let r = b.get("/login").await;
    let set = r.header("set-cookie");
    assert!(set.starts_with("__Host-ct_login="), "{set}");
    assert!(
        set.contains("; Secure")
            && set.contains("HttpOnly")
            && set.contains("SameSite=Strict")
            && set.contains("Path=/")
    );
    assert!(r.header("strict-transport-security").contains("max-age="));
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_a_trusted_proxy_is_configured() {
    use reqwest::Method;
    for trusted in [false, true] {
        let app = crate::helpers::spawn_app_with(connect_tokens::Config {
            trusted_proxy: trusted,
            ..Default::default()
        })
        .await;
        let b = app.browser();
        let csrf = hidden(&b.get("/login").await.body, "csrf");
        let form: &[(&str, &str)] = &[
            ("csrf", &csrf),
            ("username", "nobody"),
            ("password", "wrong-password-123"),
        ];
        b.request(
            Method::POST,
            "/login",
            Some(form),
            &[("x-forwarded-for", "203.0.113.9, 198.51.100.7")],
        )
        .await;
        let source = audit_entries(&app, 1).await[0].source.clone();
        assert_eq!(source, if trusted { "198.51.100.7" } else { "127.0.0.1" });
    }
}

#[tokio::test]
async fn a_sign_out_is_listed_under_the_sign_in_and_sign_out_filter() {
    let app = spawn_app().await;
    let leaving = app.signed_in("leaving", Role::User).await;
    let csrf = hidden(&leaving.get("/dashboard").await.body, "csrf");
    assert_eq!(
        leaving.post("/logout", &[("csrf", &csrf)]).await.status,
        StatusCode::SEE_OTHER
    );
    let admin = app.signed_in("auditor", Role::Admin).await;
    let page = admin.get("/settings/audit?action=signin").await;
    assert_eq!(page.status, StatusCode::OK);
    let row = page
        .body
        .split("<tr>")
        .find(|r| r.contains("leaving") && r.contains("signout"))
        .unwrap_or_else(|| panic!("no sign-out of leaving under the filter:\n{}", page.body));
    assert!(row.contains("Signed out"), "labelled: {row}");
}
