//! The Security tab in Chromium: a passkey added with the browser's virtual authenticator, then
//! used as the second step and alone; the authenticator app set up and used without JavaScript,
//! by keyboard; axe-core and screenshots of the new screens.

use std::time::Duration;

use connect_tokens::auth::totp::code_at;
use connect_tokens::domain::now;
use fantoccini::key::Key;
use serde_json::{Value, json};

use super::{Chrome, chrome};
use crate::helpers::{TestApp, admin_app_with_password, audit_entries};

impl Chrome {
    /// `path` on `http://localhost:<port>`: browsers offer passkeys only to a named host.
    async fn goto_localhost(&self, app: &TestApp, path: &str) {
        let url = format!("http://localhost:{}{path}", app.addr.port());
        self.client.goto(&url).await.unwrap();
    }

    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    /// Waits until the page's path is `path`.
    async fn wait_for_path(&self, path: &str) {
        for _ in 0..100 {
            if self.path().await == path {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "never reached {path}; at {}: {}",
            self.path().await,
            self.source().await
        );
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.find(css).await.send_keys(text).await.unwrap();
    }

    async fn password_step(&self, app: &TestApp, username: &str, password: &str) {
        self.goto_localhost(app, "/login").await;
        self.type_into("#username", username).await;
        self.type_into("#password", password).await;
        self.find("form[action='/login'] button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
    }

    async fn sign_out(&self) {
        self.find(".sidebar form[action='/logout'] button")
            .await
            .click()
            .await
            .unwrap();
        self.wait_for_path("/login").await;
    }

    /// A WebDriver WebAuthn extension command on this session.
    async fn webauthn(&self, method: reqwest::Method, tail: &str, body: Option<Value>) -> Value {
        let url = format!(
            "{}/session/{}/webauthn/{tail}",
            self.driver_url, self.session
        );
        let mut req = crate::helpers::http_client().request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{tail}: {v}");
        v["value"].clone()
    }
}

#[tokio::test]
#[ignore = "browser: needs chromium and chromedriver; scripts/test-all.sh runs it"]
async fn add_a_passkey_then_sign_in_with_password_and_passkey_and_with_the_passkey_alone() {
    let (app, password, _) = admin_app_with_password().await;
    let c = chrome(true).await;
    c.password_step(&app, "admin", &password).await;
    c.wait_for_path("/dashboard").await;
    let authenticator = c
        .webauthn(
            reqwest::Method::POST,
            "authenticator",
            Some(json!({
                "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
                "hasUserVerification": true, "isUserVerified": true,
                "automaticPresenceSimulation": true,
            })),
        )
        .await;
    let authenticator = authenticator.as_str().unwrap().to_owned();

    c.goto_localhost(&app, "/settings/security").await;
    c.find("#add-passkey:enabled").await;
    c.axe("security tab").await;
    c.screenshot("security").await;
    c.type_into("#passkey-name", "Test laptop").await;
    c.find("#add-passkey").await.click().await.unwrap();
    // The first second factor: recovery codes are made and shown once.
    c.find("#recovery-codes").await;
    let codes = c
        .js("return document.querySelectorAll('#recovery-codes li').length")
        .await;
    assert_eq!(codes, json!(10));
    c.axe("recovery codes").await;
    c.screenshot("recovery-codes").await;
    let creds = c
        .webauthn(
            reqwest::Method::GET,
            &format!("authenticator/{authenticator}/credentials"),
            None,
        )
        .await;
    let creds = creds.as_array().unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(
        creds[0]["isResidentCredential"],
        json!(true),
        "discoverable"
    );
    assert_eq!(creds[0]["rpId"], json!("localhost"));
    c.goto_localhost(&app, "/settings/security").await;
    assert!(c.source().await.contains("Test laptop"));

    // Password, then the passkey as the second step.
    c.sign_out().await;
    c.password_step(&app, "admin", &password).await;
    c.wait_for_path("/login/two-factor").await;
    c.find("#passkey-second-step:not([hidden])").await;
    c.axe("second step").await;
    c.screenshot("two-factor").await;
    c.find("#passkey-second-step").await.click().await.unwrap();
    c.wait_for_path("/dashboard").await;

    // The passkey alone.
    c.sign_out().await;
    c.goto_localhost(&app, "/login").await;
    c.find("#passkey-sign-in:not([hidden])")
        .await
        .click()
        .await
        .unwrap();
    c.wait_for_path("/dashboard").await;
    c.find("nav.sidebar").await;

    let log = audit_entries(&app, 20).await;
    let signins: Vec<&str> = log
        .iter()
        .filter(|e| e.action == "signin.success")
        .map(|e| e.detail.as_str())
        .collect();
    assert_eq!(
        &signins[..2],
        [
            "with passkey \u{201c}Test laptop\u{201d}, no password",
            "with passkey \u{201c}Test laptop\u{201d}"
        ]
    );
    assert!(log.iter().any(|e| e.action == "two_factor.passkey_added"));

    // The authenticator set-up page (axe needs JavaScript; the no-JavaScript test uses it).
    c.goto_localhost(&app, "/settings/security").await;
    c.find("form[action='/settings/security/totp/setup'] button")
        .await
        .click()
        .await
        .unwrap();
    c.find(".qr-frame svg").await;
    c.axe("authenticator set-up").await;

    // Removed, it signs in no more.
    c.goto_localhost(&app, "/settings/security").await;
    c.find("button[aria-label='Remove passkey Test laptop']")
        .await
        .click()
        .await
        .unwrap();
    c.find(".notice").await;
    c.sign_out().await;
    c.goto_localhost(&app, "/login").await;
    c.find("#passkey-sign-in:not([hidden])")
        .await
        .click()
        .await
        .unwrap();
    c.find("#passkey-error:not([hidden])").await;
    assert_eq!(c.path().await, "/login");
    c.webauthn(
        reqwest::Method::DELETE,
        &format!("authenticator/{authenticator}"),
        None,
    )
    .await;
}

#[tokio::test]
#[ignore = "browser: needs chromium and chromedriver; scripts/test-all.sh runs it"]
async fn an_authenticator_app_is_set_up_and_used_without_javascript_by_keyboard() {
    let (app, password, _) = admin_app_with_password().await;
    let c = chrome(false).await;
    c.password_step(&app, "admin", &password).await;
    c.wait_for_path("/dashboard").await;
    c.goto_localhost(&app, "/settings/security").await;
    assert!(
        c.source()
            .await
            .contains("Adding a passkey needs JavaScript")
    );
    c.find("form[action='/settings/security/totp/setup'] button")
        .await
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .unwrap();
    c.wait_for_path("/settings/security/totp").await;
    c.find(".qr-frame svg").await;
    c.screenshot("totp-setup").await;
    let secret = c.find("#totp-secret").await.text().await.unwrap();
    let secret = crate::helpers::base32_decode(&secret);
    // The code field has the focus; typing and Enter confirm.
    assert_eq!(c.active_id().await, "totp-code");
    c.press_text(&code_at(&secret, now())).await;
    c.press(Key::Enter).await;
    c.find("#recovery-codes").await;
    c.goto_localhost(&app, "/settings/security").await;
    c.sign_out().await;
    c.password_step(&app, "admin", &password).await;
    c.wait_for_path("/login/two-factor").await;
    assert_eq!(
        c.active_id().await,
        "code",
        "the code field takes the focus"
    );
    c.press_text(&code_at(&secret, now() + 30)).await;
    c.press(Key::Enter).await;
    c.wait_for_path("/dashboard").await;
}

impl Chrome {
    async fn press_text(&self, text: &str) {
        let el = self.client.active_element().await.unwrap();
        el.send_keys(text).await.unwrap();
    }
}
