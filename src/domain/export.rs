//! CSV exports (PRODUCT.md §14): cells a spreadsheet will not run as formulas, and times as
//! RFC 3339 UTC.

use std::borrow::Cow;

/// A cell's text made safe to open in a spreadsheet: one starting with `=`, `+`, `-`, `@` (a
/// formula to Excel, LibreOffice and Sheets), or a tab or carriage return (which some strip
/// before looking), gets a leading `'`, which they show as text. Quoting (commas, quotes, line
/// breaks) is the CSV writer's.
pub fn safe_cell(text: &str) -> Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

/// Unix seconds as `2026-12-03T10:04:00Z`; empty for none.
pub fn time_cell(unix: Option<i64>) -> String {
    unix.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_defused_and_other_text_kept() {
        for (raw, safe) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1+1", "'+1+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("plain", "plain"),
            ("a=1", "a=1"),
            ("", ""),
            ("'quoted", "'quoted"),
        ] {
            assert_eq!(safe_cell(raw), safe, "{raw:?}");
        }
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(time_cell(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(time_cell(Some(1_796_299_440)), "2026-12-03T12:04:00Z");
        assert_eq!(time_cell(None), "");
    }
}
