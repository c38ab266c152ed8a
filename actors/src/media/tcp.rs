//! A worker's ICE-TCP connections: visitors whose networks drop UDP connect to the passive TCP
//! candidate (RFC 6544) every call on this worker offers, and send one RFC 4571 frame (a 16-bit
//! length, then a STUN, DTLS or SRTP packet) per packet. The worker feeds each frame to its
//! endpoint as a datagram from the connection's far end, so routing is the UDP path's: by the
//! STUN USERNAME's ufrag first, then by connection.
//!
//! Each connection has a reader and a writer task on the worker's thread. What is bounded, and
//! why a connection is closed:
//! - connections per worker (`limit`): more are closed as they arrive;
//! - a frame that routes to no call (a stranger, a wrong ufrag, a call that has ended);
//! - silence: [`FIRST_FRAME_WITHIN`] for the first frame, [`IDLE_WITHIN`] later (ICE consent
//!   checks keep a live call's connection busy every few seconds);
//! - a stalled reader: at most [`WRITE_QUEUE`] frames wait for the socket; one more and the
//!   connection is dropped, as a full UDP buffer drops datagrams, instead of growing memory.

use bytes::{BufMut, Bytes, BytesMut};
use foldhash::fast::FixedState;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use voxgate_engine::media::MAX_FRAME;

/// A new connection must send its first frame (a STUN binding request) within this.
pub(crate) const FIRST_FRAME_WITHIN: Duration = Duration::from_secs(10);

/// A connection that sends nothing this long is closed (ICE consent freshness, RFC 7675, gives
/// up after 30 s of silence too).
pub(crate) const IDLE_WITHIN: Duration = Duration::from_secs(30);

/// Frames queued for one connection's socket; a reader that lets more pile up is dropped.
pub(crate) const WRITE_QUEUE: usize = 256;

/// Frames read from all connections that wait for the worker loop; a reader waits (and TCP
/// pushes back on its sender) while it is full.
const READ_QUEUE: usize = 1024;

/// Why a connection was closed, for `voxgate_media_tcp_closed_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// The visitor closed it, or it failed.
    Remote,
    /// Silent too long.
    Idle,
    /// A frame that belongs to no call.
    Unrouted,
    /// The visitor stopped reading and its queue filled.
    Stalled,
    /// The worker already holds its most connections.
    Limit,
}

impl Closed {
    pub const ALL: [Closed; 5] =
        [Closed::Remote, Closed::Idle, Closed::Unrouted, Closed::Stalled, Closed::Limit];

    pub fn label(self) -> &'static str {
        match self {
            Closed::Remote => "remote",
            Closed::Idle => "idle",
            Closed::Unrouted => "unrouted",
            Closed::Stalled => "stalled",
            Closed::Limit => "limit",
        }
    }
}

/// The counters connections add to.
#[derive(Clone)]
pub(crate) struct TcpMetrics {
    pub open: prometheus::IntGauge,
    /// One per [`Closed`], in [`Closed::ALL`]'s order.
    pub closed: Vec<prometheus::IntCounter>,
}

impl TcpMetrics {
    fn closed(&self, why: Closed) {
        if let Some(c) = self.closed.get(why as usize) {
            c.inc();
        }
    }
}

/// What the connections have for the worker.
pub(crate) enum TcpInput {
    /// One packet from the connection whose far end is `remote`.
    Frame { remote: SocketAddr, frame: BytesMut },
    /// A connection is gone: nothing more routes from `remote`.
    Gone { remote: SocketAddr },
    /// Nothing to do (a connection refused, or a stale report).
    Nothing,
}

/// A reader's report.
enum Report {
    Frame { id: u64, remote: SocketAddr, frame: BytesMut },
    Ended { id: u64, remote: SocketAddr, why: Closed },
}

struct Link {
    id: u64,
    frames: mpsc::Sender<Bytes>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        // Both halves go, so the socket closes even when the writer is stuck on a full buffer.
        self.reader.abort();
        self.writer.abort();
    }
}

