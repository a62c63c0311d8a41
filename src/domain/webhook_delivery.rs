//! How a webhook delivery is made, as the Standard Webhooks specification says: the `whsec_`
//! signing secret, the `v1,` signature over `id.timestamp.body`, and when a failed delivery is
//! tried again.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit, Mac};

/// A signing secret's prefix.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    format!("{SECRET_PREFIX}{}", B64.encode(bytes))
}

/// The key bytes of a `whsec_` secret.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    let key = B64.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?;
    (key.len() >= 24).then_some(key)
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` under `key`.
pub fn signature(key: &[u8], msg_id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// How long after a rotation the old secret still signs (beside the new one), so a receiver
/// can switch without losing a message.
pub const OLD_SECRET_SECS: i64 = 86_400;

/// Retries go on for this long after the event.
pub const RETRY_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// The longest wait between two attempts.
const MAX_DELAY_MS: i64 = 8 * 3600 * 1000;

/// When to try again after `attempts` failed attempts of an event made at `created_ms`, the
/// last at `now_ms`: `first_ms` after the first failure, four times longer after each next
/// (capped at 8 hours), `jitter` (0.0–1.0) spreading it by up to ±10 %; a last attempt at the
/// window's end; none after 24 hours. With `first_ms` = 30 s: 30 s, 2 min, 8 min, 32 min,
/// 2 h 8 min, 8 h, 8 h, then the 24-hour mark: 9 attempts.
pub fn next_attempt_ms(
    created_ms: i64,
    attempts: i64,
    now_ms: i64,
    first_ms: i64,
    jitter: f64,
) -> Option<i64> {
    let end = created_ms + RETRY_WINDOW_MS;
    if attempts < 1 || now_ms >= end {
        return None;
    }
    let exp = u32::try_from(attempts - 1).unwrap_or(u32::MAX).min(20);
    let base = first_ms
        .saturating_mul(4i64.saturating_pow(exp))
        .min(MAX_DELAY_MS);
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let spread = ((jitter.clamp(0.0, 1.0) - 0.5) * 0.2 * base as f64) as i64;
    Some((now_ms + base + spread).min(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_specification_example() {
        // The Standard Webhooks reference libraries' test vector.
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_prefixed_long_and_random() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.starts_with("whsec_") && a != b);
        assert_eq!(secret_key(&a).unwrap().len(), 32);
        assert!(
            secret_key("whsec_c2hvcnQ=").is_none(),
            "5 bytes is too short"
        );
        assert!(secret_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
    }

    #[test]
    fn retries_back_off_for_a_day() {
        for jitter in [0.0, 0.5, 1.0] {
            let (mut now, mut attempts, mut delays) = (0, 1, vec![]);
            while let Some(next) = next_attempt_ms(0, attempts, now, 30_000, jitter) {
                delays.push(next - now);
                now = next;
                attempts += 1;
            }
            assert!(delays[0] <= 60_000, "first retry within a minute");
            // Each wait is four times the last (±10 %) until the 8-hour cap, then the cap, and
            // the last one is cut at the 24-hour mark.
            for w in delays[..delays.len() - 1].windows(2) {
                assert!(
                    w[1] == w[0] || (w[1] > 3 * w[0] && w[1] < 5 * w[0]),
                    "{delays:?}"
                );
                assert!(w[1] <= MAX_DELAY_MS * 11 / 10);
            }
            assert!(attempts >= 6, "{attempts} attempts");
            assert_eq!(now, RETRY_WINDOW_MS, "the last one at the 24-hour mark");
        }
        let low = next_attempt_ms(0, 1, 0, 30_000, 0.0).unwrap();
        let high = next_attempt_ms(0, 1, 0, 30_000, 1.0).unwrap();
        assert_eq!((low, high), (27_000, 33_000));
        assert_eq!(next_attempt_ms(0, 0, 0, 30_000, 0.5), None);
        assert_eq!(next_attempt_ms(0, 3, RETRY_WINDOW_MS, 30_000, 0.5), None);
    }
}
