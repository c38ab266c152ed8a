//! Which call a datagram belongs to. A bound remote (a transport and address: a UDP source, or
//! the far end of a TCP connection) maps straight to its call; for a new remote the only thing
//! to go on is the STUN binding request's USERNAME, whose first half is the local ICE ufrag we
//! chose for that call. Such a datagram is `Unbound`: the caller checks its STUN credentials
//! with the call's peer and only then binds the remote.
//!
//! Two hash lookups at most per datagram, never a scan (str0m's example demuxes with `accepts()`
//! on every peer: an HMAC per peer per datagram).

use crate::media::transport::Transport;
use foldhash::fast::FixedState;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use str0m::ice::StunMessage;

/// Where a call's packets come from: a UDP address, or the far end of one TCP connection.
pub type Remote = (Transport, SocketAddr);

/// Most remotes bound to one call. ICE may confirm a few (host, reflexive, a changed
/// NAT mapping); more than this drops the oldest, so a call cannot grow the table without end.
pub const MAX_REMOTES_PER_CALL: usize = 8;

/// A call within one endpoint: its slot, and a serial that tells a reused slot from the call
/// that held it before.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey {
    pub(crate) index: u32,
    pub(crate) serial: u32,
}

impl fmt::Debug for CallKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call#{}.{}", self.index, self.serial)
    }
}

/// Where a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// From an address bound to this call.
    Bound(CallKey),
    /// A STUN request from a new address, naming this call's ufrag: bind the address only if
    /// the call's peer accepts the request's credentials.
    Unbound(CallKey),
}

struct Routed {
    ufrag: Box<str>,
    remotes: Vec<Remote>,
}

/// The routing table of one endpoint.
pub struct Router {
    by_remote: HashMap<Remote, CallKey, FixedState>,
    by_ufrag: HashMap<Box<str>, CallKey, FixedState>,
    calls: HashMap<CallKey, Routed, FixedState>,
}

/// A call with this ufrag is already routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the ICE ufrag {0:?} is already in use on this endpoint")]
pub struct UfragTaken(pub String);

impl Router {
    /// An empty table. `seed` keys its hash maps (remote addresses are chosen by whoever sends
    /// us datagrams); the driver supplies it, as it supplies all randomness.
    pub fn new(seed: u64) -> Router {
        let state = FixedState::with_seed(seed);
        Router {
            by_remote: HashMap::with_hasher(state.clone()),
            by_ufrag: HashMap::with_hasher(state.clone()),
            calls: HashMap::with_hasher(state),
        }
    }

    /// The call `datagram` from `source` belongs to, if any.
    pub fn route(&self, source: Remote, datagram: &[u8]) -> Option<Route> {
        if let Some(key) = self.by_remote.get(&source) {
            return Some(Route::Bound(*key));
        }
        let ufrag = stun_local_ufrag(datagram)?;
        self.by_ufrag.get(ufrag).map(|key| Route::Unbound(*key))
    }

    /// Routes STUN requests naming `ufrag` to `key` from now on.
    pub fn add(&mut self, ufrag: &str, key: CallKey) -> Result<(), UfragTaken> {
        if self.by_ufrag.contains_key(ufrag) {
            return Err(UfragTaken(ufrag.to_string()));
        }
        self.by_ufrag.insert(ufrag.into(), key);
        self.calls.insert(key, Routed { ufrag: ufrag.into(), remotes: Vec::new() });
        Ok(())
    }

    /// Routes STUN requests naming `ufrag` to `key` instead of its old ufrag (an ICE restart);
    /// the addresses already bound stay bound until they are replaced.
    pub fn rekey(&mut self, key: CallKey, ufrag: &str) -> Result<(), UfragTaken> {
        if self.by_ufrag.get(ufrag).is_some_and(|k| *k != key) {
            return Err(UfragTaken(ufrag.to_string()));
        }
        let Some(routed) = self.calls.get_mut(&key) else {
            return Ok(());
        };
        self.by_ufrag.remove(&routed.ufrag);
        routed.ufrag = ufrag.into();
        self.by_ufrag.insert(ufrag.into(), key);
        Ok(())
    }

    /// Routes every datagram from `source` to `key` (its STUN credentials were checked).
    pub fn bind(&mut self, source: Remote, key: CallKey) {
        if !self.calls.contains_key(&key) {
            return;
        }
        match self.by_remote.insert(source, key) {
            Some(previous) if previous == key => return,
            Some(previous) => {
                if let Some(other) = self.calls.get_mut(&previous) {
                    other.remotes.retain(|a| *a != source);
                }
            }
            None => {}
        }
        let Some(routed) = self.calls.get_mut(&key) else {
            return;
        };
        routed.remotes.push(source);
        if routed.remotes.len() > MAX_REMOTES_PER_CALL {
            let oldest = routed.remotes.remove(0);
            self.by_remote.remove(&oldest);
        }
    }

