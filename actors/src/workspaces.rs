//! Workspaces: created by `voxgate keys create` and `voxgate demo`.

use crate::clock;
use crate::store::records::{self, WorkspaceRow};
use crate::store::{Store, StoreError};
use voxgate_engine::ids::WorkspaceId;

/// The workspace named `name`, created if it does not exist yet.
pub async fn ensure_workspace(store: &Store, name: &str) -> Result<WorkspaceRow, StoreError> {
    let name = name.to_string();
    store
        .write(move |c| {
            if let Some(w) = records::workspace_by_name(c, &name)? {
                return Ok(w);
            }
            let row =
                WorkspaceRow { id: WorkspaceId::generate(&mut rand::rng()), name, created_at: clock::now() };
            records::insert_workspace(c, &row)?;
            Ok(row)
        })
        .await
}
