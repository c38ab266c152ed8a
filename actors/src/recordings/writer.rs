//! The recordings' writer: one thread that appends each call's Ogg pages to its file as the
//! media workers hand them out, so no file I/O runs on a media thread. A page is written the
//! moment it arrives; a call's end syncs its file and reports it.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;

/// What a call's sink asks of the writer.
pub(crate) enum WriterInput {
    Append { call: String, path: PathBuf, pages: Vec<u8>, duration_ms: u64 },
    Close { call: String },
}

/// A call's file, once closed.
pub(crate) struct Written {
    pub call: String,
    /// Bytes written; 0 for a call that never connected (no file was made).
    pub bytes: u64,
    pub duration_ms: u64,
    /// A write failed: the file holds what was written before.
    pub failed: bool,
}

struct OpenFile {
    file: Option<File>,
    bytes: u64,
    duration_ms: u64,
    failed: bool,
}

/// Starts the writer thread; each closed file is handed to `closed`, and every written byte
/// counted by `wrote`.
pub(crate) fn start(
    closed: impl Fn(Written) + Send + 'static,
    wrote: impl Fn(u64) + Send + 'static,
) -> Result<mpsc::Sender<WriterInput>, String> {
    let (tx, rx) = mpsc::channel::<WriterInput>();
    std::thread::Builder::new()
        .name("voxgate-recordings".into())
        .spawn(move || {
            let mut open: HashMap<String, OpenFile> = HashMap::new();
            // Ends when every sender (the service and each call's sink) is gone.
            while let Ok(input) = rx.recv() {
                match input {
                    WriterInput::Append { call, path, pages, duration_ms } => {
                        let entry = open.entry(call.clone()).or_insert_with(|| OpenFile {
                            file: create(&path, &call),
                            bytes: 0,
                            duration_ms: 0,
                            failed: false,
                        });
                        entry.failed |= entry.file.is_none();
                        if let Some(file) = entry.file.as_mut() {
                            match file.write_all(&pages) {
                                Ok(()) => {
                                    entry.bytes += pages.len() as u64;
                                    entry.duration_ms = duration_ms;
                                    wrote(pages.len() as u64);
                                }
                                Err(e) => {
                                    tracing::error!(%call, error = %e, "a recording could not be written; it keeps what it has");
                                    entry.file = None;
                                    entry.failed = true;
                                }
                            }
                        }
                    }
                    WriterInput::Close { call } => {
                        let file = open.remove(&call);
                        let mut written = Written { call, bytes: 0, duration_ms: 0, failed: false };
                        if let Some(f) = file {
                            if let Some(file) = &f.file {
                                if let Err(e) = file.sync_data() {
                                    tracing::warn!(call = %written.call, error = %e, "a recording could not be synced");
                                }
                            }
                            written.bytes = f.bytes;
                            written.duration_ms = f.duration_ms;
                            written.failed = f.failed;
                        }
                        closed(written);
                    }
                }
            }
        })
        .map_err(|e| format!("cannot start the recordings writer: {e}"))?;
    Ok(tx)
}

fn create(path: &PathBuf, call: &str) -> Option<File> {
    let made = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| OpenOptions::new().create(true).append(true).open(path));
    match made {
        Ok(file) => Some(file),
        Err(e) => {
            tracing::error!(%call, path = %path.display(), error = %e, "a recording's file could not be made");
            None
        }
    }
}
