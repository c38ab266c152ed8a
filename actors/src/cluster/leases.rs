//! Node leases: each node writes a heartbeat every quarter lease, and every node looks for
//! nodes whose heartbeat is older than the lease. Such a node is gone (killed, cut off): the
//! first node to notice forgets it and, in the same transaction, closes its calls at their last
//! durable evidence with `server_restart`, ends its sessions (no node carries them any more)
//! and marks its streaming answers interrupted. The heartbeats also tell every node the URL
//! each other node answers at, for `misdirected` answers.

use super::node::Node;
use crate::clock;
use crate::store::records::{self, NodeRow};
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

/// One round: this node's heartbeat, then gone nodes closed, then the directory refreshed.
pub async fn round(store: &Store, me: &Node, directory: &NodeDirectory) -> Result<Vec<Reaped>, StoreError> {
    let now = clock::now();
    let (id, url) = (me.id.clone(), me.public_url.clone());
    store.write(move |c| records::node_heartbeat(c, &id, &url, now)).await?;
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

/// Runs rounds every quarter lease until the runtime stops.
pub fn start(store: Store, me: Node, directory: Arc<NodeDirectory>) {
    let every = (me.lease / 4).max(Duration::from_millis(50));
    actix::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = round(&store, &me, &directory).await {
                if matches!(e, StoreError::Stopped) {
                    return;
                }
                tracing::warn!(error = %e, "node heartbeat failed");
            }
        }
    });
}
