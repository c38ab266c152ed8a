//! The voice bridge: one WebSocket per call to an external agent (`backend.type = "bridge"`).
//! It runs on the call's own media worker, streams the visitor's Opus frames and the call's
//! events to the agent, and hands what the agent says back to the call's actor as
//! [`BridgeEvent`]s. The protocol is in docs/BRIDGE.md.

use actix::{Message, Recipient};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Ws;

/// What the external agent did.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) enum BridgeEvent {
    /// One Opus frame to play to the visitor.
    Audio(Vec<u8>),
    /// A text turn (recorded on the conversation).
    Text(String),
    /// The agent asked to end the call.
    Hangup,
    /// The bridge could not connect, or broke.
    Failed(String),
}

/// The call's side of a bridge connection.
pub(crate) struct BridgeLink {
    tx: mpsc::UnboundedSender<Ws>,
}

impl BridgeLink {
    /// Connects to `url` and sends `start` as the first message.
    pub fn open(url: String, start: Value, call: Recipient<BridgeEvent>) -> BridgeLink {
        let (tx, mut rx) = mpsc::unbounded_channel::<Ws>();
        actix::spawn(async move {
            let ws = match tokio_tungstenite::connect_async(url.as_str()).await {
                Ok((ws, _)) => ws,
                Err(e) => {
                    call.do_send(BridgeEvent::Failed(format!("cannot connect to {url}: {e}")));
                    return;
                }
            };
            let (mut sink, mut stream) = ws.split();
            if sink.send(Ws::text(start.to_string())).await.is_err() {
                call.do_send(BridgeEvent::Failed("the bridge closed before the call started".into()));
                return;
            }
            loop {
                tokio::select! {
                    out = rx.recv() => match out {
                        Some(msg) => {
                            let closing = matches!(msg, Ws::Close(_));
                            if sink.send(msg).await.is_err() || closing {
                                break;
                            }
                        }
                        None => {
                            let _ = sink.send(Ws::Close(None)).await;
                            break;
                        }
                    },
                    incoming = stream.next() => match incoming {
                        Some(Ok(Ws::Binary(frame))) => call.do_send(BridgeEvent::Audio(frame.to_vec())),
                        Some(Ok(Ws::Text(text))) => match serde_json::from_str::<Value>(&text) {
                            Ok(v) if v["type"] == "text" => {
                                call.do_send(BridgeEvent::Text(v["text"].as_str().unwrap_or_default().to_string()))
                            }
                            Ok(v) if v["type"] == "hangup" => call.do_send(BridgeEvent::Hangup),
                            Ok(_) => {}
                            Err(_) => tracing::debug!("ignoring a non-JSON text message from the bridge"),
                        },
                        Some(Ok(Ws::Close(_))) | None => {
                            call.do_send(BridgeEvent::Failed("the bridge closed the connection".into()));
                            break;
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            call.do_send(BridgeEvent::Failed(format!("bridge connection failed: {e}")));
                            break;
                        }
                    },
                }
            }
        });
        BridgeLink { tx }
    }

    /// A visitor frame to the agent.
    pub fn audio(&self, frame: &[u8]) {
        let _ = self.tx.send(Ws::binary(frame.to_vec()));
    }

    /// A call event to the agent (`{"type": ...}`).
    pub fn event(&self, event: Value) {
        let _ = self.tx.send(Ws::text(event.to_string()));
    }

    /// Says why the call ended and closes the connection.
    pub fn close(&self, reason: &str) {
        self.event(serde_json::json!({"type": "call.ended", "reason": reason}));
        let _ = self.tx.send(Ws::Close(None));
    }
}
