//! Requests to URLs that users give us (callbacks, later web tools and imports). Every
//! connection resolves the host itself and refuses addresses that are not public
//! (loopback, private, link-local, CGNAT, multicast, reserved) unless the operator allows
//! them, so DNS tricks and redirects cannot reach the server's own network.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

#[derive(Clone, Copy, Debug, Default)]
pub struct Policy {
    /// Operator switch: allow loopback and private destinations (tests, intranets).
    pub allow_private: bool,
}

/// True for addresses on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return is_public(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || (seg[0] == 0x2001 && seg[1] == 0x0db8))
        }
    }
}

/// The IPv4 address an IPv6 address carries, in every form that routes to it: mapped
/// (`::ffff:a.b.c.d`), compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96` and the local-use
/// `64:ff9b:1::/48`), 6to4 (`2002:AABB:CCDD::/48`) and Teredo (`2001:0::/32`, whose client
/// address is the last 32 bits inverted; its server address is checked too by refusing the
/// whole prefix unless both are public).
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    use std::net::Ipv4Addr;
    let seg = v6.segments();
    let low =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    match seg {
        // `::` and `::1` are IPv6's own unspecified and loopback addresses.
        [0, 0, 0, 0, 0, 0, 0, 0] | [0, 0, 0, 0, 0, 0, 0, 1] => None,
        [0, 0, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        [0x64, 0xff9b, 1, ..] => Some(low(seg[6], seg[7])),
        [0x2002, hi, lo, ..] => Some(low(hi, lo)),
        [0x2001, 0, server_hi, server_lo, _, _, hi, lo] => {
            let client = low(!hi, !lo);
            let server = low(server_hi, server_lo);
            // Either end private makes the whole address private.
            Some(if is_public(IpAddr::V4(server)) {
                client
            } else {
                server
            })
        }
        _ => None,
    }
}

/// Checks a URL's shape: http(s), a host, no credentials. Says what is wrong.
pub fn check_url_shape(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err("must name a host".into());
    }
    if authority.contains('@') {
        return Err("must not carry credentials".into());
    }
    if url.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    Ok(())
}

fn netloc(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        Some(authority.to_string())
    } else {
        Some(format!(
            "{authority}:{}",
            if scheme == "https" { 443 } else { 80 }
        ))
    }
}

/// Resolves `host:port`, keeping only the addresses `policy` allows; an error when none
/// is left. Give it to an HTTP client as its resolver, so every connection is checked.
pub fn resolve(netloc: &str, policy: Policy) -> io::Result<Vec<SocketAddr>> {
    let all: Vec<SocketAddr> = netloc.to_socket_addrs()?.collect();
    let allowed: Vec<SocketAddr> = all
        .iter()
        .copied()
        .filter(|a| policy.allow_private || is_public(a.ip()))
        .collect();
    if allowed.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "refused: the host resolves only to loopback, private or link-local addresses",
        ));
    }
    Ok(allowed)
}

/// Checks that a URL may be called under `policy`, resolving its host now (blocking).
pub fn check_destination(url: &str, policy: Policy) -> Result<(), String> {
    check_url_shape(url)?;
    let netloc = netloc(url).ok_or("must name a host")?;
    resolve(&netloc, policy)
        .map(|_| ())
        .map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => e.to_string(),
            _ => format!("host could not be resolved: {e}"),
        })
}

/// POSTs JSON; `Ok(status)` for a 2xx answer, else a short reason (status or network
/// error). Blocking: call from a blocking thread.
pub fn post_json(
    url: &str,
    headers: &[(String, String)],
    body: &serde_json::Value,
    policy: Policy,
    timeout: Duration,
) -> Result<u16, String> {
    check_url_shape(url)?;
    let agent = ureq::AgentBuilder::new()
        .resolver(move |netloc: &str| resolve(netloc, policy))
        .redirects(0)
        .timeout(timeout)
        .user_agent("andibase-callbacks/1")
        .build();
    let mut req = agent.post(url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    match req.send_json(body.clone()) {
        Ok(resp) if (200..300).contains(&resp.status()) => Ok(resp.status()),
        Ok(resp) => Err(format!("HTTP {}", resp.status())),
        Err(ureq::Error::Status(code, _)) => Err(format!("HTTP {code}")),
        Err(ureq::Error::Transport(t)) => Err(format!("network error: {t}")),
    }
}

/// A page fetched by [`get_text`].
#[derive(Clone, Debug)]
pub struct Fetched {
    pub status: u16,
    pub content_type: String,
    /// The body as text (lossy UTF-8), cut at the byte limit.
    pub text: String,
    pub truncated: bool,
}

/// GETs a URL and reads at most `max_bytes` of its body as text; redirects (at most 5)
/// are followed, each connection through the guard. Blocking: call from a blocking thread.
pub fn get_text(
    url: &str,
    policy: Policy,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Fetched, String> {
    use std::io::Read;
    check_url_shape(url)?;
    let agent = ureq::AgentBuilder::new()
        .resolver(move |netloc: &str| resolve(netloc, policy))
        .redirects(5)
        .timeout(timeout)
        .user_agent("andibase-web-fetch/1")
        .build();
    let resp = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(t)) => return Err(format!("network error: {t}")),
    };
    let status = resp.status();
    let content_type = resp.content_type().to_string();
    let mut body = Vec::new();
    resp.into_reader()
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("network error: {e}"))?;
    let truncated = body.len() > max_bytes;
    body.truncate(max_bytes);
    Ok(Fetched {
        status,
        content_type,
        text: String::from_utf8_lossy(&body).into_owned(),
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_by_the_ipv4_address() {
        for ip in [
            "::127.0.0.1",
            "::7f00:1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::10.1.2.3",
            "64:ff9b:1::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "2002:a00:1::",
            // Teredo: client 192.0.2.45 (documentation), and client 127.0.0.1.
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:0:4136:e378:0:0:80ff:fffe",
            // Teredo through a private server.
            "2001:0:a00:1:0:0:f7f7:f7f7",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "64:ff9b::808:808",
            "2002:808:808::1",
            "::ffff:1.1.1.1",
            "2001:0:4136:e378:0:0:f7f7:f7f7",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        assert!(!is_public("::".parse().unwrap()) && !is_public("::1".parse().unwrap()));
    }

    #[test]
    fn loopback_destinations_are_refused_unless_allowed() {
        let strict = Policy::default();
        assert!(check_destination("http://127.0.0.1:9/x", strict)
            .unwrap_err()
            .contains("refused"));
        assert!(check_destination("http://localhost:9/x", strict)
            .unwrap_err()
            .contains("refused"));
        assert!(check_destination("http://[::1]:9/x", strict).is_err());
        assert!(check_destination(
            "http://127.0.0.1:9/x",
            Policy {
                allow_private: true
            }
        )
        .is_ok());
        assert!(check_destination("ftp://example.com", strict).is_err());
        assert!(check_destination("http://user:pw@example.com/", strict).is_err());
        let sent = post_json(
            "http://127.0.0.1:9/x",
            &[],
            &serde_json::json!({}),
            strict,
            Duration::from_secs(1),
        );
        assert!(sent.unwrap_err().contains("refused"));
    }
}
