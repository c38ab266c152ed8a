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
}
