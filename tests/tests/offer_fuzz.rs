//! A seeded fuzzer drives mutated SDP offers (byte flips, deleted and duplicated lines,
//! truncation, odd attributes) through the WHIP endpoint of the real binary: no 5xx and no
//! panic, every answer one of 201/400/409/413/415 with an error code, and the server still
//! answers afterwards. Offers missing the fingerprint, the m-lines or the ICE credentials each
//! get `invalid_sdp` naming the missing part. `VOXGATE_FUZZ_SEED` and `VOXGATE_FUZZ_OFFERS`
//! replay or widen a run.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;
use voxgate_engine::media::client::ClientPeer;
use voxgate_engine::media::MediaIdentity;
use voxgate_tests::{Api, Fixture, Reply, Server, ServerOptions, SITE};

/// A Chromium offer, as captured (opus, red, G722, PCMU/A, CN, telephone-event; a TCP and an
/// mDNS candidate).
const CHROMIUM: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0\r\na=candidate:2 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0\r\na=candidate:3 1 udp 2122260223 abcd-ef.local 50001 typ host generation 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\na=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\na=setup:actpass\r\na=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\na=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=sendrecv\r\na=msid:- 2b2b1a47-1d6c-4a9e-8e1a-3a3b4d1c1b2a\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\na=ssrc:1234 cname:x\r\na=ssrc:1234 msid:- 2b2b1a47-1d6c-4a9e-8e1a-3a3b4d1c1b2a\r\n";

/// Lines that look plausible and are not.
const ODD_LINES: &[&str] = &[
    "a=fingerprint:sha-256 ZZ:ZZ",
    "a=fingerprint:md5 00",
    "a=fingerprint:",
    "a=setup:holdconn",
    "a=setup:active",
    "a=setup:passive",
    "a=ice-lite",
    "a=ice-ufrag:",
    "a=ice-pwd:x",
    "a=mid:",
    "a=mid:0",
    "a=group:BUNDLE 7 8 9",
    "a=rtpmap:111 opus/48000/2",
    "a=rtpmap:999999999999 opus/48000/2",
    "a=rtpmap:111",
    "a=fmtp:111 minptime=-1;stereo=banana",
    "a=rtcp-fb:111 nack pli",
    "a=extmap:0 urn:x",
    "a=extmap:300 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=extmap:4/sendonly urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=ssrc:0 cname:",
    "a=ssrc-group:FID 1 2 3",
    "a=candidate:1 1 udp 1 999.999.999.999 99999 typ host",
    "a=candidate:",
    "a=sctp-port:5000",
    "a=max-message-size:-5",
    "a=rid:1 send",
    "a=simulcast:send 1;2",
    "a=msid:",
    "a=sendonly",
    "a=inactive",
    "a=recvonly",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "m=video 9 UDP/TLS/RTP/SAVPF 96",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "m=audio 0 RTP/AVP",
    "m=",
    "c=IN IP6 ::",
    "c=",
    "o=",
    "t=x y",
    "v=1",
    "b=AS:-1",
    "\u{0}",
];

fn lines(offer: &str) -> Vec<String> {
    offer.split("\r\n").filter(|l| !l.is_empty()).map(str::to_string).collect()
}

fn join(lines: &[String]) -> Vec<u8> {
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n");
    out
}

/// One mutated offer: one to three mutations of one of the base offers.
fn mutate(rng: &mut StdRng, bases: &[String]) -> Vec<u8> {
    let mut ls = lines(&bases[rng.random_range(0..bases.len())]);
    let mut bytes: Option<Vec<u8>> = None;
    for _ in 0..rng.random_range(1..=3) {
        if ls.is_empty() {
            break;
        }
        match rng.random_range(0..8) {
            0 => {
                let i = rng.random_range(0..ls.len());
                ls.remove(i);
            }
            1 => {
                let i = rng.random_range(0..ls.len());
                let line = ls[i].clone();
                ls.insert(rng.random_range(0..=ls.len()), line);
            }
            2 => {
                let odd = ODD_LINES[rng.random_range(0..ODD_LINES.len())].to_string();
                ls.insert(rng.random_range(0..=ls.len()), odd);
            }
            3 => {
                let i = rng.random_range(0..ls.len());
                ls[i] = ODD_LINES[rng.random_range(0..ODD_LINES.len())].to_string();
            }
            4 => {
                // Truncate a line, or the whole offer.
                let i = rng.random_range(0..ls.len());
                let cut = rng.random_range(0..=ls[i].len());
                ls[i] = ls[i].chars().take(cut).collect();
                if rng.random_bool(0.3) {
                    ls.truncate(i + 1);
                }
            }
            5 => {
                let (a, b) = (rng.random_range(0..ls.len()), rng.random_range(0..ls.len()));
                ls.swap(a, b);
            }
            _ => {
                let mut raw = bytes.take().unwrap_or_else(|| join(&ls));
                for _ in 0..rng.random_range(1..=4) {
                    if raw.is_empty() {
                        break;
                    }
                    let i = rng.random_range(0..raw.len());
                    raw[i] ^= 1 << rng.random_range(0..8);
                }
                bytes = Some(raw);
            }
        }
    }
    bytes.unwrap_or_else(|| join(&ls))
}

