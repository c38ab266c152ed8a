//! Talking over the agent, on the simulated network, with an agent that hears overlaps: the
//! agent is held (no frame goes out) while the visitor's speech is heard out. A cough (nothing
//! recognised) resumes the agent at the very frame it held at; an "uh-huh" resumes it and is
//! kept as a backchannel line; words interrupt (the answer ends where it held, the words are
//! answered); speech too brief to interrupt never holds it; and with no words back in time the
//! agent resumes at the window's end.

mod common;

use common::talking::{answering, speaker, talk_events};
use common::Net;
use std::time::{Duration, Instant};
use voxgate_engine::conversation::{MessageRole, MessageStatus};
use voxgate_engine::media::{CallKey, VoiceAgent};
use voxgate_engine::talk::{AgentEvent, TalkConfig, TalkEvent, TurnConfig};

const ANSWER: &str = "One two three four five six seven eight nine ten.";

/// The visitor asks (frames 0 to 50), then talks over the answer in `over`.
fn call(over: std::ops::Range<u32>) -> Net {
    let turn = TurnConfig { false_interruption_ms: Some(1500), ..TurnConfig::default() };
    let agent = VoiceAgent::Talk(TalkConfig { turn, stream_rate: None, hears_overlaps: true });
    Net::new(agent, vec![speaker(move |n| n < 50 || over.contains(&n))])
}

/// Runs until the call asks for the words of an overlap; its id and when it asked.
fn overlap_asked(net: &mut Net) -> (u64, Instant) {
    net.run_until(net.now + Duration::from_secs(5), |net| {
        talk_events(net).iter().any(|(e, _)| matches!(e, TalkEvent::OverlapEnded { .. }))
    });
    talk_events(net)
        .into_iter()
        .find_map(|(e, at)| match e {
            TalkEvent::OverlapEnded { id, .. } => Some((id, at)),
            _ => None,
        })
        .expect("the call asked for the overlap's words")
}

fn overheard(net: &mut Net, key: CallKey, id: u64, text: &str) {
    let text = text.to_string();
    net.with_server(|server, now, tx| server.agent(key, now, 0, AgentEvent::Overheard { id, text }, tx));
}

/// The longest gap between two frames the visitor received.
fn longest_gap(net: &Net) -> Duration {
    let got = &net.visitors[0].received;
    got.windows(2).map(|w| w[1].1 - w[0].1).max().unwrap_or_default()
}

