//! Workspaces: created by `voxgate keys create` and `voxgate demo`.

use crate::clock;
use crate::cluster::announce::{announce, Change};
use crate::store::records::{self, WorkspaceRow};
use crate::store::{Store, StoreError};
use voxgate_engine::ids::WorkspaceId;

/// The workspace named `name`, created if it does not exist yet. A new one is announced to
/// the other nodes as `node` when given (a command-line tool announces nothing: nodes find a
/// workspace they do not know when its key is first used).
pub async fn ensure_workspace(
    store: &Store,
    name: &str,
    node: Option<&str>,
) -> Result<WorkspaceRow, StoreError> {
    let (name, node) = (name.to_string(), node.map(str::to_string));
    store
        .write(move |c| {
            if let Some(w) = records::workspace_by_name(c, &name)? {
                return Ok(w);
            }
            let row =
                WorkspaceRow { id: WorkspaceId::generate(&mut rand::rng()), name, created_at: clock::now() };
            records::insert_workspace(c, &row)?;
            if let Some(node) = &node {
                announce(c, node, Change::Workspace { id: row.id.to_string() })?;
            }
            Ok(row)
        })
        .await
}
