//! Who must use two-factor authentication, and how a browser is named in the sessions list.

/// The admin setting "Require two-factor authentication".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequireTwoFactor {
    /// Nobody is made to (the default).
    #[default]
    NoOne,
    /// Admins are.
    Admins,
    /// Everyone is.
    Everyone,
}

impl RequireTwoFactor {
    /// Settings key in the database.
    pub const KEY: &'static str = "require_two_factor";
    /// The choices, in the select's order.
    pub const ALL: [RequireTwoFactor; 3] = [
        RequireTwoFactor::NoOne,
        RequireTwoFactor::Admins,
        RequireTwoFactor::Everyone,
    ];

    /// Stored and submitted value.
    pub fn as_str(self) -> &'static str {
        match self {
            RequireTwoFactor::NoOne => "no_one",
            RequireTwoFactor::Admins => "admins",
            RequireTwoFactor::Everyone => "everyone",
        }
    }

    /// What the select shows.
    pub fn label(self) -> &'static str {
        match self {
            RequireTwoFactor::NoOne => "No one",
            RequireTwoFactor::Admins => "Admins",
            RequireTwoFactor::Everyone => "Everyone",
        }
    }

    /// The value of a submitted or stored string; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The stored setting (absent or unreadable: the default).
    pub fn from_stored(s: Option<&str>) -> Self {
        s.and_then(Self::parse).unwrap_or_default()
    }

    /// Whether a user with this role must have a second factor.
    pub fn applies_to(self, is_admin: bool) -> bool {
        match self {
            RequireTwoFactor::NoOne => false,
            RequireTwoFactor::Admins => is_admin,
            RequireTwoFactor::Everyone => true,
        }
    }
}

/// "Chrome 131 on Linux"-style name of a `User-Agent` (empty: "Unknown browser").
pub fn browser_name(user_agent: &str) -> String {
    let version = |marker: &str| {
        user_agent.split(marker).nth(1).map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap_or("")
                .to_owned()
        })
    };
    // Order matters: Edge and Opera also say Chrome; Chrome also says Safari.
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chrome/", "Chrome"),
        ("Version/", "Safari"),
        ("curl/", "curl"),
    ]
    .into_iter()
    .find_map(|(marker, name)| {
        version(marker).map(|v| {
            if v.is_empty() {
                name.to_owned()
            } else {
                format!("{name} {v}")
            }
        })
    });
    let os = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(marker, _)| user_agent.contains(marker))
    .map(|(_, name)| name);
    match (browser, os) {
        (Some(b), Some(os)) => format!("{b} on {os}"),
        (Some(b), None) => b,
        (None, Some(os)) => format!("A browser on {os}"),
        (None, None) if user_agent.trim().is_empty() => "Unknown browser".into(),
        (None, None) => user_agent.chars().take(60).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_decides_by_role() {
        use RequireTwoFactor::*;
        assert!(!NoOne.applies_to(true) && !NoOne.applies_to(false));
        assert!(Admins.applies_to(true) && !Admins.applies_to(false));
        assert!(Everyone.applies_to(true) && Everyone.applies_to(false));
        assert_eq!(RequireTwoFactor::from_stored(None), NoOne);
        assert_eq!(RequireTwoFactor::from_stored(Some("junk")), NoOne);
        for r in RequireTwoFactor::ALL {
            assert_eq!(RequireTwoFactor::parse(r.as_str()), Some(r));
        }
        assert_eq!(RequireTwoFactor::parse("Everyone"), None);
    }

    #[test]
    fn browsers_are_named() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(browser_name(chrome), "Chrome 131 on Linux");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91";
        assert_eq!(browser_name(edge), "Edge 120 on Windows");
        let firefox =
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:121.0) Gecko/20100101 Firefox/121.0";
        assert_eq!(browser_name(firefox), "Firefox 121 on macOS");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
        assert_eq!(browser_name(safari), "Safari 17 on iOS");
        assert_eq!(browser_name(""), "Unknown browser");
        assert_eq!(browser_name("curl/8.5.0"), "curl 8");
        assert_eq!(browser_name("something else"), "something else");
    }
}
