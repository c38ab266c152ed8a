//! The analyst of one node: it leases the post-call analyses owed (`store::analyses`), asks the
//! agent's `openai` backend for each (a chat completion with `response_format: json_schema`),
//! and records the result, or a failure that is tried again up to three attempts in all. It
//! never holds up `conversation.ended`, which was owed when the conversation ended.

use crate::clock;
use crate::store::analyses::{self, Owed};
use crate::store::Store;
use crate::webhooks::WebhookPolicy;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use voxgate_engine::analysis::MAX_ATTEMPTS;
use voxgate_engine::webhook::retry_delay;
use voxgate_engine::Timestamp;

/// How long a leased analysis is ours (past the request's timeout).
const LEASE_MS: i64 = 120_000;
const BATCH: i64 = 10;
/// One request's limit.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Starts this node's analyst.
pub fn start(store: Store, http: reqwest::Client, policy: WebhookPolicy) {
    let analyst = Arc::new(Analyst { store, http, policy });
    actix::spawn(async move { analyst.run().await });
}

struct Analyst {
    store: Store,
    http: reqwest::Client,
    policy: WebhookPolicy,
}

impl Analyst {
    async fn run(self: Arc<Self>) {
        loop {
            let now = clock::now();
            let owed = self.store.write(move |c| analyses::claim(c, now, LEASE_MS, BATCH)).await;
            match owed {
                Ok(owed) => {
                    for o in owed {
                        let this = self.clone();
                        actix::spawn(async move { this.analyse(o).await });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not lease analyses"),
            }
            tokio::time::sleep(self.policy.poll).await;
        }
    }

    async fn analyse(&self, owed: Owed) {
        let outcome = self.ask(&owed).await;
        let now = clock::now();
        let attempts = owed.attempts + 1;
        let retry_at = match &outcome {
            Err(why) if attempts < MAX_ATTEMPTS => {
                tracing::warn!(error = %why, attempts, "a post-call analysis failed; it is tried again");
                let delay = retry_delay(attempts, self.policy.retry_scale);
                Some(Timestamp(now.millis() + delay.as_millis() as i64))
            }
            Err(why) => {
                tracing::warn!(error = %why, "a post-call analysis failed for the last time");
                None
            }
            Ok(_) => None,
        };
        if let Err(e) = self.store.write(move |c| analyses::record(c, &owed, &outcome, retry_at, now)).await {
            tracing::warn!(error = %e, "could not record a post-call analysis (it will be made again)");
        }
    }

    async fn ask(&self, owed: &Owed) -> Result<Value, String> {
        let spec = owed.agent.analysis.as_ref().ok_or("the agent no longer asks for an analysis")?;
        let (url, model, key_env) =
            analyses::backend_of(&owed.agent).ok_or("the agent has no openai backend")?;
        let mut request = self.http.post(&url).json(&spec.request(&model, &owed.transcript));
        if let Some(name) = key_env {
            match std::env::var(&name) {
                Ok(key) if !key.is_empty() => request = request.bearer_auth(key),
                _ => {
                    return Err(format!(
                        "the environment variable {name} holding the agent's API key is not set"
                    ))
                }
            }
        }
        let response = tokio::time::timeout(TIMEOUT, request.send())
            .await
            .map_err(|_| format!("{url} did not answer within {} s", TIMEOUT.as_secs()))?
            .map_err(|e| format!("{url} could not be reached: {e}"))?;
        let status = response.status();
        let body = tokio::time::timeout(TIMEOUT, response.bytes())
            .await
            .map_err(|_| format!("{url} did not finish its answer"))?
            .map_err(|e| format!("{url}'s answer broke off: {e}"))?;
        if !status.is_success() {
            let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            return Err(format!("{url} answered {status}: {text}"));
        }
        let body: Value =
            serde_json::from_slice(&body).map_err(|e| format!("{url}'s answer is not JSON ({e})"))?;
        spec.read_answer(&body)
    }
}
