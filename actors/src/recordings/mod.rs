//! Call recordings, made only where a widget records calls with the visitor's consent
//! (`privacy.recording`). A recorded call's media worker hands out Ogg pages as the call runs
//! (`engine::recording`); its `RecordingSink` passes them to one writer thread (`writer`),
//! which appends them to the call's file in the data dir at once, so a crash keeps what was
//! written. With an object store (`--recordings-url s3://...`), a finished file is uploaded
//! and removed (`storage`). A sweeper deletes what erasure or a widget's retention marks, and
//! uploads what a stop left behind.

mod storage;
mod writer;

use crate::clock;
use crate::metrics::Metrics;
pub use crate::store::recordings::RecordingRow;
use crate::store::recordings::{self as rows, NewRecording, Stored};
use crate::store::{Store, StoreError};
use bytes::Bytes;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::Duration;
use storage::Storage;
use tokio::sync::Notify;
use voxgate_engine::ids::CallId;
use voxgate_engine::session::Session;
use writer::{WriterInput, Written};

/// How this node keeps recordings.
#[derive(Debug, Clone)]
pub struct RecordingsConfig {
    /// Where files are written (and kept, without an object store): `<data dir>/recordings`.
    pub dir: PathBuf,
    /// `s3://bucket/prefix`: where finished recordings go.
    pub url: Option<String>,
    /// How often expired and erased recordings are looked for.
    pub sweep: Duration,
    /// The length of a day of retention (tests shorten it).
    pub day: Duration,
}

