//! A streaming recogniser: OpenAI's Realtime transcription session
//! (`{base_url}/realtime?intent=transcription`). The visitor's speech streams up as PCM16
//! 24 kHz `input_audio_buffer.append` while they have the floor; the provider's
//! `conversation.item.input_audio_transcription.delta` words reach the visitor's captions while
//! they still speak; the end of the turn commits the buffer, and its `completed` transcript is
//! the turn's words. The provider's own turn detection is off: the call's talk machine keeps
//! the floor, as for every voice. One connection per call, opened as the call starts and again
//! at the next turn if it drops.

use super::speech_to_text::{Heard, Partial, Recognition, SpeechToText};
use super::websocket::{self, Connection};
use crate::agents::AgentFailure;
use futures_util::future::LocalBoxFuture;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as Ws;
use voxgate_engine::agent_voice::Transcription;
use voxgate_engine::talk::realtime::{ClientEvent, ProviderEvent};
use voxgate_engine::ErrorCode;

/// The rate the transcription session hears at.
pub const RATE: u32 = 24_000;

/// A Realtime transcription session's settings, from the agent as saved.
pub struct RealtimeTranscription {
    url: String,
    api_key_env: Option<String>,
    /// The `session` of the `session.update` sent on connecting.
    session: serde_json::Value,
    timeout: Duration,
}

impl RealtimeTranscription {
    pub fn new(spec: &Transcription, timeout: Duration) -> RealtimeTranscription {
        let mut transcription = json!({"model": spec.model});
        if let Some(language) = &spec.language {
            transcription["language"] = json!(language);
        }
        let session = json!({
            "type": "transcription",
            "audio": {"input": {
                "format": {"type": "audio/pcm", "rate": RATE},
                "transcription": transcription,
                "turn_detection": null,
            }},
        });
        RealtimeTranscription {
            url: websocket::url(&spec.base_url, "realtime?intent=transcription"),
            api_key_env: spec.api_key_env.clone(),
            session,
            timeout,
        }
    }
}

/// What the call asks of its session's task.
enum Ask {
    Audio(Vec<i16>),
    /// Commit what was streamed; the turn's words go to the sender.
    Commit(oneshot::Sender<Result<Heard, AgentFailure>>),
}

impl SpeechToText for RealtimeTranscription {
    fn open(&self, partial: Partial) -> Box<dyn Recognition> {
        let (asks, rx) = mpsc::unbounded_channel();
        let session = Session {
            url: self.url.clone(),
            api_key_env: self.api_key_env.clone(),
            update: ClientEvent::SessionUpdate(self.session.clone()).to_json(),
            timeout: self.timeout,
            partial,
        };
        // On the call's voices thread, as every backend's I/O; it ends when the call does.
        actix::spawn(session.run(rx));
        Box::new(Streaming { asks })
    }

    fn stream_rate(&self) -> Option<u32> {
        Some(RATE)
    }
}

/// The call's side: what it streams and commits goes to the session's task.
struct Streaming {
    asks: mpsc::UnboundedSender<Ask>,
}

impl Recognition for Streaming {
    fn push(&mut self, pcm: &[i16]) {
        let _ = self.asks.send(Ask::Audio(pcm.to_vec()));
    }

    fn finish(&mut self, _audio: Arc<[i16]>) -> LocalBoxFuture<'static, Result<Heard, AgentFailure>> {
        let (reply, heard) = oneshot::channel();
        let _ = self.asks.send(Ask::Commit(reply));
        Box::pin(async move {
            heard.await.unwrap_or_else(|_| {
                Err(AgentFailure::new(ErrorCode::AgentError, "the transcription session stopped"))
            })
        })
    }
}

/// One call's transcription session.
struct Session {
    url: String,
    api_key_env: Option<String>,
    update: String,
    timeout: Duration,
    partial: Partial,
}

impl Session {
    async fn connect(&self) -> Result<Connection, AgentFailure> {
        let (mut sink, stream) =
            websocket::connect(&self.url, self.api_key_env.as_deref(), self.timeout).await?;
        sink.send(Ws::text(self.update.clone())).await.map_err(broken)?;
        Ok((sink, stream))
    }

