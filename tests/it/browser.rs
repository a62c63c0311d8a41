//! The admin's flow in a real headless Chromium driven through chromedriver: with JavaScript,
//! without it, and with the keyboard alone; the clipboard; back/forward/reload; revocation;
//! axe-core on every screen; screenshots of each screen at 1280×800.
//!
//! Needs `chromium` and `chromedriver` (Debian packages; `scripts/test-all.sh` installs them)
//! and `tests/browser/node_modules/axe-core` (`npm ci --prefix tests/browser`), so each test is
//! `#[ignore]`d: plain `cargo test` lists them as ignored; `scripts/test-all.sh` runs them with
//! `cargo test --test it browser:: -- --ignored`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use connect_tokens::domain::scope::Role;
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, admin_app_with_password, tokens_in};

mod insight;
mod security;
mod webhooks;

/// One browser at a time: Chromium is heavy for a 2-core machine, and timing-sensitive steps
/// (animations, debounced search) must not starve.
static ONE_BROWSER: std::sync::LazyLock<tokio::sync::Mutex<()>> =
    std::sync::LazyLock::new(|| tokio::sync::Mutex::new(()));

/// A chromedriver process and one Chromium session.
struct Chrome {
    _turn: tokio::sync::MutexGuard<'static, ()>,
    client: Client,
    session: String,
    driver: Child,
    driver_url: String,
    profile: PathBuf,
}

impl Drop for Chrome {
    fn drop(&mut self) {
        // Ask chromedriver to end the session, which quits Chromium — also when the test failed
        // half-way (Drop cannot await, so a blocking request).
        use std::io::{Read, Write};
        let addr = self.driver_url.trim_start_matches("http://").to_owned();
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let req = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            if s.write_all(req.as_bytes()).is_ok() {
                // The answer is one small packet: its arrival means Chromium has quit.
                let _ = s.read(&mut [0u8; 4096]);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn chrome(javascript: bool) -> Chrome {
    let turn = ONE_BROWSER.lock().await;
    let port = free_port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver not found: run scripts/test-all.sh, which installs chromium and chromium-driver");
    let driver_url = format!("http://127.0.0.1:{port}");
    let profile = crate::helpers::temp_dir("chrome");
    let mut prefs = json!({});
    if !javascript {
        prefs = json!({"profile.managed_default_content_settings.javascript": 2});
    }
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,800", format!("--user-data-dir={}", profile.display())],
            "prefs": prefs,
        }
    });
    let caps = match caps {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    let mut last = None;
    for _ in 0..50 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&driver_url)
            .await
        {
            Ok(client) => {
                // Make the viewport itself 1280×800, whatever the window decorations take.
                let inner = client.execute("return [window.outerHeight - window.innerHeight, window.outerWidth - window.innerWidth]", vec![]).await.unwrap();
                let (dh, dw) = (
                    inner[0].as_u64().unwrap_or(0) as u32,
                    inner[1].as_u64().unwrap_or(0) as u32,
                );
                client.set_window_size(1280 + dw, 800 + dh).await.unwrap();
                let session = client.session_id().await.unwrap().unwrap_or_default();
                return Chrome {
                    _turn: turn,
                    session,
                    client,
                    driver,
                    driver_url,
                    profile,
                };
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not start a Chromium session: {last:?}");
}

impl Chrome {
    async fn goto(&self, app: &TestApp, path: &str) {
        self.client.goto(&app.url(path)).await.unwrap();
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(5))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    /// Waits for the panel's slide-in animation to finish (so clicks land where they aim).
    async fn settle(&self) {
        for _ in 0..50 {
            if self.js("return document.getAnimations().length").await == json!(0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    async fn active_id(&self) -> String {
        self.js("return document.activeElement && document.activeElement.id")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn press(&self, key: fantoccini::key::Key) {
        let el = self.client.active_element().await.unwrap();
        el.send_keys(&char::from(key).to_string()).await.unwrap();
    }

    async fn sign_in(&self, app: &TestApp, username: &str, password: &str) {
        self.goto(app, "/login").await;
        self.find("#username")
            .await
            .send_keys(username)
            .await
            .unwrap();
        self.find("#password")
            .await
            .send_keys(password)
            .await
            .unwrap();
        self.find("button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
        // The sidebar exists only on signed-in pages (the sign-in page has a main h1 too).
        self.find("nav.sidebar").await;
        assert!(
            self.client
                .current_url()
                .await
                .unwrap()
                .path()
                .ends_with("/dashboard")
        );
    }

    /// Fails if the page scrolls sideways (at the window size `at` names).
    async fn no_horizontal_scrolling(&self, at: &str) {
        let overflow = self
            .js("return document.documentElement.scrollWidth > window.innerWidth")
            .await;
        assert_eq!(overflow, json!(false), "no horizontal scrolling at {at}");
    }

    /// Grants clipboard read to the page (chromedriver's W3C permissions endpoint).
    async fn grant_clipboard(&self) {
        let id = self.client.session_id().await.unwrap().unwrap();
        let http = crate::helpers::http_client();
        for name in ["clipboard-read", "clipboard-write"] {
            let r = http
                .post(format!("{}/session/{id}/permissions", self.driver_url))
                .json(&json!({"descriptor": {"name": name}, "state": "granted"}))
                .send()
                .await
                .unwrap();
            assert!(
                r.status().is_success(),
                "{name}: {}",
                r.text().await.unwrap()
            );
        }
    }

    /// Runs axe-core in the page; fails on any serious or critical violation.
    async fn axe(&self, screen: &str) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/browser/node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&path)
            .expect("axe-core missing: npm ci --prefix tests/browser");
        self.client.execute(&source, vec![]).await.unwrap();
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))));",
                vec![],
            )
            .await
            .unwrap();
        let bad: Vec<&Value> = result
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(bad.is_empty(), "{screen}: axe-core violations: {bad:#?}");
    }

