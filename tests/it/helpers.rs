//! Test harness: the real server on a loopback port 0 with a fresh database per test, and a
//! cookie-keeping, non-redirecting HTTP client.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use connect_tokens::domain::scope::{Permissions, Role, Target};
use connect_tokens::domain::token::{self, TokenKind};
use connect_tokens::store::audit::AuditEntry;
use connect_tokens::store::tokens::{NewToken, TokenFilter, TokenRecord};
use connect_tokens::store::users::NewUser;
use connect_tokens::{AppState, Config, Store};
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};

/// A running server with its own database.
pub struct TestApp {
    pub addr: SocketAddr,
    pub store: Store,
    /// The database the server runs on: SQLite in `data_dir`, or PostgreSQL.
    pub database_url: String,
    pub data_dir: PathBuf,
    pub client: reqwest::Client,
    /// The server's pending usage (stamps and counts), to flush without waiting for its timer.
    pub usage: Arc<connect_tokens::store::usage::UsageBatch>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// A fresh temporary directory.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ct-{tag}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts the real application on 127.0.0.1:0 with a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Config::default()).await
}

/// [`spawn_app`] with settings.
pub async fn spawn_app_with(config: Config) -> TestApp {
    let data_dir = temp_dir("app");
    let url = match std::env::var("CT_TEST_DATABASE") {
        Ok(base) if base.starts_with("postgres") => fresh_postgres(&base).await,
        _ => connect_tokens::config::sqlite_url(&data_dir),
    };
    let mut config = config;
    if config.secret_key_file.is_none() {
        config.secret_key_file = Some(data_dir.join("secret.key"));
    }
    spawn_on(url, data_dir, config).await
}

/// The server on `url`, with `data_dir` as its own (removed when it is dropped).
async fn spawn_on(url: String, data_dir: PathBuf, config: Config) -> TestApp {
    let store = Store::connect(&url).await.expect("database");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let key_file = config.secret_key_file.clone().expect("a key file");
    let key =
        connect_tokens::auth::secret_key::SecretKey::load_or_create(&key_file).expect("secret key");
    connect_tokens::auth::secret_key::check_against(&store, &key, "the test key")
        .await
        .expect("the database's key");
    let state = AppState::new(store.clone(), config, key);
    let usage = state.usage.clone();
    tokio::spawn(connect_tokens::serve(listener, state));
    TestApp {
        addr,
        store,
        database_url: url,
        data_dir,
        client: no_redirect_client(),
        usage,
    }
}

impl TestApp {
    /// Writes the server's pending usage now (what its flush timer does every few seconds).
    pub async fn flush_usage(&self) {
        self.usage.flush(&self.store).await.expect("usage written");
    }

    /// The Token ID of a token's plaintext.
    pub async fn token_id_of(&self, token: &str) -> String {
        let hash = connect_tokens::domain::token::TokenHash::of(token);
        self.store
            .token_by_hash(&hash)
            .await
            .unwrap()
            .expect("a stored token")
            .id
    }
}

impl TestApp {
    /// A second instance on the same database with the same secret key file (as two instances
    /// of a PostgreSQL deployment are run).
    pub async fn sibling(&self) -> TestApp {
        self.sibling_with(Config::default()).await
    }

    /// [`TestApp::sibling`] with settings.
    pub async fn sibling_with(&self, config: Config) -> TestApp {
        let config = Config {
            secret_key_file: Some(self.data_dir.join("secret.key")),
            ..config
        };
        spawn_on(self.database_url.clone(), temp_dir("sibling"), config).await
    }
}

/// A reqwest client builder, once the process has a TLS crypto provider (reqwest is built
/// without one: see `connect_tokens::webhooks::client::install_crypto_provider`).
pub fn http_client_builder() -> reqwest::ClientBuilder {
    connect_tokens::webhooks::client::install_crypto_provider();
    reqwest::Client::builder()
}

/// A default reqwest client ([`http_client_builder`]).
pub fn http_client() -> reqwest::Client {
    http_client_builder().build().unwrap()
}

