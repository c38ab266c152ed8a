//! Which session a datagram belongs to. A known remote address maps straight to its session;
//! for a new address, the only thing to go on is the STUN binding request's USERNAME, whose
//! first half is the local ICE ufrag we chose for that session.

use str0m::ice::StunMessage;

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

    #[test]
    fn non_stun_is_not_routed_by_ufrag() {
        assert_eq!(stun_local_ufrag(&[]), None);
        assert_eq!(stun_local_ufrag(&[0x80, 0, 0, 0]), None); // RTP
        assert_eq!(stun_local_ufrag(&[22, 254, 253]), None); // DTLS
        assert_eq!(stun_local_ufrag(&[0, 1, 0, 0]), None); // truncated STUN
    }
}
