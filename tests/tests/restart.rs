//! What a restart keeps, on SQLite (the same data dir) and on PostgreSQL (the same database and
//! node name): keys, agents, widgets, sessions and their state.

use serde_json::json;
use voxgate_tests::postgres::{create_key, fresh_database, node};
use voxgate_tests::{Fixture, Server, ServerOptions, SITE};

#[test]
fn keys_agents_widgets_and_sessions_survive_a_restart() {
    let f = Fixture::new();
    survives(f, |data_dir| {
        Server::start_with(ServerOptions { data_dir: Some(data_dir), ..Default::default() })
    });
}

#[test]
fn on_postgresql_keys_agents_widgets_and_sessions_survive_a_restart_of_the_node() {
    let db = fresh_database();
    let server = node(&db, "a", &[]);
    let key = create_key(&db, "acme");
    let f = Fixture::with_key(server, key);
    survives(f, |_| node(&db, "a", &[]));
}

fn survives(f: Fixture, restart: impl FnOnce(std::path::PathBuf) -> Server) {
    let path = format!("/v1/widgets/{}", f.widget);
    f.api.control("PATCH", &path, &f.key, Some(json!({"appearance": {"title": "Saved title"}}))).expect(200);
    let live = f.session(json!({"ttl_seconds": 600}));
    let ended = f.session(json!({}));
    let ended_id = ended["session_id"].as_str().unwrap();
    f.api.control("DELETE", &format!("/v1/sessions/{ended_id}"), &f.key, None).expect(200);
    let widgets_before = f.api.control("GET", "/v1/widgets", &f.key, None).expect(200).body;
    let agents_before = f.api.control("GET", "/v1/agents", &f.key, None).expect(200).body;

    let Fixture { server, key, .. } = f;
    let data_dir = server.stop();
    let server = restart(data_dir);
    let api = server.client();

    assert_eq!(api.control("GET", "/v1/widgets", &key, None).expect(200).body, widgets_before);
    assert_eq!(api.control("GET", "/v1/agents", &key, None).expect(200).body, agents_before);
    let cfg = api.browser("GET", &format!("{path}/config"), Some(SITE), None).expect(200).body;
    assert_eq!(cfg["appearance"]["title"], "Saved title");

    // The live session's token still works (same signing key, same URL path); the ended one stays ended.
    let url_path = |v: &serde_json::Value| {
        let u = v["messages_url"].as_str().unwrap();
        u[u.find("/v1/").unwrap()..].to_string()
    };
    api.browser("GET", &url_path(&live), Some(SITE), live["session_token"].as_str()).expect(200);
    api.browser("GET", &url_path(&ended), Some(SITE), ended["session_token"].as_str())
        .expect_error(410, "session_ended");
    let v = api.control("GET", &format!("/v1/sessions/{ended_id}"), &key, None).expect(200);
    assert_eq!(v.body["end_reason"], "ended");
}

#[test]
fn one_node_on_sqlite_keeps_its_sessions_when_its_name_changes() {
    // A container gets a new host name (the default --node) at every start.
    let with_node = |name: &str, data_dir: Option<std::path::PathBuf>| ServerOptions {
        data_dir,
        extra_args: vec!["--node".into(), name.into()],
        ..Default::default()
    };
    let f = Fixture::on(Server::start_with(with_node("host-1", None)));
    let live = f.session(json!({}));
    let Fixture { server, key, .. } = f;
    let server = Server::start_with(with_node("host-2", Some(server.stop())));
    let api = server.client();
    let u = live["messages_url"].as_str().unwrap();
    let path = &u[u.find("/v1/").unwrap()..];
    api.browser("GET", path, Some(SITE), live["session_token"].as_str()).expect(200);
    let sid = live["session_id"].as_str().unwrap();
    assert_eq!(
        api.control("GET", &format!("/v1/sessions/{sid}"), &key, None).expect(200).body["status"],
        "live"
    );
}
