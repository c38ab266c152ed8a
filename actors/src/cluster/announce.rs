//! What a node tells the others: a change it committed, sent with PostgreSQL's NOTIFY inside
//! the same transaction, so a listener hears of it exactly when it is committed (never for a
//! change rolled back). On SQLite there is one node and nobody to tell.

use crate::store::sql::{args, Dialect, Sql};
use crate::store::StoreError;
use serde::{Deserialize, Serialize};

/// The channel every node listens on.
pub const CHANNEL: &str = "voxgate";

/// The sender named by `voxgate keys` and `voxgate users`, which no node id can equal.
pub const COMMAND_LINE: &str = "command line";

/// One change other nodes must apply to what they hold in memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    /// A workspace was created: reload it.
    Workspace { id: String },
    /// An API key was revoked: forget it, so the next request with it reads the store.
    KeyRevoked { id: String },
    /// An agent was saved or deleted: reload it.
    Agent { id: String },
    /// A widget was saved or deleted: reload it, and end sessions it no longer allows.
    Widget { id: String },
    /// A session was ended on a node that does not carry it: the node that does ends it.
    SessionEnded { id: String, reason: String },
    /// A session's token was refreshed on a node that does not carry it.
    SessionExpiry { id: String, expires_at: i64 },
    /// A unit of usage was recorded: allowances count it on every node.
    Usage { workspace: String, class: String, kind: String, period_start: i64, quantity: u64 },
}

/// A change as sent: which node sent it and when (Unix ms), to skip one's own and to measure
/// how long it took to arrive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    pub from: String,
    pub at: i64,
    pub change: Change,
}

/// Queues `change` for every other node, to be sent when the transaction commits.
pub fn announce(c: &dyn Sql, from: &str, change: Change) -> Result<(), StoreError> {
    if c.dialect() != Dialect::Postgres {
        return Ok(());
    }
    let message = Announcement { from: from.to_string(), at: crate::clock::now().millis(), change };
    let payload = serde_json::to_string(&message).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    c.execute(&format!("SELECT pg_notify('{CHANNEL}', ?1)"), args![&payload])?;
    Ok(())
}
