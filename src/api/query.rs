//! The API's query strings: read as name–value pairs (repeated names kept), and one refusal for
//! a name an operation does not take.

use crate::error::{AppError, AppResult};

/// The pairs of a raw query string (none: no pairs); a clear 400 should it not be read. (Text
/// that is not UTF-8 or holds control characters never gets here: the listener refuses it.)
pub fn pairs(raw: Option<&str>) -> AppResult<Vec<(String, String)>> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|_| AppError::BadRequest("The query string is malformed.".into()))
}

/// The refusal of a query parameter the operation does not take.
pub fn unknown(name: &str) -> AppError {
    AppError::BadRequest(format!("Unknown query parameter `{name}`."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_keep_repeats_and_decode_their_text() {
        assert_eq!(
            pairs(Some("tags[]=a&tags[]=b&limit=5")).unwrap(),
            [("tags[]", "a"), ("tags[]", "b"), ("limit", "5")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert!(pairs(None).unwrap().is_empty());
        assert_eq!(pairs(Some("q=a%20b+c")).unwrap()[0].1, "a b c");
        assert_eq!(
            unknown("x").to_string(),
            AppError::BadRequest("Unknown query parameter `x`.".into()).to_string()
        );
    }
}
