//! The CSV import's row parser: any CSV either fails with a message or yields devices whose
//! every field obeys the device field rules (the text rules included).
#![no_main]

use connect_tokens::domain::{device, names, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    for record in reader.records().take(64) {
        let Ok(record) = record else {
            return;
        };
        if let Ok(d) = connect_tokens::import::parse_row(&record, 0) {
            assert!(names::validate_fleet_key(&d.fleet_key).is_ok());
            assert!(names::is_device_uuid(&d.uuid));
            assert_eq!(device::name(&d.name).as_deref(), Ok(d.name.as_str()));
            assert_eq!(device::group(&d.group_name).as_deref(), Ok(d.group_name.as_str()));
            assert!(text::check_display(&d.description).is_ok());
            assert!(d.tags.starts_with(';') && d.tags.ends_with(';'));
        }
    }
});
