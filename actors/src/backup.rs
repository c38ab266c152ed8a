//! `voxgate backup`: a consistent copy of a data dir (the SQLite store, through SQLite's online
//! backup API, and the session-signing key) while a server keeps running on it. The copy is a data
//! dir of its own: a server started on it (or on it moved into place) has every workspace, key,
//! agent, widget, conversation and usage record, and accepts the session tokens it issued.

use crate::signing;
use crate::store::{sqlite, Store, StoreError, DB_FILE};
use std::path::{Path, PathBuf};

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub database: PathBuf,
    /// The signing key, when the data dir has one (not with `VOXGATE_SESSION_SECRET`).
    pub signing_key: Option<PathBuf>,
}

/// Copies `data_dir` into `out_dir`, which must not hold a store yet.
pub fn backup(data_dir: &Path, out_dir: &Path) -> Result<BackupReport, StoreError> {
    if !Store::exists_in(data_dir) {
        return Err(StoreError::Corrupt(format!("there is no voxgate store in {}", data_dir.display())));
    }
    if Store::exists_in(out_dir) {
        return Err(StoreError::Corrupt(format!(
            "{} already holds a voxgate store; back up into a new folder",
            out_dir.display()
        )));
    }
    std::fs::create_dir_all(out_dir)
        .map_err(|e| StoreError::Corrupt(format!("cannot create {}: {e}", out_dir.display())))?;
    let source = sqlite::open(&data_dir.join(DB_FILE))?;
    let database = out_dir.join(DB_FILE);
    let mut copy = rusqlite::Connection::open(&database)?;
    {
        // All pages in one step: one consistent snapshot under a read transaction, which in WAL
        // mode does not hold up the server's writer.
        let backup = rusqlite::backup::Backup::new(&source, &mut copy)?;
        backup.step(-1)?;
    }
    copy.execute_batch("PRAGMA journal_mode = WAL;")?;
    let key = data_dir.join(signing::FILE);
    let signing_key = if key.is_file() {
        let to = out_dir.join(signing::FILE);
        std::fs::copy(&key, &to)
            .map_err(|e| StoreError::Corrupt(format!("cannot copy {}: {e}", key.display())))?;
        restrict(&to);
        Some(to)
    } else {
        None
    };
    Ok(BackupReport { database, signing_key })
}

/// Owner-only, like the original.
fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}
