//! HTTPS: the certificate and key (PEM files) loaded into a rustls configuration, which a reload
//! (SIGHUP) swaps for new handshakes while open connections keep theirs. A pair that does not
//! load — unreadable, not PEM, no certificate, a key that does not match — is refused with a
//! message naming the file, and at a reload the pair in use stays.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The HTTPS settings in force, and where they were read from.
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<TlsAcceptor>,
}

impl Tls {
    /// Loads the pair, or says what is wrong with it.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, String> {
        let config = server_config(cert, key)?;
        Ok(Tls {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: RwLock::new(TlsAcceptor::from(Arc::new(config))),
        })
    }

    /// Reads the files again; on success new handshakes use them, on failure nothing changes.
    pub fn reload(&self) -> Result<(), String> {
        let config = server_config(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) =
            TlsAcceptor::from(Arc::new(config));
        Ok(())
    }

    /// What performs the next handshake.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A rustls server configuration (TLS 1.2 and 1.3, HTTP/1.1) from PEM files.
fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, String> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "the certificate file {} holds no PEM certificate",
            cert.display()
        ));
    }
    let private_key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the private key {}: {e}", key.display()))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, private_key)
        .map_err(|e| {
            format!(
                "the certificate {} and the key {} cannot be used together: {e}",
                cert.display(),
                key.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        (cert, key)
    }

    #[test]
    fn good_pairs_load_and_bad_ones_are_named() {
        let dir = std::env::temp_dir().join(format!("ct-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert_a, key_a) = pair(&dir, "a");
        let (cert_b, key_b) = pair(&dir, "b");
        assert!(Tls::load(&cert_a, &key_a).is_ok());
        let mismatched = Tls::load(&cert_a, &key_b).err().unwrap();
        assert!(
            mismatched.contains("cannot be used together"),
            "{mismatched}"
        );
        let swapped = Tls::load(&key_a, &cert_a).err().unwrap();
        assert!(swapped.contains("holds no PEM certificate"), "{swapped}");
        let missing = Tls::load(&dir.join("none.crt"), &key_a).err().unwrap();
        assert!(missing.contains("cannot read the certificate"), "{missing}");

        // A reload that fails keeps the pair in use; one that works takes the new one.
        let tls = Tls::load(&cert_a, &key_a).unwrap();
        std::fs::write(&key_a, "not a key").unwrap();
        assert!(tls.reload().is_err());
        std::fs::copy(&cert_b, &cert_a).unwrap();
        std::fs::copy(&key_b, &key_a).unwrap();
        assert!(tls.reload().is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