    async fn screenshot(&self, name: &str) {
        let dir = std::env::var("CT_SCREENSHOT_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
            });
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

#[tokio::test]
#[ignore = "browser: needs chromium and chromedriver; scripts/test-all.sh runs it"]
async fn generate_a_device_token_with_javascript_copy_it_and_never_see_it_again() {
    let (app, password, alpha) = admin_app_with_password().await;
    let c = chrome(true).await;
    c.goto(&app, "/login").await;
    c.axe("sign-in").await;
    c.screenshot("signin").await;
    c.sign_in(&app, "admin", &password).await;
    c.axe("dashboard").await;

    c.goto(&app, "/settings/account").await;
    c.axe("account").await;
    c.screenshot("account").await;
    c.find("#open-device-token").await.click().await.unwrap();
    // The panel opens in place (no navigation) with focus inside it.
    c.find("#device-token-panel:not([hidden])").await;
    c.settle().await;
    assert!(
        c.client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/settings/account")
    );
    assert_eq!(c.active_id().await, "dt-description");
    c.find("#dt-description")
        .await
        .send_keys("Browser flow")
        .await
        .unwrap();
    c.find("input[name=target_kind][value=device]")
        .await
        .click()
        .await
        .unwrap();
    c.find("#dt-device-q")
        .await
        .send_keys("alpha-sensor")
        .await
        .unwrap();
    // Suggestions come from the server as the admin types.
    c.client
        .wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css(&format!(
            "#dt-device option[value='{}']",
            alpha[1]
        )))
        .await
        .unwrap();
    c.axe("open panel").await;
    c.screenshot("panel").await;
    c.find("#dt-device")
        .await
        .select_by_value(&alpha[1])
        .await
        .unwrap();
    c.find("input[name=perm_write]")
        .await
        .click()
        .await
        .unwrap();
    c.find("#dt-generate").await.click().await.unwrap();