fn lines(net: &Net) -> Vec<(MessageRole, String, MessageStatus)> {
    talk_events(net)
        .into_iter()
        .filter_map(|(e, _)| match e {
            TalkEvent::Line(l) => Some((l.role, l.text, l.status)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_cough_holds_the_agent_which_resumes_where_it_held() {
    // 240 ms of sound over the answer, from 2.4 s.
    let mut net = call(120..132);
    let key = answering(&mut net, ANSWER, 5000);
    let (id, asked) = overlap_asked(&mut net);
    let sent_while_held = net.visitors[0].received.len();
    overheard(&mut net, key, id, "");
    net.run(Duration::from_secs(6));
    let events = talk_events(&net);
    // Nothing went out from the hold to the words; then all 5 s played, none of it twice.
    let after = net.visitors[0].received.iter().filter(|(_, at)| *at > asked).count();
    assert!(after > 0 && sent_while_held + after == 250, "{sent_while_held} + {after} frames");
    assert_eq!(net.visitors[0].received.len(), 250, "5 s is 250 frames, once each");
    let gap = longest_gap(&net);
    assert!(gap >= Duration::from_millis(500), "the agent held: {gap:?}");
    let held_ms = events.iter().find_map(|(e, _)| match e {
        TalkEvent::FalseInterruption { held_ms } => Some(*held_ms),
        _ => None,
    });
    assert!(held_ms.is_some_and(|ms| ms >= 500), "a false interruption: {held_ms:?}");
    assert!(!events
        .iter()
        .any(|(e, _)| matches!(e, TalkEvent::BargeIn { .. } | TalkEvent::TurnHeard { .. })));
    assert!(events.iter().any(|(e, _)| *e == TalkEvent::AgentSpeechFinished { item: 1, played_ms: 5000 }));
    assert_eq!(lines(&net), [(MessageRole::Agent, ANSWER.into(), MessageStatus::Complete)]);
}

#[test]
fn an_uh_huh_resumes_the_agent_and_is_kept_as_a_backchannel() {
    let mut net = call(120..135);
    let key = answering(&mut net, ANSWER, 5000);
    let (id, _) = overlap_asked(&mut net);
    overheard(&mut net, key, id, "Uh-huh.");
    net.run(Duration::from_secs(6));
    let events = talk_events(&net);
    assert_eq!(net.visitors[0].received.len(), 250);
    assert!(!events.iter().any(|(e, _)| matches!(
        e,
        TalkEvent::FalseInterruption { .. } | TalkEvent::BargeIn { .. } | TalkEvent::TurnHeard { .. }
    )));
    assert_eq!(
        lines(&net),
        [
            (MessageRole::Visitor, "Uh-huh.".into(), MessageStatus::Backchannel),
            (MessageRole::Agent, ANSWER.into(), MessageStatus::Complete)
        ]
    );
}

#[test]
fn words_interrupt_where_the_agent_held_and_are_answered() {
    let mut net = call(120..160);
    let key = answering(&mut net, ANSWER, 5000);
    let (id, _) = overlap_asked(&mut net);
    let heard_frames = net.visitors[0].received.len() as u32;
    overheard(&mut net, key, id, "wait, what about Sunday");
    net.run(Duration::from_secs(6));
    assert_eq!(net.visitors[0].received.len() as u32, heard_frames, "nothing more of the held answer");
    let events = talk_events(&net);
    let stopped = events.iter().find_map(|(e, _)| match e {
        TalkEvent::BargeIn { stopped, .. } => Some(*stopped),
        _ => None,
    });
    assert_eq!(stopped, Some(Some((1, heard_frames * 20))), "cut where it held");
    assert!(events.iter().any(|(e, _)| matches!(e, TalkEvent::TurnHeard { id: heard, .. } if *heard == id)));
    // Cut to what was played: about 1.1 s of 5 s, two words of ten.
    assert_eq!(lines(&net), [(MessageRole::Agent, "One two".into(), MessageStatus::Interrupted)]);
}

#[test]
fn speech_too_brief_to_interrupt_never_holds_and_is_kept_if_it_was_words() {
    // 120 ms over the answer (an "mm"), then 100 ms more (a breath).
    let turn = TurnConfig::default();
    let agent = VoiceAgent::Talk(TalkConfig { turn, stream_rate: None, hears_overlaps: true });
    let mut net =
        Net::new(agent, vec![speaker(|n| n < 50 || (120..126).contains(&n) || (200..205).contains(&n))]);
    let key = answering(&mut net, ANSWER, 5000);
    let (id, _) = overlap_asked(&mut net);
    overheard(&mut net, key, id, "mm");
    net.run(Duration::from_secs(6));
    let asked: Vec<u64> = talk_events(&net)
        .into_iter()
        .filter_map(|(e, _)| match e {
            TalkEvent::OverlapEnded { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(asked.len(), 2, "both were heard out");
    overheard(&mut net, key, asked[1], "");
    net.run(Duration::from_millis(100));
    assert_eq!(net.visitors[0].received.len(), 250);
    assert!(longest_gap(&net) <= Duration::from_millis(21), "never held: {:?}", longest_gap(&net));
    assert_eq!(
        lines(&net),
        [
            (MessageRole::Visitor, "mm".into(), MessageStatus::Backchannel),
            (MessageRole::Agent, ANSWER.into(), MessageStatus::Complete)
        ]
    );
}

#[test]
fn with_no_words_back_the_agent_resumes_when_the_window_ends() {
    let mut net = call(120..132);
    answering(&mut net, ANSWER, 5000);
    let (_, asked) = overlap_asked(&mut net);
    net.run(Duration::from_secs(7));
    let events = talk_events(&net);
    assert_eq!(net.visitors[0].received.len(), 250);
    assert!(net.visitors[0].received.iter().any(|(_, at)| *at > asked), "it resumed");
    // The window is 1.5 s from when the visitor began talking over the agent.
    let held_ms = events.iter().find_map(|(e, _)| match e {
        TalkEvent::FalseInterruption { held_ms } => Some(*held_ms),
        _ => None,
    });
    assert!(held_ms.is_some_and(|ms| (1500..1560).contains(&ms)), "{held_ms:?}");
    assert!(longest_gap(&net) >= Duration::from_millis(1200), "{:?}", longest_gap(&net));
}
