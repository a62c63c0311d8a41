//! The dashboard's pictures and a token's requests in Chromium: drawn, named for screen readers,
//! their numbers one click away, no horizontal scrolling at 1280×800, axe-core clean, legible
//! in print (dark on white); screenshots.

use connect_tokens::domain::scope::Target;
use connect_tokens::domain::usage::day_of;
use connect_tokens::store::usage::UseCount;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Chrome, chrome};
use crate::helpers::{TestApp, admin_app_with_password, call, in_days, make_token_with, perms};

impl Chrome {
    /// Switches the page's CSS media to `media` (`print` or `screen`) through chromedriver's
    /// DevTools endpoint.
    async fn emulate_media(&self, media: &str) {
        let id = self.client.session_id().await.unwrap().unwrap();
        let r = crate::helpers::http_client()
            .post(format!("{}/session/{id}/goog/cdp/execute", self.driver_url))
            .json(&json!({"cmd": "Emulation.setEmulatedMedia", "params": {"media": media}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
}

/// Three tokens with a month of history: the days before today as stored counts (what earlier
/// flushes would have written), today's from real API calls. Returns the busiest's Token ID.
async fn a_month_of_use(app: &TestApp) -> String {
    let now = connect_tokens::domain::now();
    let today = day_of(now);
    let mut ids = Vec::new();
    for (description, days) in [
        ("inventory sync", 30),
        ("nightly backup", 12),
        ("kiosk monitor", 90),
    ] {
        let token = make_token_with(
            app,
            Some(Target::Fleet("alpha".into())),
            perms(1),
            None,
            in_days(days),
            description,
            now,
        )
        .await;
        for _ in 0..3 {
            call(app, Method::GET, "/api/v2/alpha/devices", &token, None).await;
        }
        call(app, Method::GET, "/api/v2/bravo/devices", &token, None).await;
        ids.push(app.token_id_of(&token).await);
    }
    let mut history = Vec::new();
    for back in 1..30i64 {
        for (i, id) in ids.iter().enumerate() {
            let weight = 3 - i as i64;
            history.push(UseCount {
                token_id: id.clone(),
                day: today - back,
                reason: "",
                uses: weight * (200 + (back * 37) % 150),
            });
            if back % 6 == i as i64 {
                history.push(UseCount {
                    token_id: id.clone(),
                    day: today - back,
                    reason: "missing write permission",
                    uses: 20 + back,
                });
            }
        }
    }
    app.store.write_usage(&[], &history).await.unwrap();
    app.flush_usage().await;
    ids.swap_remove(0)
}

/// The charts on the page: their accessible names and how many shapes each draws.
async fn charts(c: &Chrome) -> Value {
    c.js(
        "return [...document.querySelectorAll('svg.chart[role=img]')].map(s => ({
            name: document.getElementById(s.getAttribute('aria-labelledby')).textContent + ' | ' + document.getElementById(s.getAttribute('aria-describedby')).textContent,
            shapes: s.querySelectorAll('rect').length,
            width: s.getBoundingClientRect().width }))",
    )
    .await
}

#[tokio::test]
#[ignore = "browser: needs chromium and chromedriver; scripts/test-all.sh runs it"]
async fn the_dashboard_and_a_token_show_their_pictures_accessibly_on_screen_and_paper() {
    let (app, password, _) = admin_app_with_password().await;
    let busiest = a_month_of_use(&app).await;
    let c = chrome(true).await;
    c.sign_in(&app, "admin", &password).await;

    c.goto(&app, "/dashboard").await;
    c.find("svg.chart").await;
    c.settle().await;
    let seen = charts(&c).await;
    let seen = seen.as_array().unwrap();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen[0]["name"]
            .as_str()
            .unwrap()
            .starts_with("API requests per day, last 30 days, all tokens | ")
    );
    assert!(
        seen[1]["name"]
            .as_str()
            .unwrap()
            .contains("active tokens expire in the next 12 weeks")
    );
    assert!(
        seen[2]["name"]
            .as_str()
            .unwrap()
            .contains("the busiest, inventory sync")
    );
    for chart in seen {
        assert!(chart["shapes"].as_u64().unwrap() >= 3, "{chart}");
        assert!(chart["width"].as_f64().unwrap() > 300.0, "{chart}");
    }
    c.no_horizontal_scrolling("1280×800").await;
    c.axe("dashboard with pictures").await;
    c.screenshot("dashboard").await;
    // The numbers behind the first chart, one click away.
    c.find("#requests-chart-caption ~ details summary")
        .await
        .click()
        .await
        .unwrap();
    let rows = c
        .js("return document.querySelectorAll('#requests-chart-caption ~ details tbody tr').length")
        .await;
    assert_eq!(rows, json!(30));
    c.axe("dashboard with a table open").await;
    c.js("document.querySelector('.insight').scrollIntoView()")
        .await;
    c.screenshot("dashboard-pictures").await;

