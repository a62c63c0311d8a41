//! General Settings → Account: plan, renewal, active devices, and the Access Token card with
//! the *Generate Device Details Token* and *User Token* side panels and the show-once view.
//!
//! `forms` (the panels' state) ← `page` (the tab) ← `device_panel`, `user_panel` (handlers).

mod device_panel;
mod forms;
mod page;
mod user_panel;

pub use device_panel::{device_panel, device_search, device_submit};
pub(crate) use forms::date_bounds;
pub(crate) use page::Created;
pub use page::show;
pub use user_panel::{user_panel, user_submit};
