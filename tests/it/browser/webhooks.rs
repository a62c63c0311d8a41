//! The Webhooks tab in Chromium: add an endpoint (its secret shown once, copied with the
//! button), send a test event to a real receiver, see it in the deliveries list, redeliver;
//! without JavaScript too; axe-core and screenshots.

use std::time::Duration;

use connect_tokens::domain::scope::Role;

use super::{Chrome, chrome};
use crate::helpers::{TestApp, spawn_app_with};
use crate::webhooks::receiver::{Answer, Receiver, verifies};
use crate::webhooks::{ALL_EVENTS, hook_config};

impl Chrome {
    /// Waits until the page's text contains `text` (reloading, as an admin would).
    async fn reload_until(&self, app: &TestApp, path: &str, text: &str) {
        for _ in 0..60 {
            if self.source().await.contains(text) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            self.goto(app, path).await;
        }
        panic!("{text} never on {path}: {}", self.source().await);
    }
}

async fn add_endpoint_in_browser(c: &Chrome, app: &TestApp, url: &str) -> String {
    c.goto(app, "/settings/webhooks").await;
    c.find("#nw-url").await.send_keys(url).await.unwrap();
    c.find("#nw-description")
        .await
        .send_keys("Ops chat")
        .await
        .unwrap();
    // Every event is ticked for a new endpoint; leave refusals out.
    c.find("input[name=events][value='token.refused']")
        .await
        .click()
        .await
        .unwrap();
    c.find("#new-webhook button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let secret = c
        .find("#token-value")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    secret
}

#[tokio::test]
#[ignore = "browser: needs chromium and chromedriver; scripts/test-all.sh runs it"]
async fn add_an_endpoint_see_its_secret_once_and_watch_a_test_event_arrive() {
    let rx = Receiver::start().await;
    rx.plan(&[Answer::Status(503)]);
    let app = spawn_app_with(hook_config()).await;
    app.seed_fleets().await;
    let password = app.create_user("admin", Role::Admin).await;
    let c = chrome(true).await;
    c.sign_in(&app, "admin", &password).await;
    c.goto(&app, "/settings/webhooks").await;
    c.axe("webhooks").await;
    let secret = add_endpoint_in_browser(&c, &app, &rx.url()).await;
    c.axe("webhook secret").await;
    c.screenshot("webhook-secret").await;
    // The copy button (JavaScript) puts it on the clipboard.
    c.grant_clipboard().await;
    c.find("#copy-token").await.click().await.unwrap();
    c.find("#copy-status").await;
    let copied = c
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1]; navigator.clipboard.readText().then(done, e => done(String(e)));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(copied.as_str(), Some(secret.as_str()));
    c.find("#secret-done").await.click().await.unwrap();
    let page = c.client.current_url().await.unwrap().path().to_owned();
    assert!(page.starts_with("/settings/webhooks/"), "{page}");
    assert!(!c.source().await.contains(&secret), "shown once");
    // Back to the secret page: the browser does not show it again.
    c.client.back().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!c.source().await.contains(&secret));
    c.goto(&app, &page).await;
    let events: Vec<String> = {
        let mut v = vec![];
        for e in ALL_EVENTS {
            let sel = format!("input[name=events][value='{e}']");
            if c.find(&sel).await.prop("checked").await.unwrap().as_deref() == Some("true") {
                v.push(e.to_owned());
            }
        }
        v
    };
    assert_eq!(events.len(), 4, "{events:?}");

    // Send test event: the receiver answers 503 once, then 200.
    c.find("#send-test").await.click().await.unwrap();
    c.find("p.notice").await;
    let got = rx.wait_for(2, 20).await;
    assert_eq!(got.len(), 2);
    assert!(
        got.iter()
            .all(|g| verifies(&secret, g) && g.id() == got[0].id())
    );
    c.reload_until(&app, &page, "status-delivered").await;
    let row = c.find("#deliveries tbody tr").await.text().await.unwrap();
    assert!(
        row.contains("webhook.test") && row.contains("delivered"),
        "{row}"
    );
    assert!(row.contains('2'), "two attempts: {row}");
    c.axe("webhook endpoint").await;
    c.screenshot("webhook").await;
    // Redeliver.
    c.find("#deliveries button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    c.find("p.notice").await;
    assert_eq!(rx.wait_for(3, 10).await[2].id(), got[0].id());
    c.goto(&app, "/settings/webhooks").await;
    c.screenshot("webhooks").await;
}

#[tokio::test]
#[ignore = "browser: needs chromium and chromedriver; scripts/test-all.sh runs it"]
async fn the_webhooks_tab_works_without_javascript() {
    let rx = Receiver::start().await;
    let app = spawn_app_with(hook_config()).await;
    let password = app.create_user("admin", Role::Admin).await;
    let c = chrome(false).await;
    c.sign_in(&app, "admin", &password).await;
    let secret = add_endpoint_in_browser(&c, &app, &rx.url()).await;
    // No copy button without JavaScript; the secret can be selected.
    assert!(!c.find("#copy-token").await.is_displayed().await.unwrap());
    c.find("#secret-done").await.click().await.unwrap();
    c.find("#send-test").await.click().await.unwrap();
    c.find("p.notice").await;
    let got = rx.wait_for(1, 10).await;
    assert!(verifies(&secret, &got[0]));
    let page = c.client.current_url().await.unwrap().path().to_owned();
    c.reload_until(&app, &page, "status-delivered").await;
    // Rotate the secret, then delete the endpoint (asks first).
    c.find("#rotate-secret").await.click().await.unwrap();
    let new = c
        .find("#token-value")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(new.starts_with("whsec_") && new != secret);
    c.goto(&app, &format!("{page}/delete")).await;
    c.find("#confirm-delete").await.click().await.unwrap();
    c.find("#webhook-endpoints").await;
    assert!(c.source().await.contains("No endpoints yet"));
}
