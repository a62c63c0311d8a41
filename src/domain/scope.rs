//! Who may do what to which resource: one pure decision for every token and user.

use std::collections::HashMap;

pub use super::permission::{Permission, Permissions};

/// The target entity of a device details token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A fleet and every device in it, including devices added later.
    Fleet(String),
    /// One device only.
    Device(String),
}

/// "Fleet demo" / "Device d-…" / "User bob": what a token is for, in a line.
pub fn subject_label(target: Option<&Target>, username: Option<&str>) -> String {
    match (target, username) {
        (Some(Target::Fleet(f)), _) => format!("Fleet {f}"),
        (Some(Target::Device(d)), _) => format!("Device {d}"),
        (None, Some(u)) => format!("User {u}"),
        (None, None) => "—".into(),
    }
}

/// Role of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, everywhere.
    Admin,
    /// Per-fleet permissions only.
    User,
}

impl Role {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    /// Inverse of [`Role::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            _ => None,
        }
    }
}

/// Whoever is acting, as known at request time.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A device details token.
    DeviceToken {
        /// Its fleet or device.
        target: Target,
        /// Its permission types.
        permissions: Permissions,
    },
    /// A user (signed in, or through a user token), with their current rights.
    User {
        /// Current role.
        role: Role,
        /// Current per-fleet permissions (ignored for admins).
        fleets: HashMap<String, Permissions>,
    },
}

/// The resource a request is about.
#[derive(Debug, Clone, Copy)]
pub struct Resource<'a> {
    /// The fleet key.
    pub fleet: &'a str,
    /// The device UUID, when the request is about one device.
    pub device: Option<&'a str>,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// In scope but without this permission: 403 naming it.
    Forbidden(Permission),
    /// Out of scope: answered exactly like a missing resource.
    NotFound,
}

/// The permission types `principal` holds on `resource`; `None` when the resource is out of its
/// scope (it does not see it at all). A device-targeted token sees its device only, never the
/// fleet's device list; a user with an empty set on a fleet does not see that fleet.
pub fn granted(principal: &Principal, resource: Resource<'_>) -> Option<Permissions> {
    match principal {
        Principal::DeviceToken {
            target,
            permissions,
        } => {
            let in_target = match target {
                Target::Fleet(fleet) => fleet == resource.fleet,
                Target::Device(device) => resource.device == Some(device.as_str()),
            };
            in_target.then_some(*permissions)
        }
        Principal::User {
            role: Role::Admin, ..
        } => Some(Permissions::ALL),
        Principal::User { fleets, .. } => fleets
            .get(resource.fleet)
            .copied()
            .filter(|p| !p.is_empty()),
    }
}

