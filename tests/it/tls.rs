//! HTTPS served directly (issue #17): certificates made here with rcgen, a real TLS client
//! (rustls) that reads which certificate the server presents, SIGHUP swapping the pair for new
//! handshakes while an open connection goes on, and bad pairs refused with a clear message.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::cli::{run, serve_on};
use crate::helpers::temp_dir;

/// A self-signed certificate for `localhost`: its DER, and the PEM files written in `dir`.
struct Pair {
    der: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

fn new_pair() -> Pair {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    Pair {
        der: made.cert.der().clone(),
        cert_pem: made.cert.pem(),
        key_pem: made.signing_key.serialize_pem(),
    }
}

fn install(pair: &Pair, dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert, &pair.cert_pem).unwrap();
    std::fs::write(&key, &pair.key_pem).unwrap();
    (cert, key)
}

/// A client that trusts each of `pairs`.
fn connector(pairs: &[&Pair]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for pair in pairs {
        roots.add(pair.der.clone()).unwrap();
    }
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn connect(connector: &TlsConnector, authority: &str) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(authority).await.unwrap();
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

fn presented(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// Sends a GET on a kept-alive connection and reads one response head and its (short) body.
async fn get(stream: &mut TlsStream<TcpStream>, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") || !body_complete(&answer) {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(answer).unwrap()
}

fn body_complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    body.len() >= length
}

#[tokio::test]
async fn https_is_served_and_sighup_swaps_the_certificate_for_new_handshakes_only() {
    let dir = temp_dir("tls");
    let (first, second) = (new_pair(), new_pair());
    let (cert, key) = install(&first, &dir);
    let log = dir.join("stderr.log");
    let server = serve_on(
        &dir,
        None,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        "info",
        Some(&log),
    );
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let authority = server.authority().to_owned();
    let trusting_both = connector(&[&first, &second]);

    // HTTPS with the first certificate; HTTPS implies secure cookies (HSTS is sent).
    let mut kept = connect(&trusting_both, &authority).await;
    assert_eq!(presented(&kept), first.der);
    let answer = get(&mut kept, "/healthz").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("strict-transport-security:"),
        "{answer}"
    );
    // Nothing is served in the clear on the TLS port.
    let plain = crate::helpers::http_client()
        .get(format!("http://{authority}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    // The container health check speaks HTTPS too (and plain HTTP fails there).
    let check = |url: String| {
        run(&dir, &["healthcheck", "--url", &url], "")
            .status
            .success()
    };
    assert!(check(format!("https://{authority}/healthz")));
    assert!(!check(format!("http://{authority}/healthz")));

    // The second pair in place of the first, then SIGHUP: new handshakes see it.
    install(&second, &dir);
    server.signal("HUP");
    let start = Instant::now();
    loop {
        let fresh = connect(&trusting_both, &authority).await;
        if presented(&fresh) == second.der {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The connection opened before the reload goes on with its own.
    let answer = get(&mut kept, "/readyz").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // A bad key at the next SIGHUP is refused, and the pair in use stays.
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    server.signal("HUP");
    let start = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("TLS reload refused")
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no refusal logged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut after = connect(&trusting_both, &authority).await;
    assert_eq!(presented(&after), second.der);
    assert!(
        get(&mut after, "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    );
    // Only the first certificate trusted: the server's current one is not it.
    let trusting_first = connector(&[&first]);
    let tcp = TcpStream::connect(&authority).await.unwrap();
    assert!(
        trusting_first
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .is_err()
    );
}

#[test]
fn a_bad_or_mismatched_pair_stops_the_start_with_a_clear_message() {
    let dir = temp_dir("tls-bad");
    let (a, b) = (new_pair(), new_pair());
    let (cert_a, key_a) = (dir.join("a.crt"), dir.join("a.key"));
    std::fs::write(&cert_a, &a.cert_pem).unwrap();
    std::fs::write(&key_a, &a.key_pem).unwrap();
    let key_b = dir.join("b.key");
    std::fs::write(&key_b, &b.key_pem).unwrap();
    let start = |cert: &Path, key: &Path| {
        let out = run(
            &dir,
            &[
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                key.to_str().unwrap(),
            ],
            "",
        );
        assert!(!out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    let mismatched = start(&cert_a, &key_b);
    assert!(
        mismatched.contains("cannot be used together"),
        "{mismatched}"
    );
    let no_cert = start(&key_a, &key_a);
    assert!(no_cert.contains("holds no PEM certificate"), "{no_cert}");
    let missing = start(&dir.join("missing.crt"), &key_a);
    assert!(missing.contains("cannot read the certificate"), "{missing}");
    // One without the other is a usage error.
    let out = run(&dir, &["serve", "--tls-cert", cert_a.to_str().unwrap()], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}
