//! The store writer: a thread owns a write connection and commits queued writes in batches
//! (group commit), each write inside its own savepoint so one failure rolls back only itself
//! (a batch of one needs none).
//! A write's future resolves only after its batch is committed, so whatever a caller reports
//! as done is durable. Writes commit in the order they were queued, on one connection; on
//! PostgreSQL, writes that depend on no other (a new session) may also go to further write
//! connections and commit beside them. Reads use other connections: SQLite's WAL lets one
//! reader run beside the writer; PostgreSQL gets a pool of them. The same record functions run
//! on both.

pub mod analyses;
pub mod changes;
pub mod conversations;
pub mod dashboard;
mod error;
pub mod postgresql;
pub mod recordings;
pub mod records;
pub(crate) mod schema;
pub mod sql;
pub(crate) mod sqlite;
pub mod webhooks;

pub use error::{describe as describe_postgres_error, StoreError};
use sql::{Dialect, Sql};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

/// The database's file in the data dir.
pub(crate) const DB_FILE: &str = "voxgate.sqlite";

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 512;

/// How long the store takes, for `/metrics`: a write batch from BEGIN to COMMIT, and a read
/// from asking to answer (including the wait for a connection).
#[derive(Clone)]
pub struct StoreTimings {
    pub commit_seconds: prometheus::Histogram,
    pub read_seconds: prometheus::Histogram,
}

impl StoreTimings {
    fn new() -> StoreTimings {
        let buckets = vec![0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];
        let histogram = |name: &str, help: &str| {
            prometheus::Histogram::with_opts(
                prometheus::HistogramOpts::new(name, help).buckets(buckets.clone()),
            )
            .expect("valid metric")
        };
        StoreTimings {
            commit_seconds: histogram(
                "voxgate_store_commit_seconds",
                "A store write batch from BEGIN to COMMIT (every write in it waits this long).",
            ),
            read_seconds: histogram(
                "voxgate_store_read_seconds",
                "A store read from asking to answer, including the wait for a reader connection.",
            ),
        }
    }
}

/// Reader connections to PostgreSQL per node.
const POSTGRES_READERS: u32 = 16;

/// Write connections to PostgreSQL per node: the first takes every write in order, the others
/// share the writes that depend on none (see [`Store::write_independent`]). One write
/// connection is a line of round trips, one per write; when a round trip stalls (the writer
/// or the database's backend waits for a core), the writes arriving meanwhile queue behind it.
/// SQLite has one writer whatever the connections, so it keeps one.
const POSTGRES_WRITERS: usize = 3;

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `voxgate.sqlite` in this data dir: one node.
    DataDir(PathBuf),
    /// A PostgreSQL database (`postgres://...`) that several nodes share.
    Postgres(String),
}

impl StoreLocation {
    /// PostgreSQL when a database URL is given, else the data dir's SQLite file.
    pub fn new(data_dir: &Path, database_url: Option<&str>) -> StoreLocation {
        match database_url {
            Some(url) if !url.is_empty() => StoreLocation::Postgres(url.to_string()),
            _ => StoreLocation::DataDir(data_dir.to_path_buf()),
        }
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::DataDir(dir) => {
                write!(f, "{}", std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone()).display())
            }
            StoreLocation::Postgres(url) => match postgresql::config(url) {
                // Never the password.
                Ok(c) => write!(
                    f,
                    "postgresql database {} on {:?}",
                    c.get_dbname().unwrap_or("(default)"),
                    c.get_hosts().first()
                ),
                Err(_) => write!(f, "postgresql"),
            },
        }
    }
}

