//! The delivery loop of one node: it leases what is due from the outbox (woken at once when
//! this node owes something new, else every poll interval, since another node may have written
//! it), signs each the Standard Webhooks way with the endpoint's secrets, POSTs it with a 10 s
//! timeout and no redirects, and records the outcome: delivered, owed again after the backoff,
//! or given up after a day.

use super::WebhookPolicy;
use crate::clock;
use crate::store::webhooks::{self as outbox, Attempt, Due};
use crate::store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use voxgate_engine::webhook::{retry_delay, target_allowed, with_jitter, GIVE_UP_AFTER};
use voxgate_engine::Timestamp;

/// How long a leased delivery is ours before another sender may take it (past the 10 s
/// timeout, so a slow attempt is not sent twice at once).
const LEASE_MS: i64 = 30_000;
/// Most deliveries leased at once.
const BATCH: i64 = 50;
/// One attempt's limit.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most of a refusing answer's body kept with the attempt.
const ERROR_BODY: usize = 300;

pub(super) struct Sender {
    pub store: Store,
    pub http: reqwest::Client,
    pub policy: WebhookPolicy,
    pub wake: Arc<Notify>,
}

impl Sender {
    pub async fn run(self) {
        let this = Arc::new(self);
        loop {
            let now = clock::now();
            let due = this.store.write(move |c| outbox::claim(c, now, LEASE_MS, BATCH)).await;
            let due = match due {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "could not lease webhook deliveries");
                    Vec::new()
                }
            };
            let full = due.len() as i64 == BATCH;
            for d in due {
                let this = this.clone();
                actix::spawn(async move { this.deliver(d).await });
            }
            if full {
                continue;
            }
            tokio::select! {
                () = this.wake.notified() => {}
                () = tokio::time::sleep(this.policy.poll) => {}
            }
        }
    }

    async fn deliver(&self, due: Due) {
        let started = Instant::now();
        let (status, error) = match self.send(&due).await {
            Ok(status) if (200..300).contains(&status) => (Some(status), None),
            Ok(status) => (Some(status), Some(format!("the endpoint answered {status}"))),
            Err(e) => (None, Some(e)),
        };
        let now = clock::now();
        let delivered = error.is_none();
        let attempts = due.attempts + 1;
        let retry_at = (!delivered)
            .then(|| {
                let jitter = rand::random::<f64>() * 2.0 - 1.0;
                let delay = with_jitter(retry_delay(attempts, self.policy.retry_scale), jitter);
                Timestamp(now.millis() + delay.as_millis() as i64)
            })
            .filter(|at| at.millis() - due.created_at.millis() < GIVE_UP_AFTER.as_millis() as i64);
        let attempt =
            Attempt { status, error, latency_ms: started.elapsed().as_millis() as i64, delivered, retry_at };
        if let Err(e) = self.store.write(move |c| outbox::record_attempt(c, &due, &attempt, now)).await {
            tracing::warn!(error = %e, "could not record a webhook attempt (it will be sent again)");
        }
    }

    /// One attempt: the answer's status, or why there is none.
    async fn send(&self, due: &Due) -> Result<u16, String> {
        target_allowed(&due.url, self.policy.allow_private).map_err(|e| e.0)?;
        let timestamp = clock::now().millis() / 1000;
        let mut signatures = Vec::new();
        let mut headers = None;
        for secret in &due.secrets {
            let [id, ts, sig] =
                crate::tools::signature_headers(secret, due.id.as_str(), timestamp, due.payload.as_bytes())?;
            signatures.push(sig.1);
            headers.get_or_insert((id, ts));
        }
        let Some((id, ts)) = headers else { return Err("the endpoint has no secret".into()) };
        let request = self
            .http
            .post(&due.url)
            .header("content-type", "application/json")
            .header(id.0, id.1)
            .header(ts.0, ts.1)
            .header("webhook-signature", signatures.join(" "))
            .body(due.payload.clone());
        let response = match tokio::time::timeout(ATTEMPT_TIMEOUT, request.send()).await {
            Err(_) => return Err(format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())),
            Ok(Err(e)) => return Err(describe(&e)),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let body = tokio::time::timeout(Duration::from_secs(2), response.text()).await;
            let text: String =
                body.ok().and_then(Result::ok).unwrap_or_default().chars().take(ERROR_BODY).collect();
            if !text.trim().is_empty() {
                return Err(format!("the endpoint answered {status}: {}", text.trim()));
            }
        }
        Ok(status)
    }
}

/// A request error's cause in words (the resolver's refusal included).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}
