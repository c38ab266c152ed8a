//! The store opened by a command-line tool (`voxgate keys`, `voxgate users`) in its own
//! process, beside a server that may be running on the same data dir.

use crate::store::{Store, StoreError};
use std::path::{Path, PathBuf};

/// Why a command could not reach the store.
#[derive(Debug, thiserror::Error)]
pub enum OfflineStoreError {
    #[error(
        "there is no voxgate store in {0} (no voxgate.sqlite): pass the --data-dir your server uses, \
         or --init to create a new store there"
    )]
    NoStore(PathBuf),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Runtime(String),
}

/// `dir` made absolute, to say where something went.
pub fn absolute(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Runs `f` on the store in `data_dir`, refusing to make a new one unless `init`.
pub fn with_store<T, E: From<OfflineStoreError>>(
    data_dir: &Path,
    init: bool,
    f: impl AsyncFnOnce(&Store) -> Result<T, E>,
) -> Result<T, E> {
    if !init && !Store::exists_in(data_dir) {
        return Err(OfflineStoreError::NoStore(absolute(data_dir)).into());
    }
    let store = Store::open(data_dir).map_err(OfflineStoreError::from)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| OfflineStoreError::Runtime(e.to_string()))?;
    let result = rt.block_on(f(&store));
    store.close();
    result
}