fn post_offer(api: &Api, url: &str, token: &str, body: Vec<u8>) -> Reply {
    api.send(
        api.http
            .post(url)
            .header("Origin", SITE)
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/sdp")
            .body(body),
    )
}

fn without(offer: &str, prefix: &str) -> Vec<u8> {
    join(&lines(offer).into_iter().filter(|l| !l.starts_with(prefix)).collect::<Vec<_>>())
}

#[test]
fn mutated_offers_get_clear_refusals_never_a_server_error() {
    let seed: u64 = std::env::var("VOXGATE_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(13);
    let total: usize =
        std::env::var("VOXGATE_FUZZ_OFFERS").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    // The parser is under test, not the rate limits: 10,000 offers from one address and a few
    // sessions would spend the per-address and per-session allowances in seconds.
    let f = Fixture::on(Server::start_with(ServerOptions {
        extra_args: ["--rate-limit-per-address", "0", "--rate-limit-offers-per-session", "0"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    }));
    let identity = MediaIdentity::generate().unwrap();
    let (_, str0m_offer) =
        ClientPeer::offer(&identity, "127.0.0.1:40000".parse().unwrap(), Instant::now()).unwrap();
    let bases = vec![CHROMIUM.to_string(), str0m_offer.clone()];

    // The missing parts are named.
    let s = f.session(json!({"mode": "voice"}));
    let (url, token) = (s["webrtc_url"].as_str().unwrap(), s["session_token"].as_str().unwrap());
    for (base, missing, named) in [
        (CHROMIUM, "a=fingerprint", "fingerprint"),
        (str0m_offer.as_str(), "a=fingerprint", "fingerprint"),
        (CHROMIUM, "m=", "m="),
        (CHROMIUM, "a=ice-ufrag", "ice-ufrag"),
        (CHROMIUM, "a=ice-pwd", "ice-pwd"),
        (str0m_offer.as_str(), "a=ice-pwd", "ice-pwd"),
    ] {
        let r = post_offer(&f.api, url, token, without(base, missing)).expect_error(400, "invalid_sdp");
        assert!(r.body["error"]["message"].as_str().unwrap().contains(named), "{missing}: {}", r.text);
    }

    // Two visitors at a time, each with its own session, so both cores work.
    let threads = 2;
    let sessions: Vec<(String, String)> = (0..threads)
        .map(|_| {
            let s = f.session(json!({"mode": "voice", "ttl_seconds": 3600}));
            (s["webrtc_url"].as_str().unwrap().to_string(), s["session_token"].as_str().unwrap().to_string())
        })
        .collect();
    let results: Vec<BTreeMap<(u16, String), usize>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (api, bases, (url, token)) = (f.api.clone(), &bases, sessions[t].clone());
                scope.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(t as u64));
                    let mut seen: BTreeMap<(u16, String), usize> = BTreeMap::new();
                    for n in 0..total / threads {
                        let offer = mutate(&mut rng, bases);
                        let r = post_offer(&api, &url, &token, offer.clone());
                        assert!(
                            [201, 400, 409, 413, 415].contains(&r.status),
                            "seed {seed} thread {t} offer {n} got {}: {}\n--- offer ---\n{}",
                            r.status,
                            r.text,
                            String::from_utf8_lossy(&offer)
                        );
                        if r.status == 201 {
                            let location = r.header("location").expect("Location").to_string();
                            api.browser("DELETE", &location, Some(SITE), Some(&token)).expect(200);
                        } else {
                            assert!(
                                !r.code().is_empty()
                                    && r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
                                "a refusal says why: {}",
                                r.text
                            );
                        }
                        *seen.entry((r.status, r.code().to_string())).or_default() += 1;
                    }
                    seen
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("fuzz thread")).collect()
    });
    let mut seen: BTreeMap<(u16, String), usize> = BTreeMap::new();
    for r in results {
        for (k, v) in r {
            *seen.entry(k).or_default() += v;
        }
    }
    println!("{total} mutated offers (seed {seed}): {seen:?}");
    assert_eq!(seen.values().sum::<usize>(), total / threads * threads);
    assert!(seen.contains_key(&(201, String::new())), "some mutations still make valid offers: {seen:?}");
    assert!(seen.contains_key(&(400, "invalid_sdp".into())), "{seen:?}");

    // The server is whole: a clean offer is still answered and its call connects.
    let s = f.session(json!({"mode": "voice"}));
    let mut call = f.call(&s);
    call.expect_echoes(5, std::time::Duration::from_secs(20));
}
