//! Why a store operation failed, whichever backend holds the store.

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("{0}")]
    Config(String),
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store writer has stopped")]
    Stopped,
    /// A save based on a version another node has already replaced.
    #[error("{0} was changed by another node meanwhile")]
    Stale(String),
}

impl StoreError {
    /// True when the database could not be reached (not when it refused what was asked): the
    /// request may succeed if tried again, so the edge answers 503 `unavailable`.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) | StoreError::Stopped => true,
            StoreError::Postgres(e) => e.is_closed() || e.code().is_none(),
            _ => false,
        }
    }
}