/// Why a recording cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("conversation {conversation} has no recording of call {call} (not recorded, or deleted)")]
    NotFound { conversation: String, call: String },
    /// Kept in another node's data dir.
    #[error(
        "the recording is kept in the data dir of node {node}; with several nodes, keep recordings in an object store (--recordings-url)"
    )]
    Elsewhere { node: String },
    #[error("recording storage failed: {0}")]
    Storage(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// This node's recordings.
pub struct Recordings {
    store: Store,
    storage: Arc<Storage>,
    /// This node's id.
    node: String,
    /// The node whose files this node may delete or upload: itself with several nodes, any
    /// (`None`) for one node on SQLite, whose id may change between runs.
    carrier: Option<String>,
    writer: mpsc::Sender<WriterInput>,
    config: RecordingsConfig,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
}

/// Where one recorded call's pages go; dropping it ends the file.
pub(crate) struct RecordingSink {
    call: String,
    path: PathBuf,
    writer: mpsc::Sender<WriterInput>,
}

impl RecordingSink {
    /// Whole Ogg pages, appended at once; the recording's duration once they are.
    pub fn append(&self, pages: Vec<u8>, duration_ms: u64) {
        let input =
            WriterInput::Append { call: self.call.clone(), path: self.path.clone(), pages, duration_ms };
        // The writer ends only with the process.
        let _ = self.writer.send(input);
    }
}

impl Drop for RecordingSink {
    fn drop(&mut self) {
        let _ = self.writer.send(WriterInput::Close { call: std::mem::take(&mut self.call) });
    }
}

/// A file's key: `<workspace>/<conversation>/<call>.ogg` (ids are base62 with a prefix).
fn location_of(session: &Session, call: &CallId) -> String {
    format!("{}/{}/{}.ogg", session.workspace_id, session.conversation_id, call)
}

impl Recordings {
    /// Closes what a stop left recording (kept as `partial`), and starts the writer and the
    /// sweeper. Runs inside the actix system.
    pub async fn start(
        store: Store,
        config: RecordingsConfig,
        node: &str,
        carrier: Option<&str>,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Recordings>, String> {
        let storage = Arc::new(Storage::new(config.dir.clone(), config.url.as_deref())?);
        recover(&store, &storage, carrier).await?;
        let runtime = tokio::runtime::Handle::current();
        let (on_store, on_storage, on_metrics) = (store.clone(), storage.clone(), metrics.clone());
        let wrote = metrics.recording_bytes.clone();
        let writer = writer::start(
            move |written| {
                let (store, storage, metrics) = (on_store.clone(), on_storage.clone(), on_metrics.clone());
                runtime.spawn(closed(written, store, storage, metrics));
            },
            move |bytes| wrote.inc_by(bytes),
        )?;
        let recordings = Arc::new(Recordings {
            store,
            storage,
            node: node.to_string(),
            carrier: carrier.map(str::to_string),
            writer,
            config,
            wake: Arc::new(Notify::new()),
            metrics,
        });
        actix::spawn(recordings.clone().sweep_forever());
        Ok(recordings)
    }

    /// Starts recording `call` of `session`, kept `retention_days`: its row is queued for the
    /// store now. Returns the Ogg serial for the call's peer and the sink for its pages.
    pub(crate) fn begin(
        &self,
        call: &CallId,
        session: &Session,
        retention_days: u32,
    ) -> (u32, RecordingSink) {
        let location = location_of(session, call);
        let (c, conv, ws, widget, node, loc) = (
            call.to_string(),
            session.conversation_id.to_string(),
            session.workspace_id.to_string(),
            session.widget_id.to_string(),
            self.node.clone(),
            location.clone(),
        );
        let insert = self.store.write(move |s| {
            rows::insert(
                s,
                &NewRecording {
                    call_id: &c,
                    conversation_id: &conv,
                    workspace_id: &ws,
                    widget_id: &widget,
                    node: &node,
                    location: &loc,
                    retention_days,
                    at: clock::now(),
                },
            )
        });
        // Queued before the call's first page can be written, and committed in order.
        drop(insert);
        self.metrics.recordings_started.inc();
        let sink = RecordingSink {
            call: call.to_string(),
            path: self.storage.local_path(&location),
            writer: self.writer.clone(),
        };
        (rand::random(), sink)
    }

    /// The recording of `call` in `ws`'s `conversation`.
    pub async fn find(
        &self,
        ws: &str,
        conversation: &str,
        call: &str,
    ) -> Result<RecordingRow, RecordingError> {
        let (w, conv, c) = (ws.to_string(), conversation.to_string(), call.to_string());
        let row = self.store.read(move |s| rows::get(s, &w, &conv, &c)).await?;
        row.ok_or_else(|| RecordingError::NotFound { conversation: conversation.into(), call: call.into() })
    }

    /// The length of a recording's file now (a call still recording grows).
    pub async fn len(&self, row: &RecordingRow) -> Result<u64, RecordingError> {
        match row.stored {
            Stored::Object => self.storage.object_len(&row.location).await,
            Stored::Local => match self.storage.local_len(&row.location).await? {
                Some(len) => Ok(len),
                None if row.node != self.node && self.carrier.is_some() => {
                    Err(RecordingError::Elsewhere { node: row.node.clone() })
                }
                None => Err(RecordingError::NotFound {
                    conversation: row.conversation_id.clone(),
                    call: row.call_id.clone(),
                }),
            },
        }
    }

    /// Bytes `range` of a recording's file.
    pub async fn read(&self, row: &RecordingRow, range: Range<u64>) -> Result<Bytes, RecordingError> {
        match row.stored {
            Stored::Object => self.storage.read_object(&row.location, range).await,
            Stored::Local => self.storage.read_local(&row.location, range).await,
        }
    }

    /// Deletes what is marked deleted (erased or expired) now, rather than at the next sweep.
    pub async fn sweep_now(&self) {
        self.sweep().await;
    }

    async fn sweep_forever(self: Arc<Self>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.config.sweep) => {}
                () = self.wake.notified() => {}
            }
            self.sweep().await;
        }
    }

    /// Marks expired recordings deleted, deletes the files of deleted ones and their rows, and
    /// uploads finished files an earlier run left in the data dir.
    async fn sweep(&self) {
        let day_ms = self.config.day.as_millis() as i64;
        if let Err(e) = self.store.write(move |s| rows::expire(s, clock::now(), day_ms)).await {
            tracing::warn!(error = %e, "could not look for expired recordings");
        }
        let carrier = self.carrier.clone();
        let doomed = self.store.read(move |s| rows::to_purge(s, carrier.as_deref(), 200)).await;
        for row in doomed.unwrap_or_default() {
            match self.storage.delete(&row.location, row.stored == Stored::Object).await {
                Ok(()) => {
                    let call = row.call_id.clone();
                    if self.store.write(move |s| rows::purged(s, &call)).await.is_ok() {
                        self.metrics.recordings_deleted.inc();
                    }
                }
                Err(e) => {
                    self.metrics.recording_failures.inc();
                    tracing::warn!(call = %row.call_id, error = %e, "a deleted recording's file could not be removed; trying again later");
                }
            }
        }
        if self.storage.objects.is_some() {
            let carrier = self.carrier.clone();
            let left = self.store.read(move |s| rows::unuploaded_on_node(s, carrier.as_deref(), 50)).await;
            for row in left.unwrap_or_default() {
                upload(&self.store, &self.storage, &self.metrics, &row.call_id, &row.location).await;
            }
        }
    }
}

