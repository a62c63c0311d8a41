//! Allowed client networks: any text is refused with named problems or parses to a list whose
//! stored form parses back to the same list, and the per-request check on the stored form
//! agrees with the parsed list for any address.
#![no_main]

use std::net::IpAddr;

use connect_tokens::domain::cidr::{AllowedIps, stored_allows};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (probe, text) = data.split_at(data.len().min(16));
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    match AllowedIps::parse(text) {
        Ok(list) => {
            let stored = list.stored();
            assert_eq!(AllowedIps::parse(&stored).as_ref(), Ok(&list), "{stored}");
            let mut octets = [0u8; 16];
            octets[..probe.len()].copy_from_slice(probe);
            for ip in [
                IpAddr::from(octets),
                IpAddr::from([octets[0], octets[1], octets[2], octets[3]]),
            ] {
                assert_eq!(list.allows(Some(ip)), stored_allows(&stored, Some(ip)), "{stored} {ip}");
            }
        }
        Err(problems) => assert!(!problems.is_empty()),
    }
});
