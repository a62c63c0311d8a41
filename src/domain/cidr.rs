//! Allowed client IPs of a token: a short list of IPv4 and IPv6 networks (CIDR). A token with
//! a list may be used only from an address inside one of them; an empty list allows any.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Most networks one token may list.
pub const MAX_NETWORKS: usize = 32;

/// One network: an address with its prefix length, host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    /// Whether `ip` is inside (an IPv4 address written as IPv6, `::ffff:a.b.c.d`, counts as
    /// IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, canonical(ip)) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                mask32(u32::from(ip), self.prefix) == u32::from(base)
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                mask128(u128::from(ip), self.prefix) == u128::from(base)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

impl FromStr for Network {
    type Err = String;

    /// `203.0.113.0/24`, `2001:db8::/32`, or a bare address (one host). Host bits set beyond
    /// the prefix are refused: `10.0.0.1/8` is more likely a typo than a wish.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let base = canonical(
            IpAddr::from_str(address)
                .map_err(|_| format!("\u{201c}{text}\u{201d} is not an IP address or network"))?,
        );
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => Some(p)
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u8>().ok())
                .filter(|p| *p <= max)
                .ok_or_else(|| {
                    format!("\u{201c}{text}\u{201d} has a prefix length that is not 0–{max}")
                })?,
        };
        let cleared = match base {
            IpAddr::V4(v4) => IpAddr::V4(mask32(u32::from(v4), prefix).into()),
            IpAddr::V6(v6) => IpAddr::V6(mask128(u128::from(v6), prefix).into()),
        };
        if cleared != base {
            return Err(format!(
                "\u{201c}{text}\u{201d} has host bits set: the network is {cleared}/{prefix}"
            ));
        }
        Ok(Network { base, prefix })
    }
}

/// An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn mask32(bits: u32, prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        bits & (u32::MAX << (32 - u32::from(prefix)))
    }
}

fn mask128(bits: u128, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        bits & (u128::MAX << (128 - u32::from(prefix)))
    }
}

/// A token's allowed networks, as entered (one per line, or separated by commas or spaces) or
/// as stored (comma-separated). Duplicates are dropped; order is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedIps(Vec<Network>);

impl AllowedIps {
    /// Parses a list; every bad entry is named.
    pub fn parse(text: &str) -> Result<Self, Vec<String>> {
        Self::from_entries(text.split([',', ' ', '\n', '\r', '\t']))
    }

    /// Parses separate entries (as a JSON array gives them).
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, Vec<String>> {
        let mut networks = Vec::new();
        let mut problems = Vec::new();
        for entry in entries.into_iter().map(str::trim).filter(|e| !e.is_empty()) {
            match entry.parse::<Network>() {
                Ok(n) if !networks.contains(&n) => networks.push(n),
                Ok(_) => {}
                Err(e) => problems.push(e),
            }
        }
        if networks.len() > MAX_NETWORKS {
            problems.push(format!(
                "at most {MAX_NETWORKS} networks may be listed ({} given)",
                networks.len()
            ));
        }
        if problems.is_empty() {
            Ok(AllowedIps(networks))
        } else {
            Err(problems)
        }
    }

    /// No restriction.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a client at `ip` may use the token (an unknown address may not, when there is a
    /// list).
    pub fn allows(&self, ip: Option<IpAddr>) -> bool {
        self.0.is_empty() || ip.is_some_and(|ip| self.0.iter().any(|n| n.contains(ip)))
    }

    /// The networks, for display and JSON.
    pub fn networks(&self) -> &[Network] {
        &self.0
    }

    /// Each network as text (`203.0.113.0/24`).
    pub fn texts(&self) -> Vec<String> {
        self.0.iter().map(Network::to_string).collect()
    }

    /// The stored form: comma-separated, empty for none.
    pub fn stored(&self) -> String {
        self.0
            .iter()
            .map(Network::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Whether `stored` (the stored form) allows `ip`, read without building the list (the check
/// runs on every request of a restricted token). A stored entry that does not parse allows
/// nothing.
pub fn stored_allows(stored: &str, ip: Option<IpAddr>) -> bool {
    if stored.is_empty() {
        return true;
    }
    let Some(ip) = ip else { return false };
    stored
        .split(',')
        .any(|entry| entry.parse::<Network>().is_ok_and(|n| n.contains(ip)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let v4: Network = "203.0.113.0/24".parse().unwrap();
        assert!(v4.contains(ip("203.0.113.7")));
        assert!(
            v4.contains(ip("::ffff:203.0.113.7")),
            "IPv4-mapped IPv6 counts as IPv4"
        );
        assert!(!v4.contains(ip("203.0.114.7")));
        assert!(!v4.contains(ip("2001:db8::1")));
        let v6: Network = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("203.0.113.7")));
        let host: Network = "198.51.100.9".parse().unwrap();
        assert_eq!(host.to_string(), "198.51.100.9/32");
        assert!(host.contains(ip("198.51.100.9")) && !host.contains(ip("198.51.100.10")));
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let v6_host: Network = "2001:db8::1".parse().unwrap();
        assert_eq!(v6_host.to_string(), "2001:db8::1/128");
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in [
            "10.0.0.1/8",
            "10.0.0.0/33",
            "2001:db8::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "example.com",
            "10.0.0",
            "1.2.3.4/8/9",
        ] {
            let e = bad
                .parse::<Network>()
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(e.contains(bad), "{e}");
        }
        let e = "10.0.0.1/8".parse::<Network>().unwrap_err();
        assert!(
            e.contains("10.0.0.0/8"),
            "the network meant is suggested: {e}"
        );
    }

    #[test]
    fn lists_parse_store_and_decide() {
        let list = AllowedIps::parse("203.0.113.0/24\n2001:db8::/32, 203.0.113.0/24 ").unwrap();
        assert_eq!(list.stored(), "203.0.113.0/24,2001:db8::/32");
        assert!(list.allows(Some(ip("203.0.113.200"))));
        assert!(list.allows(Some(ip("2001:db8::5"))));
        assert!(!list.allows(Some(ip("192.0.2.1"))));
        assert!(!list.allows(None));
        assert!(AllowedIps::default().allows(None));
        assert!(AllowedIps::parse("").unwrap().is_empty());
        let stored = list.stored();
        assert!(stored_allows(&stored, Some(ip("203.0.113.1"))));
        assert!(!stored_allows(&stored, Some(ip("192.0.2.1"))));
        assert!(stored_allows("", None));
        let problems = AllowedIps::parse("1.2.3.4, nope, 5.6.7.8/40").unwrap_err();
        assert_eq!(problems.len(), 2);
        let many: Vec<String> = (0..33).map(|i| format!("10.0.{i}.0/24")).collect();
        let problems = AllowedIps::from_entries(many.iter().map(String::as_str)).unwrap_err();
        assert!(problems[0].contains("at most 32"), "{problems:?}");
        let exactly: Vec<String> = (0..32).map(|i| format!("10.0.{i}.0/24")).collect();
        assert!(AllowedIps::from_entries(exactly.iter().map(String::as_str)).is_ok());
    }
}
