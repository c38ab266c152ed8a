//! A node on PostgreSQL rides out a database restart (a failover, a minor upgrade): while the
//! database is away it answers 503 (never 500) and `/readyz` says why; once it is back the node
//! serves again without a restart of its own, its listener listens again, and nothing it
//! answered as done was lost.

use serde_json::json;
use std::time::{Duration, Instant};
use voxgate_tests::postgres::{create_key, node, OwnServer};
use voxgate_tests::{eventually, Fixture};

#[test]
fn a_node_rides_out_a_database_restart() {
    let pg = OwnServer::start();
    let db = pg.fresh_database();
    let f = Fixture::with_key(node(&db, "a", &[]), create_key(&db, "acme"));
    let before: Vec<String> =
        (0..5).map(|_| f.session(json!({}))["session_id"].as_str().unwrap().to_string()).collect();

    let path = format!("/v1/widgets/{}/sessions", f.widget);
    let created = std::sync::Mutex::new(Vec::new());
    let statuses = std::sync::Mutex::new(Vec::new());
    let restarted = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        // A backend creating sessions throughout the restart.
        s.spawn(|| {
            let until = Instant::now() + Duration::from_secs(60);
            while Instant::now() < until {
                let r = f.api.control("POST", &path, &f.key, Some(json!({})));
                statuses.lock().unwrap().push(r.status);
                if r.status == 201 {
                    created.lock().unwrap().push(r.body["session_id"].as_str().unwrap().to_string());
                    if restarted.load(std::sync::atomic::Ordering::Relaxed) {
                        break; // served again after the restart
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        std::thread::sleep(Duration::from_millis(300));
        pg.restart();
        restarted.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let statuses = statuses.into_inner().unwrap();
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 503),
        "only 201 or 503 during the restart: {statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&201), "serving again after the restart: {statuses:?}");

    // Ready again, listening again, and every session it answered as created is there.
    eventually(Duration::from_secs(10), || {
        let r = f.api.send(f.api.http.get(f.api.url("/readyz")));
        (r.status == 200 && r.body["cluster"] == "listening").then_some(())
    });
    for sid in before.iter().chain(created.into_inner().unwrap().iter()) {
        f.api.control("GET", &format!("/v1/sessions/{sid}"), &f.key, None).expect(200);
    }
    // Saves apply again.
    f.patch_widget(json!({"name": "after the restart"}));
}
