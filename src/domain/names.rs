//! Validation of fleet keys, device UUIDs, descriptions and other names.

/// Checks a fleet key: lowercase ASCII letters/digits, starts with a letter, 2–32 chars.
pub fn validate_fleet_key(key: &str) -> Result<(), &'static str> {
    let ok_len = (2..=32).contains(&key.len());
    let ok_start = key.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    let ok_chars = key
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok_len && ok_start && ok_chars {
        Ok(())
    } else {
        Err("A fleet key is 2–32 lowercase letters or digits and starts with a letter.")
    }
}

/// Whether `s` is a device UUID in Connect style: `d-xxxx-xxxx`, lowercase hex.
pub fn is_device_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11
        && b[0] == b'd'
        && b[1] == b'-'
        && b[6] == b'-'
        && b[2..6]
            .iter()
            .chain(&b[7..11])
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// Normalises a device UUID as typed (trim, lower-case); `None` when it cannot be one.
pub fn normalize_device_uuid(s: &str) -> Option<String> {
    let s = s.trim().to_ascii_lowercase();
    is_device_uuid(&s).then_some(s)
}

/// A new random device UUID.
pub fn new_device_uuid() -> String {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).expect("the OS random number generator failed");
    format!("d-{:02x}{:02x}-{:02x}{:02x}", b[0], b[1], b[2], b[3])
}

/// Maximum length of a token description, in characters.
pub const DESCRIPTION_MAX: usize = 255;

/// Trims and checks a required token description (≤ 255 characters, one line, nothing that
/// displays as something else).
pub fn validate_description(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("Enter a description.".into());
    }
    let n = s.chars().count();
    if n > DESCRIPTION_MAX {
        return Err(format!(
            "The description can be at most {DESCRIPTION_MAX} characters (it has {n})."
        ));
    }
    if let Err(e) = super::text::check_one_line(s) {
        return Err(format!("The description {e}."));
    }
    Ok(s.to_owned())
}

/// Checks a username: 2–64 chars of letters, digits, `.`, `_`, `-`.
pub fn validate_username(s: &str) -> Result<(), &'static str> {
    let ok = (2..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err("A username is 2–64 letters, digits, dots, dashes or underscores.")
    }
}

/// Normalises a device tag (lower-case) and checks it: 1–64 of letters, digits, `_.:-`.
pub fn normalize_tag(s: &str) -> Result<String, String> {
    let t = s.trim().to_ascii_lowercase();
    let ok = (1..=64).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok {
        Ok(t)
    } else {
        Err(format!(
            "Invalid tag {s:?}: tags are 1–64 letters, digits, '_', '.', ':' or '-'."
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_keys() {
        for good in ["demo", "ab", "a1", "fleet2026", &"a".repeat(32)] {
            assert!(validate_fleet_key(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "1ab",
            "Demo",
            "de-mo",
            "de_mo",
            "démo",
            &"a".repeat(33),
        ] {
            assert!(validate_fleet_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn device_uuids() {
        assert!(is_device_uuid("d-0a1b-ffee"));
        for bad in [
            "d-0a1b-ffe",
            "d-0A1B-ffee",
            "x-0a1b-ffee",
            "d-0a1bffee0",
            "d-0a1g-ffee",
            "",
        ] {
            assert!(!is_device_uuid(bad), "{bad}");
        }
        assert_eq!(
            normalize_device_uuid(" D-0A1B-FFEE "),
            Some("d-0a1b-ffee".into())
        );
        for _ in 0..100 {
            assert!(is_device_uuid(&new_device_uuid()));
        }
    }

    #[test]
    fn descriptions() {
        assert_eq!(
            validate_description("  CI pipeline "),
            Ok("CI pipeline".into())
        );
        assert!(validate_description("   ").is_err());
        assert!(validate_description(&"é".repeat(255)).is_ok());
        assert!(validate_description(&"é".repeat(256)).is_err());
        assert!(validate_description("a\u{0}b").is_err());
        assert!(
            validate_description("deploy \u{202E}gnp.exe")
                .unwrap_err()
                .contains("bidirectional")
        );
        assert!(validate_description("zero\u{200B}width").is_err());
    }

    #[test]
    fn usernames_and_tags() {
        assert!(validate_username("bob.smith-2").is_ok());
        assert!(validate_username("b").is_err());
        assert!(validate_username("bob smith").is_err());
        assert_eq!(normalize_tag(" Edge "), Ok("edge".into()));
        assert!(normalize_tag("a;b").is_err());
        assert!(normalize_tag("50%").is_err());
    }
}
