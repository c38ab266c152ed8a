//! A talking agent's call on the simulated network: the visitor's Opus speech takes the floor
//! and ends a turn (captured for recognition), the agent's speech is played one packet every
//! 20 ms with nothing sent while it is silent, talking over it stops it within a frame and says
//! how much was heard, and an idle visitor is prompted, then let go.

mod common;

use common::talking::{agent_speech, speaker, talk_events};
use common::Net;
use std::time::{Duration, Instant};
use voxgate_engine::audio::OpusDecoder;
use voxgate_engine::media::{CallEvent, VoiceAgent};
use voxgate_engine::talk::TurnConfig;
use voxgate_engine::talk::{AgentEvent, TalkConfig, TalkEvent};

fn agent(turn: TurnConfig) -> VoiceAgent {
    VoiceAgent::Talk(TalkConfig { turn, stream_rate: None, hears_overlaps: false })
}

/// All of utterance `item`'s speech, as one piece of an answer of its own.
fn speech(item: u64, pcm: Vec<i16>) -> AgentEvent {
    AgentEvent::Speech { answer: item, item, pcm, complete: true }
}

#[test]
fn the_visitor_takes_the_floor_and_their_turn_is_captured() {
    // One second of speech, then silence.
    let mut net = Net::new(agent(TurnConfig::default()), vec![speaker(|n| n < 50)]);
    net.run(Duration::from_secs(3));
    let events = talk_events(&net);
    let started = events.iter().find_map(|(e, _)| match e {
        TalkEvent::VisitorSpeechStarted { at } => Some(*at),
        _ => None,
    });
    let ended = events.iter().find_map(|(e, at)| match e {
        TalkEvent::TurnEnded { audio, started, ended, .. } => Some((audio.clone(), *started, *ended, *at)),
        _ => None,
    });
    let started = started.expect("the visitor took the floor");
    let (audio, turn_start, turn_end, reported) = ended.expect("the turn ended");
    assert_eq!(started, turn_start);
    let spoke = turn_end - turn_start;
    assert!(spoke >= Duration::from_millis(900) && spoke <= Duration::from_millis(1100), "{spoke:?}");
    // Reported after 500 ms of silence, give or take a frame.
    let waited = reported - turn_end;
    assert!(waited >= Duration::from_millis(480) && waited <= Duration::from_millis(560), "{waited:?}");
    // The capture holds the speech, with the prefix before it and the silence after.
    let seconds = audio.len() as f64 / 16_000.0;
    assert!((1.3..=2.0).contains(&seconds), "{seconds} s captured");
    let loud = audio.iter().filter(|s| s.unsigned_abs() > 2000).count();
    assert!(loud > 16_000 / 2, "the speech itself is in it");
}

#[test]
fn the_agent_speaks_one_packet_every_20_ms_and_then_nothing() {
    let mut net = Net::new(agent(TurnConfig::default()), vec![speaker(|n| n < 50)]);
    let key = net.keys[0];
    net.run_until(net.now + Duration::from_secs(3), |net| {
        talk_events(net).iter().any(|(e, _)| matches!(e, TalkEvent::TurnEnded { .. }))
    });
    let before = net.visitors[0].received.len();
    assert_eq!(before, 0, "nothing was sent while the agent had nothing to say");
    net.with_server(|server, now, tx| server.agent(key, now, 0, speech(1, agent_speech(1000)), tx));
    net.run(Duration::from_secs(2));
    let got = &net.visitors[0].received;
    assert_eq!(got.len(), 50, "one second of speech is 50 packets");
    for pair in got.windows(2) {
        let gap = pair[1].1 - pair[0].1;
        assert!(gap >= Duration::from_millis(19) && gap <= Duration::from_millis(21), "paced: {gap:?}");
    }
    let mut decoder = OpusDecoder::new(24_000).unwrap();
    let pcm: Vec<i16> = got.iter().flat_map(|(p, _)| decoder.decode(p).unwrap().to_vec()).collect();
    assert!(pcm.iter().any(|s| s.unsigned_abs() > 5000), "the reply carries the agent's audio");
    let events = talk_events(&net);
    assert!(events.iter().any(|(e, _)| matches!(e, TalkEvent::AgentSpeechStarted { item: 1, .. })));
    assert!(events.iter().any(|(e, _)| *e == TalkEvent::AgentSpeechFinished { item: 1, played_ms: 1000 }));
}

