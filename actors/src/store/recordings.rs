//! Call recordings as the store keeps them: a row per recorded call, made when the call is
//! placed, finished when it ends, marked deleted by erasure or expiry, and removed once its file
//! is gone. The file itself is `recordings`' to write, read and delete.

use super::sql::{args, Sql};
use super::StoreError;
use voxgate_engine::Timestamp;

/// Where a recording's file lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// In the data dir of the node that recorded it (while it records, always).
    Local,
    /// In the object store, uploaded when the call ended.
    Object,
}

impl Stored {
    pub fn as_str(self) -> &'static str {
        match self {
            Stored::Local => "local",
            Stored::Object => "object",
        }
    }

    fn parse(s: &str) -> Stored {
        if s == "object" {
            Stored::Object
        } else {
            Stored::Local
        }
    }
}

/// A recording's row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordingRow {
    pub call_id: String,
    pub conversation_id: String,
    pub workspace_id: String,
    pub widget_id: String,
    /// The node that recorded it (and, while `stored` is local, keeps the file).
    pub node: String,
    /// The file's key, relative to the recordings directory or the object store's prefix.
    pub location: String,
    #[serde(skip)]
    pub stored: Stored,
    /// `recording` while the call runs, `complete` after, `partial` if the node stopped
    /// mid-call (what was written is kept).
    pub status: String,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub bytes: i64,
    pub duration_ms: i64,
    pub retention_days: i64,
}

const COLUMNS: &str = "call_id, conversation_id, workspace_id, widget_id, node, location, stored, status, \
                       started_at, ended_at, bytes, duration_ms, retention_days";

fn row(r: &super::sql::Row) -> Result<RecordingRow, StoreError> {
    Ok(RecordingRow {
        call_id: r.get(0)?,
        conversation_id: r.get(1)?,
        workspace_id: r.get(2)?,
        widget_id: r.get(3)?,
        node: r.get(4)?,
        location: r.get(5)?,
        stored: Stored::parse(&r.get::<String>(6)?),
        status: r.get(7)?,
        started_at: Timestamp(r.get(8)?),
        ended_at: r.get::<Option<i64>>(9)?.map(Timestamp),
        bytes: r.get(10)?,
        duration_ms: r.get(11)?,
        retention_days: r.get(12)?,
    })
}

/// A call about to be recorded.
pub struct NewRecording<'a> {
    pub call_id: &'a str,
    pub conversation_id: &'a str,
    pub workspace_id: &'a str,
    pub widget_id: &'a str,
    pub node: &'a str,
    pub location: &'a str,
    pub retention_days: u32,
    pub at: Timestamp,
}

pub fn insert(c: &dyn Sql, r: &NewRecording<'_>) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO recordings (call_id, conversation_id, workspace_id, widget_id, node, location, stored, status, started_at, retention_days)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'local', 'recording', ?7, ?8)",
        args![
            r.call_id,
            r.conversation_id,
            r.workspace_id,
            r.widget_id,
            r.node,
            r.location,
            r.at.millis(),
            i64::from(r.retention_days)
        ],
    )?;
    Ok(())
}

/// The call ended with `bytes` written (`status`: `complete`, or `partial` after a crash).
pub fn finish(
    c: &dyn Sql,
    call: &str,
    bytes: u64,
    duration_ms: u64,
    status: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE recordings SET status = ?2, bytes = ?3, duration_ms = ?4, ended_at = ?5 WHERE call_id = ?1",
        args![call, status, bytes as i64, duration_ms as i64, at.millis()],
    )?;
    Ok(())
}

/// A call that connected no media has nothing to keep.
pub fn forget(c: &dyn Sql, call: &str) -> Result<(), StoreError> {
    c.execute("DELETE FROM recordings WHERE call_id = ?1", args![call])?;
    Ok(())
}

/// The file is now in the object store.
pub fn uploaded(c: &dyn Sql, call: &str) -> Result<(), StoreError> {
    c.execute("UPDATE recordings SET stored = 'object' WHERE call_id = ?1", args![call])?;
    Ok(())
}

