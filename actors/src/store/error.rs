//! Why a store operation failed, whichever backend holds the store.

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {}", describe(.0))]
    Postgres(#[from] postgres::Error),
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

/// A PostgreSQL error with what the server said (its Display alone says only "db error").
pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

impl StoreError {
    /// True when the database could not be reached (not when it refused what was asked): the
    /// request may succeed if tried again, so the edge answers 503 `unavailable`.
    pub fn is_unavailable(&self) -> bool {
        match self {
            // Stale: another node kept saving the same document; trying again will get through.
            StoreError::Unavailable(_) | StoreError::Stopped | StoreError::Stale(_) => true,
            // No SQLSTATE: the connection failed. Class 08: connection exception; 53: out of
            // resources (too many connections); 57: the server is shutting down or restarting;
            // 40: a serialization failure or deadlock, which a retry resolves.
            StoreError::Postgres(e) => {
                e.is_closed()
                    || e.code().is_none_or(|c| {
                        c.code().get(..2).is_some_and(|class| ["08", "53", "57", "40"].contains(&class))
                    })
            }
            _ => false,
        }
    }
}
