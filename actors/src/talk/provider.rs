//! One HTTP request to a voice provider: its URL, its key (read from the named environment
//! variable at each call, so a rotated key applies at once), and the agent timeout on the
//! response and on each piece of its body. Every way it can go wrong is an [`AgentFailure`]
//! with a code: `agent_not_configured`, `agent_timeout`, `agent_error`.

use crate::agents::AgentFailure;
use futures_util::StreamExt;
use std::time::Duration;
use voxgate_engine::ErrorCode;

/// Most of an error body quoted in a failure.
const SNIPPET: usize = 300;

/// The first bytes of a body, as text, for an error message.
pub fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(SNIPPET).collect()
}

/// Where and how to call a provider.
#[derive(Clone)]
pub struct ProviderCall {
    http: reqwest::Client,
    pub url: String,
    api_key_env: Option<String>,
    pub timeout: Duration,
}

impl ProviderCall {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        path: &str,
        api_key_env: Option<String>,
        timeout: Duration,
    ) -> Self {
        let url = format!("{}/{path}", base_url.trim_end_matches('/'));
        ProviderCall { http, url, api_key_env, timeout }
    }

    /// The key, if the provider takes one.
    pub fn key(&self) -> Result<Option<String>, AgentFailure> {
        match &self.api_key_env {
            None => Ok(None),
            Some(name) => match std::env::var(name) {
                Ok(k) if !k.is_empty() => Ok(Some(k)),
                _ => Err(AgentFailure::new(
                    ErrorCode::AgentNotConfigured,
                    format!(
                        "the environment variable {name} holding the voice provider's API key is not set"
                    ),
                )),
            },
        }
    }

    /// POSTs what `build` adds to the request; a response with a success status, or why not.
    pub async fn send(
        &self,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, AgentFailure> {
        let mut request = build(self.http.post(&self.url));
        if let Some(key) = self.key()? {
            request = request.bearer_auth(key);
        }
        let response = match tokio::time::timeout(self.timeout, request.send()).await {
            Err(_) => return Err(self.timed_out()),
            Ok(Err(e)) => {
                return Err(AgentFailure::new(
                    ErrorCode::AgentError,
                    format!("{} could not be reached: {e}", self.url),
                ))
            }
            Ok(Ok(r)) => r,
        };
        let status = response.status();
        if !status.is_success() {
            let body = tokio::time::timeout(self.timeout, response.bytes()).await.ok().and_then(Result::ok);
            let body = body.as_deref().map(snippet).unwrap_or_default();
            return Err(AgentFailure::new(
                ErrorCode::AgentError,
                format!("{} answered {status}: {body}", self.url),
            ));
        }
        Ok(response)
    }

    /// The whole body, each piece within the timeout.
    pub async fn body(&self, response: reqwest::Response) -> Result<Vec<u8>, AgentFailure> {
        let mut body = Vec::new();
        let mut pieces = response.bytes_stream();
        while let Some(piece) = self.next(&mut pieces).await? {
            body.extend_from_slice(&piece);
        }
        Ok(body)
    }

    /// The next piece of a streamed body, within the timeout; `None` at its end.
    pub async fn next<S>(&self, pieces: &mut S) -> Result<Option<bytes::Bytes>, AgentFailure>
    where
        S: futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
    {
        match tokio::time::timeout(self.timeout, pieces.next()).await {
            Err(_) => Err(self.timed_out()),
            Ok(None) => Ok(None),
            Ok(Some(Err(e))) => Err(AgentFailure::new(
                ErrorCode::AgentError,
                format!("{} broke off its answer: {e}", self.url),
            )),
            Ok(Some(Ok(piece))) => Ok(Some(piece)),
        }
    }

    fn timed_out(&self) -> AgentFailure {
        AgentFailure::new(
            ErrorCode::AgentTimeout,
            format!("{} did not answer within {} ms", self.url, self.timeout.as_millis()),
        )
    }
}