    let field = c.find("#token-value").await;
    let token = field.prop("value").await.unwrap().unwrap();
    assert!(token.starts_with("ctd_") && token.len() == 42, "{token}");
    c.axe("generated token").await;
    c.screenshot("token").await;
    // Copy → the clipboard holds exactly the token, with visible feedback.
    c.grant_clipboard().await;
    let copy = c.find("#copy-token").await;
    assert_eq!(c.active_id().await, "copy-token", "focus is on Copy");
    copy.click().await.unwrap();
    c.client
        .wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::XPath(
            "//button[@id='copy-token' and normalize-space()='Copied']",
        ))
        .await
        .unwrap();
    let clip = c
        .client
        .execute_async("const done = arguments[0]; navigator.clipboard.readText().then(done, e => done('ERR ' + e));", vec![])
        .await
        .unwrap();
    assert_eq!(clip.as_str().unwrap(), token);
    // The token works against the API, with exactly its scope.
    let api = |path: String| {
        app.client
            .get(app.url(&path))
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    assert_eq!(
        api(format!("/api/v2/alpha/devices/{}", alpha[1]))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        api(format!("/api/v2/alpha/devices/{}", alpha[0]))
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // Close: the panel and the secret are gone, focus returns to the opener.
    c.find("#close-created").await.click().await.unwrap();
    assert!(c.client.find(Locator::Css("#token-value")).await.is_err());
    assert!(!c.source().await.contains(&token));
    // Back, forward, reload: never shown again.
    c.goto(&app, "/settings/access-tokens").await;
    c.axe("access tokens").await;
    c.screenshot("access-tokens").await;
    c.client.back().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!c.source().await.contains(&token), "back");
    c.client.forward().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!c.source().await.contains(&token), "forward");
    c.client.refresh().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!c.source().await.contains(&token), "reload");
    assert_eq!(
        app.token_count().await,
        1,
        "no reload or back created another token"
    );
}

#[tokio::test]
#[ignore = "browser: needs chromium and chromedriver; scripts/test-all.sh runs it"]
async fn the_same_flow_works_without_javascript() {
    let (app, password, alpha) = admin_app_with_password().await;
    let c = chrome(false).await;
    c.sign_in(&app, "admin", &password).await;
    c.goto(&app, "/settings/account").await;
    // Without JS the button is a plain link to the panel page.
    c.find("#open-device-token").await.click().await.unwrap();
    c.find("#device-token-panel:not([hidden])").await;
    c.settle().await;
    assert!(
        c.client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/settings/account/device-token")
    );
    c.find("#dt-description")
        .await
        .send_keys("No JS")
        .await
        .unwrap();
    c.find("input[name=target_kind][value=device]")
        .await
        .click()
        .await
        .unwrap();
    c.find("#dt-device-q")
        .await
        .send_keys("bravo")
        .await
        .unwrap();
    c.find("#dt-device-search").await.click().await.unwrap();
    // The server filled the device list; input is kept.
    c.find("#dt-device option").await;
    assert_eq!(
        c.find("#dt-description")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap(),
        "No JS"
    );
    assert!(c.source().await.contains("bravo-sensor-1"));
    assert!(!c.source().await.contains(&alpha[0]));
    c.find("#dt-device").await.select_by_index(1).await.unwrap();
    c.find("input[name=perm_read]").await.click().await.unwrap(); // untick Read…
    c.find("#dt-generate").await.click().await.unwrap();
    // …so nothing is chosen: the error is shown next to the field.
    let err = c.find("#dt-permissions-error").await.text().await.unwrap();
    assert!(err.contains("at least one permission"), "{err}");
    c.find("input[name=perm_read]").await.click().await.unwrap();
    c.find("#dt-generate").await.click().await.unwrap();
    let token = c
        .find("#token-value")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(tokens_in(&token).len() == 1);
    // The Copy button needs JS: it stays hidden, the field is there to select.
    assert!(!c.find("#copy-token").await.is_displayed().await.unwrap());
    c.find("#close-created").await.click().await.unwrap();
    assert!(!c.source().await.contains(&token));
    assert_eq!(app.token_count().await, 1);
}

