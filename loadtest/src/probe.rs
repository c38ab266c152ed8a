//! CPU time and resident memory of the server process, from /proc (same machine only).

use std::time::Instant;

/// One reading.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    /// User + system CPU seconds so far.
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}

pub fn sample(pid: u32) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 =
        status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(Sample {
        at: Instant::now(),
        cpu_seconds: (utime + stime) / ticks.max(1.0),
        rss_bytes: rss_kb * 1024,
    })
}

/// Percent of one core used between two samples.
pub fn cpu_percent(a: &Sample, b: &Sample) -> f64 {
    let wall = b.at.duration_since(a.at).as_secs_f64();
    if wall <= 0.0 {
        return 0.0;
    }
    100.0 * (b.cpu_seconds - a.cpu_seconds) / wall
}

/// UDP datagrams this machine's kernel dropped because a socket's receive buffer was full
/// (`RcvbufErrors` in /proc/net/snmp and /proc/net/snmp6), so far. Machine-wide: on loopback
/// both the server's and the harness's sockets count here, and a rise during a run says the loss
/// it measured was a process falling too far behind to read, not the network.
pub fn udp_receive_buffer_drops() -> Option<u64> {
    let v4 = std::fs::read_to_string("/proc/net/snmp").ok().and_then(|s| snmp_v4_rcvbuf_errors(&s))?;
    let v6 = std::fs::read_to_string("/proc/net/snmp6").ok().and_then(|s| snmp_v6_rcvbuf_errors(&s));
    Some(v4 + v6.unwrap_or(0))
}

/// `RcvbufErrors` from the two `Udp:` lines of /proc/net/snmp (names, then values).
fn snmp_v4_rcvbuf_errors(snmp: &str) -> Option<u64> {
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let column = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

/// `Udp6RcvbufErrors` from /proc/net/snmp6 (one `name value` per line).
fn snmp_v6_rcvbuf_errors(snmp6: &str) -> Option<u64> {
    snmp6.lines().find_map(|l| {
        let mut parts = l.split_whitespace();
        (parts.next()? == "Udp6RcvbufErrors").then(|| parts.next()?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_buffer_drops_are_read_by_column_name() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
            Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
            Udp: 2557108 0 786 2557894 786 0\nUdpLite: InDatagrams\nUdpLite: 0\n";
        assert_eq!(snmp_v4_rcvbuf_errors(snmp), Some(786));
        assert_eq!(snmp_v6_rcvbuf_errors("Udp6InDatagrams 5\nUdp6RcvbufErrors 7\n"), Some(7));
        assert_eq!(snmp_v4_rcvbuf_errors("Ip: 1\n"), None);
    }
}
