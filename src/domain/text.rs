//! Text that reaches us from outside: the one set of character rules applied at every edge
//! (form fields, JSON strings, query parameters, path segments, CSV cells), so SQLite and
//! PostgreSQL see the same text, and nothing is silently rewritten.
//!
//! - No control characters anywhere but tab and line breaks (PostgreSQL cannot store NUL; an ESC
//!   in a stored name is a terminal escape waiting for a log viewer).
//! - In names and descriptions, also no bidirectional controls and no zero-width characters:
//!   they make one text display as another (a description that reads backwards in the Access
//!   Tokens list).

use std::fmt;

/// Why a text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextError {
    /// A control character (other than tab and line breaks).
    Control(char),
    /// A bidirectional override, embedding, isolate or mark.
    Bidi(char),
    /// A zero-width or invisible formatting character.
    ZeroWidth(char),
    /// Bytes that are not UTF-8 (after percent-decoding).
    NotUtf8,
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::Control(c) => {
                write!(f, "contains a control character (U+{:04X})", *c as u32)
            }
            TextError::Bidi(c) => write!(
                f,
                "contains a bidirectional control character (U+{:04X})",
                *c as u32
            ),
            TextError::ZeroWidth(c) => {
                write!(f, "contains an invisible character (U+{:04X})", *c as u32)
            }
            TextError::NotUtf8 => f.write_str("is not valid UTF-8"),
        }
    }
}

/// Whether `c` is a control character we refuse everywhere (tab, line feed and carriage
/// return are allowed: multi-line descriptions).
fn is_refused_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Whether `c` changes the direction text is displayed in.
fn is_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Whether `c` is invisible: zero-width spaces and joiners, word joiner, invisible operators,
/// the byte-order mark, soft hyphen, Mongolian vowel separator.
fn is_zero_width(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
    )
}

/// Any text at any edge: no control characters but tab and line breaks.
pub fn check_input(s: &str) -> Result<(), TextError> {
    match s.chars().find(|c| is_refused_control(*c)) {
        Some(c) => Err(TextError::Control(c)),
        None => Ok(()),
    }
}

/// A name or description, shown to people: [`check_input`], and no bidirectional or invisible
/// characters.
pub fn check_display(s: &str) -> Result<(), TextError> {
    check_input(s)?;
    for c in s.chars() {
        if is_bidi(c) {
            return Err(TextError::Bidi(c));
        }
        if is_zero_width(c) {
            return Err(TextError::ZeroWidth(c));
        }
    }
    Ok(())
}

/// A one-line name (device, fleet, group, token description, display name, email):
/// [`check_display`], and no tab or line break either.
pub fn check_one_line(s: &str) -> Result<(), TextError> {
    match s.chars().find(|c| c.is_control()) {
        Some(c) => Err(TextError::Control(c)),
        None => check_display(s),
    }
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space, `%XX` a byte)
/// strictly: bytes that are not UTF-8 are an error, never replaced.
pub fn decode_form_component(raw: &[u8]) -> Result<String, TextError> {
    percent_decode(raw, true)
}

/// Decodes one URL path segment (`%XX` a byte, `+` itself) strictly.
pub fn decode_path_segment(raw: &[u8]) -> Result<String, TextError> {
    percent_decode(raw, false)
}