trait Job: Send {
    /// Runs the write inside the open transaction, in the savepoint the writer opened for it
    /// when it shares the batch (or reports `opened`'s failure); false when the write failed
    /// and must be rolled back.
    fn run(&mut self, conn: &dyn Sql, opened: Result<(), StoreError>) -> bool;
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

impl<T: Send, F: FnOnce(&dyn Sql) -> Result<T, StoreError> + Send> Job for WriteJob<T, F> {
    fn run(&mut self, conn: &dyn Sql, opened: Result<(), StoreError>) -> bool {
        let Some(f) = self.f.take() else { return true };
        let outcome = opened.and_then(|_| f(conn));
        let ok = outcome.is_ok();
        self.result = Some(outcome);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), String>) {
        let outcome = match (commit, self.result) {
            (Ok(()), Some(r)) => r,
            (Err(e), _) => Err(StoreError::Unavailable(format!("commit failed: {e}"))),
            (Ok(()), None) => Err(StoreError::Stopped),
        };
        let _ = self.reply.send(outcome);
    }
}

/// The connections reads run on.
#[derive(Clone)]
enum Readers {
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    Postgres(r2d2::Pool<postgresql::PgManager>),
}

/// One write connection's queue; its thread commits what is queued, in order.
struct Lane {
    jobs: mpsc::Sender<Box<dyn Job>>,
    /// Writes queued here and not yet committed.
    queued: Arc<AtomicUsize>,
}

impl Lane {
    fn send(&self, job: Box<dyn Job>) -> bool {
        self.queued.fetch_add(1, Ordering::Relaxed);
        let sent = self.jobs.send(job).is_ok();
        if !sent {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
        sent
    }
}

/// Handle to the database: cheap to clone, usable from any thread or actor.
#[derive(Clone)]
pub struct Store {
    /// The first takes every ordered write; all share the independent ones.
    lanes: Arc<[Lane]>,
    /// Transactions committed: fewer than writes when writes arrive together (group commit).
    commits: Arc<AtomicU64>,
    timings: StoreTimings,
    readers: Readers,
    writers: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>>,
}

impl Store {
    /// Opens (creating and migrating if needed) the store at `location`.
    pub fn open(location: &StoreLocation) -> Result<Store, StoreError> {
        match location {
            StoreLocation::DataDir(dir) => Store::open_sqlite(dir),
            StoreLocation::Postgres(url) => Store::open_postgres(url),
        }
    }

