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
    /// A port other than 443 or 1024–65535.
    #[error("the endpoint's port must be 443 or from 1024 to 65535")]
    Port,
}

/// The IPv4 address an IPv6 address carries, for the forms that route to it: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, deprecated but still parsed), NAT64 (the
/// well-known `64:ff9b::/96` and the local-use `64:ff9b:1::/48`, RFC 6052/8215), 6to4 (`2002::/16`,
/// RFC 3056) and Teredo (`2001::/32`, RFC 4380: the client address is the last 32 bits, inverted).
/// A connection to any of them may reach that IPv4 address, so it is judged by it.
pub fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if let Some(mapped) = v6.to_ipv4_mapped() {
        return Some(mapped);
    }
    match s {
        // ::a.b.c.d, but not :: and ::1 (unspecified and loopback, judged as IPv6).
        [0, 0, 0, 0, 0, 0, hi, lo] if (hi, lo) != (0, 0) && (hi, lo) != (0, 1) => Some(v4(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        [0x64, 0xff9b, 1, ..] => Some(v4(s[6], s[7])),
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        [0x2001, 0, .., hi, lo] => Some(v4(!hi, !lo)),
        _ => None,
    }
}

/// Whether an IP address is one of the internal ranges an endpoint may not target.
pub fn is_internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return is_internal_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (v6.segments()[0] == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || (v6.segments()[0] == 0x0100 && v6.segments()[1..4] == [0, 0, 0])
            // discard 100::/64
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

/// Checks an endpoint URL; `allow_insecure` accepts `http`, internal hosts and any port. Checked when
/// the endpoint is set *and* before every delivery attempt, so an endpoint stored while insecure mode
/// was on is refused once it is off.
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
    // 443, or an unprivileged port: the well-known ports below 1024 are other services (SSH, SMTP,
    // databases' neighbours) that a push should never be able to talk to.
    let port = url.port_or_known_default().ok_or(UrlRefusal::Malformed)?;
    if port != 443 && port < 1024 {
        return Err(UrlRefusal::Port);
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
    fn ipv6_forms_that_embed_an_internal_ipv4_address_are_refused() {
        for url in [
            "https://[::127.0.0.1]/",            // IPv4-compatible
            "https://[::ffff:169.254.169.254]/", // IPv4-mapped
            "https://[64:ff9b::a9fe:a9fe]/",     // NAT64 → 169.254.169.254
            "https://[64:ff9b::10.0.0.1]/",
            "https://[64:ff9b:1::a00:1]/", // local-use NAT64 → 10.0.0.1
            "https://[2002:7f00:1::]/",    // 6to4 → 127.0.0.1
            "https://[2002:a9fe:a9fe::1]/",
            "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", // Teredo → 127.0.0.1
        ] {
            assert_eq!(check(url, false), Err(UrlRefusal::Internal), "{url}");
        }
    }

    #[test]
    fn the_same_forms_embedding_a_public_address_are_judged_by_it() {
        for url in [
            "https://[64:ff9b::cb00:7101]/", // NAT64 → 203.0.113.1? documentation: refused below
            "https://[2002:5db8:d822::1]/",  // 6to4 → 93.184.216.34
            "https://[::ffff:93.184.216.34]/",
        ] {
            let v6: Ipv6Addr = url
                .trim_start_matches("https://[")
                .trim_end_matches("]/")
                .parse()
                .expect("an IPv6 address");
            let embedded = embedded_ipv4(v6).expect("an embedded IPv4 address");
            assert_eq!(
                check(url, false).is_ok(),
                !is_internal_v4(embedded),
                "{url} ({embedded})"
            );
        }
        assert!(check("https://[2002:5db8:d822::1]/", false).is_ok());
        assert_eq!(
            embedded_ipv4("2001:0:4136:e378:8000:63bf:80ff:fffe".parse().expect("v6")),
            Some(Ipv4Addr::new(127, 0, 0, 1))
        );
        // Plain public IPv6 addresses are fine.
        assert!(check("https://[2a00:1450:4009:81f::200e]/", false).is_ok());
    }

    #[test]
    fn ports_are_443_or_unprivileged() {
        assert!(check("https://example.gov.uk/hook", false).is_ok());
        assert!(check("https://example.gov.uk:443/hook", false).is_ok());
        assert!(check("https://example.gov.uk:1024/hook", false).is_ok());
        assert!(check("https://example.gov.uk:65535/hook", false).is_ok());
        for port in [22, 25, 80, 1023] {
            assert_eq!(
                check(&format!("https://example.gov.uk:{port}/hook"), false),
                Err(UrlRefusal::Port),
                "{port}"
            );
        }
        assert!(
            check("http://127.0.0.1:80/hook", true).is_ok(),
            "insecure mode"
        );
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
