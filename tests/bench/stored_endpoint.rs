//! A webhook endpoint stored directly (as if added by the tab, by another instance, or when its
//! name resolved elsewhere): shared by the `webhooks` benchmark and the integration tests
//! (`#[path]`), so the two seal and store it one way.

use connect_tokens::auth::secret_key::SecretKey;
use connect_tokens::domain::webhook::Events;
use connect_tokens::domain::webhook_delivery::new_secret;
use connect_tokens::store::Store;
use connect_tokens::store::effects::Effects;
use connect_tokens::store::webhooks::EndpointSettings;

/// Stores an enabled endpoint for every event at `url`, its new secret sealed under `key` as the
/// tab seals it; returns its id and the secret.
pub async fn stored_endpoint(
    store: &Store,
    key: &SecretKey,
    url: &str,
    description: &str,
) -> (String, String) {
    let id = uuid::Uuid::new_v4().to_string();
    let secret = new_secret();
    let sealed = key.seal(&format!("webhook:{id}"), secret.as_bytes());
    let settings = EndpointSettings {
        url: url.into(),
        description: description.into(),
        events: Events::ALL,
        enabled: true,
    };
    store
        .create_webhook_endpoint(
            &id,
            &settings,
            &sealed,
            None,
            None,
            &Effects::default(),
            connect_tokens::domain::now(),
        )
        .await
        .unwrap();
    (id, secret)
}
