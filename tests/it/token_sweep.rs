//! Sweeping stale tokens from the Access Tokens list (PRODUCT.md §14): the *Unused for* filters
//! and **Revoke selected…** (a confirmation page, then one transaction, each revocation audited
//! and refused by the API at once). The filters with the server's clock moved are in
//! `clock.rs`.

use connect_tokens::domain::scope::{Role, Target};
use connect_tokens::domain::usage::DAY_SECS;
use reqwest::{Method, StatusCode};

use crate::helpers::{
    Browser, TestApp, audit_entries, call, hidden, in_days, make_token_with, perms, spawn_app,
};

/// A device token on fleet alpha described `description`, created `age` days ago.
async fn token_aged(app: &TestApp, description: &str, age: i64) -> (String, String) {
    let now = connect_tokens::domain::now();
    let token = make_token_with(
        app,
        Some(Target::Fleet("alpha".into())),
        perms(1),
        None,
        in_days(400),
        description,
        now - age * DAY_SECS,
    )
    .await;
    let id = app.token_id_of(&token).await;
    (token, id)
}

/// The Token IDs the list shows with `query`.
async fn listed(admin: &Browser, query: &str) -> String {
    let r = admin.get(&format!("/settings/access-tokens?{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
    r.body
}

#[tokio::test]
async fn unused_filters_select_tokens_by_their_last_use_or_else_their_creation() {
    let app = spawn_app().await;
    app.seed_fleets().await;
    let admin = app.signed_in("root", Role::Admin).await;
    let (_, fresh) = token_aged(&app, "made today", 0).await;
    let (_, month) = token_aged(&app, "made 40 days ago", 40).await;
    let (_, old) = token_aged(&app, "made 200 days ago", 200).await;
    let (used, used_id) = token_aged(&app, "made 200 days ago, used now", 200).await;
    let r = call(&app, Method::GET, "/api/v2/alpha/devices", &used, None).await;
    assert_eq!(r.status, StatusCode::OK);
    app.flush_usage().await;

    for (unused, shown, hidden_ids) in [
        ("30", vec![&month, &old], vec![&fresh, &used_id]),
        ("90", vec![&old], vec![&fresh, &month, &used_id]),
        ("180", vec![&old], vec![&fresh, &month, &used_id]),
        ("", vec![&fresh, &month, &old, &used_id], vec![]),
    ] {
        let page = listed(&admin, &format!("unused={unused}")).await;
        for id in shown {
            assert!(page.contains(id.as_str()), "unused={unused} shows {id}");
        }
        for id in hidden_ids {
            assert!(!page.contains(id.as_str()), "unused={unused} hides {id}");
        }
    }
    let page = listed(&admin, "unused=90").await;
    assert!(page.contains("<option value=\"90\" selected>90 days</option>"));
    // Combined with the other filters, and kept by the pager's links and the export's.
    let page = listed(&admin, "unused=30&status=active&q=200").await;
    assert!(page.contains(old.as_str()) && !page.contains(month.as_str()));
    assert!(page.contains("export.csv?status=active&#38;type=&#38;q=200&#38;unused=30"));
    for bad in ["unused=7", "unused=abc", "unused=-30"] {
        let r = admin.get(&format!("/settings/access-tokens?{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.body.contains("Unused for 30, 90 or 180 days only."));
    }
}

#[tokio::test]
async fn revoke_selected_asks_first_then_revokes_them_together_each_audited() {
    let app = spawn_app().await;
    app.seed_fleets().await;
    let admin = app.signed_in("root", Role::Admin).await;
    let (a, a_id) = token_aged(&app, "old sync", 100).await;
    let (b, b_id) = token_aged(&app, "old report", 120).await;
    let (keep, keep_id) = token_aged(&app, "still needed", 100).await;
    let (_, gone_id) = token_aged(&app, "revoked before", 100).await;
    app.store
        .revoke_token(&gone_id, connect_tokens::domain::now())
        .await
        .unwrap();

    // The list: a checkbox for each active row, in the bulk form.
    let page = listed(&admin, "unused=90").await;
    assert!(page.contains(&format!(
        "<input type=\"checkbox\" name=\"id\" value=\"{a_id}\" form=\"bulk\""
    )));
    assert!(!page.contains(&format!("value=\"{gone_id}\" form=\"bulk\"")));
    assert!(page.contains(
        "<form id=\"bulk\" method=\"get\" action=\"/settings/access-tokens/revoke-selected\""
    ));

    // The confirmation page lists them and changes nothing.
    let ask = format!("/settings/access-tokens/revoke-selected?id={a_id}&id={b_id}&id={gone_id}");
    let confirm = admin.get(&ask).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("Revoke 2 tokens?"));
    assert!(confirm.body.contains("old sync") && confirm.body.contains("old report"));
    assert!(confirm.body.contains(&format!(
        "<span class=\"mono small\">{gone_id}</span> (revoked)"
    )));
    assert!(!confirm.body.contains("still needed"));
    assert_eq!(
        call(&app, Method::GET, "/api/v2/alpha/devices", &a, None)
            .await
            .status,
        StatusCode::OK,
        "nothing revoked by asking"
    );

    // Refused, changing nothing: no CSRF token; nothing selected; an unknown or malformed ID.
    let csrf = hidden(&confirm.body, "csrf");
    let no_csrf = admin
        .post(
            "/settings/access-tokens/revoke-selected",
            &[("id", a_id.as_str())],
        )
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let cases: [(&[(&str, &str)], StatusCode); 3] = [
        (&[], StatusCode::BAD_REQUEST),
        (
            &[("id", "00000000-0000-4000-8000-000000000000")],
            StatusCode::NOT_FOUND,
        ),
        (&[("id", "not-a-token")], StatusCode::BAD_REQUEST),
    ];
    for (ids, status) in cases {
        let mut form = vec![("csrf", csrf.as_str()), ("id", a_id.as_str())];
        if ids.is_empty() {
            form.pop();
        }
        form.extend_from_slice(ids);
        let r = admin
            .post("/settings/access-tokens/revoke-selected", &form)
            .await;
        assert_eq!(r.status, status, "{ids:?}: {}", r.body);
    }
    assert_eq!(
        call(&app, Method::GET, "/api/v2/alpha/devices", &a, None)
            .await
            .status,
        StatusCode::OK,
        "a refused request revokes nothing, not even the valid IDs in it"
    );
    let before = audit_entries(&app, 100).await.len();

    // Confirmed: both revoked, each with its audit entry; the list says so.
    let done = admin
        .post(
            "/settings/access-tokens/revoke-selected",
            &[
                ("csrf", csrf.as_str()),
                ("id", a_id.as_str()),
                ("id", b_id.as_str()),
                ("id", gone_id.as_str()),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/settings/access-tokens?revoked=2");
    assert!(
        admin
            .get(done.location())
            .await
            .body
            .contains("Revoked 2 tokens.")
    );
    let entries = audit_entries(&app, 100).await;
    assert_eq!(entries.len(), before + 2, "one entry per token revoked");
    let mut revoked: Vec<&str> = entries[..2]
        .iter()
        .map(|e| {
            assert_eq!(e.action, "token.revoked");
            assert_eq!(e.actor, "root");
            assert_eq!(e.detail, "via console, with others selected");
            e.token_id.as_deref().unwrap()
        })
        .collect();
    revoked.sort_unstable();
    let mut want = [a_id.as_str(), b_id.as_str()];
    want.sort_unstable();
    assert_eq!(revoked, want);
    assert!(!entries.iter().any(|e| e.token_id.as_deref() == Some(keep_id.as_str())
        && e.action == "token.revoked"));

    for (token, status) in [
        (&a, StatusCode::UNAUTHORIZED),
        (&b, StatusCode::UNAUTHORIZED),
        (&keep, StatusCode::OK),
    ] {
        let r = call(&app, Method::GET, "/api/v2/alpha/devices", token, None).await;
        assert_eq!(r.status, status);
    }
    // Sent again (a reload): nothing more to revoke.
    let again = admin
        .post(
            "/settings/access-tokens/revoke-selected",
            &[("csrf", csrf.as_str()), ("id", a_id.as_str())],
        )
        .await;
    assert_eq!(again.location(), "/settings/access-tokens?revoked=0");
    let revocations = |entries: Vec<connect_tokens::store::audit::AuditEntry>| {
        entries
            .iter()
            .filter(|e| e.action == "token.revoked")
            .count()
    };
    assert_eq!(
        revocations(audit_entries(&app, 100).await),
        2,
        "a and b, once each"
    );

    // Admins only.
    let mia = app.signed_in("mia", Role::User).await;
    assert_eq!(mia.get(&ask).await.status, StatusCode::FORBIDDEN);
}
