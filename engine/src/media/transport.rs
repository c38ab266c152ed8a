//! Which transport a packet of a call travels on. Most visitors use UDP; one whose network drops
//! UDP reaches the server's passive ICE-TCP candidate (RFC 6544), where each STUN, DTLS or SRTP
//! packet is one RFC 4571 frame on a TCP connection. The engine treats a frame like a datagram:
//! the driver owns the connections and their framing, and the remote address of a connection
//! names it (one listener: the remote address alone tells its connections apart).

use std::net::SocketAddr;
use str0m::net::{Protocol, TcpType};
use str0m::Candidate;

/// The transport a packet came in or goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Udp,
    /// A TCP connection to our passive candidate, one RFC 4571 frame per packet.
    Tcp,
}

impl Transport {
    pub(crate) fn protocol(self) -> Protocol {
        match self {
            Transport::Udp => Protocol::Udp,
            Transport::Tcp => Protocol::Tcp,
        }
    }

    /// The transport str0m wants a packet sent on; `None` for those we never offer (TLS).
    pub(crate) fn of(protocol: Protocol) -> Option<Transport> {
        match protocol {
            Protocol::Udp => Some(Transport::Udp),
            Protocol::Tcp => Some(Transport::Tcp),
            _ => None,
        }
    }
}

/// Largest packet an RFC 4571 frame carries (its length field is 16 bits).
pub const MAX_FRAME: usize = u16::MAX as usize;

/// A TCP host candidate at `addr`: passive on the server (it listens), active on a client (it
/// dials).
pub(crate) fn tcp_host_candidate(addr: SocketAddr, role: TcpType) -> Result<Candidate, String> {
    Candidate::builder().tcp().host(addr).tcptype(role).build().map_err(|e| e.to_string())
}
