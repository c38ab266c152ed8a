//! Opening a provider's WebSocket (the Realtime voice, the Realtime transcription session):
//! its `ws(s)://` URL from the agent's `http(s)://` base URL, its key from the named
//! environment variable (read at each connection, so a rotated key applies at once), and the
//! agent timeout on the handshake.

use crate::agents::AgentFailure;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::StreamExt;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use voxgate_engine::ErrorCode;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An open connection: where client events go, and where the provider's come from.
pub type Connection = (SplitSink<Socket, Ws>, SplitStream<Socket>);

/// `{base_url}/{path}` with the scheme a WebSocket takes (`https` → `wss`, `http` → `ws`).
pub fn url(base_url: &str, path: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let base = match base.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some(("http", rest)) => format!("ws://{rest}"),
        _ => base.to_string(),
    };
    format!("{base}/{path}")
}

/// Connects to `url`, with `Authorization: Bearer` from `api_key_env` when named.
pub async fn connect(
    url: &str,
    api_key_env: Option<&str>,
    timeout: Duration,
) -> Result<Connection, AgentFailure> {
    let mut request = url.into_client_request().map_err(|e| {
        AgentFailure::new(ErrorCode::AgentError, format!("{url} is not a WebSocket URL: {e}"))
    })?;
    if let Some(name) = api_key_env {
        let key = std::env::var(name).ok().filter(|k| !k.is_empty()).ok_or_else(|| {
            AgentFailure::new(
                ErrorCode::AgentNotConfigured,
                format!("the environment variable {name} holding the voice provider's API key is not set"),
            )
        })?;
        let value = format!("Bearer {key}").parse().map_err(|_| {
            AgentFailure::new(
                ErrorCode::AgentNotConfigured,
                format!("the key in {name} is not a valid header value"),
            )
        })?;
        request.headers_mut().insert("authorization", value);
    }
    match tokio::time::timeout(timeout, tokio_tungstenite::connect_async(request)).await {
        Err(_) => Err(AgentFailure::new(
            ErrorCode::AgentTimeout,
            format!("{url} did not accept a connection within {} ms", timeout.as_millis()),
        )),
        Ok(Err(e)) => Err(AgentFailure::new(ErrorCode::AgentError, format!("cannot connect to {url}: {e}"))),
        Ok(Ok((socket, _))) => Ok(socket.split()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_http_base_becomes_a_websocket_url() {
        assert_eq!(
            super::url("https://api.openai.com/v1/", "realtime?intent=transcription"),
            "wss://api.openai.com/v1/realtime?intent=transcription"
        );
        assert_eq!(super::url("http://127.0.0.1:9/v1", "realtime"), "ws://127.0.0.1:9/v1/realtime");
    }
}
