//! Webhooks: a workspace's endpoints (at most 10), and the node's sender that delivers what the
//! outbox owes them (`sender`), resolving names to public addresses only (`resolver`) unless
//! `--allow-private-webhooks`. Events are written to the outbox by the store, in the
//! transaction of the change they report (`store::webhooks`).

mod resolver;
mod sender;

use crate::clock;
use crate::control::ControlError;
use crate::store::webhooks as outbox;
pub use crate::store::webhooks::{DeliveryRow, EndpointRow};
use crate::store::Store;
use base64::Engine;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use voxgate_engine::ids::{DeliveryId, WebhookId, WorkspaceId};
use voxgate_engine::spec::{self, SpecError};
use voxgate_engine::webhook::{WebhookSpec, MAX_ENDPOINTS, ROTATION_OVERLAP};
use voxgate_engine::Timestamp;

/// The server's webhook settings.
#[derive(Debug, Clone, Copy)]
pub struct WebhookPolicy {
    /// `--allow-private-webhooks`: `http`, and loopback or private addresses, may be delivered to.
    pub allow_private: bool,
    /// Multiplies the retry schedule (tests shorten it).
    pub retry_scale: f64,
    /// How often the outbox is looked at for what other nodes (or a restart) left owed.
    pub poll: Duration,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        WebhookPolicy { allow_private: false, retry_scale: 1.0, poll: Duration::from_millis(250) }
    }
}

/// A new endpoint and its secret, which is shown this once.
#[derive(Debug, Clone)]
pub struct CreatedEndpoint {
    pub endpoint: EndpointRow,
    pub secret: String,
}

/// The workspace side of webhooks.
pub struct Webhooks {
    store: Store,
    policy: WebhookPolicy,
    wake: Arc<Notify>,
}

/// A `whsec_` secret: 32 random bytes, base64.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn not_found(id: &WebhookId) -> ControlError {
    ControlError::NotFound { kind: "webhook", id: id.to_string() }
}

impl Webhooks {
    /// Starts this node's sender.
    pub fn start(store: Store, policy: WebhookPolicy) -> Arc<Webhooks> {
        let wake = Arc::new(Notify::new());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .dns_resolver(Arc::new(resolver::PublicOnly { allow_private: policy.allow_private }))
            .build()
            .unwrap_or_default();
        let sender = sender::Sender { store: store.clone(), http, policy, wake: wake.clone() };
        actix::spawn(sender.run());
        Arc::new(Webhooks { store, policy, wake })
    }