/// An HTTP client that does not follow redirects (the tests look at each one).
fn no_redirect_client() -> reqwest::Client {
    http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A new, empty database on the PostgreSQL server at `base`; returns its URL.
pub async fn fresh_postgres(base: &str) -> String {
    use sqlx::Connection;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(base).await.expect("postgres");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}

/// One HTTP response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn location(&self) -> &str {
        self.header("location")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A browser-like session: keeps cookies, does not follow redirects.
#[derive(Clone)]
pub struct Browser {
    base: String,
    client: reqwest::Client,
    pub cookies: Arc<Mutex<HashMap<String, String>>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A new session against this app (see [`browser`]).
    pub fn browser(&self) -> Browser {
        browser(&self.url(""))
    }

    /// Creates a user directly in the store; returns the password.
    pub async fn create_user(&self, username: &str, role: Role) -> String {
        let password = format!("pw-{username}-0123456789");
        let hash = connect_tokens::auth::password::hash(password.clone())
            .await
            .unwrap();
        self.store
            .create_user(
                &NewUser {
                    username,
                    email: "",
                    display_name: "",
                    role,
                    password_hash: &hash,
                },
                connect_tokens::domain::now(),
            )
            .await
            .unwrap();
        password
    }

    /// A signed-in browser for a new user with `role`.
    pub async fn signed_in(&self, username: &str, role: Role) -> Browser {
        let password = self.create_user(username, role).await;
        let b = self.browser();
        let r = b.login(username, &password).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        b
    }

    /// Seeds two fleets with a few devices; returns (fleet a devices, fleet b devices).
    pub async fn seed_fleets(&self) -> (Vec<String>, Vec<String>) {
        use connect_tokens::store::devices::Device;
        use connect_tokens::store::fleets::Fleet;
        let now = connect_tokens::domain::now();
        let mut out = (Vec::new(), Vec::new());
        for (key, n) in [("alpha", 3), ("bravo", 2)] {
            self.store
                .create_fleet(
                    &Fleet {
                        key: key.into(),
                        name: format!("Fleet {key}"),
                        description: String::new(),
                    },
                    now,
                )
                .await
                .unwrap();
            let devices: Vec<Device> = (0..n)
                .map(|i| Device {
                    uuid: format!("d-{}{:03x}-00{:02x}", &key[..1], i, i),
                    fleet_key: key.into(),
                    name: format!("{key}-sensor-{i}"),
                    group_name: if i % 2 == 0 {
                        "even".into()
                    } else {
                        "odd".into()
                    },
                    tags: Device::frame_tags(&[format!("t{i}"), "all".into()]),
                    description: String::new(),
                    ip: String::new(),
                    agent_version: String::new(),
                    last_keepalive: None,
                    registered_at: now,
                })
                .collect();
            self.store.insert_devices(&devices).await.unwrap();
            let ids = devices.into_iter().map(|d| d.uuid).collect();
            if key == "alpha" {
                out.0 = ids
            } else {
                out.1 = ids
            }
        }
        out
    }

    pub async fn token_count(&self) -> usize {
        newest_tokens(&self.store, 100_000).await.len()
    }
}

impl Browser {
    /// The `Cookie` header this session sends.
    pub fn cookie_header(&self) -> String {
        let jar = self.cookies.lock().unwrap();
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        let cookie = self.cookie_header();
        if !cookie.is_empty() {
            req = req.header(COOKIE, cookie);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(f) = form {
            req = req.form(f);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        {
            let mut jar = self.cookies.lock().unwrap();
            for sc in headers.get_all(SET_COOKIE) {
                let sc = sc.to_str().unwrap();
                let (pair, attrs) = sc.split_once(';').unwrap_or((sc, ""));
                let (k, v) = pair.split_once('=').unwrap();
                if attrs.contains("Max-Age=0") {
                    jar.remove(k);
                } else {
                    jar.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        let body = res.text().await.unwrap_or_default();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.request(Method::POST, path, Some(form), &[]).await
    }

    /// GET `page`, then POST `form` plus the page's CSRF token to `action`.
    pub async fn submit(&self, page: &str, action: &str, form: &[(&str, &str)]) -> Resp {
        let html = self.get(page).await.body;
        let csrf = hidden(&html, "csrf");
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        self.post(action, &fields).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Resp {
        self.submit(
            "/login",
            "/login",
            &[("username", username), ("password", password)],
        )
        .await
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }
}

/// Value of the first hidden input named `name` in `html`.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden {name} in page:\n{html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// Every token-shaped string (`ctu_…` / `ctd_…`) in `text`.
pub fn tokens_in(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for prefix in ["ctu_", "ctd_"] {
        let mut from = 0;
        while let Some(i) = text[from..].find(prefix) {
            let start = from + i;
            let end = bytes[start + 4..]
                .iter()
                .position(|b| !b.is_ascii_alphanumeric())
                .map_or(bytes.len(), |p| start + 4 + p);
            if end - start == 4 + 38 {
                out.push(text[start..end].to_owned());
            }
            from = end;
        }
    }
    out
}

/// A [`Browser`] against any base URL (e.g. a server started as a process).
pub fn browser(base: &str) -> Browser {
    Browser {
        base: base.to_owned(),
        client: no_redirect_client(),
        cookies: Arc::default(),
    }
}

/// Unix seconds `days` days from now (negative: ago).
pub fn in_days(days: i64) -> i64 {
    connect_tokens::domain::now() + days * 86_400
}

/// The UTC date (`YYYY-MM-DD`, as forms and the API take it) of [`in_days`]`(days)`.
pub fn date_in(days: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(in_days(days)).unwrap();
    connect_tokens::domain::expiry::format_date(at.date())
}

/// Shorthand for [`Permissions::from_bits`] (1 read, 2 write, 4 delete).
pub fn perms(bits: i64) -> Permissions {
    Permissions::from_bits(bits)
}

/// Stores a token directly (the console and API paths are tested elsewhere); returns it.
pub async fn make_token(
    app: &TestApp,
    target: Option<Target>,
    perms: Permissions,
    user: Option<&str>,
    expires_at: i64,
) -> String {
    let now = connect_tokens::domain::now();
    make_token_with(app, target, perms, user, expires_at, "test", now).await
}

/// [`make_token`] with its description and creation time.
pub async fn make_token_with(
    app: &TestApp,
    target: Option<Target>,
    perms: Permissions,
    user: Option<&str>,
    expires_at: i64,
    description: &str,
    created_at: i64,
) -> String {
    let kind = if target.is_some() {
        TokenKind::DeviceDetails
    } else {
        TokenKind::User
    };
    let t = token::generate(kind);
    let user_id = match user {
        Some(name) => Some(app.store.user_by_username(name).await.unwrap().unwrap().id),
        None => None,
    };
    app.store
        .insert_token(
            &NewToken {
                kind,
                hash: &t.hash,
                hint: &t.hint,
                description,
                user_id: user_id.as_deref(),
                target: target.as_ref(),
                permissions: perms,
                created_by: None,
                expires_at,
                form_nonce: None,
                allowed_ips: "",
                predecessor_id: None,
            },
            created_at,
        )
        .await
        .unwrap();
    t.plaintext.expose().to_owned()
}

/// Sends an API request with `Authorization: Bearer <token>`.
pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> Resp {
    let mut req = app
        .client
        .request(method, app.url(path))
        .header("authorization", format!("Bearer {token}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    Resp {
        status: res.status(),
        headers: res.headers().clone(),
        body: res.text().await.unwrap(),
    }
}

/// The newest `limit` tokens, newest first.
pub async fn newest_tokens(store: &Store, limit: i64) -> Vec<TokenRecord> {
    store
        .find_tokens(&TokenFilter::default(), 0, limit)
        .await
        .unwrap()
}

/// The newest `limit` audit entries of any action, newest first.
pub async fn audit_entries(app: &TestApp, limit: i64) -> Vec<AuditEntry> {
    app.store
        .find_audit(&[], "", i64::MAX, limit)
        .await
        .unwrap()
}

/// A fresh app with two seeded fleets and a signed-in admin session; returns the fleet alpha
/// devices too.
pub async fn admin_app() -> (TestApp, Browser, Vec<String>) {
    let app = spawn_app().await;
    let (alpha, _) = app.seed_fleets().await;
    let b = app.signed_in("admin", Role::Admin).await;
    (app, b, alpha)
}

/// [`admin_app`] without the HTTP session, for signing in elsewhere (a real browser): the admin's
/// password instead.
pub async fn admin_app_with_password() -> (TestApp, String, Vec<String>) {
    let app = spawn_app().await;
    let (alpha, _) = app.seed_fleets().await;
    let password = app.create_user("admin", Role::Admin).await;
    (app, password, alpha)
}

/// The Generate Device Details Token panel's CSRF token and one-time nonce.
pub async fn open_panel(b: &Browser) -> (String, String) {
    let page = b.get("/settings/account/device-token").await;
    assert_eq!(page.status, StatusCode::OK);
    (hidden(&page.body, "csrf"), hidden(&page.body, "nonce"))
}

/// Submits the device-token panel (a fresh CSRF token and nonce) with `fields`.
pub async fn generate(b: &Browser, fields: &[(&str, &str)]) -> Resp {
    let (csrf, nonce) = open_panel(b).await;
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("nonce", nonce.as_str()),
        ("action", "generate"),
    ];
    form.extend_from_slice(fields);
    b.post("/settings/account/device-token", &form).await
}

/// The CSRF token inside a page's masked value (hex: a random pad, then the token XOR the pad),
/// decoded here independently of the server's code.
pub fn unmask_csrf(masked: &str) -> String {
    let bytes: Vec<u8> = (0..masked.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&masked[i..i + 2], 16).unwrap())
        .collect();
    let (pad, hidden) = bytes.split_at(bytes.len() / 2);
    let token: Vec<u8> = pad.iter().zip(hidden).map(|(p, h)| p ^ h).collect();
    let token = String::from_utf8(token).unwrap();
    assert_eq!(token.len(), 64, "a SHA-256 in hex");
    token
}

/// RFC 4648 base32 (upper case, spaces ignored), written here rather than taken from the
/// server's code.
pub fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u64, Vec::new());
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base32") as u64;
        value = (value << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
            value &= (1 << bits) - 1;
        }
    }
    out
}
