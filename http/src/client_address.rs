//! The client's address for per-address limits: the connection's peer, unless that peer is a
//! trusted proxy (`--trusted-proxies`), in which case the nearest address in `X-Forwarded-For`
//! (or `Forwarded: for=`) that is not itself a trusted proxy. Headers from anyone else are
//! ignored, so a client cannot pick its own address to dodge a limit.

use actix_web::HttpRequest;
use ipnet::IpNet;
use std::net::IpAddr;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// From a comma-separated list of addresses and CIDR ranges.
    pub fn parse(text: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("--trusted-proxies: {item:?} is not an IP address or CIDR range"))?;
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client address of `req`.
    pub fn client(&self, req: &HttpRequest) -> IpAddr {
        let peer = req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        if !self.trusts(peer) {
            return peer;
        }
        // Nearest hop first: the right end of the chain was added by the proxy that reached us.
        let mut hops: Vec<IpAddr> = Vec::new();
        for value in req.headers().get_all("forwarded") {
            for part in value.to_str().unwrap_or("").split([',', ';']) {
                if let Some((k, v)) = part.trim().split_once('=') {
                    if k.trim().eq_ignore_ascii_case("for") {
                        if let Some(ip) = forwarded_ip(v) {
                            hops.push(ip);
                        }
                    }
                }
            }
        }
        if hops.is_empty() {
            for value in req.headers().get_all("x-forwarded-for") {
                hops.extend(value.to_str().unwrap_or("").split(',').filter_map(forwarded_ip));
            }
        }
        hops.into_iter().rev().find(|ip| !self.trusts(*ip)).unwrap_or(peer)
    }
}

/// An address as forwarding headers write it: `1.2.3.4`, `"[2001:db8::1]:4711"`, `1.2.3.4:80`.
fn forwarded_ip(text: &str) -> Option<IpAddr> {
    let t = text.trim().trim_matches('"');
    if let Ok(ip) = t.parse() {
        return Some(ip);
    }
    if let Some(rest) = t.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    t.rsplit_once(':').and_then(|(host, _)| host.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn req(peer: &str, headers: &[(&str, &str)]) -> HttpRequest {
        let mut r = TestRequest::default().peer_addr(peer.parse().unwrap());
        for (k, v) in headers {
            r = r.insert_header((*k, *v));
        }
        r.to_http_request()
    }

    #[test]
    fn headers_count_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        let lb = TrustedProxies::parse("10.0.0.0/8, 192.168.1.7").unwrap();
        let spoof = [("x-forwarded-for", "1.1.1.1")];
        assert_eq!(none.client(&req("203.0.113.9:5000", &spoof)), "203.0.113.9".parse::<IpAddr>().unwrap());
        assert_eq!(lb.client(&req("203.0.113.9:5000", &spoof)), "203.0.113.9".parse::<IpAddr>().unwrap());
        let chain = [("x-forwarded-for", "1.1.1.1, 198.51.100.4, 10.1.2.3")];
        assert_eq!(lb.client(&req("10.0.0.2:5000", &chain)), "198.51.100.4".parse::<IpAddr>().unwrap());
        let fwd = [("forwarded", "for=\"[2001:db8::1]:4711\";proto=https, for=10.9.9.9")];
        assert_eq!(lb.client(&req("192.168.1.7:80", &fwd)), "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(lb.client(&req("10.0.0.2:5000", &[])), "10.0.0.2".parse::<IpAddr>().unwrap());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }
}
