//! General Settings → User Permissions: users, their per-fleet Read/Write/Delete, and account
//! actions (create, disable/enable, reset password, make/unmake admin — never the last admin).
//!
//! `page` (the tab as rendered) ← `list` (list, create) and `edit` (one user's panel).

mod edit;
mod list;
mod page;

pub use edit::{account_action, edit, save_permissions};
pub use list::{create, list};
