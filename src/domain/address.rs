//! Where the service may connect on a mailbox owner's behalf (SSRF rules), with no I/O:
//! which addresses are internal, and what the allow-list (`host` or `host:port`) admits.
//! The transport applies them after DNS and connects to exactly the addresses checked.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether a host name or address literal points inside the machine or a private network.
pub fn is_internal_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(is_internal_ip)
}

/// Addresses the service must not reach unless allowed: loopback, private, link-local,
/// shared (CGNAT), benchmarking, reserved, multicast, unspecified, and IPv6 forms that
/// embed an IPv4 address (mapped, compatible, NAT64, 6to4) judged by that address.
pub fn is_internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast() // 224.0.0.0/4
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space 100.64.0.0/10
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
        || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments 192.0.0.0/24
        || a >= 240 // reserved 240.0.0.0/4
}

fn is_internal_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_internal_v4(v4);
    }
    // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks).
    if s[..6] == [0; 6] && !(v6.is_loopback() || v6.is_unspecified()) {
        return is_internal_v4(embedded_v4(s[6], s[7]));
    }
    // NAT64 64:ff9b::/96 and the local-use 64:ff9b:1::/48 reach the embedded IPv4 address.
    if s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0; 4] || s[2] == 1) {
        return s[2] == 1 || is_internal_v4(embedded_v4(s[6], s[7]));
    }
    // 6to4 2002::/16 carries an IPv4 address in its next 32 bits.
    if s[0] == 0x2002 {
        return is_internal_v4(embedded_v4(s[1], s[2]));
    }
    v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast() // ff00::/8
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
        || (s[0] == 0x0100 && s[1..4] == [0; 3]) // discard-only 100::/64
}

/// Whether the allow-list admits `host` on `port`: an entry `host` admits every port, an
/// entry `host:port` (`[v6]:port` for an IPv6 address) that port only. Names compare
/// without case.
pub fn is_allowed(allowed_hosts: &[String], host: &str, port: u16) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    allowed_hosts.iter().any(|entry| {
        let (h, p) = split_entry(entry.trim());
        h.eq_ignore_ascii_case(host) && p.is_none_or(|p| p == port)
    })
}

/// Splits an allow-list entry into host and optional port.
fn split_entry(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (rest, None),
        };
    }
    match entry.rsplit_once(':') {
        // One colon: host:port. More: a bare IPv6 address.
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (h, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

/// Whether an allow-list entry is well formed (checked at start-up).
pub fn is_valid_entry(entry: &str) -> bool {
    let entry = entry.trim();
    let (host, port) = split_entry(entry);
    // A port that was written must be a port.
    let wrote_port = if entry.starts_with('[') {
        entry.contains("]:")
    } else {
        entry.matches(':').count() == 1
    };
    !host.is_empty() && (!wrote_port || port.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn internal(s: &str) -> bool {
        is_internal_ip(s.parse().unwrap())
    }

    #[test]
    fn internal_address_classes() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "239.1.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "250.1.2.3",
            "192.0.0.8",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2001:db8::1",
            "100::1",
        ] {
            assert!(internal(a), "{a} must be internal");
        }
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::",
        ] {
            assert!(!internal(a), "{a} must be public");
        }
        assert!(is_internal_host("localhost"));
        assert!(is_internal_host("a.localhost"));
        assert!(is_internal_host("[::1]"));
        assert!(!is_internal_host("mail.example.com"));
    }

    #[test]
    fn allow_list_names_hosts_or_host_and_port() {
        let list: Vec<String> = ["sim", "127.0.0.1:8081", "[::1]:9000", "fd00::5"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(is_allowed(&list, "SIM", 1));
        assert!(is_allowed(&list, "127.0.0.1", 8081));
        assert!(!is_allowed(&list, "127.0.0.1", 8080));
        assert!(is_allowed(&list, "[::1]", 9000));
        assert!(!is_allowed(&list, "::1", 9001));
        assert!(is_allowed(&list, "fd00::5", 443));
        assert!(!is_allowed(&list, "other", 443));
        for ok in ["sim", "sim:80", "10.0.0.1:8081", "[::1]:80", "fd00::5"] {
            assert!(is_valid_entry(ok), "{ok}");
        }
        for bad in ["", " ", "sim:", "sim:x", "[::1]:x", "sim:99999"] {
            assert!(!is_valid_entry(bad), "{bad}");
        }
    }
}
