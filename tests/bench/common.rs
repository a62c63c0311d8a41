//! What the console benchmarks share: the real server on a loopback port and a signed-in admin.

use connect_tokens::domain::scope::Role;
use connect_tokens::store::users::NewUser;
use connect_tokens::{AppState, Config, Store};

/// A running server over `store` and the session cookie of a new admin signed in through the
/// real sign-in form.
pub struct Console {
    pub base: String,
    pub client: reqwest::Client,
    pub session: String,
}

fn cookie(res: &reqwest::Response) -> String {
    res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// Starts the server and signs an admin in.
pub async fn console(store: &Store) -> Console {
    let password = "bench-password-123";
    let hash = connect_tokens::auth::password::hash(password.into())
        .await
        .unwrap();
    let admin = NewUser {
        username: "bench",
        email: "",
        display_name: "",
        role: Role::Admin,
        password_hash: &hash,
    };
    store
        .create_user(&admin, connect_tokens::domain::now())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(connect_tokens::serve(
        listener,
        AppState::new(
            store.clone(),
            Config::default(),
            connect_tokens::auth::secret_key::SecretKey::generate(),
        ),
    ));
    let client = {
        connect_tokens::webhooks::client::install_crypto_provider();
        reqwest::Client::builder()
    }
    .redirect(reqwest::redirect::Policy::none())
    .build()
    .unwrap();
    let page = client.get(format!("{base}/login")).send().await.unwrap();
    let login_cookie = cookie(&page);
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let res = client
        .post(format!("{base}/login"))
        .header("cookie", &login_cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "bench"),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "signed in");
    Console {
        session: cookie(&res),
        base,
        client,
    }
}