#[test]
fn talking_over_the_agent_stops_it_within_a_frame() {
    // Speech, a pause for the answer, then the visitor talks over it from frame 120 (2.4 s).
    let mut net =
        Net::new(agent(TurnConfig::default()), vec![speaker(|n| n < 50 || (120..170).contains(&n))]);
    let key = net.keys[0];
    net.run_until(net.now + Duration::from_secs(3), |net| {
        talk_events(net).iter().any(|(e, _)| matches!(e, TalkEvent::TurnEnded { .. }))
    });
    net.with_server(|server, now, tx| server.agent(key, now, 0, speech(9, agent_speech(5000)), tx));
    net.run(Duration::from_secs(4));
    let events = talk_events(&net);
    let (stopped, fired) = events
        .iter()
        .find_map(|(e, at)| match e {
            TalkEvent::BargeIn { stopped, .. } => Some((*stopped, *at)),
            _ => None,
        })
        .expect("a barge-in");
    let (item, played_ms) = stopped.expect("it stopped the agent's speech");
    assert_eq!(item, 9);
    let last_frame = net.visitors[0].received.last().unwrap().1;
    assert!(
        last_frame <= fired + Duration::from_millis(20),
        "no frame after the next one: {:?}",
        last_frame - fired
    );
    let heard = net.visitors[0].received.len() as u32 * 20;
    assert!(played_ms.abs_diff(heard) <= 20, "played {played_ms} ms, the visitor got {heard} ms");
    assert!(played_ms > 500 && played_ms < 5000, "{played_ms}");
    assert!(!events.iter().any(|(e, _)| matches!(e, TalkEvent::AgentSpeechFinished { item: 9, .. })));
}

#[test]
fn an_idle_visitor_is_prompted_then_let_go() {
    let turn = TurnConfig { idle_timeout_ms: Some(1000), ..TurnConfig::default() };
    let mut net = Net::new(agent(turn), vec![speaker(|_| false)]);
    net.run(Duration::from_millis(3500));
    let idle: Vec<(TalkEvent, Instant)> = talk_events(&net)
        .into_iter()
        .filter(|(e, _)| matches!(e, TalkEvent::IdlePrompt | TalkEvent::IdleTimeout))
        .collect();
    assert_eq!(
        idle.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>(),
        [TalkEvent::IdlePrompt, TalkEvent::IdleTimeout]
    );
    let between = idle[1].1 - idle[0].1;
    assert!(between >= Duration::from_millis(990) && between <= Duration::from_millis(1030), "{between:?}");
    // The idle clock started when the call connected, not when it was offered.
    let connected = net.events.iter().find_map(|(_, e, at)| (*e == CallEvent::Connected).then_some(*at));
    let asked = idle[0].1 - connected.expect("the call connected");
    assert!(asked >= Duration::from_millis(990) && asked <= Duration::from_millis(1030), "{asked:?}");
}

#[test]
fn a_pause_hands_out_the_turn_so_far_and_the_turn_that_ends_there_names_it() {
    // Speech, a 300 ms pause mid-sentence, more speech, then silence.
    let turn = TurnConfig { pause_ms: Some(200), ..TurnConfig::default() };
    let mut net = Net::new(agent(turn), vec![speaker(|n| n < 40 || (55..80).contains(&n))]);
    net.run(Duration::from_secs(3));
    let events = talk_events(&net);
    let pauses: Vec<(usize, Instant)> = events
        .iter()
        .filter_map(|(e, _)| match e {
            TalkEvent::VisitorPaused { audio, ended } => Some((audio.len(), *ended)),
            _ => None,
        })
        .collect();
    let turn = events.iter().find_map(|(e, _)| match e {
        TalkEvent::TurnEnded { audio, ended, .. } => Some((audio.len(), *ended)),
        _ => None,
    });
    let (turn_len, turn_end) = turn.expect("the turn ended");
    assert_eq!(pauses.len(), 2, "the mid-sentence pause and the last one: {pauses:?}");
    // The first pause is not the turn's end; the second is, and its audio is the turn's but for
    // the silence that confirmed it.
    assert!(pauses[0].1 < pauses[1].1);
    assert_eq!(pauses[1].1, turn_end);
    assert!(pauses[0].0 < pauses[1].0 && pauses[1].0 < turn_len, "{pauses:?} then {turn_len}");
}