    /// Something new may be owed: look at the outbox now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn parse(&self, body: Value) -> Result<WebhookSpec, ControlError> {
        let spec: WebhookSpec = spec::parse(body)?;
        spec.check_target(self.policy.allow_private)?;
        Ok(spec)
    }

    pub async fn create(&self, ws: &WorkspaceId, body: Value) -> Result<CreatedEndpoint, ControlError> {
        let spec = self.parse(body)?;
        let now = clock::now();
        let endpoint = EndpointRow {
            id: WebhookId::generate(&mut rand::rng()),
            workspace_id: ws.clone(),
            spec,
            secret: new_secret(),
            previous_secret: None,
            previous_until: None,
            created_at: now,
            updated_at: now,
            failing_since: None,
            disabled_at: None,
            disabled_reason: None,
        };
        let (row, workspace) = (endpoint.clone(), ws.clone());
        let created = self
            .store
            .write(move |c| {
                if outbox::endpoints(c, &workspace)?.len() >= MAX_ENDPOINTS {
                    return Ok(false);
                }
                outbox::insert_endpoint(c, &row).map(|()| true)
            })
            .await?;
        if !created {
            let e = SpecError::new("", format!("a workspace has at most {MAX_ENDPOINTS} webhook endpoints"));
            return Err(e.into());
        }
        let secret = endpoint.secret.clone();
        Ok(CreatedEndpoint { endpoint, secret })
    }

    pub async fn list(&self, ws: &WorkspaceId) -> Result<Vec<EndpointRow>, ControlError> {
        let ws = ws.clone();
        Ok(self.store.read(move |c| outbox::endpoints(c, &ws)).await?)
    }

    /// An endpoint and its recent deliveries.
    pub async fn get(
        &self,
        ws: &WorkspaceId,
        id: &WebhookId,
    ) -> Result<(EndpointRow, Vec<DeliveryRow>), ControlError> {
        let (ws, wid) = (ws.clone(), id.clone());
        let found = self
            .store
            .read(move |c| match outbox::endpoint(c, &ws, &wid)? {
                Some(e) => Ok(Some((e, outbox::deliveries(c, &wid, 50)?))),
                None => Ok(None),
            })
            .await?;
        found.ok_or_else(|| not_found(id))
    }

    /// Applies a JSON merge patch; a saved endpoint is enabled again.
    pub async fn update(
        &self,
        ws: &WorkspaceId,
        id: &WebhookId,
        patch: Value,
    ) -> Result<EndpointRow, ControlError> {
        let (current, _) = self.get(ws, id).await?;
        let spec: WebhookSpec = spec::merge(&current.spec, &patch)?;
        spec.check_target(self.policy.allow_private)?;
        let (wid, saved, now) = (id.clone(), spec.clone(), clock::now());
        self.store.write(move |c| outbox::update_endpoint(c, &wid, &saved, now)).await?;
        Ok(EndpointRow {
            spec,
            updated_at: now,
            failing_since: None,
            disabled_at: None,
            disabled_reason: None,
            ..current
        })
    }

    pub async fn delete(&self, ws: &WorkspaceId, id: &WebhookId) -> Result<(), ControlError> {
        self.get(ws, id).await?;
        let (wid, now) = (id.clone(), clock::now());
        self.store.write(move |c| outbox::delete_endpoint(c, &wid, now)).await?;
        Ok(())
    }

    /// Owes the endpoint a `webhook.test` event now; its delivery's id.
    pub async fn send_test(&self, ws: &WorkspaceId, id: &WebhookId) -> Result<DeliveryId, ControlError> {
        let (endpoint, _) = self.get(ws, id).await?;
        let now = clock::now();
        let sent = self.store.write(move |c| outbox::enqueue_test(c, &endpoint, now)).await?;
        self.wake();
        Ok(sent)
    }

    /// Owes one of the endpoint's deliveries again, now, under the same `webhook-id` (the
    /// receiver's idempotency key).
    pub async fn resend(
        &self,
        ws: &WorkspaceId,
        id: &WebhookId,
        delivery: &DeliveryId,
    ) -> Result<(), ControlError> {
        self.get(ws, id).await?;
        let (wid, did, now) = (id.clone(), delivery.clone(), clock::now());
        if !self.store.write(move |c| outbox::resend(c, &wid, &did, now)).await? {
            return Err(ControlError::NotFound { kind: "delivery", id: delivery.to_string() });
        }
        self.wake();
        Ok(())
    }

    /// A new secret, shown once; the old one signs beside it for 24 hours.
    pub async fn rotate(&self, ws: &WorkspaceId, id: &WebhookId) -> Result<CreatedEndpoint, ControlError> {
        let (mut endpoint, _) = self.get(ws, id).await?;
        let (wid, secret, now) = (id.clone(), new_secret(), clock::now());
        let until = Timestamp(now.millis() + ROTATION_OVERLAP.as_millis() as i64);
        let saved = secret.clone();
        self.store.write(move |c| outbox::rotate_secret(c, &wid, &saved, until, now)).await?;
        endpoint.previous_secret = Some(std::mem::replace(&mut endpoint.secret, secret.clone()));
        endpoint.previous_until = Some(until);
        Ok(CreatedEndpoint { endpoint, secret })
    }
}
