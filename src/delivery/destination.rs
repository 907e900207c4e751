//! Where Klaxon may send webhooks (SSRF protection). By default only globally routable
//! addresses; `KLAXON_WEBHOOK_ALLOWED_NETWORKS` opens chosen ranges.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use ipnet::IpNet;

/// Ranges that are not globally reachable: loopback, private, link-local, CGNAT, multicast,
/// unspecified, documentation, benchmarking and other special-purpose blocks (IANA registries).
static NON_GLOBAL: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    ]
    .iter()
    .map(|cidr| cidr.parse().expect("constant CIDR"))
    .collect()
});

#[derive(Debug, Clone, Default)]
pub struct DestinationPolicy {
    allowed: Vec<IpNet>,
}

impl DestinationPolicy {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        DestinationPolicy { allowed }
    }

    /// True when a webhook may be sent to this address.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.allowed.iter().any(|net| net.contains(&ip)) || is_global(ip)
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

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are judged as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

pub fn is_global(ip: IpAddr) -> bool {
    let ip = canonical(ip);
    if NON_GLOBAL.iter().any(|net| net.contains(&ip)) {
        return false;
    }
    match ip {
        IpAddr::V4(v4) => v4 != Ipv4Addr::BROADCAST,
        // NAT64 and 6to4 carry an IPv4 address; the embedded one decides.
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(v4) => is_global(IpAddr::V4(v4)),
            None => true,
        },
    }
}

fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let octets = v6.octets();
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return Some(Ipv4Addr::new(
            octets[12], octets[13], octets[14], octets[15],
        ));
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5]));
    }
    None
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
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.10",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
            "2001:db8::1",
        ] {
            assert!(!policy.permits(ip(refused)), "{refused} must be refused");
        }
        for allowed in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(policy.permits(ip(allowed)), "{allowed} must be allowed");
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
        assert!(policy.permits(ip("fd00::5")));
        assert!(!policy.permits(ip("10.0.0.1")));
        assert!(!policy.permits(ip("::1")));
    }
}