    // On paper: dark text on white, the bars in the darker colours.
    c.emulate_media("print").await;
    let paper = c
        .js(
            "const card = getComputedStyle(document.querySelector('.chart-card'));
             const bar = getComputedStyle(document.querySelector('svg.chart rect.allowed'));
             const text = getComputedStyle(document.querySelector('svg.chart text.axis'));
             return [card.backgroundColor, bar.fill, text.fill]",
        )
        .await;
    assert_eq!(
        paper,
        json!(["rgb(255, 255, 255)", "rgb(31, 95, 191)", "rgb(0, 0, 0)"])
    );
    c.screenshot("dashboard-print").await;
    c.emulate_media("screen").await;
    let screen = c
        .js("return getComputedStyle(document.querySelector('.chart-card')).backgroundColor")
        .await;
    assert_eq!(screen, json!("rgb(24, 33, 45)"), "the sidebar's dark");

    c.goto(&app, &format!("/settings/access-tokens/{busiest}"))
        .await;
    c.find("#token-requests-caption").await;
    c.settle().await;
    let seen = charts(&c).await;
    assert_eq!(seen.as_array().unwrap().len(), 1);
    assert!(
        seen[0]["name"]
            .as_str()
            .unwrap()
            .contains("refused in the last 30 days")
    );
    c.js("document.querySelector('.insight').scrollIntoView()")
        .await;
    c.axe("token detail with its requests").await;
    c.screenshot("token-usage").await;
}

/// Three tokens made 100 days ago and never used, one made today; returns the old ones' IDs.
async fn stale_tokens(app: &TestApp) -> Vec<String> {
    let now = connect_tokens::domain::now();
    let mut old = Vec::new();
    for (description, age) in [
        ("legacy exporter", 100),
        ("old kiosk", 100),
        ("test bench", 100),
        ("new sync", 0),
    ] {
        let token = make_token_with(
            app,
            Some(Target::Fleet("alpha".into())),
            perms(1),
            None,
            in_days(200),
            description,
            now - age * 86_400,
        )
        .await;
        if age > 0 {
            old.push(app.token_id_of(&token).await);
        }
    }
    old
}

#[tokio::test]
#[ignore = "browser: needs chromium and chromedriver; scripts/test-all.sh runs it"]
async fn sweep_stale_tokens_with_and_without_javascript() {
    for javascript in [true, false] {
        let (app, password, _) = admin_app_with_password().await;
        let old = stale_tokens(&app).await;
        let c = chrome(javascript).await;
        c.sign_in(&app, "admin", &password).await;
        c.goto(&app, "/settings/access-tokens").await;
        c.find("#f-unused")
            .await
            .select_by_value("90")
            .await
            .unwrap();
        c.find("form.filters button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
        c.find("#bulk").await;
        c.settle().await;
        let shown = c
            .js("return document.querySelectorAll('input[type=checkbox][form=bulk]').length")
            .await;
        assert_eq!(shown, json!(3), "the three unused for 90 days");
        if javascript {
            assert_eq!(
                c.js("return document.getElementById('revoke-selected').disabled")
                    .await,
                json!(true),
                "nothing selected yet"
            );
            c.find("#select-all").await.click().await.unwrap();
            c.find(&format!("#select-{}", old[2]))
                .await
                .click()
                .await
                .unwrap();
            let label = c.find("#revoke-selected").await.text().await.unwrap();
            assert_eq!(label, "Revoke 2 selected…");
            c.no_horizontal_scrolling("1280×800, the list with its new column")
                .await;
            c.axe("access tokens, stale, selected").await;
            c.screenshot("access-tokens-stale").await;
        } else {
            for id in &old[..2] {
                c.find(&format!("#select-{id}"))
                    .await
                    .click()
                    .await
                    .unwrap();
            }
        }
        c.find("#revoke-selected").await.click().await.unwrap();
        c.find("#confirm-revoke-selected").await;
        let page = c.source().await;
        assert!(page.contains("Revoke 2 tokens?"), "{page}");
        assert!(page.contains("legacy exporter") && page.contains("old kiosk"));
        assert!(!page.contains("test bench"));
        if javascript {
            c.axe("revoke selected confirmation").await;
            c.screenshot("revoke-selected").await;
        }
        c.find("#confirm-revoke-selected")
            .await
            .click()
            .await
            .unwrap();
        c.find(".notice").await;
        assert!(c.source().await.contains("Revoked 2 tokens."));
        for (id, status) in [
            (&old[0], "revoked"),
            (&old[1], "revoked"),
            (&old[2], "active"),
        ] {
            let t = app.store.token(id).await.unwrap().unwrap();
            let now = connect_tokens::domain::now();
            assert_eq!(t.status(now).as_str(), status, "{id}");
        }
    }
}