/// Decides whether `principal` may perform `needed` on `resource`.
///
/// Out-of-scope resources are `NotFound` (no existence oracle); in-scope resources without the
/// permission are `Forbidden`.
pub fn decide(principal: &Principal, resource: Resource<'_>, needed: Permission) -> Decision {
    match granted(principal, resource) {
        None => Decision::NotFound,
        Some(p) if p.contains(needed) => Decision::Allow,
        Some(_) => Decision::Forbidden(needed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The five resources of the table: in and out of fleet `a`, fleet- and device-level.
    fn resources() -> [(&'static str, Resource<'static>); 5] {
        let r = |fleet, device| Resource { fleet, device };
        [
            ("fleet resource in fleet a", r("a", None)),
            ("device d1 in fleet a", r("a", Some("d1"))),
            ("device d2 in fleet a", r("a", Some("d2"))),
            ("fleet resource in fleet b", r("b", None)),
            ("device d3 in fleet b", r("b", Some("d3"))),
        ]
    }

    /// The four principal shapes holding `perms` (the admin ignores them).
    fn principals(perms: Permissions) -> [(&'static str, Principal); 4] {
        let token = |target| Principal::DeviceToken {
            target,
            permissions: perms,
        };
        [
            ("fleet-a token", token(Target::Fleet("a".into()))),
            ("device-d1 token", token(Target::Device("d1".into()))),
            (
                "user with perms on a",
                Principal::User {
                    role: Role::User,
                    fleets: HashMap::from([("a".into(), perms)]),
                },
            ),
            (
                "admin",
                Principal::User {
                    role: Role::Admin,
                    fleets: HashMap::new(),
                },
            ),
        ]
    }

    /// The answer the table expects, written out independently of [`granted`].
    fn expected(
        pname: &str,
        perms: Permissions,
        resource: Resource<'_>,
        needed: Permission,
    ) -> Decision {
        let in_scope = match pname {
            "fleet-a token" | "user with perms on a" => resource.fleet == "a",
            "device-d1 token" => resource.device == Some("d1"),
            _ => true,
        };
        let effective = if pname == "admin" {
            Permissions::ALL
        } else {
            perms
        };
        // A user with an empty set on a fleet does not see it at all.
        let visible = in_scope && !(pname == "user with perms on a" && perms.is_empty());
        if !visible {
            Decision::NotFound
        } else if effective.contains(needed) {
            Decision::Allow
        } else {
            Decision::Forbidden(needed)
        }
    }

    /// Every principal shape × every permission subset × resource in/out of target ×
    /// fleet-level/device-level resource × every action.
    #[test]
    fn decision_table_covers_every_combination() {
        let mut cases = 0;
        for perms in (0..8).map(Permissions::from_bits) {
            for (pname, principal) in &principals(perms) {
                for (rname, resource) in resources() {
                    for needed in Permission::ALL {
                        assert_eq!(
                            decide(principal, resource, needed),
                            expected(pname, perms, resource, needed),
                            "{pname} {perms:?} on {rname} needing {needed:?}"
                        );
                        cases += 1;
                    }
                }
            }
        }
        assert_eq!(cases, 8 * 4 * 5 * 3);
    }

    #[test]
    fn explicit_examples() {
        let read_only_a = Principal::DeviceToken {
            target: Target::Fleet("a".into()),
            permissions: Permissions::NONE.with(Permission::Read),
        };
        let dev = Resource {
            fleet: "a",
            device: Some("d-0000-0001"),
        };
        assert_eq!(decide(&read_only_a, dev, Permission::Read), Decision::Allow);
        assert_eq!(
            decide(&read_only_a, dev, Permission::Write),
            Decision::Forbidden(Permission::Write)
        );
        let other = Resource {
            fleet: "b",
            device: Some("d-0000-0002"),
        };
        assert_eq!(
            decide(&read_only_a, other, Permission::Read),
            Decision::NotFound
        );
        let user_no_fleets = Principal::User {
            role: Role::User,
            fleets: HashMap::new(),
        };
        assert_eq!(
            decide(&user_no_fleets, dev, Permission::Read),
            Decision::NotFound
        );
    }

    #[test]
    fn granted_is_what_a_principal_sees_of_a_fleet() {
        let user = Principal::User {
            role: Role::User,
            fleets: HashMap::from([
                ("a".into(), Permissions::NONE.with(Permission::Read)),
                ("b".into(), Permissions::NONE),
            ]),
        };
        let fleet = |f| Resource {
            fleet: f,
            device: None,
        };
        assert_eq!(
            granted(&user, fleet("a")),
            Some(Permissions::NONE.with(Permission::Read))
        );
        assert_eq!(
            granted(&user, fleet("b")),
            None,
            "an empty set hides the fleet"
        );
        assert_eq!(granted(&user, fleet("c")), None);
        let device = Principal::DeviceToken {
            target: Target::Device("d1".into()),
            permissions: Permissions::ALL,
        };
        assert_eq!(granted(&device, fleet("a")), None, "never the fleet's list");
        let own = Resource {
            fleet: "a",
            device: Some("d1"),
        };
        assert_eq!(granted(&device, own), Some(Permissions::ALL));
    }
}
