//! Workspaces and their API keys: created by `voxgate keys create` and `voxgate demo`.

use crate::clock;
use crate::store::records::{self, WorkspaceRow};
use crate::store::{Store, StoreError};
use voxgate_engine::api_key::NewApiKey;
use voxgate_engine::ids::{KeyId, WorkspaceId};

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

/// Creates a key for `ws`; the returned secret is the only copy.
pub async fn create_key(store: &Store, ws: &WorkspaceId) -> Result<(KeyId, NewApiKey), StoreError> {
    let key = NewApiKey::generate(&mut rand::rng());
    let key_id = KeyId::generate(&mut rand::rng());
    let (k, w, h) = (key_id.clone(), ws.clone(), key.hash.0.clone());
    store.write(move |c| records::insert_api_key(c, &k, &w, &h, clock::now())).await?;
    Ok((key_id, key))
}

/// `voxgate keys create`: opens the store in `data_dir` (which may be in use by a running
/// server), ensures the workspace, and returns a new key's secret (only its hash is kept).
pub fn create_key_in(data_dir: &std::path::Path, workspace: &str) -> Result<String, String> {
    let store = Store::open(data_dir).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let key = rt.block_on(async {
        let ws = ensure_workspace(&store, workspace).await?;
        create_key(&store, &ws.id).await
    });
    store.close();
    let (_, key) = key.map_err(|e| e.to_string())?;
    Ok(key.secret)
}
