//! The store writer's promises, on SQLite and on PostgreSQL alike: writes that arrive together
//! commit together, a caller hears of its write only once it is committed (another connection
//! sees it), a failed write rolls back only itself, closing commits everything queued, and a
//! reopened store has every row and applies no migration twice. Independent writes keep the
//! same promises, and on PostgreSQL commit on several connections at once.

use std::future::Future;
use voxgate_actors::store::records::{self, WorkspaceRow};
use voxgate_actors::store::{Store, StoreError, StoreLocation};
use voxgate_engine::ids::WorkspaceId;
use voxgate_engine::Timestamp;
use voxgate_tests::postgres::fresh_database;

/// Each backend once: a fresh SQLite data dir and a fresh PostgreSQL database.
fn backends() -> Vec<(StoreLocation, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    vec![
        (StoreLocation::DataDir(dir.path().to_path_buf()), Some(dir)),
        (StoreLocation::Postgres(fresh_database()), None),
    ]
}

fn block_on<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
}

fn workspace(name: &str) -> WorkspaceRow {
    WorkspaceRow {
        id: WorkspaceId::generate(&mut rand::rng()),
        name: name.to_string(),
        created_at: Timestamp(1),
    }
}

fn insert(store: &Store, name: &str) -> impl Future<Output = Result<(), StoreError>> {
    let row = workspace(name);
    store.write(move |c| records::insert_workspace(c, &row))
}

fn insert_independent(store: &Store, name: &str) -> impl Future<Output = Result<(), StoreError>> {
    let row = workspace(name);
    store.write_independent(move |c| records::insert_workspace(c, &row))
}

fn names(store: &Store) -> Vec<String> {
    let mut names: Vec<String> =
        block_on(store.read(|c| records::all_workspaces(c))).unwrap().into_iter().map(|w| w.name).collect();
    names.sort();
    names
}

#[test]
fn writes_that_arrive_together_commit_together_and_are_seen_once_answered() {
    for (location, _dir) in backends() {
        let store = Store::open(&location).unwrap();
        let before = store.commits();
        // Every write is queued before any is awaited, as a burst of requests would queue them.
        let writes: Vec<_> = (0..2000).map(|i| insert(&store, &format!("w{i:04}"))).collect();
        block_on(async {
            for w in writes {
                w.await.expect("committed");
            }
        });
        let commits = store.commits() - before;
        assert!(commits < 2000 / 4, "{location}: 2000 writes took {commits} commits");
        // Answered means committed: a store of its own (other connections) sees every row.
        let other = Store::open(&location).unwrap();
        assert_eq!(names(&other).len(), 2000, "{location}");
        other.close();
        store.close();
    }
}

#[test]
fn independent_writes_commit_beside_ordered_ones_on_postgres_connections_of_their_own() {
    for (location, _dir) in backends() {
        let store = Store::open(&location).unwrap();
        let postgres = matches!(location, StoreLocation::Postgres(_));
        // A burst of both kinds, queued before any is awaited; each independent write says
        // which database connection (server process) committed it.
        let mut ordered = Vec::new();
        let mut independent = Vec::new();
        for i in 0..1000 {
            ordered.push(insert(&store, &format!("o{i:04}")));
            let row = workspace(&format!("i{i:04}"));
            independent.push(store.write_independent(move |c| {
                records::insert_workspace(c, &row)?;
                if postgres {
                    c.query_value::<i64>("SELECT pg_backend_pid()", &[])
                } else {
                    Ok(0)
                }
            }));
        }
        let connections: std::collections::HashSet<i64> = block_on(async {
            for w in ordered {
                w.await.expect("committed");
            }
            let mut pids = std::collections::HashSet::new();
            for w in independent {
                pids.insert(w.await.expect("committed"));
            }
            pids
        });
        if postgres {
            assert!(connections.len() > 1, "{location}: 1,000 independent writes all took one connection");
        }
        let other = Store::open(&location).unwrap();
        assert_eq!(names(&other).len(), 2000, "{location}: every answered write is seen");
        other.close();
        store.close();
    }
}

#[test]
fn a_failed_write_rolls_back_only_itself() {
    for (location, _dir) in backends() {
        let store = Store::open(&location).unwrap();
        let a = insert(&store, "a");
        let row = workspace("b");
        let b = store.write(move |c| {
            records::insert_workspace(c, &row)?;
            Err::<(), _>(StoreError::Corrupt("the job changed its mind".into()))
        });
        // A statement the database refuses (a duplicate name) fails its job alone, too.
        let dup = insert(&store, "a");
        let c = insert(&store, "c");
        block_on(async {
            a.await.unwrap();
            assert!(b.await.is_err());
            assert!(dup.await.is_err(), "{location}: a duplicate name is refused");
            c.await.unwrap();
        });
        assert_eq!(names(&store), ["a", "c"], "{location}");
        store.close();
    }
}

#[test]
fn a_failed_write_alone_in_its_transaction_rolls_back_and_the_next_commits() {
    for (location, _dir) in backends() {
        let store = Store::open(&location).unwrap();
        // Each awaited before the next is queued: every write is a batch of its own.
        block_on(async {
            insert(&store, "a").await.unwrap();
            let row = workspace("b");
            let failed = store
                .write(move |c| {
                    records::insert_workspace(c, &row)?;
                    Err::<(), _>(StoreError::Corrupt("the job changed its mind".into()))
                })
                .await;
            assert!(matches!(failed, Err(StoreError::Corrupt(_))), "{location}: {failed:?}");
            let dup = insert_independent(&store, "a").await;
            assert!(dup.is_err(), "{location}: a duplicate name is refused");
            insert(&store, "c").await.unwrap();
            insert_independent(&store, "d").await.unwrap();
        });
        assert_eq!(names(&store), ["a", "c", "d"], "{location}");
        store.close();
    }
}

#[test]
fn closing_commits_every_queued_write_and_a_reopened_store_has_them() {
    for (location, _dir) in backends() {
        let store = Store::open(&location).unwrap();
        for i in 0..500 {
            // Queued and never awaited: close must still commit each one, of both kinds.
            drop(insert(&store, &format!("q{i:03}")));
            drop(insert_independent(&store, &format!("r{i:03}")));
        }
        store.close();
        assert!(block_on(insert(&store, "late")).is_err(), "{location}: a closed store takes no write");
        assert!(block_on(insert_independent(&store, "later")).is_err(), "{location}: nor an independent one");
        let reopened = Store::open(&location).unwrap();
        assert_eq!(names(&reopened).len(), 1000, "{location}");
        // Reopening again applies no migration twice and loses nothing.
        reopened.close();
        let again = Store::open(&location).unwrap();
        assert_eq!(names(&again).len(), 1000, "{location}");
        again.close();
    }
}

#[test]
fn nodes_starting_together_on_a_new_database_migrate_it_once() {
    let url = fresh_database();
    let location = StoreLocation::Postgres(url);
    let stores: Vec<Store> = std::thread::scope(|s| {
        let opening: Vec<_> = (0..4).map(|_| s.spawn(|| Store::open(&location))).collect();
        opening.into_iter().map(|h| h.join().unwrap().expect("every node opens the store")).collect()
    });
    block_on(insert(&stores[0], "shared")).unwrap();
    for s in &stores {
        assert_eq!(names(s), ["shared"]);
        s.close();
    }
}
