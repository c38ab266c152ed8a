//! A DNS resolver for webhook deliveries that refuses names resolving to private, loopback or
//! link-local addresses (unless `--allow-private-webhooks`): the check happens on the address
//! the connection will use, at each delivery, so a name that changes what it resolves to
//! after the endpoint was saved (DNS rebinding) still cannot reach inside.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use voxgate_engine::webhook::is_private;

/// Resolves with the system's resolver, then drops what the policy forbids.
pub struct PublicOnly {
    pub allow_private: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                addrs.iter().copied().filter(|a| allow_private || !is_private(a.ip())).collect();
            if allowed.is_empty() {
                let why = format!("{host} resolves only to private, loopback or link-local addresses");
                return Err(why.into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}
