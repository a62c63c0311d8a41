//! The Security tab and two-factor sign-in through the real server: own password, sessions,
//! authenticator app (enrolment, second step, replay, throttle), recovery codes, the
//! two-factor requirement, `user reset-2fa`, passkey endpoints, and two instances agreeing on a
//! used code.

use connect_tokens::auth::totp::code_at;
use connect_tokens::domain::now;
use connect_tokens::domain::scope::Role;
use reqwest::{Method, StatusCode};

use crate::helpers::{Browser, TestApp, audit_entries, hidden, spawn_app};

const CHROME_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// The text between `start` and the next `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in:\n{html}"))
        + start.len();
    &html[from..from + html[from..].find(end).unwrap()]
}

/// A signed-in session's form post of `form` (plus its CSRF token, taken from the tab).
async fn post_tab(b: &Browser, action: &str, form: &[(&str, &str)]) -> crate::helpers::Resp {
    b.submit("/settings/security", action, form).await
}

/// Sets up an authenticator app for the signed-in `b`: its secret and recovery codes.
async fn enrol_totp(b: &Browser) -> (Vec<u8>, Vec<String>) {
    let r = post_tab(b, "/settings/security/totp/setup", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/settings/security/totp");
    let page = b.get("/settings/security/totp").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("<svg role=\"img\""),
        "QR code drawn inline"
    );
    let secret = crate::helpers::base32_decode(between(&page.body, "id=\"totp-secret\">", "<"));
    assert_eq!(secret.len(), 20);
    // A wrong code first: refused, nothing confirmed.
    let wrong = format!(
        "{:06}",
        (code_at(&secret, now()).parse::<u32>().unwrap() + 1) % 1_000_000
    );
    let csrf = hidden(&page.body, "csrf");
    let r = b
        .post(
            "/settings/security/totp/confirm",
            &[("csrf", &csrf), ("code", &wrong)],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("does not match"));
    let code = code_at(&secret, now());
    let r = b
        .post(
            "/settings/security/totp/confirm",
            &[("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Save your recovery codes"));
    let list = between(&r.body, "id=\"recovery-codes\"", "</ul>");
    let codes: Vec<String> = list
        .split("<li>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().trim().to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{list}");
    (secret, codes)
}

/// Signs in with the password; expects the second step.
async fn password_step(app: &TestApp, username: &str, password: &str) -> Browser {
    let b = app.browser();
    let r = b.login(username, password).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/login/two-factor");
    b
}

async fn second_step(b: &Browser, code: &str) -> crate::helpers::Resp {
    b.submit("/login/two-factor", "/login/two-factor", &[("code", code)])
        .await
}

/// Submits the Password section with the current, new and confirmed password.
async fn change(b: &Browser, [current, new, confirm]: [&str; 3]) -> crate::helpers::Resp {
    post_tab(
        b,
        "/settings/security/password",
        &[
            ("current_password", current),
            ("new_password", new),
            ("confirm_password", confirm),
        ],
    )
    .await
}

fn actions(entries: &[connect_tokens::store::audit::AuditEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.action.as_str()).collect()
}

#[tokio::test]
async fn changing_the_password_checks_it_and_ends_the_other_sessions() {
    let app = spawn_app().await;
    let password = app.create_user("ann", Role::User).await;
    let b = app.browser();
    assert_eq!(
        b.login("ann", &password).await.status,
        StatusCode::SEE_OTHER
    );
    let other = app.browser();
    assert_eq!(
        other.login("ann", &password).await.status,
        StatusCode::SEE_OTHER
    );
    let pw = password.as_str();
    let long = "x".repeat(257);
    let cases = [
        (
            "wrong current password",
            StatusCode::UNAUTHORIZED,
            "not right",
            [
                "wrong-password-1",
                "a fine new passphrase",
                "a fine new passphrase",
            ],
        ),
        (
            "too short",
            StatusCode::UNPROCESSABLE_ENTITY,
            "at least 12",
            [pw, "short", "short"],
        ),
        (
            "too long",
            StatusCode::UNPROCESSABLE_ENTITY,
            "at most 256",
            [pw, &long, &long],
        ),
        (
            "common",
            StatusCode::UNPROCESSABLE_ENTITY,
            "common",
            [pw, "masterbating", "masterbating"],
        ),
        (
            "common in another case",
            StatusCode::UNPROCESSABLE_ENTITY,
            "common",
            [pw, "UNBELIEVABLE", "UNBELIEVABLE"],
        ),
        (
            "mismatch",
            StatusCode::UNPROCESSABLE_ENTITY,
            "differ",
            [pw, "a fine new passphrase", "a fine new passphrase!"],
        ),
        (
            "same",
            StatusCode::UNPROCESSABLE_ENTITY,
            "current one",
            [pw, pw, pw],
        ),
    ];
    for (what, status, says, fields) in cases {
        let r = change(&b, fields).await;
        assert_eq!(r.status, status, "{what}");
        assert!(r.body.contains(says), "{what}: {}", r.body);
        assert_eq!(
            other.get("/dashboard").await.status,
            StatusCode::OK,
            "{what}: nothing changed"
        );
    }
    // The username (as a 12+ character name) is refused too.
    let long = app.create_user("maintenance-bot", Role::User).await;
    let bot = app.browser();
    bot.login("maintenance-bot", &long).await;
    let r = post_tab(
        &bot,
        "/settings/security/password",
        &[
            ("current_password", &long),
            ("new_password", "Maintenance-Bot"),
            ("confirm_password", "Maintenance-Bot"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("username"), "{}", r.body);

    let r = change(
        &b,
        [
            pw,
            "correct horse battery staple",
            "correct horse battery staple",
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/settings/security?done=password");
    let tab = b.get("/settings/security?done=password").await;
    assert!(tab.body.contains("Password changed"));
    assert_eq!(
        other.get("/dashboard").await.status,
        StatusCode::SEE_OTHER,
        "the other session ended"
    );
    assert_eq!(
        b.get("/dashboard").await.status,
        StatusCode::OK,
        "this one goes on"
    );
    assert_eq!(
        app.browser().login("ann", &password).await.status,
        StatusCode::UNAUTHORIZED
    );
    let fresh = app.browser();
    assert_eq!(
        fresh
            .login("ann", "correct horse battery staple")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let log = audit_entries(&app, 50).await;
    let changed = log
        .iter()
        .find(|e| e.action == "password.changed")
        .expect("audited");
    assert_eq!(
        (changed.actor.as_str(), changed.target.as_str()),
        ("ann", "ann")
    );
    assert!(
        log.iter()
            .any(|e| e.action == "signin.failure" && e.detail.contains("current password"))
    );
}

#[tokio::test]
async fn a_wrong_current_password_counts_against_the_sign_in_throttle() {
    let app = spawn_app().await;
    let password = app.create_user("ann", Role::User).await;
    let b = app.browser();
    b.login("ann", &password).await;
    for _ in 0..5 {
        let r = post_tab(
            &b,
            "/settings/security/password",
            &[
                ("current_password", "not-the-password"),
                ("new_password", "a fine new passphrase"),
                ("confirm_password", "a fine new passphrase"),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = post_tab(
        &b,
        "/settings/security/password",
        &[
            ("current_password", &password),
            ("new_password", "a fine new passphrase"),
            ("confirm_password", "a fine new passphrase"),
        ],
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right one waits"
    );
}

#[tokio::test]
async fn sessions_are_listed_with_browser_and_source_and_can_be_ended() {
    let app = spawn_app().await;
    let password = app.create_user("ann", Role::User).await;
    let mut browsers = Vec::new();
    for _ in 0..3 {
        let b = app.browser();
        let page = b.get("/login").await;
        let csrf = hidden(&page.body, "csrf");
        let r = b
            .request(
                Method::POST,
                "/login",
                Some(&[
                    ("csrf", &csrf),
                    ("username", "ann"),
                    ("password", &password),
                ]),
                &[("user-agent", CHROME_UA)],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        browsers.push(b);
    }
    let bob = app.signed_in("bob", Role::User).await;
    let tab = browsers[0].get("/settings/security").await;
    assert_eq!(tab.status, StatusCode::OK);
    assert_eq!(
        tab.body.matches("Chrome 131 on Linux").count(),
        3 + 2,
        "3 rows, 2 sign-out labels"
    );
    assert_eq!(tab.body.matches("127.0.0.1").count(), 3 + 2);
    assert_eq!(tab.body.matches("This session").count(), 1);
    let handles: Vec<&str> = tab
        .body
        .split("/settings/security/sessions/")
        .skip(1)
        .map(|s| s.split('/').next().unwrap())
        .filter(|h| !h.starts_with("sign-out-others"))
        .collect();
    assert_eq!(handles.len(), 2, "a sign-out for each other session");

    // Someone else's session is not ours to end.
    let bobs = bob.get("/settings/security").await;
    let bob_handle = bobs
        .body
        .split("/settings/security/sessions/")
        .nth(1)
        .map(|s| s.split('/').next().unwrap().to_owned());
    assert!(
        bob_handle.is_none(),
        "one session: nothing to sign out but itself"
    );
    let r = post_tab(
        &bob,
        &format!("/settings/security/sessions/{}/sign-out", handles[0]),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Sign out one.
    let r = post_tab(
        &browsers[0],
        &format!("/settings/security/sessions/{}/sign-out", handles[0]),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let alive: Vec<bool> = futures_alive(&browsers).await;
    assert_eq!(alive.iter().filter(|a| **a).count(), 2);
    assert!(alive[0]);
    // Sign out all others.
    let r = post_tab(
        &browsers[0],
        "/settings/security/sessions/sign-out-others",
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(futures_alive(&browsers).await, [true, false, false]);
    assert_eq!(
        bob.get("/dashboard").await.status,
        StatusCode::OK,
        "bob's untouched"
    );
    let log = audit_entries(&app, 20).await;
    let ended: Vec<_> = log
        .iter()
        .filter(|e| e.action == "sessions.ended")
        .collect();
    assert_eq!(ended.len(), 2);
    assert_eq!(ended[0].detail, "all other sessions (1)");
}

async fn futures_alive(browsers: &[Browser]) -> Vec<bool> {
    let mut out = Vec::new();
    for b in browsers {
        out.push(b.get("/dashboard").await.status == StatusCode::OK);
    }
    out
}

#[tokio::test]
async fn authenticator_app_enrolment_sign_in_replay_and_recovery_codes() {
    let app = spawn_app().await;
    let password = app.create_user("ann", Role::User).await;
    let b = app.browser();
    b.login("ann", &password).await;
    let (secret, codes) = enrol_totp(&b).await;
    // Stored sealed, not as the secret.
    let stored: String = sqlx_scalar(&app, "SELECT secret FROM totp_secrets").await;
    assert!(stored.starts_with("v1."), "{stored}");
    assert!(!stored.to_lowercase().contains(&hex(&secret)));

    // The password alone now leads to the second step, and nowhere else.
    let half = password_step(&app, "ann", &password).await;
    for path in [
        "/dashboard",
        "/settings/security",
        "/devices",
        "/settings/account",
    ] {
        let r = half.get(path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), "/login/two-factor", "{path}");
    }
    assert_eq!(
        half.get("/login").await.location(),
        "/login/two-factor",
        "the sign-in page sends a half-done sign-in on"
    );
    let step = half.get("/login/two-factor").await;
    assert_eq!(step.status, StatusCode::OK);
    assert!(step.body.contains("authenticator app"));
    // The code used to confirm the set-up is spent: the next step's code signs in.
    let confirmed = code_at(&secret, now());
    let r = second_step(&half, &confirmed).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "the confirming code is spent"
    );
    let next = code_at(&secret, now() + 30);
    let r = second_step(&half, &next).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/dashboard");
    assert_eq!(half.get("/dashboard").await.status, StatusCode::OK);
    // Replayed in another sign-in: refused.
    let again = password_step(&app, "ann", &password).await;
    let r = second_step(&again, &next).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("already used"));
    assert_eq!(again.get("/dashboard").await.status, StatusCode::SEE_OTHER);
    // A recovery code works once (typed in upper case, without its dash).
    let typed = codes[3].replace('-', "").to_uppercase();
    let r = second_step(&again, &typed).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let third = password_step(&app, "ann", &password).await;
    assert_eq!(
        second_step(&third, &codes[3]).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        third
            .get("/settings/security")
            .await
            .location()
            .ends_with("two-factor")
    );
    let tab = half.get("/settings/security").await;
    assert!(
        tab.body.contains("9 of 10 unused"),
        "{}",
        between(&tab.body, "Recovery codes</h3>", "</form>")
    );

    // Regenerating voids the old codes.
    let r = post_tab(&half, "/settings/security/recovery-codes", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Your old codes no longer work"));
    let fourth = password_step(&app, "ann", &password).await;
    assert_eq!(
        second_step(&fourth, &codes[4]).await.status,
        StatusCode::UNAUTHORIZED
    );

    let log = audit_entries(&app, 100).await;
    let acts = actions(&log);
    for a in [
        "two_factor.totp_enabled",
        "two_factor.recovery_codes_regenerated",
        "signin.second_factor_failure",
    ] {
        assert!(acts.contains(&a), "{a} in {acts:?}");
    }
    let with: Vec<_> = log
        .iter()
        .filter(|e| e.action == "signin.success")
        .map(|e| e.detail.as_str())
        .collect();
    assert!(with.contains(&"with authenticator app"), "{with:?}");
    assert!(with.contains(&"with recovery code (9 left)"), "{with:?}");
    for e in &log {
        assert!(
            !e.detail.contains(&codes[3]) && !e.detail.contains(&next),
            "no code in the log"
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn sqlx_scalar(app: &TestApp, sql: &str) -> String {
    use sqlx::Connection;
    if app.database_url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut c)
            .await
            .unwrap()
    } else {
        let mut c = sqlx::SqliteConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut c)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn the_second_step_is_throttled_like_the_password() {
    let app = spawn_app().await;
    let password = app.create_user("ann", Role::User).await;
    let b = app.browser();
    b.login("ann", &password).await;
    let (secret, _) = enrol_totp(&b).await;
    let half = password_step(&app, "ann", &password).await;
    for _ in 0..5 {
        assert_eq!(
            second_step(&half, "000000").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let r = second_step(&half, &code_at(&secret, now() + 30)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.body.contains("Too many failed codes"));
    assert_eq!(half.get("/dashboard").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn turning_the_app_off_needs_a_code_or_the_password() {
    let app = spawn_app().await;
    let password = app.create_user("ann", Role::User).await;
    let b = app.browser();
    b.login("ann", &password).await;
    let r = post_tab(
        &b,
        "/settings/security/totp/disable",
        &[("proof", &password)],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "nothing to turn off");
    assert!(r.body.contains("No authenticator app is set up"));
    let (_, _) = enrol_totp(&b).await;
    let r = post_tab(
        &b,
        "/settings/security/totp/disable",
        &[("proof", "not my password")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = post_tab(
        &b,
        "/settings/security/totp/disable",
        &[("proof", "123456")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a wrong code");
    let r = post_tab(
        &b,
        "/settings/security/totp/disable",
        &[("proof", &password)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // The password alone signs in again; the recovery codes went with the app.
    let again = app.browser();
    let r = again.login("ann", &password).await;
    assert_eq!(r.location(), "/dashboard");
    let tab = again.get("/settings/security").await;
    assert!(tab.body.contains("Made when you set up"));
    assert!(actions(&audit_entries(&app, 30).await).contains(&"two_factor.totp_disabled"));
}

/// Every console route a user can reach once signed in (and some only admins can).
const GATED: [&str; 12] = [
    "/",
    "/dashboard",
    "/devices",
    "/devices/00000000-0000-4000-8000-000000000000",
    "/settings",
    "/settings/account",
    "/settings/account/device-token",
    "/settings/account/user-token",
    "/settings/users",
    "/settings/access-tokens",
    "/settings/audit",
    "/settings/security/nowhere",
];

#[tokio::test]
async fn required_two_factor_gates_every_route_until_enrolled() {
    let app = spawn_app().await;
    let admin = app.signed_in("admin", Role::Admin).await;
    let password = app.create_user("ann", Role::User).await;
    let ann = app.browser();
    ann.login("ann", &password).await;
    // Bad values and non-admins change nothing.
    let r = post_tab(
        &admin,
        "/settings/security/require-two-factor",
        &[("require", "sometimes")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_tab(
        &ann,
        "/settings/security/require-two-factor",
        &[("require", "no_one")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        !ann.get("/settings/security")
            .await
            .body
            .contains("require-two-factor")
    );

    let r = post_tab(
        &admin,
        "/settings/security/require-two-factor",
        &[("require", "admins")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // Admins now: the admin (no second factor) is held at the Security tab, ann is not.
    assert_eq!(ann.get("/dashboard").await.status, StatusCode::OK);
    assert_eq!(
        admin.get("/dashboard").await.location(),
        "/settings/security"
    );
    // An admin still to enrol cannot lift the requirement.
    let r = post_tab(
        &admin,
        "/settings/security/require-two-factor",
        &[("require", "no_one")],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Everyone: set straight in the store (the admin is held), then ann signs in anew.
    app.store
        .set_setting("require_two_factor", "everyone")
        .await
        .unwrap();
    let fresh = app.browser();
    let r = fresh.login("ann", &password).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    for path in GATED {
        let r = fresh.get(path).await;
        if path == "/settings/security/nowhere" {
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
            continue;
        }
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), "/settings/security", "{path}");
    }
    // Posts too (with a valid CSRF token).
    let r = post_tab(&fresh, "/devices/fleets", &[("key", "x"), ("name", "X")]).await;
    assert_eq!(r.location(), "/settings/security");
    let tab = fresh.get("/settings/security").await;
    assert_eq!(tab.status, StatusCode::OK);
    assert!(tab.body.contains("id=\"enrollment-required\""));
    // Enrolling lets ann through; sign-out works meanwhile too.
    enrol_totp(&fresh).await;
    assert_eq!(fresh.get("/dashboard").await.status, StatusCode::OK);
    for path in GATED.iter().filter(|p| !p.contains("nowhere")) {
        assert_ne!(
            fresh.get(path).await.location(),
            "/settings/security",
            "{path}"
        );
    }
    let r = post_tab(&admin, "/logout", &[]).await;
    assert_eq!(r.location(), "/login");
    // Ann cannot remove her only factor while it is required.
    let r = post_tab(
        &fresh,
        "/settings/security/totp/disable",
        &[("proof", &password)],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(actions(&audit_entries(&app, 40).await).contains(&"two_factor.requirement_changed"));
}

#[tokio::test]
async fn reset_2fa_at_the_command_line_lets_a_locked_out_user_in_with_the_password() {
    let app = spawn_app().await;
    let password = app.create_user("ann", Role::User).await;
    let b = app.browser();
    b.login("ann", &password).await;
    enrol_totp(&b).await;
    password_step(&app, "ann", &password).await;
    let pg = app.database_url.starts_with("postgres");
    let mut args: Vec<&str> = Vec::new();
    if pg {
        args.extend(["--database-url", app.database_url.as_str()]);
    }
    let out = crate::cli::run(
        &app.data_dir,
        &[
            args.as_slice(),
            &["user", "reset-2fa", "--username", "nobody"],
        ]
        .concat(),
        "",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user nobody"));
    let out = crate::cli::run(
        &app.data_dir,
        &[args.as_slice(), &["user", "reset-2fa", "--username", "ann"]].concat(),
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("authenticator app: removed") && said.contains("recovery codes: 10"),
        "{said}"
    );
    let r = app.browser().login("ann", &password).await;
    assert_eq!(r.location(), "/dashboard", "the password alone again");
    let log = audit_entries(&app, 10).await;
    let reset = log
        .iter()
        .find(|e| e.action == "two_factor.reset")
        .expect("audited");
    assert_eq!(
        (reset.actor.as_str(), reset.target.as_str()),
        ("cli", "ann")
    );
}

#[tokio::test]
async fn two_instances_accept_a_code_once_between_them() {
    let app = spawn_app().await;
    let other = app.sibling().await;
    let password = app.create_user("ann", Role::User).await;
    let b = app.browser();
    b.login("ann", &password).await;
    let (secret, _) = enrol_totp(&b).await;
    let code = code_at(&secret, now() + 30);
    let on_a = password_step(&app, "ann", &password).await;
    let on_b = password_step(&other, "ann", &password).await;
    let step_page = on_b.get("/login/two-factor").await;
    assert!(
        step_page.body.contains("authenticator app"),
        "the sibling reads the same key"
    );
    assert_eq!(
        second_step(&on_a, &code).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        second_step(&on_b, &code).await.status,
        StatusCode::UNAUTHORIZED
    );
    let log = audit_entries(&app, 10).await;
    assert_eq!(
        log.iter()
            .filter(|e| e.action == "signin.second_factor_failure")
            .count(),
        1
    );
}

#[tokio::test]
async fn passkey_ceremonies_refuse_what_does_not_hold_up() {
    let app = spawn_app().await;
    let b = app.signed_in("ann", Role::User).await;
    // Options for a discoverable credential bound to the user's handle.
    let r = post_tab(&b, "/settings/security/passkeys/options", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let o = r.json();
    assert_eq!(o["publicKey"]["rp"]["id"], "localhost");
    assert_eq!(
        o["publicKey"]["authenticatorSelection"]["residentKey"],
        "required"
    );
    assert_eq!(
        o["publicKey"]["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(o["publicKey"]["user"]["name"], "ann");
    // A forged answer: refused, nothing stored.
    let r = post_tab(
        &b,
        "/settings/security/passkeys",
        &[("name", "Laptop"), ("credential", "{\"id\":\"x\"}")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("not added"));
    // The ceremony was used up by that attempt.
    let r = post_tab(
        &b,
        "/settings/security/passkeys",
        &[("name", "Laptop"), ("credential", "{}")],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = post_tab(
        &b,
        "/settings/security/passkeys",
        &[("name", ""), ("credential", "{}")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        app.store
            .passkeys(&user_id(&app, "ann").await)
            .await
            .unwrap()
            .is_empty()
    );
    // Passwordless: a forged assertion is refused and audited as a failed sign-in.
    let anon = app.browser();
    let r = anon.submit("/login", "/login/passkey/options", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["publicKey"]["allowCredentials"],
        serde_json::json!([])
    );
    let r = anon
        .submit("/login", "/login/passkey", &[("credential", "{}")])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Failed passwordless attempts count by source address only (20 in 15 minutes here), not
    // against one shared name that anyone could exhaust for everybody.
    for _ in 0..6 {
        let r = anon
            .submit("/login", "/login/passkey", &[("credential", "{}")])
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // Options need the pre-sign-in cookie the sign-in page sets.
    let cookieless = app.browser();
    let r = cookieless.post("/login/passkey/options", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no CSRF anchor at all");
    let log = audit_entries(&app, 5).await;
    assert_eq!(
        (log[0].action.as_str(), log[0].actor.as_str()),
        ("signin.failure", "[a passkey]")
    );
    // The second step's passkey needs a half-done sign-in.
    let r = anon
        .submit("/login", "/login/two-factor/passkey/options", &[])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

async fn user_id(app: &TestApp, username: &str) -> String {
    app.store
        .user_for_login(username)
        .await
        .unwrap()
        .unwrap()
        .0
        .id
}

#[tokio::test]
async fn an_instance_with_another_secret_key_refuses_to_start() {
    let app = spawn_app().await;
    let other = crate::helpers::temp_dir("other-key").join("other.key");
    let mut args: Vec<String> = Vec::new();
    if app.database_url.starts_with("postgres") {
        args.extend(["--database-url".into(), app.database_url.clone()]);
    }
    args.extend(["serve", "--bind", "127.0.0.1:0", "--secret-key-file"].map(String::from));
    args.push(other.display().to_string());
    let mut child = std::process::Command::new(crate::cli::BIN)
        .arg("--data-dir")
        .arg(&app.data_dir)
        .args(&args)
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started with another key");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("not the one this database"), "{err}");
    // Its key file was made (0600) before the check: the operator can compare or remove it.
    assert!(other.exists());
}
