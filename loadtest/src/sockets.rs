//! The harness's UDP sockets. The server tells peers apart by their address, so every peer needs
//! its own. On loopback they need not each have a socket: a few sockets bound to the wildcard
//! address carry every peer, each peer with its own `127.x.y.z` source address set per datagram
//! (IP_PKTINFO) and told apart on receipt by the destination address the kernel reports. Off
//! loopback (one real address) each peer gets its own socket. Reading is batched (`recvmmsg`
//! through quinn-udp) and carries the kernel's receive timestamp.

use crate::outbox::{Departed, Departure, Outbox};
use mio::net::UdpSocket;
use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;

/// Where peers' addresses come from.
#[derive(Debug, Clone)]
pub enum Addressing {
    /// Peer `i` is `127.1.x.y` on shared socket `i % ports.len()`.
    Loopback { ports: Vec<u16> },
    /// Each peer binds its own socket on this address.
    PerPeer { ip: IpAddr },
}

impl Addressing {
    /// Loopback multiplexing when `client_ip` is an IPv4 loopback address.
    pub fn for_client(client_ip: IpAddr, shared_ports: Vec<u16>) -> Addressing {
        match client_ip {
            IpAddr::V4(ip) if ip.is_loopback() && !shared_ports.is_empty() => {
                Addressing::Loopback { ports: shared_ports }
            }
            ip => Addressing::PerPeer { ip },
        }
    }

    /// Peer `index`'s address on a shared socket (`None`: it binds its own).
    pub fn shared_address(&self, index: usize) -> Option<(usize, SocketAddr)> {
        match self {
            Addressing::Loopback { ports } => {
                // 250 peers per /24, skipping .0 and the top of each block.
                let host = 0x7F01_0000u32 + (index as u32 / 250) * 256 + (index as u32 % 250) + 1;
                let socket = index % ports.len();
                Some((socket, SocketAddr::new(IpAddr::V4(Ipv4Addr::from(host)), ports[socket])))
            }
            Addressing::PerPeer { .. } => None,
        }
    }
}

/// One socket and its batched-I/O state.
pub struct PeerSocket {
    pub socket: UdpSocket,
    state: quinn_udp::UdpSocketState,
    local: SocketAddr,
    outbox: RefCell<Outbox>,
}

/// A received datagram's addresses and kernel arrival time.
pub struct Arrival {
    pub from: SocketAddr,
    /// The peer address it was sent to.
    pub to: SocketAddr,
    /// CLOCK_REALTIME nanoseconds when the kernel received it (0 if unknown).
    pub arrival_ns: u64,
}

/// Datagrams read per `recvmmsg`.
pub const RECV_BATCH: usize = 32;
/// Largest datagram.
const DATAGRAM: usize = 2048;

impl PeerSocket {
    /// A socket sending up to `send_batch` datagrams per syscall.
    pub fn bind(addr: SocketAddr, send_batch: usize) -> std::io::Result<PeerSocket> {
        let std_socket = std::net::UdpSocket::bind(addr)?;
        PeerSocket::from_std(std_socket, send_batch)
    }

