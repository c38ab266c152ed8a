//! A recorded call on the simulated network: the visitor speaks for half a second, the echo
//! answers it half a second later, and the recording, decoded by libopus, has the visitor on
//! the left channel and the agent on the right, each where it was heard. The last pages come out
//! when the call is closed.

mod common;

use common::{Net, Script};
use std::time::Duration;
use voxgate_engine::media::{CallEvent, CallMedia, VoiceAgent};

/// 0.5 s of a tone, then silence, as 20 ms Opus packets.
fn speaks_then_listens() -> Script {
    let mut encoder = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
    Box::new(move |n| {
        let loud = n < 25;
        let pcm: Vec<i16> = (0..960)
            .map(|i| if loud { (((n * 960 + i) as f32 * 0.07).sin() * 9000.0) as i16 } else { 0 })
            .collect();
        (n < 150).then(|| encoder.encode_vec(&pcm, 4000).unwrap())
    })
}

/// Decodes an Ogg Opus recording: (left, right) mean energy per 20 ms.
fn decode(file: &[u8]) -> Vec<(f64, f64)> {
    let mut reader = ogg::PacketReader::new(std::io::Cursor::new(file));
    let head = reader.read_packet_expected().unwrap();
    assert_eq!(&head.data[..8], b"OpusHead");
    assert_eq!(
        (head.data[9], head.data[18], head.data[19], head.data[20]),
        (2, 1, 2, 0),
        "2 channels, family 1, 2 streams"
    );
    reader.read_packet_expected().unwrap();
    let mut decoder = opus::MSDecoder::new(48_000, 2, 0, &[0, 1]).unwrap();
    let mut pcm = vec![0i16; 960 * 2];
    let mut slots = Vec::new();
    while let Some(p) = reader.read_packet().unwrap() {
        decoder.decode(&p.data, &mut pcm, false).unwrap();
        let energy =
            |c: usize| pcm.iter().skip(c).step_by(2).map(|s| f64::from(*s).powi(2)).sum::<f64>() / 960.0;
        slots.push((energy(0), energy(1)));
    }
    slots
}

#[test]
fn a_recorded_echo_has_each_side_in_its_channel() {
    let echo = VoiceAgent::Echo { delay: Duration::from_millis(500) };
    let mut net = Net::new(CallMedia { agent: echo, recording: Some(11) }, vec![speaks_then_listens()]);
    net.run(Duration::from_secs(4));
    let key = net.keys[0];
    net.with_server(|server, now, out| assert!(server.close(key, now, out)));
    let mut file = Vec::new();
    let mut last_duration = 0;
    for (k, event, _) in &net.events {
        if let (true, CallEvent::Recorded { pages, duration_ms }) = (*k == key, event) {
            file.extend_from_slice(pages);
            assert!(*duration_ms >= last_duration);
            last_duration = *duration_ms;
        }
    }
    let slots = decode(&file);
    assert_eq!(slots.len() as u64 * 20, last_duration);
    assert!(slots.len() >= 150, "the whole call: {} slots", slots.len());
    let loud = 1e5;
    let visitor: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].0 > loud).collect();
    let agent: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].1 > loud).collect();
    // 25 loud frames each; the agent's 25 slots (500 ms) after the visitor's.
    assert!((22..=27).contains(&visitor.len()), "visitor loud in {visitor:?}");
    assert!((22..=27).contains(&agent.len()), "agent loud in {agent:?}");
    let lag = agent[0] as i64 - visitor[0] as i64;
    assert!((24..=26).contains(&lag), "the echo is heard 500 ms later: {lag} slots");
    assert!(slots.iter().all(|(l, r)| *l < 1e9 && *r < 1e9));
}

#[test]
fn an_unrecorded_call_writes_nothing() {
    let mut net = Net::new(VoiceAgent::Echo { delay: Duration::ZERO }, vec![speaks_then_listens()]);
    net.run(Duration::from_secs(2));
    let key = net.keys[0];
    net.with_server(|server, now, out| assert!(server.close(key, now, out)));
    assert!(!net.events.iter().any(|(_, e, _)| matches!(e, CallEvent::Recorded { .. })));
}
