//! A `server` tool: a POST to the customer's backend, signed the Standard Webhooks way
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`) with the
//! `whsec_` secret in the server's environment. Everything that can go wrong (no secret, no
//! answer in time, a non-2xx status, a redirect, a body over 64 KiB) becomes a failure the
//! model reads; nothing here fails the visitor's answer.

use super::ToolContext;
use crate::clock;
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;
use voxgate_engine::tools::{ToolCall, ToolOutcome, RESULT_LIMIT};

/// Most of a refused answer's body quoted to the model.
const ERROR_BODY: usize = 200;

/// What to POST where, with which secret.
pub struct ServerTool<'a> {
    pub url: &'a str,
    pub secret_env: &'a str,
    pub timeout: Duration,
}

/// The signature headers of a Standard Webhooks message: id, timestamp and `v1,` signature.
pub fn signature_headers(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<[(&'static str, String); 3], String> {
    let webhook = standardwebhooks::Webhook::new(secret)
        .map_err(|e| format!("the secret is not a whsec_ base64 secret ({e})"))?;
    let signature = webhook.sign(id, timestamp, body).map_err(|e| format!("could not sign ({e})"))?;
    Ok([
        (standardwebhooks::HEADER_WEBHOOK_ID, id.to_string()),
        (standardwebhooks::HEADER_WEBHOOK_TIMESTAMP, timestamp.to_string()),
        (standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature),
    ])
}

impl ServerTool<'_> {
    /// Calls the tool; the outcome is what the model reads.
    pub async fn call(
        &self,
        http: &reqwest::Client,
        call: &ToolCall,
        arguments: serde_json::Value,
        context: &ToolContext,
    ) -> ToolOutcome {
        let secret = match std::env::var(self.secret_env) {
            Ok(s) if !s.is_empty() => s,
            _ => {
                return ToolOutcome::Failed(format!(
                    "the tool is not set up: the environment variable {} holding its secret is not set",
                    self.secret_env
                ))
            }
        };
        let body = json!({
            "tool": call.name,
            "call_id": call.call_id,
            "arguments": arguments,
            "conversation_id": context.conversation_id,
            "session_id": context.session_id,
            "metadata": context.metadata,
            "variables": context.variables.to_json(),
        })
        .to_string();
        let id = format!("msg_{}", voxgate_engine::ids::random_base62(&mut rand::rng(), 22));
        let timestamp = clock::now().millis() / 1000;
        let headers = match signature_headers(&secret, &id, timestamp, body.as_bytes()) {
            Ok(h) => h,
            Err(e) => {
                return ToolOutcome::Failed(format!("the tool is not set up: {} holds {e}", self.secret_env))
            }
        };
        let mut request = http.post(self.url).header("content-type", "application/json").body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match tokio::time::timeout(self.timeout, answer(request)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                ToolOutcome::Failed(format!("the tool did not answer within {} ms", self.timeout.as_millis()))
            }
        }
    }
}

/// Sends the request and reads at most [`RESULT_LIMIT`] bytes of its answer.
async fn answer(request: reqwest::RequestBuilder) -> ToolOutcome {
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return ToolOutcome::Failed(format!("the tool could not be reached: {}", without_url(&e))),
    };
    let status = response.status();
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(bytes) => {
                body.extend_from_slice(&bytes);
                if body.len() > RESULT_LIMIT {
                    if !status.is_success() {
                        break;
                    }
                    return ToolOutcome::Failed(format!(
                        "the tool's answer is larger than {RESULT_LIMIT} bytes"
                    ));
                }
            }
            Err(e) => {
                return ToolOutcome::Failed(format!("the tool's answer broke off: {}", without_url(&e)))
            }
        }
    }
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        let snippet: String = text.chars().take(ERROR_BODY).collect();
        return ToolOutcome::Failed(format!("the tool answered {status}: {}", snippet.trim()));
    }
    ToolOutcome::from_body(&body)
}

/// A request error's words without its URL (the model need not see the customer's backend).
fn without_url(e: &reqwest::Error) -> String {
    let e = e.to_string();
    match e.find(" for url (") {
        Some(i) => e[..i].to_string(),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_carry_a_signature_the_spec_can_verify() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let [(_, id), (_, ts), (_, sig)] =
            signature_headers(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!((id.as_str(), ts.as_str()), ("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330"));
        // The Standard Webhooks specification's own example.
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(signature_headers("whsec_not base64!", "m", 1, body).is_err());
    }
}
