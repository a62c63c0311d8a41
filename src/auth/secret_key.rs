//! The key that encrypts secrets the server must read back (TOTP secrets), kept out of the
//! database: a 32-byte key file, made at first start with mode 0600, or named by
//! `--secret-key-file`. Every instance on one PostgreSQL database must be given the same file.
//!
//! Encryption is XChaCha20-Poly1305 with a random 192-bit nonce per value and the owner's id as
//! associated data, so a ciphertext copied to another user's row does not decrypt.

use std::io::Write;
use std::path::Path;

use chacha20poly1305::aead::Aead;
use chacha20poly1305::aead::Payload;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};

/// Format tag of stored ciphertexts (`v1.` + hex of nonce and ciphertext).
const VERSION: &str = "v1.";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// The secret-encryption key. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct SecretKey([u8; KEY_LEN]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or creating it failed.
    #[error("secret key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// It does not hold 64 hexadecimal digits.
    #[error("secret key file {0} does not hold a key (64 hexadecimal digits)")]
    Malformed(String),
    /// Others than its owner may read it.
    #[error("secret key file {0} may be read by others than its owner: chmod 600 it")]
    TooOpen(String),
}

impl SecretKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key).expect("the OS random number generator failed");
        SecretKey(key)
    }

    /// Reads the key in `path`, or makes one there (mode 0600, never overwriting) when the file
    /// does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyFileError> {
        let shown = path.display().to_string();
        let io = |source| KeyFileError::Io {
            path: shown.clone(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                refuse_open_permissions(path, &shown)?;
                Self::from_hex(text.trim()).ok_or(KeyFileError::Malformed(shown))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Written whole under a temporary name, then linked into place: another process
                // starting at the same moment sees no file or a whole one, never half of it.
                let key = Self::generate();
                let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let written = options.open(&tmp).and_then(|mut file| {
                    writeln!(file, "{}", hex(&key.0))?;
                    file.sync_all()
                });
                let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
                let _ = std::fs::remove_file(&tmp);
                match linked {
                    Ok(()) => Ok(key),
                    // Another process made it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::load_or_create(path)
                    }
                    Err(e) => Err(io(e)),
                }
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A one-way check value of the key: stored in the database at first start, so that an
    /// instance given another key refuses to start instead of failing every code.
    pub fn check_value(&self) -> String {
        let mut input = b"connect-tokens secret key check\0".to_vec();
        input.extend_from_slice(&self.0);
        crate::domain::token::sha256_hex(&input)
    }

    fn from_hex(text: &str) -> Option<Self> {
        let bytes = unhex(text)?;
        Some(SecretKey(bytes.try_into().ok()?))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }

    /// Encrypts `plaintext` for the owner `owner`.
    pub fn seal(&self, owner: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the OS random number generator failed");
        let sealed = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: owner.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any length we store");
        format!("{VERSION}{}{}", hex(&nonce), hex(&sealed))
    }

    /// Decrypts what [`SecretKey::seal`] made for `owner`; `None` when it was made with another
    /// key, for another owner, or altered.
    pub fn open(&self, owner: &str, stored: &str) -> Option<Vec<u8>> {
        let bytes = unhex(stored.strip_prefix(VERSION)?)?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: owner.as_bytes(),
                },
            )
            .ok()
    }
}

/// Refuses `key` (read from `shown`) when the database's secrets were sealed with another: every
/// instance on one database must be given the same key file.
pub async fn check_against(
    store: &crate::store::Store,
    key: &SecretKey,
    shown: &str,
) -> Result<(), String> {
    let recorded = store
        .secret_key_check(&key.check_value())
        .await
        .map_err(|e| e.to_string())?;
    if recorded != key.check_value() {
        return Err(format!(
            "the secret key in {shown} is not the one this database's secrets were sealed with: \
             give every instance the same --secret-key-file"
        ));
    }
    Ok(())
}

#[cfg(unix)]
fn refuse_open_permissions(path: &Path, shown: &str) -> Result<(), KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|source| KeyFileError::Io {
            path: shown.to_owned(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen(shown.to_owned()));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_open_permissions(_: &Path, _: &str) -> Result<(), KeyFileError> {
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_owner() {
        let key = SecretKey::generate();
        let sealed = key.seal("user-1", b"JBSWY3DPEHPK3PXP");
        assert!(sealed.starts_with("v1."));
        assert_eq!(key.open("user-1", &sealed).unwrap(), b"JBSWY3DPEHPK3PXP");
        assert!(key.open("user-2", &sealed).is_none(), "bound to its owner");
        assert!(SecretKey::generate().open("user-1", &sealed).is_none());
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'0' { b'1' } else { b'0' };
        assert!(
            key.open("user-1", &String::from_utf8(altered).unwrap())
                .is_none()
        );
        assert_ne!(
            sealed,
            key.seal("user-1", b"JBSWY3DPEHPK3PXP"),
            "fresh nonce"
        );
        assert!(key.open("user-1", "v1.zz").is_none());
        assert!(key.open("user-1", "").is_none());
    }

    #[test]
    fn the_key_file_is_made_once_with_mode_0600_and_read_back() {
        let dir = std::env::temp_dir().join(format!("ct-key-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret.key");
        let made = SecretKey::load_or_create(&path).unwrap();
        let sealed = made.seal("u", b"x");
        let read = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(read.open("u", &sealed).unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                SecretKey::load_or_create(&path),
                Err(KeyFileError::TooOpen(_))
            ));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::write(&path, "not hex\n").unwrap();
        assert!(matches!(
            SecretKey::load_or_create(&path),
            Err(KeyFileError::Malformed(_))
        ));
        assert!(format!("{made:?}").contains('…'));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
