//! Connect API v2.

pub mod devices;
pub mod fleets;