    fn open_sqlite(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Corrupt(format!("cannot create data dir {}: {e}", data_dir.display()))
        })?;
        let path = data_dir.join(DB_FILE);
        let conn = sqlite::open(&path)?;
        schema::migrate(&conn)?;
        let reader = sqlite::open(&path)?;
        Store::start(vec![conn], Readers::Sqlite(Arc::new(Mutex::new(reader))))
    }

    fn open_postgres(url: &str) -> Result<Store, StoreError> {
        let config = postgresql::config(url)?;
        // The blocking client runs its own small runtime, which must not start on a thread that
        // drives an async runtime (the caller's may): connect from a thread of our own.
        let opened = std::thread::scope(|s| {
            s.spawn(|| {
                let connect = || {
                    postgresql::PgConnection::connect(&config)
                        .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))
                };
                let first = connect()?;
                schema::migrate(&first)?;
                let mut writers = vec![first];
                for _ in 1..POSTGRES_WRITERS {
                    writers.push(connect()?);
                }
                let pool = postgresql::reader_pool(&config, POSTGRES_READERS)?;
                Ok::<_, StoreError>((writers, pool))
            })
            .join()
            .map_err(|_| StoreError::Unavailable("connecting to PostgreSQL panicked".into()))?
        })?;
        let (writers, pool) = opened;
        Store::start(writers, Readers::Postgres(pool))
    }

    /// A writer thread per connection in `writers` (the first takes the ordered writes).
    fn start<C: Sql + Send + 'static>(writers: Vec<C>, readers: Readers) -> Result<Store, StoreError> {
        let commits = Arc::new(AtomicU64::new(0));
        let timings = StoreTimings::new();
        let (mut lanes, mut handles) = (Vec::new(), Vec::new());
        for (i, conn) in writers.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
            let queued = Arc::new(AtomicUsize::new(0));
            let counters = (queued.clone(), commits.clone(), timings.commit_seconds.clone());
            let name = if i == 0 { "store-writer".to_string() } else { format!("store-writer-{i}") };
            let handle = std::thread::Builder::new()
                .name(name)
                .spawn(move || writer_loop(conn, rx, counters))
                .map_err(|e| StoreError::Corrupt(format!("cannot start store writer: {e}")))?;
            lanes.push(Lane { jobs: tx, queued });
            handles.push(handle);
        }
        Ok(Store { lanes: lanes.into(), commits, timings, readers, writers: Arc::new(Mutex::new(handles)) })
    }

    /// Whether `data_dir` holds a store already.
    pub fn exists_in(data_dir: &Path) -> bool {
        data_dir.join(DB_FILE).is_file()
    }

    pub fn dialect(&self) -> Dialect {
        match self.readers {
            Readers::Sqlite(_) => Dialect::Sqlite,
            Readers::Postgres(_) => Dialect::Postgres,
        }
    }

    /// PostgreSQL reader connections open and idle (none on SQLite).
    pub fn pool_state(&self) -> Option<(u32, u32)> {
        match &self.readers {
            Readers::Sqlite(_) => None,
            Readers::Postgres(pool) => {
                let s = pool.state();
                Some((s.connections, s.idle_connections))
            }
        }
    }

    /// Writes queued and not yet committed.
    pub fn queue_depth(&self) -> usize {
        self.lanes.iter().map(|l| l.queued.load(Ordering::Relaxed)).sum()
    }

    /// The store's latency histograms, for the metrics registry.
    pub fn timings(&self) -> &StoreTimings {
        &self.timings
    }

    /// Transactions the writers have committed since the store opened.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Queues a write; resolves with its result once committed. Writes commit in the order
    /// they were queued (one queued after another from any caller commits after it).
    pub fn write<T, F>(&self, f: F) -> impl std::future::Future<Output = Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Sql) -> Result<T, StoreError> + Send + 'static,
    {
        self.write_on(&self.lanes[0], f)
    }

    /// Queues a write that no other queued write depends on, nor it on them: a new row under a
    /// fresh id that nothing can name before its caller has the answer (a new session). It
    /// may commit on any write connection, before writes queued earlier, so a burst of them is
    /// not a line of round trips behind each other and behind every other write. The same
    /// promise holds: it resolves only once committed.
    pub fn write_independent<T, F>(&self, f: F) -> impl std::future::Future<Output = Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Sql) -> Result<T, StoreError> + Send + 'static,
    {
        let shortest = self.lanes.iter().min_by_key(|l| l.queued.load(Ordering::Relaxed));
        self.write_on(shortest.unwrap_or(&self.lanes[0]), f)
    }

    fn write_on<T, F>(&self, lane: &Lane, f: F) -> impl std::future::Future<Output = Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Sql) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let sent = lane.send(Box::new(WriteJob { f: Some(f), result: None, reply }));
        async move {
            if !sent {
                return Err(StoreError::Stopped);
            }
            rx.await.unwrap_or(Err(StoreError::Stopped))
        }
    }

    /// Runs a read on a read connection, off the async runtime's threads.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Sql) -> Result<T, StoreError> + Send + 'static,
    {
        let (readers, timer) = (self.readers.clone(), self.timings.read_seconds.start_timer());
        let answer =
            tokio::task::spawn_blocking(move || readers.run(f)).await.map_err(|_| StoreError::Stopped)?;
        timer.observe_duration();
        answer
    }

    /// A read from synchronous code (startup, CLI), on a thread of its own so the blocking
    /// PostgreSQL client never runs on a thread that drives an async runtime.
    pub fn read_blocking<T: Send>(
        &self,
        f: impl FnOnce(&dyn Sql) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        match &self.readers {
            Readers::Sqlite(_) => self.readers.run(f),
            Readers::Postgres(_) => std::thread::scope(|s| {
                s.spawn(|| self.readers.run(f)).join().map_err(|_| StoreError::Stopped)?
            }),
        }
    }

    /// Lets every queued write commit, then stops the writers. Later writes fail with
    /// `Stopped`.
    pub fn close(&self) {
        // A writer exits when every sender is gone; ours may not be the last, so send a marker.
        for lane in self.lanes.iter() {
            let (reply, _rx) = oneshot::channel::<Result<(), StoreError>>();
            let _ = lane.jobs.send(Box::new(StopJob { reply: Some(reply) }));
        }
        let handles = self.writers.lock().map(|mut h| std::mem::take(&mut *h)).unwrap_or_default();
        for handle in handles {
            let _ = handle.join();
        }
    }
}

