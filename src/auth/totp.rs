//! Authenticator apps (TOTP, RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, one step either
//! side accepted), their `otpauth://` URI and its QR code as inline SVG (no image service).
//!
//! A code is matched to the step it belongs to; the caller accepts it only when that step is
//! newer than the last one accepted for the user, so no code works twice.

use totp_rs::{Algorithm, Builder, Secret, Totp};

/// Issuer shown by authenticator apps.
pub const ISSUER: &str = "connect-tokens";
/// Seconds per step.
pub const STEP_SECS: u64 = 30;
/// Random bytes in a new secret (160 bits, as RFC 4226 recommends).
const SECRET_LEN: usize = 20;

/// A new random TOTP secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_LEN];
    getrandom::fill(&mut secret).expect("the OS random number generator failed");
    secret
}

fn totp(secret: &[u8]) -> Totp {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP_SECS)
        .with_secret(secret.to_vec())
        .build_noncompliant()
}

/// The secret as people type it: base32 in groups of four.
pub fn secret_text(secret: &[u8]) -> String {
    let b32 = Secret::from(secret.to_vec()).to_base32();
    b32.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `code` looks like an authenticator code (six digits, spaces allowed).
pub fn looks_like_code(code: &str) -> bool {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The step (unix time / 30) whose code `code` is, within one step of `now`; `None` when it
/// is no valid code now.
pub fn matching_step(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    if !looks_like_code(code) || now < 0 {
        return None;
    }
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let step = totp(secret).check(&digits, now as u64)?;
    i64::try_from(step).ok()
}

/// The code of `secret` at unix time `at` (for tests and the test suite's authenticator).
pub fn code_at(secret: &[u8], at: i64) -> String {
    totp(secret).generate(at.max(0) as u64).to_string()
}

/// The `otpauth://totp/…` URI an authenticator app scans.
pub fn otpauth_uri(account: &str, secret: &[u8]) -> String {
    let b32 = Secret::from(secret.to_vec()).to_base32();
    format!(
        "otpauth://totp/{issuer}:{account}?secret={b32}&issuer={issuer}&algorithm=SHA1&digits=6&period={STEP_SECS}",
        issuer = percent_encode(ISSUER),
        account = percent_encode(account),
    )
}

fn percent_encode(text: &str) -> String {
    use std::fmt::Write;
    text.bytes().fold(String::new(), |mut s, b| {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(b as char);
        } else {
            let _ = write!(s, "%{b:02X}");
        }
        s
    })
}

/// `uri` as a QR code: an `<svg>` element to put in the page (dark on white, whatever the
/// page's colours, so that cameras read it), labelled for screen readers.
pub fn qr_svg(uri: &str) -> String {
    let code = qrcode::QrCode::new(uri.as_bytes()).expect("an otpauth URI fits a QR code");
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    let start = svg.find("<svg").unwrap_or(0);
    svg[start..].replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code of the authenticator app secret\" class=\"qr\" ",
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 (the 8-digit values' last six digits).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (at, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at(secret, at), code, "at {at}");
        }
    }

    #[test]
    fn codes_match_their_step_within_one_step_either_side() {
        let secret = new_secret();
        let now = 1_800_000_015;
        let step = now / 30;
        assert_eq!(
            matching_step(&secret, &code_at(&secret, now), now),
            Some(step)
        );
        assert_eq!(
            matching_step(&secret, &code_at(&secret, now - 30), now),
            Some(step - 1)
        );
        assert_eq!(
            matching_step(&secret, &code_at(&secret, now + 30), now),
            Some(step + 1)
        );
        assert_eq!(
            matching_step(&secret, &code_at(&secret, now - 60), now),
            None
        );
        assert_eq!(
            matching_step(&secret, &code_at(&secret, now + 60), now),
            None
        );
        let spaced = code_at(&secret, now);
        let spaced = format!("{} {}", &spaced[..3], &spaced[3..]);
        assert_eq!(matching_step(&secret, &spaced, now), Some(step));
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "abcdef", now), None);
        assert_eq!(matching_step(&secret, "", now), None);
    }

    #[test]
    fn uri_secret_text_and_qr() {
        let secret = b"12345678901234567890";
        assert_eq!(
            secret_text(secret),
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"
        );
        assert_eq!(
            otpauth_uri("ann smith", secret),
            "otpauth://totp/connect-tokens:ann%20smith?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=connect-tokens&algorithm=SHA1&digits=6&period=30"
        );
        let svg = qr_svg(&otpauth_uri("ann", secret));
        assert!(svg.starts_with("<svg role=\"img\""), "{svg:.80}");
        assert!(svg.ends_with("</svg>") && !svg.contains("<?xml"));
        assert!(!svg.contains("style"), "no inline style under the CSP");
    }
}
