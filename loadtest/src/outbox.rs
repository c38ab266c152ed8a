//! Datagrams waiting to leave one socket, handed to the kernel together with `sendmmsg` (one
//! syscall for up to `capacity`), each with its own source address (IP_PKTINFO): the peers that
//! share a socket each have their own. One `sendmsg` per datagram was a quarter of the harness's
//! CPU at 1,000 peers.
//!
//! A frame's departure is stamped when its batch goes to the kernel, not when str0m made it, so
//! batching shows up in the harness's own frame lag and never in the RTT it reports.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::os::fd::RawFd;
use std::time::Instant;

/// A frame waiting in a batch: whose, which, and when it was due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Departure {
    pub slot: usize,
    pub seq: u32,
    pub due: Instant,
}

/// A frame handed to the kernel: `realtime_ns` (CLOCK_REALTIME, the clock of kernel receive
/// timestamps) starts its round trip; `at` ends its lag.
#[derive(Debug, Clone, Copy)]
pub struct Departed {
    pub departure: Departure,
    pub realtime_ns: u64,
    pub at: Instant,
}

/// Control-message space for one IP_PKTINFO or IPV6_PKTINFO (cmsghdr plus in6_pktinfo is 40
/// bytes on Linux), aligned as `cmsghdr` needs.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct Control([u8; 64]);

/// One socket's queue of datagrams not yet sent.
pub struct Outbox {
    capacity: usize,
    /// Whether each datagram carries its source address (a socket bound to the wildcard).
    set_source: bool,
    bytes: Vec<u8>,
    datagrams: Vec<Queued>,
    // The syscall's arrays, `capacity` long, rewritten by each flush for its datagrams.
    names: Vec<libc::sockaddr_storage>,
    iovecs: Vec<libc::iovec>,
    controls: Vec<Control>,
    headers: Vec<libc::mmsghdr>,
    /// Datagrams the kernel refused (full send buffer, unreachable): lost, as on a network.
    pub refused: u64,
}

// SAFETY: the raw pointers in `iovecs` and `headers` point into this same Outbox's buffers, are
// written afresh by each `flush` and read only by the syscall within it; between flushes they
// are dead values, so moving the Outbox to another thread moves nothing shared.
unsafe impl Send for Outbox {}

struct Queued {
    range: Range<usize>,
    from: IpAddr,
    to: SocketAddr,
    departure: Option<Departure>,
}

impl Outbox {
    /// A queue sending up to `capacity` datagrams per syscall (1: one `sendmsg` each, at once).
    pub fn new(capacity: usize, set_source: bool) -> Outbox {
        let capacity = capacity.max(1);
        Outbox {
            capacity,
            set_source,
            bytes: Vec::with_capacity(capacity * 256),
            datagrams: Vec::with_capacity(capacity),
            // SAFETY: all-zero is a valid value of these plain C structs.
            names: (0..capacity).map(|_| unsafe { std::mem::zeroed() }).collect(),
            iovecs: (0..capacity)
                .map(|_| libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 })
                .collect(),
            controls: vec![Control([0; 64]); capacity],
            headers: (0..capacity).map(|_| unsafe { std::mem::zeroed() }).collect(),
            refused: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// Queues `datagram` from peer address `from` to `to`; answers whether the queue is now full
    /// (the caller flushes it).
    pub fn push(
        &mut self,
        from: IpAddr,
        to: SocketAddr,
        datagram: &[u8],
        departure: Option<Departure>,
    ) -> bool {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(datagram);
        self.datagrams.push(Queued { range: start..self.bytes.len(), from, to, departure });
        self.datagrams.len() >= self.capacity
    }

    /// Sends everything queued on `fd`, appending each frame's departure to `departed`.
    pub fn flush(&mut self, fd: RawFd, departed: &mut Vec<Departed>) {
        let n = self.datagrams.len();
        if n == 0 {
            return;
        }
        for (i, queued) in self.datagrams.iter().enumerate() {
            let bytes = &mut self.bytes[queued.range.clone()];
            self.iovecs[i] = libc::iovec { iov_base: bytes.as_mut_ptr().cast(), iov_len: bytes.len() };
            let name_len = write_name(&mut self.names[i], queued.to);
            let header = &mut self.headers[i];
            header.msg_len = 0;
            header.msg_hdr = libc::msghdr {
                msg_name: (&mut self.names[i] as *mut libc::sockaddr_storage).cast(),
                msg_namelen: name_len,
                msg_iov: &mut self.iovecs[i],
                msg_iovlen: 1,
                msg_control: std::ptr::null_mut(),
                msg_controllen: 0,
                msg_flags: 0,
            };
            if self.set_source {
                write_source(&mut header.msg_hdr, &mut self.controls[i], queued.from);
            }
        }
        let realtime_ns = realtime_ns();
        let at = Instant::now();
        let mut sent = 0;
        while sent < n {
            // SAFETY: `headers[sent..n]` are initialised above and point into `names`, `iovecs`,
            // `controls` and `bytes`, none of which is touched until the call returns.
            let r = unsafe { libc::sendmmsg(fd, self.headers[sent..].as_mut_ptr(), (n - sent) as u32, 0) };
            if r > 0 {
                sent += r as usize;
            } else if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                // The datagram at `sent` was refused; the rest still go.
                self.refused += 1;
                sent += 1;
            }
        }
        departed.extend(self.datagrams.iter().filter_map(|q| q.departure).map(|departure| Departed {
            departure,
            realtime_ns,
            at,
        }));
        self.datagrams.clear();
        self.bytes.clear();
    }
}

/// Writes `addr` as a C socket address; answers its length.
fn write_name(storage: &mut libc::sockaddr_storage, addr: SocketAddr) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for every socket address.
            unsafe { std::ptr::write((storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above.
            unsafe { std::ptr::write((storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Sets the datagram's source address with an IP_PKTINFO (or IPV6_PKTINFO) control message.
fn write_source(header: &mut libc::msghdr, control: &mut Control, from: IpAddr) {
    let (level, kind, len) = match from {
        IpAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_PKTINFO, std::mem::size_of::<libc::in_pktinfo>()),
        IpAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, std::mem::size_of::<libc::in6_pktinfo>()),
    };
    header.msg_control = control.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE of either pktinfo fits `Control` (64 bytes), which is aligned for
    // cmsghdr; CMSG_FIRSTHDR and CMSG_DATA stay inside it.
    unsafe {
        header.msg_controllen = libc::CMSG_SPACE(len as u32) as _;
        let cmsg = libc::CMSG_FIRSTHDR(header);
        (*cmsg).cmsg_level = level;
        (*cmsg).cmsg_type = kind;
        (*cmsg).cmsg_len = libc::CMSG_LEN(len as u32) as _;
        let data = libc::CMSG_DATA(cmsg);
        match from {
            IpAddr::V4(ip) => std::ptr::write_unaligned(
                data.cast(),
                libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr { s_addr: u32::from_ne_bytes(ip.octets()) },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                },
            ),
            IpAddr::V6(ip) => std::ptr::write_unaligned(
                data.cast(),
                libc::in6_pktinfo { ipi6_addr: libc::in6_addr { s6_addr: ip.octets() }, ipi6_ifindex: 0 },
            ),
        }
    }
}

/// CLOCK_REALTIME in nanoseconds: the clock kernel receive timestamps use.
pub fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
