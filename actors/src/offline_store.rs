//! The store opened by a command-line tool (`voxgate keys`, `voxgate users`) in its own
//! process, beside a server that may be running on the same data dir.

use crate::store::{Store, StoreError, StoreLocation};
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

/// Where a command's store is, as the command line gives it: the data dir, unless a
/// PostgreSQL URL is given.
#[derive(Debug, Clone, Copy)]
pub struct StoreAt<'a> {
    pub data_dir: &'a Path,
    pub database_url: Option<&'a str>,
}

impl StoreAt<'_> {
    pub fn location(&self) -> StoreLocation {
        StoreLocation::new(self.data_dir, self.database_url)
    }
}

/// `dir` made absolute, to say where something went.
pub fn absolute(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Runs `f` on the store at `location`, refusing to make a new one in a data dir unless `init`.
pub fn with_store<T, E: From<OfflineStoreError>>(
    location: &StoreLocation,
    init: bool,
    f: impl AsyncFnOnce(&Store) -> Result<T, E>,
) -> Result<T, E> {
    if let StoreLocation::DataDir(dir) = location {
        if !init && !Store::exists_in(dir) {
            return Err(OfflineStoreError::NoStore(absolute(dir)).into());
        }
    }
    let store = Store::open(location).map_err(OfflineStoreError::from)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| OfflineStoreError::Runtime(e.to_string()))?;
    let result = rt.block_on(f(&store));
    store.close();
    result
}
