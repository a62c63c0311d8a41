//! Query strings and paths: the strict urlencoded decoder, the listener's refusal check and the
//! device list's query parser. Whatever the decoder accepts holds no refused character; what
//! the refusal check lets through, the query parser handles without panicking.
#![no_main]

use connect_tokens::api::v2::devices::parse_list_query;
use connect_tokens::domain::text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(pairs) = text::decode_form(data) {
        for (name, value) in &pairs {
            assert!(text::check_input(name).is_ok() && text::check_input(value).is_ok());
        }
    }
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(uri) = format!("/api/v2/alpha/devices?{query}").parse::<axum::http::Uri>() else {
        return;
    };
    let request = axum::http::Request::get(uri.clone()).body(()).unwrap();
    if connect_tokens::layers::refusal(&request).is_none() {
        let _ = parse_list_query(uri.query());
    }
});
