//! A hang-up in the middle of a long answer keeps the words played up to the cut, marked
//! interrupted, in proportion to the audio the visitor received (the backend gives no word
//! timings); the line outlives the call's close. On the simulated network.

mod common;

use common::talking::{answering, speaker, talk_events};
use common::Net;
use std::time::Duration;
use voxgate_engine::conversation::{MessageRole, MessageStatus};
use voxgate_engine::media::VoiceAgent;
use voxgate_engine::talk::{TalkConfig, TalkEvent, TurnConfig};

const ANSWER: &str = "One two three four five six seven eight nine ten.";

#[test]
fn a_hang_up_mid_answer_keeps_the_words_played_so_far() {
    let agent =
        VoiceAgent::Talk(TalkConfig { turn: TurnConfig::default(), stream_rate: None, hears_overlaps: true });
    let mut net = Net::new(agent, vec![speaker(|n| n < 50)]);
    // One 5 s sentence of ten words.
    let key = answering(&mut net, ANSWER, 5000);
    net.run_until(net.now + Duration::from_secs(5), |net| net.visitors[0].received.len() >= 130);
    let played_ms = net.visitors[0].received.len() as u64 * 20;
    assert!(net.with_server(|server, now, tx| server.close(key, now, tx)));
    let lines: Vec<_> = talk_events(&net)
        .into_iter()
        .filter_map(|(e, _)| match e {
            TalkEvent::Line(l) if l.role == MessageRole::Agent => Some(l),
            _ => None,
        })
        .collect();
    assert_eq!(lines.len(), 1, "the answer's line outlives the close: {lines:?}");
    assert_eq!(lines[0].status, MessageStatus::Interrupted);
    // Ten words over 5 s: the share the played audio covers, to the word.
    let words = lines[0].text.split_whitespace().count() as u64;
    assert_eq!(words, 10 * played_ms / 5000, "{:?} after {played_ms} ms of 5000", lines[0].text);
    assert!(ANSWER.starts_with(&lines[0].text), "{:?}", lines[0].text);
}