impl Readers {
    fn run<T>(&self, f: impl FnOnce(&dyn Sql) -> Result<T, StoreError>) -> Result<T, StoreError> {
        match self {
            Readers::Sqlite(conn) => {
                let conn = conn.lock().map_err(|_| StoreError::Stopped)?;
                f(&*conn)
            }
            Readers::Postgres(pool) => {
                let conn = pool.get().map_err(|e| StoreError::Unavailable(e.to_string()))?;
                f(&*conn)
            }
        }
    }
}

/// Marks the end of the queue for `close`.
struct StopJob {
    reply: Option<oneshot::Sender<Result<(), StoreError>>>,
}

impl Job for StopJob {
    fn run(&mut self, _conn: &dyn Sql, _opened: Result<(), StoreError>) -> bool {
        true
    }
    fn is_stop(&self) -> bool {
        true
    }
    fn finish(mut self: Box<Self>, _commit: Result<(), String>) {
        if let Some(r) = self.reply.take() {
            let _ = r.send(Ok(()));
        }
    }
}

/// Runs every job in one transaction, each in a savepoint of its own, and commits. Closing one
/// savepoint and opening the next (and the first with BEGIN, the last with COMMIT) go to the
/// database as one message: a write costs one round trip beside its own statements.
///
/// A batch of one write needs no savepoint: the transaction holds only it, so its failure rolls
/// the transaction back (and the write reports its own error).
fn run_batch(conn: &dyn Sql, begin: &str, batch: &mut [Box<dyn Job>]) -> Result<(), String> {
    if let [job] = batch {
        if !job.run(conn, conn.batch_with_next(begin)) {
            let _ = conn.batch("ROLLBACK");
            return Ok(());
        }
        return conn.batch("COMMIT").map_err(|e| {
            let _ = conn.batch("ROLLBACK");
            e.to_string()
        });
    }
    // What ends the previous step, sent together with what begins the next.
    let mut ended = format!("{begin}; ");
    for job in batch.iter_mut() {
        let ok = job.run(conn, conn.batch_with_next(&format!("{ended}SAVEPOINT job")));
        ended = if ok { "RELEASE job; " } else { "ROLLBACK TO job; RELEASE job; " }.to_string();
    }
    conn.batch(&format!("{ended}COMMIT")).map_err(|e| {
        let _ = conn.batch("ROLLBACK");
        e.to_string()
    })
}

fn writer_loop<C: Sql>(
    conn: C,
    rx: mpsc::Receiver<Box<dyn Job>>,
    (queued, commits, commit_seconds): (Arc<AtomicUsize>, Arc<AtomicU64>, prometheus::Histogram),
) {
    let begin = match conn.dialect() {
        // Takes the write lock now, so no reader's snapshot upgrade can fail the batch later.
        Dialect::Sqlite => "BEGIN IMMEDIATE",
        Dialect::Postgres => "BEGIN",
    };
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.reconnect() {
            tracing::error!(error = %e, "store writer cannot reconnect");
        }
        let timer = commit_seconds.start_timer();
        let commit = run_batch(&conn, begin, &mut batch);
        match &commit {
            Ok(()) => {
                timer.observe_duration();
                commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(error = %e, jobs = batch.len(), "store batch failed to commit"),
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
