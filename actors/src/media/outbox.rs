//! A worker's send queue: the datagrams its calls produced in one round of its loop, sent
//! together with `sendmmsg` (one syscall for up to [`SEND_BATCH`]) instead of one `sendto` each.
//! It owns its flushing: a full queue sends itself, and the worker flushes what is left after
//! each round.

use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use std::io::IoSlice;
use std::net::SocketAddr;
use std::ops::Range;
use std::os::fd::RawFd;

/// Datagrams per `sendmmsg` call; a full queue is flushed at once.
pub(crate) const SEND_BATCH: usize = 64;

/// Datagrams waiting to be sent on one socket, stored back to back in one buffer.
pub(crate) struct Outbox {
    /// The non-blocking UDP socket it sends on (owned by the worker, which owns this queue).
    fd: RawFd,
    /// Datagrams and bytes handed to the kernel, and datagrams dropped, since last taken.
    totals: Flushed,
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
    pub bytes: usize,
}

impl Outbox {
    /// A queue sending on `fd`.
    pub fn new(fd: RawFd) -> Self {
        Outbox {
            fd,
            totals: Flushed::default(),
            bytes: Vec::with_capacity(SEND_BATCH * 256),
            destinations: Vec::with_capacity(SEND_BATCH),
            ranges: Vec::with_capacity(SEND_BATCH),
            headers: MultiHeaders::preallocate(SEND_BATCH, None),
        }
    }

    /// Queues one datagram; a full queue is sent at once.
    pub fn push(&mut self, destination: SocketAddr, datagram: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(datagram);
        self.destinations.push(Some(SockaddrStorage::from(destination)));
        self.ranges.push(start..self.bytes.len());
        if self.ranges.len() >= SEND_BATCH {
            self.flush();
        }
    }

    /// What was sent and dropped since the last call, for the worker's metrics.
    pub fn take_totals(&mut self) -> Flushed {
        std::mem::take(&mut self.totals)
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Sends everything queued and empties the queue.
    pub fn flush(&mut self) -> Flushed {
        let mut done = Flushed::default();
        if self.ranges.is_empty() {
            return done;
        }
        let fd = self.fd;
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
                    done.bytes += self.ranges[next..next + n].iter().map(|r| r.len()).sum::<usize>();
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
        self.totals.sent += done.sent;
        self.totals.dropped += done.dropped;
        self.totals.syscalls += done.syscalls;
        self.totals.bytes += done.bytes;
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
        let mut outbox = Outbox::new(sender.as_raw_fd());
        let total = SEND_BATCH + 3;
        for i in 0..total {
            outbox.push(to, format!("datagram {i}").as_bytes());
            if i == SEND_BATCH - 1 {
                assert!(outbox.is_empty(), "a full queue sends itself");
            }
        }
        assert!(!outbox.is_empty());
        let flushed = outbox.flush();
        assert_eq!((flushed.sent, flushed.dropped, flushed.syscalls), (3, 0, 1));
        assert!(outbox.is_empty());
        let totals = outbox.take_totals();
        assert_eq!((totals.sent, totals.syscalls), (total, 2));
        assert_eq!(totals.bytes, (0..total).map(|i| format!("datagram {i}").len()).sum::<usize>());
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
        let mut outbox = Outbox::new(sender.as_raw_fd());
        // An IPv6 destination on an IPv4 socket fails with EAFNOSUPPORT.
        outbox.push("[::1]:9".parse().unwrap(), b"refused");
        outbox.push(receiver.local_addr().unwrap(), b"delivered");
        let flushed = outbox.flush();
        assert_eq!((flushed.sent, flushed.dropped), (1, 1));
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"delivered");
    }
}
