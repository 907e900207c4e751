//! Where Klaxon may send webhooks (SSRF protection). By default only globally routable
//! addresses; `KLAXON_WEBHOOK_ALLOWED_NETWORKS` opens chosen ranges.
//!
//! An IPv6 address that carries an IPv4 address (IPv4-mapped, IPv4-compatible, SIIT, NAT64,
//! 6to4, Teredo) is judged as that IPv4 address, by the same rules and the same allowed
//! networks: otherwise `[::ffff:0:7f00:1]` or `[::127.0.0.1]` would be a way round the check.
//! Every other address is refused when it lies in a block of the IANA IPv4 or IPv6
//! special-purpose address registries that is not globally reachable, is multicast, or (IPv6)
//! lies outside global unicast space `2000::/3`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// IPv4 ranges that are not globally reachable (IANA IPv4 special-purpose registry, plus
/// multicast and the limited broadcast address).
static NON_GLOBAL_V4: LazyLock<Vec<Ipv4Net>> = LazyLock::new(|| {
    parse_all(&[
        "0.0.0.0/8",          // "this network"
        "10.0.0.0/8",         // private
        "100.64.0.0/10",      // shared address space (CGNAT)
        "127.0.0.0/8",        // loopback
        "169.254.0.0/16",     // link-local (cloud metadata)
        "172.16.0.0/12",      // private
        "192.0.0.0/24",       // IETF protocol assignments
        "192.0.2.0/24",       // documentation (TEST-NET-1)
        "192.88.99.0/24",     // deprecated 6to4 relay anycast
        "192.168.0.0/16",     // private
        "198.18.0.0/15",      // benchmarking
        "198.51.100.0/24",    // documentation (TEST-NET-2)
        "203.0.113.0/24",     // documentation (TEST-NET-3)
        "224.0.0.0/4",        // multicast
        "240.0.0.0/4",        // reserved
        "255.255.255.255/32", // limited broadcast
    ])
});

/// IPv6 ranges that are not globally reachable (IANA IPv6 special-purpose registry, multicast
/// and deprecated site-local). The ranges that embed an IPv4 address are not here: they are
/// judged by that address (see `embedded_ipv4`).
static NON_GLOBAL_V6: LazyLock<Vec<Ipv6Net>> = LazyLock::new(|| {
    parse_all(&[
        "::/128",         // unspecified
        "::1/128",        // loopback
        "64:ff9b:1::/48", // local-use IPv4/IPv6 translation (its /96 form is judged by IPv4)
        "100::/64",       // discard-only
        "100:0:0:1::/64", // dummy prefix
        "2001::/23",      // IETF protocol assignments (Teredo, 2001::/32, is judged by IPv4)
        "2001:2::/48",    // benchmarking
        "2001:db8::/32",  // documentation
        "3fff::/20",      // documentation
        "5f00::/16",      // segment routing (SRv6) SIDs
        "fc00::/7",       // unique local
        "fe80::/10",      // link-local
        "fec0::/10",      // site-local (deprecated)
        "ff00::/8",       // multicast
    ])
});

/// IPv6 global unicast space; nothing outside it (but the IPv4-embedding forms) is public.
static GLOBAL_UNICAST_V6: LazyLock<Ipv6Net> =
    LazyLock::new(|| "2000::/3".parse().expect("constant CIDR"));