    /// Forgets one remote (its TCP connection closed); its call keeps its other remotes.
    pub fn unbind(&mut self, source: Remote) {
        let Some(key) = self.by_remote.remove(&source) else {
            return;
        };
        if let Some(routed) = self.calls.get_mut(&key) {
            routed.remotes.retain(|r| *r != source);
        }
    }

    /// Forgets `key`: its ufrag and every address bound to it.
    pub fn remove(&mut self, key: CallKey) {
        let Some(routed) = self.calls.remove(&key) else {
            return;
        };
        self.by_ufrag.remove(&routed.ufrag);
        for r in routed.remotes {
            self.by_remote.remove(&r);
        }
    }

    /// Calls routed.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Remotes bound to `key`.
    pub fn remotes(&self, key: CallKey) -> &[Remote] {
        self.calls.get(&key).map_or(&[], |r| &r.remotes)
    }
}

/// The local ufrag a STUN binding request is addressed to, if `datagram` is one.
pub fn stun_local_ufrag(datagram: &[u8]) -> Option<&str> {
    // RFC 7983: STUN starts with 0 or 1 in the first byte.
    if datagram.first().is_none_or(|b| *b > 3) {
        return None;
    }
    let msg = StunMessage::parse(datagram).ok()?;
    if !msg.is_binding_request() {
        return None;
    }
    let username = msg.username()?;
    username.split_once(':').map(|(local, _)| local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(index: u32) -> CallKey {
        CallKey { index, serial: 1 }
    }

    fn addr(port: u16) -> Remote {
        (Transport::Udp, SocketAddr::from(([10, 0, 0, 2], port)))
    }

    fn tcp(port: u16) -> Remote {
        (Transport::Tcp, SocketAddr::from(([10, 0, 0, 2], port)))
    }

    #[test]
    fn non_stun_is_not_routed_by_ufrag() {
        assert_eq!(stun_local_ufrag(&[]), None);
        assert_eq!(stun_local_ufrag(&[0x80, 0, 0, 0]), None); // RTP
        assert_eq!(stun_local_ufrag(&[22, 254, 253]), None); // DTLS
        assert_eq!(stun_local_ufrag(&[0, 1, 0, 0]), None); // truncated STUN
        let router = Router::new(7);
        assert_eq!(router.route(addr(1), &[0x80, 0, 0, 0]), None);
    }

    #[test]
    fn bound_addresses_route_and_removal_forgets_them() {
        let mut router = Router::new(7);
        router.add("ufragA", key(0)).unwrap();
        router.add("ufragB", key(1)).unwrap();
        assert_eq!(router.add("ufragA", key(2)), Err(UfragTaken("ufragA".into())));
        router.bind(addr(1), key(0));
        router.bind(addr(2), key(1));
        assert_eq!(router.route(addr(1), b"anything"), Some(Route::Bound(key(0))));
        assert_eq!(router.route(addr(2), b"anything"), Some(Route::Bound(key(1))));
        // An address that moves to another call leaves the first.
        router.bind(addr(1), key(1));
        assert_eq!(router.remotes(key(0)), &[] as &[Remote]);
        assert_eq!(router.remotes(key(1)), &[addr(2), addr(1)]);
        router.remove(key(1));
        assert_eq!(router.route(addr(1), b"anything"), None);
        assert_eq!(router.route(addr(2), b"anything"), None);
        assert_eq!(router.len(), 1);
        // The ufrag is free again.
        router.add("ufragB", key(3)).unwrap();
    }

    #[test]
    fn udp_and_tcp_from_one_address_are_different_remotes() {
        let mut router = Router::new(7);
        router.add("ufragA", key(0)).unwrap();
        router.add("ufragB", key(1)).unwrap();
        router.bind(addr(5), key(0));
        router.bind(tcp(5), key(1));
        assert_eq!(router.route(addr(5), b"x"), Some(Route::Bound(key(0))));
        assert_eq!(router.route(tcp(5), b"x"), Some(Route::Bound(key(1))));
        // A closed connection forgets only itself.
        router.unbind(tcp(5));
        assert_eq!(router.route(tcp(5), b"x"), None);
        assert_eq!(router.route(addr(5), b"x"), Some(Route::Bound(key(0))));
        assert_eq!(router.remotes(key(1)), &[] as &[Remote]);
        router.unbind(tcp(6)); // never bound: nothing happens
        assert_eq!(router.len(), 2);
    }

    #[test]
    fn a_call_keeps_at_most_a_few_addresses() {
        let mut router = Router::new(7);
        router.add("ufragA", key(0)).unwrap();
        for port in 0..(MAX_REMOTES_PER_CALL as u16 + 3) {
            router.bind(addr(port), key(0));
        }
        assert_eq!(router.remotes(key(0)).len(), MAX_REMOTES_PER_CALL);
        assert_eq!(router.route(addr(0), b"x"), None, "the oldest was dropped");
        assert!(router.route(addr(MAX_REMOTES_PER_CALL as u16 + 2), b"x").is_some());
    }
}
