//! The text fields of fleets and devices: one set of rules for every edge that writes them
//! (the console forms, the API's PATCH and the CSV import).

use std::fmt;

use super::{names, text};

/// Longest device or fleet name, in characters.
pub const NAME_MAX: usize = 128;
/// Longest device group, in characters.
pub const GROUP_MAX: usize = 64;
/// Longest device or fleet description, in characters.
pub const DESCRIPTION_MAX: usize = 1024;
/// Most tags on one device.
pub const TAGS_MAX: usize = 50;

/// A field that breaks its rule: which one, and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name as the API and the CSV header spell it.
    pub field: &'static str,
    /// The rule, e.g. "must be 1–128 characters without control characters".
    pub rule: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.rule)
    }
}

fn refuse(field: &'static str, rule: impl Into<String>) -> FieldError {
    FieldError {
        field,
        rule: rule.into(),
    }
}

/// A device's (or fleet's) name: trimmed, 1–128 characters, one line, nothing that displays as
/// something else ([`text::check_display`]).
pub fn name(s: &str) -> Result<String, FieldError> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > NAME_MAX || text::check_one_line(s).is_err() {
        return Err(refuse(
            "name",
            format!(
                "must be 1–{NAME_MAX} characters without control, bidirectional or invisible characters"
            ),
        ));
    }
    Ok(s.to_owned())
}

/// A device's group: trimmed, at most 64 characters (may be empty), one line, nothing that
/// displays as something else.
pub fn group(s: &str) -> Result<String, FieldError> {
    let s = s.trim();
    if s.chars().count() > GROUP_MAX || text::check_one_line(s).is_err() {
        return Err(refuse(
            "group",
            format!(
                "can be at most {GROUP_MAX} characters without control, bidirectional or invisible characters"
            ),
        ));
    }
    Ok(s.to_owned())
}

/// A device's (or fleet's) description: trimmed, at most 1024 characters (may be empty), no
/// control characters but line breaks and tabs, nothing that displays as something else.
pub fn description(s: &str) -> Result<String, FieldError> {
    let s = s.trim();
    if s.chars().count() > DESCRIPTION_MAX || text::check_display(s).is_err() {
        return Err(refuse(
            "description",
            format!(
                "can be at most {DESCRIPTION_MAX} characters without control characters (but line breaks and tabs), bidirectional or invisible characters"
            ),
        ));
    }
    Ok(s.to_owned())
}

/// A device's tags: each normalised ([`names::normalize_tag`]), at most 50, sorted, without
/// repeats.
pub fn tags<'a>(tags: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, FieldError> {
    let mut out = tags
        .into_iter()
        .map(|t| {
            names::normalize_tag(t).map_err(|_| {
                refuse(
                    "tags",
                    format!("must each be 1–64 letters, digits, '_', '.', ':' or '-' (not {t:?})"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if out.len() > TAGS_MAX {
        return Err(refuse(
            "tags",
            format!("can be at most {TAGS_MAX} on one device"),
        ));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Tags as typed in one text field (the CSV column, the console form): `;`-separated, blanks
/// ignored.
pub fn tags_in_text(text: &str) -> Result<Vec<String>, FieldError> {
    tags(text.split(';').filter(|t| !t.trim().is_empty()))
}

/// A new device's text fields, each checked by its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceText {
    /// See [`name`].
    pub name: String,
    /// See [`group`].
    pub group: String,
    /// See [`tags_in_text`].
    pub tags: Vec<String>,
    /// See [`description`].
    pub description: String,
}

impl DeviceText {
    /// Checks the fields as typed (tags as one `;`-separated text); the first broken rule is
    /// the error.
    pub fn parse(
        name_text: &str,
        group_text: &str,
        tags_text: &str,
        description_text: &str,
    ) -> Result<Self, FieldError> {
        Ok(DeviceText {
            name: name(name_text)?,
            group: group(group_text)?,
            tags: tags_in_text(tags_text)?,
            description: description(description_text)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_groups_and_descriptions() {
        assert_eq!(name("  Gateway 1 ").unwrap(), "Gateway 1");
        assert!(name("  ").is_err());
        assert!(name(&"é".repeat(128)).is_ok());
        assert!(name(&"é".repeat(129)).is_err());
        assert_eq!(name("a\u{1b}b").unwrap_err().field, "name");
        assert_eq!(group("").unwrap(), "");
        assert!(group(&"g".repeat(65)).is_err());
        assert!(group("a\u{0}b").is_err());
        assert_eq!(description(" two\nlines\t").unwrap(), "two\nlines");
        assert!(description("nul \u{0} here").is_err());
        assert!(description("esc \u{1b}[31m").is_err());
        assert!(description(&"d".repeat(1025)).is_err());
        assert!(name("evil\u{202E}gpj.exe").is_err());
        assert!(group("ad\u{200B}min").is_err());
        assert!(description("looks \u{2066}fine").is_err());
    }

    #[test]
    fn tags_are_normalised_sorted_and_bounded() {
        assert_eq!(tags_in_text("Lab; north;lab;;").unwrap(), ["lab", "north"]);
        assert_eq!(tags_in_text("").unwrap(), Vec::<String>::new());
        let err = tags(["ok", "a b"]).unwrap_err();
        assert_eq!(err.field, "tags");
        assert!(err.rule.contains("\"a b\""), "{err}");
        let many: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
        assert!(tags(many.iter().map(String::as_str)).is_err());
        assert!(tags(many[..50].iter().map(String::as_str)).is_ok());
    }
}
