//! Token format: `<prefix>_<32 base62 random chars><6 base62 chars of CRC32(random)>`.
//!
//! The random part carries 32 × log2(62) ≈ 190 bits from the OS CSPRNG. The checksum lets the
//! server (and secret scanners) reject a mistyped or truncated token without a database look-up.
//! Only [`TokenHash`] (SHA-256, hex) is ever stored.

use sha2::{Digest, Sha256};
use std::fmt;

/// Number of random base62 characters in a token.
pub const RANDOM_LEN: usize = 32;
/// Number of base62 characters of the CRC32 checksum.
pub const CHECKSUM_LEN: usize = 6;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The two kinds of token; each has its own plaintext prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Acts with its user's rights as they are at request time.
    User,
    /// Limited to one fleet or one device and a set of permission types.
    DeviceDetails,
}

impl TokenKind {
    /// Every kind.
    pub const ALL: [TokenKind; 2] = [TokenKind::User, TokenKind::DeviceDetails];

    /// Plaintext prefix (before the underscore).
    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::User => "ctu",
            TokenKind::DeviceDetails => "ctd",
        }
    }

    /// Name used in storage, the API and the console.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::User => "user",
            TokenKind::DeviceDetails => "device_details",
        }
    }

    /// Human label.
    pub fn label(self) -> &'static str {
        match self {
            TokenKind::User => "User token",
            TokenKind::DeviceDetails => "Device details token",
        }
    }

    /// Inverse of [`TokenKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(TokenKind::User),
            "device_details" => Some(TokenKind::DeviceDetails),
            _ => None,
        }
    }

    fn from_prefix(s: &str) -> Option<Self> {
        TokenKind::ALL.into_iter().find(|k| k.prefix() == s)
    }
}

/// A token's plaintext. Its `Debug` never prints the secret.
pub struct PlainToken(String);

impl PlainToken {
    /// The secret itself: only for the one response that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainToken(<redacted>)")
    }
}

/// SHA-256 digest of a token plaintext, hex-encoded: what the database stores and looks up.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash(String);

impl TokenHash {
    /// Hash of a plaintext token.
    pub fn of(plaintext: &str) -> Self {
        TokenHash(sha256_hex(plaintext.as_bytes()))
    }

    /// Hex string for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

/// Hex SHA-256 of bytes (also used for session ids).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// A freshly generated token: the plaintext (shown once), its hash and display hint.
#[derive(Debug)]
pub struct GeneratedToken {
    /// Kind of the token.
    pub kind: TokenKind,
    /// The secret, for the single response that shows it.
    pub plaintext: PlainToken,
    /// What is stored.
    pub hash: TokenHash,
    /// Prefix and last four characters, safe to list.
    pub hint: String,
}

/// `n` base62 characters from the OS CSPRNG, uniformly distributed (rejection sampling).
pub fn random_base62(n: usize) -> String {
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        getrandom::fill(&mut buf).expect("the OS random number generator failed");
        // 248 = 4 × 62: bytes at or above it are dropped so every character is equally likely.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == n {
                break;
            }
            out.push(char::from(BASE62[usize::from(b % 62)]));
        }
    }
    out
}

fn checksum(random: &str) -> String {
    let mut value = u64::from(crc32fast::hash(random.as_bytes()));
    let mut digits = [b'0'; CHECKSUM_LEN];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(digits.to_vec()).expect("base62 is ASCII")
}

/// Generates a new token of `kind`.
pub fn generate(kind: TokenKind) -> GeneratedToken {
    let random = random_base62(RANDOM_LEN);
    let plaintext = format!("{}_{}{}", kind.prefix(), random, checksum(&random));
    GeneratedToken {
        kind,
        hash: TokenHash::of(&plaintext),
        hint: hint(&plaintext),
        plaintext: PlainToken(plaintext),
    }
}

/// The display hint of a plaintext: prefix and last four characters.
pub fn hint(plaintext: &str) -> String {
    let (prefix, _) = plaintext.split_once('_').unwrap_or(("", ""));
    let tail = &plaintext[plaintext.len().saturating_sub(4)..];
    format!("{prefix}_…{tail}")
}

/// Why a presented token was refused before any database work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    /// Unknown or missing prefix.
    #[error("unknown token prefix")]
    Prefix,
    /// Wrong length or characters outside base62.
    #[error("malformed token")]
    Malformed,
    /// The checksum does not match: mistyped or truncated.
    #[error("token checksum mismatch")]
    Checksum,
}

/// Checks a presented token offline and returns its kind and hash for the look-up.
pub fn parse(presented: &str) -> Result<(TokenKind, TokenHash), TokenFormatError> {
    let (prefix, body) = presented.split_once('_').ok_or(TokenFormatError::Prefix)?;
    let kind = TokenKind::from_prefix(prefix).ok_or(TokenFormatError::Prefix)?;
    if body.len() != RANDOM_LEN + CHECKSUM_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(TokenFormatError::Malformed);
    }
    let (random, sum) = body.split_at(RANDOM_LEN);
    if checksum(random) != sum {
        return Err(TokenFormatError::Checksum);
    }
    Ok((kind, TokenHash::of(presented)))
}

