//! Permission types (Read, Write, Delete) and sets of them.

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

#[cfg(test)]
mod tests {
    use super::*;

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
