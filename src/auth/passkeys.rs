//! Passkeys (WebAuthn) through webauthn-rs: registration of discoverable credentials (so that
//! they also sign in without a username), their use as the second step, and passwordless
//! sign-in. A ceremony's state is kept in the database between its two requests (any instance
//! may answer the second), never in the browser.
//!
//! The relying party is `--public-url`; without it, a server on a loopback address serves
//! `http://localhost` on any port (browsers refuse WebAuthn on a bare IP address).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn,
    WebauthnBuilder,
};

/// Seconds a ceremony may take between its two requests (the browser's own time-out).
pub const CEREMONY_SECS: i64 = 300;

/// Where a ceremony's state is kept: `purpose` (`register`, `second-step`, `sign-in`) and the
/// secret that anchors it (session id hash or pre-sign-in cookie), hashed again.
pub fn ceremony_key(purpose: &str, anchor: &str) -> String {
    crate::domain::token::sha256_hex(format!("webauthn:{purpose}:{anchor}").as_bytes())
}

/// Why a ceremony failed (what the browser sent does not hold up).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CeremonyError(String);

fn failed(e: impl std::fmt::Display) -> CeremonyError {
    CeremonyError(e.to_string())
}

/// The relying party.
#[derive(Debug, Clone)]
pub struct Passkeys {
    webauthn: Webauthn,
}

impl Passkeys {
    /// Passkeys for `public_url`, or without one for `http://localhost` when the server listens
    /// on a loopback address (`Ok(None)`: no passkeys on this server).
    pub fn configure(public_url: Option<&str>, loopback: bool) -> Result<Option<Self>, String> {
        let (origin, any_port) = match public_url {
            Some(u) => {
                let url = Url::parse(u).map_err(|e| format!("--public-url {u}: {e}"))?;
                if !matches!(url.scheme(), "https" | "http") || url.domain().is_none() {
                    return Err(format!(
                        "--public-url {u}: give the console's https:// address by name (passkeys refuse IP addresses)"
                    ));
                }
                (url, false)
            }
            None if loopback => (Url::parse("http://localhost").expect("a URL"), true),
            None => return Ok(None),
        };
        let rp_id = origin.domain().expect("checked above").to_owned();
        let webauthn = WebauthnBuilder::new(&rp_id, &origin)
            .and_then(|b| b.rp_name("connect-tokens").allow_any_port(any_port).build())
            .map_err(|e| format!("passkeys for {origin}: {e}"))?;
        Ok(Some(Passkeys { webauthn }))
    }

    /// Options for `navigator.credentials.create()` and the state to keep, for the user with
    /// WebAuthn handle `handle` who already has `existing` passkeys. The credential must be
    /// discoverable (resident), so that it can sign in without a username too.
    pub fn start_registration(
        &self,
        handle: Uuid,
        username: &str,
        display_name: &str,
        existing: &[Passkey],
    ) -> Result<(serde_json::Value, String), CeremonyError> {
        let exclude = existing.iter().map(|p| p.cred_id().clone()).collect();
        let (options, state) = self
            .webauthn
            .start_passkey_registration(handle, username, display_name, Some(exclude))
            .map_err(failed)?;
        let mut options = serde_json::to_value(&options).map_err(failed)?;
        let selection = &mut options["publicKey"]["authenticatorSelection"];
        selection["residentKey"] = "required".into();
        selection["requireResidentKey"] = true.into();
        Ok((options, serde_json::to_string(&state).map_err(failed)?))
    }

    /// The new passkey from the browser's `credential` (JSON) and the kept `state`.
    pub fn finish_registration(
        &self,
        credential: &str,
        state: &str,
    ) -> Result<Passkey, CeremonyError> {
        let credential: RegisterPublicKeyCredential =
            serde_json::from_str(credential).map_err(failed)?;
        let state: PasskeyRegistration = serde_json::from_str(state).map_err(failed)?;
        self.webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(failed)
    }

