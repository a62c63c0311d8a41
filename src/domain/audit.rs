//! What the audit log records: every action is one [`AuditAction`], and the Audit Log's filter
//! groups ([`AuditGroup`]) and labels are derived from that one list.

pub use super::refusal::{Refusal, minute_of};

/// Everything the audit log can record. The stored name ([`AuditAction::as_str`]) never
/// changes once released: old entries keep their meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A successful sign-in.
    SigninSuccess,
    /// A failed sign-in (counted by the throttle).
    SigninFailure,
    /// A sign-out.
    Signout,
    /// A wrong second-step code or passkey (counted by the second step's throttle).
    TwoFactorFailure,
    /// A user changed their own password.
    PasswordChanged,
    /// A user set up an authenticator app.
    TotpEnabled,
    /// A user turned their authenticator app off.
    TotpDisabled,
    /// A user made new recovery codes (the old ones stopped working).
    RecoveryCodesRegenerated,
    /// A user added a passkey.
    PasskeyAdded,
    /// A user removed a passkey.
    PasskeyRemoved,
    /// A user ended one or all others of their sessions.
    SessionsEnded,
    /// `user reset-2fa` removed a user's second factors.
    TwoFactorReset,
    /// An admin changed "Require two-factor authentication".
    TwoFactorRequirementChanged,
    /// A token was generated (console, API or CLI).
    TokenGenerated,
    /// A token was revoked.
    TokenRevoked,
    /// A token was presented and refused (revoked, expired, disabled user, missing permission).
    TokenRefused,
    /// A token was rotated: a successor made, the old one retired (at once or after a grace).
    TokenRotated,
    /// A rotated-out token was presented to a rotate endpoint: the newest of its chain revoked.
    TokenReuseDetected,
    /// A user's per-fleet permissions changed.
    PermissionsChanged,
    /// A user was created.
    UserCreated,
    /// A user was disabled.
    UserDisabled,
    /// A user was enabled.
    UserEnabled,
    /// A user became or stopped being an admin.
    UserRoleChanged,
    /// An admin reset a user's password.
    UserPasswordReset,
    /// A fleet was created.
    FleetCreated,
    /// A device was registered in the console.
    DeviceRegistered,
    /// An admin added a webhook endpoint.
    WebhookCreated,
    /// An admin changed a webhook endpoint (URL, description, events, enabled).
    WebhookChanged,
    /// An admin rotated a webhook endpoint's signing secret.
    WebhookSecretRotated,
    /// An admin deleted a webhook endpoint.
    WebhookDeleted,
}

/// The Audit Log's filter choices; each action belongs to exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditGroup {
    /// Sign-ins, failed sign-ins and sign-outs.
    Signin,
    /// Own passwords, second factors and sessions.
    AccountSecurity,
    /// Generated tokens.
    TokenGenerated,
    /// Revoked tokens.
    TokenRevoked,
    /// Refused token uses.
    TokenRefused,
    /// Permission changes.
    Permissions,
    /// User account changes.
    Users,
    /// Fleets and devices added in the console.
    Inventory,
    /// Webhook endpoints.
    Webhooks,
}

