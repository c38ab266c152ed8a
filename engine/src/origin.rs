//! Which web origins may use a widget. An allowlist entry is an exact origin
//! (`https://shop.example.com`, scheme, host and port all compared) or a subdomain pattern
//! (`https://*.example.com`, which matches `a.example.com` but not `example.com` itself).
//! A request's `Origin` is parsed the same way, so `https://example.com:443` and
//! `https://example.com` are one origin, and `https://example.com.evil.test` is not it.

use serde::Serialize;
use url::Url;

/// A parsed origin: scheme, lowercase host and effective port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// Parses a request's `Origin` header value.
    pub fn parse_header(value: &str) -> Result<Origin, RequestOriginError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(RequestOriginError::Missing);
        }
        if value.eq_ignore_ascii_case("null") {
            return Err(RequestOriginError::Null);
        }
        let (origin, wildcard) = parse_origin(value).map_err(|_| RequestOriginError::Malformed)?;
        if wildcard {
            return Err(RequestOriginError::Malformed);
        }
        Ok(origin)
    }

    /// The canonical serialization (`https://example.com`, port shown only when not default).
    pub fn serialize(&self) -> String {
        if Some(self.port) == default_port(&self.scheme) {
            format!("{}://{}", self.scheme, self.host)
        } else {
            format!("{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.serialize())
    }
}

/// Why a request's `Origin` header cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestOriginError {
    #[error("the request has no Origin header; browser endpoints only answer web pages")]
    Missing,
    #[error("the request's Origin is \"null\" (a sandboxed or file page); it cannot be allowed")]
    Null,
    #[error("the request's Origin header is not a valid origin")]
    Malformed,
}

/// One allowlist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPattern {
    Exact(Origin),
    /// `scheme://*.suffix[:port]`: any strict subdomain of `suffix`.
    Subdomains {
        scheme: String,
        suffix: String,
        port: u16,
    },
}

impl OriginPattern {
    /// Parses an allowlist entry, explaining exactly what is wrong with a bad one.
    pub fn parse(entry: &str) -> Result<OriginPattern, String> {
        let (origin, wildcard) = parse_origin(entry)?;
        Ok(if wildcard {
            OriginPattern::Subdomains { scheme: origin.scheme, suffix: origin.host, port: origin.port }
        } else {
            OriginPattern::Exact(origin)
        })
    }

    pub fn matches(&self, origin: &Origin) -> bool {
        match self {
            OriginPattern::Exact(o) => o == origin,
            OriginPattern::Subdomains { scheme, suffix, port } => {
                *scheme == origin.scheme
                    && *port == origin.port
                    && origin.host.len() > suffix.len() + 1
                    && origin.host.ends_with(suffix.as_str())
                    && origin.host.as_bytes()[origin.host.len() - suffix.len() - 1] == b'.'
            }
        }
    }

    /// The canonical spelling of this entry.
    pub fn serialize(&self) -> String {
        match self {
            OriginPattern::Exact(o) => o.serialize(),
            OriginPattern::Subdomains { scheme, suffix, port } => {
                let o = Origin { scheme: scheme.clone(), host: format!("*.{suffix}"), port: *port };
                o.serialize()
            }
        }
    }
}

/// A widget's allowlist. Empty means every origin is allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    patterns: Vec<OriginPattern>,
    /// The stored list did not parse (a store edited by hand, or a rule that has since become
    /// stricter): no origin is allowed until the widget is saved again.
    unreadable: bool,
}

/// An invalid allowlist entry: which one and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allowed_origins[{index}]: {reason}")]
pub struct OriginPolicyError {
    pub index: usize,
    pub reason: String,
}