/// Whether `s` may hold a token: a token prefix followed by `_` (or its percent-encoding
/// `%5F`) anywhere in it, valid token or not. For keeping secrets pasted into the wrong place
/// (a URL path) out of the logs, so it errs on the side of caution.
pub fn may_contain_token(s: &str) -> bool {
    TokenKind::ALL.into_iter().any(|kind| {
        s.match_indices(kind.prefix()).any(|(i, p)| {
            let rest = &s[i + p.len()..];
            rest.starts_with('_') || rest.get(..3).is_some_and(|r| r.eq_ignore_ascii_case("%5f"))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_that_may_hold_a_token_are_spotted() {
        let t = generate(TokenKind::DeviceDetails);
        let u = generate(TokenKind::User);
        for s in [
            t.plaintext.expose().to_owned(),
            u.plaintext.expose().to_owned(),
            format!("x{}", t.plaintext.expose()),
            t.plaintext.expose().replace('_', "%5F"),
            u.plaintext.expose().replace('_', "%5f"),
            "ctd_typo".to_owned(),
        ] {
            assert!(may_contain_token(&s), "{s:.6}");
        }
        for s in [
            "",
            "d-00cb-fe25",
            "alpha",
            "ctd",
            "ctdx_1",
            "ct_u",
            "ctu%5",
            "%5fctd",
        ] {
            assert!(!may_contain_token(s), "{s}");
        }
    }

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        for kind in TokenKind::ALL {
            let t = generate(kind);
            let s = t.plaintext.expose();
            assert!(s.starts_with(&format!("{}_", kind.prefix())));
            assert_eq!(s.len(), 4 + RANDOM_LEN + CHECKSUM_LEN);
            // A double click selects the whole token: word characters only.
            assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            assert_eq!(s.matches('_').count(), 1);
            let (parsed_kind, hash) = parse(s).expect("own tokens parse");
            assert_eq!(parsed_kind, kind);
            assert_eq!(hash, t.hash);
            assert_eq!(t.hint, format!("{}_…{}", kind.prefix(), &s[s.len() - 4..]));
        }
    }

    #[test]
    fn tokens_carry_at_least_160_random_bits() {
        let bits = RANDOM_LEN as f64 * 62f64.log2();
        assert!(bits >= 160.0, "{bits}");
    }

    #[test]
    fn tokens_are_unique_and_use_the_whole_alphabet() {
        let mut seen = std::collections::HashSet::new();
        let mut chars = std::collections::HashSet::new();
        for _ in 0..2000 {
            let t = generate(TokenKind::DeviceDetails);
            chars.extend(t.plaintext.expose()[4..4 + RANDOM_LEN].chars());
            assert!(seen.insert(t.plaintext.expose().to_owned()));
        }
        assert_eq!(chars.len(), 62);
    }

    #[test]
    fn every_single_character_change_is_caught() {
        let t = generate(TokenKind::User);
        let s = t.plaintext.expose();
        let mut caught = 0;
        for i in 4..s.len() {
            for c in ['0', 'a', 'Z', 'q'] {
                if s.as_bytes()[i] == c as u8 {
                    continue;
                }
                let mut m = s.as_bytes().to_vec();
                m[i] = c as u8;
                let m = String::from_utf8(m).unwrap();
                assert_eq!(parse(&m).unwrap_err(), TokenFormatError::Checksum, "{i}");
                caught += 1;
            }
        }
        assert!(caught > 100);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = generate(TokenKind::DeviceDetails);
        let s = good.plaintext.expose();
        let cases = [
            ("", TokenFormatError::Prefix),
            ("ctd", TokenFormatError::Prefix),
            ("xyz_abc", TokenFormatError::Prefix),
            (&s[4..], TokenFormatError::Prefix),
            (&s[..s.len() - 1], TokenFormatError::Malformed),
            ("ctd_", TokenFormatError::Malformed),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input).unwrap_err(), want, "{input:?}");
        }
        let longer = format!("{s}0");
        assert_eq!(parse(&longer).unwrap_err(), TokenFormatError::Malformed);
        let non_ascii = format!("ctd_{}é", &s[4..s.len() - 2]);
        assert_eq!(parse(&non_ascii).unwrap_err(), TokenFormatError::Malformed);
        let swapped = format!("ctu_{}", &s[4..]);
        // Same body, other prefix: parses as the other kind but hashes differently.
        let (kind, hash) = parse(&swapped).unwrap();
        assert_eq!(kind, TokenKind::User);
        assert_ne!(hash, good.hash);
    }

    #[test]
    fn checksum_is_six_base62_characters_of_crc32() {
        assert_eq!(checksum(""), "000000");
        // CRC32("123456789") = 0xCBF43926 = 3421780262 = base62 "3jZRME"
        assert_eq!(checksum("123456789"), "3jZRME");
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let t = generate(TokenKind::User);
        let dbg = format!("{t:?}");
        assert!(!dbg.contains(t.plaintext.expose()));
        assert!(!dbg.contains(t.hash.as_str()));
    }
}
