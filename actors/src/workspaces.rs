//! Workspaces and their API keys: created by `voxgate keys create` and `voxgate demo`.

use crate::clock;
use crate::store::records::{self, WorkspaceRow};
use crate::store::{Store, StoreError};
use voxgate_engine::api_key::NewApiKey;
use voxgate_engine::ids::{KeyId, WorkspaceId};

/// The workspace named `name`, created if it does not exist yet.
pub async fn ensure_workspace(store: &Store, name: &str) -> Result<WorkspaceId, StoreError> {
    let name = name.to_string();
    store
        .write(move |c| {
            if let Some(w) = records::workspace_by_name(c, &name)? {
                return Ok(w.id);
            }
            let row = WorkspaceRow { id: WorkspaceId::generate(), name, created_at: clock::now() };
            records::insert_workspace(c, &row)?;
            Ok(row.id)
        })
        .await
}

/// Creates a key for `ws`; the returned secret is the only copy.
pub async fn create_key(store: &Store, ws: &WorkspaceId) -> Result<(KeyId, NewApiKey), StoreError> {
    let key = NewApiKey::generate();
    let key_id = KeyId::generate();
    let (k, w, h) = (key_id.clone(), ws.clone(), key.hash.0.clone());
    store.write(move |c| records::insert_api_key(c, &k, &w, &h, clock::now())).await?;
    Ok((key_id, key))
}
