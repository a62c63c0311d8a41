//! The token parser: any text is either refused or parses to a kind and the hash of exactly
//! that text; a token generated and then mistyped in one character is refused.
#![no_main]

use connect_tokens::domain::token::{self, TokenHash};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((kind, hash)) = token::parse(text) {
        assert!(text.starts_with(kind.prefix()));
        assert!(hash == TokenHash::of(text), "the hash is of the text itself");
    }
    let _ = token::may_contain_token(text);
});
