//! Token management, JFrog-Access style: `/access/api/v1/tokens`.

pub mod lifecycle;
pub mod tokens;
pub mod usage;
