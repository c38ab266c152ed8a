//! A worker's send queue: the datagrams its sessions produced in one scheduling round, sent
//! together with `sendmmsg` (one syscall for up to [`SEND_BATCH`]) instead of one `sendto` each.

use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use std::io::IoSlice;
use std::net::SocketAddr;
use std::ops::Range;
use std::os::fd::RawFd;

/// Datagrams per `sendmmsg` call; a full queue is flushed at once.
pub(crate) const SEND_BATCH: usize = 64;

/// Datagrams waiting to be sent, stored back to back in one buffer.
pub(crate) struct Outbox {
    bytes: Vec<u8>,
    /// Each datagram's destination, in the form `sendmmsg` takes, and its bytes.
    destinations: Vec<Option<SockaddrStorage>>,
    ranges: Vec<Range<usize>>,
    headers: MultiHeaders<SockaddrStorage>,
}

/// What one flush did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flushed {
    pub sent: usize,
    /// Dropped because the send buffer was full or the kernel refused the destination; UDP
    /// loses them as the network would.
    pub dropped: usize,
    pub syscalls: usize,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            bytes: Vec::with_capacity(SEND_BATCH * 256),
            destinations: Vec::with_capacity(SEND_BATCH),
            ranges: Vec::with_capacity(SEND_BATCH),
            headers: MultiHeaders::preallocate(SEND_BATCH, None),
        }
    }
}

impl Outbox {
    /// Queues one datagram; answers whether the queue is now full and must be flushed.
    pub fn push(&mut self, destination: SocketAddr, datagram: &[u8]) -> bool {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(datagram);
        self.destinations.push(Some(SockaddrStorage::from(destination)));
        self.ranges.push(start..self.bytes.len());
        self.ranges.len() >= SEND_BATCH
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Sends everything queued on `fd` (a non-blocking UDP socket) and empties the queue.
    pub fn flush(&mut self, fd: RawFd) -> Flushed {
        let mut done = Flushed::default();
        let mut next = 0;
        let queued = self.ranges.len();
        while next < queued {
            let end = (next + SEND_BATCH).min(queued);
            let slices: Vec<[IoSlice<'_>; 1]> =
                self.ranges[next..end].iter().map(|r| [IoSlice::new(&self.bytes[r.clone()])]).collect();
            done.syscalls += 1;
            match sendmmsg(
                fd,
                &mut self.headers,
                &slices,
                &self.destinations[next..end],
                [],
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(results) => {
                    // A short count means the next datagram would have failed; it is retried
                    // (and reported) on its own in the next round of this loop.
                    let n = results.count().max(1);
                    done.sent += n;
                    next += n;
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EAGAIN) => {
                    // Send buffer full: everything still queued is lost, as on a full link.
                    done.dropped += queued - next;
                    break;
                }
                Err(_) => {
                    // The first datagram's destination was refused (unreachable, ICMP error);
                    // skip it and send the rest.
                    done.dropped += 1;
                    next += 1;
                }
            }
        }
        self.destinations.clear();
        self.ranges.clear();
        self.bytes.clear();
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_flush_sends_every_queued_datagram_in_order() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = receiver.local_addr().unwrap();
        let mut outbox = Outbox::default();
        let total = SEND_BATCH + 3;
        let mut full_at = None;
        for i in 0..total {
            if outbox.push(to, format!("datagram {i}").as_bytes()) && full_at.is_none() {
                full_at = Some(i);
            }
        }
        assert_eq!(full_at, Some(SEND_BATCH - 1));
        let flushed = outbox.flush(sender.as_raw_fd());
        assert_eq!(flushed, Flushed { sent: total, dropped: 0, syscalls: 2 });
        assert!(outbox.is_empty());
        let mut buf = [0u8; 64];
        for i in 0..total {
            let n = receiver.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], format!("datagram {i}").as_bytes());
        }
    }

    #[test]
    fn a_refused_destination_costs_only_its_own_datagram() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut outbox = Outbox::default();
        // An IPv6 destination on an IPv4 socket fails with EAFNOSUPPORT.
        outbox.push("[::1]:9".parse().unwrap(), b"refused");
        outbox.push(receiver.local_addr().unwrap(), b"delivered");
        let flushed = outbox.flush(sender.as_raw_fd());
        assert_eq!((flushed.sent, flushed.dropped), (1, 1));
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"delivered");
    }
}
