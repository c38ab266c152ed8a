//! Helpers for talking calls: a visitor who speaks in chosen frames, the agent's speech, and
//! the talk events a call reported.

use super::{Net, Script};
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};
use voxgate_engine::audio::{BrowserDtx, OpusEncoder};
use voxgate_engine::media::{CallEvent, CallKey};
use voxgate_engine::talk::{AgentEvent, TalkEvent};

/// A voiced, speech-like 20 ms frame at 48 kHz: a 150 Hz buzz with harmonics, as a vowel is.
pub fn vowel(n: u32) -> Vec<i16> {
    (0..960)
        .map(|i| {
            let t = (n as usize * 960 + i) as f64 / 48_000.0;
            let s: f64 =
                (1..=12).map(|h| (t * 150.0 * h as f64 * std::f64::consts::TAU).sin() / h as f64).sum();
            (s * 5000.0) as i16
        })
        .collect()
}

/// The visitor speaks in the frames `speaking` says, and sends encoded silence otherwise, as a
/// browser does.
pub fn speaker(speaking: impl Fn(u32) -> bool + 'static) -> Script {
    let mut encoder = OpusEncoder::browser_like(48_000).unwrap();
    Box::new(move |n| {
        let pcm = if speaking(n) { vowel(n) } else { vec![0; 960] };
        Some(encoder.encode(&pcm).unwrap().to_vec())
    })
}

/// As [`speaker`], with DTX on as a browser turns it on for an answer with `usedtx=1`
/// ([`BrowserDtx`]). `sent` counts the packets sent.
#[allow(dead_code)]
pub fn dtx_speaker(speaking: impl Fn(u32) -> bool + 'static, sent: Rc<Cell<u32>>) -> Script {
    let mut encoder = OpusEncoder::browser_like(48_000).unwrap();
    encoder.limit_bandwidth(16_000).unwrap();
    encoder.enable_dtx().unwrap();
    let mut browser = BrowserDtx::default();
    Box::new(move |n| {
        let pcm = if speaking(n) { vowel(n) } else { vec![0; 960] };
        let packet = encoder.encode(&pcm).unwrap().to_vec();
        let send = browser.sends(&packet);
        sent.set(sent.get() + u32::from(send));
        send.then_some(packet)
    })
}

pub fn talk_events(net: &Net) -> Vec<(TalkEvent, Instant)> {
    net.events
        .iter()
        .filter_map(|(_, e, at)| match e {
            CallEvent::Talk(t) => Some((t.clone(), *at)),
            _ => None,
        })
        .collect()
}

/// 24 kHz speech for the agent: a 200 Hz tone, `ms` long.
pub fn agent_speech(ms: u32) -> Vec<i16> {
    (0..24 * ms as usize)
        .map(|i| ((i as f64 * 200.0 * std::f64::consts::TAU / 24_000.0).sin() * 9000.0) as i16)
        .collect()
}

/// Runs until the visitor's question ends, then has the agent answer `text` (answer 1, one
/// utterance) with `ms` of speech.
#[allow(dead_code)]
pub fn answering(net: &mut Net, text: &str, ms: u32) -> CallKey {
    let key = net.keys[0];
    net.run_until(net.now + Duration::from_secs(3), |net| {
        talk_events(net).iter().any(|(e, _)| matches!(e, TalkEvent::TurnEnded { .. }))
    });
    let speech = AgentEvent::Speech { answer: 1, item: 1, pcm: agent_speech(ms), complete: true };
    let text = text.to_string();
    net.with_server(|server, now, tx| {
        server.agent(key, now, 0, AgentEvent::Text { answer: 1, item: 1, text }, tx);
        server.agent(key, now, 0, speech, tx);
        server.agent(key, now, 0, AgentEvent::Done { answer: 1 }, tx);
    });
    key
}
