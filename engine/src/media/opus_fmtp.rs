//! Opus format parameters in an SDP answer that str0m does not model. A talking agent hears
//! the visitor at 16 kHz (what speech recognition and voice activity use), so its answer asks
//! for `maxplaybackrate=16000` (RFC 7587 §6.1): the browser then encodes wideband SILK, which
//! costs the server a third less to decode than full-band audio (docs/BENCHMARKS.md), and the
//! visitor less bandwidth. It also asks for `usedtx=1` (RFC 7587 §6.1): in silence the browser
//! sends about five packets a second instead of fifty, and the call hears the silence by
//! its clock (`talk::Talk`), so the server receives, decrypts and decodes most of a quiet
//! visitor's audio not at all.

/// Adds `param=value` to the `a=fmtp` line of every Opus payload type in `sdp` (creating the
/// line if there is none). Other lines are left as they are.
pub fn with_opus_param(sdp: &str, param: &str, value: u32) -> String {
    let opus_pts: Vec<&str> = sdp
        .lines()
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, codec)| codec.to_ascii_lowercase().starts_with("opus/"))
        .map(|(pt, _)| pt)
        .collect();
    let mut out = String::with_capacity(sdp.len() + 64);
    let mut has_fmtp = Vec::new();
    for line in sdp.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let ending = &line[body.len()..];
        let fmtp_pt = body.strip_prefix("a=fmtp:").and_then(|l| l.split_once(' ')).map(|(pt, _)| pt);
        match fmtp_pt {
            Some(pt) if opus_pts.contains(&pt) => {
                has_fmtp.push(pt);
                out.push_str(body);
                out.push_str(&format!(";{param}={value}"));
                out.push_str(ending);
            }
            _ => out.push_str(line),
        }
        if let Some(pt) = body.strip_prefix("a=rtpmap:").and_then(|l| l.split_once(' ')).map(|(pt, _)| pt) {
            // An Opus payload type without an fmtp line gets one right after its rtpmap.
            if opus_pts.contains(&pt) && !sdp.contains(&format!("a=fmtp:{pt} ")) {
                out.push_str(&format!("a=fmtp:{pt} {param}={value}\r\n"));
            }
        }
    }
    out
}

/// The value of `param` on the first Opus payload type's `a=fmtp` line in `sdp`.
pub fn opus_param(sdp: &str, param: &str) -> Option<u32> {
    let pt = sdp
        .lines()
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .filter_map(|l| l.split_once(' '))
        .find(|(_, codec)| codec.to_ascii_lowercase().starts_with("opus/"))?
        .0;
    let fmtp = sdp.lines().find_map(|l| l.strip_prefix(&format!("a=fmtp:{pt} ")))?;
    fmtp.split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == param)?
        .1
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_opus_line_gets_the_parameter_and_nothing_else_changes() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 9\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:9 G722/8000\r\na=fmtp:9 x=1\r\n";
        let out = with_opus_param(sdp, "maxplaybackrate", 16000);
        assert_eq!(
            out,
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 9\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1;maxplaybackrate=16000\r\na=rtpmap:9 G722/8000\r\na=fmtp:9 x=1\r\n"
        );
        assert_eq!(opus_param(&out, "maxplaybackrate"), Some(16000));
        assert_eq!(opus_param(sdp, "maxplaybackrate"), None);
        let bare = with_opus_param("a=rtpmap:96 OPUS/48000/2\r\n", "maxplaybackrate", 16000);
        assert_eq!(bare, "a=rtpmap:96 OPUS/48000/2\r\na=fmtp:96 maxplaybackrate=16000\r\n");
    }
}
