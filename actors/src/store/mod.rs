//! The store writer: one thread owns the SQLite write connection and commits queued writes in
//! batches (group commit), each write inside its own savepoint so one failure rolls back only
//! itself. A write's future resolves only after its batch is committed, so whatever a caller
//! reports as done is durable. Reads use a separate connection (WAL lets them run alongside).

pub mod conversations;
pub mod dashboard;
pub mod records;
pub(crate) mod schema;

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

/// The database's file in the data dir.
pub(crate) const DB_FILE: &str = "voxgate.sqlite";

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 512;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store writer has stopped")]
    Stopped,
}

trait Job: Send {
    /// Runs the write inside the open transaction.
    fn run(&mut self, conn: &Connection);
    /// Reports the outcome once the batch is committed (or failed to commit).
    fn finish(self: Box<Self>, commit: Result<(), String>);
    /// True only for the marker `Store::close` sends.
    fn is_stop(&self) -> bool {
        false
    }
}

struct WriteJob<T, F> {
    f: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T: Send, F: FnOnce(&Connection) -> Result<T, StoreError> + Send> Job for WriteJob<T, F> {
    fn run(&mut self, conn: &Connection) {
        let Some(f) = self.f.take() else { return };
        let outcome =
            conn.execute_batch("SAVEPOINT job").map_err(StoreError::from).and_then(|_| match f(conn) {
                Ok(v) => conn.execute_batch("RELEASE job").map(|_| v).map_err(StoreError::from),
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
                    Err(e)
                }
            });
        self.result = Some(outcome);
    }

    fn finish(self: Box<Self>, commit: Result<(), String>) {
        let outcome = match (commit, self.result) {
            (Ok(()), Some(r)) => r,
            (Err(e), _) => Err(StoreError::Corrupt(format!("commit failed: {e}"))),
            (Ok(()), None) => Err(StoreError::Stopped),
        };
        let _ = self.reply.send(outcome);
    }
}

/// Handle to the database: cheap to clone, usable from any thread or actor.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Box<dyn Job>>,
    queued: Arc<AtomicUsize>,
    reader: Arc<Mutex<Connection>>,
    writer: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating and migrating if needed) `voxgate.sqlite` in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Corrupt(format!("cannot create data dir {}: {e}", data_dir.display()))
        })?;
        let path = data_dir.join(DB_FILE);
        let mut conn = schema::open(&path)?;
        schema::migrate(&mut conn)?;
        let reader = schema::open(&path)?;
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let queued = Arc::new(AtomicUsize::new(0));
        let q = queued.clone();
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(conn, rx, q))
            .map_err(|e| StoreError::Corrupt(format!("cannot start store writer: {e}")))?;
        Ok(Store {
            jobs: tx,
            queued,
            reader: Arc::new(Mutex::new(reader)),
            writer: Arc::new(Mutex::new(Some(handle))),
            path,
        })
    }

    /// Whether `data_dir` holds a store already.
    pub fn exists_in(data_dir: &Path) -> bool {
        data_dir.join(DB_FILE).is_file()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes queued and not yet committed.
    pub fn queue_depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Queues a write; resolves with its result once committed.
    pub fn write<T, F>(&self, f: F) -> impl std::future::Future<Output = Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = Box::new(WriteJob { f: Some(f), result: None, reply });
        self.queued.fetch_add(1, Ordering::Relaxed);
        let sent = self.jobs.send(job).is_ok();
        if !sent {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
        async move {
            if !sent {
                return Err(StoreError::Stopped);
            }
            rx.await.unwrap_or(Err(StoreError::Stopped))
        }
    }

    /// Runs a read on the read connection, off the async runtime's threads.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().map_err(|_| StoreError::Stopped)?;
            f(&conn)
        })
        .await
        .map_err(|_| StoreError::Stopped)?
    }

    /// A read from synchronous code (startup, CLI).
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::Stopped)?;
        f(&conn)
    }

    /// Lets every queued write commit, then stops the writer. Later writes fail with `Stopped`.
    pub fn close(&self) {
        // The writer exits when every sender is gone; ours may not be the last, so send a marker.
        let (reply, _rx) = oneshot::channel::<Result<(), StoreError>>();
        let stop = Box::new(StopJob { reply: Some(reply) });
        let _ = self.jobs.send(stop);
        if let Some(handle) = self.writer.lock().ok().and_then(|mut h| h.take()) {
            let _ = handle.join();
        }
    }
}

/// Marks the end of the queue for `close`.
struct StopJob {
    reply: Option<oneshot::Sender<Result<(), StoreError>>>,
}

impl Job for StopJob {
    fn run(&mut self, _conn: &Connection) {}
    fn is_stop(&self) -> bool {
        true
    }
    fn finish(mut self: Box<Self>, _commit: Result<(), String>) {
        if let Some(r) = self.reply.take() {
            let _ = r.send(Ok(()));
        }
    }
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Box<dyn Job>>, queued: Arc<AtomicUsize>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let began = conn.execute_batch("BEGIN IMMEDIATE");
        let commit = match began {
            Ok(()) => {
                for job in batch.iter_mut() {
                    job.run(&conn);
                }
                conn.execute_batch("COMMIT").map_err(|e| {
                    let _ = conn.execute_batch("ROLLBACK");
                    e.to_string()
                })
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = &commit {
            tracing::error!(error = %e, jobs = batch.len(), "store batch failed to commit");
        }
        let stop = batch.iter().any(|j| j.is_stop());
        let counted = batch.iter().filter(|j| !j.is_stop()).count();
        queued.fetch_sub(counted, Ordering::Relaxed);
        for job in batch {
            job.finish(commit.clone());
        }
        if stop {
            break;
        }
    }
}
