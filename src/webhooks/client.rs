//! The HTTP client deliveries go out with: reqwest over rustls, no proxy, no redirect followed,
//! a timeout for the whole exchange, and a resolver that refuses names resolving to private
//! addresses (and pins the connection to the addresses it checked, so a second DNS answer
//! cannot point it elsewhere).

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::webhook_target::{self, Host};

/// How much of a receiver's answer is read (the rest is dropped with the connection).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Makes rustls's ring provider the process's default (once; later calls do nothing). reqwest
/// is built without a provider of its own (its choice, aws-lc-rs, needs cmake and builds
/// slowly), so every reqwest client in the process — the tests' too — needs this first.
pub fn install_crypto_provider() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
}

/// Sends signed deliveries.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
    timeout: Duration,
}

/// A delivery request.
#[derive(Debug)]
pub struct Request<'a> {
    pub url: &'a str,
    pub msg_id: &'a str,
    pub timestamp: i64,
    pub signature: &'a str,
    pub body: &'a str,
}

/// The resolver: system DNS, then the address policy on every answer.
struct Guarded {
    allow_private: bool,
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_allowed(&host, allow_private).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The addresses `host` resolves to (system DNS), when every one of them may be sent to; else
/// why not. What a delivery connects to, and what the form checks.
pub async fn resolve_allowed(host: &str, allow_private: bool) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| format!("{host} could not be resolved ({e})"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} has no address"));
    }
    if let Some(refused) = addrs
        .iter()
        .find_map(|a| webhook_target::refusal(a.ip(), allow_private))
    {
        return Err(format!("{host} resolves to {refused}"));
    }
    Ok(addrs)
}

impl Sender {
    /// A client whose exchanges each end after `timeout`; private targets only when
    /// `allow_private`.
    pub fn new(allow_private: bool, timeout: Duration) -> Result<Self, String> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!(
                "connect-tokens-webhooks/",
                env!("CARGO_PKG_VERSION")
            ))
            .dns_resolver(std::sync::Arc::new(Guarded { allow_private }))
            .build()
            .map_err(|e| format!("the webhook client could not be made: {e}"))?;
        Ok(Sender {
            client,
            allow_private,
            timeout,
        })
    }

    /// Posts `req`; the answer's status, or why there was none.
    pub async fn send(&self, req: &Request<'_>) -> Result<u16, String> {
        let target = webhook_target::parse_url(req.url)?;
        // An address written in the URL is never resolved: judged here.
        if let Host::Ip(ip) = target.host
            && let Some(refused) = webhook_target::refusal(ip, self.allow_private)
        {
            return Err(format!("refused: {refused}"));
        }
        let sent = self
            .client
            .post(&target.url)
            .header("content-type", "application/json")
            .header("webhook-id", req.msg_id)
            .header("webhook-timestamp", req.timestamp.to_string())
            .header("webhook-signature", req.signature)
            .body(req.body.to_owned())
            .send()
            .await;
        let mut res = sent.map_err(|e| self.explain(&e))?;
        let status = res.status().as_u16();
        // Read a little of the answer so that the connection can be used again.
        let mut read = 0;
        while read < MAX_ANSWER_BYTES {
            match res.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        Ok(status)
    }

    /// What went wrong, for the deliveries list: reqwest's message and its causes (never the
    /// URL, which can carry a receiver's own secret).
    fn explain(&self, e: &reqwest::Error) -> String {
        if e.is_timeout() {
            return format!("no answer within {} s", self.timeout.as_secs_f64());
        }
        let mut causes = vec![];
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            causes.push(s.to_string());
            source = s.source();
        }
        let why = causes
            .last()
            .cloned()
            .unwrap_or_else(|| "the request failed".into());
        if e.is_connect() {
            format!("could not connect: {why}")
        } else {
            why
        }
    }
}