#[tokio::test]
#[ignore = "browser: needs chromium and chromedriver; scripts/test-all.sh runs it"]
async fn the_whole_flow_works_with_the_keyboard_alone() {
    use fantoccini::key::Key;
    let (app, password, _) = admin_app_with_password().await;
    let c = chrome(true).await;
    c.sign_in(&app, "admin", &password).await;
    c.goto(&app, "/settings/account").await;
    // Tab until the Device Details Token button has focus.
    let mut found = false;
    for _ in 0..30 {
        c.press(Key::Tab).await;
        if c.active_id().await == "open-device-token" {
            found = true;
            break;
        }
    }
    assert!(found, "the button is reachable with Tab");
    c.press(Key::Enter).await;
    c.find("#device-token-panel:not([hidden])").await;
    assert_eq!(
        c.active_id().await,
        "dt-description",
        "focus moves into the panel"
    );
    // Escape closes it and focus returns to the button.
    c.press(Key::Escape).await;
    assert!(
        c.find("#device-token-panel")
            .await
            .attr("hidden")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(c.active_id().await, "open-device-token");
    // Open again, fill with keys only, generate with Enter.
    c.press(Key::Enter).await;
    c.find("#device-token-panel:not([hidden])").await;
    c.client
        .active_element()
        .await
        .unwrap()
        .send_keys("Keyboard token")
        .await
        .unwrap();
    c.press(Key::Tab).await;
    assert_eq!(c.active_id().await, "dt-expires");
    // Focus stays inside the panel (the trap wraps around).
    for _ in 0..15 {
        c.press(Key::Tab).await;
        let inside = c
            .js("return !!document.activeElement.closest('#device-token-panel')")
            .await;
        assert_eq!(inside, json!(true));
    }
    c.find("#dt-fleet")
        .await
        .select_by_value("alpha")
        .await
        .unwrap();
    c.find("#dt-description").await.click().await.unwrap();
    c.press(Key::Enter).await;
    let token = c
        .find("#token-value")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(token.starts_with("ctd_"));
    // Space on the focused Copy button copies.
    c.grant_clipboard().await;
    assert_eq!(c.active_id().await, "copy-token");
    c.press(Key::Space).await;
    c.client
        .wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::XPath(
            "//*[@id='copy-status' and contains(., 'Copied')]",
        ))
        .await
        .unwrap();
    c.press(Key::Escape).await;
    assert!(c.client.find(Locator::Css("#token-value")).await.is_err());
}

