//! Who may do what to which resource: one pure decision for every token and user.

use std::collections::HashMap;
use std::fmt;

/// One permission type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// GET.
    Read,
    /// PATCH/POST that change a device.
    Write,
    /// DELETE.
    Delete,
}

impl Permission {
    /// All permission types, in display order.
    pub const ALL: [Permission; 3] = [Permission::Read, Permission::Write, Permission::Delete];

    fn bit(self) -> i64 {
        match self {
            Permission::Read => 1,
            Permission::Write => 2,
            Permission::Delete => 4,
        }
    }

    /// Lower-case name used in forms, the API and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Delete => "delete",
        }
    }

    /// Capitalised label for the console.
    pub fn label(self) -> &'static str {
        match self {
            Permission::Read => "Read",
            Permission::Write => "Write",
            Permission::Delete => "Delete",
        }
    }

    /// Inverse of [`Permission::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// A set of permission types, stored as a small bit mask.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Permissions(i64);

impl Permissions {
    /// No permission.
    pub const NONE: Permissions = Permissions(0);
    /// Read, write and delete.
    pub const ALL: Permissions = Permissions(7);

    /// From the stored bit mask; unknown bits are dropped.
    pub fn from_bits(bits: i64) -> Self {
        Permissions(bits & 7)
    }

    /// The stored bit mask.
    pub fn bits(self) -> i64 {
        self.0
    }

    /// Whether `p` is in the set.
    pub fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    /// The set with `p` added.
    pub fn with(self, p: Permission) -> Self {
        Permissions(self.0 | p.bit())
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Members in display order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    /// Lower-case names, e.g. `["read", "write"]`.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::as_str).collect()
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<_> = self.iter().map(Permission::label).collect();
        f.write_str(&labels.join(", "))
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        iter.into_iter().fold(Permissions::NONE, Permissions::with)
    }
}

/// The target entity of a device details token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A fleet and every device in it, including devices added later.
    Fleet(String),
    /// One device only.
    Device(String),
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

/// Decides whether `principal` may perform `needed` on `resource`.
///
/// Out-of-target resources are `NotFound` (no existence oracle); in-target resources without the
/// permission are `Forbidden`. A device-targeted token sees its device only, never the fleet's
/// device list.
pub fn decide(principal: &Principal, resource: Resource<'_>, needed: Permission) -> Decision {
    let granted = match principal {
        Principal::DeviceToken {
            target,
            permissions,
        } => {
            let in_target = match target {
                Target::Fleet(fleet) => fleet == resource.fleet,
                Target::Device(device) => resource.device == Some(device.as_str()),
            };
            if !in_target {
                return Decision::NotFound;
            }
            *permissions
        }
        Principal::User {
            role: Role::Admin, ..
        } => Permissions::ALL,
        Principal::User { fleets, .. } => match fleets.get(resource.fleet) {
            Some(p) if !p.is_empty() => *p,
            _ => return Decision::NotFound,
        },
    };
    if granted.contains(needed) {
        Decision::Allow
    } else {
        Decision::Forbidden(needed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_subsets() -> Vec<Permissions> {
        (0..8).map(Permissions::from_bits).collect()
    }

    /// Every principal shape × every permission subset × resource in/out of target ×
    /// fleet-level/device-level resource × every action.
    #[test]
    fn decision_table_covers_every_combination() {
        let mut cases = 0;
        let resources = [
            (
                "fleet resource in fleet a",
                Resource {
                    fleet: "a",
                    device: None,
                },
            ),
            (
                "device d1 in fleet a",
                Resource {
                    fleet: "a",
                    device: Some("d1"),
                },
            ),
            (
                "device d2 in fleet a",
                Resource {
                    fleet: "a",
                    device: Some("d2"),
                },
            ),
            (
                "fleet resource in fleet b",
                Resource {
                    fleet: "b",
                    device: None,
                },
            ),
            (
                "device d3 in fleet b",
                Resource {
                    fleet: "b",
                    device: Some("d3"),
                },
            ),
        ];
        for perms in all_subsets() {
            let principals = [
                (
                    "fleet-a token",
                    Principal::DeviceToken {
                        target: Target::Fleet("a".into()),
                        permissions: perms,
                    },
                ),
                (
                    "device-d1 token",
                    Principal::DeviceToken {
                        target: Target::Device("d1".into()),
                        permissions: perms,
                    },
                ),
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
            ];
            for (pname, principal) in &principals {
                for (rname, resource) in resources {
                    for needed in Permission::ALL {
                        let in_scope = match *pname {
                            "fleet-a token" | "user with perms on a" => resource.fleet == "a",
                            "device-d1 token" => resource.device == Some("d1"),
                            _ => true,
                        };
                        let effective = if *pname == "admin" {
                            Permissions::ALL
                        } else {
                            perms
                        };
                        // A user with an empty set on a fleet does not see it at all.
                        let visible =
                            in_scope && !(*pname == "user with perms on a" && perms.is_empty());
                        let want = if !visible {
                            Decision::NotFound
                        } else if effective.contains(needed) {
                            Decision::Allow
                        } else {
                            Decision::Forbidden(needed)
                        };
                        assert_eq!(
                            decide(principal, resource, needed),
                            want,
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
    fn permission_sets_round_trip() {
        let p: Permissions = [Permission::Delete, Permission::Read].into_iter().collect();
        assert_eq!(p.names(), ["read", "delete"]);
        assert_eq!(p.to_string(), "Read, Delete");
        assert_eq!(Permissions::from_bits(p.bits()), p);
        assert_eq!(Permissions::from_bits(0xff), Permissions::ALL);
        assert_eq!(Permission::parse("write"), Some(Permission::Write));
        assert_eq!(Permission::parse("Write"), None);
    }
}
