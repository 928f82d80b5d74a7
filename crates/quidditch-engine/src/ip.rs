//! `ip` field values: parsed with `std::net` and normalised so equal addresses index as the
//! same `_kw` term (`::ffff:1.2.3.4` → `1.2.3.4`, IPv6 in RFC 5952 compressed form, as
//! OpenSearch prints them).

use std::net::IpAddr;

/// The canonical string of an IP address, or why it is not one. CIDR blocks are rejected:
/// Quidditch indexes ips as strings, so it cannot match address ranges.
pub fn normalize_ip(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.contains('/') {
        return Err(format!("CIDR notation [{t}] is not supported on ip fields"));
    }
    let addr: IpAddr = t.parse().map_err(|_| format!("'{t}' is not an IP string literal."))?;
    Ok(match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::normalize_ip;

    #[test]
    fn normalises_addresses() {
        assert_eq!(normalize_ip("192.168.0.1").unwrap(), "192.168.0.1");
        assert_eq!(normalize_ip("::ffff:192.168.0.1").unwrap(), "192.168.0.1");
        assert_eq!(normalize_ip("2001:0db8:0000:0000:0000:0000:0000:0001").unwrap(), "2001:db8::1");
        assert!(normalize_ip("192.168.0.0/16").is_err());
        assert!(normalize_ip("not-an-ip").is_err());
        assert!(normalize_ip("256.1.1.1").is_err());
    }
}