/// Every ICE-TCP connection of one worker, with its listener.
pub(crate) struct TcpLinks {
    listener: TcpListener,
    links: HashMap<SocketAddr, Link, FixedState>,
    limit: usize,
    next_id: u64,
    reports_tx: mpsc::Sender<Report>,
    reports: mpsc::Receiver<Report>,
    /// Remotes closed by the worker itself (unrouted, stalled), for it to forget.
    gone: Vec<SocketAddr>,
    metrics: TcpMetrics,
}

impl TcpLinks {
    /// Connections on `listener` (already bound, non-blocking), at most `limit` at once.
    pub fn new(
        listener: std::net::TcpListener,
        limit: usize,
        metrics: TcpMetrics,
    ) -> std::io::Result<TcpLinks> {
        let (reports_tx, reports) = mpsc::channel(READ_QUEUE);
        Ok(TcpLinks {
            listener: TcpListener::from_std(listener)?,
            links: HashMap::with_hasher(FixedState::default()),
            limit,
            next_id: 0,
            reports_tx,
            reports,
            gone: Vec::new(),
            metrics,
        })
    }

    /// Waits for a new connection or a reader's report. Cancel-safe (the worker selects on it).
    pub async fn next(&mut self) -> TcpInput {
        tokio::select! {
            accepted = self.listener.accept() => {
                match accepted {
                    Ok((stream, remote)) => self.open(stream, remote),
                    Err(e) => tracing::debug!(error = %e, "ICE-TCP accept failed"),
                }
                TcpInput::Nothing
            }
            Some(report) = self.reports.recv() => self.report(report),
        }
    }

    fn open(&mut self, stream: TcpStream, remote: SocketAddr) {
        if self.links.len() >= self.limit {
            self.metrics.closed(Closed::Limit);
            return; // dropped: closed at once
        }
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let id = self.next_id;
        self.next_id += 1;
        let (frames, queue) = mpsc::channel(WRITE_QUEUE);
        let reader = actix::spawn(read_frames(read, id, remote, self.reports_tx.clone()));
        let writer = actix::spawn(write_frames(write, queue));
        // A remote address names one connection at a time; an old one still open is replaced.
        if self.links.insert(remote, Link { id, frames, reader, writer }).is_none() {
            self.metrics.open.inc();
        }
    }

    fn report(&mut self, report: Report) -> TcpInput {
        match report {
            Report::Frame { id, remote, frame } if self.is_current(remote, id) => {
                TcpInput::Frame { remote, frame }
            }
            Report::Ended { id, remote, why } if self.is_current(remote, id) => {
                self.links.remove(&remote);
                self.metrics.open.dec();
                self.metrics.closed(why);
                TcpInput::Gone { remote }
            }
            _ => TcpInput::Nothing,
        }
    }

    fn is_current(&self, remote: SocketAddr, id: u64) -> bool {
        self.links.get(&remote).is_some_and(|l| l.id == id)
    }