    /// Options for `navigator.credentials.get()` limited to `keys` (the second step).
    pub fn start_authentication(
        &self,
        keys: &[Passkey],
    ) -> Result<(serde_json::Value, String), CeremonyError> {
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(keys)
            .map_err(failed)?;
        Ok((
            serde_json::to_value(&options).map_err(failed)?,
            serde_json::to_string(&state).map_err(failed)?,
        ))
    }

    /// Checks the browser's assertion against the second step's `state`.
    pub fn finish_authentication(
        &self,
        credential: &PublicKeyCredential,
        state: &str,
    ) -> Result<AuthenticationResult, CeremonyError> {
        let state: PasskeyAuthentication = serde_json::from_str(state).map_err(failed)?;
        self.webauthn
            .finish_passkey_authentication(credential, &state)
            .map_err(failed)
    }

    /// Options for a sign-in with any of this site's passkeys (no username), as a modal
    /// request rather than autofill.
    pub fn start_discoverable(&self) -> Result<(serde_json::Value, String), CeremonyError> {
        let (mut options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(failed)?;
        options.mediation = None;
        Ok((
            serde_json::to_value(&options).map_err(failed)?,
            serde_json::to_string(&state).map_err(failed)?,
        ))
    }

    /// The user handle and credential id an assertion claims (not yet verified).
    pub fn identify(
        &self,
        credential: &PublicKeyCredential,
    ) -> Result<(Uuid, String), CeremonyError> {
        let (handle, id) = self
            .webauthn
            .identify_discoverable_authentication(credential)
            .map_err(failed)?;
        Ok((handle, URL_SAFE_NO_PAD.encode(id)))
    }

    /// Checks a passwordless assertion against `state` and the stored passkey it names.
    pub fn finish_discoverable(
        &self,
        credential: &PublicKeyCredential,
        state: &str,
        key: &Passkey,
    ) -> Result<AuthenticationResult, CeremonyError> {
        let state: DiscoverableAuthentication = serde_json::from_str(state).map_err(failed)?;
        self.webauthn
            .finish_discoverable_authentication_v2(credential, state, key)
            .map_err(failed)
    }
}

/// An assertion from the browser's JSON.
pub fn parse_assertion(json: &str) -> Result<PublicKeyCredential, CeremonyError> {
    serde_json::from_str(json).map_err(failed)
}

/// The credential id as stored and as browsers name it (base64url).
pub fn credential_id(key: &Passkey) -> String {
    URL_SAFE_NO_PAD.encode(key.cred_id())
}

/// A user's WebAuthn handle: their id (a UUID).
pub fn user_handle(user_id: &str) -> Option<Uuid> {
    Uuid::parse_str(user_id).ok()
}

/// The stored form of a passkey.
pub fn to_stored(key: &Passkey) -> String {
    serde_json::to_string(key).expect("a passkey serialises")
}

/// A stored passkey.
pub fn from_stored(json: &str) -> Option<Passkey> {
    serde_json::from_str(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert!(Passkeys::configure(None, true).unwrap().is_some());
        assert!(Passkeys::configure(None, false).unwrap().is_none());
        assert!(
            Passkeys::configure(Some("https://tokens.example.com"), false)
                .unwrap()
                .is_some()
        );
        assert!(Passkeys::configure(Some("https://192.0.2.1"), false).is_err());
        assert!(Passkeys::configure(Some("not a url"), false).is_err());
    }

    #[test]
    fn registration_asks_for_a_discoverable_credential_that_verifies_its_user() {
        let p = Passkeys::configure(None, true).unwrap().unwrap();
        let handle = Uuid::new_v4();
        let (options, state) = p.start_registration(handle, "ann", "Ann", &[]).unwrap();
        let sel = &options["publicKey"]["authenticatorSelection"];
        assert_eq!(sel["residentKey"], "required");
        assert_eq!(sel["userVerification"], "required");
        assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
        assert!(!state.is_empty());
        assert!(p.finish_registration("{}", &state).is_err());
        let (login, _) = p.start_discoverable().unwrap();
        assert!(
            login
                .get("mediation")
                .is_none_or(serde_json::Value::is_null)
        );
    }
}