/// A recording of `ws`'s conversation, unless deleted.
pub fn get(
    c: &dyn Sql,
    ws: &str,
    conversation: &str,
    call: &str,
) -> Result<Option<RecordingRow>, StoreError> {
    c.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM recordings WHERE call_id = ?1 AND conversation_id = ?2 AND workspace_id = ?3 AND deleted_at IS NULL"
        ),
        args![call, conversation, ws],
        row,
    )
}

/// The recordings of a conversation, unless deleted, by start.
pub fn of_conversation(c: &dyn Sql, conversation: &str) -> Result<Vec<RecordingRow>, StoreError> {
    c.query_map(
        &format!(
            "SELECT {COLUMNS} FROM recordings WHERE conversation_id = ?1 AND deleted_at IS NULL ORDER BY started_at"
        ),
        args![conversation],
        row,
    )
}

/// Recordings `node` was writing when it stopped (with `None`, one node on SQLite: any): what a
/// crash left.
pub fn open_on_node(c: &dyn Sql, node: Option<&str>) -> Result<Vec<RecordingRow>, StoreError> {
    c.query_map(
        &format!(
            "SELECT {COLUMNS} FROM recordings WHERE (CAST(?1 AS TEXT) IS NULL OR node = ?1) AND status = 'recording'"
        ),
        args![node],
        row,
    )
}

/// Up to `limit` local files `node` (`None`: any) finished but did not upload yet.
pub fn unuploaded_on_node(
    c: &dyn Sql,
    node: Option<&str>,
    limit: i64,
) -> Result<Vec<RecordingRow>, StoreError> {
    c.query_map(
        &format!(
            "SELECT {COLUMNS} FROM recordings WHERE (CAST(?1 AS TEXT) IS NULL OR node = ?1) AND stored = 'local'
             AND status <> 'recording' AND deleted_at IS NULL ORDER BY started_at LIMIT ?2"
        ),
        args![node, limit],
        row,
    )
}

/// Erasure: every recording of the conversation is to be deleted.
pub fn delete_conversation(c: &dyn Sql, conversation: &str, at: Timestamp) -> Result<(), StoreError> {
    c.execute(
        "UPDATE recordings SET deleted_at = ?2 WHERE conversation_id = ?1 AND deleted_at IS NULL",
        args![conversation, at.millis()],
    )?;
    Ok(())
}

/// A widget's retention changed: it applies to the recordings made before too.
pub fn set_retention(c: &dyn Sql, widget: &str, days: u32) -> Result<(), StoreError> {
    c.execute(
        "UPDATE recordings SET retention_days = ?2 WHERE widget_id = ?1 AND retention_days <> ?2",
        args![widget, i64::from(days)],
    )?;
    Ok(())
}

/// Marks the recordings older than their retention (in days of `day_ms`) as deleted; how many.
pub fn expire(c: &dyn Sql, now: Timestamp, day_ms: i64) -> Result<u64, StoreError> {
    // Retention is at least a day: the index on start skips everything younger.
    c.execute(
        "UPDATE recordings SET deleted_at = ?1
         WHERE deleted_at IS NULL AND started_at <= ?1 - ?2 AND started_at + retention_days * ?2 <= ?1",
        args![now.millis(), day_ms],
    )
}

/// Up to `limit` deleted recordings whose files this node can remove: its own local ones (with
/// `None`, one node on SQLite: every local one), and any in the object store.
pub fn to_purge(c: &dyn Sql, node: Option<&str>, limit: i64) -> Result<Vec<RecordingRow>, StoreError> {
    c.query_map(
        &format!(
            "SELECT {COLUMNS} FROM recordings WHERE deleted_at IS NOT NULL
             AND (stored = 'object' OR CAST(?1 AS TEXT) IS NULL OR node = ?1) ORDER BY deleted_at LIMIT ?2"
        ),
        args![node, limit],
        row,
    )
}

/// The file is gone: so is the row.
pub fn purged(c: &dyn Sql, call: &str) -> Result<(), StoreError> {
    c.execute("DELETE FROM recordings WHERE call_id = ?1 AND deleted_at IS NOT NULL", args![call])?;
    Ok(())
}
