//! Recovery codes: ten single-use codes of ten characters (50 random bits each) from an
//! alphabet without look-alikes, shown once and stored as SHA-256 bound to their user.

use crate::domain::token::sha256_hex;

/// Codes made at a time.
pub const COUNT: usize = 10;
/// Crockford's base32, lower case: no i, l, o or u.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Ten new codes, formatted `xxxxx-xxxxx`.
pub fn generate() -> Vec<String> {
    (0..COUNT).map(|_| one()).collect()
}

fn one() -> String {
    let mut buf = [0u8; 10];
    getrandom::fill(&mut buf).expect("the OS random number generator failed");
    let chars: String = buf
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// The code as stored, whatever the case, spaces and dashes it was typed with (and with
/// Crockford's look-alikes read as the digits they stand for); `None` when it cannot be a code.
pub fn normalize(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        })
        .collect();
    (code.len() == 10 && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// What the database keeps of `code` (normalised) for `user_id`.
pub fn hash(user_id: &str, code: &str) -> String {
    sha256_hex(format!("recovery:{user_id}:{code}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_ten_distinct_well_formed_values() {
        let codes = generate();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        for c in &codes {
            assert_eq!(c.len(), 11);
            assert_eq!(&c[5..6], "-");
            assert_eq!(normalize(c).unwrap(), c.replace('-', ""));
        }
    }

    #[test]
    fn typing_variations_are_forgiven_and_junk_refused() {
        assert_eq!(normalize(" AB3DE-FG7HJ ").unwrap(), "ab3defg7hj");
        assert_eq!(normalize("ab3de fg7hj").unwrap(), "ab3defg7hj");
        assert_eq!(normalize("oOiIl-00111").unwrap(), "0011100111");
        assert!(normalize("ab3de-fg7h").is_none());
        assert!(
            normalize("ab3de-fg7hu").is_none(),
            "u is not in the alphabet"
        );
        assert!(normalize("123456").is_none());
        assert_ne!(hash("u1", "ab3defg7hj"), hash("u2", "ab3defg7hj"));
    }
}
