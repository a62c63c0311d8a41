//! The API's JSON bodies: the text check over any JSON value, and the device PATCH body, which
//! either is refused or leaves a device whose fields obey the device field rules.
#![no_main]

use connect_tokens::api::access::tokens::{CreateToken, RevokeByValue};
use connect_tokens::api::json::check_body;
use connect_tokens::api::v2::devices::DevicePatch;
use connect_tokens::domain::device;
use connect_tokens::store::devices::Device;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if check_body(&value).is_err() {
        return;
    }
    let _ = serde_json::from_value::<CreateToken>(value.clone());
    let _ = serde_json::from_value::<RevokeByValue>(value.clone());
    if let Ok(patch) = serde_json::from_value::<DevicePatch>(value) {
        let before = Device {
            uuid: "d-0000-0001".into(),
            fleet_key: "alpha".into(),
            name: "sensor".into(),
            group_name: String::new(),
            tags: ";".into(),
            description: String::new(),
            ip: String::new(),
            agent_version: String::new(),
            last_keepalive: None,
            registered_at: 0,
        };
        if let Ok(after) = patch.apply(before) {
            assert_eq!(device::name(&after.name).as_deref(), Ok(after.name.as_str()));
            assert_eq!(device::group(&after.group_name).as_deref(), Ok(after.group_name.as_str()));
            assert_eq!(
                device::description(&after.description).as_deref(),
                Ok(after.description.as_str())
            );
        }
    }
});