fn parse_all<N: std::str::FromStr>(cidrs: &[&str]) -> Vec<N>
where
    N::Err: std::fmt::Debug,
{
    cidrs
        .iter()
        .map(|cidr| cidr.parse().expect("constant CIDR"))
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct DestinationPolicy {
    allowed: Vec<IpNet>,
}

impl DestinationPolicy {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        DestinationPolicy { allowed }
    }

    /// True when a webhook may be sent to this address: it is global, or an allowed network
    /// contains it (or the IPv4 address it embeds).
    pub fn permits(&self, ip: IpAddr) -> bool {
        let judged = judged_as(ip);
        let allowed = |candidate: &IpAddr| self.allowed.iter().any(|net| net.contains(candidate));
        allowed(&ip) || allowed(&judged) || is_global(ip)
    }

    /// Resolves the URL's host and names the first address Klaxon would refuse, or says that
    /// the host does not resolve. `None` means every address is fine.
    pub async fn check_url(&self, url: &url::Url) -> Option<String> {
        let host = url.host_str()?;
        let port = url.port_or_known_default().unwrap_or(443);
        let host_for_lookup = host.trim_start_matches('[').trim_end_matches(']');
        match tokio::net::lookup_host((host_for_lookup, port)).await {
            Ok(addresses) => {
                let addresses: Vec<IpAddr> = addresses.map(|a| a.ip()).collect();
                if addresses.is_empty() {
                    return Some(format!("{host} does not resolve to any address right now."));
                }
                addresses.into_iter().find(|ip| !self.permits(*ip)).map(|ip| {
                    format!(
                        "{host} resolves to {ip}, a private or otherwise non-public address: Klaxon will not \
                         send webhooks there unless an administrator allows that network \
                         (KLAXON_WEBHOOK_ALLOWED_NETWORKS)."
                    )
                })
            }
            Err(_) => Some(format!(
                "{host} does not resolve right now; deliveries will fail until it does."
            )),
        }
    }
}

