//! Text search on the token lists is exact: whichever way the store answers (the newest tokens,
//! the trigram index — SQLite FTS5 or PostgreSQL pg_trgm — or a scan), it returns the very rows,
//! in the very order, that a plain substring test of each field gives. The reference is computed
//! here from the unfiltered list, so the SQLite run and the PostgreSQL run are held to the same
//! answer.

use connect_tokens::domain::expiry::TokenStatus;
use connect_tokens::domain::scope::{Permissions, Role, Target};
use connect_tokens::domain::token::TokenKind;
use connect_tokens::store::token_search::NEWEST_WINDOW;
use connect_tokens::store::tokens::{TokenFilter, TokenRecord};

use crate::helpers::{TestApp, make_token_with, spawn_app};

/// A token described `description` made at `at` (one with "expired" in its description has
/// expired a second later; the others live 30 days).
async fn insert(
    app: &TestApp,
    description: &str,
    user: Option<&str>,
    target: Option<Target>,
    at: i64,
) {
    let expires_at = if description.contains("expired") {
        at + 1
    } else {
        at + 86_400 * 30
    };
    let perms = Permissions::from_bits(1);
    make_token_with(app, target, perms, user, expires_at, description, at).await;
}

/// What a substring test of each field says, in the list's order.
fn reference(all: &[TokenRecord], needle: &str, filter: &TokenFilter) -> Vec<String> {
    let needle = needle.to_lowercase();
    all.iter()
        .filter(|t| filter.kind.is_none_or(|k| t.kind == k))
        .filter(|t| filter.status.is_none_or(|s| t.status(filter.now) == s))
        .filter(|t| {
            let target = match &t.target {
                Some(Target::Fleet(f)) | Some(Target::Device(f)) => f.as_str(),
                None => "",
            };
            let user = t.user.as_ref().map_or("", |(_, name)| name.as_str());
            [t.description.as_str(), &t.id, &t.hint, target, user]
                .iter()
                .any(|field| field.to_lowercase().contains(&needle))
        })
        .map(|t| t.id.clone())
        .collect()
}

#[tokio::test]
async fn every_way_of_searching_returns_what_a_substring_scan_returns() {
    let app = spawn_app().await;
    let (alpha, _) = app.seed_fleets().await;
    app.create_user("Alice_Ops", Role::Admin).await;
    app.create_user("bob.smith", Role::User).await;
    let t0 = connect_tokens::domain::now() - 100_000;
    let descriptions = [
        "CI deploy – Ünïcode ÄÖÜ",
        "percent 100% done",
        "under_score and more",
        r"back\slash",
        "quote \"x\" here",
        "Grüße aus Köln",
        "日本語のトークン",
        "ab",
        "x",
        "MiXeD CaSe deploy",
        "deploy-prod-eu expired",
        "deploy-prod-us",
        "İstanbul office",
        "ſtrange long s",
        "Quarterly maintenance window for the north site",
    ];
    for (i, d) in descriptions.iter().enumerate() {
        let at = t0 + i as i64 * 10;
        match i % 3 {
            0 => insert(&app, d, Some("Alice_Ops"), None, at).await,
            1 => insert(&app, d, None, Some(Target::Fleet("alpha".into())), at).await,
            _ => insert(&app, d, Some("bob.smith"), None, at).await,
        }
        // Two tokens in one second: the Token ID breaks the tie.
        if i == 4 {
            insert(
                &app,
                "same second",
                None,
                Some(Target::Device(alpha[0].clone())),
                at,
            )
            .await;
            insert(
                &app,
                "same second",
                None,
                Some(Target::Device(alpha[1].clone())),
                at,
            )
            .await;
        }
    }
    // Newer tokens than all of those, more than the window the store reads first, so the
    // searches above are answered through the index (or a scan), not the window.
    for i in 0..(NEWEST_WINDOW + 60) {
        insert(
            &app,
            &format!("filler {i}"),
            None,
            Some(Target::Fleet("bravo".into())),
            t0 + 1_000 + i,
        )
        .await;
    }
    let now = connect_tokens::domain::now();
    let all = app
        .store
        .find_tokens(
            &TokenFilter {
                now,
                ..TokenFilter::default()
            },
            0,
            10_000,
        )
        .await
        .unwrap();
    assert_eq!(all.len() as i64, 17 + NEWEST_WINDOW + 60);
    let oldest = all.last().unwrap();
    let needles = [
        "deploy".to_owned(),
        "DEPLOY".into(),
        "prod-eu".into(),
        "100%".into(),
        "%".into(),
        "_".into(),
        "under_".into(),
        r"\".into(),
        r"k\s".into(),
        "\"x\"".into(),
        "ünï".into(),
        "ÜNÏ".into(),
        "köln".into(),
        "トーク".into(),
        "ab".into(),
        "x".into(),
        "a".into(),
        "alice".into(),
        "ALICE_ops".into(),
        "bob.".into(),
        "istanbul".into(),
        "strange".into(),
        "same second".into(),
        "quarterly maintenance window for the north".into(),
        "MAINTENANCE window for the north site".into(),
        "maintenance window for the south site".into(),
        oldest.id[..8].to_owned(),
        oldest.id.to_uppercase(),
        oldest.hint[oldest.hint.len() - 4..].to_owned(),
        alpha[0].clone(),
        "alpha".into(),
        "filler 10".into(),
        "filler".into(),
        "zzzz".into(),
        "ops\nalpha".into(),
    ];
    let filters = [
        TokenFilter {
            now,
            ..TokenFilter::default()
        },
        TokenFilter {
            now,
            status: Some(TokenStatus::Active),
            ..TokenFilter::default()
        },
        TokenFilter {
            now,
            status: Some(TokenStatus::Expired),
            ..TokenFilter::default()
        },
        TokenFilter {
            now,
            kind: Some(TokenKind::User),
            ..TokenFilter::default()
        },
    ];
    for needle in &needles {
        for base in &filters {
            let filter = TokenFilter {
                text: needle.clone(),
                ..base.clone()
            };
            let expected = reference(&all, needle, &filter);
            for (offset, limit) in [(0, 51), (0, 10_000), (3, 5), (1_000, 51)] {
                let got: Vec<String> = app
                    .store
                    .find_tokens(&filter, offset, limit)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|t| t.id)
                    .collect();
                let want: Vec<String> = expected
                    .iter()
                    .skip(offset as usize)
                    .take(limit as usize)
                    .cloned()
                    .collect();
                assert_eq!(
                    got, want,
                    "{needle:?} {:?} {:?} at {offset}+{limit}",
                    base.status, base.kind
                );
            }
        }
    }
}

