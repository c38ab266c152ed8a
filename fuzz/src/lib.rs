//! What each fuzz target feeds the engine, one function per input the network can send. The
//! targets in `fuzz_targets/` call these under libFuzzer (`scripts/fuzz`), and
//! `engine/tests/fuzz_corpus.rs` (which compiles this file as a module) replays every committed
//! corpus file through them on stable, so a crash once found stays fixed. Each function panics only if the engine breaks a rule: no panic
//! on any input, and every refusal says what was wrong.

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use voxgate_engine::ids::{SessionId, WidgetId};
use voxgate_engine::media::client::ClientPeer;
use voxgate_engine::media::{
    check_offer, CallKey, Endpoint, IceCreds, MediaIdentity, Transmit, Transport, VoiceAgent,
};
use voxgate_engine::origin::{Origin, OriginPolicy};
use voxgate_engine::session::{Mode, ModeSet};
use voxgate_engine::spec;
use voxgate_engine::token::{TokenClaims, TokenSigner};
use voxgate_engine::Timestamp;

fn identity() -> &'static MediaIdentity {
    static ID: OnceLock<MediaIdentity> = OnceLock::new();
    ID.get_or_init(|| MediaIdentity::generate().expect("a certificate"))
}

fn local() -> SocketAddr {
    "127.0.0.1:40000".parse().expect("address")
}

/// Discards what an endpoint sends.
struct Nowhere;

impl Transmit for Nowhere {
    fn transmit(&mut self, _transport: Transport, _destination: SocketAddr, _datagram: &[u8]) {}
}

fn echo() -> VoiceAgent {
    VoiceAgent::Echo { delay: Duration::ZERO }
}

fn creds() -> IceCreds {
    IceCreds { ufrag: "fuzzufrag".into(), pass: "fuzzpasswordfuzzpassword".into() }
}

/// An endpoint with one call answered (for a str0m client's offer from 127.0.0.1:40001).
fn live_call() -> &'static Mutex<(Endpoint, CallKey)> {
    static CALL: OnceLock<Mutex<(Endpoint, CallKey)>> = OnceLock::new();
    CALL.get_or_init(|| {
        let now = Instant::now();
        let (_, sdp) =
            ClientPeer::offer(identity(), "127.0.0.1:40001".parse().expect("address"), now).expect("offer");
        let offer = check_offer(&sdp).expect("a client's offer passes");
        let mut endpoint = Endpoint::new(identity().clone(), local(), 9).with_tcp(local());
        let (key, _) = endpoint.accept(now, offer, creds(), echo()).expect("accepted");
        Mutex::new((endpoint, key))
    })
}

/// An SDP offer as WHIP receives it: checked, then (if it passes) answered by an endpoint.
pub fn offer(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match check_offer(text) {
        Err(e) => assert!(!e.to_string().is_empty(), "a refusal says why"),
        Ok(offer) => {
            let mut endpoint = Endpoint::new(identity().clone(), local(), 7);
            let _ = endpoint.accept(Instant::now(), offer, creds(), echo());
        }
    }
}

/// A datagram (or ICE-TCP frame) from anywhere reaching a media endpoint with one live call:
/// routed by remote, then by the STUN USERNAME's local ufrag, and fed to the call it reaches.
pub fn datagram_route(data: &[u8]) {
    let _ = voxgate_engine::media::router::stun_local_ufrag(data);
    let Ok(mut guard) = live_call().lock() else { return };
    let (endpoint, _) = &mut *guard;
    let now = Instant::now();
    for transport in [Transport::Udp, Transport::Tcp] {
        for source in ["10.0.0.2:6000", "127.0.0.1:40001"] {
            let source = source.parse().expect("address");
            let _ = endpoint.handle_datagram(now, transport, source, data, &mut Nowhere);
        }
    }
}

/// A bearer token from a browser.
pub fn token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let signer = TokenSigner::new("k1", vec![7; 32]);
    let now = Timestamp(1_800_000_000_000);
    if let Err(e) = signer.verify(text, now) {
        assert!(!e.to_string().is_empty());
    }
    // A real token with the input spliced in is refused, never accepted as another.
    let claims = TokenClaims {
        sid: SessionId::parse("ses_fuzz").expect("id"),
        wid: WidgetId::parse("wgt_fuzz").expect("id"),
        modes: ModeSet::of(&[Mode::Text]),
        exp: now.millis() + 60_000,
        kid: "k1".into(),
    };
    let good = signer.sign(claims);
    let spliced = format!("{good}{text}");
    if !text.is_empty() {
        if let Ok(c) = signer.verify(&spliced, now) {
            assert_eq!(c.sid.as_str(), "ses_fuzz", "a token accepted with extra bytes names another session");
        }
    }
}

/// An `Origin` header and an allowlist entry.
pub fn origins(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let header = Origin::parse_header(text);
    let entries: Vec<&str> = text.split('\n').collect();
    match OriginPolicy::parse(&entries) {
        Ok(policy) => {
            // What it saves parses back to the same policy.
            let again = OriginPolicy::parse(&policy.entries()).expect("saved entries parse");
            assert_eq!(again.entries(), policy.entries());
            if let Ok(o) = &header {
                let _ = policy.allows(o);
            }
        }
        Err(e) => assert!(!e.reason.is_empty()),
    }
}

/// A JSON merge patch to a widget and to an agent, as PATCH receives them.
pub fn spec_patch(data: &[u8]) {
    let Ok(patch) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let widget: voxgate_engine::widget::WidgetSpec =
        spec::parse(serde_json::json!({"name": "fuzz"})).expect("a minimal widget");
    match spec::merge(&widget, &patch) {
        Ok(w) => {
            // What validates once validates again after a round trip through JSON.
            let v = serde_json::to_value(&w).expect("serializes");
            spec::parse::<voxgate_engine::widget::WidgetSpec>(v).expect("round trip");
        }
        Err(e) => assert!(!e.message.is_empty()),
    }
    let agent: voxgate_engine::agent::AgentSpec =
        spec::parse(serde_json::json!({"name": "fuzz"})).expect("a minimal agent");
    if let Err(e) = spec::merge(&agent, &patch) {
        assert!(!e.message.is_empty());
    }
}

/// A trickle PATCH body (`application/trickle-ice-sdpfrag`) for a live call.
pub fn trickle(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(mut guard) = live_call().lock() else { return };
    let (endpoint, key) = &mut *guard;
    let _ = endpoint.add_remote_candidates(*key, Instant::now(), text);
    endpoint.handle_timeout(Instant::now(), &mut Nowhere);
}
