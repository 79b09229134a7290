//! Which URLs an authority endpoint may have. Push delivery makes our server send personal data to
//! the URL, so an endpoint must be public HTTPS: never loopback, private, link-local or otherwise
//! internal (server-side request forgery). `DTR_ALLOW_INSECURE_ENDPOINTS` lifts this for development
//! and tests only.

use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an endpoint URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    /// Not an absolute URL.
    #[error("the endpoint is not an absolute URL")]
    Malformed,
    /// Not `https`.
    #[error("the endpoint must use https")]
    NotHttps,
    /// Contains `user:password@`.
    #[error("the endpoint must not contain credentials; authenticate deliveries with the signing secret")]
    Credentials,
    /// An internal address or name.
    #[error("the endpoint's host is a loopback, private, link-local or other internal address")]
    Internal,
}

/// Whether an IP address is one of the internal ranges an endpoint may not target.
pub fn is_internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || v6 == Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0) // NAT64 prefix head
                || (v6.segments()[0] == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
        }
    }
}

fn is_internal_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT 100.64.0.0/10
        || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking 198.18.0.0/15
        || a >= 240 // reserved
}

fn is_internal_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    !host.contains('.')
        || host == "localhost"
        || [
            ".localhost",
            ".local",
            ".internal",
            ".home.arpa",
            ".lan",
            ".intranet",
            ".corp",
        ]
        .iter()
        .any(|suffix| host.ends_with(suffix))
}

/// Checks an endpoint URL; `allow_insecure` accepts `http` and internal hosts.
pub fn check(raw: &str, allow_insecure: bool) -> Result<Url, UrlRefusal> {
    let url = Url::parse(raw.trim()).map_err(|_| UrlRefusal::Malformed)?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        _ => return Err(UrlRefusal::NotHttps),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefusal::Credentials);
    }
    let host = url.host().ok_or(UrlRefusal::Malformed)?;
    if allow_insecure {
        return Ok(url);
    }
    let internal = match host {
        url::Host::Ipv4(v4) => is_internal_ip(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => is_internal_ip(IpAddr::V6(v6)),
        url::Host::Domain(name) => is_internal_name(name),
    };
    if internal {
        return Err(UrlRefusal::Internal);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_https_endpoints_are_accepted() {
        assert!(check("https://housing.example-council.gov.uk/dtr/webhook", false).is_ok());
        assert!(check("https://203.0.114.10:8443/hook", false).is_ok());
    }

    #[test]
    fn plain_http_is_refused_unless_insecure_is_allowed() {
        assert_eq!(
            check("http://housing.example.gov.uk/hook", false),
            Err(UrlRefusal::NotHttps)
        );
        assert!(check("http://127.0.0.1:9999/hook", true).is_ok());
        assert_eq!(
            check("ftp://example.gov.uk/", true),
            Err(UrlRefusal::NotHttps)
        );
    }

    #[test]
    fn internal_targets_are_refused() {
        for url in [
            "https://127.0.0.1/",
            "https://localhost/",
            "https://api.localhost/",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://intranet/",
            "https://printer.local/",
            "https://metadata.google.internal/",
            "https://2130706433/",
        ] {
            assert_eq!(check(url, false), Err(UrlRefusal::Internal), "{url}");
        }
    }

    #[test]
    fn credentials_and_nonsense_are_refused() {
        assert_eq!(
            check("https://user:pw@example.gov.uk/", false),
            Err(UrlRefusal::Credentials)
        );
        assert_eq!(check("not a url", false), Err(UrlRefusal::Malformed));
    }
}
