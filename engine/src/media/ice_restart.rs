//! ICE restart over WHIP (RFC 9725 §4.3): the client `PATCH`es a trickle-ice-sdpfrag (RFC 8840)
//! with new ICE credentials, and the server answers with its own. str0m restarts ICE only
//! inside an offer/answer exchange, so a fragment is applied to the session's last offer (or
//! answer) text: the same session, with new credentials and candidates.

/// The ICE part of a fragment: credentials and candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceFragment {
    pub ufrag: String,
    pub pwd: String,
    /// `candidate:...` attribute values, without `a=`.
    pub candidates: Vec<String>,
}

/// Why a fragment cannot restart ICE; the message names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    #[error("an ICE restart fragment needs an a=ice-ufrag line (the new credentials)")]
    NoUfrag,
    #[error("an ICE restart fragment needs an a=ice-pwd line (the new credentials)")]
    NoPwd,
    #[error("a=ice-ufrag must be 4 to 256 letters, digits, '+' or '/' (RFC 8839), not {0:?}")]
    BadUfrag(String),
    #[error("a=ice-pwd must be 22 to 256 letters, digits, '+' or '/' (RFC 8839)")]
    BadPwd,
}

fn ice_chars(s: &str, min: usize) -> bool {
    (min..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// The value of the first `a=NAME:` line of `text`.
fn attribute<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("a=")?.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

impl IceFragment {
    /// The credentials and candidates of a fragment (or of a whole SDP), checked.
    pub fn parse(text: &str) -> Result<IceFragment, FragmentError> {
        let ufrag = attribute(text, "ice-ufrag").ok_or(FragmentError::NoUfrag)?;
        let pwd = attribute(text, "ice-pwd").ok_or(FragmentError::NoPwd)?;
        if !ice_chars(ufrag, 4) {
            return Err(FragmentError::BadUfrag(ufrag.chars().take(64).collect()));
        }
        if !ice_chars(pwd, 22) {
            return Err(FragmentError::BadPwd);
        }
        let candidates = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("a="))
            .filter(|a| a.starts_with("candidate:"))
            .map(str::to_string)
            .collect();
        Ok(IceFragment { ufrag: ufrag.to_string(), pwd: pwd.to_string(), candidates })
    }

    /// `sdp` with this fragment's credentials in place of its own, and its candidates in place
    /// of the first media section's.
    pub fn apply_to(&self, sdp: &str) -> String {
        let mut out = String::with_capacity(sdp.len() + 128);
        let mut placed = false;
        for line in sdp.lines().map(str::trim_end) {
            if line.starts_with("a=candidate:") || line == "a=end-of-candidates" {
                continue;
            }
            if line.starts_with("a=ice-ufrag:") {
                out.push_str(&format!("a=ice-ufrag:{}\r\n", self.ufrag));
                continue;
            }
            if line.starts_with("a=ice-pwd:") {
                out.push_str(&format!("a=ice-pwd:{}\r\n", self.pwd));
                continue;
            }
            out.push_str(line);
            out.push_str("\r\n");
            if !placed && line.starts_with("a=mid:") {
                placed = true;
                for c in &self.candidates {
                    out.push_str(&format!("a={c}\r\n"));
                }
            }
        }
        out
    }

    /// The fragment a WHIP server answers an ICE restart with (RFC 9725 §4.3.2): its ICE-lite
    /// flag, credentials, the bundle's first media section and its candidates.
    pub fn to_sdpfrag(&self, sdp: &str) -> String {
        let mut out = String::new();
        if sdp.lines().any(|l| l.trim() == "a=ice-lite") {
            out.push_str("a=ice-lite\r\n");
        }
        out.push_str(&format!("a=ice-ufrag:{}\r\na=ice-pwd:{}\r\n", self.ufrag, self.pwd));
        if let Some(group) = attribute(sdp, "group") {
            out.push_str(&format!("a=group:{group}\r\n"));
        }
        if let Some(m) = sdp.lines().find(|l| l.starts_with("m=")) {
            let mut parts = m.trim().split(' ');
            let (kind, _port, proto, fmt) = (parts.next(), parts.next(), parts.next(), parts.next());
            if let (Some(kind), Some(proto), Some(fmt)) = (kind, proto, fmt) {
                out.push_str(&format!("{kind} 9 {proto} {fmt}\r\n"));
            }
        }
        if let Some(mid) = attribute(sdp, "mid") {
            out.push_str(&format!("a=mid:{mid}\r\n"));
        }
        for c in &self.candidates {
            out.push_str(&format!("a={c}\r\n"));
        }
        out.push_str("a=end-of-candidates\r\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAG: &str = "a=ice-ufrag:EsAw\r\na=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 198.51.100.1 39132 typ host\r\na=end-of-candidates\r\n";

    #[test]
    fn a_restart_fragment_gives_its_credentials_and_candidates() {
        let f = IceFragment::parse(FRAG).unwrap();
        assert_eq!((f.ufrag.as_str(), f.pwd.as_str()), ("EsAw", "bP+XJMM09aR8AiX1jdukzR6Y"));
        assert_eq!(f.candidates, ["candidate:1 1 udp 2130706431 198.51.100.1 39132 typ host"]);
    }

    #[test]
    fn a_fragment_without_credentials_or_with_bad_ones_is_refused_saying_which() {
        let no_ufrag = FRAG.replace("a=ice-ufrag:EsAw\r\n", "");
        assert_eq!(IceFragment::parse(&no_ufrag), Err(FragmentError::NoUfrag));
        let no_pwd = FRAG.replace("a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\n", "");
        assert_eq!(IceFragment::parse(&no_pwd), Err(FragmentError::NoPwd));
        let short = FRAG.replace("EsAw", "E");
        assert_eq!(IceFragment::parse(&short), Err(FragmentError::BadUfrag("E".into())));
        let bad = FRAG.replace("bP+XJMM09aR8AiX1jdukzR6Y", "short");
        assert_eq!(IceFragment::parse(&bad), Err(FragmentError::BadPwd));
        assert!(IceFragment::parse("garbage\u{0}").is_err());
    }

    #[test]
    fn applied_to_an_offer_it_replaces_credentials_and_candidates_only() {
        let offer = crate::media::offer::tests::CHROME_LIKE;
        let f = IceFragment::parse(FRAG).unwrap();
        let restarted = f.apply_to(offer);
        assert_eq!(IceFragment::parse(&restarted).unwrap(), f);
        assert!(!restarted.contains("abcdefghijklmnopqrstuvwx"), "the old password is gone");
        assert_eq!(restarted.lines().count(), offer.lines().count() - 3 + 1, "three old candidates, one new");
        assert!(restarted.contains("a=fingerprint:sha-256 7B:8B"), "the rest is the same session");
    }

    #[test]
    fn the_answer_fragment_names_lite_credentials_section_and_candidates() {
        let answer = "v=0\r\na=group:BUNDLE 0\r\na=ice-lite\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\na=candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host\r\n";
        let ours = IceFragment::parse(answer).unwrap();
        let frag = ours.to_sdpfrag(answer);
        assert_eq!(
            frag,
            "a=ice-lite\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host\r\na=end-of-candidates\r\n"
        );
        assert_eq!(IceFragment::parse(&frag).unwrap(), ours);
    }
}
