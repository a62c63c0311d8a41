//! User Permissions, Access Tokens, Audit Log and Devices screens through the real server.

use connect_tokens::domain::scope::{Permissions, Role, Target};
use reqwest::{Method, StatusCode};

use crate::helpers::{
    Browser, TestApp, audit_entries, call, hidden, in_days, make_token, newest_tokens, spawn_app,
};

async fn user_id(app: &TestApp, username: &str) -> String {
    app.store
        .user_by_username(username)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// Submits the forms on the user's edit panel.
async fn user_action(b: &Browser, id: &str, action: &str) -> crate::helpers::Resp {
    b.submit(
        &format!("/settings/users/{id}"),
        &format!("/settings/users/{id}/account"),
        &[("action", action)],
    )
    .await
}

#[tokio::test]
async fn users_are_listed_created_with_a_password_shown_once_and_never_leak_hashes() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", Role::Admin).await;
    app.create_user("mia", Role::User).await;
    let page = admin.get("/settings/users").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("mia") && page.body.contains("root"));
    assert!(!page.body.contains("$argon2"), "no hash in the page");
    for (form, want) in [
        (vec![("username", "x"), ("role", "user")], "A username is"),
        (vec![("username", "mia"), ("role", "user")], "is taken"),
        (
            vec![("username", "neo"), ("role", "root")],
            "Choose the role",
        ),
        (
            vec![("username", "neo"), ("role", "user"), ("password", "short")],
            "at least 12",
        ),
    ] {
        let r = admin
            .submit("/settings/users", "/settings/users", &form)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{form:?}");
        assert!(r.body.contains(want), "{form:?}: {want}");
    }
    let r = admin
        .submit(
            "/settings/users",
            "/settings/users",
            &[
                ("username", "neo"),
                ("email", "neo@example.com"),
                ("role", "user"),
                ("password", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let start = r.body.find("id=\"initial-password\">").unwrap() + "id=\"initial-password\">".len();
    let password = &r.body[start..start + 20];
    assert!(
        !admin.get("/settings/users").await.body.contains(password),
        "shown once"
    );
    let neo = app.browser();
    assert_eq!(
        neo.login("neo", password).await.status,
        StatusCode::SEE_OTHER
    );
    // Non-admins get 403 from every admin route, whatever ids they guess.
    let id = user_id(&app, "root").await;
    for path in [
        "/settings/users".to_owned(),
        format!("/settings/users/{id}"),
        "/settings/audit".to_owned(),
    ] {
        assert_eq!(neo.get(&path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    let csrf = hidden(&neo.get("/dashboard").await.body, "csrf");
    for path in [
        format!("/settings/users/{id}/account"),
        format!("/settings/users/{id}/permissions"),
        "/settings/users".to_owned(),
        "/devices/fleets".to_owned(),
    ] {
        let r = neo
            .post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("action", "make-user"),
                    ("username", "evil"),
                    ("role", "admin"),
                    ("key", "evil"),
                    ("name", "x"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert!(app.store.user_by_username("evil").await.unwrap().is_none());
    assert!(app.store.fleet("evil").await.unwrap().is_none());
}

#[tokio::test]
async fn permission_edits_change_what_a_users_token_may_do_and_are_audited() {
    let app = spawn_app().await;
    let (alpha, _) = app.seed_fleets().await;
    let admin = app.signed_in("root", Role::Admin).await;
    app.create_user("ops", Role::User).await;
    let id = user_id(&app, "ops").await;
    let tok = make_token(&app, None, Permissions::NONE, Some("ops"), in_days(2)).await;
    let dev = format!("/api/v2/alpha/devices/{}", alpha[0]);
    assert_eq!(
        call(&app, Method::GET, &dev, &tok, None).await.status,
        StatusCode::NOT_FOUND
    );
    let edit = format!("/settings/users/{id}");
    let panel = admin.get(&edit).await;
    assert!(
        panel.body.contains("name=\"alpha.read\"") && panel.body.contains("name=\"bravo.delete\"")
    );
    let r = admin
        .submit(
            &edit,
            &format!("{edit}/permissions"),
            &[("alpha.read", "on"), ("alpha.write", "on")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        call(&app, Method::GET, &dev, &tok, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &app,
            Method::PATCH,
            &dev,
            &tok,
            Some(serde_json::json!({"name": "renamed"}))
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, Method::DELETE, &dev, &tok, None).await.status,
        StatusCode::FORBIDDEN
    );
    let list = admin.get("/settings/users").await;
    assert!(list.body.contains("alpha (RW)"), "{}", list.body);
    // Unticking everything removes the grant.
    let r = admin
        .submit(&edit, &format!("{edit}/permissions"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        call(&app, Method::GET, &dev, &tok, None).await.status,
        StatusCode::NOT_FOUND
    );
    // Bad field names change nothing.
    let r = admin
        .submit(
            &edit,
            &format!("{edit}/permissions"),
            &[("alpha.read", "on"), ("zulu.read", "on")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = admin
        .submit(
            &edit,
            &format!("{edit}/permissions"),
            &[("alpha.own", "on")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(app.store.fleet_permissions(&id).await.unwrap().is_empty());
    let audit = audit_entries(&app, 50).await;
    let changes: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "permissions.changed" && e.target == "ops")
        .collect();
    assert_eq!(changes.len(), 2);
    assert!(
        changes
            .iter()
            .any(|e| e.detail == "alpha=read+write" && e.actor == "root")
    );
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_tokens_at_once() {
    let app = spawn_app().await;
    app.seed_fleets().await;
    let admin = app.signed_in("root", Role::Admin).await;
    let victim = app.signed_in("eve", Role::User).await;
    let id = user_id(&app, "eve").await;
    let tok = make_token(&app, None, Permissions::NONE, Some("eve"), in_days(2)).await;
    assert_eq!(victim.get("/dashboard").await.status, StatusCode::OK);
    assert_eq!(
        call(&app, Method::GET, "/api/v2/fleets", &tok, None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        user_action(&admin, &id, "disable").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        victim.get("/dashboard").await.status,
        StatusCode::SEE_OTHER,
        "session gone"
    );
    assert_eq!(
        call(&app, Method::GET, "/api/v2/fleets", &tok, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let r = app.browser().login("eve", "pw-eve-0123456789").await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "disabled users cannot sign in"
    );
    assert_eq!(
        user_action(&admin, &id, "enable").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        call(&app, Method::GET, "/api/v2/fleets", &tok, None)
            .await
            .status,
        StatusCode::OK
    );
    let audit = audit_entries(&app, 50).await;
    assert!(
        audit
            .iter()
            .any(|e| e.action == "user.disabled" && e.target == "eve")
    );
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_or_disabled() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", Role::Admin).await;
    let id = user_id(&app, "root").await;
    for action in ["make-user", "disable"] {
        let r = user_action(&admin, &id, action).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{action}");
        assert!(r.body.contains("no enabled admin"));
    }
    assert!(app.store.user(&id).await.unwrap().unwrap().is_admin());
    assert_eq!(admin.get("/dashboard").await.status, StatusCode::OK);
    // With a second admin, demoting the first works; then the second is the last one.
    app.create_user("deputy", Role::Admin).await;
    assert_eq!(
        user_action(&admin, &id, "make-user").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        admin.get("/settings/users").await.status,
        StatusCode::FORBIDDEN,
        "demotion applies at once"
    );
    let deputy = app.browser();
    deputy.login("deputy", "pw-deputy-0123456789").await;
    let deputy_id = user_id(&app, "deputy").await;
    assert_eq!(
        user_action(&deputy, &deputy_id, "disable").await.status,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn password_reset_shows_a_new_password_once_and_ends_sessions() {
    let app = spawn_app().await;
    let admin = app.signed_in("root", Role::Admin).await;
    let user = app.signed_in("kim", Role::User).await;
    let id = user_id(&app, "kim").await;
    let r = user_action(&admin, &id, "reset-password").await;
    assert_eq!(r.status, StatusCode::OK);
    let start = r.body.find("id=\"new-password\">").unwrap() + "id=\"new-password\">".len();
    let password = r.body[start..start + 20].to_owned();
    assert_eq!(user.get("/dashboard").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.browser().login("kim", "pw-kim-0123456789").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.browser().login("kim", &password).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn access_tokens_list_filters_paginates_highlights_expiring_and_never_shows_secrets() {
    let app = spawn_app().await;
    let (alpha, _) = app.seed_fleets().await;
    let admin = app.signed_in("root", Role::Admin).await;
    let mut secrets = Vec::new();
    for i in 0..55 {
        let target = if i % 2 == 0 {
            Target::Fleet("alpha".into())
        } else {
            Target::Device(alpha[0].clone())
        };
        secrets.push(
            make_token(
                &app,
                Some(target),
                Permissions::from_bits(1),
                None,
                in_days(30),
            )
            .await,
        );
    }
    secrets.push(make_token(&app, None, Permissions::NONE, Some("root"), in_days(3)).await);
    let first = admin.get("/settings/access-tokens").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body.matches("<tr").count() - 1, 50, "50 per page");
    assert!(first.body.contains("rel=\"next\""));
    let second = admin.get("/settings/access-tokens?page=1").await;
    assert_eq!(second.body.matches("<tr").count() - 1, 6);
    assert!(second.body.contains("rel=\"prev\"") && !second.body.contains("rel=\"next\""));
    for page in [&first.body, &second.body] {
        for s in &secrets {
            assert!(!page.contains(s.as_str()));
            let hash = connect_tokens::domain::token::TokenHash::of(s);
            assert!(!page.contains(hash.as_str()));
        }
    }
    let users = admin.get("/settings/access-tokens?type=user").await;
    assert_eq!(users.body.matches("<tr").count() - 1, 1);
    assert!(
        users.body.contains("class=\"expiring\"") && users.body.contains("expires within 7 days")
    );
    assert_eq!(
        admin
            .get("/settings/access-tokens?status=revoked")
            .await
            .body
            .matches("No tokens match")
            .count(),
        1
    );
    let by_text = admin
        .get(&format!("/settings/access-tokens?q={}", &alpha[0][..6]))
        .await;
    assert_eq!(by_text.body.matches("<tr").count() - 1, 27);
    assert_eq!(
        admin
            .get("/settings/access-tokens?status=bogus")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // The banner on the Account tab and the dashboard.
    for path in ["/settings/account", "/dashboard"] {
        let body = admin.get(path).await.body;
        assert!(body.contains("1 token expires within 7 days"), "{path}");
    }
}

#[tokio::test]
async fn audit_log_records_each_event_and_filters() {
    let app = spawn_app().await;
    let (alpha, _) = app.seed_fleets().await;
    let admin = app.signed_in("root", Role::Admin).await;
    app.browser().login("root", "wrong-password-123").await;
    let tok = make_token(
        &app,
        Some(Target::Fleet("alpha".into())),
        Permissions::from_bits(1),
        None,
        in_days(3),
    )
    .await;
    // A refused use (missing permission), then revocation via the console, then a refused use.
    call(
        &app,
        Method::DELETE,
        &format!("/api/v2/alpha/devices/{}", alpha[0]),
        &tok,
        None,
    )
    .await;
    let id = newest_tokens(&app.store, 1).await[0].id.clone();
    admin
        .submit(
            &format!("/settings/access-tokens/{id}/revoke"),
            &format!("/settings/access-tokens/{id}/revoke"),
            &[],
        )
        .await;
    call(&app, Method::GET, "/api/v2/fleets", &tok, None).await;
    let page = admin.get("/settings/audit").await;
    assert_eq!(page.status, StatusCode::OK);
    for action in [
        "signin.success",
        "signin.failure",
        "token.revoked",
        "token.refused",
    ] {
        assert!(page.body.contains(action), "{action}");
    }
    assert!(!page.body.contains("wrong-password-123"));
    assert!(!page.body.contains(&tok));
    let refused = admin.get("/settings/audit?action=token.refused").await.body;
    assert_eq!(refused.matches("<tr>").count() - 1, 2);
    assert!(refused.contains("missing delete permission") && refused.contains("revoked"));
    assert!(!refused.contains("signin.success"));
    let by_id = admin.get(&format!("/settings/audit?q={id}")).await.body;
    assert_eq!(by_id.matches("<tr>").count() - 1, 3);
    assert_eq!(
        admin.get("/settings/audit?action=drop").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn devices_screens_list_search_paginate_create_and_register() {
    let app = spawn_app().await;
    let (alpha, bravo) = app.seed_fleets().await;
    let admin = app.signed_in("root", Role::Admin).await;
    let list = admin.get("/devices?fleet=alpha").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(alpha.iter().all(|d| list.body.contains(d.as_str())));
    assert!(!list.body.contains(&bravo[0]));
    let found = admin
        .get("/devices?fleet=alpha&q=ALPHA-SENSOR-1")
        .await
        .body;
    assert!(found.contains("alpha-sensor-1") && !found.contains("alpha-sensor-2"));
    assert_eq!(
        admin.get(&format!("/devices/{}", alpha[0])).await.status,
        StatusCode::OK
    );
    assert_eq!(
        admin.get("/devices/d-ffff-ffff").await.status,
        StatusCode::NOT_FOUND
    );
    // Create a fleet; bad keys are refused with the rule.
    let r = admin
        .submit(
            "/devices",
            "/devices/fleets",
            &[("key", "Bad-Key"), ("name", "x")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("lowercase letters or digits"));
    let r = admin
        .submit(
            "/devices",
            "/devices/fleets",
            &[
                ("key", "charlie"),
                ("name", "Charlie"),
                ("description", "third"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = admin
        .submit(
            "/devices",
            "/devices/fleets",
            &[("key", "charlie"), ("name", "Again")],
        )
        .await;
    assert!(r.body.contains("exists already"));
    // Register devices, paginate.
    for i in 0..55 {
        let name = format!("c-{i:02}");
        let r = admin
            .submit(
                "/devices",
                "/devices/register",
                &[
                    ("fleet", "charlie"),
                    ("name", name.as_str()),
                    ("tags", "a;b"),
                    ("uuid", ""),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
    }
    let r = admin
        .submit(
            "/devices",
            "/devices/register",
            &[
                ("fleet", "charlie"),
                ("name", "dup"),
                ("uuid", alpha[0].as_str()),
            ],
        )
        .await;
    assert!(r.body.contains("exists already"));
    let r = admin
        .submit(
            "/devices",
            "/devices/register",
            &[("fleet", "charlie"), ("name", "bad"), ("tags", "a b")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page1 = admin.get("/devices?fleet=charlie").await.body;
    assert_eq!(page1.matches("<tr><td><a href=\"/devices/").count(), 50);
    let next = page1
        .split("after=")
        .nth(1)
        .expect("next link")
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let page2 = admin
        .get(&format!("/devices?fleet=charlie&after={next}"))
        .await
        .body;
    assert_eq!(page2.matches("<tr><td><a href=\"/devices/").count(), 5);
    // A non-admin sees only the fleets they may read.
    let viewer = app.signed_in("viewer", Role::User).await;
    let vid = user_id(&app, "viewer").await;
    app.store
        .set_fleet_permissions(&vid, "bravo", Permissions::from_bits(1))
        .await
        .unwrap();
    let v = viewer.get("/devices").await.body;
    assert!(v.contains(&bravo[0]) && !v.contains("Fleet alpha") && !v.contains("Create a fleet"));
    assert!(
        !viewer
            .get("/devices?fleet=alpha")
            .await
            .body
            .contains(&alpha[0])
    );
    assert_eq!(
        viewer.get(&format!("/devices/{}", alpha[0])).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        viewer.get(&format!("/devices/{}", bravo[0])).await.status,
        StatusCode::OK
    );
}