impl OriginPolicy {
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<OriginPolicy, OriginPolicyError> {
        let patterns = entries
            .iter()
            .enumerate()
            .map(|(index, e)| {
                OriginPattern::parse(e.as_ref()).map_err(|reason| OriginPolicyError { index, reason })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OriginPolicy { patterns, unreadable: false })
    }

    /// A policy that allows no origin: what a stored allowlist that no longer parses means.
    /// Failing closed keeps a broken entry from turning into "every origin".
    pub fn refusing_every_origin() -> OriginPolicy {
        OriginPolicy { patterns: Vec::new(), unreadable: true }
    }

    /// Whether this stands for a stored list that did not parse.
    pub fn is_unreadable(&self) -> bool {
        self.unreadable
    }

    pub fn allows_every_origin(&self) -> bool {
        !self.unreadable && self.patterns.is_empty()
    }

    pub fn allows(&self, origin: &Origin) -> bool {
        !self.unreadable && (self.patterns.is_empty() || self.patterns.iter().any(|p| p.matches(origin)))
    }

    /// Canonical spellings, as stored and returned.
    pub fn entries(&self) -> Vec<String> {
        self.patterns.iter().map(OriginPattern::serialize).collect()
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

/// The longest DNS name (RFC 1035), in its ASCII form.
const MAX_HOST_LEN: usize = 253;

/// Parses `scheme://host[:port]` (optionally with a leading `*.` on the host). Returns the
/// origin (host without the `*.`) and whether it was a wildcard.
fn parse_origin(text: &str) -> Result<(Origin, bool), String> {
    let shown: String = text.chars().take(120).collect();
    if text.len() > 300 {
        return Err(format!("{shown:?}... is longer than 300 characters"));
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(format!(
            "{shown:?} has no scheme; write it as https://{} (or http:// for local development)",
            text.trim_end_matches('/')
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    if default_port(&scheme).is_none() {
        return Err(format!("{shown:?} must use http or https, not {scheme:?}"));
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#']) {
        return Err(format!("{shown:?} is an origin and cannot have a path, query or fragment"));
    }
    if rest.contains('@') {
        return Err(format!("{shown:?} cannot contain user information"));
    }
    let (wildcard, host_port) = match rest.strip_prefix("*.") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if host_port.contains('*') {
        return Err(format!(
            "{shown:?}: a wildcard is only allowed as the first label, as in https://*.example.com"
        ));
    }
    if host_port.contains('%') {
        return Err(format!(
            "{shown:?}: the host cannot be percent-encoded; write it as typed in the address bar"
        ));
    }
    let url = Url::parse(&format!("{scheme}://{host_port}/"))
        .map_err(|e| format!("{shown:?} is not a valid origin ({e})"))?;
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        None => return Err(format!("{shown:?} has no host")),
    };
    // An internationalized name grows when written in ASCII (punycode): judge its length as
    // saved, or a saved allowlist could fail to parse back.
    if host.len() > MAX_HOST_LEN {
        return Err(format!(
            "{shown:?}: its host is {} characters once written in ASCII; a DNS name has at most {MAX_HOST_LEN}",
            host.len()
        ));
    }
    if matches!(url.host(), Some(url::Host::Domain(_))) {
        check_host_name(&host).map_err(|why| format!("{shown:?}: {why}"))?;
    }
    if wildcard && !host.contains('.') {
        return Err(format!(
            "{shown:?}: a wildcard must cover a registrable domain, as in https://*.example.com"
        ));
    }
    let port = url.port_or_known_default().ok_or_else(|| format!("{shown:?} has no port"))?;
    Ok((Origin { scheme, host, port }, wildcard))
}

/// A host name as saved (ASCII, after IDNA) must be labels of letters, digits, hyphens (and
/// underscores, which some real hosts have) joined by single dots. The URL parser also accepts
/// percent-encoded and punctuation characters in hosts, which no browser sends in an `Origin`
/// and which could spell a wildcard (`%2a`) that the saved entry would then mean.
fn check_host_name(host: &str) -> Result<(), String> {
    for label in host.split('.') {
        if label.is_empty() {
            return Err("the host has an empty label (two dots in a row, or a dot at an end)".into());
        }
        if label.len() > 63 {
            return Err(format!("the host's label {label:?} is longer than 63 characters"));
        }
        if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
            return Err(format!("the host contains {c:?}; a host name has only letters, digits and hyphens"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(s: &str) -> Origin {
        Origin::parse_header(s).unwrap()
    }

    #[test]
    fn a_percent_encoded_wildcard_is_refused_so_what_is_saved_parses_back() {
        // Found by fuzz/origins: `%2a` decoded to a `*` inside the saved host.
        let typed = include_str!("../../fuzz/corpus/origins/crash-percent-encoded-wildcard.txt");
        let entries: Vec<&str> = typed.split('\n').collect();
        assert!(OriginPolicy::parse(&entries).is_err());
        for bad in [
            "https://a%2a.example.com",
            "https://ex%2Eample.com",
            "https://a..example.com",
            "https://exa\"mple.com",
        ] {
            let err = OriginPolicy::parse(&[bad]).unwrap_err();
            assert!(err.reason.contains("host"), "{bad}: {err}");
        }
        for good in [
            "https://my_site.example.com",
            "https://xn--bcher-kva.example",
            "https://Bücher.example",
            "http://localhost:3000",
        ] {
            let policy = OriginPolicy::parse(&[good]).unwrap();
            assert_eq!(OriginPolicy::parse(&policy.entries()).unwrap(), policy, "{good}");
        }
    }

    #[test]
    fn a_name_too_long_in_ascii_is_refused_so_what_is_saved_parses_back() {
        // Found by fuzz/origins: under 300 bytes as typed, over 300 once written as punycode.
        let typed = include_str!("../../fuzz/corpus/origins/crash-punycode-length.txt");
        let entries: Vec<&str> = typed.split('\n').collect();
        let err = OriginPolicy::parse(&entries).unwrap_err();
        assert!(err.reason.contains("at most 253"), "{err}");
        let fine = format!("https://{}.example.com", "\u{e9}".repeat(20));
        let saved = OriginPolicy::parse(&[fine]).unwrap().entries();
        assert_eq!(OriginPolicy::parse(&saved).unwrap().entries(), saved);
    }

    fn policy(entries: &[&str]) -> OriginPolicy {
        OriginPolicy::parse(entries).unwrap()
    }

    #[test]
    fn exact_match_compares_scheme_host_and_port() {
        let p = policy(&["https://example.com"]);
        assert!(p.allows(&origin("https://example.com")));
        assert!(p.allows(&origin("https://EXAMPLE.com:443")));
        assert!(!p.allows(&origin("http://example.com")));
        assert!(!p.allows(&origin("https://example.com:8443")));
        assert!(!p.allows(&origin("https://www.example.com")));
        assert!(!p.allows(&origin("https://example.com.evil.test")));
        assert!(!p.allows(&origin("https://evilexample.com")));
    }

    #[test]
    fn wildcard_matches_strict_subdomains_only() {
        let p = policy(&["https://*.example.com"]);
        assert!(p.allows(&origin("https://a.example.com")));
        assert!(p.allows(&origin("https://a.b.example.com")));
        assert!(!p.allows(&origin("https://example.com")));
        assert!(!p.allows(&origin("https://badexample.com")));
        assert!(!p.allows(&origin("https://a.example.com.evil.test")));
        assert!(!p.allows(&origin("http://a.example.com")));
    }

    #[test]
    fn empty_policy_allows_all() {
        assert!(policy(&[]).allows(&origin("https://anything.test")));
        assert!(policy(&[]).allows_every_origin());
    }

    #[test]
    fn bad_entries_explain_themselves() {
        let err = OriginPolicy::parse(&["https://ok.test", "example.com"]).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(err.to_string().contains("no scheme"), "{err}");
        assert!(err.to_string().contains("https://example.com"), "{err}");
        for bad in
            ["ftp://x.test", "https://x.test/path", "https://a.*.x.test", "https://*.com", "https://u@x.test"]
        {
            assert!(OriginPattern::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn entries_are_canonicalized() {
        let p = policy(&["HTTPS://Example.COM:443/", "http://localhost:8080", "https://*.Shop.test"]);
        assert_eq!(p.entries(), vec!["https://example.com", "http://localhost:8080", "https://*.shop.test"]);
    }

    #[test]
    fn request_origin_errors() {
        assert_eq!(Origin::parse_header("null"), Err(RequestOriginError::Null));
        assert_eq!(Origin::parse_header(""), Err(RequestOriginError::Missing));
        assert_eq!(Origin::parse_header("https://*.x.test"), Err(RequestOriginError::Malformed));
        assert_eq!(Origin::parse_header("not an origin"), Err(RequestOriginError::Malformed));
    }
}