/// A call's file is closed: its row says how much it holds (a call that never connected has
/// none, and no row), and with an object store it is uploaded.
async fn closed(written: Written, store: Store, storage: Arc<Storage>, metrics: Arc<Metrics>) {
    let call = written.call.clone();
    if written.bytes == 0 {
        let _ = store.write(move |s| rows::forget(s, &call)).await;
        return;
    }
    if written.failed {
        metrics.recording_failures.inc();
    }
    let status = if written.failed { "partial" } else { "complete" };
    let location = store
        .write(move |s| {
            rows::finish(s, &call, written.bytes, written.duration_ms, status, clock::now())?;
            s.query_opt("SELECT location FROM recordings WHERE call_id = ?1", &[call.as_str().into()], |r| {
                r.get::<String>(0)
            })
        })
        .await;
    if let (Ok(Some(location)), true) = (location, storage.objects.is_some()) {
        upload(&store, &storage, &metrics, &written.call, &location).await;
    }
}

async fn upload(store: &Store, storage: &Storage, metrics: &Metrics, call: &str, location: &str) {
    match storage.upload(location).await {
        Ok(()) => {
            let marked = {
                let call = call.to_string();
                store.write(move |s| rows::uploaded(s, &call)).await
            };
            // Once the record points at the object store: a read never finds neither copy. If
            // the mark failed, the local file still serves, and the next sweep uploads again.
            if marked.is_ok() {
                if let Err(e) = storage.remove_local(location).await {
                    tracing::warn!(%call, error = %e, "an uploaded recording's local copy could not be removed");
                }
            }
        }
        Err(e) => {
            metrics.recording_failures.inc();
            tracing::warn!(%call, error = %e, "a recording could not be uploaded; it stays in the data dir and is tried again");
        }
    }
}

/// Recordings a stop cut short keep what was written, as `partial`.
async fn recover(store: &Store, storage: &Arc<Storage>, carrier: Option<&str>) -> Result<(), String> {
    let node = carrier.map(str::to_string);
    let open = store
        .read(move |s| rows::open_on_node(s, node.as_deref()))
        .await
        .map_err(|e| format!("cannot read the recordings left open: {e}"))?;
    for row in open {
        let path = storage.local_path(&row.location);
        let file = tokio::task::spawn_blocking(move || std::fs::read(path)).await.ok().and_then(Result::ok);
        let call = row.call_id.clone();
        let recovered = match file {
            Some(bytes) if !bytes.is_empty() => {
                let duration = voxgate_engine::recording::written_duration_ms(&bytes);
                tracing::warn!(%call, bytes = bytes.len(), duration_ms = duration, "a recording cut short by a stop keeps what was written");
                store
                    .write(move |s| {
                        rows::finish(s, &call, bytes.len() as u64, duration, "partial", clock::now())
                    })
                    .await
            }
            _ => store.write(move |s| rows::forget(s, &call)).await,
        };
        recovered.map_err(|e| format!("cannot close a recording left open: {e}"))?;
    }
    Ok(())
}