    /// Queues one packet for the connection whose far end is `destination`; a connection whose
    /// queue is full is closed (stalled). Packets for a connection that is gone are dropped.
    pub fn send(&mut self, destination: SocketAddr, packet: &[u8]) -> bool {
        let Some(link) = self.links.get(&destination) else {
            return false;
        };
        if packet.len() > MAX_FRAME {
            return false;
        }
        match link.frames.try_send(Bytes::copy_from_slice(packet)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close(destination, Closed::Stalled);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Closes the connection whose far end is `remote`.
    pub fn close(&mut self, remote: SocketAddr, why: Closed) {
        if self.links.remove(&remote).is_some() {
            self.metrics.open.dec();
            self.metrics.closed(why);
            self.gone.push(remote);
        }
    }

    /// Remotes the worker closed since last asked, for the endpoint to forget.
    pub fn take_gone(&mut self) -> std::vec::Drain<'_, SocketAddr> {
        self.gone.drain(..)
    }

    /// Closes every connection (the worker stops).
    pub fn close_all(&mut self) {
        let n = self.links.len() as i64;
        self.links.clear();
        self.metrics.open.sub(n);
    }
}

/// Reads RFC 4571 frames from one connection and reports them, until it ends or falls silent.
async fn read_frames(read: OwnedReadHalf, id: u64, remote: SocketAddr, reports: mpsc::Sender<Report>) {
    let codec =
        LengthDelimitedCodec::builder().length_field_length(2).max_frame_length(MAX_FRAME).new_codec();
    let mut frames = FramedRead::new(read, codec);
    let mut within = FIRST_FRAME_WITHIN;
    let why = loop {
        match tokio::time::timeout(within, frames.next()).await {
            Ok(Some(Ok(frame))) => {
                within = IDLE_WITHIN;
                if reports.send(Report::Frame { id, remote, frame }).await.is_err() {
                    return; // the worker stopped
                }
            }
            Ok(_) => break Closed::Remote,
            Err(_) => break Closed::Idle,
        }
    };
    let _ = reports.send(Report::Ended { id, remote, why }).await;
}

/// Writes queued packets to one connection, each as an RFC 4571 frame, several per write when
/// they pile up.
async fn write_frames(mut write: OwnedWriteHalf, mut queue: mpsc::Receiver<Bytes>) {
    let mut buf = BytesMut::with_capacity(4096);
    while let Some(first) = queue.recv().await {
        buf.clear();
        put_frame(&mut buf, &first);
        while buf.len() < 16 * 1024 {
            match queue.try_recv() {
                Ok(next) => put_frame(&mut buf, &next),
                Err(_) => break,
            }
        }
        if write.write_all(&buf).await.is_err() {
            return;
        }
    }
    let _ = write.shutdown().await;
}

fn put_frame(buf: &mut BytesMut, packet: &[u8]) {
    // `send` refuses longer packets, so the length fits.
    buf.put_u16(packet.len() as u16);
    buf.extend_from_slice(packet);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> TcpMetrics {
        let closed =
            Closed::ALL.iter().map(|c| prometheus::IntCounter::new(c.label(), "test").unwrap()).collect();
        TcpMetrics { open: prometheus::IntGauge::new("open", "test").unwrap(), closed }
    }

    #[actix_rt::test]
    async fn a_visitor_that_stops_reading_is_dropped_not_buffered() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let server = listener.local_addr().unwrap();
        let metrics = metrics();
        let mut links = TcpLinks::new(listener, 4, metrics.clone()).unwrap();
        // Connects and never reads.
        let client = std::net::TcpStream::connect(server).unwrap();
        let remote = client.local_addr().unwrap();
        assert!(matches!(links.next().await, TcpInput::Nothing));
        assert_eq!(metrics.open.get(), 1);
        let packet = vec![7u8; MAX_FRAME];
        let mut sent = 0usize;
        while links.send(remote, &packet) {
            sent += 1;
            assert!(sent < 10_000, "the queue must be bounded");
            if sent.is_multiple_of(16) {
                tokio::task::yield_now().await; // the writer fills the kernel's buffers
            }
        }
        assert!(sent >= WRITE_QUEUE, "a whole queue is accepted first ({sent})");
        assert_eq!(metrics.closed[Closed::Stalled as usize].get(), 1);
        assert_eq!(metrics.open.get(), 0);
        assert_eq!(links.take_gone().collect::<Vec<_>>(), vec![remote]);
        assert!(!links.send(remote, b"more"), "nothing more goes to a dropped connection");
        drop(client);
    }

    #[test]
    fn a_frame_is_its_length_then_its_bytes() {
        let mut buf = BytesMut::new();
        put_frame(&mut buf, b"abc");
        put_frame(&mut buf, b"");
        assert_eq!(&buf[..], &[0, 3, b'a', b'b', b'c', 0, 0]);
    }
}
