//! Which addresses and URLs a metadata fetch may reach (pure): the server-side request
//! forgery rules of `spec.metadata.url`.
//!
//! A metadata URL is written by whoever may create an SsoConnection in a namespace, and the
//! operator fetches it from inside the cluster with its own network position. Without these
//! rules a namespace could make the operator read the cloud provider's instance metadata
//! (credentials), the API server, or any in-cluster service, and learn about it from the
//! error in its status. So by default only public unicast addresses are reachable;
//! `--allow-private-metadata-urls` admits loopback, private and link-local ones for IdPs that
//! run in the cluster (and for tests). Cloud metadata endpoints and addresses that are never
//! a server (unspecified, multicast, broadcast) stay refused even then.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of destination an address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// A public unicast address.
    Public,
    /// Loopback, private (RFC 1918, unique-local, shared/CGNAT), or link-local.
    Private,
    /// A cloud instance-metadata endpoint (169.254.169.254, fd00:ec2::254, 100.100.100.200).
    CloudMetadata,
    /// Not a server: unspecified, multicast, broadcast, documentation or reserved ranges.
    Unusable,
}

/// Classifies an address (IPv4-mapped IPv6 addresses as their IPv4 address).
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        return AddressClass::CloudMetadata;
    }
    if ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
    {
        return AddressClass::Unusable;
    }
    if ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b))
    {
        return AddressClass::Private;
    }
    AddressClass::Public
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let seg = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return AddressClass::CloudMetadata;
    }
    if ip.is_unspecified() || ip.is_multicast() || (seg[0] == 0x2001 && seg[1] == 0xdb8) {
        return AddressClass::Unusable;
    }
    // NAT64 (64:ff9b::/96) carries an IPv4 address: judge that address.
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
        let [h1, l1] = seg[6].to_be_bytes();
        let [h2, l2] = seg[7].to_be_bytes();
        return classify_v4(Ipv4Addr::new(h1, l1, h2, l2));
    }
    if ip.is_loopback()
        || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (seg[0] & 0xffc0) == 0xfec0
    // deprecated site-local fec0::/10
    {
        return AddressClass::Private;
    }
    AddressClass::Public
}

/// The operator's address rules for one fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRules {
    /// `--allow-private-metadata-urls`: loopback, private and link-local addresses admitted.
    pub allow_private: bool,
    /// The URL is plain HTTP: only private addresses (an in-cluster IdP) are admitted, never a
    /// server across the internet, where the document could be altered on the way.
    pub plain_http: bool,
}

/// Why an address or URL is refused. The message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Checks one address a host name resolved to (or an address literal in the URL).
pub fn admit_address(host: &str, ip: IpAddr, rules: AddressRules) -> Result<(), Refused> {
    let what = match classify(ip) {
        AddressClass::Public if rules.plain_http => {
            return Err(Refused(format!(
                "{host} resolves to the public address {ip}, and the URL is plain http: a document fetched across the internet without TLS could be altered on the way; use https"
            )));
        }
        AddressClass::Public => return Ok(()),
        AddressClass::Private if rules.allow_private => return Ok(()),
        AddressClass::Private => "a loopback, private or link-local address",
        AddressClass::CloudMetadata => "a cloud instance-metadata endpoint",
        AddressClass::Unusable => {
            "an address that is not a server (unspecified, multicast, broadcast or reserved)"
        }
    };
    let hint = if classify(ip) == AddressClass::Private {
        "; nothing was requested. For an IdP inside the cluster, the operator must run with --allow-private-metadata-urls (SSO_ALLOW_PRIVATE_METADATA_URLS=true)"
    } else {
        "; nothing was requested"
    };
    Err(Refused(format!("{host} resolves to {ip}, {what}{hint}")))
}

/// Checks every address a host resolved to: one refused address refuses the host (a name
/// that resolves to both a public and an internal address is how rebinding attacks start).
pub fn admit_addresses(host: &str, ips: &[IpAddr], rules: AddressRules) -> Result<(), Refused> {
    if ips.is_empty() {
        return Err(Refused(format!("{host} did not resolve to any address")));
    }
    ips.iter()
        .try_for_each(|ip| admit_address(host, *ip, rules))
}

/// Checks a URL before anything is sent: its scheme, and its host when it is an address
/// literal (a host name is checked when it resolves). Returns the rules for the fetch.
pub fn check_url(url: &url::Url, allow_private: bool) -> Result<AddressRules, Refused> {
    let plain_http = match url.scheme() {
        "https" => false,
        "http" if allow_private => true,
        "http" => {
            return Err(Refused(format!(
                "metadata.url must be https ({url} is plain http); plain http is accepted only for an IdP inside the cluster when the operator runs with --allow-private-metadata-urls"
            )));
        }
        other => {
            return Err(Refused(format!(
                "metadata.url must be an https URL, not {other}:"
            )));
        }
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused(
            "metadata.url may not carry a user name or password; federation metadata is public"
                .into(),
        ));
    }
    let rules = AddressRules {
        allow_private,
        plain_http,
    };
    match url.host() {
        None => Err(Refused(format!("metadata.url {url} has no host"))),
        Some(url::Host::Ipv4(ip)) => {
            admit_address(&ip.to_string(), IpAddr::V4(ip), rules).map(|_| rules)
        }
        Some(url::Host::Ipv6(ip)) => {
            admit_address(&ip.to_string(), IpAddr::V6(ip), rules).map(|_| rules)
        }
        Some(url::Host::Domain(_)) => Ok(rules),
    }
}

