//! A talking call whose visitor's browser pauses sending in silence (Opus DTX, which the
//! answer asks for with `usedtx=1`): the call hears that silence by its clock, so a turn ends
//! as soon after the visitor's last word as with a browser that sends all call long, and the
//! visitor is heard again when they speak again. On the simulated network.

mod common;

use common::talking::{dtx_speaker, speaker, talk_events};
use common::Net;
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};
use voxgate_engine::media::VoiceAgent;
use voxgate_engine::talk::{TalkConfig, TalkEvent, TurnConfig};

fn agent() -> VoiceAgent {
    VoiceAgent::Talk(TalkConfig { turn: TurnConfig::default(), stream_rate: None, hears_overlaps: false })
}

/// When each turn began and ended, and when its end was reported.
fn turns(net: &Net) -> Vec<(Instant, Instant, Instant)> {
    talk_events(net)
        .into_iter()
        .filter_map(|(e, at)| match e {
            TalkEvent::TurnEnded { started, ended, .. } => Some((started, ended, at)),
            _ => None,
        })
        .collect()
}

/// The samples each turn captured, in order.
fn captured(events: &[(TalkEvent, Instant)]) -> Vec<usize> {
    events
        .iter()
        .filter_map(|(e, _)| match e {
            TalkEvent::TurnEnded { audio, .. } => Some(audio.len()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_answer_asks_for_dtx_and_a_paused_sender_ends_its_turn_as_soon_as_one_that_sends() {
    let sent = Rc::new(Cell::new(0));
    // One second of speech, then four of silence.
    let mut paused = Net::new(agent(), vec![dtx_speaker(|n| n < 50, sent.clone())]);
    assert!(paused.visitors[0].peer.wants_dtx(), "the answer asks for DTX: {}", paused.answers[0]);
    paused.run(Duration::from_secs(5));
    let mut sending = Net::new(agent(), vec![speaker(|n| n < 50)]);
    sending.run(Duration::from_secs(5));

    let frames = paused.visitors[0].sent_at.len() as u32;
    assert!(frames >= 240, "{frames} frames of time passed");
    // 50 frames of speech, the encoder's hangover, then about five packets a second.
    assert!(sent.get() < 50 + 15 + 25, "{} packets sent in {frames} frames", sent.get());

    let (paused_turns, sending_turns) = (turns(&paused), turns(&sending));
    assert_eq!(paused_turns.len(), 1, "{paused_turns:?}");
    assert_eq!(sending_turns.len(), 1, "{sending_turns:?}");
    let ((p_start, p_end, p_at), (s_start, s_end, s_at)) = (paused_turns[0], sending_turns[0]);
    let offset = |t: Instant, base: Instant| t.saturating_duration_since(base).as_millis() as i64;
    let (p0, s0) = (paused.visitors[0].sent_at[0], sending.visitors[0].sent_at[0]);
    // The same speech ends at the same time, and is reported 500 ms later, within a frame.
    assert!((offset(p_start, p0) - offset(s_start, s0)).abs() <= 20, "started {p_start:?} / {s_start:?}");
    assert!((offset(p_end, p0) - offset(s_end, s0)).abs() <= 20, "ended {p_end:?} / {s_end:?}");
    let after = p_at.saturating_duration_since(p_end).as_millis();
    assert!((500..=540).contains(&after), "the turn ended {after} ms after the speech");
    assert!((offset(p_at, p0) - offset(s_at, s0)).abs() <= 20, "reported {p_at:?} / {s_at:?}");
}

#[test]
fn a_visitor_who_speaks_again_after_a_pause_in_sending_takes_the_floor_again() {
    let sent = Rc::new(Cell::new(0));
    // Speech, 3 s of silence (the sender paused), speech again.
    let speaking = |n: u32| n < 50 || (200..250).contains(&n);
    let mut net = Net::new(agent(), vec![dtx_speaker(speaking, sent)]);
    net.run(Duration::from_secs(7));
    let events = talk_events(&net);
    let starts: Vec<Instant> = events
        .iter()
        .filter_map(|(e, _)| match e {
            TalkEvent::VisitorSpeechStarted { at } => Some(*at),
            _ => None,
        })
        .collect();
    assert_eq!(starts.len(), 2, "{events:?}");
    let t0 = net.visitors[0].sent_at[0];
    // The second speech began at frame 200 (4 s), heard at its own time.
    let second = starts[1].saturating_duration_since(t0).as_millis() as i64;
    assert!((second - 4000).abs() <= 60, "the second speech started at {second} ms");
    // Its turn is captured whole: about a second of audio, not the pause before it.
    let captured = captured(&events);
    assert_eq!(captured.len(), 2, "{events:?}");
    let ms = captured[1] * 1000 / 16_000;
    assert!((1000..=1900).contains(&ms), "{ms} ms captured for the second turn");
}

#[test]
fn a_realtime_stream_gets_the_paused_senders_silence_too() {
    let sent = Rc::new(Cell::new(0));
    // Speech, a 600 ms pause inside the turn (long enough for the sender to pause; the turn
    // waits 800 ms), speech again, then silence.
    let speaking = |n: u32| n < 50 || (80..130).contains(&n);
    let turn = TurnConfig { silence_duration_ms: 800, ..TurnConfig::default() };
    let agent = VoiceAgent::Talk(TalkConfig { turn, stream_rate: Some(24_000), hears_overlaps: false });
    let mut net = Net::new(agent, vec![dtx_speaker(speaking, sent.clone())]);
    net.run(Duration::from_secs(5));
    let events = talk_events(&net);
    let streamed: usize = events
        .iter()
        .filter_map(|(e, _)| match e {
            TalkEvent::VisitorAudio(pcm) => Some(pcm.len()),
            _ => None,
        })
        .sum();
    let captured = captured(&events);
    assert_eq!(captured.len(), 1, "one turn, the pause inside it: {events:?}");
    assert!(sent.get() < 130 + 20, "the sender paused: {} packets", sent.get());
    // The stream carried the whole turn, its pause included, at 24 kHz.
    let (streamed_ms, captured_ms) = (streamed / 24, captured[0] / 16);
    assert!(captured_ms >= 2600, "the turn holds both runs of speech and the pause: {captured_ms} ms");
    assert!(streamed_ms + 40 >= captured_ms, "streamed {streamed_ms} ms of a {captured_ms} ms turn");
    // And as it passed: the silence streams by the clock while the sender sends nothing, not
    // all at once when it speaks again.
    let times: Vec<Instant> =
        events.iter().filter_map(|(e, at)| matches!(e, TalkEvent::VisitorAudio(_)).then_some(*at)).collect();
    let longest = times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
    assert!(longest <= Duration::from_millis(60), "the stream paused {longest:?}");
}
