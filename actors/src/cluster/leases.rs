//! Node leases: each node writes a heartbeat every quarter lease, and every node looks for
//! nodes whose heartbeat is older than the lease. Such a node is gone (killed, cut off): the
//! first node to notice forgets it and, in the same transaction, closes its calls at their last
//! durable evidence with `server_restart`, ends its sessions (no node carries them any more)
//! and marks its streaming answers interrupted. The heartbeats also tell every node the URL
//! each other node answers at, for `misdirected` answers.

use super::node::Node;
use crate::clock;
use crate::store::records::{self, NodeHolder, NodeRow};
use crate::store::{changes, Store, StoreError};
use dashmap::DashMap;
use std::sync::Arc;
use std::time::Duration;
use voxgate_engine::session::EndReason;
use voxgate_engine::Timestamp;

/// The nodes on this database as of the last heartbeat round, by id.
#[derive(Debug, Default)]
pub struct NodeDirectory {
    nodes: DashMap<String, NodeRow>,
}

impl NodeDirectory {
    /// The URL browsers reach `node` at, if it is known.
    pub fn public_url(&self, node: &str) -> Option<String> {
        self.nodes.get(node).map(|n| n.public_url.clone())
    }

    fn replace(&self, rows: Vec<NodeRow>) {
        self.nodes.retain(|id, _| rows.iter().any(|r| r.id == *id));
        for r in rows {
            self.nodes.insert(r.id.clone(), r);
        }
    }
}

/// What one node found left behind by a node that is gone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reaped {
    pub node: String,
    pub calls: usize,
    pub sessions: usize,
    pub answers: usize,
}

/// This process's hold on its node name: random per start, written beside the name, so a
/// second process under the same name is told apart from this one's own heartbeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incarnation(String);

impl Incarnation {
    pub fn new() -> Incarnation {
        Incarnation(format!("{:032x}", rand::random::<u128>()))
    }
}

impl Default for Incarnation {
    fn default() -> Self {
        Incarnation::new()
    }
}

/// Why this process may not take its node name.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error(
        "another live node holds --node {node}: it answers at {public_url}. Give each node its own \
         --node (the default is the host name, so two processes on one host need one each)"
    )]
    Held { node: String, public_url: String },
    #[error("cannot record this node: {0}")]
    Store(#[from] StoreError),
}

/// Takes this node's name before the node touches anything under it. A name nobody holds is
/// taken at once: never used, released by a clean stop, or its heartbeat older than the lease
/// (a crash). A name with a fresh heartbeat is watched until its lease runs out: a heartbeat
/// that moves is a live node, and this process must not start; one that does not is this
/// name's own crashed process, and the name is taken when its lease lapses.
pub async fn claim(store: &Store, me: &Node, incarnation: &Incarnation) -> Result<(), ClaimError> {
    let mut seen: Option<NodeHolder> = None;
    loop {
        let now = clock::now();
        let cutoff = Timestamp(now.millis() - me.lease.as_millis() as i64);
        let (id, url, inc) = (me.id.clone(), me.public_url.clone(), incarnation.0.clone());
        let holder = store.write(move |c| records::claim_node(c, &id, &url, &inc, now, cutoff)).await?;
        let Some(holder) = holder else { return Ok(()) };
        match &seen {
            Some(before) if *before != holder => {
                return Err(ClaimError::Held { node: me.id.clone(), public_url: holder.public_url });
            }
            Some(_) => {}
            None => {
                tracing::warn!(
                    node = %me.id, holder = %holder.public_url,
                    "this node name was held a moment ago: waiting up to its lease to see whether its node is alive"
                );
                seen = Some(holder);
            }
        }
        tokio::time::sleep((me.lease / 8).max(Duration::from_millis(25))).await;
    }
}

/// Gives the name back at a clean stop, so the next process under it starts at once.
pub async fn release(store: &Store, me: &Node, incarnation: &Incarnation) -> Result<(), StoreError> {
    let (id, inc) = (me.id.clone(), incarnation.0.clone());
    store.write(move |c| records::release_node(c, &id, &inc)).await
}

/// One round: this node's heartbeat, then gone nodes closed, then the directory refreshed.
pub async fn round(
    store: &Store,
    me: &Node,
    incarnation: &Incarnation,
    directory: &NodeDirectory,
) -> Result<Vec<Reaped>, StoreError> {
    let now = clock::now();
    let (id, url, inc) = (me.id.clone(), me.public_url.clone(), incarnation.0.clone());
    if !store.write(move |c| records::node_heartbeat(c, &id, &url, &inc, now)).await? {
        tracing::error!(
            node = %me.id,
            "another process has taken this node's name (this one missed its lease): stop one of them"
        );
    }
    let cutoff = Timestamp(now.millis() - me.lease.as_millis() as i64);
    let nodes = store.read(records::nodes).await?;
    let mut reaped = Vec::new();
    for gone in nodes.iter().filter(|n| n.id != me.id && n.heartbeat_at < cutoff) {
        let node = gone.id.clone();
        let found = store
            .write(move |c| {
                if !records::forget_node(c, &node, cutoff)? {
                    return Ok(None);
                }
                let calls = records::close_orphaned_calls(c, Some(&node), EndReason::ServerRestart)?;
                let answers = records::close_streaming_answers(c, Some(&node))?;
                let sessions = changes::node_sessions_ended(c, &node, now, EndReason::ServerRestart)?;
                Ok(Some(Reaped { node, calls, sessions, answers }))
            })
            .await?;
        if let Some(r) = found {
            tracing::warn!(
                node = %r.node, calls = r.calls, sessions = r.sessions, answers = r.answers,
                "a node missed its lease: closed its calls and sessions (server_restart)"
            );
            reaped.push(r);
        }
    }
    directory.replace(nodes.into_iter().filter(|n| n.heartbeat_at >= cutoff || n.id == me.id).collect());
    Ok(reaped)
}

/// Runs rounds every quarter lease until the runtime stops (or the task is aborted).
pub fn start(
    store: Store,
    me: Node,
    incarnation: Incarnation,
    directory: Arc<NodeDirectory>,
) -> tokio::task::JoinHandle<()> {
    let every = (me.lease / 4).max(Duration::from_millis(50));
    actix::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = round(&store, &me, &incarnation, &directory).await {
                if matches!(e, StoreError::Stopped) {
                    return;
                }
                tracing::warn!(error = %e, "node heartbeat failed");
            }
        }
    })
}
