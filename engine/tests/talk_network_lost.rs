//! A talking call whose visitor's network goes down mid-answer: a second later the call
//! notices, and the agent's voice pauses at the sample it reached instead of playing into
//! nothing; when packets come again it goes on from there, and the answer ends complete. On
//! the simulated network, with the visitor's network cut and restored.

mod common;

use common::talking::{agent_speech, speaker, talk_events};
use common::Net;
use std::time::Duration;
use voxgate_engine::media::{CallEvent, VoiceAgent};
use voxgate_engine::talk::{AgentEvent, TalkConfig, TalkEvent, TurnConfig};

#[test]
fn the_agent_pauses_while_the_network_is_down_and_goes_on_where_it_paused() {
    let agent =
        VoiceAgent::Talk(TalkConfig { turn: TurnConfig::default(), stream_rate: None, hears_overlaps: true });
    let mut net = Net::new(agent, vec![speaker(|n| n < 50)]);
    let key = net.keys[0];
    net.run_until(net.now + Duration::from_secs(3), |net| {
        talk_events(net).iter().any(|(e, _)| matches!(e, TalkEvent::TurnEnded { .. }))
    });
    // A 5 s answer (250 frames).
    let speech = AgentEvent::Speech { answer: 1, item: 1, pcm: agent_speech(5000), complete: true };
    net.with_server(|server, now, tx| {
        server.agent(key, now, 0, AgentEvent::Text { answer: 1, item: 1, text: "Ten words.".into() }, tx);
        server.agent(key, now, 0, speech, tx);
        server.agent(key, now, 0, AgentEvent::Done { answer: 1 }, tx);
    });
    net.run(Duration::from_secs(1));
    let before = net.visitors[0].received.len();
    assert!(before >= 40, "the answer plays: {before} frames");

    // The network is down for 3 s: the frames of the second before the call notices are lost.
    net.visitors[0].offline = true;
    net.run(Duration::from_secs(3));
    assert!(net.events.iter().any(|(_, e, _)| matches!(e, CallEvent::Silent { .. })));
    net.visitors[0].offline = false;
    let back = net.now;
    net.run(Duration::from_secs(6));

    let after = net.visitors[0].received.iter().filter(|(_, at)| *at >= back).count();
    // Paused about 2 s into the answer: about 3 s of it plays after the network is back (a
    // voice that played on would have had nothing left to play).
    assert!(after >= 140, "{after} frames after the network came back, {before} before");
    assert!(before + after <= 250 && before + after >= 190, "{before} + {after} of 250 frames");
    assert!(net.events.iter().any(|(_, e, _)| *e == CallEvent::Flowing));
    let events = talk_events(&net);
    assert!(
        events.iter().any(|(e, _)| *e == TalkEvent::AgentSpeechFinished { item: 1, played_ms: 5000 }),
        "the answer played to its end: {events:?}"
    );
}