    async fn run(self, mut asks: mpsc::UnboundedReceiver<Ask>) {
        let mut live: Option<Connection> = None;
        // Why the last connection attempt failed, until the turn it was for is committed: one
        // attempt per turn, not one per 20 ms of audio.
        let mut refused: Option<AgentFailure> = match self.connect().await {
            Ok(connection) => {
                live = Some(connection);
                None
            }
            Err(f) => Some(f),
        };
        // Commits awaiting their transcript, in order.
        let mut waiting: VecDeque<oneshot::Sender<Result<Heard, AgentFailure>>> = VecDeque::new();
        loop {
            tokio::select! {
                ask = asks.recv() => {
                    let Some(ask) = ask else { break };
                    if live.is_none() && refused.is_none() {
                        match self.connect().await {
                            Ok(connection) => live = Some(connection),
                            Err(f) => refused = Some(f),
                        }
                    }
                    let (event, reply) = match ask {
                        Ask::Audio(pcm) => (ClientEvent::Append(pcm), None),
                        Ask::Commit(reply) => (ClientEvent::Commit, Some(reply)),
                    };
                    let Some((sink, _)) = live.as_mut() else {
                        if let Some(reply) = reply {
                            let why = refused.take().unwrap_or_else(|| {
                                AgentFailure::new(ErrorCode::AgentError, "the transcription session is not connected")
                            });
                            let _ = reply.send(Err(why));
                        }
                        continue;
                    };
                    if let Err(f) = sink.send(Ws::text(event.to_json())).await.map_err(broken) {
                        live = None;
                        fail_all(&mut waiting, &f);
                        if let Some(reply) = reply {
                            let _ = reply.send(Err(f));
                        }
                        continue;
                    }
                    waiting.extend(reply);
                }
                heard = async { live.as_mut()?.1.next().await }, if live.is_some() => match heard {
                    Some(Ok(Ws::Text(text))) => self.on_event(&text, &mut waiting),
                    Some(Ok(Ws::Close(_)) | Err(_)) | None => {
                        live = None;
                        let f = AgentFailure::new(ErrorCode::AgentError, "the transcription session closed the connection");
                        fail_all(&mut waiting, &f);
                    }
                    Some(Ok(_)) => {}
                },
            }
        }
        if let Some((mut sink, _)) = live {
            let _ = sink.send(Ws::Close(None)).await;
        }
    }

    fn on_event(&self, text: &str, waiting: &mut VecDeque<oneshot::Sender<Result<Heard, AgentFailure>>>) {
        let event = match ProviderEvent::parse(text) {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(error = %e, "the transcription session sent what it should not");
                return;
            }
        };
        match event {
            ProviderEvent::VisitorTranscriptDelta { delta, .. } if !delta.is_empty() => (self.partial)(delta),
            ProviderEvent::VisitorTranscript { text, .. } => {
                if let Some(reply) = waiting.pop_front() {
                    let _ = reply.send(Ok(Heard { text, open_text: None }));
                }
            }
            ProviderEvent::VisitorTranscriptFailed { message, .. } => {
                if let Some(reply) = waiting.pop_front() {
                    let why = format!("the transcription session could not transcribe the turn: {message}");
                    let _ = reply.send(Err(AgentFailure::new(ErrorCode::AgentError, why)));
                }
            }
            // A turn with no audio streamed (nothing to commit) said nothing.
            ProviderEvent::Error { code: Some(code), .. } if code == "input_audio_buffer_commit_empty" => {
                if let Some(reply) = waiting.pop_front() {
                    let _ = reply.send(Ok(Heard::default()));
                }
            }
            ProviderEvent::Error { message, .. } => {
                if let Some(reply) = waiting.pop_front() {
                    let why = format!("the transcription session failed: {message}");
                    let _ = reply.send(Err(AgentFailure::new(ErrorCode::AgentError, why)));
                }
            }
            _ => {}
        }
    }
}

fn broken(e: tokio_tungstenite::tungstenite::Error) -> AgentFailure {
    AgentFailure::new(ErrorCode::AgentError, format!("the transcription session broke: {e}"))
}

fn fail_all(waiting: &mut VecDeque<oneshot::Sender<Result<Heard, AgentFailure>>>, f: &AgentFailure) {
    for reply in waiting.drain(..) {
        let _ = reply.send(Err(AgentFailure::new(f.code, f.message.clone())));
    }
}
