//! Where a webhook may be sent: an `http` or `https` URL with a host, and (unless the server
//! allows private targets) never an address on loopback, link-local, private or unique-local
//! networks — judged on the addresses the name resolves to, each time it is sent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2000;

/// A checked endpoint URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrl {
    /// As normalised by the URL parser.
    pub url: String,
    /// The host: a name to resolve, or an address.
    pub host: Host,
}

/// An endpoint's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name (resolved at each delivery).
    Name(String),
    /// An address literal.
    Ip(IpAddr),
}

/// Checks a URL as typed: `http`/`https`, a host, no user name or password (the signature
/// authenticates), no fragment, at most [`MAX_URL_LEN`] characters.
pub fn parse_url(typed: &str) -> Result<TargetUrl, String> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err("Enter the URL that receives the webhooks.".into());
    }
    if typed.len() > MAX_URL_LEN {
        return Err(format!("The URL is longer than {MAX_URL_LEN} characters."));
    }
    let url = url::Url::parse(typed)
        .map_err(|e| format!("That is not a URL ({e}); write it as https://host/path."))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("The URL must start with https:// or http://.".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "Leave the user name and password out of the URL: every delivery is signed.".into(),
        );
    }
    if url.fragment().is_some() {
        return Err("Leave the #fragment out of the URL.".into());
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => Host::Name(d.to_owned()),
        Some(url::Host::Ipv4(a)) => Host::Ip(IpAddr::V4(a)),
        Some(url::Host::Ipv6(a)) => Host::Ip(IpAddr::V6(a)),
        None => return Err("The URL has no host.".into()),
    };
    Ok(TargetUrl {
        url: url.to_string(),
        host,
    })
}

/// Why `ip` is not a public address (None: it is): what a webhook may not reach unless the
/// server runs with `--allow-private-webhooks`.
pub fn private_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_kind(v4);
            }
            v6_kind(v6)
        }
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_private() {
        Some("private")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if (a, b) == (198, 18) || (a, b) == (198, 19) || ip.octets()[..3] == [192, 0, 0] {
        Some("special-purpose")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("multicast or reserved")
    } else {
        None
    }
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let seg = ip.segments();
    // The IPv4 address in the last 32 bits, or in bits 16–48 (6to4).
    let v4_at = |hi: u16, lo: u16| {
        let ([a, b], [c, d]) = (hi.to_be_bytes(), lo.to_be_bytes());
        Ipv4Addr::new(a, b, c, d)
    };
    if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if seg[0] & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if seg[0] & 0xffc0 == 0xfec0 {
        Some("site-local")
    } else if seg[0] & 0xfe00 == 0xfc00 {
        Some("unique-local")
    } else if ip.is_multicast() {
        Some("multicast or reserved")
    } else if seg[..2] == [0x2001, 0] {
        Some("Teredo (tunnelled)")
    } else if seg[..3] == [0x64, 0xff9b, 1] {
        Some("local-use NAT64")
    } else if seg[0] == 0x2002 {
        // 6to4 carries an IPv4 address in bits 16–48.
        v4_kind(v4_at(seg[1], seg[2]))
    } else if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
        || seg[..6] == [0; 6]
        || seg[..6] == [0, 0, 0, 0, 0xffff, 0]
    {
        // NAT64, IPv4-compatible and IPv4-translated forms carry an IPv4 address.
        v4_kind(v4_at(seg[6], seg[7]))
    } else {
        None
    }
}

/// The refusal of `ip` for a webhook, or None when it may be reached.
pub fn refusal(ip: IpAddr, allow_private: bool) -> Option<String> {
    if allow_private {
        return None;
    }
    private_kind(ip).map(|kind| {
        format!(
            "{ip} is a {kind} address; webhooks go to public addresses only \
             (start the server with --allow-private-webhooks to allow it)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Option<&'static str> {
        private_kind(s.parse().unwrap())
    }

    #[test]
    fn private_networks_are_named() {
        for (ip, want) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("0.0.0.0", "unspecified"),
            ("::1", "loopback"),
            ("fe80::1", "link-local"),
            ("fd00::1", "unique-local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::a00:1", "private"),
            ("ff02::1", "multicast or reserved"),
            ("::ffff:0:a00:1", "private"),
            ("2002:a00:1::1", "private"),
            ("2002:7f00:1::", "loopback"),
            ("2001:0:4136:e378::1", "Teredo (tunnelled)"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("fec0::1", "site-local"),
            ("198.18.0.1", "special-purpose"),
            ("192.0.0.8", "special-purpose"),
        ] {
            assert_eq!(kind(ip), Some(want), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "172.32.0.1",
            "2002:808:808::1",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
        }
        assert!(refusal("10.0.0.1".parse().unwrap(), true).is_none());
        assert!(
            refusal("10.0.0.1".parse().unwrap(), false)
                .unwrap()
                .contains("--allow-private-webhooks")
        );
    }

    #[test]
    fn urls_are_checked() {
        let t = parse_url(" https://hooks.example.com/in?x=1 ").unwrap();
        assert_eq!(t.url, "https://hooks.example.com/in?x=1");
        assert_eq!(t.host, Host::Name("hooks.example.com".into()));
        assert_eq!(
            parse_url("http://[::1]:8080/").unwrap().host,
            Host::Ip("::1".parse().unwrap())
        );
        for bad in [
            "",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#x",
            "example.com/hook",
            "javascript:alert(1)",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        assert!(parse_url(&format!("https://e.com/{}", "a".repeat(2000))).is_err());
    }
}