    pub fn from_std(std_socket: std::net::UdpSocket, send_batch: usize) -> std::io::Result<PeerSocket> {
        let sock2 = socket2::SockRef::from(&std_socket);
        let _ = sock2.set_recv_buffer_size(4 << 20);
        let _ = sock2.set_send_buffer_size(4 << 20);
        let state = quinn_udp::UdpSocketState::new((&std_socket).into())?;
        let local = std_socket.local_addr()?;
        // A socket bound to the wildcard carries many peers: each datagram names its source.
        let outbox = RefCell::new(Outbox::new(send_batch, local.ip().is_unspecified()));
        Ok(PeerSocket { socket: UdpSocket::from_std(std_socket), state, local, outbox })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Queues `datagram` from peer address `from` (its source IP is set per datagram on a shared
    /// socket); a full batch goes at once, its frames' departures appended to `departed`.
    /// Answers whether the queue was empty before, so the caller knows to `flush` it later. A
    /// full send buffer drops a datagram, as a network would.
    pub fn send(
        &self,
        from: SocketAddr,
        to: SocketAddr,
        datagram: &[u8],
        departure: Option<Departure>,
        departed: &mut Vec<Departed>,
    ) -> bool {
        let mut outbox = self.outbox.borrow_mut();
        let was_empty = outbox.is_empty();
        if outbox.push(from.ip(), to, datagram, departure) {
            outbox.flush(self.socket.as_raw_fd(), departed);
        }
        was_empty && !outbox.is_empty()
    }

    /// Sends whatever is queued.
    pub fn flush(&self, departed: &mut Vec<Departed>) {
        self.outbox.borrow_mut().flush(self.socket.as_raw_fd(), departed);
    }

    /// Datagrams the kernel refused to send.
    pub fn refused(&self) -> u64 {
        self.outbox.borrow().refused
    }

    /// Reads one batch into `buffer`, calling `each` per datagram; answers how many it read (0:
    /// nothing waiting).
    pub fn recv_batch(&self, buffer: &mut RecvBuffer, mut each: impl FnMut(&Arrival, &[u8])) -> usize {
        let slot = buffer.slot;
        let n = {
            let mut bufs: [std::io::IoSliceMut<'_>; RECV_BATCH] = {
                let mut chunks = buffer.bytes.chunks_mut(slot);
                std::array::from_fn(|_| std::io::IoSliceMut::new(chunks.next().unwrap_or_default()))
            };
            match self.state.recv((&self.socket).into(), &mut bufs, &mut buffer.metas) {
                Ok(n) => n,
                Err(_) => return 0,
            }
        };
        for (i, meta) in buffer.metas.iter().take(n).enumerate() {
            let to = SocketAddr::new(meta.dst_ip.unwrap_or(self.local.ip()), self.local.port());
            let arrival_ns = meta.timestamp.map(|t| t.as_nanos() as u64).unwrap_or(0);
            let arrival = Arrival { from: meta.addr, to, arrival_ns };
            let filled = &buffer.bytes[i * slot..i * slot + meta.len];
            for datagram in filled.chunks(meta.stride.max(1)) {
                each(&arrival, datagram);
            }
        }
        n
    }

    /// A receive buffer sized for this socket's batches (GRO may coalesce datagrams).
    pub fn buffer(&self) -> RecvBuffer {
        let slot = DATAGRAM * self.state.gro_segments().max(1);
        RecvBuffer {
            bytes: vec![0; slot * RECV_BATCH],
            slot,
            metas: [quinn_udp::RecvMeta::default(); RECV_BATCH],
        }
    }
}

/// Memory for one batch of datagrams.
pub struct RecvBuffer {
    bytes: Vec<u8>,
    slot: usize,
    metas: [quinn_udp::RecvMeta; RECV_BATCH],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_peers_get_distinct_addresses_on_few_sockets() {
        let a = Addressing::for_client("127.0.0.1".parse().unwrap(), vec![4000, 4001]);
        let addrs: std::collections::HashSet<SocketAddr> =
            (0..10_000).map(|i| a.shared_address(i).unwrap().1).collect();
        assert_eq!(addrs.len(), 10_000);
        assert_eq!(a.shared_address(0), Some((0, "127.1.0.1:4000".parse().unwrap())));
        assert_eq!(a.shared_address(251), Some((1, "127.1.1.2:4001".parse().unwrap())));
        assert!(addrs
            .iter()
            .all(|s| matches!(s.ip(), IpAddr::V4(ip) if ip.octets()[3] != 0 && ip.octets()[3] <= 250)));
        let remote = Addressing::for_client("10.0.0.5".parse().unwrap(), vec![4000]);
        assert_eq!(remote.shared_address(0), None);
    }

    #[test]
    fn a_shared_socket_sends_from_and_receives_for_each_peer_address() {
        let shared = PeerSocket::bind("0.0.0.0:0".parse().unwrap(), 8).unwrap();
        let port = shared.local_addr().port();
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a, b): (SocketAddr, SocketAddr) =
            (format!("127.1.0.7:{port}").parse().unwrap(), format!("127.1.3.9:{port}").parse().unwrap());
        let mut departed = Vec::new();
        let due = std::time::Instant::now();
        let frame = Departure { slot: 3, seq: 7, due };
        assert!(shared.send(a, server.local_addr().unwrap(), b"from a", None, &mut departed));
        assert!(!shared.send(b, server.local_addr().unwrap(), b"from b", Some(frame), &mut departed));
        // Nothing leaves until the batch is flushed (or full).
        server.set_nonblocking(true).unwrap();
        assert!(server.recv_from(&mut [0u8; 64]).is_err());
        server.set_nonblocking(false).unwrap();
        shared.flush(&mut departed);
        assert_eq!(departed.len(), 1, "one frame was tagged");
        assert_eq!(departed[0].departure, frame);
        assert!(departed[0].at >= due && departed[0].realtime_ns > 0);
        assert_eq!(shared.refused(), 0);
        let mut buf = [0u8; 64];
        for (peer, text) in [(a, "from a"), (b, "from b")] {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            assert_eq!((from, &buf[..n]), (peer, text.as_bytes()));
            server.send_to(format!("to {peer}").as_bytes(), from).unwrap();
        }
        let mut got = Vec::new();
        let mut buffer = shared.buffer();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < 2 && std::time::Instant::now() < deadline {
            shared.recv_batch(&mut buffer, |arrival, data| {
                assert!(arrival.arrival_ns > 0, "kernel timestamp");
                got.push((arrival.to, String::from_utf8_lossy(data).to_string()));
            });
        }
        assert_eq!(got, vec![(a, format!("to {a}")), (b, format!("to {b}"))]);
    }

    #[test]
    fn a_full_batch_leaves_at_once() {
        let shared = PeerSocket::bind("0.0.0.0:0".parse().unwrap(), 2).unwrap();
        let port = shared.local_addr().port();
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let peer: SocketAddr = format!("127.1.0.2:{port}").parse().unwrap();
        let mut departed = Vec::new();
        let frame = |seq| Some(Departure { slot: 0, seq, due: std::time::Instant::now() });
        shared.send(peer, server.local_addr().unwrap(), b"one", frame(1), &mut departed);
        assert!(departed.is_empty());
        assert!(!shared.send(peer, server.local_addr().unwrap(), b"two", frame(2), &mut departed));
        assert_eq!(departed.iter().map(|d| d.departure.seq).collect::<Vec<_>>(), vec![1, 2]);
        let mut buf = [0u8; 16];
        for text in ["one", "two"] {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            assert_eq!((from, &buf[..n]), (peer, text.as_bytes()));
        }
    }
}
