//! Where bearer tokens may go: the allow-list of X API hosts and the judgment of a pipeline's
//! `source.baseUrl` against it. Pure, so every parsing trap is a table test.
//!
//! Whoever can create a TweetPipeline chooses `source.baseUrl`, and the extractor sends the
//! namespace's bearer tokens there. So the operator runs extractors only for a base URL whose
//! host the cluster's administrator allowed (`TWEETPIPE_ALLOWED_API_HOSTS`, from the chart's
//! `allowedApiHosts` and `allowedApiServices`).
//!
//! The base URL is read with the `url` crate, the WHATWG parser `reqwest` (the extractor's HTTP
//! client) uses itself, so the host judged here is the host the extractor would connect to:
//! user information (`https://api.x.com@evil.com`), backslashes, percent-encoding, IPv4 in hex,
//! Unicode hosts (compared in their punycode form) and IPv6 literals are resolved the same way.
//!
//! An entry is `[scheme://]host[:port]`: the host is compared exactly (lower-cased, one trailing
//! dot dropped, IP literals by value; no wildcards); a scheme, when given, is required (the
//! default `https://api.x.com` keeps tokens off cleartext HTTP on the internet); a port, when
//! given, is required, with the scheme's default port standing in for a URL that names none.
//! An entry without a port allows every port of that host: a port does not change who runs the
//! host; give one where several parties share an address (a node or pod IP).

use std::fmt;
use std::net::IpAddr;

use thiserror::Error;
use url::{Host, Url};

/// The setting that holds the allow-list.
pub const SETTING: &str = "TWEETPIPE_ALLOWED_API_HOSTS";
/// The allow-list when the setting is absent: the X API, over HTTPS only.
pub const DEFAULT: &str = "https://api.x.com,https://api.twitter.com";
/// What the extractor appends to the base URL (see `workers/extractor/src/xapi.rs`).
const ENDPOINT_PATH: &str = "/2/tweets/search/recent";

/// HTTP or HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Cleartext.
    Http,
    /// TLS.
    Https,
}

impl Scheme {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A host as compared: an ASCII domain (punycode, lower case, no trailing dot) or an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostName {
    /// A DNS name.
    Domain(String),
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
}

impl HostName {
    pub(crate) fn from_url_host<S: AsRef<str>>(host: Host<S>) -> Option<Self> {
        match host {
            Host::Domain(d) => {
                let d = d.as_ref();
                let d = d.strip_suffix('.').unwrap_or(d).to_ascii_lowercase();
                (!d.is_empty()).then_some(HostName::Domain(d))
            }
            Host::Ipv4(ip) => Some(HostName::Ip(IpAddr::V4(ip))),
            Host::Ipv6(ip) => Some(HostName::Ip(IpAddr::V6(ip))),
        }
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostName::Domain(d) => f.write_str(d),
            HostName::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            HostName::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
        }
    }
}

/// One allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// Required scheme, if any.
    pub scheme: Option<Scheme>,
    /// The host.
    pub host: HostName,
    /// Required port, if any.
    pub port: Option<u16>,
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = self.scheme {
            write!(f, "{}://", scheme.as_str())?;
        }
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// An allow-list entry that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("allowed API host {entry:?}: {problem}")]
pub struct EntryError {
    /// The entry as given.
    pub entry: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// Where a base URL sends requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTarget {
    /// HTTP or HTTPS.
    pub scheme: Scheme,
    /// The host.
    pub host: HostName,
    /// The port, the scheme's default when the URL names none.
    pub port: u16,
}

impl fmt::Display for ApiTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme.as_str(), self.host, self.port)
    }
}

/// Why a base URL may not receive tokens. Messages name the host, never the URL's user
/// information (it could hold a password).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HostRefusal {
    /// Not a URL the extractor could call.
    #[error(
        "source.baseUrl is not a URL the extractor can call: give an http:// or https:// URL, e.g. https://api.x.com"
    )]
    Unparsable,
    /// Carries `user[:password]@`.
    #[error(
        "source.baseUrl must not contain user information (user:password@ before the host): it hides which host receives the bearer tokens; give scheme://host[:port] only"
    )]
    UserInfo,
    /// The host is not on the list.
    #[error(
        "source.baseUrl sends the bearer tokens to {target}, which is not an allowed X API host (allowed: {allowed}); use an allowed host, or ask the operator's administrator to allow this one (Helm values allowedApiHosts, or allowedApiServices for an in-cluster Service; operator setting TWEETPIPE_ALLOWED_API_HOSTS)"
    )]
    NotAllowed {
        /// `scheme://host:port` the extractor would call.
        target: String,
        /// The allow-list, comma-separated.
        allowed: String,
    },
}