impl AuditAction {
    /// Every action, in the order the filter groups list them.
    pub const ALL: [AuditAction; 30] = [
        AuditAction::SigninSuccess,
        AuditAction::SigninFailure,
        AuditAction::TwoFactorFailure,
        AuditAction::Signout,
        AuditAction::PasswordChanged,
        AuditAction::TotpEnabled,
        AuditAction::TotpDisabled,
        AuditAction::RecoveryCodesRegenerated,
        AuditAction::PasskeyAdded,
        AuditAction::PasskeyRemoved,
        AuditAction::SessionsEnded,
        AuditAction::TwoFactorReset,
        AuditAction::TwoFactorRequirementChanged,
        AuditAction::TokenGenerated,
        AuditAction::TokenRotated,
        AuditAction::TokenRevoked,
        AuditAction::TokenReuseDetected,
        AuditAction::TokenRefused,
        AuditAction::PermissionsChanged,
        AuditAction::UserCreated,
        AuditAction::UserDisabled,
        AuditAction::UserEnabled,
        AuditAction::UserRoleChanged,
        AuditAction::UserPasswordReset,
        AuditAction::FleetCreated,
        AuditAction::DeviceRegistered,
        AuditAction::WebhookCreated,
        AuditAction::WebhookChanged,
        AuditAction::WebhookSecretRotated,
        AuditAction::WebhookDeleted,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::SigninSuccess => "signin.success",
            AuditAction::SigninFailure => "signin.failure",
            AuditAction::Signout => "signout",
            AuditAction::TwoFactorFailure => "signin.second_factor_failure",
            AuditAction::PasswordChanged => "password.changed",
            AuditAction::TotpEnabled => "two_factor.totp_enabled",
            AuditAction::TotpDisabled => "two_factor.totp_disabled",
            AuditAction::RecoveryCodesRegenerated => "two_factor.recovery_codes_regenerated",
            AuditAction::PasskeyAdded => "two_factor.passkey_added",
            AuditAction::PasskeyRemoved => "two_factor.passkey_removed",
            AuditAction::SessionsEnded => "sessions.ended",
            AuditAction::TwoFactorReset => "two_factor.reset",
            AuditAction::TwoFactorRequirementChanged => "two_factor.requirement_changed",
            AuditAction::TokenGenerated => "token.generated",
            AuditAction::TokenRevoked => "token.revoked",
            AuditAction::TokenRefused => "token.refused",
            AuditAction::TokenRotated => "token.rotated",
            AuditAction::TokenReuseDetected => "token.reuse_detected",
            AuditAction::PermissionsChanged => "permissions.changed",
            AuditAction::UserCreated => "user.created",
            AuditAction::UserDisabled => "user.disabled",
            AuditAction::UserEnabled => "user.enabled",
            AuditAction::UserRoleChanged => "user.role_changed",
            AuditAction::UserPasswordReset => "user.password_reset",
            AuditAction::FleetCreated => "fleet.created",
            AuditAction::DeviceRegistered => "device.registered",
            AuditAction::WebhookCreated => "webhook.created",
            AuditAction::WebhookChanged => "webhook.changed",
            AuditAction::WebhookSecretRotated => "webhook.secret_rotated",
            AuditAction::WebhookDeleted => "webhook.deleted",
        }
    }

    /// What the Audit Log shows.
    pub fn label(self) -> &'static str {
        match self {
            AuditAction::SigninSuccess => "Signed in",
            AuditAction::SigninFailure => "Sign-in failed",
            AuditAction::Signout => "Signed out",
            AuditAction::TwoFactorFailure => "Second sign-in step failed",
            AuditAction::PasswordChanged => "Password changed",
            AuditAction::TotpEnabled => "Authenticator app set up",
            AuditAction::TotpDisabled => "Authenticator app turned off",
            AuditAction::RecoveryCodesRegenerated => "Recovery codes regenerated",
            AuditAction::PasskeyAdded => "Passkey added",
            AuditAction::PasskeyRemoved => "Passkey removed",
            AuditAction::SessionsEnded => "Sessions signed out",
            AuditAction::TwoFactorReset => "Two-factor authentication reset",
            AuditAction::TwoFactorRequirementChanged => "Two-factor requirement changed",
            AuditAction::TokenGenerated => "Token generated",
            AuditAction::TokenRevoked => "Token revoked",
            AuditAction::TokenRefused => "Token refused",
            AuditAction::TokenRotated => "Token rotated",
            AuditAction::TokenReuseDetected => "Rotated-out token reused: chain revoked",
            AuditAction::PermissionsChanged => "Permissions changed",
            AuditAction::UserCreated => "User created",
            AuditAction::UserDisabled => "User disabled",
            AuditAction::UserEnabled => "User enabled",
            AuditAction::UserRoleChanged => "Role changed",
            AuditAction::UserPasswordReset => "Password reset",
            AuditAction::FleetCreated => "Fleet created",
            AuditAction::DeviceRegistered => "Device registered",
            AuditAction::WebhookCreated => "Webhook endpoint added",
            AuditAction::WebhookChanged => "Webhook endpoint changed",
            AuditAction::WebhookSecretRotated => "Webhook signing secret rotated",
            AuditAction::WebhookDeleted => "Webhook endpoint deleted",
        }
    }

    /// The filter group it is listed under.
    pub fn group(self) -> AuditGroup {
        match self {
            AuditAction::SigninSuccess
            | AuditAction::SigninFailure
            | AuditAction::TwoFactorFailure
            | AuditAction::Signout => AuditGroup::Signin,
            AuditAction::PasswordChanged
            | AuditAction::TotpEnabled
            | AuditAction::TotpDisabled
            | AuditAction::RecoveryCodesRegenerated
            | AuditAction::PasskeyAdded
            | AuditAction::PasskeyRemoved
            | AuditAction::SessionsEnded
            | AuditAction::TwoFactorReset
            | AuditAction::TwoFactorRequirementChanged => AuditGroup::AccountSecurity,
            AuditAction::TokenGenerated | AuditAction::TokenRotated => AuditGroup::TokenGenerated,
            AuditAction::TokenRevoked | AuditAction::TokenReuseDetected => AuditGroup::TokenRevoked,
            AuditAction::TokenRefused => AuditGroup::TokenRefused,
            AuditAction::PermissionsChanged => AuditGroup::Permissions,
            AuditAction::UserCreated
            | AuditAction::UserDisabled
            | AuditAction::UserEnabled
            | AuditAction::UserRoleChanged
            | AuditAction::UserPasswordReset => AuditGroup::Users,
            AuditAction::FleetCreated | AuditAction::DeviceRegistered => AuditGroup::Inventory,
            AuditAction::WebhookCreated
            | AuditAction::WebhookChanged
            | AuditAction::WebhookSecretRotated
            | AuditAction::WebhookDeleted => AuditGroup::Webhooks,
        }
    }

    /// Inverse of [`AuditAction::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl AuditGroup {
    /// Every group, in the order the filter offers them.
    pub const ALL: [AuditGroup; 9] = [
        AuditGroup::Signin,
        AuditGroup::AccountSecurity,
        AuditGroup::TokenGenerated,
        AuditGroup::TokenRevoked,
        AuditGroup::TokenRefused,
        AuditGroup::Permissions,
        AuditGroup::Users,
        AuditGroup::Inventory,
        AuditGroup::Webhooks,
    ];

    /// The value in the filter's query string (kept from the first release's links).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditGroup::Signin => "signin",
            AuditGroup::AccountSecurity => "security",
            AuditGroup::TokenGenerated => "token.generated",
            AuditGroup::TokenRevoked => "token.revoked",
            AuditGroup::TokenRefused => "token.refused",
            AuditGroup::Permissions => "permissions",
            AuditGroup::Users => "user",
            AuditGroup::Inventory => "inventory",
            AuditGroup::Webhooks => "webhooks",
        }
    }

    /// What the filter shows.
    pub fn label(self) -> &'static str {
        match self {
            AuditGroup::Signin => "Sign-in and sign-out",
            AuditGroup::AccountSecurity => "Passwords, two-factor and sessions",
            AuditGroup::TokenGenerated => "Token generated",
            AuditGroup::TokenRevoked => "Token revoked",
            AuditGroup::TokenRefused => "Refused token use",
            AuditGroup::Permissions => "Permission changes",
            AuditGroup::Users => "User changes",
            AuditGroup::Inventory => "Fleets and devices",
            AuditGroup::Webhooks => "Webhooks",
        }
    }

    /// Inverse of [`AuditGroup::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        AuditGroup::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// The actions listed under this group.
    pub fn actions(self) -> Vec<AuditAction> {
        AuditAction::ALL
            .into_iter()
            .filter(|a| a.group() == self)
            .collect()
    }
}

