//! The Realtime WebSocket, scripted: `session.update` is acknowledged, appended audio is
//! counted, a commit is transcribed (the known transcript, after the STT delay), and
//! `response.create` answers with the known answer (or the line its instructions quote) as
//! transcript and audio deltas at twice real time, until done or `response.cancel`.
//! `conversation.item.truncate` is acknowledged. Every client event is logged, audio as its
//! length. With `--tool-call NAME` and a session that offers NAME, an answer first asks for
//! the tool (`response.function_call_arguments.done`); the `function_call_output` that comes
//! back is answered `The tool said: OUTPUT.` A transcription session (`?intent=transcription`, logged as `transcription`)
//! answers no responses; it sends the known transcript's next word as an
//! `input_audio_transcription.delta` for every half second of audio appended, before the
//! commit, and the whole transcript once committed.

use super::{Fake, Mode};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

pub async fn connect(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let transcription = query.get("intent").is_some_and(|i| i == "transcription");
    ws.on_upgrade(move |socket| session(fake, socket, transcription))
}

/// Bytes of PCM16 24 kHz audio per word a transcription session hears.
const BYTES_PER_WORD: usize = 24_000;

/// What the response task says, for the socket's writer.
type Out = mpsc::UnboundedSender<Value>;

async fn session(fake: Arc<Fake>, mut socket: WebSocket, transcription: bool) {
    let endpoint = if transcription { "transcription" } else { "realtime" };
    let words: Vec<String> = fake.opts.transcript.split_inclusive(' ').map(str::to_string).collect();
    let (out, mut outgoing) = mpsc::unbounded_channel::<Value>();
    let _ = out.send(json!({"type": "session.created", "session": {"id": "sess_fake"}}));
    let mut appended = 0usize;
    let mut items = 0u32;
    // The tool the session offers that the fake calls, and the output it got back.
    let mut tool: Option<String> = None;
    let mut tool_output: Option<String> = None;
    // Responses in progress: id, whether out of band (`conversation: "none"`), task.
    let mut responding: Vec<(String, bool, tokio::task::JoinHandle<()>)> = Vec::new();
    loop {
        tokio::select! {
            event = outgoing.recv() => {
                let Some(event) = event else { break };
                if socket.send(Message::Text(event.to_string().into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let Ok(mut event) = serde_json::from_str::<Value>(&text) else { continue };
                let kind = event["type"].as_str().unwrap_or_default().to_string();
                if let Some(audio) = event["audio"].as_str() {
                    let n = base64::engine::general_purpose::STANDARD.decode(audio).map_or(0, |b| b.len());
                    appended += n;
                    event["audio"] = json!(n);
                }
                fake.saw(json!({"endpoint": endpoint, "event": event}));
                if transcription && kind == "input_audio_buffer.append" {
                    // The next word once another half second of this turn is heard.
                    let heard = appended / BYTES_PER_WORD;
                    let before = appended.saturating_sub(event["audio"].as_u64().unwrap_or(0) as usize) / BYTES_PER_WORD;
                    for word in words.iter().take(heard).skip(before) {
                        let _ = out.send(json!({"type": "conversation.item.input_audio_transcription.delta",
                                                "item_id": format!("item_in_{}", items + 1), "content_index": 0, "delta": word}));
                    }
                }
                match kind.as_str() {
                    "session.update" => {
                        tool = fake.opts.tool_offered(&event["session"]["tools"]).map(str::to_string);
                        let _ = out.send(json!({"type": "session.updated", "session": event["session"]}));
                    }
                    "conversation.item.create" if event["item"]["type"] == "function_call_output" => {
                        tool_output = event["item"]["output"].as_str().map(str::to_string);
                    }
                    "input_audio_buffer.commit" if transcription && appended == 0 => {
                        let _ = out.send(json!({"type": "error", "error": {"type": "invalid_request_error",
                            "code": "input_audio_buffer_commit_empty", "message": "buffer too small"}}));
                    }
                    "input_audio_buffer.commit" => {
                        items += 1;
                        let item = format!("item_in_{items}");
                        let _ = out.send(json!({"type": "input_audio_buffer.committed", "item_id": item}));
                        let (out, fake, bytes) = (out.clone(), fake.clone(), std::mem::take(&mut appended));
                        tokio::spawn(async move {
                            Fake::delay(fake.opts.stt_delay_ms).await;
                            let transcript = if bytes > 0 { fake.opts.transcript.clone() } else { String::new() };
                            let _ = out.send(json!({"type": "conversation.item.input_audio_transcription.completed",
                                                    "item_id": item, "content_index": 0, "transcript": transcript}));
                        });
                    }
                    "response.create" if !transcription => {
                        match fake.mode("realtime") {
                            Mode::Drop => break,
                            Mode::Hang => continue,
                            Mode::Fail => {
                                let _ = out.send(json!({"type": "error", "error": {"type": "server_error", "code": "fake_failure", "message": "the fake provider failed on purpose"}}));
                                continue;
                            }
                            Mode::Garble => {
                                let _ = out.send(json!("not an event"));
                                continue;
                            }
                            Mode::Ok => {}
                        }
                        items += 1;
                        let id = format!("resp_{items}");
                        let item = format!("item_out_{items}");
                        let instructed = event["response"]["instructions"].as_str()
                            .and_then(|i| i.split_once(": ").map(|(_, line)| line.to_string()));
                        let metadata = event["response"]["metadata"].clone();
                        if let (None, Some(name), None) = (&instructed, &tool, &tool_output) {
                            // An answer that needs the tool: ask for it, and wait for its output.
                            let (name, arguments) = (name.clone(), fake.opts.tool_arguments.clone());
                            let (out, fake) = (out.clone(), fake.clone());
                            tokio::spawn(async move {
                                let _ = out.send(json!({"type": "response.created", "response": {"id": id, "status": "in_progress", "metadata": metadata}}));
                                Fake::delay(fake.opts.first_token_delay_ms).await;
                                let _ = out.send(json!({"type": "response.function_call_arguments.done", "response_id": id,
                                    "item_id": format!("fc_{items}"), "call_id": format!("call_{items}"), "name": name, "arguments": arguments}));
                                let _ = out.send(json!({"type": "response.done", "response": {"id": id, "status": "completed", "metadata": metadata}}));
                            });
                            continue;
                        }
                        let said = match (instructed, tool_output.take()) {
                            (Some(line), _) => line,
                            (None, Some(output)) => format!("The tool said: {output}."),
                            (None, None) => fake.opts.answer.clone(),
                        };
                        let out_of_band = event["response"]["conversation"] == "none";
                        responding.retain(|(_, _, task)| !task.is_finished());
                        let task = tokio::spawn(respond(fake.clone(), out.clone(), id.clone(), item, said, metadata));
                        responding.push((id, out_of_band, task));
                    }
                    "response.cancel" => {
                        // Cancels the conversation's response in progress, not out-of-band ones.
                        for (id, _, task) in responding.iter().filter(|(_, oob, task)| !oob && !task.is_finished()) {
                            task.abort();
                            let _ = out.send(json!({"type": "response.done", "response": {"id": id, "status": "cancelled"}}));
                        }
                        responding.retain(|(_, _, task)| !task.is_finished());
                    }
                    "conversation.item.truncate" => {
                        let _ = out.send(json!({"type": "conversation.item.truncated", "item_id": event["item_id"],
                                                "content_index": 0, "audio_end_ms": event["audio_end_ms"]}));
                    }
                    _ => {}
                }
            }
        }
    }
    for (_, _, task) in responding {
        task.abort();
    }
}

/// One response: created, then after the first-audio delay 100 ms of audio (and its share of
/// the words) every 50 ms, then done.
async fn respond(fake: Arc<Fake>, out: Out, id: String, item: String, said: String, metadata: Value) {
    let _ = out.send(json!({"type": "response.created", "response": {"id": id, "status": "in_progress", "metadata": metadata}}));
    Fake::delay(fake.opts.first_audio_delay_ms).await;
    let pcm = super::audio::speech_pcm(&said, fake.opts.speech_ms_per_char);
    let pieces: Vec<&[i16]> = pcm.chunks(2400).collect();
    let words: Vec<&str> = said.split_inclusive(' ').collect();
    let per_piece = words.len().div_ceil(pieces.len()).max(1);
    for (n, piece) in pieces.iter().enumerate() {
        let bytes: Vec<u8> = piece.iter().flat_map(|s| s.to_le_bytes()).collect();
        let delta = base64::engine::general_purpose::STANDARD.encode(bytes);
        let text: String = words.iter().skip(n * per_piece).take(per_piece).copied().collect();
        if !text.is_empty() {
            let _ = out.send(json!({"type": "response.output_audio_transcript.delta", "response_id": id, "item_id": item, "delta": text}));
        }
        let _ = out.send(json!({"type": "response.output_audio.delta", "response_id": id, "item_id": item, "delta": delta}));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = out.send(json!({"type": "response.output_audio.done", "response_id": id, "item_id": item}));
    let _ = out.send(json!({"type": "response.output_audio_transcript.done", "response_id": id, "item_id": item, "transcript": said}));
    let _ = out.send(
        json!({"type": "response.done", "response": {"id": id, "status": "completed", "metadata": metadata}}),
    );
    fake.saw(json!({"endpoint": "realtime_done", "response": id, "metadata": metadata}));
}