#[tokio::test]
#[ignore = "browser: needs chromium and chromedriver; scripts/test-all.sh runs it"]
async fn revoke_from_the_access_tokens_tab() {
    let (app, password, _) = admin_app_with_password().await;
    let c = chrome(true).await;
    c.sign_in(&app, "admin", &password).await;
    c.goto(&app, "/settings/account/device-token").await;
    c.settle().await;
    c.find("#dt-description")
        .await
        .send_keys("short-lived")
        .await
        .unwrap();
    c.find("#dt-fleet")
        .await
        .select_by_value("bravo")
        .await
        .unwrap();
    c.find("#dt-generate").await.click().await.unwrap();
    let token = c
        .find("#token-value")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    let api = || {
        app.client
            .get(app.url("/api/v2/bravo/devices"))
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    assert_eq!(api().await.unwrap().status(), StatusCode::OK);
    c.goto(&app, "/settings/access-tokens").await;
    c.find("a.button.danger").await.click().await.unwrap();
    c.find("#confirm-revoke").await;
    c.axe("revoke confirmation").await;
    c.find("#confirm-revoke").await.click().await.unwrap();
    c.find(".status-revoked").await;
    assert_eq!(api().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
#[ignore = "browser: needs chromium and chromedriver; scripts/test-all.sh runs it"]
async fn every_other_screen_passes_axe_and_is_photographed() {
    let (app, password, alpha) = admin_app_with_password().await;
    app.create_user("field-tech", Role::User).await;
    let tech = app
        .store
        .user_by_username("field-tech")
        .await
        .unwrap()
        .unwrap();
    app.store
        .set_fleet_permissions(
            &tech.id,
            "alpha",
            connect_tokens::domain::scope::Permissions::from_bits(3),
        )
        .await
        .unwrap();
    let c = chrome(true).await;
    c.sign_in(&app, "admin", &password).await;
    let screens = [
        ("dashboard-empty", "/dashboard".to_owned()),
        ("devices", "/devices?fleet=alpha".to_owned()),
        ("device", format!("/devices/{}", alpha[0])),
        ("user-permissions", "/settings/users".to_owned()),
        ("user-edit", format!("/settings/users/{}", tech.id)),
        ("audit-log", "/settings/audit".to_owned()),
        (
            "user-token-panel",
            "/settings/account/user-token".to_owned(),
        ),
        ("not-found", "/nowhere".to_owned()),
    ];
    for (name, path) in screens {
        c.goto(&app, &path).await;
        c.find("main").await;
        c.settle().await;
        c.axe(name).await;
        c.screenshot(name).await;
    }
    // Readable at 1024×768 too.
    c.client.set_window_size(1024, 768).await.unwrap();
    let (dh, dw) = {
        let v = c.js("return [window.outerHeight - window.innerHeight, window.outerWidth - window.innerWidth]").await;
        (
            v[0].as_u64().unwrap_or(0) as u32,
            v[1].as_u64().unwrap_or(0) as u32,
        )
    };
    c.client.set_window_size(1024 + dw, 768 + dh).await.unwrap();
    c.goto(&app, "/settings/account/device-token").await;
    c.settle().await;
    c.no_horizontal_scrolling("1024×768").await;
    c.screenshot("panel-1024x768").await;
    c.axe("panel at 1024×768").await;
    // The edit panel closes with Escape back to the list.
    c.goto(&app, &format!("/settings/users/{}", tech.id)).await;
    c.find("#user-edit-panel").await;
    c.press(fantoccini::key::Key::Escape).await;
    let mut path = String::new();
    for _ in 0..50 {
        path = c.client.current_url().await.unwrap().path().to_owned();
        if path == "/settings/users" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(path, "/settings/users");
}

#[tokio::test]
#[ignore = "browser: needs chromium and chromedriver; scripts/test-all.sh runs it"]
async fn regenerate_a_token_with_and_without_javascript() {
    for javascript in [true, false] {
        let (app, password, _) = admin_app_with_password().await;
        let old = crate::helpers::make_token(
            &app,
            Some(connect_tokens::domain::scope::Target::Fleet("alpha".into())),
            crate::helpers::perms(1),
            None,
            crate::helpers::in_days(10),
        )
        .await;
        let api = |token: String| {
            app.client
                .get(app.url("/api/v2/alpha/devices"))
                .bearer_auth(token)
                .send()
        };
        assert_eq!(api(old.clone()).await.unwrap().status(), StatusCode::OK);
        let c = chrome(javascript).await;
        c.sign_in(&app, "admin", &password).await;
        c.goto(&app, "/settings/access-tokens").await;
        c.find("a[aria-label^='Regenerate token']")
            .await
            .click()
            .await
            .unwrap();
        c.find("#confirm-regenerate").await;
        c.settle().await;
        if javascript {
            c.axe("regenerate form").await;
            c.screenshot("token-regenerate").await;
        }
        c.find("input[name=grace][value='3600']")
            .await
            .click()
            .await
            .unwrap();
        c.find("#confirm-regenerate").await.click().await.unwrap();
        let new = c
            .find("#token-value")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(tokens_in(&new).len(), 1, "the new token, shown once");
        // The Copy button is JavaScript's; without it the field is there to select.
        assert_eq!(
            c.find("#copy-token").await.is_displayed().await.unwrap(),
            javascript
        );
        if javascript {
            c.settle().await;
            c.axe("regenerated token").await;
            c.screenshot("token-regenerated").await;
        }
        // Both work during the hour's grace.
        assert_eq!(api(old.clone()).await.unwrap().status(), StatusCode::OK);
        assert_eq!(api(new.clone()).await.unwrap().status(), StatusCode::OK);
        // Close goes to the new token's page, which names the one it replaces.
        c.find("#close-created").await.click().await.unwrap();
        c.find("#rotation a").await;
        c.settle().await;
        assert!(c.source().await.contains("Replaces"));
        assert!(!c.source().await.contains(&new), "never shown again");
        if javascript {
            c.axe("token detail").await;
            c.screenshot("token-detail").await;
        }
    }
}