/// One audit entry to record: who did what, from where. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// What happened.
    pub action: AuditAction,
    /// Username, `[a token]`, `cli`, or `token <id>` for token-authenticated refusals.
    pub actor: String,
    /// Token ID concerned, if any.
    pub token_id: Option<String>,
    /// Target: fleet, device, username…
    pub target: String,
    /// Source address.
    pub source: String,
    /// Free text.
    pub detail: String,
}

impl AuditEvent {
    /// `actor` did `action` from `source`; add the rest with the builder methods.
    pub fn new(action: AuditAction, actor: impl Into<String>, source: impl Into<String>) -> Self {
        AuditEvent {
            action,
            actor: actor.into(),
            token_id: None,
            target: String::new(),
            source: source.into(),
            detail: String::new(),
        }
    }

    /// The Token ID concerned.
    #[must_use]
    pub fn token(mut self, id: impl Into<String>) -> Self {
        self.token_id = Some(id.into());
        self
    }

    /// The target (fleet, device, username, token subject).
    #[must_use]
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    /// Free text.
    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_and_belongs_to_one_offered_group() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
            assert!(AuditGroup::ALL.contains(&a.group()), "{a:?}");
            assert!(a.group().actions().contains(&a));
        }
        let mut names: Vec<_> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            AuditAction::ALL.len(),
            "stored names are unique"
        );
        for g in AuditGroup::ALL {
            assert_eq!(AuditGroup::parse(g.as_str()), Some(g));
            assert!(!g.actions().is_empty(), "{g:?} lists something");
        }
        assert_eq!(AuditGroup::parse("drop"), None);
        assert_eq!(AuditAction::parse("signin"), None);
    }

    #[test]
    fn a_sign_out_is_filed_with_sign_ins() {
        assert_eq!(
            AuditGroup::Signin.actions(),
            [
                AuditAction::SigninSuccess,
                AuditAction::SigninFailure,
                AuditAction::TwoFactorFailure,
                AuditAction::Signout
            ]
        );
        assert!(
            AuditGroup::AccountSecurity
                .actions()
                .contains(&AuditAction::PasswordChanged)
        );
    }
}
