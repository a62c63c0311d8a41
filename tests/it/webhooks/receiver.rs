//! A webhook receiver on a loopback port: records every request and answers as told, and a
//! signature check written from the Standard Webhooks specification (not the server's signer).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit, Mac};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Got {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Got {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn id(&self) -> &str {
        self.header("webhook-id")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    pub fn kind(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_owned()
    }
}

/// How to answer the next request.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// 302 to `/elsewhere`.
    Redirect,
    /// Say nothing for a minute.
    Hang,
}

#[derive(Clone, Default)]
struct Shared {
    got: Arc<Mutex<Vec<Got>>>,
    plan: Arc<Mutex<VecDeque<Answer>>>,
}

/// The receiver; answers 200 unless a plan says otherwise.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Shared,
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::start_on("127.0.0.1:0").await
    }

    pub async fn start_on(bind: &str) -> Receiver {
        let shared = Shared::default();
        let app = router(shared.clone());
        let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, shared }
    }

    /// A receiver over HTTPS with a certificate for `localhost` (PEM of certificate and key).
    pub async fn start_tls(cert_pem: &str, key_pem: &str) -> Receiver {
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let shared = Shared::default();
        let app = router(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let service = hyper_util::service::TowerToHyperService::new(app);
                        let io = hyper_util::rt::TokioIo::new(tls);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    }
                });
            }
        });
        Receiver { addr, shared }
    }

    /// `http://127.0.0.1:<port>/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Answer the next requests so.
    pub fn plan(&self, answers: &[Answer]) {
        self.shared
            .plan
            .lock()
            .unwrap()
            .extend(answers.iter().copied());
    }

    pub fn got(&self) -> Vec<Got> {
        self.shared.got.lock().unwrap().clone()
    }

    /// Waits (up to `secs`) until `n` requests have come; all of them.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Got> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.got();
            if got.len() >= n || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until a request of event `kind` has come; the first.
    pub async fn wait_for_kind(&self, kind: &str, secs: u64) -> Got {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(g) = self.got().into_iter().find(|g| g.kind() == kind) {
                return g;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {kind} within {secs} s; got {:?}",
                self.got().iter().map(Got::kind).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The receiver's one route: record, then answer as planned.
fn router(shared: Shared) -> axum::Router {
    axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let state = shared.clone();
        async move { answer(state, uri, headers, body).await }
    })
}

async fn answer(state: Shared, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    state.got.lock().unwrap().push(Got {
        path: uri.path().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let next = state.plan.lock().unwrap().pop_front();
    match next.unwrap_or(Answer::Status(200)) {
        Answer::Status(s) => StatusCode::from_u16(s).unwrap().into_response(),
        Answer::Redirect => (StatusCode::FOUND, [("location", "/elsewhere")]).into_response(),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::OK.into_response()
        }
    }
}

/// Whether `got` carries a valid signature under `secret` (`whsec_<base64>`), per the Standard
/// Webhooks specification: `webhook-signature` is a space-separated list of `v1,<base64>`, each
/// an HMAC-SHA256 keyed with the secret's decoded bytes over `{id}.{timestamp}.{body}`; the
/// timestamp must be within five minutes of now.
pub fn verifies(secret: &str, got: &Got) -> bool {
    let key = B64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let (id, ts) = (got.header("webhook-id"), got.header("webhook-timestamp"));
    let Ok(ts_secs) = ts.parse::<i64>() else {
        return false;
    };
    if (connect_tokens::domain::now() - ts_secs).abs() > 300 || id.is_empty() {
        return false;
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{}", got.body).as_bytes());
    let expected = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
    got.header("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}