/// The address whose rules apply: the IPv4 address an IPv6 address embeds, or itself.
fn judged_as(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_ipv4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// True when the address is globally reachable, by the rules above.
pub fn is_global(ip: IpAddr) -> bool {
    match judged_as(ip) {
        IpAddr::V4(v4) => !NON_GLOBAL_V4.iter().any(|net| net.contains(&v4)),
        IpAddr::V6(v6) => {
            GLOBAL_UNICAST_V6.contains(&v6) && !NON_GLOBAL_V6.iter().any(|net| net.contains(&v6))
        }
    }
}

/// The IPv4 address an IPv6 address carries, in every form that routes to (or translates to)
/// an IPv4 destination.
fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let o = v6.octets();
    let last32 = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match s {
        // ::ffff:0:0/96, IPv4-mapped.
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(last32),
        // ::/96, IPv4-compatible (deprecated; `::` and `::1` fall in 0.0.0.0/8 and are refused).
        [0, 0, 0, 0, 0, 0, _, _] => Some(last32),
        // ::ffff:0:0:0/96, IPv4-translated (SIIT).
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(last32),
        // 64:ff9b::/96, the NAT64 well-known prefix.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(last32),
        // 64:ff9b:1::/96, the usual form of the local-use NAT64 prefix (its other lengths stay
        // refused with the rest of 64:ff9b:1::/48).
        [0x64, 0xff9b, 1, 0, 0, 0, _, _] => Some(last32),
        // 2002::/16, 6to4: the IPv4 address follows the prefix.
        [0x2002, ..] => Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])),
        // 2001::/32, Teredo: the client's public IPv4 address, inverted, in the last 32 bits.
        [0x2001, 0, ..] => Some(Ipv4Addr::new(!o[12], !o[13], !o[14], !o[15])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_every_non_global_range_by_default() {
        let policy = DestinationPolicy::default();
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.8",
            "192.0.0.170",
            "192.0.2.10",
            "192.88.99.1",
            "198.18.0.1",
            "198.19.255.254",
            "198.51.100.7",
            "203.0.113.9",
            "::1",
            "::",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fc00::1",
            "fd12::1",
            "ff02::1",
            "ff0e::1",
            "100::1",
            "100::ffff:ffff:ffff:ffff",
            "100:0:0:1::1",
            "2001:2::1",
            "2001:10::1",
            "2001:db8::1",
            "3fff::1",
            "3fff:fff:ffff::1",
            "5f00::1",
            "64:ff9b:1:2::1",
            "4000::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
        ] {
            assert!(!policy.permits(ip(refused)), "{refused} must be refused");
        }
        for allowed in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "192.0.3.1",
            "198.20.0.1",
            "223.255.255.254",
            "2606:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(policy.permits(ip(allowed)), "{allowed} must be allowed");
        }
    }

    /// Every IPv6 spelling of an IPv4 address is judged as that IPv4 address.
    #[test]
    fn ipv6_forms_that_embed_ipv4_are_judged_by_their_ipv4_address() {
        let policy = DestinationPolicy::default();
        // (form, embedded address): each spelling of 169.254.169.254, 127.0.0.1, 10.0.0.1 and
        // 192.168.1.1, and of 8.8.8.8 for contrast.
        let forms = |v4: Ipv4Addr| -> Vec<String> {
            let [a, b, c, d] = v4.octets();
            let (hi, lo) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
            let (ihi, ilo) = (!hi, !lo);
            vec![
                format!("::ffff:{v4}"),            // IPv4-mapped, dotted
                format!("::ffff:{hi:x}:{lo:x}"),   // IPv4-mapped, hex
                format!("::{v4}"),                 // IPv4-compatible, dotted
                format!("::{hi:x}:{lo:x}"),        // IPv4-compatible, hex
                format!("::ffff:0:{v4}"),          // SIIT, dotted
                format!("::ffff:0:{hi:x}:{lo:x}"), // SIIT, hex
                format!("64:ff9b::{v4}"),          // NAT64 well-known prefix
                format!("64:ff9b::{hi:x}:{lo:x}"),
                format!("64:ff9b:1::{hi:x}:{lo:x}"), // local-use NAT64, /96
                format!("2002:{hi:x}:{lo:x}::1"),    // 6to4
                format!("2002:{hi:x}:{lo:x}:ffff::"),
                format!("2001:0:4136:e378:8000:63bf:{ihi:x}:{ilo:x}"), // Teredo, client v4
                format!("2001::{ihi:x}:{ilo:x}"),
            ]
        };
        for refused in [
            "169.254.169.254",
            "127.0.0.1",
            "10.0.0.1",
            "192.168.1.1",
            "0.0.0.0",
        ] {
            for form in forms(refused.parse().unwrap()) {
                assert_eq!(
                    judged_as(ip(&form)),
                    ip(refused),
                    "{form} carries {refused}"
                );
                assert!(
                    !policy.permits(ip(&form)),
                    "{form} ({refused}) must be refused"
                );
            }
        }
        for form in forms("8.8.8.8".parse().unwrap()) {
            assert!(
                policy.permits(ip(&form)),
                "{form} (8.8.8.8) must be allowed"
            );
        }
        // The audit's examples, as written.
        for refused in [
            "::a9fe:a9fe",
            "::127.0.0.1",
            "::ffff:0:a9fe:a9fe",
            "::ffff:0:7f00:1",
            "::ffff:a9fe:a9fe",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
        ] {
            assert!(!policy.permits(ip(refused)), "{refused} must be refused");
        }
    }

    #[test]
    fn allowed_networks_open_only_their_range() {
        let policy = DestinationPolicy::new(vec![
            "127.0.0.0/8".parse().unwrap(),
            "fd00::/8".parse().unwrap(),
        ]);
        assert!(policy.permits(ip("127.0.0.1")));
        assert!(policy.permits(ip("::ffff:127.0.0.1")));
        assert!(
            policy.permits(ip("::127.0.0.1")),
            "an allowed IPv4 range, in IPv6 spelling"
        );
        assert!(policy.permits(ip("fd00::5")));
        assert!(!policy.permits(ip("10.0.0.1")));
        assert!(!policy.permits(ip("::ffff:10.0.0.1")));
        assert!(!policy.permits(ip("::1")));
        assert!(!policy.permits(ip("169.254.169.254")));
    }
}
