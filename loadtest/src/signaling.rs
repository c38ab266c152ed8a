//! What happens over HTTP: the customer backend creates a session (workspace key), the visitor
//! posts its offer to `webrtc_url` (session token, Origin), and finally hangs up.

use crate::plan::Plan;
use crate::sockets::Addressing;
use serde_json::Value;
use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;
use voxgate_engine::media::client::ClientPeer;
use voxgate_engine::media::MediaIdentity;

/// A visitor whose offer was answered, ready for the media thread.
pub struct Signaled {
    pub index: usize,
    pub peer: ClientPeer,
    /// The peer's own socket, when it is not on a shared one.
    pub socket: Option<UdpSocket>,
    /// The peer's address (its ICE candidate), and the shared socket it is on.
    pub local: SocketAddr,
    pub shared_socket: usize,
    pub location: String,
    pub token: String,
    pub session_id: String,
    /// When the backend started creating the session.
    pub started: Instant,
    /// When the answer arrived.
    pub answered: Instant,
}

/// A visitor that never got to media, and why (`session 429 quota_exceeded`).
pub struct SignalFailure {
    pub reason: String,
}

pub fn error_code(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_else(|| "no_error_code".into())
}

/// Creates a session of `mode` as the customer backend would; answers its values.
pub async fn create_session(http: &reqwest::Client, plan: &Plan, mode: &str) -> Result<Value, String> {
    let res = http
        .post(format!("{}/v1/widgets/{}/sessions", plan.target, plan.widget))
        .bearer_auth(&plan.api_key)
        .json(&serde_json::json!({ "mode": mode }))
        .send()
        .await
        .map_err(|e| format!("session: {}", short(&e)))?;
    let status = res.status().as_u16();
    let body = res.text().await.map_err(|e| format!("session: {}", short(&e)))?;
    if status != 201 {
        return Err(format!("session {status} {}", error_code(&body)));
    }
    serde_json::from_str(&body).map_err(|_| "session: not JSON".to_string())
}

/// Creates a session and answers an offer for visitor `index`.
pub async fn connect(
    http: &reqwest::Client,
    plan: &Plan,
    identity: &MediaIdentity,
    addressing: &Addressing,
    index: usize,
) -> Result<Signaled, SignalFailure> {
    let fail = |reason: String| SignalFailure { reason };
    let started = Instant::now();
    let values = create_session(http, plan, "voice").await.map_err(fail)?;
    let token = values["session_token"].as_str().unwrap_or_default().to_string();
    let session_id = values["session_id"].as_str().unwrap_or_default().to_string();
    let webrtc_url =
        values["webrtc_url"].as_str().ok_or_else(|| fail("session: no webrtc_url".into()))?.to_string();

    let (socket, shared_socket, local) = match addressing.shared_address(index) {
        Some((shared, local)) => (None, shared, local),
        None => {
            let ip = match addressing {
                Addressing::PerPeer { ip } => *ip,
                Addressing::Loopback { .. } => plan.client_ip,
            };
            let socket =
                UdpSocket::bind(SocketAddr::new(ip, 0)).map_err(|e| fail(format!("udp bind: {e}")))?;
            let local = socket.local_addr().map_err(|e| fail(format!("udp: {e}")))?;
            (Some(socket), 0, local)
        }
    };
    let (mut peer, offer) =
        ClientPeer::offer(identity, local, Instant::now()).map_err(|e| fail(format!("offer: {e}")))?;
    let res = http
        .post(&webrtc_url)
        .bearer_auth(&token)
        .header("Origin", &plan.origin)
        .header("Content-Type", "application/sdp")
        .body(offer)
        .send()
        .await
        .map_err(|e| fail(format!("offer: {}", short(&e))))?;
    let status = res.status().as_u16();
    let location = res.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
    let answer = res.text().await.map_err(|e| fail(format!("offer: {}", short(&e))))?;
    if status != 201 {
        return Err(fail(format!("offer {status} {}", error_code(&answer))));
    }
    let location = location.ok_or_else(|| fail("offer: no Location".into()))?;
    peer.accept_answer(&answer).map_err(|e| fail(format!("answer: {e}")))?;
    Ok(Signaled {
        index,
        peer,
        socket,
        local,
        shared_socket,
        location,
        token,
        session_id,
        started,
        answered: Instant::now(),
    })
}

/// Hangs up a call (DELETE on its Location).
/// Restarts ICE for a call (RFC 9725 §4.3): the peer's new credentials in, the server's out.
pub async fn restart_ice(
    http: &reqwest::Client,
    origin: &str,
    location: &str,
    token: &str,
    fragment: String,
) -> Result<String, String> {
    let res = http
        .patch(location)
        .bearer_auth(token)
        .header("Origin", origin)
        .header("Content-Type", "application/trickle-ice-sdpfrag")
        .header("If-Match", "*")
        .body(fragment)
        .send()
        .await
        .map_err(|e| format!("restart: {}", short(&e)))?;
    let status = res.status().as_u16();
    let body = res.text().await.map_err(|e| format!("restart: {}", short(&e)))?;
    if status != 200 {
        return Err(format!("restart {status} {}", error_code(&body)));
    }
    Ok(body)
}

pub async fn hang_up(
    http: &reqwest::Client,
    origin: &str,
    location: &str,
    token: &str,
) -> Result<(), String> {
    let send = || http.delete(location).bearer_auth(token).header("Origin", origin).send();
    // A pooled connection may have been closed by the server's keep-alive timeout during the
    // hold; DELETE is idempotent, so one retry on a send error is safe.
    let res = match send().await {
        // 408: the server dropped an idle pooled connection before the request arrived.
        Ok(r) if r.status().as_u16() == 408 => send().await.map_err(|e| format!("hang-up: {}", short(&e)))?,
        Ok(r) => r,
        Err(_) => send().await.map_err(|e| format!("hang-up: {}", short(&e)))?,
    };
    match res.status().as_u16() {
        200 | 404 | 410 => Ok(()),
        s => Err(format!("hang-up {s}")),
    }
}

pub fn short(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect error".into()
    } else {
        e.to_string()
    }
}

/// Ends a session as its backend would (`DELETE /v1/sessions/{id}` with the workspace key).
pub async fn end_session(http: &reqwest::Client, plan: &Plan, session_id: &str) -> Result<(), String> {
    let send =
        || http.delete(format!("{}/v1/sessions/{session_id}", plan.target)).bearer_auth(&plan.api_key).send();
    let res = match send().await {
        Ok(r) if r.status().as_u16() == 408 => {
            send().await.map_err(|e| format!("end session: {}", short(&e)))?
        }
        Ok(r) => r,
        Err(_) => send().await.map_err(|e| format!("end session: {}", short(&e)))?,
    };
    match res.status().as_u16() {
        200 | 404 | 410 => Ok(()),
        s => Err(format!("end session {s}")),
    }
}
