//! Node names on one PostgreSQL can't collide: a process that starts under a name a live node
//! holds exits with the holder's address, whether the name was given or the host name
//! defaulted; distinct names both serve; a node back under its own name after a crash or a
//! clean stop takes it again.

use serde_json::json;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use voxgate_tests::postgres::{create_key, fresh_database, node, SHARED_SECRET};
use voxgate_tests::{voxgate_bin, Fixture, Server, ServerOptions, SITE};

/// `voxgate serve` on `db` with `name_args` (`--node ...`, or none for the host name) and a
/// 1 s lease, expected to refuse to start: its exit status and what it printed on stderr.
fn refused_start(db: &str, name_args: &[&str]) -> (std::process::ExitStatus, String) {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(voxgate_bin())
        .args(["serve", "--http", "127.0.0.1:0", "--database-url", db, "--node-lease-seconds", "1"])
        .args(name_args)
        .arg("--data-dir")
        .arg(data_dir.path())
        .env("VOXGATE_SESSION_SECRET", SHARED_SECRET)
        .env("VOXGATE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start voxgate");
    // A live holder heartbeats every quarter lease: the second process knows within a lease.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a second process under a live node's name was still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read stderr");
    (status, stderr)
}

/// A node on `db` under the host name (no `--node`).
fn node_by_host_name(db: &str) -> Server {
    Server::start_with(ServerOptions {
        extra_args: ["--database-url", db, "--node-lease-seconds", "1"].map(String::from).to_vec(),
        env: vec![("VOXGATE_SESSION_SECRET".into(), SHARED_SECRET.into())],
        ..Default::default()
    })
}

#[test]
fn a_second_node_under_a_live_nodes_name_exits_naming_it_and_distinct_names_both_serve() {
    let db = fresh_database();
    let a = Fixture::with_key(node(&db, "a", &[]), create_key(&db, "acme"));
    let (status, stderr) = refused_start(&db, &["--node", "a"]);
    assert!(!status.success(), "the second `a` exited with {status}; stderr: {stderr}");
    assert!(
        stderr.contains("another live node holds --node a") && stderr.contains(&a.server.url),
        "the error names the name and the holder's address: {stderr}"
    );
    // The first `a` was not disturbed: it still serves its sessions and calls.
    let s = a.session(json!({}));
    a.call(&s).expect_echoes(3, Duration::from_secs(10));

    // Under a name of its own, a second node serves, and each sees the other's saves.
    let b = a.on_node(node(&db, "b", &[]));
    let s = b.session(json!({}));
    assert!(s["webrtc_url"].as_str().unwrap().starts_with(&b.server.url), "{s}");
    b.patch_widget(json!({"allowed_origins": ["https://elsewhere.example.com"]}));
    let on_a = a.session(json!({}));
    let refused = voxgate_tests::eventually(Duration::from_secs(5), || {
        let r = a.api.browser(
            "GET",
            on_a["messages_url"].as_str().unwrap(),
            Some(SITE),
            on_a["session_token"].as_str(),
        );
        (r.status != 200).then_some(r)
    });
    assert_eq!(refused.status, 403, "the origin removed on b is refused on a: {}", refused.text);
}

#[test]
fn two_processes_on_one_host_with_the_default_name_collide() {
    let db = fresh_database();
    let first = node_by_host_name(&db);
    let host = voxgate_actors::runtime::Node::default_id();
    let (status, stderr) = refused_start(&db, &[]);
    assert!(!status.success(), "the second exited with {status}; stderr: {stderr}");
    assert!(
        stderr.contains(&format!("another live node holds --node {host}")) && stderr.contains(&first.url),
        "{stderr}"
    );
    assert!(stderr.contains("two processes on one host need one each"), "{stderr}");
}

#[test]
fn a_node_back_under_its_own_name_after_a_crash_or_a_clean_stop_takes_it_again() {
    let db = fresh_database();
    let key = create_key(&db, "acme");
    // A crash: its last heartbeat stays fresh for up to a lease; the restart waits it out.
    let crashed = node(&db, "a", &[]);
    crashed.kill();
    let back = Fixture::with_key(node(&db, "a", &[]), key.clone());
    let s = back.session(json!({}));
    back.call(&s).expect_echoes(3, Duration::from_secs(10));
    // A clean stop gives the name back; the next process under it starts and serves.
    back.server.stop();
    let again = Fixture::with_key(node(&db, "a", &[]), key);
    let s = again.session(json!({}));
    again.call(&s).expect_echoes(3, Duration::from_secs(10));
}
