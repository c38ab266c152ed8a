//! A talking call whose visitor's network goes down mid-answer: a second later the call
//! notices, and the agent's voice pauses at the sample it reached instead of playing into
//! nothing; when packets come again it goes on from there, and the answer ends complete. On
//! the simulated network, with the visitor's network cut and restored.

mod common;

use common::talking::{answering, speaker, talk_events};
use common::Net;
use std::time::Duration;
use voxgate_engine::media::{CallEvent, VoiceAgent};
use voxgate_engine::talk::{TalkConfig, TalkEvent, TurnConfig};

#[test]
fn the_agent_pauses_while_the_network_is_down_and_goes_on_where_it_paused() {
    let agent =
        VoiceAgent::Talk(TalkConfig { turn: TurnConfig::default(), stream_rate: None, hears_overlaps: true });
    let mut net = Net::new(agent, vec![speaker(|n| n < 50)]);
    // A 5 s answer (250 frames).
    answering(&mut net, "Ten words.", 5000);
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