fn percent_decode(raw: &[u8], plus_is_space: bool) -> Result<String, TextError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' if i + 2 < raw.len() => {
                match (hex(raw[i + 1]), hex(raw[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 2;
                    }
                    // A `%` not followed by two hex digits stands for itself (as in browsers).
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| TextError::NotUtf8)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A query parameter or path segment: no control character at all (no use for a line break
/// there).
pub fn check_no_control(s: &str) -> Result<(), TextError> {
    match s.chars().find(|c| c.is_control()) {
        Some(c) => Err(TextError::Control(c)),
        None => Ok(()),
    }
}

/// Decodes a form body strictly and checks every name and value with [`check_input`] (a
/// textarea may hold line breaks); the error names the field at fault.
pub fn decode_form(raw: &[u8]) -> Result<Vec<(String, String)>, (String, TextError)> {
    decode_pairs(raw, check_input)
}

/// Decodes a query string strictly and checks every name and value with [`check_no_control`];
/// the error names the parameter at fault.
pub fn decode_query(raw: &[u8]) -> Result<Vec<(String, String)>, (String, TextError)> {
    decode_pairs(raw, check_no_control)
}

fn decode_pairs(
    raw: &[u8],
    check_input: fn(&str) -> Result<(), TextError>,
) -> Result<Vec<(String, String)>, (String, TextError)> {
    let mut pairs = Vec::new();
    for part in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match part.iter().position(|b| *b == b'=') {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, &b""[..]),
        };
        let name = decode_form_component(name)
            .map_err(|e| (String::from_utf8_lossy(name).into_owned(), e))?;
        check_input(&name).map_err(|e| (name.escape_debug().to_string(), e))?;
        let value = decode_form_component(value).map_err(|e| (name.clone(), e))?;
        check_input(&value).map_err(|e| (name.clone(), e))?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_refused_but_tabs_and_line_breaks() {
        assert_eq!(check_input("two\nlines\tand\r\n"), Ok(()));
        assert_eq!(check_input("nul\0"), Err(TextError::Control('\0')));
        assert_eq!(
            check_input("esc\u{1b}[31m"),
            Err(TextError::Control('\u{1b}'))
        );
        assert_eq!(check_input("del\u{7f}"), Err(TextError::Control('\u{7f}')));
        assert_eq!(check_input("c1\u{85}"), Err(TextError::Control('\u{85}')));
        assert_eq!(check_input("Grüße, 東京 🚀"), Ok(()));
    }

    #[test]
    fn names_refuse_bidi_and_invisible_characters() {
        assert_eq!(check_display("Gateway"), Ok(()));
        assert_eq!(
            check_display("invoice\u{202E}fdp.exe"),
            Err(TextError::Bidi('\u{202E}'))
        );
        assert_eq!(
            check_display("a\u{2067}b"),
            Err(TextError::Bidi('\u{2067}'))
        );
        assert_eq!(
            check_display("ad\u{200B}min"),
            Err(TextError::ZeroWidth('\u{200B}'))
        );
        assert_eq!(
            check_display("\u{FEFF}x"),
            Err(TextError::ZeroWidth('\u{FEFF}'))
        );
        assert_eq!(check_display("x\0"), Err(TextError::Control('\0')));
        assert_eq!(check_display("two\nlines"), Ok(()));
        assert_eq!(check_one_line("two\nlines"), Err(TextError::Control('\n')));
        assert_eq!(
            check_one_line("x\u{202E}"),
            Err(TextError::Bidi('\u{202E}'))
        );
        // Arabic and Hebrew text themselves are fine.
        assert_eq!(check_display("שלום مرحبا"), Ok(()));
        assert!(TextError::Bidi('\u{202E}').to_string().contains("U+202E"));
    }

    #[test]
    fn urlencoded_text_is_decoded_strictly() {
        assert_eq!(
            decode_form(b"q=a+b%20c&empty=&flag").unwrap(),
            [
                ("q".to_owned(), "a b c".to_owned()),
                ("empty".to_owned(), String::new()),
                ("flag".to_owned(), String::new())
            ]
        );
        assert_eq!(decode_form(b"q=%C3%BC").unwrap()[0].1, "ü");
        assert_eq!(decode_path_segment(b"a+b%20c").unwrap(), "a+b c");
        assert_eq!(decode_path_segment(b"%FF"), Err(TextError::NotUtf8));
        assert_eq!(decode_form(b"q=50%").unwrap()[0].1, "50%");
        assert_eq!(decode_form(b"q=%zz").unwrap()[0].1, "%zz");
        assert_eq!(
            decode_form(b"limit=%FF").unwrap_err(),
            ("limit".to_owned(), TextError::NotUtf8)
        );
        assert_eq!(
            decode_form(b"q=a%00b").unwrap_err(),
            ("q".to_owned(), TextError::Control('\0'))
        );
        assert_eq!(
            decode_form(b"tags%5B%5D=%1B").unwrap_err(),
            ("tags[]".to_owned(), TextError::Control('\u{1b}'))
        );
        assert!(decode_form(b"%FF=1").is_err());
        assert_eq!(
            decode_form(b"d=a%0Ab").unwrap()[0].1,
            "a\nb",
            "a textarea's line break"
        );
        assert_eq!(
            decode_query(b"q=a%0Ab").unwrap_err(),
            ("q".to_owned(), TextError::Control('\n'))
        );
        assert_eq!(
            decode_query(b"q=a%09b").unwrap_err().1,
            TextError::Control('\t')
        );
        assert_eq!(decode_form(b"").unwrap(), []);
    }
}