/// Checks a redirect target: the same scheme as the URL it came from, and an address literal
/// host under the same rules. A host name goes through the resolver's checks.
pub fn check_redirect(from: &url::Url, to: &url::Url, rules: AddressRules) -> Result<(), Refused> {
    if to.scheme() != from.scheme() {
        return Err(Refused(format!(
            "the metadata server redirected from {}: to {}:, a redirect to another scheme is not followed",
            from.scheme(),
            to.scheme()
        )));
    }
    match to.host() {
        Some(url::Host::Ipv4(ip)) => admit_address(&ip.to_string(), IpAddr::V4(ip), rules),
        Some(url::Host::Ipv6(ip)) => admit_address(&ip.to_string(), IpAddr::V6(ip), rules),
        Some(url::Host::Domain(_)) => Ok(()),
        None => Err(Refused(
            "the metadata server redirected to a URL without a host".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_are_classified_like_an_ssrf_filter_must() {
        let table = [
            ("20.190.151.7", AddressClass::Public),
            ("2603:1030::1", AddressClass::Public),
            ("127.0.0.1", AddressClass::Private),
            ("127.8.9.1", AddressClass::Private),
            ("::1", AddressClass::Private),
            ("10.1.2.3", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("172.31.255.255", AddressClass::Private),
            ("172.32.0.1", AddressClass::Public),
            ("192.168.1.1", AddressClass::Private),
            ("100.64.0.1", AddressClass::Private),
            ("169.254.10.10", AddressClass::Private),
            ("fe80::1", AddressClass::Private),
            ("fd12:3456::1", AddressClass::Private),
            ("169.254.169.254", AddressClass::CloudMetadata),
            ("fd00:ec2::254", AddressClass::CloudMetadata),
            ("100.100.100.200", AddressClass::CloudMetadata),
            ("::ffff:169.254.169.254", AddressClass::CloudMetadata),
            ("::ffff:10.0.0.1", AddressClass::Private),
            ("64:ff9b::a9fe:a9fe", AddressClass::CloudMetadata),
            ("64:ff9b::1.2.3.4", AddressClass::Public),
            ("0.0.0.0", AddressClass::Unusable),
            ("::", AddressClass::Unusable),
            ("224.0.0.1", AddressClass::Unusable),
            ("255.255.255.255", AddressClass::Unusable),
            ("ff02::1", AddressClass::Unusable),
        ];
        for (addr, class) in table {
            assert_eq!(classify(ip(addr)), class, "{addr}");
        }
    }

    #[test]
    fn private_addresses_need_the_flag_and_cloud_metadata_never_passes() {
        let strict = AddressRules {
            allow_private: false,
            plain_http: false,
        };
        let open = AddressRules {
            allow_private: true,
            plain_http: false,
        };
        let err = admit_address("idp.internal", ip("10.0.0.5"), strict).unwrap_err();
        assert!(err.0.contains("--allow-private-metadata-urls"), "{err}");
        assert!(err.0.contains("nothing was requested"), "{err}");
        assert!(admit_address("idp.internal", ip("10.0.0.5"), open).is_ok());
        assert!(admit_address("x", ip("169.254.169.254"), open).is_err());
        assert!(admit_address("x", ip("0.0.0.0"), open).is_err());
        assert!(admit_address("login.example", ip("20.190.151.7"), strict).is_ok());
    }

    #[test]
    fn one_internal_address_refuses_the_whole_host() {
        let strict = AddressRules {
            allow_private: false,
            plain_http: false,
        };
        let err = admit_addresses("rebind.example", &[ip("20.1.1.1"), ip("127.0.0.1")], strict)
            .unwrap_err();
        assert!(err.0.contains("127.0.0.1"), "{err}");
        assert!(admit_addresses("nothing.example", &[], strict).is_err());
    }

    #[test]
    fn schemes_and_literal_hosts_are_checked_before_any_request() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(
            check_url(
                &u("https://login.microsoftonline.com/x/federationmetadata.xml"),
                false
            )
            .is_ok()
        );
        let err = check_url(&u("http://idp.example/md"), false).unwrap_err();
        assert!(err.0.contains("must be https"), "{err}");
        assert!(check_url(&u("ftp://idp.example/md"), true).is_err());
        assert!(check_url(&u("file:///etc/passwd"), true).is_err());
        assert!(check_url(&u("https://127.0.0.1:8443/md"), false).is_err());
        assert!(check_url(&u("https://[::1]/md"), false).is_err());
        assert!(check_url(&u("https://127.0.0.1:8443/md"), true).is_ok());
        assert!(check_url(&u("https://169.254.169.254/latest/meta-data"), true).is_err());
        assert!(check_url(&u("https://user:pw@idp.example/md"), false).is_err());
        // Plain http with the flag: only towards private addresses.
        let rules = check_url(
            &u("http://keycloak.sso.svc:8080/realms/x/protocol/saml/descriptor"),
            true,
        )
        .unwrap();
        assert!(rules.plain_http);
        assert!(admit_address("keycloak.sso.svc", ip("10.96.0.12"), rules).is_ok());
        assert!(admit_address("evil.example", ip("20.1.1.1"), rules).is_err());
    }

    #[test]
    fn redirects_keep_the_scheme_and_the_address_rules() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        let rules = AddressRules {
            allow_private: false,
            plain_http: false,
        };
        let from = u("https://idp.example/md");
        assert!(check_redirect(&from, &u("https://cdn.idp.example/md.xml"), rules).is_ok());
        assert!(check_redirect(&from, &u("http://idp.example/md"), rules).is_err());
        assert!(check_redirect(&from, &u("https://169.254.169.254/"), rules).is_err());
        assert!(check_redirect(&from, &u("https://10.0.0.1/"), rules).is_err());
    }
}
