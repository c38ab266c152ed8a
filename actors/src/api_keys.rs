//! Workspace API keys from the command line: create (the workspace too, if needed), list,
//! revoke. These run in their own process, beside a server that may be using the same data dir;
//! the server checks every key against the store on each request, so a new key works and a
//! revoked one is refused at the very next request.

use crate::clock;
use crate::cluster::announce::{announce, Change, COMMAND_LINE};
use crate::offline_store::{with_store, OfflineStoreError, StoreAt};
use crate::store::records::{self, ApiKeyRow};
use crate::store::{Store, StoreError};
use crate::workspaces::ensure_workspace;
use voxgate_engine::api_key::NewApiKey;
use voxgate_engine::ids::{KeyId, WorkspaceId};

/// Why a key command did nothing.
#[derive(Debug, thiserror::Error)]
pub enum KeyCommandError {
    #[error("{0}")]
    Offline(#[from] OfflineStoreError),
    #[error("{0} is not a key id (key_...): `voxgate keys list` shows them")]
    BadKeyId(String),
    #[error("there is no key {0} in {1}")]
    NoSuchKey(String, String),
    #[error("key {0} was already revoked")]
    AlreadyRevoked(String),
}

impl From<StoreError> for KeyCommandError {
    fn from(e: StoreError) -> Self {
        KeyCommandError::Offline(e.into())
    }
}

/// A key just made: its secret is shown once and stored nowhere.
pub struct CreatedKey {
    pub secret: String,
    pub key_id: KeyId,
    pub workspace_id: WorkspaceId,
    /// The data dir it was stored in, made absolute, to say where it went.
    pub store: String,
}

/// Creates a key for `ws`; the returned secret is the only copy.
pub async fn create_key(store: &Store, ws: &WorkspaceId) -> Result<(KeyId, NewApiKey), StoreError> {
    let key = NewApiKey::generate(&mut rand::rng());
    let key_id = KeyId::generate(&mut rand::rng());
    let (k, w, h) = (key_id.clone(), ws.clone(), key.hash.0.clone());
    store.write(move |c| records::insert_api_key(c, &k, &w, &h, clock::now())).await?;
    Ok((key_id, key))
}

/// `voxgate keys create`: a new key for `workspace` (created if needed).
pub fn create_in(store_at: StoreAt<'_>, workspace: &str, init: bool) -> Result<CreatedKey, KeyCommandError> {
    let location = store_at.location();
    let (key_id, key, ws) = with_store::<_, KeyCommandError>(&location, init, async |store| {
        let ws = ensure_workspace(store, workspace, None).await?;
        let (key_id, key) = create_key(store, &ws.id).await?;
        Ok((key_id, key, ws.id))
    })?;
    Ok(CreatedKey { secret: key.secret, key_id, workspace_id: ws, store: location.to_string() })
}

/// `voxgate keys list`: every key (of one workspace, by name, when given), oldest first.
pub fn list_in(store_at: StoreAt<'_>, workspace: Option<&str>) -> Result<Vec<ApiKeyRow>, KeyCommandError> {
    let location = store_at.location();
    let workspace = workspace.map(str::to_string);
    with_store(&location, false, async |store| {
        Ok(store.read(move |c| records::api_keys(c, workspace.as_deref())).await?)
    })
}

/// `voxgate keys revoke`: the key is refused from the next request on, by every server on this
/// data dir.
pub fn revoke_in(store_at: StoreAt<'_>, key: &str) -> Result<ApiKeyRow, KeyCommandError> {
    let location = store_at.location();
    let key_id = KeyId::parse(key).map_err(|_| KeyCommandError::BadKeyId(key.to_string()))?;
    let dir = location.to_string();
    with_store(&location, false, async |store| {
        let k = key_id.clone();
        let keys = store.read(|c| records::api_keys(c, None)).await?;
        let Some(row) = keys.into_iter().find(|r| r.id == key_id) else {
            return Err(KeyCommandError::NoSuchKey(key_id.to_string(), dir.clone()));
        };
        let at = clock::now();
        let revoke = move |c: &dyn crate::store::sql::Sql| {
            let revoked = records::revoke_api_key(c, &k, at)?;
            if revoked {
                announce(c, COMMAND_LINE, Change::KeyRevoked { id: k.to_string() })?;
            }
            Ok(revoked)
        };
        if !store.write(revoke).await? {
            return Err(KeyCommandError::AlreadyRevoked(key_id.to_string()));
        }
        Ok(ApiKeyRow { revoked_at: Some(at), ..row })
    })
}
