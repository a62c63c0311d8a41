//! `admin create`, `user create` and `user reset-2fa`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::bail;

use super::CreateUserArgs;
use crate::domain::names;
use crate::domain::scope::Role;
use crate::store::Store;
use crate::store::users::NewUser;

/// Reads a password: a prompt without echo is not available without extra crates, so on a
/// terminal we ask twice and warn; otherwise we read one line of standard input.
fn read_password(username: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let mut line = String::new();
    if stdin.is_terminal() {
        eprint!("Password (input is visible; pipe it from a file or secret store to avoid that): ");
        std::io::stderr().flush()?;
    }
    stdin.lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if let Err(e) = crate::auth::password::check_new_password(&password, username) {
        bail!(e);
    }
    Ok(password)
}

pub(super) async fn create(store: &Store, a: CreateUserArgs, role: Role) -> anyhow::Result<()> {
    names::validate_username(&a.username).map_err(anyhow::Error::msg)?;
    let password = read_password(&a.username)?;
    let hash = crate::auth::password::hash(password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let new = NewUser {
        username: &a.username,
        email: &a.email,
        display_name: "",
        role,
        password_hash: &hash,
    };
    match store.create_user(&new, crate::domain::now()).await {
        Ok(u) => {
            println!("created {} {}", role.as_str(), u.username);
            Ok(())
        }
        Err(crate::store::StoreError::Conflict(_)) => bail!("user {} already exists", a.username),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn reset_two_factor(store: &Store, username: &str) -> anyhow::Result<()> {
    use crate::domain::audit::{AuditAction, AuditEvent};
    let Some((user, _)) = store.user_for_login(username).await? else {
        bail!("no user {username}");
    };
    let before = store.factors(&user.id).await?;
    store.reset_two_factor(&user.id).await?;
    let detail = format!(
        "authenticator app: {}, passkeys: {}, recovery codes: {}",
        if before.totp { "removed" } else { "none" },
        before.passkeys,
        before.recovery_left
    );
    let event = AuditEvent::new(AuditAction::TwoFactorReset, "cli", "cli")
        .target(&user.username)
        .detail(&detail);
    store.audit(&event, crate::domain::now()).await?;
    println!(
        "two-factor authentication of {} reset ({detail})",
        user.username
    );
    Ok(())
}