/// The hosts bearer tokens may be sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedApiHosts {
    entries: Vec<AllowedHost>,
}

impl Default for AllowedApiHosts {
    /// The X API hosts over HTTPS ([`DEFAULT`]).
    fn default() -> Self {
        AllowedApiHosts {
            entries: ["api.x.com", "api.twitter.com"]
                .into_iter()
                .map(|d| AllowedHost {
                    scheme: Some(Scheme::Https),
                    host: HostName::Domain(d.to_string()),
                    port: None,
                })
                .collect(),
        }
    }
}

impl AllowedApiHosts {
    /// Reads a comma-separated list (spaces around entries and empty entries ignored). An empty
    /// list is refused: it would stop every pipeline, which is never what a typo meant.
    pub fn parse(list: &str) -> Result<Self, EntryError> {
        let entries = list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(parse_entry)
            .collect::<Result<Vec<_>, _>>()?;
        if entries.is_empty() {
            return Err(EntryError {
                entry: list.to_string(),
                problem: "the list names no host",
            });
        }
        Ok(AllowedApiHosts { entries })
    }

    /// The entries.
    pub fn entries(&self) -> &[AllowedHost] {
        &self.entries
    }

    /// Whether the extractor may send tokens to `base_url`.
    pub fn judge(&self, base_url: &str) -> Result<ApiTarget, HostRefusal> {
        let target = target(base_url)?;
        if self.entries.iter().any(|e| allows(e, &target)) {
            Ok(target)
        } else {
            Err(HostRefusal::NotAllowed {
                target: target.to_string(),
                allowed: self.to_string(),
            })
        }
    }
}

impl fmt::Display for AllowedApiHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{entry}")?;
        }
        Ok(())
    }
}

fn allows(entry: &AllowedHost, target: &ApiTarget) -> bool {
    allows_target(entry, target.scheme, &target.host, target.port)
}

/// Whether `entry` allows `scheme://host:port` (also the schema registry allow-list's rule).
pub(crate) fn allows_target(
    entry: &AllowedHost,
    scheme: Scheme,
    host: &HostName,
    port: u16,
) -> bool {
    entry.host == *host
        && entry.scheme.is_none_or(|s| s == scheme)
        && entry.port.is_none_or(|p| p == port)
}

fn parse_entry(entry: &str) -> Result<AllowedHost, EntryError> {
    let error = |problem| EntryError {
        entry: entry.to_string(),
        problem,
    };
    let (scheme, authority) = match entry.split_once("://") {
        Some((scheme, rest)) => (
            Some(
                Scheme::parse(&scheme.to_ascii_lowercase())
                    .ok_or_else(|| error("the scheme must be http or https"))?,
            ),
            rest,
        ),
        None => (None, entry),
    };
    if authority.contains(['/', '\\', '?', '#']) {
        return Err(error("give a host and optional port only, no path"));
    }
    if authority.contains('@') {
        return Err(error(
            "give a host and optional port only, no user information",
        ));
    }
    if authority.contains('*') {
        return Err(error("wildcards are not supported: list every host"));
    }
    let (host, port) = split_port(authority).ok_or_else(|| {
        error("expected host or host:port (an IPv6 address in brackets, e.g. [fd00::1]:8080)")
    })?;
    let port = port
        .map(|p| p.parse::<u16>().ok().filter(|p| *p > 0))
        .map(|p| p.ok_or_else(|| error("the port must be a number from 1 to 65535")))
        .transpose()?;
    let host = Host::parse(host)
        .ok()
        .and_then(HostName::from_url_host)
        .ok_or_else(|| error("not a valid host name or IP address"))?;
    Ok(AllowedHost { scheme, host, port })
}