/// The Audit Log's filters: every combination of event group and text, page by page through the
/// `before` cursor, returns what filtering the whole log here returns — each entry once.
#[tokio::test]
async fn audit_filters_return_what_filtering_the_whole_log_returns() {
    use connect_tokens::domain::audit::{AuditAction, AuditEvent, AuditGroup};
    let app = spawn_app().await;
    let actors = ["Alice", "bob", "cli", "token 6f1c"];
    let targets = ["alpha", "ALICE", "d-0001-0002", ""];
    let mut token_ids = vec![None];
    for i in 0..3 {
        token_ids.push(Some(format!("6f1c{i:04}-aaaa-bbbb-cccc-000000000000")));
    }
    let t = connect_tokens::domain::now();
    for i in 0..400usize {
        let action = AuditAction::ALL[i * 7 % AuditAction::ALL.len()];
        let mut e = AuditEvent::new(action, actors[i % 4], "10.0.0.1").target(targets[i / 3 % 4]);
        if let Some(id) = &token_ids[i / 5 % 4] {
            e = e.token(id);
        }
        app.store.audit(&e, t + i as i64).await.unwrap();
    }
    let all = app
        .store
        .find_audit(&[], "", i64::MAX, 10_000)
        .await
        .unwrap();
    assert_eq!(all.len(), 400);
    let texts = [
        "",
        "alice",
        "ALICE",
        "Bob",
        "alpha",
        "d-0001-0002",
        "6F1C0001-AAAA-BBBB-CCCC-000000000000",
        "ali",
        "nobody",
    ];
    let mut groups: Vec<Option<AuditGroup>> = vec![None];
    groups.extend(AuditGroup::ALL.into_iter().map(Some));
    for text in texts {
        for group in &groups {
            let actions = group.map(AuditGroup::actions).unwrap_or_default();
            let lower = text.to_lowercase();
            let want: Vec<i64> = all
                .iter()
                .filter(|e| actions.is_empty() || actions.iter().any(|a| a.as_str() == e.action))
                .filter(|e| {
                    text.is_empty()
                        || e.actor.to_lowercase() == lower
                        || e.target.to_lowercase() == lower
                        || e.token_id.as_deref() == Some(lower.as_str())
                })
                .map(|e| e.id)
                .collect();
            let mut got = Vec::new();
            let mut before = i64::MAX;
            loop {
                let page = app
                    .store
                    .find_audit(&actions, text, before, 7)
                    .await
                    .unwrap();
                got.extend(page.iter().map(|e| e.id));
                match page.last() {
                    Some(last) if page.len() == 7 => before = last.id,
                    _ => break,
                }
            }
            assert_eq!(got, want, "{text:?} {group:?}");
        }
    }
}