/// Splits `host[:port]`; IPv6 literals must be bracketed.
fn split_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        match rest {
            "" => Some((host, None)),
            _ => rest.strip_prefix(':').map(|p| (host, Some(p))),
        }
    } else {
        match authority.split_once(':') {
            None => Some((authority, None)),
            Some((_, port)) if port.contains(':') => None,
            Some((host, port)) => Some((host, Some(port))),
        }
    }
}

/// Where the extractor would send requests for `base_url`. The URL it really calls (the base
/// plus the endpoint path) must reach the same place, or the base URL is refused as unreadable.
pub fn target(base_url: &str) -> Result<ApiTarget, HostRefusal> {
    let base = read(base_url)?;
    let endpoint = read(&format!(
        "{}{ENDPOINT_PATH}",
        base_url.trim_end_matches('/')
    ))?;
    if base == endpoint {
        Ok(base)
    } else {
        Err(HostRefusal::Unparsable)
    }
}

fn read(url: &str) -> Result<ApiTarget, HostRefusal> {
    let url = Url::parse(url).map_err(|_| HostRefusal::Unparsable)?;
    let scheme = Scheme::parse(url.scheme()).ok_or(HostRefusal::Unparsable)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(HostRefusal::UserInfo);
    }
    let host = url
        .host()
        .and_then(HostName::from_url_host)
        .ok_or(HostRefusal::Unparsable)?;
    let port = url.port_or_known_default().ok_or(HostRefusal::Unparsable)?;
    Ok(ApiTarget { scheme, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> AllowedApiHosts {
        AllowedApiHosts::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn the_default_is_the_x_api_over_https() {
        assert_eq!(AllowedApiHosts::default(), list(DEFAULT));
        assert_eq!(
            AllowedApiHosts::default().to_string(),
            "https://api.x.com, https://api.twitter.com"
        );
    }

    /// (allow-list, base URL, allowed?) — every trap of host parsing.
    #[test]
    fn base_urls_are_judged_by_the_host_the_extractor_would_call() {
        let sim = "x-api-simulator.tweetpipe-system,x-api-simulator.tweetpipe-system.svc:8080";
        let rows: &[(&str, &str, bool)] = &[
            (DEFAULT, "https://api.x.com", true),
            (DEFAULT, "https://api.twitter.com/", true),
            (DEFAULT, "https://api.x.com:443", true),
            (DEFAULT, "https://api.x.com:8443", true),
            (DEFAULT, "https://api.x.com/proxy-prefix", true),
            // case and trailing dot
            (DEFAULT, "HTTPS://API.X.COM", true),
            (DEFAULT, "https://api.x.com.", true),
            (DEFAULT, "https://api.x.com..", false),
            // http vs https: the default requires TLS
            (DEFAULT, "http://api.x.com", false),
            ("api.x.com", "http://api.x.com", true),
            ("http://sim", "https://sim", false),
            // look-alikes
            (DEFAULT, "https://api.x.com.evil.com", false),
            (DEFAULT, "https://evil-api.x.com", false),
            (DEFAULT, "https://x.com", false),
            (DEFAULT, "https://evil.com/api.x.com", false),
            (DEFAULT, "https://evil.com?api.x.com", false),
            (DEFAULT, "https://evil.com#api.x.com", false),
            (DEFAULT, "https://evil.com\\api.x.com", false),
            (DEFAULT, "https://evil.com\\@api.x.com", false),
            // percent-encoded host: decoded like reqwest does
            (DEFAULT, "https://api%2Ex.com", true),
            // IDN: a Cyrillic "а" is another host, compared in punycode
            (DEFAULT, "https://\u{430}pi.x.com", false),
            ("b\u{fc}cher.example", "https://xn--bcher-kva.example", true),
            ("xn--bcher-kva.example", "https://B\u{dc}CHER.example", true),
            // ports
            ("sim:8080", "http://sim:8080", true),
            ("sim:8080", "http://sim", false),
            ("sim:80", "http://sim", true),
            ("https://sim:443", "https://sim", true),
            ("sim:8080", "http://sim:8081", false),
            // in-cluster Services
            (sim, "http://x-api-simulator.tweetpipe-system:8080", true),
            (
                sim,
                "http://x-api-simulator.tweetpipe-system.svc:8080",
                true,
            ),
            (
                sim,
                "http://x-api-simulator.tweetpipe-system.svc:9090",
                false,
            ),
            (sim, "http://x-api-simulator.other-ns:8080", false),
            (sim, "http://x-api-simulator:8080", false),
            // IP literals: only when listed, compared by value
            (DEFAULT, "http://10.0.0.7:8080", false),
            ("10.0.0.7:8080", "http://10.0.0.7:8080", true),
            ("10.0.0.7", "http://0x0a.0.0.7:8080", true),
            ("10.0.0.7", "http://167772167", true),
            ("10.0.0.7", "http://10.0.0.8", false),
            ("[fd00::1]:8080", "http://[fd00:0::1]:8080", true),
            ("[FD00::1]", "http://[fd00::0:1]", true),
            ("[fd00::1]", "http://[fd00::2]", false),
            ("[::ffff:10.0.0.7]", "http://10.0.0.7", false),
        ];
        let mut failures = Vec::new();
        for (allowed, url, expected) in rows {
            let got = list(allowed).judge(url);
            if got.is_ok() != *expected {
                failures.push(format!(
                    "{allowed} / {url}: expected {expected}, got {got:?}"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn user_information_is_refused_without_repeating_it() {
        let allowed = AllowedApiHosts::default();
        for url in [
            "https://api.x.com@evil.com",
            "https://evil.com@api.x.com",
            "https://user:hunter2@api.x.com",
            "https://:hunter2@api.x.com",
        ] {
            let refusal = allowed.judge(url).expect_err(url);
            assert_eq!(refusal, HostRefusal::UserInfo, "{url}");
            assert!(!refusal.to_string().contains("hunter2"));
        }
    }

    #[test]
    fn unreadable_base_urls_are_refused() {
        let allowed = list("api.x.com");
        for url in [
            "",
            "api.x.com",
            "ftp://api.x.com",
            "file:///etc/passwd",
            "https://",
            "https://api.x.com:99999",
            "https://[fd00::1",
        ] {
            assert_eq!(allowed.judge(url), Err(HostRefusal::Unparsable), "{url:?}");
        }
    }

    #[test]
    fn the_refusal_names_the_host_and_how_to_allow_it() {
        let refusal = AllowedApiHosts::default()
            .judge("http://Evil.example:8080/x")
            .expect_err("not allowed");
        let message = refusal.to_string();
        for part in [
            "http://evil.example:8080",
            "allowed: https://api.x.com, https://api.twitter.com",
            "allowedApiHosts",
            "allowedApiServices",
            "TWEETPIPE_ALLOWED_API_HOSTS",
        ] {
            assert!(message.contains(part), "{part} in {message}");
        }
        let idn = AllowedApiHosts::default()
            .judge("https://\u{430}pi.x.com")
            .expect_err("look-alike");
        assert!(
            idn.to_string().contains("https://xn--pi-6kc.x.com:443"),
            "{idn}"
        );
        let v6 = AllowedApiHosts::default()
            .judge("http://[FD00::1]")
            .expect_err("ip");
        assert!(v6.to_string().contains("http://[fd00::1]:80"), "{v6}");
    }

    #[test]
    fn entries_are_normalised() {
        let parsed = list(" HTTPS://API.X.com. , sim.ns.svc:8080,,[FD00::1]:9000, 10.1.2.3 ,");
        assert_eq!(
            parsed.to_string(),
            "https://api.x.com, sim.ns.svc:8080, [fd00::1]:9000, 10.1.2.3"
        );
    }

    #[test]
    fn bad_entries_are_refused_by_name() {
        let rows = [
            ("", "names no host"),
            (" , ", "names no host"),
            ("ftp://api.x.com", "http or https"),
            ("https://api.x.com/", "no path"),
            ("user@api.x.com", "no user information"),
            ("*.x.com", "wildcards"),
            ("api.x.com:0", "1 to 65535"),
            ("api.x.com:65536", "1 to 65535"),
            ("api.x.com:http", "1 to 65535"),
            ("fd00::1", "in brackets"),
            ("[fd00::1", "in brackets"),
            ("[fd00::1]x", "in brackets"),
            ("bad host", "not a valid host"),
            (":8080", "not a valid host"),
            ("api.x.com,https://", "not a valid host"),
        ];
        for (input, phrase) in rows {
            let error = AllowedApiHosts::parse(input).expect_err(input);
            assert!(error.to_string().contains(phrase), "{input:?}: {error}");
        }
    }
}
